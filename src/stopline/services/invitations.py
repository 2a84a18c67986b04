"""Invitations: how an admin brings a person into a workspace without taking them over.

An admin names an email, a role and an initial password. The answer is the same whatever the
email (no one learns who has an account): an invitation link, valid for a week, that the admin
shares (or has emailed). Behind it:

- no account has that email: one is created with the admin's password, and it joins the
  workspace at its first sign-in (the account exists for this workspace alone);
- an account has it: nothing of it changes (the password given is never applied); its owner
  joins only by opening the link while signed in and accepting (issue 11: an admin of one
  workspace could otherwise pull another tenant's user in and sign them into it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.engine import Row

from stopline import security
from stopline.domain.consent import utc
from stopline.domain.errors import Conflict, Forbidden, NotFound
from stopline.services import mail
from stopline.services.consent import now_utc
from stopline.services.members import check_grantable
from stopline.services.workspaces import (
    Principal,
    account_email,
    check_password,
)
from stopline.store import invitations as store
from stopline.store import workspaces as accounts

LIFETIME = timedelta(days=7)
PATH = "/invitations/"


@dataclass(frozen=True)
class IssuedInvitation:
    """A new invitation; `token` is shown once (only its hash is stored)."""

    id: int
    token: str
    email: str
    role: str
    expires_at: datetime

    def url(self, base_url: str) -> str:
        return f"{base_url.rstrip('/')}{PATH}{self.token}"


@dataclass(frozen=True)
class PendingInvitation:
    id: int
    email: str
    role: str
    invited_by: str | None
    created_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class InvitationView:
    """What the link's page shows: the workspace and role on offer, and whether it can be taken."""

    id: int
    workspace_id: int
    workspace_name: str
    role: str
    state: str  # open | accepted | expired


def initial_password_hash(password: str) -> str:
    """The hash of an invitation's initial password, made before the write transaction (argon2
    is slow on purpose) and whether or not it will be used, so the answer takes as long
    either way."""
    check_password(password)
    return security.hash_password(password)


def invite(
    conn: Connection,
    principal: Principal,
    email: str,
    password_hash: str,
    role: str = "member",
    *,
    now: datetime | None = None,
) -> IssuedInvitation:
    """Invite `email` as `role`; admins invite, and only an owner may invite an owner.

    Every check that could fail does so before the account is looked up, so refusals never
    depend on whether it exists. `password_hash` (`initial_password_hash`) is used only for a
    new account.
    """
    principal.require("admin")
    check_grantable(principal, role, "add")
    email = account_email(email)
    now = now or now_utc()
    user = accounts.user_by_email(conn, email)
    if user is not None and accounts.member_role(conn, principal.workspace_id, int(user.id)):
        # The admin sees the member list anyway: this tells them nothing new.
        raise Conflict(f"{email} is already a member.", code="already_member")
    replaced = store.delete_pending(conn, principal.workspace_id, email)
    created_account = user is None or any(r.created_account for r in replaced)
    if user is None:
        accounts.insert_user(
            conn,
            email=email,
            name="",
            password_hash=password_hash,
            created_at=now,
        )
    token = security.new_token(24)
    expires = now + LIFETIME
    invitation_id = store.insert_invitation(
        conn,
        workspace_id=principal.workspace_id,
        email=email,
        role=role,
        token_hash=security.hash_token(token),
        created_account=created_account,
        invited_by=principal.user_id,
        created_at=now,
        expires_at=expires,
    )
    return IssuedInvitation(invitation_id, token, email, role, expires)


def pending(conn: Connection, principal: Principal) -> list[PendingInvitation]:
    """The workspace's open invitations, newest first (admins only)."""
    principal.require("admin")
    return [
        PendingInvitation(
            r.id, r.email, r.role, r.invited_by_email, utc(r.created_at), utc(r.expires_at)
        )
        for r in store.pending_in_workspace(conn, principal.workspace_id, now_utc())
    ]


def revoke(conn: Connection, principal: Principal, invitation_id: int) -> None:
    """Withdraw an open invitation. An account it created, never used, goes with it (so a later
    invitation from anyone else starts afresh, with that admin's password)."""
    principal.require("admin")
    row = store.delete_invitation(conn, principal.workspace_id, invitation_id)
    if row is None:
        raise NotFound("No such open invitation in this workspace.", code="invitation_not_found")
    if row.created_account:
        store.delete_unused_account(conn, row.email)


def view(
    conn: Connection, token: str, user_email: str, *, now: datetime | None = None
) -> InvitationView:
    """The invitation a link names, as the signed-in person `user_email` sees it; refused
    (without naming the workspace) when it is for another account."""
    row = _by_token(conn, token)
    if row.email != user_email.strip().lower():
        raise Forbidden(
            "This invitation is for another email address. Sign out, then sign in with the "
            "account it was sent to.",
            code="invitation_for_another_account",
        )
    now = now or now_utc()
    state = "accepted" if row.accepted_at else "expired" if utc(row.expires_at) <= now else "open"
    return InvitationView(
        id=row.id,
        workspace_id=row.workspace_id,
        workspace_name=row.workspace_name,
        role=row.role,
        state=state,
    )


def accept(
    conn: Connection, token: str, user_id: int, user_email: str, *, now: datetime | None = None
) -> InvitationView:
    """The signed-in person joins the workspace; their next sign-in lands there."""
    now = now or now_utc()
    shown = view(conn, token, user_email, now=now)
    if shown.state == "expired":
        raise Forbidden(
            "This invitation has expired. Ask for a new one.", code="invitation_expired"
        )
    if shown.state == "open" and store.mark_accepted(conn, shown.id, now):
        _join(conn, shown.workspace_id, user_id, shown.role, now)
    if accounts.member_role(conn, shown.workspace_id, user_id) is None:
        raise Forbidden("This invitation was already used.", code="invitation_used")
    store.set_last_workspace(conn, user_id, shown.workspace_id)
    return shown


def accept_for_new_account(conn: Connection, user_id: int, email: str, now: datetime) -> None:
    """At sign-in: join the workspaces whose invitations created this account."""
    for row in store.created_account_invitations(conn, email, now):
        if store.mark_accepted(conn, row.id, now):
            _join(conn, row.workspace_id, user_id, row.role, now)
            store.set_last_workspace(conn, user_id, row.workspace_id)


def email_invitation(issued: IssuedInvitation, workspace_name: str, link: str) -> None:
    """Email the link to the invited person (raises `MailError` or `email_not_configured`)."""
    settings = mail.require_configured()
    body = (
        f"You have been invited to join {workspace_name} on stopline as {issued.role}.\n\n"
        f"Open this link to accept (valid until {issued.expires_at:%Y-%m-%d %H:%M} UTC):\n"
        f"{link}\n\n"
        "If you already use stopline, sign in as usual and accept. If you do not, sign in with "
        "the password the person who invited you gives you.\n"
    )
    mail.send(settings, issued.email, f"Invitation to {workspace_name} on stopline", body)


def _by_token(conn: Connection, token: str) -> Row[Any]:
    if not token or len(token) > 200:
        raise NotFound("This invitation link is not valid.", code="invitation_not_found")
    row = store.by_token_hash(conn, security.hash_token(token))
    if row is None:
        raise NotFound("This invitation link is not valid.", code="invitation_not_found")
    return row


def _join(conn: Connection, workspace_id: int, user_id: int, role: str, now: datetime) -> None:
    if accounts.member_role(conn, workspace_id, user_id) is None:
        accounts.insert_member(
            conn, workspace_id=workspace_id, user_id=user_id, role=role, created_at=now
        )
