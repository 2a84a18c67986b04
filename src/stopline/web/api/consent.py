"""JSON API: the gate's decision for a number, as any sender would get it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from litestar import Request, get
from litestar.params import Parameter

from stopline.services import workspaces
from stopline.services.checks import check_send
from stopline.services.workspaces import Principal
from stopline.store.db import read
from stopline.web.deps import runtime_of


@get("/api/v1/consent/{number:str}", tags=["consent"], sync_to_thread=True)
def consent_decision(
    request: Request,
    principal: Principal,
    number: str,
    channel_id: int | None = Parameter(default=None, query="channel"),
    list_id: int | None = Parameter(default=None, query="list"),
    category: str | None = Parameter(default=None, query="category", max_length=32),
    at: datetime | None = Parameter(default=None, query="at"),
) -> dict[str, Any]:
    """May a message go to this number now (or `at`, ISO 8601)? `allowed` and `verdict`
    (`allowed`, `deferred` with `until` in the recipient's offset, `refused` with a
    machine-readable `code`), the rule, and the recipient's location and how it was found.
    `category`: conversational, informational (default) or marketing."""
    rt = runtime_of(request.app.state)
    with read(rt.engine) as conn:
        ws = workspaces.get_workspace(conn, principal.workspace_id)
        result = check_send(
            conn,
            principal.workspace_id,
            number,
            policy=ws.policy,
            category=category,
            at=at,
            channel_id=channel_id,
            list_id=list_id,
        )
    return result.as_dict()


ROUTES = [consent_decision]
