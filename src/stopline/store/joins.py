"""SQL for joining lists: join settings, the hosted form's consent text versions, and pending
double opt-in requests."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, insert, select, update
from sqlalchemy.engine import Row

from stopline.store.db import driver_connection, is_sqlite
from stopline.store.tables import consent_text_versions, list_joins, lists, optin_requests

_JOIN = select(
    list_joins.c.list_id,
    list_joins.c.workspace_id,
    list_joins.c.slug,
    list_joins.c.keywords,
    list_joins.c.request_text,
    list_joins.c.form_enabled,
    lists.c.name.label("list_name"),
).select_from(list_joins.join(lists, lists.c.id == list_joins.c.list_id))


def get_join(conn: Connection, workspace_id: int, list_id: int) -> Row[Any] | None:
    return conn.execute(
        _JOIN.where(list_joins.c.workspace_id == workspace_id, list_joins.c.list_id == list_id)
    ).one_or_none()


def join_by_slug(conn: Connection, slug: str) -> Row[Any] | None:
    return conn.execute(_JOIN.where(list_joins.c.slug == slug)).one_or_none()


def joins_of(conn: Connection, workspace_id: int) -> list[Row[Any]]:
    return list(
        conn.execute(_JOIN.where(list_joins.c.workspace_id == workspace_id).order_by(lists.c.id))
    )


_WORDS_SQL = "SELECT list_id, keywords FROM list_joins WHERE workspace_id = {}"


def join_words(conn: Connection, workspace_id: int) -> list[tuple[int, Any]]:
    """(list id, stored keywords) of the workspace's joinable lists: every one-word inbound
    text asks, so this goes straight to the driver (one round trip, no statement building)."""
    sql = _WORDS_SQL.format("?" if is_sqlite(conn) else "%s")
    cursor = driver_connection(conn).cursor()
    try:
        cursor.execute(sql, (workspace_id,))
        return [(int(row[0]), row[1]) for row in cursor.fetchall()]
    finally:
        cursor.close()


def save_join(conn: Connection, workspace_id: int, list_id: int, **values: Any) -> None:
    exists = conn.execute(
        select(list_joins.c.list_id).where(
            list_joins.c.workspace_id == workspace_id, list_joins.c.list_id == list_id
        )
    ).first()
    if exists is None:
        conn.execute(
            insert(list_joins).values(workspace_id=workspace_id, list_id=list_id, **values)
        )
    else:
        conn.execute(
            update(list_joins)
            .where(list_joins.c.workspace_id == workspace_id, list_joins.c.list_id == list_id)
            .values(**{k: v for k, v in values.items() if k != "slug"})
        )


def latest_text(conn: Connection, workspace_id: int, list_id: int) -> Row[Any] | None:
    return conn.execute(
        select(consent_text_versions)
        .where(
            consent_text_versions.c.workspace_id == workspace_id,
            consent_text_versions.c.list_id == list_id,
        )
        .order_by(consent_text_versions.c.version.desc())
        .limit(1)
    ).one_or_none()


def insert_text(conn: Connection, **values: Any) -> None:
    conn.execute(insert(consent_text_versions).values(**values))


def insert_request(conn: Connection, **values: Any) -> int:
    result = conn.execute(insert(optin_requests).values(**values))
    return int(result.inserted_primary_key[0])  # type: ignore[index]


def pending_request(
    conn: Connection, workspace_id: int, number: str, now: datetime
) -> Row[Any] | None:
    """The number's newest unexpired pending request (the one a YES answers)."""
    return conn.execute(
        select(optin_requests)
        .where(
            optin_requests.c.workspace_id == workspace_id,
            optin_requests.c.number == number,
            optin_requests.c.status == "pending",
            optin_requests.c.expires_at > now,
        )
        .order_by(optin_requests.c.requested_at.desc(), optin_requests.c.id.desc())
        .limit(1)
    ).one_or_none()


def requests_of(conn: Connection, workspace_id: int, number: str) -> list[Row[Any]]:
    return list(
        conn.execute(
            select(optin_requests)
            .where(optin_requests.c.workspace_id == workspace_id, optin_requests.c.number == number)
            .order_by(optin_requests.c.id)
        )
    )


def set_request(conn: Connection, request_id: int, **values: Any) -> None:
    conn.execute(update(optin_requests).where(optin_requests.c.id == request_id).values(**values))


def cancel_pending(conn: Connection, workspace_id: int, number: str, now: datetime) -> int:
    result = conn.execute(
        update(optin_requests)
        .where(
            optin_requests.c.workspace_id == workspace_id,
            optin_requests.c.number == number,
            optin_requests.c.status == "pending",
        )
        .values(status="canceled", answered_at=now)
    )
    return result.rowcount or 0


def expire_due(conn: Connection, now: datetime) -> int:
    """Mark every pending request past its window expired (nothing is subscribed)."""
    result = conn.execute(
        update(optin_requests)
        .where(optin_requests.c.status == "pending", optin_requests.c.expires_at <= now)
        .values(status="expired")
    )
    return result.rowcount or 0


def recent_requests(conn: Connection, workspace_id: int, number: str, since: datetime) -> int:
    return int(
        conn.execute(
            select(func.count()).where(
                optin_requests.c.workspace_id == workspace_id,
                optin_requests.c.number == number,
                optin_requests.c.requested_at >= since,
            )
        ).scalar()
        or 0
    )
