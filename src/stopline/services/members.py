"""The people and keys of a workspace as admins manage them: members, roles and API keys."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection

from stopline.domain.consent import utc
from stopline.domain.errors import Conflict, Forbidden, InvalidInput, NotFound
from stopline.services import workspaces
from stopline.services.consent import now_utc
from stopline.services.workspaces import ROLE_RANK, Principal
from stopline.store import sessions as store


@dataclass(frozen=True)
class Member:
    id: int
    user_id: int
    email: str
    name: str
    role: str
    created_at: datetime


@dataclass(frozen=True)
class ApiKey:
    id: int
    name: str
    prefix: str
    role: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None
    created_by: str | None


def list_members(conn: Connection, principal: Principal) -> list[Member]:
    return [
        Member(r.id, r.user_id, r.email, r.name or "", r.role, utc(r.created_at))
        for r in store.workspace_members(conn, principal.workspace_id)
    ]


def check_grantable(principal: Principal, role: str, what: str) -> None:
    """`role` exists and `principal` may hand it out: only an owner grants `owner` (and an admin
    key's admin rights only up to their own)."""
    if role not in ROLE_RANK:
        raise InvalidInput(f"Unknown role {role!r}.", code="role_invalid")
    if ROLE_RANK[role] > ROLE_RANK[principal.role]:
        raise Forbidden(f"Only an owner can {what} an {role}.", code="forbidden")


def change_role(conn: Connection, principal: Principal, member_id: int, role: str) -> None:
    principal.require("admin")
    if role not in ROLE_RANK:
        raise InvalidInput(f"Unknown role {role!r}.", code="role_invalid")
    row = store.member_by_id(conn, principal.workspace_id, member_id)
    if row is None:
        raise NotFound("No such member.", code="member_not_found")
    if max(ROLE_RANK[role], ROLE_RANK[row.role]) > ROLE_RANK[principal.role]:
        raise Forbidden("Only an owner can change an owner's role.", code="forbidden")
    if (
        row.role == "owner"
        and role != "owner"
        and store.count_owners(conn, principal.workspace_id) < 2
    ):
        raise Conflict("A workspace needs at least one owner.", code="last_owner")
    store.set_member_role(conn, principal.workspace_id, member_id, role)


def remove_member(conn: Connection, principal: Principal, member_id: int) -> None:
    principal.require("admin")
    row = store.member_by_id(conn, principal.workspace_id, member_id)
    if row is None:
        raise NotFound("No such member.", code="member_not_found")
    if ROLE_RANK[row.role] > ROLE_RANK[principal.role]:
        raise Forbidden("Only an owner can remove an owner.", code="forbidden")
    if row.role == "owner" and store.count_owners(conn, principal.workspace_id) < 2:
        raise Conflict("A workspace needs at least one owner.", code="last_owner")
    store.delete_member(conn, principal.workspace_id, member_id)
    store.delete_user_sessions_in(conn, principal.workspace_id, row.user_id)


def list_api_keys(conn: Connection, principal: Principal) -> list[ApiKey]:
    principal.require("admin")
    return [
        ApiKey(
            id=r.id,
            name=r.name,
            prefix=r.prefix,
            role=r.role,
            created_at=utc(r.created_at),
            last_used_at=utc(r.last_used_at) if r.last_used_at else None,
            revoked_at=utc(r.revoked_at) if r.revoked_at else None,
            created_by=r.created_by_email,
        )
        for r in store.list_api_keys(conn, principal.workspace_id)
    ]


def create_api_key(conn: Connection, principal: Principal, name: str, role: str = "admin") -> str:
    """The clear key is returned once; only its hash is kept."""
    principal.require("admin")
    name = name.strip()
    if not name:
        raise InvalidInput(
            "Give the key a name, e.g. the app that will use it.", code="name_required"
        )
    check_grantable(principal, role, "create a key for")
    return workspaces.issue_api_key(
        conn, principal.workspace_id, name=name[:200], role=role, created_by=principal.user_id
    )


def revoke_api_key(conn: Connection, principal: Principal, key_id: int) -> None:
    principal.require("admin")
    if not store.revoke_api_key(conn, principal.workspace_id, key_id, now_utc()):
        raise NotFound("No such active key in this workspace.", code="api_key_not_found")
