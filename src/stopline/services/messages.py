"""Outbound messages as senders see them: the record, reading, listing and cancelling."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from stopline.domain.consent import utc
from stopline.domain.errors import InvalidInput, NotFound
from stopline.domain.numbers import normalize
from stopline.services.consent import now_utc
from stopline.services.workspaces import get_workspace
from stopline.store import messages as message_store

STATUSES = ("queued", "scheduled", "sending", "sent", "delivered", "failed", "canceled")


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
    category: str = "informational"
    hold_reason: str | None = None  # why it waits or waited: quiet_hours, frequency_cap
    send_decision: dict[str, Any] | None = None  # the send-time decision, explained
    available_at: datetime | None = None  # when a waiting message may go

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
            "category": self.category,
            "hold_reason": self.hold_reason,
            "available_at": _iso(self.available_at) if self.status == "scheduled" else None,
            "send_decision": self.send_decision,
        }


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
        category=row.category,
        hold_reason=row.hold_reason,
        send_decision=row.send_decision,
        available_at=_opt_utc(row.available_at),
    )


def get_message(conn: Connection, workspace_id: int, ref: str | int) -> QueuedMessage:
    """A message by SID or numeric id."""
    row = None
    if isinstance(ref, int) or (isinstance(ref, str) and ref.isdigit()):
        row = message_store.get_message(conn, workspace_id, int(ref))
    elif isinstance(ref, str):
        row = message_store.message_by_sid(conn, workspace_id, ref.strip())
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
    rows = message_store.list_messages(
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
    if not message_store.cancel_message(conn, workspace_id, message.id, now or now_utc()):
        from stopline.domain.errors import Conflict

        raise Conflict(
            f"Message {message.sid} is {message.status}; only queued or scheduled messages "
            "can be cancelled.",
            code="message_not_cancelable",
        )
    return get_message(conn, workspace_id, message.id)
