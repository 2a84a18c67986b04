"""SQL for the inbox: conversations with their last visible message and contact; open or closed."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, and_, exists, func, insert, literal, or_, select, text, update
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError

from stopline.store.tables import (
    channels,
    contact_numbers,
    contacts,
    conversation_reads,
    conversations,
    messages,
)


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
            messages.c.status.label("last_status"),
            messages.c.kind.label("last_kind"),
            messages.c.scheduled_at.label("last_scheduled_at"),
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


# --- read markers and the live inbox ------------------------------------------------------------


def _with_reads(user_id: int) -> tuple[Any, Any]:
    """Conversations joined to this person's read marker, and "has an unseen inbound text".

    The marker comes from the join, not a subquery inside EXISTS (that was evaluated once per
    message): EXISTS is then one range seek on ix_messages_conversation past the marker.
    """
    joined = conversations.outerjoin(
        conversation_reads,
        and_(
            conversation_reads.c.conversation_id == conversations.c.id,
            conversation_reads.c.user_id == user_id,
        ),
    )
    unseen = exists().where(
        messages.c.conversation_id == conversations.c.id,
        messages.c.id > func.coalesce(conversation_reads.c.message_id, literal(0)),
        messages.c.direction == "in",
        messages.c.hidden.is_(False),
    )
    return joined, unseen


def unread_ids(
    conn: Connection, workspace_id: int, user_id: int, conversation_ids: list[int]
) -> set[int]:
    if not conversation_ids:
        return set()
    joined, unseen = _with_reads(user_id)
    return set(
        conn.execute(
            select(conversations.c.id)
            .select_from(joined)
            .where(
                conversations.c.workspace_id == workspace_id,
                conversations.c.id.in_(conversation_ids),
                unseen,
            )
        ).scalars()
    )


UNREAD_WINDOW = 200  # the most recently active conversations the navigation counts (bounded work)


def unread_count(conn: Connection, workspace_id: int, user_id: int) -> int:
    """Unread conversations among the UNREAD_WINDOW most recently active ones: bounded work on
    every page, however many conversations the workspace has had."""
    recent = (
        select(conversations.c.id)
        .where(conversations.c.workspace_id == workspace_id)
        .order_by(conversations.c.last_message_at.desc())
        .limit(UNREAD_WINDOW)
        .scalar_subquery()
    )
    joined, unseen = _with_reads(user_id)
    return int(
        conn.execute(
            select(func.count()).select_from(joined).where(conversations.c.id.in_(recent), unseen)
        ).scalar_one()
    )


def newest_visible_id(conn: Connection, workspace_id: int, conversation_id: int) -> int | None:
    return conn.execute(
        select(func.max(messages.c.id)).where(
            messages.c.workspace_id == workspace_id,
            messages.c.conversation_id == conversation_id,
            messages.c.hidden.is_(False),
        )
    ).scalar_one_or_none()


def mark_read(
    conn: Connection, workspace_id: int, user_id: int, conversation_id: int, message_id: int
) -> None:
    """Move this person's marker forward to `message_id` (never back)."""
    mine = (
        conversation_reads.c.user_id == user_id,
        conversation_reads.c.conversation_id == conversation_id,
    )
    conn.execute(
        update(conversation_reads)
        .where(*mine, conversation_reads.c.message_id < message_id)
        .values(message_id=message_id)
    )
    if conn.execute(select(literal(1)).where(*mine)).first() is not None:
        return
    try:
        with conn.begin_nested():
            conn.execute(
                insert(conversation_reads).values(
                    user_id=user_id,
                    conversation_id=conversation_id,
                    workspace_id=workspace_id,
                    message_id=message_id,
                )
            )
    except IntegrityError:  # the same person in two tabs: the other one wrote it
        pass


# Written out once: building and cache-keying the same statement through SQLAlchemy's
# expression language cost ~1 ms a poll, several times the query itself (benchmarks/inbox).
_STAMP_SQL = text(
    "SELECT"
    " (SELECT max(updated_at) FROM messages WHERE workspace_id = :ws),"
    " (SELECT max(last_message_at) FROM conversations WHERE workspace_id = :ws),"
    " (SELECT seq FROM ledger_heads WHERE workspace_id = :ws),"
    " (SELECT count(*) FROM review_items WHERE workspace_id = :ws AND status = 'pending')"
)


def change_stamp(conn: Connection, workspace_id: int) -> tuple[Any, ...]:
    """What the live inbox compares: the newest message update (a new message, a delivery
    status), the newest conversation activity, the ledger head (every consent change moves it)
    and the pending reviews. One statement of index seeks: a poll must cost next to nothing."""
    row = conn.execute(_STAMP_SQL, {"ws": workspace_id}).one()
    return tuple(str(v) for v in row)
