"""SQL for workspaces, people, API keys and channels."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update
from sqlalchemy.engine import Row

from stopline.store.db import insert_id
from stopline.store.tables import (
    api_keys,
    campaigns,
    channels,
    conversations,
    members,
    messages,
    users,
    workspaces,
)


def insert_workspace(conn: Connection, **values: Any) -> int:
    return insert_id(conn, insert(workspaces).values(**values))


def get_workspace(conn: Connection, workspace_id: int) -> Row[Any] | None:
    return conn.execute(select(workspaces).where(workspaces.c.id == workspace_id)).one_or_none()


def workspace_by_slug(conn: Connection, slug: str) -> Row[Any] | None:
    return conn.execute(select(workspaces).where(workspaces.c.slug == slug)).one_or_none()


def workspace_by_account_sid(conn: Connection, sid: str) -> Row[Any] | None:
    return conn.execute(select(workspaces).where(workspaces.c.account_sid == sid)).one_or_none()


def list_workspaces(conn: Connection) -> list[Row[Any]]:
    return list(conn.execute(select(workspaces).order_by(workspaces.c.id)))


def slug_taken(conn: Connection, slug: str) -> bool:
    return conn.execute(select(func.count()).where(workspaces.c.slug == slug)).scalar_one() > 0


def set_settings(conn: Connection, workspace_id: int, settings: dict[str, Any]) -> None:
    conn.execute(
        update(workspaces).where(workspaces.c.id == workspace_id).values(settings=settings)
    )


def set_auth_token_hash(conn: Connection, workspace_id: int, digest: str) -> None:
    conn.execute(
        update(workspaces).where(workspaces.c.id == workspace_id).values(auth_token_hash=digest)
    )


def user_by_email(conn: Connection, email: str) -> Row[Any] | None:
    return conn.execute(select(users).where(users.c.email == email.lower())).one_or_none()


def insert_user(conn: Connection, **values: Any) -> int:
    return insert_id(conn, insert(users).values(**values))


def insert_member(conn: Connection, **values: Any) -> int:
    return insert_id(conn, insert(members).values(**values))


def member_role(conn: Connection, workspace_id: int, user_id: int) -> str | None:
    return conn.execute(
        select(members.c.role).where(
            members.c.workspace_id == workspace_id, members.c.user_id == user_id
        )
    ).scalar_one_or_none()


def insert_api_key(conn: Connection, **values: Any) -> int:
    return insert_id(conn, insert(api_keys).values(**values))


def api_key_by_prefix(conn: Connection, prefix: str) -> Row[Any] | None:
    return conn.execute(select(api_keys).where(api_keys.c.prefix == prefix)).one_or_none()


def touch_api_key(conn: Connection, key_id: int, now: datetime) -> None:
    conn.execute(update(api_keys).where(api_keys.c.id == key_id).values(last_used_at=now))


def insert_channel(conn: Connection, **values: Any) -> int:
    return insert_id(conn, insert(channels).values(**values))


def get_channel(conn: Connection, workspace_id: int, channel_id: int) -> Row[Any] | None:
    return conn.execute(
        select(channels).where(channels.c.workspace_id == workspace_id, channels.c.id == channel_id)
    ).one_or_none()


def channel_by_address(
    conn: Connection, address: str, provider: str | None = None
) -> Row[Any] | None:
    """Inbound routing: the receiving address identifies the channel and so the workspace."""
    query = select(channels).where(channels.c.address == address)
    if provider is not None:
        query = query.where(channels.c.provider == provider)
    return conn.execute(query.order_by(channels.c.id).limit(1)).one_or_none()


def workspace_channel_by_address(
    conn: Connection, workspace_id: int, address: str
) -> Row[Any] | None:
    return conn.execute(
        select(channels)
        .where(channels.c.workspace_id == workspace_id, channels.c.address == address)
        .order_by(channels.c.id)
        .limit(1)
    ).one_or_none()


def list_channels(conn: Connection, workspace_id: int) -> list[Row[Any]]:
    return list(
        conn.execute(
            select(channels).where(channels.c.workspace_id == workspace_id).order_by(channels.c.id)
        )
    )


def smtp_blob(conn: Connection, workspace_id: int) -> str | None:
    return conn.execute(
        select(workspaces.c.smtp).where(workspaces.c.id == workspace_id)
    ).scalar_one_or_none()


def set_smtp_blob(conn: Connection, workspace_id: int, blob: str | None) -> None:
    conn.execute(update(workspaces).where(workspaces.c.id == workspace_id).values(smtp=blob))


def update_channel(conn: Connection, workspace_id: int, channel_id: int, **values: Any) -> None:
    conn.execute(
        update(channels)
        .where(channels.c.workspace_id == workspace_id, channels.c.id == channel_id)
        .values(**values)
    )


def delete_channel(conn: Connection, workspace_id: int, channel_id: int) -> None:
    conn.execute(
        delete(channels).where(channels.c.workspace_id == workspace_id, channels.c.id == channel_id)
    )


def channel_usage(conn: Connection, workspace_id: int, channel_id: int) -> int:
    """Messages, conversations and campaigns on the channel (deleting it would cascade to them)."""
    total = 0
    for table in (messages, conversations, campaigns):
        total += int(
            conn.execute(
                select(func.count()).where(
                    table.c.workspace_id == workspace_id, table.c.channel_id == channel_id
                )
            ).scalar_one()
        )
    return total


def channels_of_provider(conn: Connection, provider: str) -> list[Row[Any]]:
    return list(conn.execute(select(channels).where(channels.c.provider == provider)))
