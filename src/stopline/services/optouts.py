"""Opt-outs and blocks as the team manages them: add, remove (re-subscribe), block, unblock, list."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select

from stopline.domain import limits
from stopline.domain.consent import (
    RECIPIENT_METHODS,
    Action,
    ConsentChange,
    Method,
    NumberState,
    Record,
    Scope,
    utc,
)
from stopline.domain.errors import Forbidden, InvalidInput, NotFound
from stopline.domain.numbers import normalize
from stopline.services.consent import ChangeResult, change_consent
from stopline.services.workspaces import Principal, get_workspace
from stopline.store import ledger
from stopline.store import optouts as optout_store
from stopline.store.tables import blocks, contact_numbers, contacts, opt_outs

# The methods a member, an app or an import may state. `reply` is recorded only by an inbound
# keyword, `link` only by the opt-out link page, `carrier` only by a provider's report: each
# claims the recipient asked, so no one may claim it for them (issue 11).
MANUAL_METHODS = frozenset({Method.MANUAL.value, Method.API.value, Method.IMPORT.value})
_RECORDED_BY = {
    Method.REPLY: "an inbound keyword",
    Method.LINK: "the opt-out link page",
    Method.CARRIER: "a provider's report",
}


def parse_method(value: str | Method) -> Method:
    """Any method, as a filter names it; 422 `method_unknown` for a word that is none."""
    try:
        return Method(value)
    except ValueError:
        raise InvalidInput(
            f"Unknown method {value!r}; use one of {', '.join(m.value for m in Method)}.",
            code="method_unknown",
        ) from None


def _method(value: str | Method) -> Method:
    """A method a person or app may state for an opt-out; 422 for any other."""
    method = parse_method(value)
    if method.value not in MANUAL_METHODS:
        raise InvalidInput(
            f"A {method.value!r} opt-out is only ever recorded by {_RECORDED_BY[method]}; use "
            f"one of {', '.join(sorted(MANUAL_METHODS))}.",
            code="method_reserved" if method is not Method.REPLY else "reply_method_reserved",
            method=method.value,
        )
    return method


def parse_scope(value: str | Scope) -> Scope:
    try:
        return Scope(value)
    except ValueError:
        raise InvalidInput(
            f"Unknown scope {value!r}; use one of {', '.join(s.value for s in Scope)}.",
            code="scope_unknown",
        ) from None


def add_opt_out(
    conn: Connection,
    principal: Principal,
    raw_number: str,
    *,
    reason: str | None = None,
    method: str | Method = Method.MANUAL,
    scope: Scope | None = None,
    scope_key: str = "",
    source: str | None = None,
    occurred_at: datetime | None = None,
) -> ChangeResult:
    """Any member may opt a number out (seed 003); the number need not belong to a contact.

    `method` is what the member or app states: manual, api or import (`_method`)."""
    return record_opt_out(
        conn,
        principal,
        raw_number,
        reason=reason,
        method=_method(method),
        scope=scope,
        scope_key=scope_key,
        source=source,
        occurred_at=occurred_at,
    )


def record_opt_out(
    conn: Connection,
    principal: Principal,
    raw_number: str,
    *,
    method: Method,
    reason: str | None = None,
    scope: Scope | None = None,
    scope_key: str = "",
    source: str | None = None,
    occurred_at: datetime | None = None,
) -> ChangeResult:
    """An opt-out with any method but `reply`: for the code that observed the event itself
    (the demo's sample history); people and apps go through `add_opt_out`."""
    policy = get_workspace(conn, principal.workspace_id).policy
    number = normalize(raw_number, policy.default_region)
    change = ConsentChange(
        number=number,
        action=Action.OPT_OUT,
        method=method,
        scope=scope or Scope.WORKSPACE,
        scope_key=scope_key,
        reason=(reason or "").strip() or None,
        actor=principal.actor,
        source=source,
        occurred_at=occurred_at,
    )
    return change_consent(conn, principal.workspace_id, change, policy)


def remove_opt_out(
    conn: Connection,
    principal: Principal,
    raw_number: str,
    *,
    consent_note: str | None = None,
    method: str | Method = Method.MANUAL,
) -> ChangeResult:
    """Re-subscribe a number, under the workspace's re-subscribe policy."""
    policy = get_workspace(conn, principal.workspace_id).policy
    number = normalize(raw_number, policy.default_region)
    change = ConsentChange(
        number=number,
        action=Action.OPT_IN,
        method=_method(method),
        actor=principal.actor,
        consent_note=(consent_note or "").strip() or None,
        reason=(consent_note or "").strip() or None,
    )
    return change_consent(conn, principal.workspace_id, change, policy)


def block(
    conn: Connection, principal: Principal, raw_number: str, *, reason: str | None = None
) -> ChangeResult:
    policy = get_workspace(conn, principal.workspace_id).policy
    change = ConsentChange(
        number=normalize(raw_number, policy.default_region),
        action=Action.BLOCK,
        method=Method.MANUAL,
        reason=(reason or "").strip() or None,
        actor=principal.actor,
    )
    return change_consent(conn, principal.workspace_id, change, policy)


def unblock(
    conn: Connection, principal: Principal, raw_number: str, *, reason: str | None = None
) -> ChangeResult:
    """Unblocking does not opt the number back in (PRODUCT "Managing opt-outs")."""
    policy = get_workspace(conn, principal.workspace_id).policy
    change = ConsentChange(
        number=normalize(raw_number, policy.default_region),
        action=Action.UNBLOCK,
        method=Method.MANUAL,
        reason=(reason or "").strip() or None,
        actor=principal.actor,
    )
    return change_consent(conn, principal.workspace_id, change, policy)


@dataclass(frozen=True)
class OptOutRow:
    number: str
    scope: str
    scope_key: str
    method: str
    reason: str | None
    actor: str
    created_at: datetime
    contact_id: int | None
    contact_name: str | None
    blocked: bool
    kept_lists: tuple[int, ...] = ()  # lists the recipient kept past this opt-out

    def as_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "scope": self.scope,
            "scope_key": self.scope_key,
            "method": self.method,
            "reason": self.reason,
            "actor": self.actor,
            "created_at": self.created_at.isoformat(),
            "contact_id": self.contact_id,
            "contact_name": self.contact_name,
            "blocked": self.blocked,
            "kept_lists": list(self.kept_lists),
        }


SORTS = {
    "created_at": opt_outs.c.created_at,
    "number": opt_outs.c.number,
    "method": opt_outs.c.method,
}


def list_opt_outs(
    conn: Connection,
    workspace_id: int,
    *,
    search: str | None = None,
    method: str | None = None,
    scope: str | None = None,
    sort: str = "-created_at",
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[OptOutRow], int]:
    """The Opt-Outs page: number, matching contact, method, reason, when, who; with the total."""
    desc = sort.startswith("-")
    key = sort.lstrip("-")
    if key not in SORTS:
        raise InvalidInput(f"Cannot sort by {key!r}.", code="sort_invalid")
    if not 1 <= limit <= 1000 or offset < 0:
        raise InvalidInput("limit must be 1-1000 and offset not negative.", code="page_invalid")
    conditions: list[Any] = [opt_outs.c.workspace_id == workspace_id]
    if search:
        digits = "".join(ch for ch in search if ch.isdigit())
        if not digits:
            raise InvalidInput("Search by number needs digits.", code="search_invalid")
        conditions.append(opt_outs.c.number.contains(digits, autoescape=True))
    if method:
        conditions.append(opt_outs.c.method == parse_method(method).value)
    if scope:
        conditions.append(opt_outs.c.scope == parse_scope(scope).value)
    joined = opt_outs.outerjoin(
        contact_numbers,
        (contact_numbers.c.workspace_id == opt_outs.c.workspace_id)
        & (contact_numbers.c.number == opt_outs.c.number),
    ).outerjoin(contacts, contacts.c.id == contact_numbers.c.contact_id)
    blocked = (
        select(func.count())
        .where(
            blocks.c.workspace_id == opt_outs.c.workspace_id, blocks.c.number == opt_outs.c.number
        )
        .scalar_subquery()
    )
    order = SORTS[key].desc() if desc else SORTS[key].asc()
    query = (
        select(
            opt_outs,
            contacts.c.id.label("contact_id"),
            contacts.c.name.label("contact_name"),
            blocked.label("blocked"),
        )
        .select_from(joined)
        .where(*conditions)
        .order_by(order, opt_outs.c.number, opt_outs.c.scope, opt_outs.c.scope_key)
        .limit(limit)
        .offset(offset)
    )
    total = conn.execute(select(func.count()).select_from(opt_outs).where(*conditions)).scalar_one()
    rows = [
        OptOutRow(
            number=r.number,
            scope=r.scope,
            scope_key=r.scope_key,
            method=r.method,
            reason=r.reason,
            actor=r.actor,
            created_at=utc(r.created_at),
            contact_id=r.contact_id,
            contact_name=r.contact_name,
            blocked=bool(r.blocked),
            kept_lists=tuple(i for i, _seq in ledger.kept_lists_of(r.kept_lists)),
        )
        for r in conn.execute(query)
    ]
    return rows, int(total)


# --- editing: new ledger events, never an in-place change -------------------------------------


@dataclass(frozen=True)
class EditResult:
    number: str  # the opt-out's number after the edit
    changes: tuple[ChangeResult, ...]  # amend; or retract + opt-out

    @property
    def changed(self) -> bool:
        return any(c.changed for c in self.changes)

    def as_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "changed": self.changed,
            "events": [
                {"seq": c.event.seq, "action": c.event.action.value, "number": c.event.number}
                for c in self.changes
                if c.event is not None
            ],
        }


def _current_record(
    conn: Connection, workspace_id: int, number: str, scope: Scope, scope_key: str
) -> Record:
    state = ledger.load_state(conn, workspace_id, number)
    record = state.opt_outs.get((scope, scope_key))
    if record is None:
        raise NotFound(f"{number} has no such opt-out.", code="opt_out_not_found")
    return record


def edit_opt_out(
    conn: Connection,
    principal: Principal,
    raw_number: str,
    *,
    number: str | None = None,
    reason: str | None = None,
    scope: str | Scope = Scope.WORKSPACE,
    scope_key: str = "",
    consent_note: str | None = None,
    keep_old: bool = False,
) -> EditResult:
    """Edit an opt-out's number or reason from the Opt-Outs page (seed 003), as ledger events.

    A new reason is an `amend` event. A corrected number is an opt-in of the old number plus an
    opt-out of the new one, in this one transaction, so it obeys the re-subscribe policy like
    any opt-in: under `recipient_only` it is refused unless `keep_old` (the old number stays
    opted out and the new one is opted out too); under `with_consent_note` the old number's
    release needs `consent_note`. An opt-out the recipient asked for (reply, link, carrier)
    keeps its number and its reason: what the recipient said is the evidence.
    """
    principal.require("member")
    policy = get_workspace(conn, principal.workspace_id).policy
    scope = parse_scope(scope)
    old = normalize(raw_number, policy.default_region)
    record = _current_record(conn, principal.workspace_id, old, scope, scope_key)
    new = normalize(number, policy.default_region) if number and number.strip() else old
    new_reason = limits.text(reason, "reason") if reason is not None else record.reason
    changes: list[ChangeResult] = []
    if new != old:
        changes += _move(
            conn,
            principal,
            policy,
            (old, new),
            record,
            (scope, scope_key),
            new_reason,
            consent_note=limits.text(consent_note, "consent_note"),
            keep_old=keep_old,
        )
    elif new_reason != record.reason:
        if record.method in RECIPIENT_METHODS:
            raise Forbidden(
                f"The reason of a {record.method.value!r} opt-out is the recipient's own request "
                "and cannot be edited; add a note to the contact instead.",
                code="recipient_opt_out_immutable",
            )
        change = ConsentChange(
            number=old,
            action=Action.AMEND,
            method=Method.MANUAL,
            scope=scope,
            scope_key=scope_key,
            reason=new_reason,
            actor=principal.actor,
            detail={"target_scope": scope.value, "target_key": scope_key},
        )
        changes.append(change_consent(conn, principal.workspace_id, change, policy))
    return EditResult(new, tuple(changes))


def _move(
    conn: Connection,
    principal: Principal,
    policy: Any,
    numbers: tuple[str, str],
    record: Record,
    key: tuple[Scope, str],
    reason: str | None,
    *,
    consent_note: str | None,
    keep_old: bool,
) -> list[ChangeResult]:
    old, new = numbers
    scope, scope_key = key
    # The method the ledger recorded, not the state row's copy of it (a row edited behind the
    # ledger must not turn a recipient's STOP into a movable one).
    recorded = ledger.events_at(conn, principal.workspace_id, [record.event_seq])
    event = recorded.get(record.event_seq)
    method = event.method if event is not None and event.number == old else record.method
    if method in RECIPIENT_METHODS or record.method in RECIPIENT_METHODS:
        raise Forbidden(
            f"A {method.value!r} opt-out is the recipient's own request; it stays on its number. "
            "Opt the right number out separately.",
            code="recipient_opt_out_immutable",
        )
    changes: list[ChangeResult] = []
    if not keep_old:
        retract = ConsentChange(
            number=old,
            action=Action.RETRACT,
            method=Method.MANUAL,
            scope=scope,
            scope_key=scope_key,
            reason=f"Entered on the wrong number; moved to {new}",
            actor=principal.actor,
            consent_note=consent_note,
            detail={"target_scope": scope.value, "target_key": scope_key, "replaced_by": new},
        )
        changes.append(change_consent(conn, principal.workspace_id, retract, policy))
    moved = ConsentChange(
        number=new,
        action=Action.OPT_OUT,
        method=record.method,
        scope=scope,
        scope_key=scope_key,
        reason=reason,
        actor=principal.actor,
        channel_id=record.channel_id,
        # The person opted out when the first record says; only the number was mistyped.
        occurred_at=record.created_at,
        detail={"replaces": old} if not keep_old else {"copied_from": old},
    )
    changes.append(change_consent(conn, principal.workspace_id, moved, policy))
    return changes


# --- blocks and one number's state ---------------------------------------------------------------


@dataclass(frozen=True)
class BlockRow:
    number: str
    method: str
    reason: str | None
    actor: str
    created_at: datetime
    contact_id: int | None
    contact_name: str | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "method": self.method,
            "reason": self.reason,
            "actor": self.actor,
            "created_at": self.created_at.isoformat(),
            "contact_id": self.contact_id,
            "contact_name": self.contact_name,
        }


def list_blocks(
    conn: Connection,
    workspace_id: int,
    *,
    search: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[BlockRow], int]:
    """Blocked numbers, newest first, with the matching contact."""
    if not 1 <= limit <= 1000 or offset < 0:
        raise InvalidInput("limit must be 1-1000 and offset not negative.", code="page_invalid")
    digits = None
    if search:
        digits = "".join(ch for ch in search if ch.isdigit())
        if not digits:
            raise InvalidInput("Search by number needs digits.", code="search_invalid")
    rows, total = optout_store.blocks_page(
        conn, workspace_id, digits=digits, limit=limit, offset=offset
    )
    return [
        BlockRow(
            number=r.number,
            method=r.method,
            reason=r.reason,
            actor=r.actor,
            created_at=utc(r.created_at),
            contact_id=r.contact_id,
            contact_name=r.contact_name,
        )
        for r in rows
    ], total


def number_state(conn: Connection, workspace_id: int, raw_number: str) -> tuple[str, NumberState]:
    """A number's current opt-outs, block and list opt-outs (normalised in the workspace region)."""
    policy = get_workspace(conn, workspace_id).policy
    number = normalize(raw_number, policy.default_region)
    return number, ledger.load_state(conn, workspace_id, number)


def number_view(conn: Connection, workspace_id: int, raw_number: str) -> dict[str, Any]:
    """A number's records and, per channel, the gate's decision: what every display shows."""
    from stopline.services.checks import channel_decisions

    number, state = number_state(conn, workspace_id, raw_number)
    return state_dict(number, state, channel_decisions(conn, workspace_id, number, state))


def state_dict(
    number: str, state: NumberState, channels: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    def record(r: Record) -> dict[str, Any]:
        return {
            "method": r.method.value,
            "reason": r.reason,
            "actor": r.actor,
            "created_at": r.created_at.isoformat(),
            "event_seq": r.event_seq,
        }

    return {
        "number": number,
        "opted_out": bool(state.opt_outs),
        "blocked": state.block is not None,
        "opt_outs": [
            {
                "scope": scope.value,
                "scope_key": key,
                "channel_id": r.channel_id,
                **record(r),
                # Lists the recipient kept past this opt-out (messages sent through them go).
                "kept_lists": [{"list_id": i, "event_seq": seq} for i, seq in r.keeps],
            }
            for (scope, key), r in sorted(state.opt_outs.items())
        ],
        "block": record(state.block) if state.block else None,
        "list_opt_outs": [
            {"list_id": list_id, **record(r)} for list_id, r in sorted(state.list_opt_outs.items())
        ],
        # Per channel: may a normal message go now (the gate's own answer, not a re-derivation).
        "channels": channels if channels is not None else [],
    }
