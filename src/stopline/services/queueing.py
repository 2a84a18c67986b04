"""Queueing: every sending path stores its message with `enqueue`; inline replies are recorded
as handed over by `record_inline_reply`.

`enqueue` runs the gate at once so the sender learns a refusal immediately (the message is
kept as `failed` with its `refusal_code`). A worker later claims queued messages and
`services.hand_off.hand_off` checks the gate again: that check is the guarantee, the first
one a courtesy.

`kind="confirmation"` passes an opt-out (outbound rule 2): only the inbound service may use it;
the API, CLI and Twilio-compatible edges never accept it from a caller.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from stopline.domain.consent import utc
from stopline.domain.errors import InvalidInput
from stopline.domain.gate import MessageKind, Outbound, RefusalCode, Refuse
from stopline.domain.numbers import normalize
from stopline.domain.policy import Policy
from stopline.domain.send_rules import Category
from stopline.domain.send_time import SendTimeDecision, Verdict
from stopline.services import send_time
from stopline.services.checks import check_outbound, check_outbound_at
from stopline.services.consent import now_utc
from stopline.services.messages import QueuedMessage, message_from_row
from stopline.services.workspaces import get_workspace
from stopline.store import channels as channel_store
from stopline.store import conversations as conversation_store
from stopline.store import disclosures as disclosure_store
from stopline.store import lists as list_store
from stopline.store import messages as message_store
from stopline.store import send_queue

MAX_BODY = 1600  # Twilio's limit for one message (error 21617 beyond it)


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
    row = (
        channel_store.channel_row(conn, workspace_id, channel_id)
        if channel_id is not None
        else None
    )
    if row is None:
        raise InvalidInput(f"No channel {channel_id} in this workspace.", code="channel_not_found")
    return row


def _sending_channel(conn: Connection, workspace_id: int, channel_id: int) -> Any:
    """A channel new messages may be queued from: it exists here and is not disabled."""
    row = _channel(conn, workspace_id, channel_id)
    if row.disabled_at is not None:
        raise InvalidInput(
            f"Channel {row.name or row.address} is disabled; nothing new is sent from it.",
            code="channel_disabled",
        )
    return row


def default_channel_id(conn: Connection, workspace_id: int, channel_id: int | None) -> int:
    """The channel to send from: the one named, else the workspace's only (enabled) channel."""
    if channel_id is not None:
        return int(_sending_channel(conn, workspace_id, channel_id).id)
    ids = channel_store.channel_ids(conn, workspace_id)
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
    category: str | Category | None = None,
    now: datetime | None = None,
) -> QueuedMessage:
    """Queue one outbound message, inside the caller's write transaction.

    The gate runs now: a refused message is stored as ``failed`` with its ``refusal_code``
    and returned (not raised), so every path can tell its user at once. Malformed input (empty
    body, unknown channel or list) raises InvalidInput. Reusing an idempotency key returns
    the message first queued with it. The send-time rules run now too: a message outside its
    recipient's window (or over a cap) is stored ``scheduled`` for its next allowed time, with
    its ``hold_reason``; `category` defaults to informational (confirmations: conversational).
    """
    now = now or now_utc()
    message_kind = _kind(kind)
    default = (
        Category.CONVERSATIONAL
        if message_kind is MessageKind.CONFIRMATION
        else Category.INFORMATIONAL
    )
    cat = send_time.parse_category(category, default)
    body = _body(body)
    source = _source(source)
    key = (idempotency_key or "").strip() or None
    if key is not None:
        if len(key) > 200:
            raise InvalidInput("An idempotency key is at most 200 characters.", code="key_invalid")
        existing = message_store.message_by_idempotency_key(conn, workspace_id, key)
        if existing is not None:
            return message_from_row(existing)
    channel = _sending_channel(conn, workspace_id, channel_id)
    policy = get_workspace(conn, workspace_id).policy
    if list_id is not None and not list_store.list_exists(conn, workspace_id, list_id):
        raise InvalidInput(f"No list {list_id} in this workspace.", code="list_not_found")

    when = _as_utc(scheduled_at)
    go_at = max(when or now, now)
    held: SendTimeDecision | None = None
    refusal: Refuse | None = None
    try:
        number = normalize(to, policy.default_region)
    except InvalidInput as exc:
        number = None
        refusal = Refuse(RefusalCode.INVALID_NUMBER, exc.message)
    if number is not None:
        message = Outbound(
            to=number,
            channel_id=channel.id,
            channel_type=channel.type,
            list_id=list_id,
            kind=message_kind,
        )
        decision, timing = check_outbound_at(conn, workspace_id, message, policy, cat, go_at)
        refusal = decision if isinstance(decision, Refuse) else None
        if timing is not None and timing.verdict is Verdict.REFUSE:
            assert timing.reason is not None
            refusal = Refuse(RefusalCode(timing.reason.value), timing.explain())
            held = timing
        elif timing is not None and timing.verdict is Verdict.DEFER:
            assert timing.until is not None
            held, go_at = timing, timing.until
    if refusal is not None:
        status = "failed"
    elif go_at > now:
        status = "scheduled"
    else:
        status = "queued"
    conversation_id = None
    if number is not None and campaign_id is None:
        conversation_id = conversation_store.ensure_conversation(
            conn, workspace_id, channel.id, number, now=now
        )
        conversation_store.touch_conversation(conn, conversation_id, now)
    values = {
        "sid": message_store.new_sid(),
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
        "available_at": None if refusal else go_at,
        "scheduled_at": when,
        "category": cat.value,
        "hold_reason": held.reason.value if held is not None and held.reason else None,
        "send_decision": held.as_dict() if held is not None else None,
        "created_at": now,
        "updated_at": now,
    }
    if key is None:
        message_id = message_store.insert_message(conn, **values)
    else:
        try:
            with conn.begin_nested():
                message_id = message_store.insert_message(conn, **values)
        except IntegrityError:
            # A concurrent request with the same key won the race: answer with its message.
            existing = message_store.message_by_idempotency_key(conn, workspace_id, key)
            if existing is None:
                raise
            return message_from_row(existing)
    row = message_store.get_message(conn, workspace_id, message_id)
    return message_from_row(row)


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
    return message_from_row(message_store.get_message(conn, workspace_id, message_id))


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
        conversation_id = conversation_store.ensure_conversation(
            conn, workspace_id, channel.id, number, now=now
        )
    conversation_store.touch_conversation(conn, conversation_id, now)
    values = {
        "sid": message_store.new_sid(),
        "workspace_id": workspace_id,
        "direction": "out",
        "channel_id": channel.id,
        "conversation_id": conversation_id,
        "from_address": channel.address,
        "to_number": number,
        "body": body,
        "kind": message_kind.value,
        "source": "inbound_reply",
        "category": Category.CONVERSATIONAL.value,
        "status": "sent",
        "provider": provider,
        "hidden": False,
        "attempts": 1,
        "created_at": now,
        "updated_at": now,
        "handed_at": now,
    }
    message_id = message_store.insert_message(conn, **values)
    if message_kind is MessageKind.NORMAL and policy.first_message_disclosure:
        got = disclosure_store.claim_disclosures(conn, workspace_id, {number: message_id}, now)
        if number in got:
            send_queue.record_outcomes(
                conn,
                [
                    send_queue.outcome(
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
