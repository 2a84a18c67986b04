"""What providers say about our messages: failures and retries at hand-off, carrier opt-outs,
and status callbacks.

Retries: a provider's 5xx, 429 or a timeout puts the message back to ``queued`` with
exponential backoff (``attempts``, ``available_at``); a 4xx fails it with the provider's code.
A provider saying the recipient opted out (Twilio 21610, Telnyx 40300) fails the message with
``opted_out`` and records a ``carrier`` opt-out through `change_consent`. That opt-out is
written in its own transaction right after the hand-off commits: taking the ledger lock while
holding a message row lock could deadlock with an inbound STOP (which takes them in the other
order). If the process dies between the two, the provider refuses the next send the same way
and the opt-out is recorded then.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine

from stopline.domain.consent import Action, ConsentChange, Method, Scope
from stopline.domain.gate import RefusalCode
from stopline.domain.policy import OptOutScope
from stopline.providers.base import ProviderError
from stopline.services.consent import ChangeResult, change_consent, now_utc
from stopline.services.messages import QueuedMessage, message_from_row
from stopline.services.workspaces import get_workspace
from stopline.store import channels as channel_store
from stopline.store import messages as message_store
from stopline.store import send_queue
from stopline.store.db import write

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8  # claims of one message, including crashed workers' claims
RETRY_BASE = timedelta(seconds=2)
RETRY_CAP = timedelta(minutes=10)


@dataclass(frozen=True)
class HandOff:
    """What happened to one claimed message."""

    message_id: int
    status: str  # sent | failed | queued (retry) | scheduled (send-time rules) | skipped
    refusal_code: str | None = None
    error_code: str | None = None


def retry_delay(attempt: int) -> timedelta:
    """Exponential backoff with jitter: ~2 s, 4 s, 8 s ... capped at 10 minutes."""
    base = min(RETRY_BASE * (2 ** max(attempt - 1, 0)), RETRY_CAP)
    return base + base * random.uniform(0, 0.2)


@dataclass(frozen=True)
class CarrierOptOut:
    workspace_id: int
    number: str
    channel_id: int | None
    channel_type: str | None
    provider: str
    provider_code: str | None


def provider_failure(
    row: Any, exc: ProviderError, now: datetime, attempts: int
) -> tuple[dict[str, Any], HandOff, CarrierOptOut | None]:
    name = row.channel_provider
    code = exc.provider_code or (f"http_{exc.http_status}" if exc.http_status else "provider_error")
    if exc.recipient_opted_out:
        opted = CarrierOptOut(
            row.workspace_id,
            row.to_number,
            row.channel_id,
            row.channel_type,
            name,
            exc.provider_code,
        )
        return (
            send_queue.outcome(
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
            send_queue.outcome(
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
        send_queue.outcome(
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


def record_carrier_opt_out_separately(engine: Engine, opt_out: CarrierOptOut) -> None:
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
    reason: str | None = None,
    occurred_at: datetime | None = None,
    if_new: bool = False,
) -> ChangeResult:
    """The provider says the recipient opted out: record it (method carrier) in policy scope.

    No confirmation is sent: the provider already answered the recipient. An opt-out already
    held in that scope adds nothing (`changed` is False)."""
    policy = get_workspace(conn, workspace_id).policy
    scope, key = Scope.WORKSPACE, ""
    if policy.opt_out_scope is OptOutScope.CHANNEL and channel_id is not None:
        scope, key = Scope.CHANNEL, str(channel_id)
    elif policy.opt_out_scope is OptOutScope.CHANNEL_TYPE and channel_type:
        scope, key = Scope.CHANNEL_TYPE, channel_type
    if if_new:  # a provider list read again: an opt-out already held adds nothing
        from stopline.store.ledger import load_state

        state = load_state(conn, workspace_id, number)
        if (scope, key) in state.opt_outs or state.block is not None:
            return ChangeResult(False, None, state, state)
    change = ConsentChange(
        number=number,
        action=Action.OPT_OUT,
        method=Method.CARRIER,
        scope=scope,
        scope_key=key,
        reason=reason
        or f"{provider} refused the message: recipient opted out"
        + (f" (error {provider_code})" if provider_code else ""),
        actor=f"provider:{provider}",
        channel_id=channel_id,
        source=provider,
        occurred_at=occurred_at,
    )
    return change_consent(conn, workspace_id, change, policy)


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
    row = message_store.message_by_provider_id(conn, workspace_id, provider_message_id)
    if row is None:
        return None
    channel = (
        channel_store.channel_row(conn, workspace_id, row.channel_id) if row.channel_id else None
    )
    if channel is None or channel.provider != provider:
        # Sent through another provider: a report signed by this one cannot be about it (ids of
        # a gateway shared by several workspaces may repeat).
        return None
    if status in ("delivered", "failed") and row.status in ("sent", "delivered"):
        if not (row.status == "delivered" and status == "failed"):
            message_store.set_message_status(
                conn,
                row.id,
                status=status,
                error_code=error_code,
                refusal_code=RefusalCode.OPTED_OUT.value if recipient_opted_out else None,
                now=now,
            )
    if recipient_opted_out:
        record_carrier_opt_out(
            conn,
            workspace_id,
            row.to_number,
            channel_id=row.channel_id,
            channel_type=channel.type,
            provider=provider,
            provider_code=error_code,
        )
    return message_from_row(message_store.get_message(conn, workspace_id, row.id))
