"""The Opt-Outs page (seed 003): every opted-out number, search, filter, add, edit, remove."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post
from litestar.datastructures import FormMultiDict
from litestar.params import Parameter

from stopline.domain.errors import InvalidInput, NotFound, StoplineError
from stopline.services import optouts, workspaces
from stopline.web.ui.kit import (
    Viewer,
    form_str,
    has,
    optional_service,
    redirect,
    render,
    ui_router,
)

PAGE_SIZE = 50
METHODS = ("reply", "manual", "link", "import", "api", "carrier")


def _email_configured(viewer: Viewer, conn: Any) -> bool:
    from stopline.services import mail

    try:
        mail.require_configured_for(conn, viewer.rt.keyring, viewer.workspace_id)
    except StoplineError:
        return False
    return True


@get("/opt-outs", sync_to_thread=True)
def opt_outs_page(
    request: Request,
    viewer: Viewer,
    q: str = Parameter(default="", query="q"),
    method: str = Parameter(default="", query="method"),
    page: int = Parameter(default=1, query="page", ge=1),
) -> Response[Any]:
    error = None
    rows: list[optouts.OptOutRow] = []
    total = 0
    if method and method not in METHODS:
        method = ""
    with viewer.reading() as conn:
        policy = workspaces.get_workspace(conn, viewer.workspace_id).policy
        can_email = _email_configured(viewer, conn)
    try:
        with viewer.reading() as conn:
            rows, total = optouts.list_opt_outs(
                conn,
                viewer.workspace_id,
                search=q or None,
                method=method or None,
                limit=PAGE_SIZE,
                offset=(page - 1) * PAGE_SIZE,
            )
    except InvalidInput as exc:
        error = exc.message
    imports = optional_service("stopline.services.imports")
    exports = optional_service("stopline.services.exports")
    return render(
        request,
        viewer,
        "optouts.html",
        title="Opt-Outs",
        nav="optouts",
        rows=rows,
        total=total,
        q=q,
        method=method,
        page=page,
        pages=max(1, -(-total // PAGE_SIZE)),
        methods=METHODS,
        error=error,
        policy=policy,
        can_email=can_email,
        can_edit=has(optouts, "edit_opt_out"),
        can_import=imports is not None,
        can_export=exports is not None,
        params={"q": q, "method": method},
    )


@get("/opt-outs/new", sync_to_thread=True)
def add_form(request: Request, viewer: Viewer) -> Response[Any]:
    return render(
        request,
        viewer,
        "optout_form.html",
        title="Add opt-out",
        nav="optouts",
        number="",
        reason="",
        error=None,
        editing=None,
    )


@post("/opt-outs", sync_to_thread=True)
def add(request: Request, viewer: Viewer, form: FormMultiDict) -> Response[Any]:
    number = form_str(form, "number")
    reason = form_str(form, "reason")
    try:
        with viewer.writing() as conn:
            result = optouts.add_opt_out(conn, viewer.principal, number, reason=reason or None)
    except StoplineError as exc:
        return render(
            request,
            viewer,
            "optout_form.html",
            status=422,
            title="Add opt-out",
            nav="optouts",
            number=number,
            reason=reason,
            error=exc.message,
            editing=None,
        )
    shown = result.event.number if result.event else number
    if not result.changed:
        return redirect(request, "/opt-outs", flash=f"{shown} was already opted out.", kind="warn")
    message = f"Opted out {shown}."
    if result.canceled_messages:
        message += f" {result.canceled_messages} queued message(s) cancelled."
    return redirect(request, "/opt-outs", flash=message)


def _current(viewer: Viewer, number: str) -> optouts.OptOutRow:
    with viewer.reading() as conn:
        policy = workspaces.get_workspace(conn, viewer.workspace_id).policy
        from stopline.domain.numbers import normalize

        e164 = normalize(number, policy.default_region)
        rows, _ = optouts.list_opt_outs(conn, viewer.workspace_id, search=e164, limit=50)
    for row in rows:
        if row.number == e164 and row.scope == "workspace":
            return row
    for row in rows:
        if row.number == e164:
            return row
    raise NotFound(f"{e164} has no opt-out in this workspace.", code="not_opted_out")


@get("/opt-outs/{number:str}/edit", sync_to_thread=True)
def edit_form(request: Request, viewer: Viewer, number: str) -> Response[Any]:
    row = _current(viewer, number)
    return render(
        request,
        viewer,
        "optout_form.html",
        title=f"Edit opt-out {row.number}",
        nav="optouts",
        number=row.number,
        reason=row.reason or "",
        error=None,
        editing=row,
        can_edit=has(optouts, "edit_opt_out"),
        resubscribe_policy=_resubscribe_policy(viewer),
        consent_note="",
        keep_old=False,
    )


def _resubscribe_policy(viewer: Viewer) -> str:
    with viewer.reading() as conn:
        return workspaces.get_workspace(conn, viewer.workspace_id).policy.resubscribe_policy.value


@post("/opt-outs/{number:str}/edit", sync_to_thread=True)
def edit(request: Request, viewer: Viewer, form: FormMultiDict, number: str) -> Response[Any]:
    row = _current(viewer, number)
    new_number = form_str(form, "number") or row.number
    reason = form_str(form, "reason")
    consent_note = form_str(form, "consent_note")
    keep_old = form_str(form, "keep_old") == "1"
    try:
        if not has(optouts, "edit_opt_out"):
            raise InvalidInput("Editing opt-outs is not available yet.", code="not_available")
        with viewer.writing() as conn:
            optouts.edit_opt_out(  # type: ignore[attr-defined]
                conn,
                viewer.principal,
                row.number,
                number=new_number,
                reason=reason or None,
                scope=row.scope,
                scope_key=row.scope_key,
                consent_note=consent_note or None,
                keep_old=keep_old,
            )
    except StoplineError as exc:
        return render(
            request,
            viewer,
            "optout_form.html",
            status=422,
            title=f"Edit opt-out {row.number}",
            nav="optouts",
            number=new_number,
            reason=reason,
            error=exc.message,
            editing=row,
            can_edit=True,
            resubscribe_policy=_resubscribe_policy(viewer),
            consent_note=consent_note,
            keep_old=keep_old,
        )
    return redirect(request, "/opt-outs", flash=f"Saved the opt-out for {new_number}.")


ROUTES = [ui_router(opt_outs_page, add_form, add, edit_form, edit)]
