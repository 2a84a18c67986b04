"""SQL for inbound processing: claim a provider message once, conversations, lists, review items."""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any, NamedTuple

from sqlalchemy import Connection, func, insert, select, update
from sqlalchemy.engine import Row

from stopline.store.db import driver_connection, is_sqlite
from stopline.store.tables import (
    channels,
    conversations,
    lists,
    messages,
    review_items,
)

# The provider's message id is unique per workspace and direction (uq_messages_provider_id):
# the insert that wins it is the only one that processes the message.
_PROVIDER_KEY = ["workspace_id", "direction", "provider_message_id"]


def new_sid() -> str:
    """A Twilio-shaped message SID (SM + 32 hex), for inbound and outbound rows alike."""
    return "SM" + secrets.token_hex(16)


def channel_row(conn: Connection, channel_id: int) -> Row[Any] | None:
    """A channel and its encrypted credentials, by id (any workspace: the id routes webhooks)."""
    return conn.execute(
        select(
            channels.c.id,
            channels.c.workspace_id,
            channels.c.address,
            channels.c.provider,
            channels.c.type,
            channels.c.credentials,
        ).where(channels.c.id == channel_id)
    ).one_or_none()


def settings_text(conn: Connection, workspace_id: int) -> str | None:
    """A workspace's settings as stored JSON text: a cheap cache key for the parsed Policy."""
    row = _fetchone(conn, _SETTINGS_SQL, {"ws": workspace_id})
    return str(row[0]) if row is not None else None


def claim_inbound(conn: Connection, values: dict[str, Any]) -> int | None:
    """Insert an inbound message unless its provider id is already stored; its id, or None.

    `ON CONFLICT DO NOTHING` on the unique key: a concurrent duplicate on PostgreSQL waits for
    the first insert's transaction and then does nothing; SQLite's write lock serialises them.
    """
    params = {column: values.get(column) for column in _CLAIM_COLUMNS}
    params["sid"] = values.get("sid") or new_sid()
    params["direction"] = "in"
    params["attempts"] = 0
    for column in ("created_at", "updated_at"):
        params[column] = _processed(conn, messages.c[column], params[column])
    row = _fetchone(conn, _CLAIM_SQL, params)
    return int(row[0]) if row is not None else None


def inbound_by_provider_id(
    conn: Connection, workspace_id: int, provider_message_id: str
) -> Row[Any] | None:
    return conn.execute(
        select(messages).where(
            messages.c.workspace_id == workspace_id,
            messages.c.direction == "in",
            messages.c.provider_message_id == provider_message_id,
        )
    ).one_or_none()


def conversation_for(
    conn: Connection, workspace_id: int, channel_id: int, number: str
) -> int | None:
    row = _fetchone(
        conn, _CONVERSATION_SQL, {"ws": workspace_id, "channel": channel_id, "number": number}
    )
    return int(row[0]) if row is not None else None


def open_conversation(
    conn: Connection, workspace_id: int, channel_id: int, number: str, now: datetime
) -> int:
    """The conversation with `number` on the channel, created open if there is none.

    The same contract as `store.conversations.ensure_conversation`, in driver SQL because every
    first message from a number runs it on the webhook's hot path.
    """
    found = conversation_for(conn, workspace_id, channel_id, number)
    if found is not None:
        return found
    params = {
        "ws": workspace_id,
        "channel": channel_id,
        "number": number,
        "at": _processed(conn, conversations.c.created_at, now),
    }
    row = _fetchone(conn, _NEW_CONVERSATION_SQL, params)
    if row is not None:
        return int(row[0])
    found = conversation_for(conn, workspace_id, channel_id, number)  # a concurrent insert won
    assert found is not None
    return found


def append_to_conversation(conn: Connection, conversation_id: int, at: datetime) -> None:
    """A visible inbound message: the conversation moves up and is open (a STOP never closes it)."""
    _execute(
        conn,
        _APPEND_SQL,
        {"id": conversation_id, "at": _processed(conn, conversations.c.last_message_at, at)},
    )


def visible_messages(conn: Connection, workspace_id: int, conversation_id: int) -> list[Row[Any]]:
    """A conversation's messages as the inbox shows them: hidden ones (blocked senders) left out."""
    return list(
        conn.execute(
            select(messages)
            .where(
                messages.c.workspace_id == workspace_id,
                messages.c.conversation_id == conversation_id,
                messages.c.hidden.is_(False),
            )
            .order_by(messages.c.id)
        )
    )


def hidden_inbound_count(conn: Connection, workspace_id: int, number: str | None = None) -> int:
    query = select(func.count()).where(
        messages.c.workspace_id == workspace_id,
        messages.c.direction == "in",
        messages.c.hidden.is_(True),
    )
    if number is not None:
        query = query.where(messages.c.from_address == number)
    return int(conn.execute(query).scalar_one())


class KeywordList(NamedTuple):
    id: int
    name: str
    keywords: Any  # JSON: a dict (or its text on SQLite)
    help_text: str | None
    replies: Any = None  # JSON: the list's own opt_out / opt_in confirmations, if any


def keyword_lists(conn: Connection, workspace_id: int) -> list[KeywordList]:
    """The workspace's lists, with their keywords and HELP text (seed 001)."""
    return [KeywordList(*row) for row in _fetchall(conn, _LISTS_SQL, {"ws": workspace_id})]


def list_ids_of(conn: Connection, workspace_id: int) -> set[int]:
    return set(
        conn.execute(select(lists.c.id).where(lists.c.workspace_id == workspace_id)).scalars()
    )


# --- the hot path's statements, straight to the DB-API cursor -----------------------------------
# Every inbound webhook runs these; going to the driver skips SQLAlchemy's statement building
# and compilation (most of a webhook's cost otherwise). Same SQL on both databases; only the
# parameter style differs.


class _Sql:
    def __init__(self, sql: str) -> None:
        self.sqlite = sql
        self.pg = re.sub(r":(\w+)", r"%(\1)s", sql)


_CLAIM_COLUMNS = (
    "sid",
    "workspace_id",
    "direction",
    "channel_id",
    "conversation_id",
    "from_address",
    "to_number",
    "body",
    "kind",
    "source",
    "status",
    "provider",
    "provider_message_id",
    "hidden",
    "attempts",
    "created_at",
    "updated_at",
)
_CLAIM_SQL = _Sql(
    f"INSERT INTO messages ({', '.join(_CLAIM_COLUMNS)}) "
    f"VALUES ({', '.join(':' + c for c in _CLAIM_COLUMNS)}) "
    "ON CONFLICT (workspace_id, direction, provider_message_id) DO NOTHING RETURNING id"
)
_SETTINGS_SQL = _Sql("SELECT CAST(settings AS TEXT) FROM workspaces WHERE id = :ws")
_CONVERSATION_SQL = _Sql(
    "SELECT id FROM conversations "
    "WHERE workspace_id = :ws AND channel_id = :channel AND number = :number"
)
_NEW_CONVERSATION_SQL = _Sql(
    "INSERT INTO conversations (workspace_id, channel_id, number, status, created_at) "
    "VALUES (:ws, :channel, :number, 'open', :at) "
    "ON CONFLICT (workspace_id, channel_id, number) DO NOTHING RETURNING id"
)
_APPEND_SQL = _Sql(
    "UPDATE conversations SET status = 'open', last_message_at = CASE "
    "WHEN last_message_at IS NULL OR last_message_at < :at THEN :at ELSE last_message_at END "
    "WHERE id = :id"
)
_LISTS_SQL = _Sql(
    "SELECT id, name, keywords, help_text, replies FROM lists WHERE workspace_id = :ws ORDER BY id"
)


def _run(conn: Connection, sql: _Sql, params: dict[str, Any], fetch: str) -> Any:
    cursor = driver_connection(conn).cursor()
    try:
        cursor.execute(sql.sqlite if is_sqlite(conn) else sql.pg, params)
        if fetch == "one":
            return cursor.fetchone()
        if fetch == "all":
            return cursor.fetchall()
        return None
    finally:
        cursor.close()


def _fetchone(conn: Connection, sql: _Sql, params: dict[str, Any]) -> Any:
    return _run(conn, sql, params, "one")


def _fetchall(conn: Connection, sql: _Sql, params: dict[str, Any]) -> list[Any]:
    return list(_run(conn, sql, params, "all"))


def _execute(conn: Connection, sql: _Sql, params: dict[str, Any]) -> None:
    _run(conn, sql, params, "none")


_processors: dict[tuple[str, Any], Any] = {}


def _processed(conn: Connection, column: Any, value: Any) -> Any:
    """`value` as SQLAlchemy binds it for `column` (SQLite keeps timestamps as its own text)."""
    dialect = conn.dialect
    key = (dialect.name, column)
    if key not in _processors:
        _processors[key] = column.type.dialect_impl(dialect).bind_processor(dialect)
    processor = _processors[key]
    return processor(value) if processor is not None else value


# --- review queue -----------------------------------------------------------------------------


def insert_review_item(conn: Connection, **values: Any) -> int:
    key = conn.execute(insert(review_items).values(**values)).inserted_primary_key
    assert key is not None
    return int(key[0])


def review_items_of(
    conn: Connection,
    workspace_id: int,
    *,
    status: str | None = "pending",
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[Row[Any]], int]:
    """Review items, soonest deadline first (then oldest), and how many match in all."""
    where = [review_items.c.workspace_id == workspace_id]
    if status is not None:
        where.append(review_items.c.status == status)
    rows = list(
        conn.execute(
            select(review_items)
            .where(*where)
            .order_by(review_items.c.deadline, review_items.c.id)
            .limit(limit)
            .offset(offset)
        )
    )
    total = int(conn.execute(select(func.count()).where(*where)).scalar_one())
    return rows, total


def review_item(conn: Connection, workspace_id: int, item_id: int) -> Row[Any] | None:
    return conn.execute(
        select(review_items).where(
            review_items.c.workspace_id == workspace_id, review_items.c.id == item_id
        )
    ).one_or_none()


def resolve_review_item(
    conn: Connection,
    workspace_id: int,
    item_id: int,
    *,
    status: str,
    resolved_by: str,
    now: datetime,
) -> bool:
    """Mark a pending item resolved; False if it was not pending (someone else resolved it)."""
    result = conn.execute(
        update(review_items)
        .where(
            review_items.c.workspace_id == workspace_id,
            review_items.c.id == item_id,
            review_items.c.status == "pending",
        )
        .values(status=status, resolved_by=resolved_by, resolved_at=now)
    )
    return bool(result.rowcount)


def pending_review_for(
    conn: Connection, workspace_id: int, number: str, channel_ids: Sequence[int] | None = None
) -> list[Row[Any]]:
    query = (
        select(review_items)
        .where(
            review_items.c.workspace_id == workspace_id,
            review_items.c.number == number,
            review_items.c.status == "pending",
        )
        .order_by(review_items.c.deadline, review_items.c.id)
    )
    if channel_ids is not None:
        query = query.where(review_items.c.channel_id.in_(list(channel_ids)))
    return list(conn.execute(query))


def overdue_count(conn: Connection, workspace_id: int, today: date) -> int:
    return int(
        conn.execute(
            select(func.count()).where(
                review_items.c.workspace_id == workspace_id,
                review_items.c.status == "pending",
                review_items.c.deadline < today,
            )
        ).scalar_one()
    )


def pending_review_numbers(conn: Connection, workspace_id: int) -> set[str]:
    """Numbers with a pending review item (a handful): a bulk opt-out resolves only those."""
    return set(
        conn.execute(
            select(review_items.c.number).where(
                review_items.c.workspace_id == workspace_id, review_items.c.status == "pending"
            )
        ).scalars()
    )


def resolve_pending_reviews(
    conn: Connection,
    workspace_id: int,
    numbers: Sequence[str],
    *,
    channel_ids: Sequence[int] | None,
    resolved_by: str,
    note: str,
    now: datetime,
) -> int:
    """Resolve the pending items of `numbers` as opted out (those of `channel_ids` only, if
    given): the number opted out by another way, so nobody has to decide any more."""
    if not numbers:
        return 0
    query = update(review_items).where(
        review_items.c.workspace_id == workspace_id,
        review_items.c.status == "pending",
        review_items.c.number.in_(list(numbers)),
    )
    if channel_ids is not None:
        query = query.where(review_items.c.channel_id.in_(list(channel_ids)))
    result = conn.execute(
        query.values(
            status="opted_out", resolved_by=resolved_by, resolved_at=now, resolution_note=note
        )
    )
    return int(result.rowcount or 0)
