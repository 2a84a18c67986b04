"""Settings > Lists: each list's own keywords and HELP reply (seed 001: OPTOUT for that list only)."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post
from litestar.datastructures import FormMultiDict

from stopline.domain.errors import Forbidden, NotFound, StoplineError
from stopline.services import joins
from stopline.web.ui.kit import Viewer, form_str, optional_service, redirect, render, ui_router

INTENTS = {"opt_out": "Opt-out words", "opt_in": "Opt-in words", "help": "Help words"}


def _lists_service() -> Any:
    module = optional_service("stopline.services.lists")
    if module is None or not hasattr(module, "update_list"):
        raise NotFound("Lists are not available in this version.", code="not_available")
    return module


def _page(
    request: Request,
    viewer: Viewer,
    *,
    error: str | None = None,
    error_list: int | None = None,
    status: int = 200,
) -> Response[Any]:
    service = _lists_service()
    with viewer.reading() as conn:
        lists = service.all_lists(conn, viewer.workspace_id)
        join_settings = {x.id: joins.get_settings(conn, viewer.workspace_id, x.id) for x in lists}
    return render(
        request,
        viewer,
        "settings_lists.html",
        status=status,
        title="Settings · Lists",
        nav="settings",
        tab="lists",
        lists=lists,
        joins=join_settings,
        intents=INTENTS,
        error=error,
        error_list=error_list,
        editable=viewer.can("admin"),
    )


@get("/settings/lists", sync_to_thread=True)
def lists_page(request: Request, viewer: Viewer) -> Response[Any]:
    return _page(request, viewer)


@post("/settings/lists/{list_id:int}", sync_to_thread=True)
def save_list(request: Request, viewer: Viewer, form: FormMultiDict, list_id: int) -> Response[Any]:
    viewer.principal.require("admin")
    service = _lists_service()
    keywords = {
        intent: [w.strip() for w in form_str(form, intent).split(",") if w.strip()]
        for intent in INTENTS
    }
    try:
        with viewer.writing() as conn:
            saved = service.update_list(
                conn,
                viewer.principal,
                list_id,
                keywords={k: v for k, v in keywords.items() if v},
                help_text=form_str(form, "help_text") or None,
            )
    except Forbidden:
        raise
    except StoplineError as exc:
        if exc.code == "list_not_found":
            raise
        return _page(request, viewer, error=exc.message, error_list=list_id, status=422)
    return redirect(request, "/settings/lists", flash=f"Saved the keywords of {saved.name}.")


@post("/settings/lists/{list_id:int}/join", sync_to_thread=True)
def save_join(request: Request, viewer: Viewer, form: FormMultiDict, list_id: int) -> Response[Any]:
    """A list's join keywords, double opt-in request and hosted form (domain/join.py)."""
    viewer.principal.require("admin")
    try:
        with viewer.writing() as conn:
            saved = joins.save_settings(
                conn,
                viewer.principal,
                list_id,
                keywords=[
                    w.strip() for w in form_str(form, "join_keywords").split(",") if w.strip()
                ],
                request_text=form_str(form, "request_text") or None,
                form_enabled=form_str(form, "form_enabled") == "on",
                consent_text=form_str(form, "consent_text") or None,
            )
    except Forbidden:
        raise
    except StoplineError as exc:
        if exc.code == "list_not_found":
            raise
        return _page(request, viewer, error=exc.message, error_list=list_id, status=422)
    return redirect(request, "/settings/lists", flash=f"Saved how people join {saved.list_name}.")


ROUTES = [ui_router(lists_page, save_list, save_join)]
