"""JSON API: the opt-out list (list, add, read, edit, re-subscribe) and per-recipient opt-out links."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar import Request, Router, get, patch, post
from litestar.params import Parameter

from stopline.services import links, optouts
from stopline.services.consent import ChangeResult
from stopline.services.workspaces import Principal
from stopline.store.db import read, write
from stopline.web.deps import runtime_of


@dataclass
class AddOptOut:
    """`number` may be national (read in the workspace's region). `method` is `api` (the
    default), `manual` or `import`; `reply`, `link` and `carrier` are refused (422): they say the
    recipient asked, and only an inbound keyword, the opt-out link page or a provider's report
    records them."""

    number: str
    reason: str | None = None
    method: str = "api"
    scope: str = "workspace"
    scope_key: str = ""


@dataclass
class EditOptOut:
    """A corrected `number` and/or a new `reason`, both recorded as ledger events.

    A corrected number releases the old one, a re-subscribe: under `with_consent_note` it needs
    `consent_note`; under `recipient_only` only `keep_old_number: true` is accepted (the old
    number stays opted out, the new one is opted out too)."""

    number: str | None = None
    reason: str | None = None
    scope: str = "workspace"
    scope_key: str = ""
    consent_note: str | None = None
    keep_old_number: bool = False


@dataclass
class Resubscribe:
    """`consent_note`: how the recipient gave consent again (required by `with_consent_note`)."""

    consent_note: str | None = None


@dataclass
class NewLink:
    number: str
    days: int = links.DEFAULT_DAYS


def change_dict(result: ChangeResult, number: str) -> dict[str, Any]:
    return {
        "number": result.event.number if result.event else number,
        "changed": result.changed,
        "event_seq": result.event.seq if result.event else None,
        "canceled_messages": result.canceled_messages,
    }


@get(
    "/api/v1/opt-outs", tags=["opt-outs"], sync_to_thread=True, operation_id="optOuts_list_opt_outs"
)
def list_opt_outs(
    request: Request,
    principal: Principal,
    search: str | None = Parameter(default=None, query="search", description="Digits of a number"),
    method: str | None = Parameter(default=None, query="method"),
    scope_filter: str | None = Parameter(default=None, query="scope"),
    sort: str = Parameter(
        default="-created_at",
        query="sort",
        description="created_at, number, method; - for descending",
    ),
    limit: int = Parameter(default=50, query="limit", ge=1, le=1000),
    offset: int = Parameter(default=0, query="offset", ge=0),
) -> dict[str, Any]:
    """The Opt-Outs page: number, matching contact, method, reason, when and who, with the total."""
    with read(runtime_of(request.app.state).engine) as conn:
        rows, total = optouts.list_opt_outs(
            conn,
            principal.workspace_id,
            search=search,
            method=method,
            scope=scope_filter,
            sort=sort,
            limit=limit,
            offset=offset,
        )
    return {"total": total, "limit": limit, "offset": offset, "items": [r.as_dict() for r in rows]}


@post(
    "/api/v1/opt-outs",
    tags=["opt-outs"],
    sync_to_thread=True,
    status_code=201,
    operation_id="optOuts_add_opt_out",
)
def add_opt_out(request: Request, principal: Principal, data: AddOptOut) -> dict[str, Any]:
    """Opt a number out (with or without a contact). Already opted out: `changed: false`, and the
    existing record keeps its method and reason. Queued messages to it are cancelled."""
    with write(runtime_of(request.app.state).engine) as conn:
        result = optouts.add_opt_out(
            conn,
            principal,
            data.number,
            reason=data.reason,
            method=data.method,
            scope=optouts.parse_scope(data.scope),
            scope_key=data.scope_key,
        )
    return change_dict(result, data.number)


@get(
    "/api/v1/opt-outs/{number:str}",
    tags=["opt-outs"],
    sync_to_thread=True,
    operation_id="optOuts_get_opt_out",
)
def get_opt_out(request: Request, principal: Principal, number: str) -> dict[str, Any]:
    """A number's opt-outs, block and list opt-outs, and per channel the gate's decision."""
    with read(runtime_of(request.app.state).engine) as conn:
        return optouts.number_view(conn, principal.workspace_id, number)


@patch(
    "/api/v1/opt-outs/{number:str}",
    tags=["opt-outs"],
    sync_to_thread=True,
    operation_id="optOuts_edit_opt_out",
)
def edit_opt_out(
    request: Request, principal: Principal, number: str, data: EditOptOut
) -> dict[str, Any]:
    """Correct an opt-out's number or reason. Never an in-place edit: a reason is an `amend`
    event; a number is a `retract` of the old number and an opt-out of the new one, together.
    Opt-outs the recipient asked for (reply, link, carrier) cannot be changed (403)."""
    with write(runtime_of(request.app.state).engine) as conn:
        result = optouts.edit_opt_out(
            conn,
            principal,
            number,
            number=data.number,
            reason=data.reason,
            scope=data.scope,
            scope_key=data.scope_key,
            consent_note=data.consent_note,
            keep_old=data.keep_old_number,
        )
    return result.as_dict()


@post(
    "/api/v1/opt-outs/{number:str}/resubscribe",
    tags=["opt-outs"],
    sync_to_thread=True,
    status_code=200,
    operation_id="optOuts_resubscribe",
)
def resubscribe(
    request: Request, principal: Principal, number: str, data: Resubscribe
) -> dict[str, Any]:
    """Remove a number's opt-outs under the workspace's re-subscribe policy: `recipient_only`
    refuses (403 `resubscribe_recipient_only`), `with_consent_note` needs `consent_note`."""
    with write(runtime_of(request.app.state).engine) as conn:
        result = optouts.remove_opt_out(conn, principal, number, consent_note=data.consent_note)
    return change_dict(result, number)


@post(
    "/api/v1/opt-out-links",
    tags=["opt-outs"],
    sync_to_thread=True,
    status_code=201,
    operation_id="optOuts_new_link",
)
def new_link(request: Request, principal: Principal, data: NewLink) -> dict[str, Any]:
    """A signed link for one recipient to put in a message; opening it and confirming opts the
    number out (method `link`). Valid `days` days: at least 60 (CASL), 90 by default."""
    rt = runtime_of(request.app.state)
    base = rt.config.public_url or str(request.base_url)
    with read(rt.engine) as conn:
        link = links.link_for(
            conn, rt.keyring, base, principal.workspace_id, data.number, days=data.days
        )
    return {"url": link.url, "number": link.number, "expires_at": link.expires_at.isoformat()}


# One router per module: Litestar re-registers every handler of a path each time a handler
# joins it, which wraps sync_to_thread handlers twice when they are registered one by one.
ROUTES = [
    Router(
        path="/",
        route_handlers=[
            list_opt_outs,
            add_opt_out,
            get_opt_out,
            edit_opt_out,
            resubscribe,
            new_link,
        ],
    )
]
