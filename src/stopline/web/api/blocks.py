"""JSON API: the block list (spam and abuse): list, block, unblock."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar import Request, Router, delete, get, post
from litestar.params import Parameter

from stopline.services import optouts
from stopline.services.workspaces import Principal
from stopline.store.db import read, write
from stopline.web.api.optouts import change_dict
from stopline.web.deps import runtime_of


@dataclass
class AddBlock:
    number: str
    reason: str | None = None


@get("/api/v1/blocks", tags=["blocks"], sync_to_thread=True, operation_id="blocks_list_blocks")
def list_blocks(
    request: Request,
    principal: Principal,
    search: str | None = Parameter(default=None, query="search"),
    limit: int = Parameter(default=50, query="limit", ge=1, le=1000),
    offset: int = Parameter(default=0, query="offset", ge=0),
) -> dict[str, Any]:
    """Blocked numbers, newest first."""
    with read(runtime_of(request.app.state).engine) as conn:
        rows, total = optouts.list_blocks(
            conn, principal.workspace_id, search=search, limit=limit, offset=offset
        )
    return {"total": total, "items": [r.as_dict() for r in rows]}


@post(
    "/api/v1/blocks",
    tags=["blocks"],
    sync_to_thread=True,
    status_code=201,
    operation_id="blocks_block",
)
def block(request: Request, principal: Principal, data: AddBlock) -> dict[str, Any]:
    """Block a number: nothing is sent to it, its texts are kept but hidden; implies an opt-out."""
    with write(runtime_of(request.app.state).engine) as conn:
        result = optouts.block(conn, principal, data.number, reason=data.reason)
    return change_dict(result, data.number)


@delete(
    "/api/v1/blocks/{number:str}",
    tags=["blocks"],
    sync_to_thread=True,
    status_code=200,
    operation_id="blocks_unblock",
)
def unblock(
    request: Request,
    principal: Principal,
    number: str,
    reason: str | None = Parameter(default=None, query="reason"),
) -> dict[str, Any]:
    """Unblock a number. It stays opted out: unblocking does not opt back in."""
    with write(runtime_of(request.app.state).engine) as conn:
        result = optouts.unblock(conn, principal, number, reason=reason)
    return change_dict(result, number)


# One router per module: Litestar re-registers every handler of a path each time a handler
# joins it, which wraps sync_to_thread handlers twice when they are registered one by one.
ROUTES = [Router(path="/", route_handlers=[list_blocks, block, unblock])]
