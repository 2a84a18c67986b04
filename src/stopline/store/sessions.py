"""SQL for the browser's people: sessions, sign-in attempts, memberships and API keys."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update
from sqlalchemy.engine import Row

from stopline.store.tables import (
    api_keys,
    members,
    sign_in_attempts,
    users,
    web_sessions,
    workspaces,
)


def user_by_id(conn: Connection, user_id: int) -> Row[Any] | None:
    return conn.execute(select(users).where(users.c.id == user_id)).one_or_none()


def insert_session(conn: Connection, **values: Any) -> None:
    conn.execute(insert(web_sessions).values(**values))


def session_by_hash(conn: Connection, token_hash: str) -> Row[Any] | None:
    return conn.execute(
        select(web_sessions).where(web_sessions.c.token_hash == token_hash)
    ).one_or_none()


def delete_session(conn: Connection, token_hash: str) -> None:
    conn.execute(delete(web_sessions).where(web_sessions.c.token_hash == token_hash))


def delete_expired_sessions(conn: Connection, now: datetime) -> None:
    conn.execute(delete(web_sessions).where(web_sessions.c.expires_at < now))


def set_session_workspace(conn: Connection, token_hash: str, workspace_id: int) -> None:
    conn.execute(
        update(web_sessions)
        .where(web_sessions.c.token_hash == token_hash)
        .values(workspace_id=workspace_id)
    )


def record_attempt(conn: Connection, key: str, at: datetime) -> None:
    conn.execute(insert(sign_in_attempts).values(key=key[:400], at=at))


def reserve_attempt(
    conn: Connection, key: str, *, at: datetime, since: datetime, limit: int
) -> bool:
    """Record an attempt for `key` unless `limit` are already recorded since `since`.

    Count and insert are one step per key: on PostgreSQL under a transaction-scoped advisory
    lock on the key (concurrent tries queue, and each counts the ones committed before it); on
    SQLite every write transaction already holds the database's write lock (BEGIN IMMEDIATE).
    """
    if conn.dialect.name == "postgresql":
        digest = hashlib.sha256(b"stopline-sign-in|" + key[:400].encode()).digest()
        conn.execute(select(func.pg_advisory_xact_lock(int.from_bytes(digest[:8], signed=True))))
    if count_attempts(conn, key, since) >= limit:
        return False
    record_attempt(conn, key, at)
    return True


def count_attempts(conn: Connection, key: str, since: datetime) -> int:
    return int(
        conn.execute(
            select(func.count()).where(
                sign_in_attempts.c.key == key[:400], sign_in_attempts.c.at >= since
            )
        ).scalar_one()
    )


def clear_attempts(conn: Connection, key: str) -> None:
    conn.execute(delete(sign_in_attempts).where(sign_in_attempts.c.key == key[:400]))


def prune_attempts(conn: Connection, before: datetime) -> None:
    conn.execute(delete(sign_in_attempts).where(sign_in_attempts.c.at < before))


def memberships(conn: Connection, user_id: int) -> list[Row[Any]]:
    """The workspaces a user belongs to, with their role in each, by name."""
    return list(
        conn.execute(
            select(
                workspaces.c.id.label("workspace_id"),
                workspaces.c.name,
                workspaces.c.slug,
                members.c.role,
            )
            .select_from(members.join(workspaces, workspaces.c.id == members.c.workspace_id))
            .where(members.c.user_id == user_id)
            .order_by(workspaces.c.name, workspaces.c.id)
        )
    )


def workspace_members(conn: Connection, workspace_id: int) -> list[Row[Any]]:
    return list(
        conn.execute(
            select(
                members.c.id,
                members.c.user_id,
                members.c.role,
                members.c.created_at,
                users.c.email,
                users.c.name,
            )
            .select_from(members.join(users, users.c.id == members.c.user_id))
            .where(members.c.workspace_id == workspace_id)
            .order_by(users.c.email)
        )
    )


def member_by_id(conn: Connection, workspace_id: int, member_id: int) -> Row[Any] | None:
    return conn.execute(
        select(members).where(members.c.workspace_id == workspace_id, members.c.id == member_id)
    ).one_or_none()


def count_owners(conn: Connection, workspace_id: int) -> int:
    return int(
        conn.execute(
            select(func.count()).where(
                members.c.workspace_id == workspace_id, members.c.role == "owner"
            )
        ).scalar_one()
    )


def set_member_role(conn: Connection, workspace_id: int, member_id: int, role: str) -> None:
    conn.execute(
        update(members)
        .where(members.c.workspace_id == workspace_id, members.c.id == member_id)
        .values(role=role)
    )


def delete_member(conn: Connection, workspace_id: int, member_id: int) -> None:
    conn.execute(
        delete(members).where(members.c.workspace_id == workspace_id, members.c.id == member_id)
    )


def set_user_time_zone(conn: Connection, user_id: int, zone: str | None) -> None:
    conn.execute(update(users).where(users.c.id == user_id).values(time_zone=zone))


def set_password_hash(conn: Connection, user_id: int, digest: str) -> None:
    conn.execute(update(users).where(users.c.id == user_id).values(password_hash=digest))


def delete_user_sessions(conn: Connection, user_id: int) -> None:
    conn.execute(delete(web_sessions).where(web_sessions.c.user_id == user_id))


def delete_user_sessions_in(conn: Connection, workspace_id: int, user_id: int) -> None:
    conn.execute(
        delete(web_sessions).where(
            web_sessions.c.workspace_id == workspace_id, web_sessions.c.user_id == user_id
        )
    )


def list_api_keys(conn: Connection, workspace_id: int) -> list[Row[Any]]:
    return list(
        conn.execute(
            select(
                api_keys.c.id,
                api_keys.c.name,
                api_keys.c.prefix,
                api_keys.c.role,
                api_keys.c.created_at,
                api_keys.c.last_used_at,
                api_keys.c.revoked_at,
                users.c.email.label("created_by_email"),
            )
            .select_from(api_keys.outerjoin(users, users.c.id == api_keys.c.created_by))
            .where(api_keys.c.workspace_id == workspace_id)
            .order_by(api_keys.c.revoked_at.is_not(None), api_keys.c.created_at.desc())
        )
    )


def revoke_api_key(conn: Connection, workspace_id: int, key_id: int, now: datetime) -> int:
    result = conn.execute(
        update(api_keys)
        .where(
            api_keys.c.workspace_id == workspace_id,
            api_keys.c.id == key_id,
            api_keys.c.revoked_at.is_(None),
        )
        .values(revoked_at=now)
    )
    return result.rowcount or 0
