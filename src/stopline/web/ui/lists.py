"""Lists: create, rename and delete them, see and import members, and set each list's keywords
and replies (seed 001: OPTOUT unsubscribes from that list only)."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post
from litestar.datastructures import FormMultiDict, UploadFile
from litestar.params import Parameter
from litestar.response import Redirect

from stopline.domain.errors import InvalidInput, StoplineError
from stopline.services import joins, workspaces
from stopline.services import lists as service
from stopline.web.ui.kit import Viewer, form_str, redirect, render, ui_router

INTENTS = {"opt_out": "Opt-out words", "opt_in": "Opt-in words", "help": "Help words"}
PAGE_SIZE = 50
MAX_UPLOAD = 20 * 1024 * 1024


@get("/lists", sync_to_thread=True)
def lists_page(request: Request, viewer: Viewer) -> Response[Any]:
    return _index(request, viewer)


def _index(
    request: Request, viewer: Viewer, *, error: str | None = None, name: str = "", status: int = 200
) -> Response[Any]:
    with viewer.reading() as conn:
        lists = service.all_lists(conn, viewer.workspace_id)
    return render(
        request,
        viewer,
        "lists.html",
        status=status,
        title="Lists",
        nav="contacts",
        lists=lists,
        error=error,
        name=name,
    )


@get("/settings/lists", sync_to_thread=False)
def old_settings_lists() -> Redirect:
    return Redirect("/lists", status_code=303)


@post("/lists", sync_to_thread=True)
def create_list(request: Request, viewer: Viewer, form: FormMultiDict) -> Response[Any]:
    name = form_str(form, "name")
    try:
        with viewer.writing() as conn:
            created = service.create_list(conn, viewer.principal, name=name)
    except StoplineError as exc:
        return _index(request, viewer, error=exc.message, name=name, status=422)
    return redirect(request, f"/lists/{created.id}", flash=f"Created the list {created.name}.")


def _list_page(
    request: Request,
    viewer: Viewer,
    list_id: int,
    *,
    q: str = "",
    page: int = 1,
    error: str | None = None,
    error_at: str = "",
    form_values: dict[str, Any] | None = None,
    report: service.MemberImport | None = None,
    status: int = 200,
) -> Response[Any]:
    with viewer.reading() as conn:
        lst = service.get_list(conn, viewer.workspace_id, list_id)
        members, total = service.members(
            conn,
            viewer.workspace_id,
            list_id,
            search=q or None,
            limit=PAGE_SIZE,
            offset=(page - 1) * PAGE_SIZE,
        )
        policy = workspaces.get_workspace(conn, viewer.workspace_id).policy
        join = joins.get_settings(conn, viewer.workspace_id, list_id)
    values = {
        **{intent: ", ".join(lst.keywords.get(intent, [])) for intent in INTENTS},
        "help_text": lst.help_text or "",
        "reply_opt_out": lst.replies.get("opt_out", ""),
        "reply_opt_in": lst.replies.get("opt_in", ""),
        "name": lst.name,
        **(form_values or {}),
    }
    from stopline.domain.list_replies import LIST_CONFIRMATIONS

    return render(
        request,
        viewer,
        "list.html",
        status=status,
        title=f"List {lst.name}",
        nav="contacts",
        lst=lst,
        members=members,
        total=total,
        q=q,
        page=page,
        pages=max(1, -(-total // PAGE_SIZE)),
        params={"q": q},
        intents=INTENTS,
        values=values,
        defaults=LIST_CONFIRMATIONS["en"],
        error=error,
        error_at=error_at,
        report=report,
        can_admin=viewer.can("admin"),
        policy=policy,
        join=join,
    )


@get("/lists/{list_id:int}", sync_to_thread=True)
def list_page(
    request: Request,
    viewer: Viewer,
    list_id: int,
    q: str = Parameter(default="", query="q", max_length=200),
    page: int = Parameter(default=1, query="page", ge=1),
) -> Response[Any]:
    return _list_page(request, viewer, list_id, q=q, page=page)


@post("/lists/{list_id:int}/rename", sync_to_thread=True)
def rename(request: Request, viewer: Viewer, form: FormMultiDict, list_id: int) -> Response[Any]:
    name = form_str(form, "name")
    try:
        with viewer.writing() as conn:
            saved = service.update_list(conn, viewer.principal, list_id, name=name)
    except StoplineError as exc:
        if exc.code == "list_not_found":
            raise
        return _list_page(
            request,
            viewer,
            list_id,
            error=exc.message,
            error_at="name",
            form_values={"name": name},
            status=422,
        )
    return redirect(request, f"/lists/{list_id}", flash=f"Renamed the list to {saved.name}.")


@post("/lists/{list_id:int}/keywords", sync_to_thread=True)
def save_keywords(
    request: Request, viewer: Viewer, form: FormMultiDict, list_id: int
) -> Response[Any]:
    viewer.principal.require("admin")
    words = {
        intent: [w.strip() for w in form_str(form, intent).split(",") if w.strip()]
        for intent in INTENTS
    }
    try:
        with viewer.writing() as conn:
            saved = service.update_list(
                conn,
                viewer.principal,
                list_id,
                keywords={k: v for k, v in words.items() if v},
                help_text=form_str(form, "help_text") or None,
                replies={
                    "opt_out": form_str(form, "reply_opt_out"),
                    "opt_in": form_str(form, "reply_opt_in"),
                },
            )
    except StoplineError as exc:
        if exc.code in ("list_not_found", "forbidden"):
            raise
        values = {key: form_str(form, key) for key in (*INTENTS, "help_text")}
        values["reply_opt_out"] = form_str(form, "reply_opt_out")
        values["reply_opt_in"] = form_str(form, "reply_opt_in")
        return _list_page(
            request,
            viewer,
            list_id,
            error=exc.message,
            error_at="keywords",
            form_values=values,
            status=422,
        )
    return redirect(
        request, f"/lists/{list_id}#keywords", flash=f"Saved the keywords of {saved.name}."
    )


@post("/lists/{list_id:int}/join", sync_to_thread=True)
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
    except StoplineError as exc:
        if exc.code in ("list_not_found", "forbidden"):
            raise
        return _list_page(request, viewer, list_id, error=exc.message, error_at="join", status=422)
    return redirect(
        request, f"/lists/{list_id}#join", flash=f"Saved how people join {saved.list_name}."
    )


async def _upload_text(form: FormMultiDict) -> tuple[bytes, str] | None:
    upload = form.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return None
    data = await upload.read(MAX_UPLOAD + 1)
    if len(data) > MAX_UPLOAD:
        raise InvalidInput("The file is larger than 20 MiB.", code="file_too_large")
    return data, upload.filename


@post("/lists/{list_id:int}/members")
async def add_members(
    request: Request, viewer: Viewer, form: FormMultiDict, list_id: int
) -> Response[Any]:
    """Paste numbers (one a line) or upload a CSV/XLSX with a phone column."""
    from anyio import to_thread

    try:
        upload = await _upload_text(form)
    except InvalidInput as exc:
        message = exc.message
        return await to_thread.run_sync(
            lambda: _list_page(
                request, viewer, list_id, error=message, error_at="members", status=422
            )
        )
    pasted = form_str(form, "numbers")

    def run() -> Response[Any]:
        from stopline.files.tabular import read_table

        try:
            if upload is not None:
                with read_table(upload[0], filename=upload[1]) as table:
                    rows = list(table)
            else:
                rows = [
                    (i, line.strip())
                    for i, line in enumerate(pasted.replace(",", "\n").splitlines(), start=1)
                ]
            if not any(raw.strip() for _row, raw in rows):
                raise InvalidInput("Paste numbers or choose a file first.", code="numbers_required")
            with viewer.writing() as conn:
                report = service.import_members(conn, viewer.principal, list_id, rows)
        except StoplineError as exc:
            if exc.code == "list_not_found":
                raise
            return _list_page(
                request, viewer, list_id, error=exc.message, error_at="members", status=422
            )
        return _list_page(request, viewer, list_id, report=report)

    return await to_thread.run_sync(run)


@post("/lists/{list_id:int}/members/remove", sync_to_thread=True)
def remove_member(
    request: Request, viewer: Viewer, form: FormMultiDict, list_id: int
) -> Response[Any]:
    number = form_str(form, "number")
    with viewer.writing() as conn:
        service.remove_members(conn, viewer.principal, list_id, [number])
    return redirect(
        request,
        f"/lists/{list_id}",
        flash=f"Took {number} off the list. Consent is unchanged; it can be added again.",
    )


@get("/lists/{list_id:int}/delete", sync_to_thread=True)
def delete_form(request: Request, viewer: Viewer, list_id: int) -> Response[Any]:
    with viewer.reading() as conn:
        lst = service.get_list(conn, viewer.workspace_id, list_id)
    return render(
        request,
        viewer,
        "list_delete.html",
        title=f"Delete {lst.name}",
        nav="contacts",
        lst=lst,
        can_admin=viewer.can("admin"),
    )


@post("/lists/{list_id:int}/delete", sync_to_thread=True)
def delete(request: Request, viewer: Viewer, list_id: int) -> Response[Any]:
    try:
        with viewer.writing() as conn:
            lst = service.get_list(conn, viewer.workspace_id, list_id)
            service.delete_list(conn, viewer.principal, list_id)
    except StoplineError as exc:
        if exc.code in ("list_not_found", "forbidden"):
            raise
        return redirect(request, f"/lists/{list_id}", flash=exc.message, kind="error")
    return redirect(request, "/lists", flash=f"Deleted the list {lst.name}.")


ROUTES = [
    ui_router(
        lists_page,
        old_settings_lists,
        create_list,
        list_page,
        rename,
        save_keywords,
        save_join,
        add_members,
        remove_member,
        delete_form,
        delete,
    )
]
