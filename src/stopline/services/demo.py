"""The demo workspace `stopline serve` creates on an empty database, so the app is explorable at once."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import Connection

from stopline.security import Keyring
from stopline.services import workspaces
from stopline.store.workspaces import list_workspaces, user_by_email

DEMO_EMAIL = "demo@example.com"
DEMO_CHANNEL = "+15005550006"


@dataclass(frozen=True)
class DemoInfo:
    workspace_id: int
    email: str
    password: str
    api_key: str


def ensure_demo(conn: Connection, keyring: Keyring) -> DemoInfo | None:
    """Create the demo workspace if the database has no workspace at all; else do nothing."""
    if list_workspaces(conn):
        return None
    password = secrets.token_urlsafe(9)
    created = workspaces.create_workspace(
        conn, name="Demo Dental", owner_email=DEMO_EMAIL, owner_password=password
    )
    ws_id = created.workspace.id
    workspaces.add_channel(
        conn,
        ws_id,
        keyring,
        address=DEMO_CHANNEL,
        provider="console",
        name="Front desk",
        # Texts "from a customer" (the web app's phone) are signed with it and verified.
        credentials={"secret": secrets.token_urlsafe(32)},
    )
    populate = _populate_hook()
    if populate is not None:
        populate(conn, ws_id)
    return DemoInfo(ws_id, DEMO_EMAIL, password, created.api_key)


def demo_user_exists(conn: Connection) -> bool:
    return user_by_email(conn, DEMO_EMAIL) is not None


def _populate_hook():  # type: ignore[no-untyped-def]
    """Sample contacts, conversations and opt-outs, once the services that make them exist."""
    try:
        from stopline.services.demo_data import populate
    except ImportError:
        return None
    return populate
