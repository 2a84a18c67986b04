"""Browser sign-in: password check with rate limiting, server-side sessions and workspace switching.

The cookie carries a random token; only its SHA-256 is stored, so a copy of the database holds
no live session. Each session has its own CSRF token, checked on every unsafe request.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine

from stopline import security
from stopline.domain.consent import utc
from stopline.domain.errors import Forbidden, NotFound
from stopline.services import invitations
from stopline.services.consent import now_utc
from stopline.services.workspaces import Principal, check_password
from stopline.store import invitations as invitation_store
from stopline.store import sessions as store
from stopline.store import workspaces as ws_store
from stopline.store.db import read, write

SESSION_LIFETIME = timedelta(days=14)
ATTEMPT_WINDOW = timedelta(minutes=15)
MAX_FAILURES = 10


class TooManyAttempts(Forbidden):
    code = "too_many_attempts"


@dataclass(frozen=True)
class Membership:
    workspace_id: int
    name: str
    slug: str
    role: str


@dataclass(frozen=True)
class SignedIn:
    token: str  # the cookie value: shown to the browser once, stored only hashed
    csrf_token: str
    user_id: int
    workspace_id: int


@dataclass(frozen=True)
class WebSession:
    """A live browser session: who, in which workspace, with which role."""

    token_hash: str
    user_id: int
    email: str
    name: str
    workspace_id: int
    workspace_name: str
    role: str
    csrf_token: str
    memberships: tuple[Membership, ...]
    time_zone: str = (
        "UTC"  # the zone every time is shown in: the person's own, else the workspace's
    )
    own_time_zone: str | None = None

    @property
    def principal(self) -> Principal:
        return Principal(
            workspace_id=self.workspace_id, role=self.role, actor=self.email, user_id=self.user_id
        )


def attempt_key(email: str, ip: str) -> str:
    return f"{email.strip().lower()}|{ip}"


def memberships(conn: Connection, user_id: int) -> list[Membership]:
    return [
        Membership(r.workspace_id, r.name, r.slug, r.role) for r in store.memberships(conn, user_id)
    ]


def sign_in(
    engine: Engine,
    email: str,
    password: str,
    *,
    ip: str,
    previous_token: str | None = None,
    now: datetime | None = None,
) -> SignedIn:
    """Check the password and open a new session (any session the browser had is ended).

    Every try first reserves one of MAX_FAILURES attempts for the same email and address within
    ATTEMPT_WINDOW, atomically (`store.reserve_attempt`): once they are used up, every try is
    refused until the window has passed, whether or not the password is right, and a burst of
    concurrent tries can never check more passwords than the limit. The password is verified
    outside any transaction (argon2 is slow on purpose, and a write transaction held meanwhile
    would stall every webhook on SQLite); a failed try's reservation stays as its record, a
    successful one clears them.
    """
    now = now or now_utc()
    key = attempt_key(email, ip)
    with write(engine) as conn:
        if not store.reserve_attempt(
            conn, key, at=now, since=now - ATTEMPT_WINDOW, limit=MAX_FAILURES
        ):
            raise TooManyAttempts(
                "Too many failed sign-in attempts. Wait 15 minutes and try again.",
            )
    with read(engine) as conn:
        user = ws_store.user_by_email(conn, email.strip().lower())
    # Verify against a dummy hash for unknown users, so timing does not reveal who has an account.
    digest = user.password_hash if user is not None else _DUMMY_HASH
    if not security.password_matches(password, digest) or user is None:
        raise Forbidden("That email and password do not match.", code="sign_in_failed")
    with write(engine) as conn:
        current = store.user_by_id(conn, int(user.id))
        if current is None or current.password_hash != digest:
            # The password was reset while this one was being checked: it is no longer valid.
            raise Forbidden("That email and password do not match.", code="sign_in_failed")
        store.clear_attempts(conn, key)
        invitations.accept_for_new_account(conn, int(user.id), user.email, now)
        member_of = memberships(conn, int(user.id))
        if not member_of:
            failure = Forbidden(
                "This account is not a member of any workspace.", code="no_workspace"
            )
        else:
            failure = None
            # The workspace they last used, else the first by name.
            last = store.user_by_id(conn, int(user.id))
            last_id = last.last_workspace_id if last is not None else None
            workspace_id = next(
                (m.workspace_id for m in member_of if m.workspace_id == last_id),
                member_of[0].workspace_id,
            )
            store.prune_attempts(conn, now - ATTEMPT_WINDOW)
            store.delete_expired_sessions(conn, now)
            if previous_token:
                store.delete_session(conn, security.hash_token(previous_token))
            token = security.new_token(32)
            csrf = secrets.token_urlsafe(32)
            store.insert_session(
                conn,
                token_hash=security.hash_token(token),
                user_id=int(user.id),
                workspace_id=workspace_id,
                csrf_token=csrf,
                created_at=now,
                expires_at=now + SESSION_LIFETIME,
            )
    if failure is not None:
        raise failure
    return SignedIn(token, csrf, int(user.id), workspace_id)


_DUMMY_HASH = security.hash_password(secrets.token_urlsafe(16))


def load(conn: Connection, token: str | None, *, now: datetime | None = None) -> WebSession | None:
    """The session a cookie token names; None if unknown, expired or no longer a member."""
    if not token:
        return None
    now = now or now_utc()
    token_hash = security.hash_token(token)
    row = store.session_by_hash(conn, token_hash)
    if row is None or utc(row.expires_at) <= now:
        return None
    user = store.user_by_id(conn, row.user_id)
    if user is None:
        return None
    member_of = memberships(conn, int(user.id))
    current = next((m for m in member_of if m.workspace_id == row.workspace_id), None)
    if current is None:
        return None
    return WebSession(
        token_hash=token_hash,
        user_id=int(user.id),
        email=user.email,
        name=user.name or "",
        workspace_id=current.workspace_id,
        workspace_name=current.name,
        role=current.role,
        csrf_token=row.csrf_token,
        memberships=tuple(member_of),
        time_zone=user.time_zone or _workspace_time_zone(conn, current.workspace_id),
        own_time_zone=user.time_zone,
    )


def _workspace_time_zone(conn: Connection, workspace_id: int) -> str:
    row = ws_store.get_workspace(conn, workspace_id)
    settings = row.settings if row is not None else None
    if isinstance(settings, str):
        import json

        settings = json.loads(settings)
    zone = settings.get("time_zone") if isinstance(settings, dict) else None
    return zone if isinstance(zone, str) and zone else "UTC"


def set_own_time_zone(conn: Connection, session: WebSession, zone: str | None) -> None:
    """A person's own time zone for the pages they read (None: the workspace's)."""
    from stopline.domain.policy import check_time_zone

    store.set_user_time_zone(conn, session.user_id, check_time_zone(zone) if zone else None)


def reset_password(conn: Connection, email: str, password: str) -> None:
    """Set a person's password from the host (there is no email reset): every session of theirs ends."""
    user = ws_store.user_by_email(conn, email.strip().lower())
    if user is None:
        raise NotFound(f"No one signs in as {email!r}.", code="user_not_found")
    check_password(password)
    store.set_password_hash(conn, int(user.id), security.hash_password(password))
    store.delete_user_sessions(conn, int(user.id))


def sign_out(conn: Connection, token: str | None) -> None:
    if token:
        store.delete_session(conn, security.hash_token(token))


def switch_workspace(conn: Connection, session: WebSession, workspace_id: int) -> Membership:
    """Move the session to another workspace the user is a member of."""
    target = next((m for m in session.memberships if m.workspace_id == workspace_id), None)
    if target is None:
        raise NotFound("You are not a member of that workspace.", code="workspace_not_found")
    store.set_session_workspace(conn, session.token_hash, workspace_id)
    invitation_store.set_last_workspace(conn, session.user_id, workspace_id)
    return target


def csrf_matches(session: WebSession, given: str | None) -> bool:
    return bool(given) and secrets.compare_digest(session.csrf_token, given or "")


def join_by_invitation(conn: Connection, session: WebSession, token: str) -> str:
    """Accept an invitation as the signed-in person and move the session into its workspace;
    returns the workspace's name."""
    joined = invitations.accept(conn, token, session.user_id, session.email)
    store.set_session_workspace(conn, session.token_hash, joined.workspace_id)
    return joined.workspace_name
