"""The hand-off: `hand_off` alone gives messages to a provider, checking the gate as it does.

Every way of sending stores its message with `services.queueing.enqueue`; a worker later
claims due messages (`claim`) and calls `hand_off`, which checks the gate again: that check is
the guarantee, the one at queue time a courtesy. Retries and what providers answer are in
`services.provider_outcomes`.

How "no message is handed over after the STOP committed" holds
-------------------------------------------------------------
`hand_off` runs in one write transaction per delivery (a batch of messages for the console
provider, one message for HTTP providers). It

1. locks the claimed message rows (PostgreSQL: ``SELECT ... FOR UPDATE OF messages`` on rows
   in status ``sending`` still leased to this worker; SQLite: the IMMEDIATE transaction holds
   the database's write lock),
2. re-reads the numbers' consent state, decides with `domain.gate.decide`,
3. delivers (console: a `console_outbox` row in this same transaction; HTTP: the provider call),
4. records the outcome and commits.

`services.consent.change_consent` cancels pending messages (``queued``, ``scheduled``,
``sending``) to the number in the same transaction as the opt-out. So the opt-out either
commits first (the hand-off's lock then finds the row ``canceled``, or its state read sees the
opt-out and refuses with ``opted_out``), or its UPDATE waits on the locked row until the
hand-off has committed (the message was handed over before the opt-out existed). PostgreSQL
runs READ COMMITTED: the state is read by a statement that starts after the row lock is held,
so it sees every opt-out committed before that moment. The cost of holding the lock across an
HTTP provider call: on PostgreSQL an opt-out of that one number waits for it (at most the
provider timeout, 15 s); on SQLite every writer waits, since the write lock is the database's.
Several workers on PostgreSQL is the scale path. Confirmations are not cancelled by a block
(they are not `normal` messages), so a block landing mid-hand-off of a confirmation is not
waited for; the hand-off's own check still refuses confirmations to numbers already blocked.

Delivery guarantees
-------------------
- Console provider: exactly once. The delivery row (unique ``idempotency_key`` = the message
  SID) and the ``sent`` status commit together or not at all.
- HTTP providers (Twilio, Telnyx, Vonage, generic): at least once. If the provider accepts a
  message and this process dies (or the database commit fails) before the outcome commits,
  the message stays ``sending``; when its lease expires another worker hands it off again.
  Telnyx and the generic provider receive the message SID as an ``Idempotency-Key`` header
  and drop the repeat; Vonage gets it as ``client_ref`` (a label, not de-duplicated) and
  Twilio's Messages API has no idempotency key, so for those two a crash inside that window
  (between the provider's answer and our commit, milliseconds) can send the message twice.
  A timeout is retried for the same reason it is ambiguous: the provider may or may not have
  accepted; the same caveat applies.
- The opt-out guarantee above holds for every provider: a retry re-checks the gate.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import Connection, Engine

from stopline.domain.consent import EMPTY
from stopline.domain.errors import StoplineError
from stopline.domain.gate import MessageKind, Outbound, RefusalCode, Refuse, decide
from stopline.domain.policy import Policy
from stopline.domain.send_rules import Category
from stopline.domain.send_time import SendTimeDecision, Verdict
from stopline.providers.base import Provider, ProviderError, SendRequest, get_provider
from stopline.security import Keyring
from stopline.services import send_time
from stopline.services.consent import now_utc
from stopline.services.provider_outcomes import (
    MAX_ATTEMPTS,
    CarrierOptOut,
    HandOff,
    provider_failure,
    record_carrier_opt_out_separately,
)
from stopline.services.queueing import with_disclosure
from stopline.store import console_outbox, send_queue
from stopline.store import disclosures as disclosure_store
from stopline.store.db import write

LEASE = timedelta(seconds=60)  # longer than any provider call (HTTP timeouts are 15 s)
HTTP_TIMEOUT = httpx.Timeout(15.0, connect=5.0)


def claim(
    engine: Engine,
    owner: str,
    *,
    limit: int = 100,
    lease: timedelta = LEASE,
    now: datetime | None = None,
) -> list[int]:
    """Claim due messages for a worker (its own short transaction); returns their ids."""
    with write(engine) as conn:
        rows = send_queue.claim_messages(conn, owner, now or now_utc(), lease, limit)
    return [int(r.id) for r in rows]


ProviderLookup = Callable[[str], Provider]


@functools.cache
def _shared_client() -> httpx.Client:
    """One client per process for callers that bring none (the console provider never uses it)."""
    return httpx.Client(timeout=HTTP_TIMEOUT)


def hand_off(
    engine: Engine,
    message_ids: Sequence[int],
    *,
    owner: str,
    keyring: Keyring,
    http: httpx.Client | None = None,
    providers: ProviderLookup = get_provider,
    now: Callable[[], datetime] = now_utc,
) -> list[HandOff]:
    """THE hand-off: re-check the gate and give each claimed message to its provider.

    Console messages go in one transaction; each HTTP-provider message in its own, because
    the provider call happens inside it (see the module docstring for why and what it costs).
    Messages no longer leased to `owner` (cancelled by an opt-out, or reclaimed by another
    worker after this one's lease expired) are skipped.
    """
    if not message_ids:
        return []
    client = http or _shared_client()
    # First every console message, together; what is left is an HTTP provider's (or no longer
    # ours, which its own transaction will find and skip).
    results, handled = _hand_off_in_transaction(
        engine, message_ids, owner, keyring, client, providers, now, only="console"
    )
    for message_id in message_ids:
        if message_id not in handled:
            results += _hand_off_in_transaction(
                engine, [message_id], owner, keyring, client, providers, now
            )[0]
    return results


def _hand_off_in_transaction(
    engine: Engine,
    ids: Sequence[int],
    owner: str,
    keyring: Keyring,
    client: httpx.Client,
    providers: ProviderLookup,
    clock: Callable[[], datetime],
    *,
    only: str | None = None,
) -> tuple[list[HandOff], set[int]]:
    """One transaction: lock, decide, deliver, record. Returns the results and the ids it
    handled; with `only`, ids of other providers' channels are left for the caller."""
    carrier: list[CarrierOptOut] = []
    results: list[HandOff] = []
    with write(engine) as conn:
        rows = send_queue.lock_for_hand_off(conn, ids, owner, provider=only)
        now = clock()
        locked = {int(r.id) for r in rows}
        if only is None:
            results += [HandOff(i, "skipped") for i in ids if i not in locked]
        if not rows:
            return results, locked
        # Settings read in this same transaction, with the rows (one join, no extra query).
        settings = {r.workspace_id: r.workspace_settings for r in rows}
        policies = {ws: Policy.from_dict(raw) for ws, raw in settings.items()}

        outcomes: list[dict[str, Any]] = []
        deliver: list[Any] = []
        decided: dict[int, dict[str, Any]] = {}
        for ws in sorted({r.workspace_id for r in rows}):
            mine = [r for r in rows if r.workspace_id == ws]
            states = send_queue.consent_states(conn, ws, [r.to_number for r in mine])
            subs = send_queue.subscriptions(
                conn, ws, [(r.list_id, r.to_number) for r in mine if r.list_id is not None]
            )
            cleared = []
            for row in mine:
                refusal = _refusal(row, states, subs)
                if refusal is not None:
                    outcomes.append(
                        send_queue.outcome(
                            row.id,
                            "failed",
                            now,
                            body=row.body,
                            refusal_code=refusal.code.value,
                            error_message=refusal.detail,
                        )
                    )
                    results.append(HandOff(row.id, "failed", refusal.code.value))
                else:
                    cleared.append(row)
            # Send-time rules, after consent: a deferred message waits for its next opening
            # and passes this whole gate again then.
            timings = send_time.decide_batch(
                conn,
                ws,
                policies[ws],
                [
                    send_time.Pending(
                        int(r.id),
                        r.to_number,
                        Category(r.category),
                        r.kind == MessageKind.CONFIRMATION.value,
                    )
                    for r in cleared
                ],
                now,
                lock=True,
            )
            for row in cleared:
                timing = timings[int(row.id)]
                if timing.allowed:
                    deliver.append(row)
                    if timing.covered:
                        decided[int(row.id)] = timing.as_dict()
                else:
                    outcome, handoff = _held(row, timing, now)
                    outcomes.append(outcome)
                    results.append(handoff)
        bodies, carrying = _bodies_with_disclosures(conn, deliver, policies, now)
        disclosed_undelivered: dict[int, list[int]] = {}
        console_rows: list[dict[str, Any]] = []
        for row in deliver:
            body = bodies[row.id]
            outcome, handoff, opted = _deliver(
                row, body, keyring, client, providers, now, console_rows
            )
            if int(row.id) in decided:
                outcome = send_queue.with_decision(outcome, decided[int(row.id)])
            outcomes.append(outcome)
            results.append(handoff)
            if opted is not None:
                carrier.append(opted)
            if handoff.status != "sent" and row.id in carrying:
                disclosed_undelivered.setdefault(row.workspace_id, []).append(row.id)
        if console_rows:
            console_outbox.insert_console_deliveries(conn, console_rows)
        for ws, undelivered in disclosed_undelivered.items():
            disclosure_store.release_disclosures(conn, ws, undelivered)
        send_queue.record_outcomes(conn, outcomes)
    for opt_out in carrier:
        record_carrier_opt_out_separately(engine, opt_out)
    return results, locked


def _held(row: Any, timing: SendTimeDecision, now: datetime) -> tuple[dict[str, Any], HandOff]:
    """A message the send-time rules hold: back to ``scheduled`` for its next opening (this
    claim not counted as an attempt), or refused."""
    assert timing.reason is not None
    if timing.verdict is Verdict.REFUSE:
        code = timing.reason.value
        return (
            send_queue.outcome(
                row.id,
                "failed",
                now,
                body=row.body,
                refusal_code=code,
                error_message=timing.explain(),
                send_decision=timing.as_dict(),
            ),
            HandOff(row.id, "failed", code),
        )
    return (
        send_queue.outcome(
            row.id,
            "scheduled",
            now,
            body=row.body,
            available_at=timing.until,
            hold_reason=timing.reason.value,
            send_decision=timing.as_dict(),
            attempts=max(int(row.attempts or 0) - 1, 0),
        ),
        HandOff(row.id, "scheduled", error_code=timing.reason.value),
    )


def _refusal(row: Any, states: Mapping[str, Any], subs: set[tuple[int, str]]) -> Refuse | None:
    if row.channel_id is None or row.channel_provider is None:
        return Refuse(RefusalCode.INVALID_NUMBER, "the message's channel no longer exists")
    message = Outbound(
        to=row.to_number,
        channel_id=row.channel_id,
        channel_type=row.channel_type,
        list_id=row.list_id,
        kind=MessageKind(row.kind),
    )
    subscribed = (row.list_id, row.to_number) in subs if row.list_id is not None else None
    decision = decide(message, states.get(row.to_number, EMPTY), subscribed=subscribed)
    return decision if isinstance(decision, Refuse) else None


def _bodies_with_disclosures(
    conn: Connection, rows: Sequence[Any], policies: Mapping[int, Policy], now: datetime
) -> tuple[dict[int, str], set[int]]:
    """Each message's body to send, and the messages that carry their number's disclosure
    (the first normal message from the workspace to the number)."""
    bodies = {int(r.id): r.body for r in rows}
    carrying: set[int] = set()
    for ws in sorted({r.workspace_id for r in rows}):
        policy = policies[ws]
        if not policy.first_message_disclosure:
            continue
        normal = [r for r in rows if r.workspace_id == ws and r.kind == MessageKind.NORMAL.value]
        if not normal:
            continue
        firsts: dict[str, int] = {}
        for row in normal:  # rows are in id order: the earliest message carries it
            firsts.setdefault(row.to_number, int(row.id))
        for number in disclosure_store.claim_disclosures(conn, ws, firsts, now):
            message_id = firsts[number]
            carrying.add(message_id)
            bodies[message_id] = with_disclosure(bodies[message_id], policy)
    return bodies, carrying


def _deliver(
    row: Any,
    body: str,
    keyring: Keyring,
    client: httpx.Client,
    providers: ProviderLookup,
    now: datetime,
    console_rows: list[dict[str, Any]],
) -> tuple[dict[str, Any], HandOff, CarrierOptOut | None]:
    name = row.channel_provider
    attempts = int(row.attempts or 0)
    if attempts > MAX_ATTEMPTS:
        message = f"gave up after {MAX_ATTEMPTS} attempts"
        return (
            send_queue.outcome(
                row.id,
                "failed",
                now,
                body=row.body,
                error_code="too_many_attempts",
                error_message=message,
                provider=name,
            ),
            HandOff(row.id, "failed", error_code="too_many_attempts"),
            None,
        )
    request = SendRequest(
        to=row.to_number,
        from_address=row.from_address,
        body=body,
        idempotency_key=row.sid,
        status_callback=None,  # provider callbacks come to stopline's webhooks, set per channel
    )
    try:
        credentials = keyring.decrypt(row.channel_credentials)
        result = providers(name).send(client, request, credentials, row.channel_base_url)
    except ProviderError as exc:
        return provider_failure(row, exc, now, attempts)
    except StoplineError as exc:  # undecryptable credentials, unknown provider
        return (
            send_queue.outcome(
                row.id,
                "failed",
                now,
                body=row.body,
                error_code=exc.code,
                error_message=exc.message,
                provider=name,
            ),
            HandOff(row.id, "failed", error_code=exc.code),
            None,
        )
    if name == "console":
        console_rows.append(
            {
                "workspace_id": row.workspace_id,
                "message_id": row.id,
                "idempotency_key": row.sid,
                "to_number": row.to_number,
                "from_address": row.from_address,
                "body": body,
                "created_at": now,
            }
        )
    return (
        send_queue.outcome(
            row.id,
            "sent",
            now,
            body=body,
            provider=name,
            provider_message_id=result.provider_message_id,
            handed_at=now,
        ),
        HandOff(row.id, "sent"),
        None,
    )
