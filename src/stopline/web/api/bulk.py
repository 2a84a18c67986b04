"""JSON API: bulk unsubscribe (seed 002): preview the audience of a contact filter, then confirm."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from litestar import Request, Router, post

from stopline.services import bulk
from stopline.services.contacts import ContactFilter
from stopline.services.workspaces import Principal
from stopline.store.db import read, write
from stopline.web.deps import runtime_of


@dataclass
class AudienceFilter:
    """Which contacts: `search` (name, email or digits), `status` (subscribed, opted_out,
    blocked, no_number), `list_id`, `ids` (exactly these), creation dates."""

    search: str | None = None
    status: str | None = None
    list_id: int | None = None
    ids: list[int] | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None


@dataclass
class Confirm:
    token: str
    reason: str | None = None


@post(
    "/api/v1/bulk-unsubscribe/preview",
    tags=["bulk"],
    sync_to_thread=True,
    status_code=200,
    operation_id="bulk_preview",
)
def preview(request: Request, principal: Principal, data: AudienceFilter) -> dict[str, Any]:
    """The audience: contacts and numbers counted, how many are already opted out, a sample,
    and a `token` bound to exactly these numbers (valid 30 minutes)."""
    rt = runtime_of(request.app.state)
    flt = ContactFilter(
        search=data.search,
        status=data.status,
        list_id=data.list_id,
        ids=tuple(data.ids) if data.ids is not None else None,
        created_after=data.created_after,
        created_before=data.created_before,
    )
    with read(rt.engine) as conn:
        return bulk.preview(conn, rt.keyring, principal, flt).as_dict()


@post(
    "/api/v1/bulk-unsubscribe/confirm",
    tags=["bulk"],
    sync_to_thread=True,
    status_code=200,
    operation_id="bulk_confirm",
)
def confirm(request: Request, principal: Principal, data: Confirm) -> dict[str, Any]:
    """Opt the reviewed audience out (one event per number, method `manual`). 409
    `bulk_audience_changed` if it is no longer what was reviewed; 403 if the token expired."""
    rt = runtime_of(request.app.state)
    with write(rt.engine) as conn:
        return bulk.confirm(conn, rt.keyring, principal, data.token, reason=data.reason).as_dict()


# One router per module: Litestar re-registers every handler of a path each time a handler
# joins it, which wraps sync_to_thread handlers twice when they are registered one by one.
ROUTES = [Router(path="/", route_handlers=[preview, confirm])]
