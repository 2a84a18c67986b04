"""JSON API: the gate's decision for a number, as any sender would get it."""

from __future__ import annotations

from typing import Any

from litestar import Request, get
from litestar.params import Parameter

from stopline.services import workspaces
from stopline.services.checks import check_number
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
) -> dict[str, Any]:
    """May a message go to this number now? `allowed`, and when refused a machine-readable `code`."""
    rt = runtime_of(request.app.state)
    with read(rt.engine) as conn:
        ws = workspaces.get_workspace(conn, principal.workspace_id)
        e164, decision = check_number(
            conn,
            principal.workspace_id,
            number,
            region=ws.policy.default_region,
            channel_id=channel_id,
            list_id=list_id,
        )
    body: dict[str, Any] = {"number": e164, "input": number, "allowed": decision.allowed}
    if not decision.allowed:
        body["code"] = decision.code.value  # type: ignore[union-attr]
        body["detail"] = decision.detail  # type: ignore[union-attr]
    return body


ROUTES = [consent_decision]
