"""The inbox as the team uses it: conversations, their threads, replies, close and reopen.

A conversation closes only when a person closes it: a STOP never closes it (seed 000), and a
new inbound message reopens it. Replies go through `sending.enqueue`, so the gate's refusal
comes back at once and is shown in plain words.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from stopline.domain.consent import utc
from stopline.domain.errors import InvalidInput, NotFound
from stopline.services.consent import now_utc
from stopline.services.workspaces import Principal
from stopline.store import inbox as store

STATUSES = ("open", "closed")


@dataclass(frozen=True)
class ConversationSummary:
    id: int
    number: str
    status: str
    last_message_at: datetime | None
    channel_id: int
    channel_name: str
    contact_id: int | None
    contact_name: str | None
    last_body: str | None
    last_direction: str | None
    last_status: str | None = None
    last_kind: str | None = None
    last_scheduled_at: datetime | None = None


@dataclass(frozen=True)
class Conversation:
    id: int
    number: str
    status: str
    channel_id: int
    channel_name: str
    channel_address: str
    channel_type: str
    last_message_at: datetime | None


@dataclass(frozen=True)
class ThreadMessage:
    id: int
    direction: str
    body: str
    status: str
    kind: str
    refusal_code: str | None
    error_message: str | None
    sent_by: str | None
    created_at: datetime
    scheduled_at: datetime | None = None
    category: str = "informational"
    # A message held by the send-time rules: until when, in the recipient's offset, and why.
    held_until: str | None = None
    hold_reason: str | None = None


def list_conversations(
    conn: Connection,
    workspace_id: int,
    *,
    status: str | None = "open",
    search: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[ConversationSummary], int]:
    if status is not None and status not in STATUSES:
        raise InvalidInput("Status is open or closed.", code="status_invalid")
    rows, total = store.list_conversations(
        conn,
        workspace_id,
        status=status,
        search=(search or "").strip() or None,
        limit=limit,
        offset=offset,
    )
    return [
        ConversationSummary(
            id=r.id,
            number=r.number,
            status=r.status,
            last_message_at=utc(r.last_message_at) if r.last_message_at else None,
            channel_id=r.channel_id,
            channel_name=r.channel_name or r.channel_address,
            contact_id=r.contact_id,
            contact_name=r.contact_name,
            last_body=r.last_body,
            last_direction=r.last_direction,
            last_status=r.last_status,
            last_kind=r.last_kind,
            last_scheduled_at=utc(r.last_scheduled_at) if r.last_scheduled_at else None,
        )
        for r in rows
    ], total


def get_conversation(conn: Connection, workspace_id: int, conversation_id: int) -> Conversation:
    row = store.get_conversation(conn, workspace_id, conversation_id)
    if row is None:
        raise NotFound("No such conversation in this workspace.", code="conversation_not_found")
    return Conversation(
        id=row.id,
        number=row.number,
        status=row.status,
        channel_id=row.channel_id,
        channel_name=row.channel_name or row.channel_address,
        channel_address=row.channel_address,
        channel_type=row.channel_type,
        last_message_at=utc(row.last_message_at) if row.last_message_at else None,
    )


def thread(conn: Connection, workspace_id: int, conversation_id: int) -> list[ThreadMessage]:
    """The messages the inbox shows: texts from a blocked number stay hidden (inbound rule 9)."""
    from stopline.store.inbound import visible_messages

    return [_message(r) for r in visible_messages(conn, workspace_id, conversation_id)]


def conversation_with(
    conn: Connection, workspace_id: int, channel_id: int, number: str
) -> int | None:
    """The id of the conversation between this channel and this number, if there is one."""
    return store.conversation_id_for(conn, workspace_id, channel_id, number)


def _message(row: Any) -> ThreadMessage:
    return ThreadMessage(
        id=int(row.id),
        direction=row.direction,
        body=row.body,
        status=row.status,
        kind=row.kind,
        refusal_code=row.refusal_code,
        error_message=row.error_message,
        sent_by=row.sent_by,
        created_at=utc(row.created_at),
        scheduled_at=utc(row.scheduled_at) if row.scheduled_at else None,
        category=row.category,
        held_until=(row.send_decision or {}).get("until") if row.status == "scheduled" else None,
        hold_reason=row.hold_reason if row.status == "scheduled" else None,
    )


def set_status(conn: Connection, principal: Principal, conversation_id: int, status: str) -> None:
    """Close or reopen; any member may."""
    principal.require("member")
    if status not in STATUSES:
        raise InvalidInput("Status is open or closed.", code="status_invalid")
    if not store.set_status(conn, principal.workspace_id, conversation_id, status):
        raise NotFound("No such conversation in this workspace.", code="conversation_not_found")


def reply(conn: Connection, principal: Principal, conversation_id: int, body: str) -> Any:
    """Queue a reply in the conversation; a refused one comes back with its `refusal_code`."""
    from stopline.services import queueing

    conversation = get_conversation(conn, principal.workspace_id, conversation_id)
    if not body.strip():
        raise InvalidInput("Write a message first.", code="body_required")
    from stopline.services import send_time

    now = now_utc()
    return queueing.enqueue(
        conn,
        principal.workspace_id,
        channel_id=conversation.channel_id,
        to=conversation.number,
        body=body,
        source="inbox",
        sent_by=principal.actor,
        # Conversational (no send-time limits) if they wrote in the last 24 h, else a notice.
        category=send_time.reply_category(conn, conversation_id, now),
        now=now,
    )


def counts(conn: Connection, workspace_id: int) -> dict[str, int]:
    return store.status_counts(conn, workspace_id)


def hidden_inbound_count(conn: Connection, workspace_id: int, number: str | None = None) -> int:
    """How many messages from blocked numbers were kept out of the inbox (rule 9: counted)."""
    from stopline.store.inbound import hidden_inbound_count as count

    return count(conn, workspace_id, number)


def visible_messages(conn: Connection, workspace_id: int, conversation_id: int) -> list[Any]:
    """The stored rows of a conversation the inbox shows (a blocked number's stay hidden)."""
    from stopline.store.inbound import visible_messages as rows

    return rows(conn, workspace_id, conversation_id)


# --- read markers and the live inbox ------------------------------------------------------------


def unread_ids(
    conn: Connection, workspace_id: int, user_id: int, conversation_ids: list[int]
) -> set[int]:
    """Which of these conversations have inbound texts this person has not seen."""
    return store.unread_ids(conn, workspace_id, user_id, conversation_ids)


def unread_count(conn: Connection, workspace_id: int, user_id: int) -> int:
    return store.unread_count(conn, workspace_id, user_id)


def mark_seen(conn: Connection, workspace_id: int, user_id: int, conversation_id: int) -> None:
    """This person has the conversation open: everything in it up to now counts as read."""
    newest = store.newest_visible_id(conn, workspace_id, conversation_id)
    if newest is not None:
        store.mark_read(conn, workspace_id, user_id, conversation_id, int(newest))


def change_stamp(conn: Connection, workspace_id: int) -> str:
    """A short text that changes whenever anything the inbox shows may have changed."""
    import hashlib

    raw = repr(store.change_stamp(conn, workspace_id)).encode()
    return hashlib.sha256(raw).hexdigest()[:16]
