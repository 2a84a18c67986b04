"""SQL for outbound message rows: insert, read, list, cancel, status updates.

The queue's claim and hand-off statements are in `store.send_queue`.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Connection,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Row

from stopline.store.tables import (
    messages,
)

# Not yet handed to a provider; `sending` is claimed by a worker under a lease.
WAITING = ("queued", "scheduled")


def new_sid() -> str:
    """A Twilio-shaped message SID: "SM" and 32 hex digits."""
    return "SM" + secrets.token_hex(16)


def _new_id(result: Any) -> int:
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


_INSERT_MESSAGE = insert(messages)  # built once: `.values(**row)` per call costs 10x the insert


def insert_message(conn: Connection, **values: Any) -> int:
    return _new_id(conn.execute(_INSERT_MESSAGE, values))


def get_message(conn: Connection, workspace_id: int, message_id: int) -> Row[Any] | None:
    return conn.execute(
        select(messages).where(messages.c.workspace_id == workspace_id, messages.c.id == message_id)
    ).one_or_none()


def message_by_sid(conn: Connection, workspace_id: int, sid: str) -> Row[Any] | None:
    return conn.execute(
        select(messages).where(messages.c.workspace_id == workspace_id, messages.c.sid == sid)
    ).one_or_none()


def message_by_idempotency_key(conn: Connection, workspace_id: int, key: str) -> Row[Any] | None:
    return conn.execute(
        select(messages).where(
            messages.c.workspace_id == workspace_id, messages.c.idempotency_key == key
        )
    ).one_or_none()


def list_messages(
    conn: Connection,
    workspace_id: int,
    *,
    direction: str | None = None,
    status: str | None = None,
    to_number: str | None = None,
    from_address: str | None = None,
    campaign_id: int | None = None,
    source: str | None = None,
    before_id: int | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[Row[Any]]:
    """Newest first. `before_id` pages by keyset (stable while new messages arrive)."""
    query = select(messages).where(messages.c.workspace_id == workspace_id)
    if direction is not None:
        query = query.where(messages.c.direction == direction)
    if status is not None:
        query = query.where(messages.c.status == status)
    if to_number is not None:
        query = query.where(messages.c.to_number == to_number)
    if from_address is not None:
        query = query.where(messages.c.from_address == from_address)
    if campaign_id is not None:
        query = query.where(messages.c.campaign_id == campaign_id)
    if source is not None:
        query = query.where(messages.c.source == source)
    if before_id is not None:
        query = query.where(messages.c.id < before_id)
    query = query.order_by(messages.c.id.desc()).limit(limit).offset(offset)
    return list(conn.execute(query))


def cancel_message(conn: Connection, workspace_id: int, message_id: int, now: datetime) -> bool:
    """Cancel one message not yet claimed by a worker (queued or scheduled)."""
    result = conn.execute(
        update(messages)
        .where(
            messages.c.workspace_id == workspace_id,
            messages.c.id == message_id,
            messages.c.status.in_(WAITING),
        )
        .values(status="canceled", updated_at=now, lease_owner=None)
    )
    return bool(result.rowcount)


def message_by_provider_id(
    conn: Connection, workspace_id: int, provider_message_id: str
) -> Row[Any] | None:
    return conn.execute(
        select(messages).where(
            messages.c.workspace_id == workspace_id,
            messages.c.direction == "out",
            messages.c.provider_message_id == provider_message_id,
        )
    ).one_or_none()


def set_message_status(
    conn: Connection,
    message_id: int,
    *,
    status: str,
    error_code: str | None,
    refusal_code: str | None,
    now: datetime,
) -> None:
    values: dict[str, Any] = {"status": status, "updated_at": now}
    if error_code is not None:
        values["error_code"] = error_code
    if refusal_code is not None:
        values["refusal_code"] = refusal_code
    conn.execute(update(messages).where(messages.c.id == message_id).values(**values))
