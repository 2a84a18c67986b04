"""SQL for evidence packets: the messages exchanged with one number, with their channel's type."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select, union_all

from stopline.store.tables import channels, messages

MAX_MESSAGES = 2000  # a packet is read by people: the newest this many are plenty


def messages_with(conn: Connection, workspace_id: int, number: str) -> list[dict[str, Any]]:
    """Every message to or from `number` (newest `MAX_MESSAGES`), oldest first.

    Two index seeks, one a direction (what it sent us: the partial index of inbound senders;
    what we sent it: the recipient index), rather than one OR that scans the workspace."""
    columns = (
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
    joined = messages.outerjoin(channels, channels.c.id == messages.c.channel_id)

    def newest(*where: Any) -> Any:
        # Each side in a subquery of its own: SQLite takes no LIMIT inside a compound select.
        side = (
            select(*columns)
            .select_from(joined)
            .where(messages.c.workspace_id == workspace_id, *where)
            .order_by(messages.c.created_at.desc(), messages.c.id.desc())
            .limit(MAX_MESSAGES)
            .subquery()
        )
        return select(side)

    both = union_all(
        newest(messages.c.direction == "in", messages.c.from_address == number),
        newest(messages.c.direction == "out", messages.c.to_number == number),
    ).subquery("m")
    query = select(both).order_by(both.c.created_at.desc(), both.c.id.desc()).limit(MAX_MESSAGES)
    rows = [dict(row._mapping) for row in conn.execute(query)]
    rows.reverse()
    return rows
