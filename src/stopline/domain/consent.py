"""The consent ledger's rules: change commands, events with their hash chain, and the state they project to.

Every consent change is a `ConsentChange` command. `check_change` says whether it is allowed
and whether it changes anything; `apply` folds an event into a number's `NumberState`. The
store keeps the projection tables equal to folding every event with `apply`, in the same
transaction that appends the event; `verify_chain` proves the ledger was not edited.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from stopline.domain.errors import Forbidden, InvalidInput
from stopline.domain.keep_offer import answer_problem, offer_of
from stopline.domain.policy import OptOutScope, Policy, ResubscribePolicy

Scope = OptOutScope

GENESIS_HASH = "0" * 64

# The channel types stopline knows (the `channels.type` check); a `channel_type` opt-out is keyed
# by one of them, exactly as written here (outbound rule 3).
CHANNEL_TYPES = ("sms", "mms", "whatsapp", "rcs")
_CHANNEL_ID = re.compile(r"[1-9][0-9]{0,17}", re.ASCII)


class Action(StrEnum):
    OPT_OUT = "opt_out"
    OPT_IN = "opt_in"
    BLOCK = "block"
    UNBLOCK = "unblock"
    LIST_OPT_OUT = "list_opt_out"
    LIST_OPT_IN = "list_opt_in"
    AMEND = "amend"  # a new reason for an existing opt-out: never an in-place edit
    RETRACT = "retract"  # an opt-out entered on a wrong number, replaced by the corrected one
    # List membership (who a campaign reaches): not consent, but the gate reads it, so it is
    # recorded in the chain like consent and `ledger verify` can tell an invented member.
    LIST_SUBSCRIBE = "list_subscribe"
    LIST_UNSUBSCRIBE = "list_unsubscribe"


class Method(StrEnum):
    REPLY = "reply"  # automatic keyword match; only inbound processing may use it
    MANUAL = "manual"
    LINK = "link"
    IMPORT = "import"
    API = "api"
    CARRIER = "carrier"  # the provider reported it


# Methods that record a recipient's own request: repeated requests are kept as evidence.
RECIPIENT_METHODS = frozenset({Method.REPLY, Method.LINK, Method.CARRIER})


@dataclass(frozen=True)
class ConsentChange:
    """A command to change one number's consent; the only way consent state changes."""

    number: str
    action: Action
    method: Method
    scope: Scope = Scope.WORKSPACE
    scope_key: str = ""
    list_id: int | None = None
    reason: str | None = None
    inbound_text: str | None = None
    actor: str = "system"
    channel_id: int | None = None
    source: str | None = None
    correlation_id: str | None = None
    consent_note: str | None = None
    occurred_at: datetime | None = None
    # For opt_in: the (scope, key) records and list ids it lifts; for amend/retract: the target.
    detail: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Record:
    """One current opt-out, block or list opt-out, as the Opt-Outs page shows it."""

    method: Method
    reason: str | None
    actor: str
    created_at: datetime
    event_seq: int
    channel_id: int | None = None
    # Lists the recipient kept past this opt-out by answering its confirmation's offer
    # (domain/keep_offer.py): (list id, the keeping event's seq). Only on opt-outs.
    keeps: tuple[tuple[int, int], ...] = ()

    def keeps_list(self, list_id: int | None) -> bool:
        return list_id is not None and any(kept == list_id for kept, _seq in self.keeps)


ScopeKey = tuple[Scope, str]


@dataclass(frozen=True)
class NumberState:
    """A number's current consent in one workspace; the projection of its events."""

    opt_outs: Mapping[ScopeKey, Record] = field(default_factory=dict)
    block: Record | None = None
    list_opt_outs: Mapping[int, Record] = field(default_factory=dict)

    @property
    def is_clear(self) -> bool:
        return not self.opt_outs and self.block is None and not self.list_opt_outs

    def opted_out_for(
        self, channel_id: int | None, channel_type: str | None, list_id: int | None = None
    ) -> Record | None:
        """The opt-out that covers a message on this channel, if any (outbound rule 3). A
        message sent through a list the recipient kept past an opt-out passes that one."""
        for (scope, key), record in self.opt_outs.items():
            if record.keeps and record.keeps_list(list_id):
                continue
            if scope is Scope.WORKSPACE:
                return record
            if scope is Scope.CHANNEL_TYPE and channel_type is not None:
                if key == channel_type or legacy_key(scope, key) == channel_type:
                    return record
            if scope is Scope.CHANNEL and channel_id is not None:
                if key == str(channel_id) or legacy_key(scope, key) == str(channel_id):
                    return record
        return None


def legacy_key(scope: Scope, key: str) -> str:
    """A scope key as stored before keys were checked (`SMS`, `08`, `٨`), read the way its
    author meant it, so such a row still refuses the sends it claims to refuse."""
    import unicodedata

    folded = unicodedata.normalize("NFKC", key).strip()
    if scope is Scope.CHANNEL_TYPE:
        return folded.casefold()
    if scope is Scope.CHANNEL and folded.isdecimal():
        return str(int(folded))
    return key


EMPTY = NumberState()


@dataclass(frozen=True)
class ConsentEvent:
    """One appended ledger entry. `hash` covers every field and the previous event's hash."""

    workspace_id: int
    seq: int
    number: str
    action: Action
    method: Method
    scope: Scope
    scope_key: str
    list_id: int | None
    reason: str | None
    inbound_text: str | None
    actor: str
    channel_id: int | None
    source: str | None
    correlation_id: str | None
    consent_note: str | None
    detail: Mapping[str, Any] | None
    occurred_at: datetime
    recorded_at: datetime
    prev_hash: str
    hash: str


def utc(dt: datetime) -> datetime:
    """Timestamps are UTC; SQLite hands them back naive, so naive means UTC."""
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def _ts(dt: datetime) -> str:
    return utc(dt).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


HASHED_FIELDS = (
    "workspace_id",
    "seq",
    "number",
    "action",
    "method",
    "scope",
    "scope_key",
    "list_id",
    "reason",
    "inbound_text",
    "actor",
    "channel_id",
    "source",
    "correlation_id",
    "consent_note",
    "detail",
    "occurred_at",
    "recorded_at",
)


def event_hash(prev_hash: str, fields: Mapping[str, Any]) -> str:
    """SHA-256 over the previous hash and a canonical JSON of the event's fields."""
    canonical: list[Any] = []
    for name in HASHED_FIELDS:
        value = fields.get(name)
        if isinstance(value, datetime):
            value = _ts(value)
        elif isinstance(value, StrEnum):
            value = value.value
        canonical.append(value)
    payload = json.dumps(canonical, separators=(",", ":"), ensure_ascii=False, sort_keys=True)
    return hashlib.sha256((prev_hash + payload).encode()).hexdigest()


def make_event(
    workspace_id: int,
    seq: int,
    prev_hash: str,
    change: ConsentChange,
    now: datetime,
) -> ConsentEvent:
    """Turn an allowed change into the next event of the workspace's chain."""
    fields: dict[str, Any] = {
        "workspace_id": workspace_id,
        "seq": seq,
        "number": change.number,
        "action": change.action,
        "method": change.method,
        "scope": change.scope,
        "scope_key": change.scope_key,
        "list_id": change.list_id,
        "reason": change.reason,
        "inbound_text": change.inbound_text,
        "actor": change.actor,
        "channel_id": change.channel_id,
        "source": change.source,
        "correlation_id": change.correlation_id,
        "consent_note": change.consent_note,
        "detail": dict(change.detail) if change.detail is not None else None,
        "occurred_at": utc(change.occurred_at or now),
        "recorded_at": utc(now),
    }
    digest = event_hash(prev_hash, fields)
    return ConsentEvent(prev_hash=prev_hash, hash=digest, **fields)


# --- rules ----------------------------------------------------------------------------------


def check_change(
    state: NumberState, change: ConsentChange, policy: Policy, *, from_inbound: bool = False
) -> bool:
    """Raise if the change is not allowed; return False if it would change nothing at all.

    A recipient's repeated request (a second STOP) still returns True: it is evidence
    worth keeping, even though the projection keeps the first record.
    """
    action = change.action
    _check_scope(change)
    if change.method is Method.REPLY and not from_inbound:
        raise InvalidInput(
            "A 'reply' opt-out is only ever created by an inbound keyword; choose another method.",
            code="reply_method_reserved",
        )
    if action is Action.OPT_OUT:
        key = (change.scope, change.scope_key)
        if key in state.opt_outs:
            return change.method in RECIPIENT_METHODS
        return True
    if action is Action.BLOCK:
        return state.block is None
    if action is Action.UNBLOCK:
        return state.block is not None
    if action is Action.OPT_IN:
        if state.block is not None:
            raise Forbidden(
                "This number is blocked; it cannot opt back in until it is unblocked.",
                code="blocked",
            )
        lifts = bool(lifted_scopes(state, change)) or bool(lifted_lists(state, change))
        if change.method not in RECIPIENT_METHODS and (lifts or not records_consent(change)):
            _check_resubscribe(policy, change)
        return lifts or records_consent(change)
    if action is Action.LIST_OPT_OUT:
        _require_list(change)
        assert change.list_id is not None
        if change.list_id in state.list_opt_outs:
            return change.method in RECIPIENT_METHODS
        return True
    if action is Action.LIST_OPT_IN:
        _require_list(change)
        if state.block is not None:  # rule 5, for a list's opt-in as for the workspace's
            raise Forbidden(
                "This number is blocked; it cannot opt back in until it is unblocked.",
                code="blocked",
            )
        if "keeps" in (change.detail or {}):
            kept = kept_scope(change)
            if kept is None:
                raise InvalidInput("A kept list names the opt-out it passes.", code="keep_invalid")
            return _check_keep(state, change, kept)
        lifts = change.list_id in state.list_opt_outs
        if change.method not in RECIPIENT_METHODS and (lifts or not records_consent(change)):
            _check_resubscribe(policy, change)
        return lifts or records_consent(change)
    if action in (Action.LIST_SUBSCRIBE, Action.LIST_UNSUBSCRIBE):
        _require_list(change)
        return True  # the caller knows the current members; see `project_memberships`
    if action in (Action.AMEND, Action.RETRACT):
        target = _target(change)
        if target not in state.opt_outs:
            raise InvalidInput("This number has no such opt-out to change.", code="not_opted_out")
        if action is Action.RETRACT and state.block is not None:
            raise Forbidden(
                "This number is blocked; unblock it before moving its opt-out.", code="blocked"
            )
        if action is Action.RETRACT and state.opt_outs[target].method in RECIPIENT_METHODS:
            raise Forbidden(
                "An opt-out the recipient asked for cannot be moved to another number.",
                code="recipient_opt_out_immutable",
            )
        if action is Action.RETRACT:
            # Taking an opt-out off a number lets texts reach it again: a re-subscribe, under
            # the same policy as any other (hole: a number correction there and back lifted it).
            if policy.resubscribe_policy is ResubscribePolicy.RECIPIENT_ONLY:
                raise Forbidden(
                    f"Moving this opt-out would let texts reach {change.number} again, and only "
                    "the recipient can opt back in (re-subscribe policy 'recipient_only'): keep "
                    "the old number opted out too.",
                    code="resubscribe_recipient_only",
                )
            _check_resubscribe(policy, change)
        return True
    raise InvalidInput(f"Unknown action {action!r}.", code="action_unknown")  # pragma: no cover


def kept_scope(change: ConsentChange | ConsentEvent) -> ScopeKey | None:
    """The opt-out a list opt-in keeps its list past (`detail["keeps"]`: the recipient answered
    the opt-out confirmation's offer), or None for an ordinary list opt-in."""
    raw = (change.detail or {}).get("keeps")
    try:
        scope, key = raw  # type: ignore[misc]
        return (Scope(scope), str(key))
    except (TypeError, ValueError):
        return None


def _check_keep(state: NumberState, change: ConsentChange, kept: ScopeKey) -> bool:
    """Only the recipient's own answer keeps a list past their opt-out (FCC 2024 order: the
    opt-out covers everything until they say otherwise); the offer itself is checked by the
    inbound handler and replayed by `ledger verify` (domain/keep_offer.py)."""
    if change.method is not Method.REPLY:
        raise Forbidden(
            "Only the recipient's own answer to the opt-out confirmation keeps a list.",
            code="keep_reply_only",
        )
    record = state.opt_outs.get(kept)
    if record is None:
        raise InvalidInput(
            "This number has no such opt-out to keep a list past.", code="not_opted_out"
        )
    return not record.keeps_list(change.list_id)


def records_consent(change: ConsentChange) -> bool:
    """An opt-in that records consent given (with its evidence under ``detail["evidence"]``,
    or None when there was none): kept in the ledger even when it lifts no opt-out, since
    proving the opt-in is the point (domain/optin_evidence.py)."""
    return change.detail is not None and "evidence" in change.detail


def _check_scope(change: ConsentChange) -> None:
    """A scope key is canonical, so the gate's exact comparison can match it (hole: `SMS`, `08`,
    `٨`, `８` were stored, shown as opted out, and matched no send)."""
    scope, key = change.scope, change.scope_key
    if not isinstance(key, str):
        key = repr(key)
    elif scope is Scope.WORKSPACE and key == "":
        return
    elif scope is Scope.CHANNEL_TYPE and key in CHANNEL_TYPES:
        return
    elif scope is Scope.CHANNEL and _CHANNEL_ID.fullmatch(key):
        return
    raise InvalidInput(
        f"Scope {scope.value!r} needs "
        + {
            Scope.WORKSPACE: "no key",
            Scope.CHANNEL_TYPE: f"a channel type ({', '.join(CHANNEL_TYPES)}, in lower case)",
            Scope.CHANNEL: "the id of a channel of this workspace (digits, no leading zero)",
        }[scope]
        + f", not {key!r}.",
        code="scope_key_invalid",
        scope=scope.value,
        scope_key=key[:64],
    )


def _check_resubscribe(policy: Policy, change: ConsentChange) -> None:
    if policy.resubscribe_policy is ResubscribePolicy.RECIPIENT_ONLY:
        raise Forbidden(
            "Only the recipient can opt back in, by texting START (re-subscribe policy "
            "'recipient_only').",
            code="resubscribe_recipient_only",
        )
    if not (change.consent_note or "").strip():
        raise InvalidInput(
            "Re-subscribing a number needs a note recording the recipient's consent.",
            code="consent_note_required",
        )


def _require_list(change: ConsentChange) -> None:
    if change.list_id is None:
        raise InvalidInput("A list opt-out needs a list.", code="list_required")


def _target(change: ConsentChange) -> ScopeKey:
    detail = change.detail or {}
    return (Scope(detail.get("target_scope", change.scope)), str(detail.get("target_key", "")))


def lifted_scopes(state: NumberState, change: ConsentChange) -> list[ScopeKey]:
    """The opt-outs an opt-in lifts: those named in its detail, else every one."""
    named = (change.detail or {}).get("lifts")
    if named is None:
        return sorted(state.opt_outs)
    wanted = {(Scope(s), str(k)) for s, k in named}
    return sorted(k for k in state.opt_outs if k in wanted)


def lifted_lists(state: NumberState, change: ConsentChange) -> list[int]:
    named = (change.detail or {}).get("lifts_lists") or []
    return sorted(int(i) for i in named if int(i) in state.list_opt_outs)


# --- projection -----------------------------------------------------------------------------


def _record(event: ConsentEvent) -> Record:
    return Record(
        method=event.method,
        reason=event.reason,
        actor=event.actor,
        created_at=utc(event.occurred_at),
        event_seq=event.seq,
        channel_id=event.channel_id,
    )


def _as_change(event: ConsentEvent) -> ConsentChange:
    return ConsentChange(
        number=event.number,
        action=event.action,
        method=event.method,
        scope=event.scope,
        scope_key=event.scope_key,
        list_id=event.list_id,
        detail=event.detail,
    )


def apply(state: NumberState, event: ConsentEvent) -> NumberState:
    """Fold one event into a number's state. Pure: the projection tables mirror exactly this."""
    action = event.action
    if action is Action.OPT_OUT:
        key = (event.scope, event.scope_key)
        if key in state.opt_outs:
            # The first request keeps its method and reason; asking again ends every list
            # kept past it (a new STOP means all messages, until answered again).
            record = state.opt_outs[key]
            if not record.keeps:
                return state
            return replace(state, opt_outs={**state.opt_outs, key: replace(record, keeps=())})
        return replace(state, opt_outs={**state.opt_outs, key: _record(event)})
    if action is Action.BLOCK:
        if state.block is not None:
            return state
        # A block implies an opt-out everywhere (PRODUCT "block"), with no list kept past it.
        opt_outs = {k: replace(r, keeps=()) if r.keeps else r for k, r in state.opt_outs.items()}
        opt_outs.setdefault((Scope.WORKSPACE, ""), _record(event))
        return replace(state, block=_record(event), opt_outs=opt_outs)
    if action is Action.UNBLOCK:
        return replace(state, block=None)  # unblocking does not opt back in
    if action is Action.OPT_IN:
        change = _as_change(event)
        lifted = set(lifted_scopes(state, change))
        lists = set(lifted_lists(state, change))
        return replace(
            state,
            opt_outs={k: v for k, v in state.opt_outs.items() if k not in lifted},
            list_opt_outs={k: v for k, v in state.list_opt_outs.items() if k not in lists},
        )
    if action is Action.LIST_OPT_OUT:
        assert event.list_id is not None
        # Leaving a list also ends keeping it past an opt-out.
        opt_outs = {
            k: replace(r, keeps=tuple(p for p in r.keeps if p[0] != event.list_id))
            if r.keeps_list(event.list_id)
            else r
            for k, r in state.opt_outs.items()
        }
        if event.list_id in state.list_opt_outs:
            return replace(state, opt_outs=opt_outs)
        return replace(
            state,
            opt_outs=opt_outs,
            list_opt_outs={**state.list_opt_outs, event.list_id: _record(event)},
        )
    if action is Action.LIST_OPT_IN:
        list_outs = {k: v for k, v in state.list_opt_outs.items() if k != event.list_id}
        kept = kept_scope(event)
        passed = state.opt_outs.get(kept) if kept is not None else None
        if kept is None or passed is None or event.list_id is None:
            return replace(state, list_opt_outs=list_outs)
        if passed.keeps_list(event.list_id):
            return replace(state, list_opt_outs=list_outs)
        keeps = tuple(sorted((*passed.keeps, (event.list_id, event.seq))))
        return replace(
            state,
            opt_outs={**state.opt_outs, kept: replace(passed, keeps=keeps)},
            list_opt_outs=list_outs,
        )
    if action is Action.AMEND:
        target = _target(_as_change(event))
        if target not in state.opt_outs:
            return state
        amended = replace(state.opt_outs[target], reason=event.reason)
        return replace(state, opt_outs={**state.opt_outs, target: amended})
    if action is Action.RETRACT:
        target = _target(_as_change(event))
        return replace(state, opt_outs={k: v for k, v in state.opt_outs.items() if k != target})
    return state  # list memberships: folded by `project_memberships`


def project_memberships(events: Iterable[ConsentEvent]) -> set[tuple[str, int]]:
    """(number, list id) of every current list member, folded from the membership events."""
    members: set[tuple[str, int]] = set()
    for event in events:
        if event.list_id is None:
            continue
        if event.action is Action.LIST_SUBSCRIBE:
            members.add((event.number, event.list_id))
        elif event.action is Action.LIST_UNSUBSCRIBE:
            members.discard((event.number, event.list_id))
    return members


def project(events: Iterable[ConsentEvent]) -> dict[str, NumberState]:
    """Fold a workspace's events, in order, into every number's state (empty states dropped)."""
    states: dict[str, NumberState] = {}
    for event in events:
        states[event.number] = apply(states.get(event.number, EMPTY), event)
    return {n: s for n, s in states.items() if not s.is_clear}


# --- verification ---------------------------------------------------------------------------


def _columns(record: Record, *, channel: bool) -> tuple[Any, ...]:
    return (
        record.method.value,
        record.reason,
        record.actor,
        utc(record.created_at),
        record.event_seq,
        record.channel_id if channel else None,
    )


def stored_view(state: NumberState) -> tuple[Any, ...]:
    """Every column of a number's state rows, as the tables hold them: what `ledger verify`
    compares with the projection of the events (the gate reads the scopes, the block and the
    list opt-outs; the Opt-Outs page and the number correction read method and reason)."""
    return (
        {
            (s.value, k): (*_columns(r, channel=True), r.keeps)
            for (s, k), r in state.opt_outs.items()
        },
        _columns(state.block, channel=False) if state.block is not None else None,
        {i: _columns(r, channel=False) for i, r in state.list_opt_outs.items()},
    )


def rule_violations(events: Iterable[ConsentEvent]) -> list[ChainProblem]:
    """Events the rules could never have allowed, found by replaying each number's history
    (events in chain order): an edited row or a forged event that the hash chain alone cannot
    tell from a real one, if it was written with its hash recomputed behind stopline's back."""
    problems: list[ChainProblem] = []
    states: dict[str, NumberState] = {}
    last_opt_out: dict[str, ConsentEvent] = {}
    for event in events:
        state = states.get(event.number, EMPTY)
        why = _violation(state, event) or _keep_violation(event, last_opt_out.get(event.number))
        if why is not None:
            problems.append(ChainProblem(event.seq, "rule_violation", f"{event.number}: {why}"))
        states[event.number] = apply(state, event)
        if event.action is Action.OPT_OUT:
            last_opt_out[event.number] = event
    return problems


def _keep_violation(event: ConsentEvent, offer_event: ConsentEvent | None) -> str | None:
    """A list kept past an opt-out needs the recipient's answer to that opt-out's offer, in
    time (domain/keep_offer.py), and passes only the opt-out that made the offer."""
    if event.action is not Action.LIST_OPT_IN or "keeps" not in (event.detail or {}):
        return None
    if event.method is not Method.REPLY or event.inbound_text is None:
        return "a list kept past an opt-out without the recipient's answer"
    offer_seq = (event.detail or {}).get("offer_seq")
    problem = answer_problem(
        offer_of(offer_event.detail) if offer_event is not None else None,
        offer_seq=offer_seq if isinstance(offer_seq, int) else -1,
        latest_opt_out_seq=offer_event.seq if offer_event is not None else None,
        list_id=event.list_id,
        answered_at=utc(event.recorded_at),
    )
    if problem is None and offer_event is not None:
        if kept_scope(event) != (offer_event.scope, offer_event.scope_key):
            problem = "keeps a list past another opt-out than the one that offered it"
    return f"a list kept past an opt-out: {problem}" if problem else None


def _violation(state: NumberState, event: ConsentEvent) -> str | None:
    action = event.action
    blocked = state.block is not None
    if action in (Action.OPT_IN, Action.LIST_OPT_IN) and blocked:
        return "an opt-in while the number was blocked"
    if action in (Action.OPT_IN, Action.LIST_OPT_IN) and event.method not in RECIPIENT_METHODS:
        change = _as_change(event)
        lifts = (
            event.list_id in state.list_opt_outs
            if action is Action.LIST_OPT_IN
            else bool(lifted_scopes(state, change) or lifted_lists(state, change))
        )
        # An opt-in that lifts nothing only records consent given (with its evidence).
        if lifts and not (event.consent_note or "").strip():
            return "a re-subscribe by a member with no consent note"
    if action is Action.RETRACT:
        record = state.opt_outs.get(_target(_as_change(event)))
        if blocked:
            return "an opt-out moved while the number was blocked"
        if record is not None and record.method in RECIPIENT_METHODS:
            return f"a {record.method.value!r} opt-out (the recipient's own) retracted"
    if event.method is Method.REPLY and action in (Action.OPT_IN, Action.OPT_OUT):
        if event.inbound_text is None:
            return "a 'reply' change with no inbound text behind it"
    return None


@dataclass(frozen=True)
class ChainProblem:
    seq: int
    kind: str  # edited | missing | out_of_order | inserted | head_mismatch
    detail: str


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    events: int
    head_seq: int
    head_hash: str
    problems: tuple[ChainProblem, ...]


def verify_chain(
    events: Iterable[ConsentEvent], head_seq: int | None, head_hash: str | None
) -> ChainReport:
    """Recompute the chain: an edited, deleted, inserted or reordered event breaks it."""
    problems: list[ChainProblem] = []
    prev = GENESIS_HASH
    expected_seq = 1
    count = 0
    last_seq = 0
    for event in events:
        count += 1
        fields = {name: getattr(event, name) for name in HASHED_FIELDS}
        if event.seq != expected_seq:
            kind = "missing" if event.seq > expected_seq else "out_of_order"
            problems.append(
                ChainProblem(event.seq, kind, f"expected event #{expected_seq}, found #{event.seq}")
            )
        if event.prev_hash != prev:
            problems.append(
                ChainProblem(event.seq, "inserted", "does not follow the previous event's hash")
            )
        if event_hash(event.prev_hash, fields) != event.hash:
            problems.append(
                ChainProblem(event.seq, "edited", "its content does not match its hash")
            )
        prev = event.hash
        last_seq = event.seq
        expected_seq = event.seq + 1
    head_seq = head_seq or 0
    head_hash = head_hash or GENESIS_HASH
    if head_seq != last_seq or head_hash != prev:
        problems.append(
            ChainProblem(
                last_seq,
                "head_mismatch",
                f"the ledger head records event #{head_seq}, the chain ends at #{last_seq}",
            )
        )
    return ChainReport(not problems, count, last_seq, prev, tuple(problems))
