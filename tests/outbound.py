"""Building blocks for outbound tests: channels, opt-outs and STOPs made through the services."""

from __future__ import annotations

import secrets
from typing import Any

import sqlalchemy as sa

from stopline.domain.consent import Action, ConsentChange, Method
from stopline.security import Keyring
from stopline.services import optouts, workspaces
from stopline.services.consent import ChangeResult, change_consent
from stopline.services.workspaces import Principal
from stopline.store.db import read, write
from stopline.store.tables import console_outbox, messages


def number() -> str:
    """A valid number, different on every call in practice (also under hypothesis, which
    reseeds `random`). Toronto's area code: no built-in send-time rule holds a campaign
    (marketing) to it, whatever the hour the tests run at; tests of those rules pick their
    US numbers themselves."""
    return f"+1416{200 + secrets.randbelow(800)}{1000 + secrets.randbelow(9000)}"


def owner(ws: workspaces.Workspace) -> Principal:
    return Principal(workspace_id=ws.id, role="owner", actor="test-owner")


def add_channel(
    engine: sa.Engine,
    ws: workspaces.Workspace,
    keyring: Keyring,
    provider: str = "console",
    *,
    credentials: dict[str, str] | None = None,
    base_url: str | None = None,
    address: str | None = None,
) -> workspaces.Channel:
    with write(engine) as conn:
        return workspaces.add_channel(
            conn,
            ws.id,
            keyring,
            address=address or number(),
            provider=provider,
            credentials=credentials,
            base_url=base_url,
        )


def opt_out(engine: sa.Engine, ws: workspaces.Workspace, to: str) -> ChangeResult:
    with write(engine) as conn:
        return optouts.add_opt_out(conn, owner(ws), to, reason="asked on the phone")


def block(engine: sa.Engine, ws: workspaces.Workspace, to: str) -> ChangeResult:
    with write(engine) as conn:
        return optouts.block(conn, owner(ws), to, reason="abuse")


def stop_reply(engine: sa.Engine, ws: workspaces.Workspace, to: str) -> ChangeResult:
    """What inbound processing records when `to` texts STOP."""
    with write(engine) as conn:
        return stop_reply_in(conn, ws, to)


def stop_reply_in(conn: sa.Connection, ws: workspaces.Workspace, to: str) -> ChangeResult:
    policy = workspaces.get_workspace(conn, ws.id).policy
    change = ConsentChange(
        number=to,
        action=Action.OPT_OUT,
        method=Method.REPLY,
        reason="STOP",
        inbound_text="STOP",
        actor="recipient",
    )
    return change_consent(conn, ws.id, change, policy, from_inbound=True)


def deliveries(engine: sa.Engine, ws_id: int, to: str | None = None) -> list[Any]:
    """What the console provider delivered, oldest first."""
    with read(engine) as conn:
        query = sa.select(console_outbox).where(console_outbox.c.workspace_id == ws_id)
        if to is not None:
            query = query.where(console_outbox.c.to_number == to)
        return list(conn.execute(query.order_by(console_outbox.c.id)))


def message_rows(engine: sa.Engine, ws_id: int) -> list[Any]:
    with read(engine) as conn:
        return list(
            conn.execute(
                sa.select(messages).where(messages.c.workspace_id == ws_id).order_by(messages.c.id)
            )
        )


def set_policy(engine: sa.Engine, ws: workspaces.Workspace, **changes: Any) -> None:
    """Change settings as an admin would (validated by Policy)."""
    with write(engine) as conn:
        try:
            workspaces.update_settings(conn, owner(ws), changes)
        except ModuleNotFoundError:  # keyword validation not available yet: same checks else
            from stopline.store import workspaces as ws_store

            policy = workspaces.get_workspace(conn, ws.id).policy.updated(changes)
            ws_store.set_settings(conn, ws.id, policy.to_dict())
