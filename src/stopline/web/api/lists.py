"""JSON API: subscription lists, their members, per-list opt-outs and opt-ins, keywords and HELP."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from litestar import Request, Router, delete, get, patch, post
from litestar.params import Parameter

from stopline.services import lists
from stopline.services.workspaces import Principal
from stopline.store.db import read, write
from stopline.web.api.optouts import change_dict
from stopline.web.deps import runtime_of


@dataclass
class NewList:
    """`keywords`: {"opt_out": ["OPTOUT"], "opt_in": [...], "help": [...]}, this list's own
    words (seed 001); `help_text` answers the list's HELP keyword."""

    name: str
    keywords: dict[str, list[str]] = field(default_factory=dict)
    help_text: str | None = None


@dataclass
class ListChanges:
    name: str | None = None
    keywords: dict[str, list[str]] | None = None
    help_text: str | None = None


@dataclass
class Numbers:
    numbers: list[str]


@dataclass
class NewMembers:
    """`numbers` to subscribe, and the `evidence` of their opt-in (optional, for all of them)."""

    numbers: list[str]
    evidence: dict[str, Any] | None = None


@dataclass
class ListOptOut:
    number: str
    reason: str | None = None


@dataclass
class ListOptIn:
    number: str
    consent_note: str | None = None


@get("/api/v1/lists", tags=["lists"], sync_to_thread=True, operation_id="lists_all_lists")
def all_lists(request: Request, principal: Principal) -> dict[str, Any]:
    with read(runtime_of(request.app.state).engine) as conn:
        return {"items": [x.as_dict() for x in lists.all_lists(conn, principal.workspace_id)]}


@post(
    "/api/v1/lists",
    tags=["lists"],
    sync_to_thread=True,
    status_code=201,
    operation_id="lists_create_list",
)
def create_list(request: Request, principal: Principal, data: NewList) -> dict[str, Any]:
    with write(runtime_of(request.app.state).engine) as conn:
        return lists.create_list(
            conn, principal, name=data.name, keywords=data.keywords, help_text=data.help_text
        ).as_dict()


@get(
    "/api/v1/lists/{list_id:int}",
    tags=["lists"],
    sync_to_thread=True,
    operation_id="lists_get_list",
)
def get_list(request: Request, principal: Principal, list_id: int) -> dict[str, Any]:
    with read(runtime_of(request.app.state).engine) as conn:
        return lists.get_list(conn, principal.workspace_id, list_id).as_dict()


@patch(
    "/api/v1/lists/{list_id:int}",
    tags=["lists"],
    sync_to_thread=True,
    operation_id="lists_update_list",
)
def update_list(
    request: Request, principal: Principal, list_id: int, data: ListChanges
) -> dict[str, Any]:
    """Fields left out (or null) stay as they are; `keywords: {}` removes the list's keywords."""
    kwargs: dict[str, Any] = {"name": data.name}
    if data.keywords is not None:
        kwargs["keywords"] = data.keywords
    if data.help_text is not None:
        kwargs["help_text"] = data.help_text
    with write(runtime_of(request.app.state).engine) as conn:
        return lists.update_list(conn, principal, list_id, **kwargs).as_dict()


@delete(
    "/api/v1/lists/{list_id:int}",
    tags=["lists"],
    sync_to_thread=True,
    status_code=200,
    operation_id="lists_delete_list",
)
def delete_list(request: Request, principal: Principal, list_id: int) -> dict[str, Any]:
    """Admins only; a list numbers have opted out of is kept (409 `list_has_opt_outs`)."""
    with write(runtime_of(request.app.state).engine) as conn:
        lists.delete_list(conn, principal, list_id)
    return {"deleted": list_id}


@get(
    "/api/v1/lists/{list_id:int}/members",
    tags=["lists"],
    sync_to_thread=True,
    operation_id="lists_members",
)
def members(
    request: Request,
    principal: Principal,
    list_id: int,
    search: str | None = Parameter(default=None, query="search"),
    limit: int = Parameter(default=50, query="limit", ge=1, le=1000),
    offset: int = Parameter(default=0, query="offset", ge=0),
) -> dict[str, Any]:
    with read(runtime_of(request.app.state).engine) as conn:
        rows, total = lists.members(
            conn, principal.workspace_id, list_id, search=search, limit=limit, offset=offset
        )
    return {"total": total, "items": [m.as_dict() for m in rows]}


@post(
    "/api/v1/lists/{list_id:int}/members",
    tags=["lists"],
    sync_to_thread=True,
    status_code=200,
    operation_id="lists_add_members",
)
def add_members(
    request: Request, principal: Principal, list_id: int, data: NewMembers
) -> dict[str, Any]:
    """Subscribe numbers (at most 100,000 per call). Membership is not consent: numbers that
    opted out are still refused by the gate when a campaign sends. Each new member's opt-in is
    recorded in the ledger with the call's `evidence` (`consent_text` or `consent_version`,
    `captured_at`, `ip`, `user_agent`, `reference_url`, `source`); without evidence it is
    recorded as such and shown as weaker (`consent_recorded` counts them)."""
    with write(runtime_of(request.app.state).engine) as conn:
        return lists.add_members(
            conn, principal, list_id, data.numbers, record_consent=True, evidence=data.evidence
        ).as_dict()


@post(
    "/api/v1/lists/{list_id:int}/members/remove",
    tags=["lists"],
    sync_to_thread=True,
    status_code=200,
    operation_id="lists_remove_members",
)
def remove_members(
    request: Request, principal: Principal, list_id: int, data: Numbers
) -> dict[str, Any]:
    with write(runtime_of(request.app.state).engine) as conn:
        return lists.remove_members(conn, principal, list_id, data.numbers).as_dict()


@post(
    "/api/v1/lists/{list_id:int}/opt-outs",
    tags=["lists"],
    sync_to_thread=True,
    status_code=200,
    operation_id="lists_list_opt_out",
)
def list_opt_out(
    request: Request, principal: Principal, list_id: int, data: ListOptOut
) -> dict[str, Any]:
    """Opt a number out of this list only."""
    with write(runtime_of(request.app.state).engine) as conn:
        result = lists.opt_out(conn, principal, list_id, data.number, reason=data.reason)
    return change_dict(result, data.number)


@post(
    "/api/v1/lists/{list_id:int}/opt-ins",
    tags=["lists"],
    sync_to_thread=True,
    status_code=200,
    operation_id="lists_list_opt_in",
)
def list_opt_in(
    request: Request, principal: Principal, list_id: int, data: ListOptIn
) -> dict[str, Any]:
    """Lift a list opt-out, under the workspace's re-subscribe policy."""
    with write(runtime_of(request.app.state).engine) as conn:
        result = lists.opt_in(conn, principal, list_id, data.number, consent_note=data.consent_note)
    return change_dict(result, data.number)


# One router per module: Litestar re-registers every handler of a path each time a handler
# joins it, which wraps sync_to_thread handlers twice when they are registered one by one.
ROUTES = [
    Router(
        path="/",
        route_handlers=[
            all_lists,
            create_list,
            get_list,
            update_list,
            delete_list,
            members,
            add_members,
            remove_members,
            list_opt_out,
            list_opt_in,
        ],
    )
]
