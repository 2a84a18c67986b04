"""Delivery-status webhooks: a provider's report on a message we sent moves its status forward,
and a carrier-reported opt-out is recorded with method `carrier`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine

from stopline.providers.base import StatusUpdate
from stopline.services.group_commit import submit_write
from stopline.services.inbound_context import InboundChannel


@dataclass(frozen=True)
class StatusOutcome:
    message_id: int | None  # None: not one of ours (or not recorded yet)
    status: str | None  # the message's status after the update


def receive_status(
    conn: Connection, channel: InboundChannel, update: StatusUpdate, *, now: datetime | None = None
) -> StatusOutcome:
    """A provider's report on a message we sent: its status moves forward, and a carrier-reported
    opt-out (Twilio 21610, Telnyx 40300, ...) records an opt-out with method `carrier`."""
    from stopline.services import provider_outcomes

    message = provider_outcomes.apply_status_update(
        conn,
        channel.workspace_id,
        provider=channel.provider,
        provider_message_id=update.provider_message_id,
        status=update.status,
        error_code=update.error_code,
        recipient_opted_out=update.recipient_opted_out,
        now=now,
    )
    if message is None:
        return StatusOutcome(None, None)
    return StatusOutcome(message.id, message.status)


def process_status(
    engine: Engine, channel: InboundChannel, update: StatusUpdate, *, now: datetime | None = None
) -> StatusOutcome:
    return submit_write(
        engine, lambda conn: receive_status(conn, channel, update, now=now)
    ).result()
