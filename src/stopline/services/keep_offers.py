"""The opt-out confirmation that asks which list to keep: which lists a STOP may offer, and
whether an answer keeps one (rules in domain/keep_offer.py)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from stopline.domain.consent import Action, ConsentEvent, NumberState
from stopline.domain.errors import InvalidInput
from stopline.domain.keep_offer import KeepOffer, OfferedList, answer_problem, make_offer, offer_of
from stopline.domain.keywords import Intent
from stopline.domain.policy import Policy
from stopline.services.inbound_config import keywords_of_lists
from stopline.store import inbound as inbound_store
from stopline.store import ledger
from stopline.store import lists as lists_store
from stopline.store.tables import consent_events


def keep_word(row: Any) -> str | None:
    """A list's keep word: its first opt-in keyword (already checked against every opt-out
    word, so an answer can never be mistaken for STOP, nor STOP for an answer)."""
    for parsed in keywords_of_lists([row]):
        for keyword in parsed.keywords:
            if keyword.intent is Intent.OPT_IN:
                return keyword.word
    return None


def check_offer_lists(conn: Connection, workspace_id: int, list_ids: Iterable[int]) -> None:
    """Settings: every offered list is this workspace's and has a word to answer with."""
    rows = {int(r.id): r for r in inbound_store.keyword_lists(conn, workspace_id)}
    for list_id in list_ids:
        row = rows.get(int(list_id))
        if row is None:
            raise InvalidInput(
                f"No list {list_id} in this workspace.",
                code="list_not_found",
                setting="keep_offer_lists",
            )
        if keep_word(row) is None:
            raise InvalidInput(
                f"List {row.name!r} has no opt-in keyword, the word people reply to keep it: "
                "give it one on its list page first.",
                code="keep_word_missing",
                setting="keep_offer_lists",
                list_id=int(list_id),
            )


def offer_for(
    conn: Connection,
    workspace_id: int,
    policy: Policy,
    number: str,
    state: NumberState,
    lists: Sequence[Any],
    now: datetime,
    language: str = "en",
) -> KeepOffer | None:
    """What a STOP from `number` may offer to keep: the workspace's offered lists it belongs
    to and has not left, in the order the settings give (None: the confirmation asks nothing,
    as when confirmations are off, since the offer is only ever made in one)."""
    if not policy.keep_offer_lists or not policy.send_confirmations:
        return None
    rows = {int(r.id): r for r in lists}
    member_of = {i for _n, i in lists_store.lists_of_numbers(conn, workspace_id, [number])}
    candidates = []
    for list_id in policy.keep_offer_lists:
        row = rows.get(list_id)
        if row is None or list_id not in member_of or list_id in state.list_opt_outs:
            continue
        word = keep_word(row)
        if word is not None:
            candidates.append(OfferedList(list_id, word, str(row.name)))
    return make_offer(candidates, now, policy.keep_offer_hours, language)


def last_opt_out(conn: Connection, workspace_id: int, number: str) -> ConsentEvent | None:
    """The number's latest opt-out event: the only one whose offer an answer may take up."""
    row = conn.execute(
        select(consent_events)
        .where(
            consent_events.c.workspace_id == workspace_id,
            consent_events.c.number == number,
            consent_events.c.action == Action.OPT_OUT.value,
        )
        .order_by(consent_events.c.seq.desc())
        .limit(1)
    ).first()
    return ledger.event_from_row(row) if row is not None else None


def answer_keeps(
    conn: Connection,
    workspace_id: int,
    number: str,
    state: NumberState,
    list_id: int,
    now: datetime,
) -> tuple[ConsentEvent, KeepOffer] | None:
    """The opt-out (and its offer) that an answer keeping `list_id` at `now` takes up, or None
    when it keeps nothing (no offer, not this list, too late, or the opt-out is gone)."""
    event = last_opt_out(conn, workspace_id, number)
    if event is None or (event.scope, event.scope_key) not in state.opt_outs:
        return None
    offer = offer_of(event.detail)
    problem = answer_problem(
        offer,
        offer_seq=event.seq,
        latest_opt_out_seq=event.seq,
        list_id=list_id,
        answered_at=now,
    )
    if problem is not None or offer is None:
        return None
    return event, offer
