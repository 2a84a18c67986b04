"""SQL for evidence packets: the messages exchanged with one number, with their channel's type."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, and_, or_, select

from stopline.store.tables import channels, messages

MAX_MESSAGES = 2000  # a packet is read by people: the newest this many are plenty


def messages_with(conn: Connection, workspace_id: int, number: str) -> list[dict[str, Any]]:
    """Every message to or from `number` (newest `MAX_MESSAGES`), oldest first."""
    query = (
        select(
            messages.c.id,
            messages.c.sid,
            messages.c.direction,
            messages.c.channel_id,
            channels.c.type.label("channel_type"),
            channels.c.address.label("channel_address"),
            messages.c.from_address,
            messages.c.to_number,
            messages.c.body,
            messages.c.kind,
            messages.c.source,
            messages.c.status,
            messages.c.refusal_code,
            messages.c.provider_message_id,
            messages.c.created_at,
            messages.c.handed_at,
        )
        .select_from(messages.outerjoin(channels, channels.c.id == messages.c.channel_id))
        .where(
            messages.c.workspace_id == workspace_id,
            or_(
                and_(messages.c.direction == "in", messages.c.from_address == number),
                and_(messages.c.direction == "out", messages.c.to_number == number),
            ),
        )
        .order_by(messages.c.created_at.desc(), messages.c.id.desc())
        .limit(MAX_MESSAGES)
    )
    rows = [dict(row._mapping) for row in conn.execute(query)]
    rows.reverse()
    return rows
