"""The demo workspace `stopline serve` creates on an empty database, so the app is explorable at once."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine

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


def send_demo_campaign(engine: Engine, keyring: Keyring, workspace_id: int) -> None:
    """Send the demo's campaign as it went yesterday: expanded, then handed to the console
    provider by the one hand-off (gate and send-time rules checked), on a clock set to its
    time; then one recipient answers STOP, and the confirmation goes the same way."""
    from datetime import timedelta

    from stopline.services import campaigns, demo_data, jobs
    from stopline.services.consent import now_utc
    from stopline.store.db import write

    sent_at = demo_data.campaign_time(now_utc())
    found = [
        c
        for c in _campaigns(engine, workspace_id)
        if c.name == demo_data.CAMPAIGN_NAME and c.status == "queued"
    ]
    if not found:
        return
    campaigns.expand(engine, workspace_id, found[0].id, now=sent_at)
    _hand_off_due(engine, keyring, sent_at)
    jobs.run_next(engine, "demo", ["campaign"])  # its job finds every message already there
    replied_at = sent_at + timedelta(hours=2)
    with write(engine) as conn:
        demo_data.campaign_reply(conn, workspace_id, replied_at)
    _hand_off_due(engine, keyring, replied_at)


def _campaigns(engine: Engine, workspace_id: int) -> list[Any]:
    from stopline.services import campaigns
    from stopline.store.db import read

    with read(engine) as conn:
        return campaigns.list_campaigns(conn, workspace_id)


def _hand_off_due(engine: Engine, keyring: Keyring, at: datetime) -> None:
    from stopline.services import hand_off

    while ids := hand_off.claim(engine, "demo", now=at):
        hand_off.hand_off(engine, ids, owner="demo", keyring=keyring, now=lambda: at)


def demo_user_exists(conn: Connection) -> bool:
    return user_by_email(conn, DEMO_EMAIL) is not None


def _populate_hook():  # type: ignore[no-untyped-def]
    """Sample contacts, conversations and opt-outs, once the services that make them exist."""
    try:
        from stopline.services.demo_data import populate
    except ImportError:
        return None
    return populate
