"""Ask the gate about a number: the consent API, `stopline check`, and queue-time checks use this."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, select

from stopline.domain.consent import NumberState
from stopline.domain.errors import InvalidInput
from stopline.domain.gate import Decision, MessageKind, Outbound, RefusalCode, Refuse, decide
from stopline.domain.numbers import normalize
from stopline.domain.policy import Policy
from stopline.domain.recipient_location import contact_location
from stopline.domain.send_rules import Category
from stopline.domain.send_time import (
    CAP_PERIOD,
    SendTimeDecision,
    Verdict,
    capped_for,
    decide_send_time,
    number_place,
)
from stopline.services.consent import now_utc
from stopline.services.send_time import parse_category
from stopline.store import ledger
from stopline.store import send_time as send_time_store
from stopline.store import workspaces as workspaces_store
from stopline.store.tables import channels, list_members, lists


def is_subscribed(conn: Connection, workspace_id: int, list_id: int, number: str) -> bool:
    return (
        conn.execute(
            select(list_members.c.number).where(
                list_members.c.workspace_id == workspace_id,
                list_members.c.list_id == list_id,
                list_members.c.number == number,
            )
        ).first()
        is not None
    )


def check_outbound(conn: Connection, workspace_id: int, message: Outbound) -> Decision:
    """The gate's decision for `message` against the number's stored state, right now."""
    state = ledger.load_state(conn, workspace_id, message.to)
    subscribed = None
    if message.list_id is not None:
        subscribed = is_subscribed(conn, workspace_id, message.list_id, message.to)
    return decide(message, state, subscribed=subscribed)


@dataclass(frozen=True)
class ChannelDecision:
    """The gate's answer for a normal message to a number on one channel of the workspace."""

    channel: Any  # the channel's row (id, type, address, name, ...)
    decision: Decision

    @property
    def code(self) -> str | None:
        return self.decision.code.value if isinstance(self.decision, Refuse) else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "channel_id": int(self.channel.id),
            "type": self.channel.type,
            "address": self.channel.address,
            "allowed": self.decision.allowed,
            "code": self.code,
        }


def decisions_by_channel(
    conn: Connection, workspace_id: int, number: str, state: NumberState
) -> list[ChannelDecision]:
    """THE answer every display of a number's consent shows per channel (the Opt-Outs API and
    CLI, the contact card, the inbox footer, the evidence report): the same `decide` the
    hand-off runs, on the same state, so what is shown is what will happen."""
    return [
        ChannelDecision(
            row, decide(Outbound(to=number, channel_id=int(row.id), channel_type=row.type), state)
        )
        for row in workspaces_store.list_channels(conn, workspace_id)
    ]


def channel_decisions(
    conn: Connection, workspace_id: int, number: str, state: NumberState
) -> list[dict[str, Any]]:
    return [d.as_dict() for d in decisions_by_channel(conn, workspace_id, number, state)]


_TEXT = {c: c.value for c in Category}  # a plain dict lookup on the hot path, not `.value`


@functools.lru_cache(maxsize=64)
def _cap_since(at: datetime) -> datetime:
    """Where the rolling 24 h before `at` starts: one object per `at` (a batch, a `check`), so
    the caches keyed on it (its SQLite text) find it without hashing a new datetime each time."""
    return at - CAP_PERIOD


def check_outbound_at(
    conn: Connection,
    workspace_id: int,
    message: Outbound,
    policy: Policy,
    category: Category,
    at: datetime,
) -> tuple[Decision, SendTimeDecision | None]:
    """The gate's consent decision and, if it allows, the send-time decision for `category`
    at `at`: one round trip for the number's state, its contact's place and its cap history.
    The send-time decision is None when consent refuses."""
    if at.tzinfo is not UTC:
        at = at.astimezone(UTC)
    rules = policy.send_time_rules
    normal = message.kind is MessageKind.NORMAL
    spot = number_place(category, message.to, rules)
    # History only where a cap covers the message (most numbers have none by default).
    history = normal and spot.capped
    since = _cap_since(at)
    state, place, sent = send_time_store.gate_state(
        conn, workspace_id, message.to, _TEXT[category] if history else None, since
    )
    subscribed = None
    if message.list_id is not None:
        subscribed = is_subscribed(conn, workspace_id, message.list_id, message.to)
    decision = decide(message, state, subscribed=subscribed)
    if not decision.allowed:
        return decision, None
    confirmation = message.kind is MessageKind.CONFIRMATION
    if place is None and not confirmation and (not sent or len(sent) < spot.fewest):
        return decision, spot.decide(at)  # the usual case: by the number alone, under any cap
    where = spot.location
    if place is not None:
        where = contact_location(where, time_zone=place[0], postal_code=place[1])
        if normal and not history and capped_for(category, where, rules):
            # The contact's ZIP code puts them in a capped state: read their history now.
            found = send_time_store.recent_hand_offs(
                conn, workspace_id, [message.to], [category.value], since
            )
            sent = found.get((message.to, category.value), [])
    return decision, decide_send_time(category, where, rules, at, sent, confirmation=confirmation)


def _channel_type(conn: Connection, workspace_id: int, channel_id: int | None) -> str | None:
    if channel_id is None:
        return None
    row = conn.execute(
        select(channels.c.type).where(
            channels.c.workspace_id == workspace_id, channels.c.id == channel_id
        )
    ).first()
    if row is None:
        raise InvalidInput(f"No channel {channel_id} in this workspace.", code="channel_not_found")
    return str(row.type)


def _require_list(conn: Connection, workspace_id: int, list_id: int | None) -> None:
    if list_id is None:
        return
    exists = conn.execute(
        select(lists.c.id).where(lists.c.workspace_id == workspace_id, lists.c.id == list_id)
    ).first()
    if exists is None:
        raise InvalidInput(f"No list {list_id} in this workspace.", code="list_not_found")


def check_number(
    conn: Connection,
    workspace_id: int,
    raw_number: str,
    *,
    region: str,
    channel_id: int | None = None,
    list_id: int | None = None,
    kind: MessageKind = MessageKind.NORMAL,
) -> tuple[str | None, Decision]:
    """Normalise then decide; an unparseable number is refused as `invalid_number`."""
    try:
        number = normalize(raw_number, region)
    except InvalidInput as exc:
        return None, Refuse(RefusalCode.INVALID_NUMBER, exc.message)
    channel_type = _channel_type(conn, workspace_id, channel_id)
    _require_list(conn, workspace_id, list_id)
    message = Outbound(
        to=number, channel_id=channel_id, channel_type=channel_type, list_id=list_id, kind=kind
    )
    return number, check_outbound(conn, workspace_id, message)


@dataclass(frozen=True)
class SendCheck:
    """The whole answer to "may a message of this category go to this number at this time?":
    consent first, then the send-time rules, each explained."""

    input: str
    number: str | None
    consent: Decision
    timing: SendTimeDecision | None  # None when consent already refuses

    @property
    def verdict(self) -> str:
        if not self.consent.allowed:
            return "refused"
        assert self.timing is not None
        return self.timing.verdict.value

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "number": self.number,
            "input": self.input,
            "allowed": self.verdict == "allowed",
            "verdict": self.verdict,
        }
        if isinstance(self.consent, Refuse):
            data.update(code=self.consent.code.value, detail=self.consent.detail)
        if self.timing is not None:
            timing = self.timing.as_dict()
            if self.timing.verdict is Verdict.REFUSE and self.timing.reason is not None:
                data.update(code=self.timing.reason.value, detail=self.timing.explain())
            data.update(
                category=timing["category"],
                at=timing["at"],
                until=timing["until"],
                reason=timing["reason"],
                rule=timing["rule"],
                source=timing["source"],
                zone=timing["zone"],
                location=timing["location"],
                explanation=timing["explanation"],
            )
        return data

    def text(self) -> str:
        if isinstance(self.consent, Refuse):
            return f"refused: {self.consent.code.value} ({self.consent.detail})"
        assert self.timing is not None
        return self.timing.explain()


def check_send(
    conn: Connection,
    workspace_id: int,
    raw_number: str,
    *,
    policy: Policy,
    category: str | Category | None = None,
    at: datetime | None = None,
    channel_id: int | None = None,
    list_id: int | None = None,
) -> SendCheck:
    """`check_number`, then the send-time rules for `category` (default informational) at
    `at` (default now; a time without offset is UTC)."""
    cat = parse_category(category, Category.INFORMATIONAL)
    when = now_utc() if at is None else (at if at.tzinfo else at.replace(tzinfo=UTC))
    try:
        number = normalize(raw_number, policy.default_region)
    except InvalidInput as exc:
        return SendCheck(raw_number, None, Refuse(RefusalCode.INVALID_NUMBER, exc.message), None)
    channel_type = _channel_type(conn, workspace_id, channel_id)
    _require_list(conn, workspace_id, list_id)
    message = Outbound(to=number, channel_id=channel_id, channel_type=channel_type, list_id=list_id)
    decision, timing = check_outbound_at(conn, workspace_id, message, policy, cat, when)
    return SendCheck(raw_number, number, decision, timing)
