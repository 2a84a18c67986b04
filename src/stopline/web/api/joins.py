"""JSON API: a list's join settings (join keywords, double opt-in request, hosted form with its
versioned consent language) and a number's double opt-in requests."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from litestar import Request, Router, get, put

from stopline.domain.errors import NotFound
from stopline.domain.numbers import normalize
from stopline.services import joins
from stopline.services.workspaces import Principal, get_workspace
from stopline.store.db import read, write
from stopline.web.deps import runtime_of


@dataclass
class JoinSettingsIn:
    """`keywords`: whole-message words that start a double opt-in (e.g. ["JOIN", "DEALS"]; never
    a word that already means STOP, START, HELP or another list's keyword); `request_text`: the
    confirmation request sent back (default "<brand>: Reply YES to get <list> texts..."),
    at most 480 characters; `form_enabled`: the public page /join/{slug}; `consent_text`: the
    form's consent language, shown verbatim (a changed text becomes a new version)."""

    keywords: list[str] = field(default_factory=list)
    request_text: str | None = None
    form_enabled: bool = False
    consent_text: str | None = None


@get(
    "/api/v1/lists/{list_id:int}/join",
    tags=["lists"],
    sync_to_thread=True,
    operation_id="lists_join_settings",
)
def join_settings(request: Request, principal: Principal, list_id: int) -> dict[str, Any]:
    with read(runtime_of(request.app.state).engine) as conn:
        found = joins.get_settings(conn, principal.workspace_id, list_id)
    if found is None:
        raise NotFound("This list has no join settings.", code="join_not_set")
    return found.as_dict()


@put(
    "/api/v1/lists/{list_id:int}/join",
    tags=["lists"],
    sync_to_thread=True,
    operation_id="lists_set_join_settings",
)
def set_join_settings(
    request: Request, principal: Principal, list_id: int, data: JoinSettingsIn
) -> dict[str, Any]:
    """Admins only."""
    with write(runtime_of(request.app.state).engine) as conn:
        return joins.save_settings(
            conn,
            principal,
            list_id,
            keywords=data.keywords,
            request_text=data.request_text,
            form_enabled=data.form_enabled,
            consent_text=data.consent_text,
        ).as_dict()


@get(
    "/api/v1/consents/{number:str}/join-requests",
    tags=["consents"],
    sync_to_thread=True,
    operation_id="consents_join_requests",
)
def join_requests(request: Request, principal: Principal, number: str) -> dict[str, Any]:
    """The number's double opt-in requests (pending, confirmed, expired or canceled)."""
    with read(runtime_of(request.app.state).engine) as conn:
        policy = get_workspace(conn, principal.workspace_id).policy
        e164 = normalize(number, policy.default_region)
        return {"number": e164, "items": joins.requests_of(conn, principal.workspace_id, e164)}


ROUTES = [Router(path="/", route_handlers=[join_settings, set_join_settings, join_requests])]
