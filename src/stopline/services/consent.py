"""The one door for consent changes: append the ledger event and update the state, in one transaction."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from sqlalchemy import Connection

from stopline.domain import consent, limits
from stopline.domain.consent import (
    Action,
    ConsentChange,
    ConsentEvent,
    Method,
    NumberState,
    Record,
    Scope,
)
from stopline.domain.errors import InvalidInput
from stopline.domain.numbers import first_not_e164, is_e164
from stopline.domain.policy import Policy
from stopline.domain.provider_sync import report_for
from stopline.store import inbound, ledger, outbox, sync_items
from stopline.store import lists as lists_store
from stopline.store import workspaces as workspaces_store


@dataclass(frozen=True)
class ChangeResult:
    changed: bool  # False: nothing to record (e.g. a manual opt-out of an opted-out number)
    event: ConsentEvent | None
    before: NumberState
    after: NumberState
    canceled_messages: int = 0


def now_utc() -> datetime:
    return datetime.now(UTC)


def change_consent(
    conn: Connection,
    workspace_id: int,
    change: ConsentChange,
    policy: Policy,
    *,
    from_inbound: bool = False,
    now: datetime | None = None,
) -> ChangeResult:
    """Apply one consent change inside the caller's write transaction.

    Raises a StoplineError (and writes nothing) if the change is not allowed. An opt-out or
    block also cancels the number's pending messages in its scope, in the same transaction.
    """
    if not is_e164(change.number):
        raise InvalidInput(f"{change.number!r} is not an E.164 number.", code="number_not_e164")
    if not from_inbound:  # a recipient's own text is evidence, kept whole
        _check_lengths(change)
    _check_channel_key(conn, workspace_id, change)
    now = now or now_utc()
    seq, head = ledger.lock_head(conn, workspace_id)
    before = ledger.load_state(conn, workspace_id, change.number)
    if not consent.check_change(before, change, policy, from_inbound=from_inbound):
        return ChangeResult(False, None, before, before)
    event = consent.make_event(workspace_id, seq + 1, head, change, now)
    after = consent.apply(before, event)
    ledger.append_events(conn, [event])
    ledger.write_state_diff(conn, workspace_id, change.number, before, after)
    ledger.set_head(conn, workspace_id, event.seq, event.hash)
    canceled = _cancel_for(conn, workspace_id, event, now)
    _resolve_reviews_for(conn, workspace_id, event, now)
    _enqueue_reports(conn, event, now)
    return ChangeResult(True, event, before, after, canceled)


def _resolve_reviews_for(
    conn: Connection, workspace_id: int, event: ConsentEvent, now: datetime
) -> None:
    """A possible revocation waiting for review is settled once the number opts out (or is
    blocked) by another way, in the same transaction, recording who did it and how."""
    if event.action not in (Action.OPT_OUT, Action.BLOCK):
        return
    channel_ids: list[int] | None = None
    if event.action is Action.OPT_OUT and event.scope is Scope.CHANNEL:
        channel_ids = [int(event.scope_key)] if event.scope_key.isdigit() else []
    elif event.action is Action.OPT_OUT and event.scope is Scope.CHANNEL_TYPE:
        channel_ids = [
            int(c.id)
            for c in workspaces_store.list_channels(conn, workspace_id)
            if c.type == event.scope_key
        ]
    inbound.resolve_pending_reviews(
        conn,
        workspace_id,
        [event.number],
        channel_ids=channel_ids,
        resolved_by=event.actor,
        note=resolution_note(event.action, event.method, event.reason),
        now=now,
    )


def resolution_note(action: Action, method: Method, reason: str | None) -> str:
    how = "blocked" if action is Action.BLOCK else f"opted out ({method.value})"
    note = f"Resolved automatically: the number was {how} another way"
    return f"{note}: {reason[:200]}" if reason else f"{note}."


def _enqueue_reports(conn: Connection, event: ConsentEvent, now: datetime) -> None:
    """The provider-sync outbox rows for this event, in its own transaction: a crash after the
    commit loses no report, and a rollback leaves none for a change that never happened."""
    report = report_for(event.action)
    if report is None:
        return
    sync_items.enqueue_event(
        conn,
        event.workspace_id,
        seq=event.seq,
        number=event.number,
        report=report.value,
        method=event.method.value,
        scope=event.scope.value,
        scope_key=event.scope_key,
        occurred_at=event.occurred_at,
        now=now,
        skip_channel=event.channel_id if event.method is Method.CARRIER else None,
    )


def _check_lengths(change: ConsentChange) -> None:
    limits.check(change.reason, "reason")
    limits.check(change.consent_note, "consent_note", label="consent note")
    limits.check(change.source, "source")
    limits.check(change.actor, "actor")
    limits.check(change.correlation_id, "correlation_id", label="correlation id")


def _check_channel_key(conn: Connection, workspace_id: int, change: ConsentChange) -> None:
    """A channel-scoped opt-out names a channel of this workspace (the domain already checked
    the key is a canonical id): another workspace's channel, or none, would match no send."""
    if change.action is not Action.OPT_OUT or change.scope is not Scope.CHANNEL:
        return
    key = change.scope_key
    if key.isascii() and key.isdigit() and len(key) <= 18:
        if workspaces_store.get_channel(conn, workspace_id, int(key)) is not None:
            return
    raise InvalidInput(
        f"There is no channel {key!r} in this workspace.",
        code="scope_key_invalid",
        scope=change.scope.value,
        scope_key=key[:64],
    )


def change_memberships(
    conn: Connection,
    workspace_id: int,
    list_id: int,
    numbers: Sequence[str],
    *,
    subscribe: bool,
    actor: str,
    method: Method = Method.MANUAL,
    source: str | None = None,
    now: datetime | None = None,
) -> list[str]:
    """Subscribe numbers to a list (or take them off it), as ledger events: the one door for
    list memberships, which the gate reads for campaign sends. Returns the numbers changed
    (members already there, or absent ones, change nothing and leave no event)."""
    unique = list(dict.fromkeys(numbers))
    bad = first_not_e164(unique)
    if bad is not None:
        raise InvalidInput(f"{bad!r} is not an E.164 number.", code="number_not_e164")
    limits.check(actor, "actor")
    now = consent.utc(now or now_utc())
    seq, digest = ledger.lock_head(conn, workspace_id)
    present = lists_store.present_members(conn, workspace_id, list_id, unique)
    changed = [n for n in unique if (n in present) != subscribe]
    if not changed:
        return []
    action = Action.LIST_SUBSCRIBE if subscribe else Action.LIST_UNSUBSCRIBE
    template = ConsentChange(
        number="", action=action, method=method, list_id=list_id, actor=actor, source=source
    )
    digest_of = bulk_hasher(workspace_id, template, now)
    items: list[tuple[int, str, str, str]] = []
    for number in changed:
        seq += 1
        prev, digest = digest, digest_of(seq, number, digest)
        items.append((seq, number, prev, digest))
    sample = consent.make_event(workspace_id, 0, "", replace(template, number=changed[0]), now)
    ledger.append_uniform_events(conn, workspace_id, items, sample)
    if subscribe:
        lists_store.insert_members(conn, workspace_id, list_id, changed, now)
    else:
        lists_store.delete_members(conn, workspace_id, list_id, changed)
    ledger.set_head(conn, workspace_id, seq, digest)
    return changed


def _cancel_for(conn: Connection, workspace_id: int, event: ConsentEvent, now: datetime) -> int:
    if event.action is Action.OPT_OUT:
        return outbox.cancel_pending(
            conn,
            workspace_id,
            event.number,
            scope=event.scope,
            scope_key=event.scope_key,
            code="opted_out",
            now=now,
        )
    if event.action is Action.BLOCK:
        return outbox.cancel_pending(conn, workspace_id, event.number, code="blocked", now=now)
    if event.action is Action.LIST_OPT_OUT:
        return outbox.cancel_pending(
            conn, workspace_id, event.number, list_id=event.list_id, code="list_opted_out", now=now
        )
    return 0


@dataclass(frozen=True)
class BulkResult:
    added: list[str]
    skipped: list[str]  # already opted out or blocked: never overwritten


def bulk_opt_out(
    conn: Connection,
    workspace_id: int,
    numbers: Sequence[str],
    *,
    method: Method,
    reason: str | None,
    actor: str,
    source: str | None = None,
    now: datetime | None = None,
    chunk: int = 5000,
) -> BulkResult:
    """Workspace-wide opt-outs for many numbers at once (import, bulk unsubscribe).

    The same rules and hash chain as `change_consent`, written with bulk statements: numbers
    already opted out in the workspace scope (or blocked) are skipped and keep their record.
    """
    limits.check(reason, "reason")
    unique, now = _checked(numbers, method, now)
    head = ledger.lock_head(conn, workspace_id)
    plan = _plan(conn, workspace_id, unique, head, method, reason, actor, source, now)
    return _write(conn, plan, chunk)


@dataclass(frozen=True)
class PreparedBulk:
    """A bulk opt-out worked out against the ledger head it read, ready to be written."""

    workspace_id: int
    numbers: list[str]  # unique, in input order
    head: tuple[int, str]
    added: list[str]
    skipped: list[str]
    items: list[tuple[int, str, str, str]]  # (seq, number, prev_hash, hash) in chain order
    method: Method
    reason: str | None
    actor: str
    source: str | None
    now: datetime


def prepare_bulk_opt_out(
    conn: Connection,
    workspace_id: int,
    numbers: Sequence[str],
    *,
    method: Method,
    reason: str | None,
    actor: str,
    source: str | None = None,
    now: datetime | None = None,
) -> PreparedBulk:
    """`bulk_opt_out`'s reading and hashing, done in a read transaction (no ledger lock).

    A million-row import then holds the ledger lock only to write (`write_prepared_bulk`), so
    STOPs arriving meanwhile wait as little as possible.
    """
    limits.check(reason, "reason")
    unique, now = _checked(numbers, method, now)
    head = ledger.read_head(conn, workspace_id)
    if head is None:
        raise InvalidInput("No such workspace.", code="workspace_not_found")
    return _plan(conn, workspace_id, unique, head, method, reason, actor, source, now)


def write_prepared_bulk(
    conn: Connection, prepared: PreparedBulk, *, chunk: int = 50_000
) -> BulkResult:
    """Write a prepared bulk inside the caller's write transaction.

    Every consent change moves the ledger head, so an unmoved head proves the prepared skips
    and hashes still hold; if the head moved (a STOP arrived), it is worked out again under
    the lock.
    """
    head = ledger.lock_head(conn, prepared.workspace_id)
    if head != prepared.head:
        return bulk_opt_out(
            conn,
            prepared.workspace_id,
            prepared.numbers,
            method=prepared.method,
            reason=prepared.reason,
            actor=prepared.actor,
            source=prepared.source,
            now=prepared.now,
            chunk=chunk,
        )
    return _write(conn, prepared, chunk)


def _checked(
    numbers: Sequence[str], method: Method, now: datetime | None
) -> tuple[list[str], datetime]:
    if method is Method.REPLY:
        raise InvalidInput(
            "A 'reply' opt-out is only ever created by an inbound keyword.",
            code="reply_method_reserved",
        )
    unique = list(dict.fromkeys(numbers))
    bad = first_not_e164(unique)
    if bad is not None:
        raise InvalidInput(f"{bad!r} is not an E.164 number.", code="number_not_e164")
    return unique, consent.utc(now or now_utc())


def _plan(
    conn: Connection,
    workspace_id: int,
    unique: list[str],
    head: tuple[int, str],
    method: Method,
    reason: str | None,
    actor: str,
    source: str | None,
    now: datetime,
) -> PreparedBulk:
    if len(unique) > ledger.STAGE_THRESHOLD:
        known = ledger.workspace_opt_out_numbers(conn, workspace_id, len(unique))
        if known is not None:  # fewer opt-outs than new numbers: read them all once
            existing = known.intersection(unique)
        else:
            existing = ledger.numbers_with_workspace_opt_out_staged(conn, workspace_id, unique)
    else:
        existing = ledger.numbers_with_workspace_opt_out(conn, workspace_id, unique)
    added = [n for n in unique if n not in existing]
    skipped = [n for n in unique if n in existing]
    digest_of = bulk_hasher(
        workspace_id,
        ConsentChange(
            number="",
            action=Action.OPT_OUT,
            method=method,
            reason=reason,
            actor=actor,
            source=source,
        ),
        now,
    )
    # Sequence numbers follow number order (every event of a bulk shares its timestamp, so the
    # order is arbitrary): the events' and opt-outs' indexes then grow at one end instead of at
    # random places, which makes a million-row bulk several times faster.
    seq, digest = head
    items: list[tuple[int, str, str, str]] = []
    for number in sorted(added):
        seq += 1
        prev, digest = digest, digest_of(seq, number, digest)
        items.append((seq, number, prev, digest))
    return PreparedBulk(
        workspace_id, unique, head, added, skipped, items, method, reason, actor, source, now
    )


def _write(conn: Connection, plan: PreparedBulk, chunk: int) -> BulkResult:
    result = BulkResult(added=plan.added, skipped=plan.skipped)
    if not plan.items:
        return result
    workspace_id = plan.workspace_id
    pending = (
        outbox.pending_numbers(conn, workspace_id)
        if len(plan.items) > ledger.STAGE_THRESHOLD
        else None
    )
    for start in range(0, len(plan.items), chunk):
        items = plan.items[start : start + chunk]
        ledger.append_bulk_opt_outs(
            conn,
            workspace_id,
            items,
            method=plan.method,
            reason=plan.reason,
            actor=plan.actor,
            source=plan.source,
            now=plan.now,
        )
        part = [item[1] for item in items]
        if pending is None:
            outbox.cancel_pending_many(conn, workspace_id, part, now=plan.now)
        else:
            due = [n for n in part if n in pending]
            if due:
                outbox.cancel_pending_many(conn, workspace_id, due, now=plan.now)
    last = plan.items[-1]
    ledger.set_head(conn, workspace_id, last[0], last[3])
    waiting = inbound.pending_review_numbers(conn, workspace_id).intersection(plan.added)
    inbound.resolve_pending_reviews(
        conn,
        workspace_id,
        sorted(waiting),
        channel_ids=None,
        resolved_by=plan.actor,
        note=resolution_note(Action.OPT_OUT, plan.method, plan.reason),
        now=plan.now,
    )
    if sync_items.pushing_channel_ids(conn, workspace_id):
        sync_items.enqueue_workspace_range(conn, workspace_id, plan.items[0][0], last[0], plan.now)
    return result


def bulk_hasher(
    workspace_id: int, template: ConsentChange, now: datetime
) -> Callable[[int, str, str], str]:
    """`(seq, number, prev_hash) -> hash` for events that differ only in seq and number.

    Equal to `consent.make_event(...).hash` for `template` with that number (occurred_at =
    recorded_at = now), but the canonical JSON of the shared fields is built once: a bulk of a
    million events then costs one SHA-256 each instead of a JSON encoding each.
    """
    if template.occurred_at is not None:
        raise ValueError("bulk events occur at `now`")
    stamp = consent.utc(now).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    shared = [
        template.action.value,
        template.method.value,
        template.scope.value,
        template.scope_key,
        template.list_id,
        template.reason,
        template.inbound_text,
        template.actor,
        template.channel_id,
        template.source,
        template.correlation_id,
        template.consent_note,
        dict(template.detail) if template.detail is not None else None,
        stamp,
        stamp,
    ]
    assert consent.HASHED_FIELDS[3:] == (
        "action", "method", "scope", "scope_key", "list_id", "reason", "inbound_text", "actor",
        "channel_id", "source", "correlation_id", "consent_note", "detail", "occurred_at",
        "recorded_at",
    )  # fmt: skip
    tail = json.dumps(shared, separators=(",", ":"), ensure_ascii=False, sort_keys=True)[1:]
    head = f"[{workspace_id},"
    sha256 = hashlib.sha256

    def digest(seq: int, number: str, prev_hash: str) -> str:
        # An E.164 number needs no JSON escaping: "+" and digits.
        payload = f'{prev_hash}{head}{seq},"{number}",{tail}'
        return sha256(payload.encode()).hexdigest()

    return digest


def record_consents(
    conn: Connection,
    workspace_id: int,
    numbers: Sequence[str],
    template: ConsentChange,
    *,
    now: datetime | None = None,
) -> list[int]:
    """Record the same opt-in (with its evidence) for many numbers at once; their seqs.

    For consent records that change no state (`consent.records_consent`; e.g. list opt-ins of
    numbers that never left the list, which the caller ensures): the same hash chain as
    `change_consent`, written in bulk, so a 100,000-number import is not 100,000 round trips.
    """
    if not consent.records_consent(template) or template.action not in (
        Action.OPT_IN,
        Action.LIST_OPT_IN,
    ):
        raise ValueError("only opt-in consent records are written in bulk")
    unique, now = _checked(numbers, template.method, now)
    if not unique:
        return []
    seq, digest = ledger.lock_head(conn, workspace_id)
    digest_of = bulk_hasher(workspace_id, template, now)
    items: list[tuple[int, str, str, str]] = []
    for number in unique:
        seq += 1
        prev, digest = digest, digest_of(seq, number, digest)
        items.append((seq, number, prev, digest))
    sample = consent.make_event(workspace_id, 0, "", replace(template, number=unique[0]), now)
    ledger.append_uniform_events(conn, workspace_id, items, sample)
    ledger.set_head(conn, workspace_id, seq, digest)
    return [item[0] for item in items]


def record_of(state: NumberState) -> Record | None:
    """The workspace-wide opt-out record, if any (what the Opt-Outs page lists first)."""
    return state.opt_outs.get((Scope.WORKSPACE, ""))
