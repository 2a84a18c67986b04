"""Sending: every path queues with `enqueue`; `hand_off` alone gives messages to a provider.

Every way of sending (API, CLI, inbox reply, Twilio-compatible API, scheduled sends, campaigns,
automations) stores the message with `enqueue`, which runs the gate at once so the sender
learns a refusal immediately (the message is kept as `failed` with its `refusal_code`). A
worker later claims queued messages and calls `hand_off`, which checks the gate again: that
check is the guarantee, the first one a courtesy.

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

Retries: a provider's 5xx, 429 or a timeout puts the message back to ``queued`` with
exponential backoff (``attempts``, ``available_at``); a 4xx fails it with the provider's code.
A provider saying the recipient opted out (Twilio 21610, Telnyx 40300) fails the message with
``opted_out`` and records a ``carrier`` opt-out through `change_consent`. That opt-out is
written in its own transaction right after the hand-off commits: taking the ledger lock while
holding a message row lock could deadlock with an inbound STOP (which takes them in the other
order). If the process dies between the two, the provider refuses the next send the same way
and the opt-out is recorded then.

`kind="confirmation"` passes an opt-out (outbound rule 2): only the inbound service may use it;
the API, CLI and Twilio-compatible edges never accept it from a caller.
"""

from __future__ import annotations

import functools
import logging
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

import httpx
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import IntegrityError

from stopline.domain.consent import EMPTY, Action, ConsentChange, Method, Scope, utc
from stopline.domain.errors import InvalidInput, NotFound, StoplineError
from stopline.domain.gate import MessageKind, Outbound, RefusalCode, Refuse, decide
from stopline.domain.numbers import normalize
from stopline.domain.policy import OptOutScope, Policy
from stopline.providers.base import Provider, ProviderError, SendRequest, get_provider
from stopline.security import Keyring
from stopline.services.checks import check_outbound
from stopline.services.consent import change_consent, now_utc
from stopline.services.workspaces import get_workspace
from stopline.store import messages as store
from stopline.store.db import write
from stopline.store.tables import lists

log = logging.getLogger(__name__)

MAX_BODY = 1600  # Twilio's limit for one message (error 21617 beyond it)
MAX_ATTEMPTS = 8  # claims of one message, including crashed workers' claims
RETRY_BASE = timedelta(seconds=2)
RETRY_CAP = timedelta(minutes=10)
LEASE = timedelta(seconds=60)  # longer than any provider call (HTTP timeouts are 15 s)
HTTP_TIMEOUT = httpx.Timeout(15.0, connect=5.0)
STATUSES = ("queued", "scheduled", "sending", "sent", "delivered", "failed", "canceled")
SOURCES_RESERVED = ("campaign", "inbound_reply")


@dataclass(frozen=True)
class QueuedMessage:
    """An outbound message as senders see it: its SID, status and, if refused, why."""

    id: int
    sid: str
    workspace_id: int
    channel_id: int | None
    from_address: str
    to: str
    body: str
    kind: str
    source: str
    status: str
    refusal_code: str | None
    error_code: str | None
    error_message: str | None
    campaign_id: int | None
    list_id: int | None
    sent_by: str | None
    idempotency_key: str | None
    status_callback: str | None
    provider: str | None
    provider_message_id: str | None
    attempts: int
    direction: str
    scheduled_at: datetime | None
    created_at: datetime
    updated_at: datetime
    handed_at: datetime | None

    @property
    def refused(self) -> bool:
        return self.refusal_code is not None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "sid": self.sid,
            "direction": self.direction,
            "channel_id": self.channel_id,
            "from": self.from_address,
            "to": self.to,
            "body": self.body,
            "kind": self.kind,
            "source": self.source,
            "status": self.status,
            "refusal_code": self.refusal_code,
            "error_code": self.error_code,
            "error_message": self.error_message,
            "campaign_id": self.campaign_id,
            "list_id": self.list_id,
            "sent_by": self.sent_by,
            "idempotency_key": self.idempotency_key,
            "provider": self.provider,
            "provider_message_id": self.provider_message_id,
            "attempts": self.attempts,
            "scheduled_at": _iso(self.scheduled_at),
            "created_at": _iso(self.created_at),
            "updated_at": _iso(self.updated_at),
            "handed_at": _iso(self.handed_at),
        }


Message = QueuedMessage


def _iso(value: datetime | None) -> str | None:
    return utc(value).isoformat() if value is not None else None


def _opt_utc(value: datetime | None) -> datetime | None:
    return utc(value) if value is not None else None


def message_from_row(row: Any) -> QueuedMessage:
    return QueuedMessage(
        id=int(row.id),
        sid=row.sid,
        workspace_id=int(row.workspace_id),
        channel_id=row.channel_id,
        from_address=row.from_address,
        to=row.to_number,
        body=row.body,
        kind=row.kind,
        source=row.source,
        status=row.status,
        refusal_code=row.refusal_code,
        error_code=row.error_code,
        error_message=row.error_message,
        campaign_id=row.campaign_id,
        list_id=row.list_id,
        sent_by=row.sent_by,
        idempotency_key=row.idempotency_key,
        status_callback=row.status_callback,
        provider=row.provider,
        provider_message_id=row.provider_message_id,
        attempts=int(row.attempts or 0),
        direction=row.direction,
        scheduled_at=_opt_utc(row.scheduled_at),
        created_at=utc(row.created_at),
        updated_at=utc(row.updated_at),
        handed_at=_opt_utc(row.handed_at),
    )


# --- queueing ---------------------------------------------------------------------------------


def _kind(kind: str | MessageKind) -> MessageKind:
    try:
        return MessageKind(kind)
    except ValueError:
        raise InvalidInput(
            f"Unknown message kind {kind!r}; use normal or confirmation.", code="kind_invalid"
        ) from None


def _body(body: str) -> str:
    if not isinstance(body, str) or not body.strip():
        raise InvalidInput("A message needs a body.", code="body_required")
    if len(body) > MAX_BODY:
        raise InvalidInput(
            f"A message body is at most {MAX_BODY} characters (got {len(body)}).",
            code="body_too_long",
        )
    return body


def _source(source: str) -> str:
    source = (source or "").strip()
    if not source or len(source) > 200:
        raise InvalidInput("A source tag is 1 to 200 characters.", code="source_invalid")
    return source


def _channel(conn: Connection, workspace_id: int, channel_id: int) -> Any:
    row = store.channel_row(conn, workspace_id, channel_id) if channel_id is not None else None
    if row is None:
        raise InvalidInput(f"No channel {channel_id} in this workspace.", code="channel_not_found")
    return row


def default_channel_id(conn: Connection, workspace_id: int, channel_id: int | None) -> int:
    """The channel to send from: the one named, else the workspace's only channel."""
    if channel_id is not None:
        return int(_channel(conn, workspace_id, channel_id).id)
    ids = store.channel_ids(conn, workspace_id)
    if len(ids) == 1:
        return ids[0]
    if not ids:
        raise InvalidInput(
            "This workspace has no channel to send from; add one first.", code="channel_required"
        )
    raise InvalidInput(
        "This workspace has several channels; choose one (channel id).", code="channel_required"
    )


def _as_utc(value: datetime | None) -> datetime | None:
    return utc(value) if value is not None else None


def enqueue(
    conn: Connection,
    workspace_id: int,
    *,
    channel_id: int,
    to: str,
    body: str,
    kind: str | MessageKind = "normal",
    source: str = "api",
    sent_by: str | None = None,
    list_id: int | None = None,
    campaign_id: int | None = None,
    scheduled_at: datetime | None = None,
    idempotency_key: str | None = None,
    status_callback: str | None = None,
    now: datetime | None = None,
) -> QueuedMessage:
    """Queue one outbound message, inside the caller's write transaction.

    The gate runs now: a refused message is stored as ``failed`` with its ``refusal_code``
    and returned (not raised), so every path can tell its user at once. Malformed input (empty
    body, unknown channel or list) raises InvalidInput. Reusing an idempotency key returns
    the message first queued with it.
    """
    now = now or now_utc()
    message_kind = _kind(kind)
    body = _body(body)
    source = _source(source)
    key = (idempotency_key or "").strip() or None
    if key is not None:
        if len(key) > 200:
            raise InvalidInput("An idempotency key is at most 200 characters.", code="key_invalid")
        existing = store.message_by_idempotency_key(conn, workspace_id, key)
        if existing is not None:
            return message_from_row(existing)
    channel = _channel(conn, workspace_id, channel_id)
    policy = get_workspace(conn, workspace_id).policy
    if list_id is not None and not _list_exists(conn, workspace_id, list_id):
        raise InvalidInput(f"No list {list_id} in this workspace.", code="list_not_found")

    refusal: Refuse | None = None
    try:
        number = normalize(to, policy.default_region)
    except InvalidInput as exc:
        number = None
        refusal = Refuse(RefusalCode.INVALID_NUMBER, exc.message)
    if number is not None:
        decision = check_outbound(
            conn,
            workspace_id,
            Outbound(
                to=number,
                channel_id=channel.id,
                channel_type=channel.type,
                list_id=list_id,
                kind=message_kind,
            ),
        )
        refusal = decision if isinstance(decision, Refuse) else None

    when = _as_utc(scheduled_at)
    if refusal is not None:
        status = "failed"
    elif when is not None and when > now:
        status = "scheduled"
    else:
        status = "queued"
    conversation_id = None
    if number is not None and campaign_id is None:
        conversation_id = store.ensure_conversation(conn, workspace_id, channel.id, number, now=now)
        store.touch_conversation(conn, conversation_id, now)
    values = {
        "sid": store.new_sid(),
        "workspace_id": workspace_id,
        "direction": "out",
        "channel_id": channel.id,
        "conversation_id": conversation_id,
        "from_address": channel.address,
        "to_number": number if number is not None else str(to)[:64],
        "body": body,
        "kind": message_kind.value,
        "source": source,
        "campaign_id": campaign_id,
        "list_id": list_id,
        "status": status,
        "refusal_code": refusal.code.value if refusal else None,
        "error_message": refusal.detail if refusal else None,
        "idempotency_key": key,
        "status_callback": status_callback,
        "hidden": False,
        "sent_by": sent_by,
        "attempts": 0,
        "available_at": None if refusal else max(when or now, now),
        "scheduled_at": when,
        "created_at": now,
        "updated_at": now,
    }
    if key is None:
        message_id = store.insert_message(conn, **values)
    else:
        try:
            with conn.begin_nested():
                message_id = store.insert_message(conn, **values)
        except IntegrityError:
            # A concurrent request with the same key won the race: answer with its message.
            existing = store.message_by_idempotency_key(conn, workspace_id, key)
            if existing is None:
                raise
            return message_from_row(existing)
    row = store.get_message(conn, workspace_id, message_id)
    return message_from_row(row)


def _list_exists(conn: Connection, workspace_id: int, list_id: int) -> bool:
    from sqlalchemy import select

    return (
        conn.execute(
            select(lists.c.id).where(lists.c.workspace_id == workspace_id, lists.c.id == list_id)
        ).first()
        is not None
    )


def record_inline_reply(
    conn: Connection,
    workspace_id: int,
    *,
    channel_id: int,
    to: str,
    body: str,
    kind: str | MessageKind = "confirmation",
    provider: str = "twilio",
    now: datetime | None = None,
) -> QueuedMessage | None:
    """A reply carried in a webhook response (TwiML): gated and recorded as ``sent`` right here.

    The hand-off is the HTTP response itself, so this is the gate check at hand-off for it.
    Returns None if the gate refuses (a blocked number gets no confirmation). A ``normal``
    reply that is the workspace's first message to the number carries the disclosure: send
    the returned body, not the one given.
    """
    channel = _channel(conn, workspace_id, channel_id)
    policy = get_workspace(conn, workspace_id).policy
    try:
        number = normalize(to, policy.default_region)
    except InvalidInput:
        return None
    message_id = record_inline_reply_to(
        conn,
        workspace_id,
        channel,
        policy,
        number,
        body,
        kind=kind,
        provider=provider,
        now=now,
    )
    if message_id is None:
        return None
    return message_from_row(store.get_message(conn, workspace_id, message_id))


class ReplyChannel(Protocol):
    """What an inline reply needs of the channel it answers on (a channel row, or the inbound
    pipeline's `InboundChannel`)."""

    @property
    def id(self) -> int: ...

    @property
    def type(self) -> str: ...

    @property
    def address(self) -> str: ...


def record_inline_reply_to(
    conn: Connection,
    workspace_id: int,
    channel: ReplyChannel,
    policy: Policy,
    number: str,
    body: str,
    *,
    kind: str | MessageKind = "confirmation",
    provider: str = "twilio",
    conversation_id: int | None = None,
    now: datetime | None = None,
) -> int | None:
    """`record_inline_reply` for a caller that already holds the channel, the workspace's
    policy, the E.164 number and perhaps the conversation (the inbound pipeline): the gate is
    still checked here, against the state in this transaction. Returns the message id, or
    None if the gate refuses.
    """
    now = now or now_utc()
    message_kind = _kind(kind)
    body = _body(body)
    decision = check_outbound(
        conn,
        workspace_id,
        Outbound(to=number, channel_id=channel.id, channel_type=channel.type, kind=message_kind),
    )
    if isinstance(decision, Refuse):
        return None
    if conversation_id is None:
        conversation_id = store.ensure_conversation(conn, workspace_id, channel.id, number, now=now)
    store.touch_conversation(conn, conversation_id, now)
    values = {
        "sid": store.new_sid(),
        "workspace_id": workspace_id,
        "direction": "out",
        "channel_id": channel.id,
        "conversation_id": conversation_id,
        "from_address": channel.address,
        "to_number": number,
        "body": body,
        "kind": message_kind.value,
        "source": "inbound_reply",
        "status": "sent",
        "provider": provider,
        "hidden": False,
        "attempts": 1,
        "created_at": now,
        "updated_at": now,
        "handed_at": now,
    }
    message_id = store.insert_message(conn, **values)
    if message_kind is MessageKind.NORMAL and policy.first_message_disclosure:
        got = store.claim_disclosures(conn, workspace_id, {number: message_id}, now)
        if number in got:
            store.record_outcomes(
                conn,
                [
                    _outcome(
                        message_id,
                        "sent",
                        now,
                        body=with_disclosure(body, policy),
                        provider=provider,
                        handed_at=now,
                    )
                ],
            )
    return message_id


def with_disclosure(body: str, policy: Policy) -> str:
    """The body carrying the disclosure on its own line (kept as is if it already says it)."""
    text = policy.disclosure_text.strip()
    if not text or text.casefold() in body.casefold():
        return body
    return f"{body.rstrip()}\n{text}"


# --- reading and cancelling ---------------------------------------------------------------------


def get_message(conn: Connection, workspace_id: int, ref: str | int) -> QueuedMessage:
    """A message by SID or numeric id."""
    row = None
    if isinstance(ref, int) or (isinstance(ref, str) and ref.isdigit()):
        row = store.get_message(conn, workspace_id, int(ref))
    elif isinstance(ref, str):
        row = store.message_by_sid(conn, workspace_id, ref.strip())
    if row is None:
        raise NotFound(f"No message {ref}.", code="message_not_found")
    return message_from_row(row)


def list_messages(
    conn: Connection,
    workspace_id: int,
    *,
    direction: str | None = None,
    status: str | None = None,
    to: str | None = None,
    from_address: str | None = None,
    campaign_id: int | None = None,
    source: str | None = None,
    before_id: int | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[QueuedMessage]:
    if status is not None and status not in STATUSES + ("received",):
        raise InvalidInput(f"Unknown status {status!r}.", code="status_invalid")
    if not 1 <= limit <= 1000:
        raise InvalidInput("limit is 1 to 1000.", code="limit_invalid")
    number = None
    if to:
        region = get_workspace(conn, workspace_id).policy.default_region
        try:
            number = normalize(to, region)
        except InvalidInput:
            number = to
    rows = store.list_messages(
        conn,
        workspace_id,
        direction=direction,
        status=status,
        to_number=number,
        from_address=from_address,
        campaign_id=campaign_id,
        source=source,
        before_id=before_id,
        limit=limit,
        offset=offset,
    )
    return [message_from_row(r) for r in rows]


def cancel(
    conn: Connection, workspace_id: int, ref: str | int, *, now: datetime | None = None
) -> QueuedMessage:
    """Cancel a queued or scheduled message; one already claimed or sent cannot be."""
    message = get_message(conn, workspace_id, ref)
    if not store.cancel_message(conn, workspace_id, message.id, now or now_utc()):
        from stopline.domain.errors import Conflict

        raise Conflict(
            f"Message {message.sid} is {message.status}; only queued or scheduled messages "
            "can be cancelled.",
            code="message_not_cancelable",
        )
    return get_message(conn, workspace_id, message.id)


# --- the worker's side: claim and hand off ------------------------------------------------------


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
        rows = store.claim_messages(conn, owner, now or now_utc(), lease, limit)
    return [int(r.id) for r in rows]


@dataclass(frozen=True)
class HandOff:
    """What happened to one claimed message."""

    message_id: int
    status: str  # sent | failed | queued (retry later) | skipped (no longer ours)
    refusal_code: str | None = None
    error_code: str | None = None


def retry_delay(attempt: int) -> timedelta:
    """Exponential backoff with jitter: ~2 s, 4 s, 8 s ... capped at 10 minutes."""
    base = min(RETRY_BASE * (2 ** max(attempt - 1, 0)), RETRY_CAP)
    return base + base * random.uniform(0, 0.2)


def _outcome(
    message_id: int,
    status: str,
    now: datetime,
    *,
    body: str,
    refusal_code: str | None = None,
    error_code: str | None = None,
    error_message: str | None = None,
    provider: str | None = None,
    provider_message_id: str | None = None,
    available_at: datetime | None = None,
    handed_at: datetime | None = None,
) -> dict[str, Any]:
    return {
        "o_id": message_id,
        "o_status": status,
        "o_refusal_code": refusal_code,
        "o_error_code": error_code,
        "o_error_message": error_message,
        "o_provider": provider,
        "o_provider_message_id": provider_message_id,
        "o_body": body,
        "o_available_at": available_at,
        "o_handed_at": handed_at,
        "o_updated_at": now,
    }


@dataclass(frozen=True)
class _CarrierOptOut:
    workspace_id: int
    number: str
    channel_id: int | None
    channel_type: str | None
    provider: str
    provider_code: str | None


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
    carrier: list[_CarrierOptOut] = []
    results: list[HandOff] = []
    with write(engine) as conn:
        rows = store.lock_for_hand_off(conn, ids, owner, provider=only)
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
        for ws in sorted({r.workspace_id for r in rows}):
            mine = [r for r in rows if r.workspace_id == ws]
            states = store.consent_states(conn, ws, [r.to_number for r in mine])
            subs = store.subscriptions(
                conn, ws, [(r.list_id, r.to_number) for r in mine if r.list_id is not None]
            )
            for row in mine:
                refusal = _refusal(row, states, subs)
                if refusal is not None:
                    outcomes.append(
                        _outcome(
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
                    deliver.append(row)
        bodies, carrying = _bodies_with_disclosures(conn, deliver, policies, now)
        disclosed_undelivered: dict[int, list[int]] = {}
        console_rows: list[dict[str, Any]] = []
        for row in deliver:
            body = bodies[row.id]
            outcome, handoff, opted = _deliver(
                row, body, keyring, client, providers, now, console_rows
            )
            outcomes.append(outcome)
            results.append(handoff)
            if opted is not None:
                carrier.append(opted)
            if handoff.status != "sent" and row.id in carrying:
                disclosed_undelivered.setdefault(row.workspace_id, []).append(row.id)
        if console_rows:
            store.insert_console_deliveries(conn, console_rows)
        for ws, undelivered in disclosed_undelivered.items():
            store.release_disclosures(conn, ws, undelivered)
        store.record_outcomes(conn, outcomes)
    for opt_out in carrier:
        _record_carrier_opt_out(engine, opt_out)
    return results, locked


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
        for number in store.claim_disclosures(conn, ws, firsts, now):
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
) -> tuple[dict[str, Any], HandOff, _CarrierOptOut | None]:
    name = row.channel_provider
    attempts = int(row.attempts or 0)
    if attempts > MAX_ATTEMPTS:
        message = f"gave up after {MAX_ATTEMPTS} attempts"
        return (
            _outcome(
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
        return _provider_failure(row, exc, now, attempts)
    except StoplineError as exc:  # undecryptable credentials, unknown provider
        return (
            _outcome(
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
        _outcome(
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


def _provider_failure(
    row: Any, exc: ProviderError, now: datetime, attempts: int
) -> tuple[dict[str, Any], HandOff, _CarrierOptOut | None]:
    name = row.channel_provider
    code = exc.provider_code or (f"http_{exc.http_status}" if exc.http_status else "provider_error")
    if exc.recipient_opted_out:
        opted = _CarrierOptOut(
            row.workspace_id,
            row.to_number,
            row.channel_id,
            row.channel_type,
            name,
            exc.provider_code,
        )
        return (
            _outcome(
                row.id,
                "failed",
                now,
                body=row.body,
                refusal_code=RefusalCode.OPTED_OUT.value,
                error_code=code,
                error_message=exc.message,
                provider=name,
            ),
            HandOff(row.id, "failed", RefusalCode.OPTED_OUT.value, code),
            opted,
        )
    if exc.retryable and attempts < MAX_ATTEMPTS:
        return (
            _outcome(
                row.id,
                "queued",
                now,
                body=row.body,
                error_code=code,
                error_message=exc.message,
                provider=name,
                available_at=now + retry_delay(attempts),
            ),
            HandOff(row.id, "queued", error_code=code),
            None,
        )
    return (
        _outcome(
            row.id,
            "failed",
            now,
            body=row.body,
            error_code=code,
            error_message=exc.message,
            provider=name,
        ),
        HandOff(row.id, "failed", error_code=code),
        None,
    )


def _record_carrier_opt_out(engine: Engine, opt_out: _CarrierOptOut) -> None:
    try:
        with write(engine) as conn:
            record_carrier_opt_out(
                conn,
                opt_out.workspace_id,
                opt_out.number,
                channel_id=opt_out.channel_id,
                channel_type=opt_out.channel_type,
                provider=opt_out.provider,
                provider_code=opt_out.provider_code,
            )
    except Exception:  # noqa: BLE001 - the provider will refuse again and we retry then
        log.exception("could not record the carrier opt-out of %s", opt_out.number)


def record_carrier_opt_out(
    conn: Connection,
    workspace_id: int,
    number: str,
    *,
    channel_id: int | None,
    channel_type: str | None,
    provider: str,
    provider_code: str | None,
) -> None:
    """The provider says the recipient opted out: record it (method carrier) in policy scope."""
    policy = get_workspace(conn, workspace_id).policy
    scope, key = Scope.WORKSPACE, ""
    if policy.opt_out_scope is OptOutScope.CHANNEL and channel_id is not None:
        scope, key = Scope.CHANNEL, str(channel_id)
    elif policy.opt_out_scope is OptOutScope.CHANNEL_TYPE and channel_type:
        scope, key = Scope.CHANNEL_TYPE, channel_type
    change = ConsentChange(
        number=number,
        action=Action.OPT_OUT,
        method=Method.CARRIER,
        scope=scope,
        scope_key=key,
        reason=f"{provider} refused the message: recipient opted out"
        + (f" (error {provider_code})" if provider_code else ""),
        actor=f"provider:{provider}",
        channel_id=channel_id,
        source=provider,
    )
    change_consent(conn, workspace_id, change, policy)


def apply_status_update(
    conn: Connection,
    workspace_id: int,
    *,
    provider: str,
    provider_message_id: str,
    status: str | None,
    error_code: str | None = None,
    recipient_opted_out: bool = False,
    now: datetime | None = None,
) -> QueuedMessage | None:
    """A provider's status callback for one of our messages (for the webhooks layer).

    Moves sent -> delivered/failed (never backwards); a callback saying the recipient opted
    out records a carrier opt-out. Returns the message, or None if it is not ours.
    """
    now = now or now_utc()
    row = store.message_by_provider_id(conn, workspace_id, provider_message_id)
    if row is None:
        return None
    if status in ("delivered", "failed") and row.status in ("sent", "delivered"):
        if not (row.status == "delivered" and status == "failed"):
            store.set_message_status(
                conn,
                row.id,
                status=status,
                error_code=error_code,
                refusal_code=RefusalCode.OPTED_OUT.value if recipient_opted_out else None,
                now=now,
            )
    if recipient_opted_out:
        channel = store.channel_row(conn, workspace_id, row.channel_id) if row.channel_id else None
        record_carrier_opt_out(
            conn,
            workspace_id,
            row.to_number,
            channel_id=row.channel_id,
            channel_type=channel.type if channel is not None else None,
            provider=provider,
            provider_code=error_code,
        )
    return message_from_row(store.get_message(conn, workspace_id, row.id))
