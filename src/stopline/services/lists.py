"""Subscription lists: members, per-list opt-outs and opt-ins, and a list's own keywords and HELP.

A list opt-out (seed 001) stops that list's campaigns only; it goes through the consent door
like every other consent change (`Action.LIST_OPT_OUT` / `LIST_OPT_IN`), and a list opt-in by
a member follows the workspace's re-subscribe policy. A list's keywords are stored on the list
as ``{"opt_out": [...], "opt_in": [...], "help": [...]}`` with its HELP text, and checked with
the same rules the inbound classifier applies, so a list cannot be saved with keywords the
inbox would ignore.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from stopline.domain import limits, optin_evidence
from stopline.domain.consent import Action, ConsentChange, Method, utc
from stopline.domain.errors import Conflict, InvalidInput, NotFound
from stopline.domain.keywords import KeywordConfig, shadowed_keyword, shadowing_error
from stopline.domain.list_replies import REPLY_KINDS, stored_replies
from stopline.domain.numbers import normalize
from stopline.services.consent import (
    ChangeResult,
    change_consent,
    change_memberships,
    now_utc,
    record_consents,
)
from stopline.services.workspaces import Principal, get_workspace
from stopline.store import lists as store
from stopline.store import views

INTENTS = ("opt_out", "opt_in", "help")
MAX_KEYWORDS = 20  # per intent: more is a sign of a mistake, and slows every inbound text
MAX_HELP_TEXT = limits.limit_of("help_text")  # three SMS segments
MAX_MEMBERS_PER_CALL = 100_000


@dataclass(frozen=True)
class SubscriptionList:
    id: int
    name: str
    keywords: dict[str, list[str]]
    help_text: str | None
    created_at: datetime
    members: int = 0
    opted_out: int = 0
    replies: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "keywords": self.keywords,
            "help_text": self.help_text,
            "created_at": self.created_at.isoformat(),
            "members": self.members,
            "opted_out": self.opted_out,
            "replies": self.replies,
        }


@dataclass(frozen=True)
class Member:
    number: str
    subscribed_at: datetime
    list_opt_out: str | None  # the method of the list opt-out, if the number left the list
    opted_out_at: datetime | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "subscribed_at": self.subscribed_at.isoformat(),
            "list_opted_out": self.list_opt_out is not None,
            "list_opt_out_method": self.list_opt_out,
            "opted_out_at": self.opted_out_at.isoformat() if self.opted_out_at else None,
        }


@dataclass(frozen=True)
class MembershipChange:
    added: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)
    removed: int = 0
    consent_recorded: int = 0  # list opt-ins written to the ledger (imports)

    def as_dict(self) -> dict[str, Any]:
        return {
            "added": self.added,
            "already": self.already,
            "removed": self.removed,
            "consent_recorded": self.consent_recorded,
        }


def _stored_keywords(raw: Any) -> dict[str, list[str]]:
    if isinstance(raw, str):
        import json

        raw = json.loads(raw)
    out: dict[str, list[str]] = {}
    if isinstance(raw, Mapping):
        for intent in INTENTS:
            words = [
                str(w["word"]) if isinstance(w, Mapping) else str(w) for w in raw.get(intent) or ()
            ]
            if words:
                out[intent] = words
    return out


def _list(row: Any) -> SubscriptionList:
    return SubscriptionList(
        id=int(row.id),
        name=row.name,
        keywords=_stored_keywords(row.keywords),
        help_text=row.help_text,
        created_at=utc(row.created_at),
        members=int(getattr(row, "members", 0) or 0),
        opted_out=int(getattr(row, "opted_out", 0) or 0),
        replies=stored_replies(getattr(row, "replies", None)),
    )


def _name(name: str) -> str:
    name = (name or "").strip()
    if not name or len(name) > 200:
        raise InvalidInput("A list needs a name (up to 200 characters).", code="list_name_required")
    return name


def _help_text(text: str | None) -> str | None:
    text = (text or "").strip()
    if len(text) > MAX_HELP_TEXT:
        raise InvalidInput(
            f"A list's HELP text is at most {MAX_HELP_TEXT} characters.", code="help_text_too_long"
        )
    return text or None


def _replies(replies: Mapping[str, Any] | None) -> dict[str, str] | None:
    """A list's own opt-out / opt-in confirmations; empty ones fall back to the defaults."""
    if not replies:
        return None
    if not isinstance(replies, Mapping) or set(replies) - set(REPLY_KINDS):
        raise InvalidInput(
            "List replies map opt_out and opt_in to their texts.", code="list_replies_invalid"
        )
    out: dict[str, str] = {}
    for kind, text in replies.items():
        if text is None:
            continue
        if not isinstance(text, str) or len(text.strip()) > MAX_HELP_TEXT:
            raise InvalidInput(
                f"A list's reply is text of at most {MAX_HELP_TEXT} characters.",
                code="list_replies_invalid",
            )
        if text.strip():
            out[kind] = text.strip()
    return out or None


def check_keywords(
    conn: Connection, workspace_id: int, list_id: int | None, keywords: Mapping[str, Any] | None
) -> dict[str, list[str]]:
    """Validate a list's keywords as the inbound classifier will read them; return them canonical.

    A word that another list of the workspace already uses is refused: an inbound text could
    not say which list it meant.
    """
    from stopline.domain.keywords import ListKeywords

    if not keywords:
        return {}
    if not isinstance(keywords, Mapping) or set(keywords) - set(INTENTS):
        raise InvalidInput(
            "List keywords map opt_out, opt_in and help to lists of words.",
            code="keyword_invalid",
        )
    entries: list[dict[str, str]] = []
    for intent in INTENTS:
        words = keywords.get(intent) or []
        if isinstance(words, str) or not isinstance(words, Iterable):
            raise InvalidInput(
                f"{intent} keywords must be a list of words.", code="keyword_invalid"
            )
        words = list(words)
        if len(words) > MAX_KEYWORDS:
            raise InvalidInput(
                f"A list has at most {MAX_KEYWORDS} {intent} keywords.", code="keyword_too_many"
            )
        for word in words:
            if not isinstance(word, str) or not word.strip():
                raise InvalidInput("A keyword is a non-empty word.", code="keyword_invalid")
            entries.append({"word": word, "intent": intent})
    built = ListKeywords.from_settings(list_id or 0, entries)
    config = _keyword_config(conn, workspace_id)
    for keyword in built.keywords:
        shadowed = shadowed_keyword(keyword, config)
        if shadowed is not None:
            raise shadowing_error(keyword, shadowed)
    _check_join_words(conn, workspace_id, [k.word for k in built.keywords])
    canonical: dict[str, list[str]] = {}
    seen: dict[str, str] = {}
    for keyword in built.keywords:
        if keyword.word in seen:
            raise InvalidInput(
                f"{keyword.word} is given twice.", code="keyword_duplicate", word=keyword.word
            )
        seen[keyword.word] = keyword.intent.value
        canonical.setdefault(keyword.intent.value, []).append(keyword.word)
    for other in store.all_lists(conn, workspace_id):
        if list_id is not None and int(other.id) == list_id:
            continue
        for words in _stored_keywords(other.keywords).values():
            for word in words:
                if word.upper() in seen:
                    raise Conflict(
                        f"The list {other.name!r} already uses the keyword {word.upper()}.",
                        code="keyword_taken",
                        word=word.upper(),
                        list_id=int(other.id),
                    )
    return canonical


def _keyword_config(conn: Connection, workspace_id: int) -> KeywordConfig:
    policy = get_workspace(conn, workspace_id).policy
    return KeywordConfig.from_settings(policy.keyword_sets, list(policy.custom_keywords))


def check_lists_against(conn: Connection, workspace_id: int, config: KeywordConfig) -> None:
    """Refuse a keyword configuration under which a list keyword would shadow an enabled word.

    Switching a set on (or adding a custom keyword) while a list uses one of its words for
    another intent is refused, naming the list and the word: the admin renames the list
    keyword first. Refusing is the safe way round: until then the set's word simply is not
    enabled, which every page shows, instead of being enabled and silently losing to the list.
    """
    from stopline.domain.keywords import ListKeywords

    for row in store.all_lists(conn, workspace_id):
        entries = [
            {"word": word, "intent": intent}
            for intent, words in _stored_keywords(row.keywords).items()
            for word in words
        ]
        if not entries:
            continue
        try:
            built = ListKeywords.from_settings(int(row.id), entries)
        except InvalidInput:
            continue  # unreadable stored keywords are ignored by the classifier too
        for keyword in built.keywords:
            shadowed = shadowed_keyword(keyword, config)
            if shadowed is not None:
                raise shadowing_error(keyword, shadowed, row.name)


def _check_join_words(conn: Connection, workspace_id: int, words: Sequence[str]) -> None:
    """A list keyword may not be a join keyword (domain/join.py): the list keyword handler
    runs first and would take the word from the join."""
    from stopline.store import joins as join_store

    for row in join_store.joins_of(conn, workspace_id):
        for word in words:
            if word in (row.keywords or []):
                raise Conflict(
                    f"The list {row.list_name!r} joins with the keyword {word}.",
                    code="keyword_taken",
                    word=word,
                    list_id=int(row.list_id),
                )


def create_list(
    conn: Connection,
    principal: Principal,
    *,
    name: str,
    keywords: Mapping[str, Any] | None = None,
    help_text: str | None = None,
) -> SubscriptionList:
    principal.require("member")
    name = _name(name)
    if store.list_by_name(conn, principal.workspace_id, name) is not None:
        raise Conflict(f"There is already a list named {name!r}.", code="list_exists")
    canonical = check_keywords(conn, principal.workspace_id, None, keywords)
    list_id = store.insert_list(
        conn,
        principal.workspace_id,
        name=name,
        keywords=canonical,
        help_text=_help_text(help_text),
        created_at=now_utc(),
    )
    return get_list(conn, principal.workspace_id, list_id)


def get_list(conn: Connection, workspace_id: int, list_id: int) -> SubscriptionList:
    row = store.get_list(conn, workspace_id, list_id)
    if row is None:
        raise NotFound(f"No list {list_id} in this workspace.", code="list_not_found")
    return _list(row)


def all_lists(conn: Connection, workspace_id: int) -> list[SubscriptionList]:
    return [_list(r) for r in store.all_lists(conn, workspace_id)]


_UNSET: Any = object()


def update_list(
    conn: Connection,
    principal: Principal,
    list_id: int,
    *,
    name: str | None = None,
    keywords: Mapping[str, Any] | None = _UNSET,
    help_text: str | None = _UNSET,
    replies: Mapping[str, Any] | None = _UNSET,
) -> SubscriptionList:
    """Rename a list or change its keywords, HELP text and confirmation texts (fields left out
    stay as they are)."""
    principal.require("member")
    get_list(conn, principal.workspace_id, list_id)
    values: dict[str, Any] = {}
    if name is not None:
        values["name"] = _name(name)
        other = store.list_by_name(conn, principal.workspace_id, values["name"])
        if other is not None and int(other.id) != list_id:
            raise Conflict(f"There is already a list named {values['name']!r}.", code="list_exists")
    if keywords is not _UNSET:
        values["keywords"] = check_keywords(conn, principal.workspace_id, list_id, keywords)
    if help_text is not _UNSET:
        values["help_text"] = _help_text(help_text)
    if replies is not _UNSET:
        values["replies"] = _replies(replies)
    if values:
        store.update_list(conn, principal.workspace_id, list_id, **values)
    return get_list(conn, principal.workspace_id, list_id)


def delete_list(conn: Connection, principal: Principal, list_id: int) -> None:
    """Delete a list that no number has opted out of.

    A list opt-out is consent evidence tied to the list: deleting the list would silently drop
    its projection rows, so such a list is kept (rename it instead).
    """
    principal.require("admin")
    get_list(conn, principal.workspace_id, list_id)
    if store.list_opt_out_count(conn, principal.workspace_id, list_id):
        raise Conflict(
            "Numbers have opted out of this list; it is kept as a record of their choice.",
            code="list_has_opt_outs",
        )
    try:
        with conn.begin_nested():
            # Its members leave it in the ledger too, so the chain's memberships stay the table's.
            change_memberships(
                conn,
                principal.workspace_id,
                list_id,
                store.member_numbers(conn, principal.workspace_id, list_id),
                subscribe=False,
                actor=principal.actor,
                source="list deleted",
            )
            store.delete_list(conn, principal.workspace_id, list_id)
    except IntegrityError:
        raise Conflict(
            "This list is still used (by a campaign or message).", code="list_in_use"
        ) from None


def _numbers(conn: Connection, workspace_id: int, raws: Sequence[str]) -> list[str]:
    if len(raws) > MAX_MEMBERS_PER_CALL:
        raise InvalidInput(
            f"At most {MAX_MEMBERS_PER_CALL:,} numbers per call; import larger lists in parts.",
            code="too_many_numbers",
        )
    region = get_workspace(conn, workspace_id).policy.default_region
    return list(dict.fromkeys(normalize(raw, region) for raw in raws))


def add_members(
    conn: Connection,
    principal: Principal,
    list_id: int,
    raw_numbers: Sequence[str],
    *,
    record_consent: bool = False,
    evidence: Mapping[str, Any] | None = None,
    source: str | None = None,
) -> MembershipChange:
    """Subscribe numbers to a list. Membership is not consent: the gate still refuses numbers
    that opted out (of the workspace or of this list) when a campaign sends.

    With `record_consent` (a list-member import), each newly added number also gets a list
    opt-in in the ledger carrying `evidence` (domain.optin_evidence; none given: recorded as
    such, and shown as weaker). A number that opted out of this list is added but gets no
    opt-in: lifting a list opt-out is a re-subscribe, which has its own door (`opt_in`).
    """
    principal.require("member")
    get_list(conn, principal.workspace_id, list_id)
    now = now_utc()
    cleaned = None
    if evidence is not None:
        if not isinstance(evidence, Mapping):
            raise InvalidInput("evidence must be an object.", code="evidence_invalid")
        try:
            cleaned = optin_evidence.clean(evidence, now)
        except optin_evidence.EvidenceError as exc:
            raise optin_evidence.as_invalid_input(exc) from None
    numbers = _numbers(conn, principal.workspace_id, raw_numbers)
    added = change_memberships(
        conn,
        principal.workspace_id,
        list_id,
        numbers,
        subscribe=True,
        actor=principal.actor,
        method=Method.IMPORT if record_consent else Method.MANUAL,
        source=source,
        now=now,
    )
    new = set(added)
    consented: list[str] = []
    if record_consent and added:
        left = store.list_opted_out(conn, principal.workspace_id, list_id, added)
        # A blocked number cannot opt in (rule 5): it joins the list, with no consent recorded.
        left |= views.blocked_numbers(conn, principal.workspace_id, added)
        consented = [n for n in added if n not in left]
        record_consents(
            conn,
            principal.workspace_id,
            consented,
            ConsentChange(
                number="",
                action=Action.LIST_OPT_IN,
                method=Method.IMPORT,
                list_id=list_id,
                reason="list-member import",
                actor=principal.actor,
                source=source or (cleaned or {}).get("source") or "list-member import",
                detail={"evidence": cleaned},
            ),
            now=now,
        )
    return MembershipChange(
        added=added, already=[n for n in numbers if n not in new], consent_recorded=len(consented)
    )


@dataclass(frozen=True)
class MemberImport:
    added: int
    already: int
    rejected: list[tuple[int, str, str]]  # (row or line number, what was given, why)

    def as_dict(self) -> dict[str, Any]:
        return {
            "added": self.added,
            "already": self.already,
            "rejected": [{"row": r, "value": v, "reason": why} for r, v, why in self.rejected],
        }


def import_members(
    conn: Connection,
    principal: Principal,
    list_id: int,
    rows: Iterable[tuple[int, str]],
) -> MemberImport:
    """Subscribe the numbers of an upload or a pasted list: good ones are added, each bad one
    is reported with its row (a typo does not sink the other 999)."""
    principal.require("member")
    get_list(conn, principal.workspace_id, list_id)
    region = get_workspace(conn, principal.workspace_id).policy.default_region
    good: list[str] = []
    rejected: list[tuple[int, str, str]] = []
    for row, raw in rows:
        if not raw.strip():
            continue
        try:
            good.append(normalize(raw, region))
        except InvalidInput as exc:
            rejected.append((row, raw[:64], exc.message))
        if len(good) > MAX_MEMBERS_PER_CALL:
            raise InvalidInput(
                f"At most {MAX_MEMBERS_PER_CALL:,} numbers at once; import larger lists in parts.",
                code="too_many_numbers",
            )
    change = add_members(conn, principal, list_id, good)
    return MemberImport(len(change.added), len(change.already), rejected)


def remove_members(
    conn: Connection, principal: Principal, list_id: int, raw_numbers: Sequence[str]
) -> MembershipChange:
    """Take numbers off a list (not an opt-out: they may be added again; use `opt_out` for that)."""
    principal.require("member")
    get_list(conn, principal.workspace_id, list_id)
    numbers = _numbers(conn, principal.workspace_id, raw_numbers)
    removed = change_memberships(
        conn, principal.workspace_id, list_id, numbers, subscribe=False, actor=principal.actor
    )
    return MembershipChange(removed=len(removed))


def members(
    conn: Connection,
    workspace_id: int,
    list_id: int,
    *,
    search: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[Member], int]:
    get_list(conn, workspace_id, list_id)
    if not 1 <= limit <= 1000 or offset < 0:
        raise InvalidInput("limit must be 1-1000 and offset not negative.", code="page_invalid")
    digits = "".join(ch for ch in search or "" if ch.isdigit()) or None
    rows, total = store.members(
        conn, workspace_id, list_id, search=digits, limit=limit, offset=offset
    )
    return [
        Member(
            number=r.number,
            subscribed_at=utc(r.subscribed_at),
            list_opt_out=r.opt_out_method,
            opted_out_at=utc(r.opted_out_at) if r.opted_out_at else None,
        )
        for r in rows
    ], total


def opt_out(
    conn: Connection,
    principal: Principal,
    list_id: int,
    raw_number: str,
    *,
    reason: str | None = None,
    method: Method = Method.MANUAL,
) -> ChangeResult:
    """Opt a number out of this list only (any member may, like any opt-out; seed 003)."""
    get_list(conn, principal.workspace_id, list_id)
    policy = get_workspace(conn, principal.workspace_id).policy
    change = ConsentChange(
        number=normalize(raw_number, policy.default_region),
        action=Action.LIST_OPT_OUT,
        method=method,
        list_id=list_id,
        reason=(reason or "").strip() or None,
        actor=principal.actor,
    )
    return change_consent(conn, principal.workspace_id, change, policy)


def opt_in(
    conn: Connection,
    principal: Principal,
    list_id: int,
    raw_number: str,
    *,
    consent_note: str | None = None,
) -> ChangeResult:
    """Lift a list opt-out, under the workspace's re-subscribe policy (note required)."""
    get_list(conn, principal.workspace_id, list_id)
    policy = get_workspace(conn, principal.workspace_id).policy
    note = (consent_note or "").strip() or None
    change = ConsentChange(
        number=normalize(raw_number, policy.default_region),
        action=Action.LIST_OPT_IN,
        method=Method.MANUAL,
        list_id=list_id,
        reason=note,
        consent_note=note,
        actor=principal.actor,
    )
    return change_consent(conn, principal.workspace_id, change, policy)


def memberships(
    conn: Connection, workspace_id: int, numbers: Sequence[str]
) -> set[tuple[int, str]]:
    """(list id, number) pairs for the given numbers: what a campaign would reach."""
    return {
        (list_id, number) for number, list_id in store.lists_of_numbers(conn, workspace_id, numbers)
    }
