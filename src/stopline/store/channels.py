"""SQL lookups of a workspace's channels for sending."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    Connection,
    select,
)
from sqlalchemy.engine import Row

from stopline.store.tables import (
    channels,
)


def channel_row(conn: Connection, workspace_id: int, channel_id: int) -> Row[Any] | None:
    return conn.execute(
        select(channels).where(channels.c.workspace_id == workspace_id, channels.c.id == channel_id)
    ).one_or_none()


def channel_by_address(conn: Connection, workspace_id: int, address: str) -> Row[Any] | None:
    return conn.execute(
        select(channels)
        .where(channels.c.workspace_id == workspace_id, channels.c.address == address)
        .order_by(channels.c.id)
        .limit(1)
    ).one_or_none()


def channel_ids(conn: Connection, workspace_id: int) -> list[int]:
    """The channels new messages can go from (disabled ones are left out)."""
    return list(
        conn.execute(
            select(channels.c.id)
            .where(channels.c.workspace_id == workspace_id, channels.c.disabled_at.is_(None))
            .order_by(channels.c.id)
        ).scalars()
    )
