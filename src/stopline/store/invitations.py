"""SQL for invitations to join a workspace, and each person's last-used workspace."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.engine import Row

from stopline.store.db import insert_id
from stopline.store.tables import invitations, members, users, workspaces


def insert_invitation(conn: Connection, **values: Any) -> int:
    return insert_id(conn, insert(invitations).values(**values))


def delete_pending(conn: Connection, workspace_id: int, email: str) -> list[Row[Any]]:
    """Drop the workspace's open invitations for `email` (a new one replaces them)."""
    rows = list(
        conn.execute(
            select(invitations).where(
                invitations.c.workspace_id == workspace_id,
                invitations.c.email == email,
                invitations.c.accepted_at.is_(None),
            )
        )
    )
    if rows:
        conn.execute(delete(invitations).where(invitations.c.id.in_([r.id for r in rows])))
    return rows


def pending_in_workspace(conn: Connection, workspace_id: int, now: datetime) -> list[Row[Any]]:
    return list(
        conn.execute(
            select(invitations, users.c.email.label("invited_by_email"))
            .select_from(invitations.outerjoin(users, users.c.id == invitations.c.invited_by))
            .where(
                invitations.c.workspace_id == workspace_id,
                invitations.c.accepted_at.is_(None),
                invitations.c.expires_at > now,
            )
            .order_by(invitations.c.created_at.desc(), invitations.c.id.desc())
        )
    )


def by_token_hash(conn: Connection, token_hash: str) -> Row[Any] | None:
    return conn.execute(
        select(invitations, workspaces.c.name.label("workspace_name"))
        .select_from(invitations.join(workspaces, workspaces.c.id == invitations.c.workspace_id))
        .where(invitations.c.token_hash == token_hash)
    ).one_or_none()


def created_account_invitations(conn: Connection, email: str, now: datetime) -> list[Row[Any]]:
    """Open invitations that created the account of `email` (accepted at its first sign-in)."""
    return list(
        conn.execute(
            select(invitations)
            .where(
                invitations.c.email == email,
                invitations.c.created_account.is_(True),
                invitations.c.accepted_at.is_(None),
                invitations.c.expires_at > now,
            )
            .order_by(invitations.c.id)
        )
    )


def mark_accepted(conn: Connection, invitation_id: int, now: datetime) -> bool:
    """Accept an open invitation; False if it was accepted meanwhile."""
    result = conn.execute(
        update(invitations)
        .where(invitations.c.id == invitation_id, invitations.c.accepted_at.is_(None))
        .values(accepted_at=now)
    )
    return bool(result.rowcount)


def delete_invitation(conn: Connection, workspace_id: int, invitation_id: int) -> Row[Any] | None:
    """Withdraw an open invitation; the row it was, or None if there was none."""
    row = conn.execute(
        select(invitations).where(
            invitations.c.workspace_id == workspace_id,
            invitations.c.id == invitation_id,
            invitations.c.accepted_at.is_(None),
        )
    ).one_or_none()
    if row is not None:
        conn.execute(delete(invitations).where(invitations.c.id == row.id))
    return row


def delete_unused_account(conn: Connection, email: str) -> None:
    """Delete the account of `email` if it belongs to no workspace and no invitation waits for
    it: an account an invitation created, withdrawn before its first sign-in."""
    user = conn.execute(select(users.c.id).where(users.c.email == email)).one_or_none()
    if user is None:
        return
    member = conn.execute(select(members.c.id).where(members.c.user_id == user.id).limit(1))
    waiting = conn.execute(
        select(invitations.c.id)
        .where(invitations.c.email == email, invitations.c.accepted_at.is_(None))
        .limit(1)
    )
    if member.first() is None and waiting.first() is None:
        conn.execute(delete(users).where(users.c.id == user.id))


def set_last_workspace(conn: Connection, user_id: int, workspace_id: int) -> None:
    conn.execute(update(users).where(users.c.id == user_id).values(last_workspace_id=workspace_id))
