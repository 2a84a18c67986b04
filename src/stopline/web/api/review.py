"""JSON API: the review queue of possible revocations (inbound rule 3), listed and resolved."""

from __future__ import annotations

from typing import Any

from litestar import Request, get, post
from litestar.params import Parameter

from stopline.services import review
from stopline.services.workspaces import Principal
from stopline.store.db import read, write
from stopline.web.deps import runtime_of


@get("/api/v1/review", tags=["review"], sync_to_thread=True)
def list_review(
    request: Request,
    principal: Principal,
    status: str | None = Parameter(default="pending", query="status"),
    limit: int = Parameter(default=100, query="limit"),
    offset: int = Parameter(default=0, query="offset"),
) -> dict[str, Any]:
    """Possible revocations, soonest deadline first. `status`: pending (default), opted_out,
    dismissed, or `all`."""
    rt = runtime_of(request.app.state)
    with read(rt.engine) as conn:
        items, total = review.list_review_items(
            conn,
            principal.workspace_id,
            status=None if status == "all" else status,
            limit=limit,
            offset=offset,
        )
    return {"total": total, "items": [i.as_dict() for i in items]}


@get("/api/v1/review/{item_id:int}", tags=["review"], sync_to_thread=True)
def get_review(request: Request, principal: Principal, item_id: int) -> dict[str, Any]:
    rt = runtime_of(request.app.state)
    with read(rt.engine) as conn:
        return review.get_review_item(conn, principal.workspace_id, item_id).as_dict()


@post("/api/v1/review/{item_id:int}/resolve", tags=["review"], sync_to_thread=True, status_code=200)
def resolve_review(
    request: Request, principal: Principal, item_id: int, data: dict[str, Any]
) -> dict[str, Any]:
    """Resolve with `{"resolution": "opt_out" | "dismiss", "note": "..."}`; the API key's name
    is recorded as who resolved it. A second resolution answers 409."""
    rt = runtime_of(request.app.state)
    with write(rt.engine) as conn:
        result = review.resolve_review_item(
            conn,
            principal,
            item_id,
            str(data.get("resolution", "")),
            note=data.get("note") if isinstance(data.get("note"), str) else None,
        )
    return {
        **result.item.as_dict(),
        "event_seq": result.event_seq,
        "canceled_messages": result.canceled_messages,
    }


ROUTES = [list_review, get_review, resolve_review]
