"""Provider sync (admins): what each provider was told of consent changes, what failed, retry."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post
from litestar.params import Parameter

from stopline.services import provider_sync
from stopline.web.ui.kit import Viewer, redirect, render, ui_router

STATES = ("all", "pending", "failed", "delivered")


@get("/sync", sync_to_thread=True)
def sync_page(
    request: Request, viewer: Viewer, show: str = Parameter(default="all", query="state")
) -> Response[Any]:
    viewer.principal.require("admin")
    if show not in STATES:
        show = "all"
    with viewer.reading() as conn:
        result = provider_sync.status(
            conn, viewer.workspace_id, states=None if show == "all" else [show], limit=200
        )
    return render(
        request,
        viewer,
        "sync.html",
        title="Provider sync",
        nav="sync",
        counts=result.counts,
        items=result.items,
        sync_state=show,
        STATES=STATES,
    )


@post("/sync/{item_id:int}/retry", sync_to_thread=True)
def retry(request: Request, viewer: Viewer, item_id: int) -> Response[Any]:
    with viewer.writing() as conn:
        provider_sync.retry(conn, viewer.principal, item_id)
    return redirect(
        request, "/sync", flash=f"Report {item_id} will be sent again on the worker's next pass."
    )


ROUTES = [ui_router(sync_page, retry)]
