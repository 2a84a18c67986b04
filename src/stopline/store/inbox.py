"""SQL for the inbox: conversations with their last visible message and contact; open or closed."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, and_, func, or_, select, update
from sqlalchemy.engine import Row

from stopline.store.tables import channels, contact_numbers, contacts, conversations, messages


def _last_message_id() -> Any:
    return (
        select(func.max(messages.c.id))
        .where(
            messages.c.conversation_id == conversations.c.id,
            messages.c.hidden.is_(False),
        )
        .scalar_subquery()
    )


def list_conversations(
    conn: Connection,
    workspace_id: int,
    *,
    status: str | None,
    search: str | None,
    limit: int,
    offset: int,
) -> tuple[list[Row[Any]], int]:
    """Newest activity first, with the contact's name and the last message shown in the inbox."""
    last_id = _last_message_id().label("last_id")
    joined = (
        conversations.join(channels, channels.c.id == conversations.c.channel_id)
        .outerjoin(
            contact_numbers,
            and_(
                contact_numbers.c.workspace_id == conversations.c.workspace_id,
                contact_numbers.c.number == conversations.c.number,
            ),
        )
        .outerjoin(contacts, contacts.c.id == contact_numbers.c.contact_id)
    )
    conditions: list[Any] = [conversations.c.workspace_id == workspace_id]
    if status:
        conditions.append(conversations.c.status == status)
    if search:
        digits = "".join(ch for ch in search if ch.isdigit())
        matches: list[Any] = [contacts.c.name.ilike(f"%{_escape_like(search)}%", escape="\\")]
        if digits:
            matches.append(conversations.c.number.contains(digits, autoescape=True))
        conditions.append(or_(*matches))
    total = conn.execute(select(func.count()).select_from(joined).where(*conditions)).scalar_one()
    inner = (
        select(
            conversations.c.id,
            conversations.c.number,
            conversations.c.status,
            conversations.c.last_message_at,
            conversations.c.created_at,
            conversations.c.channel_id,
            channels.c.name.label("channel_name"),
            channels.c.address.label("channel_address"),
            contacts.c.id.label("contact_id"),
            contacts.c.name.label("contact_name"),
            last_id,
        )
        .select_from(joined)
        .where(*conditions)
        .order_by(
            func.coalesce(conversations.c.last_message_at, conversations.c.created_at).desc(),
            conversations.c.id.desc(),
        )
        .limit(limit)
        .offset(offset)
    ).subquery()
    rows = conn.execute(
        select(
            inner,
            messages.c.body.label("last_body"),
            messages.c.direction.label("last_direction"),
        )
        .outerjoin(messages, messages.c.id == inner.c.last_id)
        .order_by(
            func.coalesce(inner.c.last_message_at, inner.c.created_at).desc(), inner.c.id.desc()
        )
    ).all()
    return list(rows), int(total)


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def get_conversation(conn: Connection, workspace_id: int, conversation_id: int) -> Row[Any] | None:
    return conn.execute(
        select(
            conversations,
            channels.c.name.label("channel_name"),
            channels.c.address.label("channel_address"),
            channels.c.type.label("channel_type"),
        )
        .select_from(conversations.join(channels, channels.c.id == conversations.c.channel_id))
        .where(conversations.c.workspace_id == workspace_id, conversations.c.id == conversation_id)
    ).one_or_none()


def conversation_id_for(
    conn: Connection, workspace_id: int, channel_id: int, number: str
) -> int | None:
    return conn.execute(
        select(conversations.c.id).where(
            conversations.c.workspace_id == workspace_id,
            conversations.c.channel_id == channel_id,
            conversations.c.number == number,
        )
    ).scalar()


def set_status(conn: Connection, workspace_id: int, conversation_id: int, status: str) -> int:
    return (
        conn.execute(
            update(conversations)
            .where(
                conversations.c.workspace_id == workspace_id,
                conversations.c.id == conversation_id,
            )
            .values(status=status)
        ).rowcount
        or 0
    )


def status_counts(conn: Connection, workspace_id: int) -> dict[str, int]:
    rows = conn.execute(
        select(conversations.c.status, func.count())
        .where(conversations.c.workspace_id == workspace_id)
        .group_by(conversations.c.status)
    ).all()
    return {str(r[0]): int(r[1]) for r in rows}
