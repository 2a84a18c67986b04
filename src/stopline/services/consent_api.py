"""The consent API: bulk upsert of consent records, a number's history, and an evidence report.

The upsert takes the shape of Twilio's Bulk Upsert Consents (`contact_id`, `correlation_id`,
`sender_id`, `status` opt-in | opt-out, `source`, `date_of_consent`) without its 25-item limit:
up to `MAX_ITEMS` records per request, all in one transaction, each answered on its own by
`correlation_id` (a bad record fails alone; the others are recorded). Every record goes through
the consent door with method `api`: an opt-out in the workspace's scope (narrowed to the sender
when the workspace scopes opt-outs by channel), an opt-in under the re-subscribe policy (with
`recipient_only`, only the recipient can opt back in, so API opt-ins are refused). Repeating a
record changes nothing, so retries are safe.

An opt-in is recorded in the ledger even for a number that never opted out (proving the opt-in
is the point), with the record's optional `evidence` object (`consent_text` or
`consent_version`, `captured_at`, `ip`, `user_agent`, `reference_url`, `source`; see
`domain.optin_evidence`); one without evidence is recorded as such and shown as weaker. The same
opt-in record sent again (same correlation id) is recognised and not recorded twice.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from stopline.domain import limits, optin_evidence
from stopline.domain.consent import (
    EMPTY,
    GENESIS_HASH,
    HASHED_FIELDS,
    Action,
    ConsentChange,
    ConsentEvent,
    Method,
    Scope,
    event_hash,
    project,
    rule_violations,
    stored_view,
    utc,
)
from stopline.domain.errors import InvalidInput, StoplineError
from stopline.domain.numbers import channel_address, normalize
from stopline.domain.policy import Policy
from stopline.services import ledger as ledger_service
from stopline.services import optouts
from stopline.services.checks import channel_decisions
from stopline.services.consent import change_consent, now_utc
from stopline.services.workspaces import Principal, get_workspace
from stopline.store import ledger
from stopline.store.workspaces import workspace_channel_by_address

MAX_ITEMS = 10_000
MAX_BODY_BYTES = 8 * 1024 * 1024  # 10,000 records of ~500 bytes, with room to spare
SOURCES = ("website", "offline", "opt-in-message", "opt-out-message", "others")
STATUSES = {"opt-in": Action.OPT_IN, "re-opt-in": Action.OPT_IN, "opt-out": Action.OPT_OUT}
_CORRELATION = re.compile(r"[A-Za-z0-9._:\-]{1,64}")
_FUTURE_SKEW = timedelta(minutes=5)


@dataclass
class ItemResult:
    correlation_id: str | None
    success: bool
    number: str | None = None
    changed: bool = False
    event_seq: int | None = None
    error_code: str | None = None
    error_messages: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "correlation_id": self.correlation_id,
            "success": self.success,
            "number": self.number,
            "changed": self.changed,
            "event_seq": self.event_seq,
            "error_code": self.error_code,
            "error_messages": self.error_messages,
        }


class _ItemError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _text(item: Mapping[str, Any], key: str, limit: int) -> str | None:
    value = item.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise _ItemError(
            f"INVALID_{key.upper()}", f"{key} must be text of at most {limit} characters."
        )
    return value.strip() or None


def _date(value: Any, now: datetime) -> datetime | None:
    if value is None or value == "":
        return None
    try:
        when = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise _ItemError(
            "INVALID_DATE_OF_CONSENT", "date_of_consent must be an ISO 8601 date and time."
        ) from None
    if when.tzinfo is None:
        raise _ItemError(
            "INVALID_DATE_OF_CONSENT", "date_of_consent needs a time zone (e.g. Z or +00:00)."
        )
    if when > now + _FUTURE_SKEW:
        raise _ItemError("INVALID_DATE_OF_CONSENT", "date_of_consent is in the future.")
    return utc(when)


def _change(
    conn: Connection,
    workspace_id: int,
    policy: Policy,
    item: Mapping[str, Any],
    actor: str,
    now: datetime,
) -> ConsentChange:
    raw = item.get("contact_id")
    if not isinstance(raw, str) or not raw.strip():
        raise _ItemError("INVALID_CONTACT_ID", "contact_id must be a phone number.")
    try:
        number = normalize(raw, policy.default_region)
    except InvalidInput as exc:
        raise _ItemError("INVALID_CONTACT_ID", exc.message) from None
    status = item.get("status")
    if status not in STATUSES:
        raise _ItemError("INVALID_STATUS", "status must be opt-in or opt-out.")
    source = item.get("source")
    if source not in SOURCES:
        raise _ItemError("INVALID_SOURCE", f"source must be one of {', '.join(SOURCES)}.")
    occurred = _date(item.get("date_of_consent"), now)
    correlation = item.get("correlation_id")
    channel = None
    sender = _text(item, "sender_id", 64)
    if sender is not None:
        try:
            address = channel_address(sender, policy.default_region)
        except InvalidInput:
            address = None
        channel = workspace_channel_by_address(conn, workspace_id, address) if address else None
        if channel is None:
            raise _ItemError("INVALID_SENDER_ID", f"{sender!r} is not a channel of this workspace.")
    note = _text(item, "consent_note", limits.limit_of("consent_note"))
    reason = _text(item, "reason", limits.limit_of("reason"))
    action = STATUSES[status]
    detail = None
    if action is Action.OPT_IN:
        # Recorded even when it lifts nothing: the opt-in itself is what must be provable.
        detail = {"evidence": _evidence(item, source, occurred, now)}
    when = f", consent given {occurred:%Y-%m-%d %H:%M} UTC" if occurred else ""
    scope, scope_key = Scope.WORKSPACE, ""
    if action is Action.OPT_OUT and channel is not None:
        if policy.opt_out_scope is Scope.CHANNEL:
            scope, scope_key = Scope.CHANNEL, str(channel.id)
        elif policy.opt_out_scope is Scope.CHANNEL_TYPE:
            scope, scope_key = Scope.CHANNEL_TYPE, channel.type
    return ConsentChange(
        number=number,
        action=action,
        method=Method.API,
        scope=scope,
        scope_key=scope_key,
        reason=reason or f"Consent API: {status} ({source}{when})",
        actor=actor,
        channel_id=channel.id if channel is not None else None,
        source=f"consent api: {source}",
        correlation_id=correlation,
        # An opt-in records its consent: the caller's note, else what the record says.
        consent_note=(note or f"{status} collected via {source}{when}")
        if action is Action.OPT_IN
        else note,
        occurred_at=occurred,
        detail=detail,
    )


def _evidence(
    item: Mapping[str, Any], source: str, occurred: datetime | None, now: datetime
) -> dict[str, str] | None:
    """The record's `evidence` object, checked and bounded; None when it has none (an opt-in
    recorded without evidence, shown as weaker)."""
    raw = item.get("evidence")
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise _ItemError("INVALID_EVIDENCE", "evidence must be an object.")
    try:
        found = optin_evidence.clean(raw, now)
    except optin_evidence.EvidenceError as exc:
        raise _ItemError("INVALID_EVIDENCE", exc.message) from None
    if found is None:
        return None
    found.setdefault("source", source)
    if occurred is not None:
        found.setdefault("captured_at", occurred.isoformat())
    return found


def upsert(
    conn: Connection, principal: Principal, items: Sequence[Any], *, now: datetime | None = None
) -> list[ItemResult]:
    """Record each consent record; one result per item, in order, by correlation id."""
    if not isinstance(items, Sequence) or isinstance(items, str | bytes):
        raise InvalidInput("items must be a list of consent records.", code="items_invalid")
    if not items:
        raise InvalidInput("items is empty.", code="items_empty")
    if len(items) > MAX_ITEMS:
        raise InvalidInput(
            f"At most {MAX_ITEMS:,} consent records per request (got {len(items):,}); "
            "send them in several requests.",
            code="too_many_items",
            max_items=MAX_ITEMS,
        )
    now = now or now_utc()
    policy = get_workspace(conn, principal.workspace_id).policy
    seen: set[str] = set()
    results: list[ItemResult] = []
    for item in items:
        correlation = item.get("correlation_id") if isinstance(item, Mapping) else None
        shown = correlation if isinstance(correlation, str) else None
        try:
            if not isinstance(item, Mapping):
                raise _ItemError("INVALID_ITEM", "Each consent record is an object.")
            if not isinstance(correlation, str) or not _CORRELATION.fullmatch(correlation):
                raise _ItemError(
                    "INVALID_CORRELATION_ID",
                    "correlation_id must be 1-64 letters, digits or . _ : - (e.g. a UUID).",
                )
            if correlation in seen:
                raise _ItemError(
                    "DUPLICATE_CORRELATION_ID", "correlation_id is repeated in this request."
                )
            seen.add(correlation)
            change = _change(conn, principal.workspace_id, policy, item, principal.actor, now)
            if change.action is Action.OPT_IN and ledger.has_correlated_event(
                conn, principal.workspace_id, change.number, Action.OPT_IN, correlation
            ):
                # The same consent record sent again: already in the ledger.
                results.append(ItemResult(shown, True, number=change.number))
                continue
            # Domain refusals (re-subscribe policy, blocked) are raised before anything is written.
            outcome = change_consent(conn, principal.workspace_id, change, policy, now=now)
            results.append(
                ItemResult(
                    shown,
                    True,
                    number=change.number,
                    changed=outcome.changed,
                    event_seq=outcome.event.seq if outcome.event else None,
                )
            )
        except _ItemError as exc:
            results.append(
                ItemResult(shown, False, error_code=exc.code, error_messages=[exc.message])
            )
        except StoplineError as exc:
            results.append(
                ItemResult(shown, False, error_code=exc.code, error_messages=[exc.message])
            )
    return results


def history(conn: Connection, workspace_id: int, raw_number: str) -> tuple[str, list[ConsentEvent]]:
    """Every consent event of a number, oldest first."""
    number, _state = optouts.number_state(conn, workspace_id, raw_number)
    return number, ledger_service.history(conn, workspace_id, number)


def _hash_ok(event: ConsentEvent) -> bool:
    fields = {name: getattr(event, name) for name in HASHED_FIELDS}
    return event_hash(event.prev_hash, fields) == event.hash


def evidence(
    conn: Connection, workspace_id: int, raw_number: str, *, full_chain: bool = False
) -> dict[str, Any]:
    """A number's consent evidence: its state, and every event with its hash and checks.

    Each event is re-hashed (its content is unedited) and checked against its neighbours in the
    workspace's chain (the event before it carries its `prev_hash`, the one after it names its
    hash, or it is the head), which proves it sits in the unbroken chain without re-reading the
    whole ledger. `full_chain` also verifies every event of the workspace.
    """
    number, state = optouts.number_state(conn, workspace_id, raw_number)
    events = ledger_service.history(conn, workspace_id, number)
    head = ledger.read_head(conn, workspace_id) or (0, GENESIS_HASH)
    around = ledger.events_at(
        conn, workspace_id, [e.seq - 1 for e in events] + [e.seq + 1 for e in events]
    )
    checked = []
    all_ok = True
    for event in events:
        before = around.get(event.seq - 1)
        after = around.get(event.seq + 1)
        hash_ok = _hash_ok(event)
        linked_before = (
            event.prev_hash == GENESIS_HASH
            if event.seq == 1
            else (before is not None and before.hash == event.prev_hash)
        )
        linked_after = (
            (event.seq, event.hash) == head if after is None else after.prev_hash == event.hash
        )
        ok = hash_ok and linked_before and linked_after
        all_ok = all_ok and ok
        checked.append(
            {
                **ledger_service.event_dict(event),
                "checks": {
                    "hash": hash_ok,
                    "linked_to_previous": linked_before,
                    "linked_to_next": linked_after,
                },
            }
        )
    # The state the gate reads must be what the events add up to: an event deleted, or an
    # opt-out row removed behind the ledger's back, shows here.
    state_ok = stored_view(project(events).get(number, EMPTY)) == stored_view(state)
    state_ok = state_ok and not rule_violations(events)
    all_ok = all_ok and state_ok
    report: dict[str, Any] = {
        "number": number,
        "generated_at": now_utc().isoformat(),
        "state": optouts.state_dict(
            number, state, channel_decisions(conn, workspace_id, number, state)
        ),
        "events": checked,
        "state_matches_events": state_ok,
        "verified": all_ok,
        "head": {"seq": head[0], "hash": head[1]},
        "chain": None,
    }
    if full_chain:
        chain = ledger_service.verify(conn, workspace_id)
        report["chain"] = ledger_service.report_dict(chain)
        report["verified"] = all_ok and chain.ok
    return report
