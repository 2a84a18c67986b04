"""Workspaces, their people, keys, settings and channels, as the CLI, API and web app use them."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from stopline import security
from stopline.domain import consent as consent_rules
from stopline.domain import limits, numbers
from stopline.domain.errors import Conflict, Forbidden, InvalidInput, NotFound
from stopline.domain.policy import Policy
from stopline.security import Keyring
from stopline.services.consent import now_utc
from stopline.store import ledger
from stopline.store import workspaces as store

PROVIDERS = ("twilio", "telnyx", "vonage", "generic", "console", "aws")
CHANNEL_TYPES = consent_rules.CHANNEL_TYPES
ROLE_RANK = {"member": 0, "admin": 1, "owner": 2}


@dataclass(frozen=True)
class Workspace:
    id: int
    slug: str
    name: str
    account_sid: str
    policy: Policy


@dataclass(frozen=True)
class CreatedWorkspace:
    workspace: Workspace
    owner_email: str
    api_key: str
    auth_token: str


@dataclass(frozen=True)
class Principal:
    """Who is acting: a member signed in to the browser, an API key, or the CLI operator."""

    workspace_id: int
    role: str
    actor: str  # what the ledger records as the actor
    user_id: int | None = None
    api_key_id: int | None = None

    def require(self, role: str) -> None:
        if ROLE_RANK[self.role] < ROLE_RANK[role]:
            raise Forbidden(f"This needs the {role} role; you are a {self.role}.", code="forbidden")


def _workspace(row: Any) -> Workspace:
    return Workspace(
        id=row.id,
        slug=row.slug,
        name=row.name,
        account_sid=row.account_sid,
        policy=Policy.from_dict(row.settings),
    )


def slugify(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:48]
    return slug or "workspace"


def create_workspace(
    conn: Connection,
    *,
    name: str,
    owner_email: str,
    owner_password: str,
    region: str = "US",
    time_zone: str = "UTC",
    slug: str | None = None,
    now: datetime | None = None,
) -> CreatedWorkspace:
    """A new tenant with its owner, a first API key and its Twilio-compatible credentials."""
    now = now or now_utc()
    name = limits.text(name, "name", label="workspace name") or ""
    if not name:
        raise InvalidInput("A workspace needs a name.", code="name_required")
    policy = Policy.from_dict(
        {"default_region": region, "brand_name": name, "time_zone": time_zone}
    )
    base = slug or slugify(name)
    slug = base
    while store.slug_taken(conn, slug):
        slug = f"{base}-{secrets.token_hex(2)}"
    auth_token = secrets.token_hex(16)
    account_sid = "AC" + secrets.token_hex(16)
    workspace_id = store.insert_workspace(
        conn,
        slug=slug,
        name=name,
        settings=policy.to_dict(),
        account_sid=account_sid,
        auth_token_hash=security.hash_token(auth_token),
        created_at=now,
    )
    ledger.init_head(conn, workspace_id)
    user_id = ensure_user(conn, owner_email, owner_password, now=now)
    store.insert_member(
        conn, workspace_id=workspace_id, user_id=user_id, role="owner", created_at=now
    )
    key = issue_api_key(conn, workspace_id, name="default", role="admin", created_by=user_id)
    workspace = Workspace(workspace_id, slug, name, account_sid, policy)
    return CreatedWorkspace(workspace, owner_email.lower(), key, auth_token)


def check_password(password: str) -> None:
    """The one rule for a new password, wherever it is set."""
    if len(password) < 8:
        raise InvalidInput("A password needs at least 8 characters.", code="password_too_short")


def account_email(email: str) -> str:
    """An email address as accounts are keyed: trimmed, lowercased, plausibly an address."""
    email = email.strip().lower()
    if len(email) > 320 or not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email):
        raise InvalidInput(f"{email[:80]!r} is not an email address.", code="email_invalid")
    return email


def ensure_user(
    conn: Connection, email: str, password: str, *, name: str = "", now: datetime | None = None
) -> int:
    email = account_email(email)
    name = limits.text(name, "name") or ""
    existing = store.user_by_email(conn, email)
    if existing is not None:
        return int(existing.id)
    check_password(password)
    return store.insert_user(
        conn,
        email=email,
        name=name,
        password_hash=security.hash_password(password),
        created_at=now or now_utc(),
    )


def add_member(
    conn: Connection, workspace_id: int, email: str, password: str, role: str = "member"
) -> int:
    if role not in ROLE_RANK:
        raise InvalidInput(f"Unknown role {role!r}.", code="role_invalid")
    user_id = ensure_user(conn, email, password)
    if store.member_role(conn, workspace_id, user_id) is not None:
        raise Conflict(f"{email} is already a member.", code="already_member")
    store.insert_member(
        conn, workspace_id=workspace_id, user_id=user_id, role=role, created_at=now_utc()
    )
    return user_id


def issue_api_key(
    conn: Connection,
    workspace_id: int,
    *,
    name: str,
    role: str = "admin",
    created_by: int | None = None,
) -> str:
    """Create an API key; the clear key is returned once and only its hash is stored."""
    name = limits.text(name, "name", label="key name") or ""
    prefix = secrets.token_hex(6)
    secret = security.new_token(24)
    store.insert_api_key(
        conn,
        workspace_id=workspace_id,
        name=name,
        prefix=prefix,
        key_hash=security.hash_token(secret),
        role=role,
        created_by=created_by,
        created_at=now_utc(),
    )
    return f"sl_{prefix}_{secret}"


def authenticate_api_key(conn: Connection, key: str) -> Principal:
    match = re.fullmatch(r"sl_([0-9a-f]{12})_([A-Za-z0-9_\-]+)", key.strip())
    row = store.api_key_by_prefix(conn, match.group(1)) if match else None
    if (
        match is None
        or row is None
        or row.revoked_at is not None
        or not security.token_matches(match.group(2), row.key_hash)
    ):
        raise Forbidden("Invalid API key.", code="unauthorized")
    return Principal(
        workspace_id=row.workspace_id,
        role=row.role,
        actor=f"api_key:{row.name}",
        api_key_id=row.id,
    )


def authenticate_account(conn: Connection, account_sid: str, auth_token: str) -> Workspace:
    """Twilio-compatible basic auth: the workspace's account SID and auth token."""
    row = store.workspace_by_account_sid(conn, account_sid)
    if row is None or not security.token_matches(auth_token, row.auth_token_hash):
        raise Forbidden("Authentication failed.", code="unauthorized")
    return _workspace(row)


def rotate_auth_token(conn: Connection, principal: Principal) -> str:
    principal.require("admin")
    token = secrets.token_hex(16)
    store.set_auth_token_hash(conn, principal.workspace_id, security.hash_token(token))
    return token


def get_workspace(conn: Connection, workspace_id: int) -> Workspace:
    row = store.get_workspace(conn, workspace_id)
    if row is None:
        raise NotFound("No such workspace.", code="workspace_not_found")
    return _workspace(row)


def resolve_workspace(conn: Connection, ref: str | None) -> Workspace:
    """A workspace by slug or id; with no reference, the only workspace there is."""
    if ref:
        row = store.workspace_by_slug(conn, ref)
        if row is None and ref.isdigit():
            row = store.get_workspace(conn, int(ref))
        if row is None:
            raise NotFound(f"No workspace {ref!r}.", code="workspace_not_found")
        return _workspace(row)
    rows = store.list_workspaces(conn)
    if not rows:
        raise NotFound("No workspace yet: run `stopline init` first.", code="workspace_not_found")
    if len(rows) > 1:
        slugs = ", ".join(r.slug for r in rows)
        raise InvalidInput(
            f"There are several workspaces ({slugs}); choose one with --workspace.",
            code="workspace_ambiguous",
        )
    return _workspace(rows[0])


def update_settings(conn: Connection, principal: Principal, changes: dict[str, Any]) -> Policy:
    """Admins change settings; every value is validated before anything is stored."""
    principal.require("admin")
    workspace = get_workspace(conn, principal.workspace_id)
    policy = workspace.policy.updated(changes)
    from stopline.domain.keywords import KeywordConfig

    config = KeywordConfig.from_settings(policy.keyword_sets, list(policy.custom_keywords))
    from stopline.services.lists import check_lists_against

    check_lists_against(conn, principal.workspace_id, config)
    if "keep_offer_lists" in changes:
        from stopline.services.keep_offers import check_offer_lists

        check_offer_lists(conn, principal.workspace_id, policy.keep_offer_lists)
    store.set_settings(conn, principal.workspace_id, policy.to_dict())
    return policy


@dataclass(frozen=True)
class Channel:
    id: int
    workspace_id: int
    address: str
    provider: str
    type: str
    location: str | None
    name: str
    base_url: str | None


def channel_from_row(row: Any) -> Channel:
    return Channel(
        id=row.id,
        workspace_id=row.workspace_id,
        address=row.address,
        provider=row.provider,
        type=row.type,
        location=row.location,
        name=row.name,
        base_url=row.base_url,
    )


def add_channel(
    conn: Connection,
    workspace_id: int,
    keyring: Keyring,
    *,
    address: str,
    provider: str,
    type: str = "sms",
    location: str | None = None,
    name: str = "",
    credentials: dict[str, str] | None = None,
    base_url: str | None = None,
    consent_sync: bool = False,
    accounts_base_url: str | None = None,
) -> Channel:
    if provider not in PROVIDERS:
        raise InvalidInput(
            f"Unknown provider {provider!r}; use one of {', '.join(PROVIDERS)}.",
            code="provider_unknown",
        )
    if type not in CHANNEL_TYPES:
        raise InvalidInput(
            f"Unknown channel type {type!r}; use one of {', '.join(CHANNEL_TYPES)}.",
            code="channel_type_unknown",
        )
    name = limits.text(name, "name", label="channel name") or ""
    location = limits.text(location, "name", label="location")
    region = get_workspace(conn, workspace_id).policy.default_region
    canonical = numbers.channel_address(address, region)
    try:
        with conn.begin_nested():
            channel_id = store.insert_channel(
                conn,
                workspace_id=workspace_id,
                address=canonical,
                provider=provider,
                type=type,
                location=location,
                name=name or canonical,
                credentials=keyring.encrypt(credentials) if credentials else None,
                base_url=base_url,
                consent_sync=consent_sync,
                accounts_base_url=accounts_base_url,
                created_at=now_utc(),
            )
    except IntegrityError:
        raise Conflict(
            f"{canonical} is already a {provider} channel.", code="channel_exists"
        ) from None
    row = store.get_channel(conn, workspace_id, channel_id)
    return channel_from_row(row)


def channel_credentials(conn: Connection, keyring: Keyring, channel_id: int) -> dict[str, Any]:
    from sqlalchemy import select

    from stopline.store.tables import channels

    blob = conn.execute(select(channels.c.credentials).where(channels.c.id == channel_id)).scalar()
    return keyring.decrypt(blob)
