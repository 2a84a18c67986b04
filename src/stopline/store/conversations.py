"""SQL for conversations of outbound sends: one per (channel, number)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Connection,
    bindparam,
    or_,
    select,
    update,
)

from stopline.store.db import dialect_insert
from stopline.store.tables import (
    conversations,
)


def ensure_conversation(
    conn: Connection,
    workspace_id: int,
    channel_id: int,
    number: str,
    *,
    now: datetime | None = None,
) -> int:
    """The conversation of (channel, number), created if new; concurrent callers get the same id."""
    found = conn.execute(
        select(conversations.c.id).where(
            conversations.c.workspace_id == workspace_id,
            conversations.c.channel_id == channel_id,
            conversations.c.number == number,
        )
    ).scalar_one_or_none()
    if found is not None:
        return int(found)
    from stopline.services.consent import now_utc

    stmt = (
        dialect_insert(conn, conversations)
        .values(
            workspace_id=workspace_id,
            channel_id=channel_id,
            number=number,
            status="open",
            created_at=now or now_utc(),
        )
        .on_conflict_do_nothing(index_elements=["workspace_id", "channel_id", "number"])
    )
    conn.execute(stmt)
    return int(
        conn.execute(
            select(conversations.c.id).where(
                conversations.c.workspace_id == workspace_id,
                conversations.c.channel_id == channel_id,
                conversations.c.number == number,
            )
        ).scalar_one()
    )


_TOUCH_CONVERSATION = (
    update(conversations)
    .where(
        conversations.c.id == bindparam("conversation"),
        or_(
            conversations.c.last_message_at.is_(None),
            conversations.c.last_message_at < bindparam("at"),
        ),
    )
    .values(last_message_at=bindparam("at"))
)


def touch_conversation(conn: Connection, conversation_id: int, at: datetime) -> None:
    conn.execute(_TOUCH_CONVERSATION, {"conversation": conversation_id, "at": at})
