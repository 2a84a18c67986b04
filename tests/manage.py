"""Building blocks for the opt-out management tests: people, settings and numbers, via services."""

from __future__ import annotations

import random
from typing import Any

import sqlalchemy as sa

from stopline.domain.consent import Action, ConsentChange, Method
from stopline.services import workspaces
from stopline.services.consent import ChangeResult, change_consent
from stopline.services.workspaces import Principal
from stopline.store.db import write


def member(ws: workspaces.Workspace, name: str = "ann") -> Principal:
    return Principal(workspace_id=ws.id, role="member", actor=f"member:{name}")


def admin(ws: workspaces.Workspace) -> Principal:
    return Principal(workspace_id=ws.id, role="admin", actor="member:admin")


def numbers(count: int, seed: int | None = None) -> list[str]:
    """Distinct valid US numbers (E.164)."""
    rng = random.Random(seed)
    out: dict[str, None] = {}
    while len(out) < count:
        out[f"+1415{rng.randint(200, 999)}{rng.randint(0, 9999):04d}"] = None
    return list(out)


def national(e164: str) -> str:
    """The same US number as people type it: (415) 555-0100."""
    d = e164[2:]
    return f"({d[:3]}) {d[3:6]}-{d[6:]}"


def set_policy(engine: sa.Engine, ws: workspaces.Workspace, **changes: Any) -> None:
    with write(engine) as conn:
        workspaces.update_settings(conn, admin(ws), changes)


def stop_reply(
    engine: sa.Engine, ws: workspaces.Workspace, number: str, text: str = "STOP"
) -> ChangeResult:
    """What inbound processing records for a STOP reply (`text`: what the recipient wrote)."""
    with write(engine) as conn:
        policy = workspaces.get_workspace(conn, ws.id).policy
        return change_consent(
            conn,
            ws.id,
            ConsentChange(
                number=number,
                action=Action.OPT_OUT,
                method=Method.REPLY,
                reason=text,
                inbound_text=text,
                actor="recipient",
            ),
            policy,
            from_inbound=True,
        )
