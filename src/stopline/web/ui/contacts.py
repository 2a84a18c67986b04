"""Contacts: the table with search and filters, a contact's page, notes, lists, bulk unsubscribe."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post
from litestar.datastructures import FormMultiDict
from litestar.params import Parameter

from stopline.domain.errors import NotFound, StoplineError
from stopline.services import bulk, directory, evidence, preferences, workspaces
from stopline.services import contacts as contacts_service
from stopline.services.directory import ContactFilter
from stopline.web.ui.kit import (
    Viewer,
    form_list,
    form_str,
    has,
    int_or_none,
    optional_service,
    redirect,
    render,
    safe_next,
    ui_router,
)

PAGE_SIZE = 50


def _lists(viewer: Viewer, conn: Any) -> list[Any]:
    campaigns = optional_service("stopline.services.campaigns")
    if campaigns is None or not hasattr(campaigns, "list_lists"):
        return []
    return list(campaigns.list_lists(conn, viewer.workspace_id))


def _filter(q: str, status: str, list_id: str, ids: list[str] | None = None) -> ContactFilter:
    return ContactFilter(
        search=q.strip() or None,
        status=status if status in directory.STATUSES else None,
        list_id=int_or_none(list_id),
        ids=tuple(i for i in (int_or_none(x) for x in ids) if i is not None) if ids else None,
    )


@get("/contacts", sync_to_thread=True)
def contacts_page(
    request: Request,
    viewer: Viewer,
    q: str = Parameter(default="", query="q"),
    status: str = Parameter(default="", query="status"),
    list_id: str = Parameter(default="", query="list"),
    page: int = Parameter(default=1, query="page", ge=1),
) -> Response[Any]:
    flt = _filter(q, status, list_id)
    with viewer.reading() as conn:
        rows, total = directory.list_contacts(
            conn, viewer.workspace_id, flt, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE
        )
        lists = _lists(viewer, conn)
    return render(
        request,
        viewer,
        "contacts.html",
        title="Contacts",
        nav="contacts",
        rows=rows,
        total=total,
        q=q,
        contact_status=flt.status or "",
        list_id=flt.list_id,
        lists=lists,
        page=page,
        pages=max(1, -(-total // PAGE_SIZE)),
        params={"q": q, "status": flt.status or "", "list": flt.list_id or ""},
    )


@get("/contacts/new", sync_to_thread=True)
def new_contact(request: Request, viewer: Viewer) -> Response[Any]:
    return render(
        request,
        viewer,
        "contact_form.html",
        title="New contact",
        nav="contacts",
        name="",
        numbers="",
        email="",
        error=None,
    )


@post("/contacts", sync_to_thread=True)
def create_contact(request: Request, viewer: Viewer, form: FormMultiDict) -> Response[Any]:
    name, numbers, email = (
        form_str(form, "name"),
        form_str(form, "numbers"),
        form_str(form, "email"),
    )
    try:
        with viewer.writing() as conn:
            contact = directory.create_contact(
                conn,
                viewer.principal,
                name=name,
                numbers=[n for n in numbers.replace(",", "\n").splitlines() if n.strip()],
                email=email or None,
            )
    except StoplineError as exc:
        return render(
            request,
            viewer,
            "contact_form.html",
            status=422,
            title="New contact",
            nav="contacts",
            name=name,
            numbers=numbers,
            email=email,
            error=exc.message,
        )
    return redirect(request, f"/contacts/{contact.id}", flash=f"Created {contact.name}.")


@get("/contacts/{contact_id:int}", sync_to_thread=True)
def contact_page(request: Request, viewer: Viewer, contact_id: int) -> Response[Any]:
    with viewer.reading() as conn:
        policy = workspaces.get_workspace(conn, viewer.workspace_id).policy
        contact = directory.get_contact(conn, viewer.workspace_id, contact_id)
        prefs = [
            preferences.for_number(conn, viewer.workspace_id, n, policy) for n in contact.numbers
        ]
        notes = directory.list_notes(conn, viewer.workspace_id, contact_id)
        lists = _lists(viewer, conn)
        opt_ins = {n: evidence.opt_ins(conn, viewer.workspace_id, n) for n in contact.numbers}
    contacts_service = optional_service("stopline.services.contacts")
    return render(
        request,
        viewer,
        "contact.html",
        title=contact.name,
        nav="contacts",
        contact=contact,
        prefs_list=prefs,
        notes=notes,
        notes_available=True,
        lists=lists,
        opt_ins=opt_ins,
        can_merge=contacts_service is not None and hasattr(contacts_service, "merge_contacts"),
        can_delete=contacts_service is not None and hasattr(contacts_service, "delete_contact"),
    )


@post("/contacts/{contact_id:int}/notes", sync_to_thread=True)
def add_note(
    request: Request, viewer: Viewer, form: FormMultiDict, contact_id: int
) -> Response[Any]:
    back = safe_next(form_str(form, "next"), f"/contacts/{contact_id}")
    try:
        with viewer.writing() as conn:
            directory.get_contact(conn, viewer.workspace_id, contact_id)
            contacts_service.add_note(conn, viewer.principal, contact_id, form_str(form, "body"))
    except StoplineError as exc:
        if exc.code == "contact_not_found":
            raise
        return redirect(request, back, flash=exc.message, kind="error")
    return redirect(request, back, flash="Note saved.")


@post("/contacts/{contact_id:int}/lists", sync_to_thread=True)
def add_to_list(
    request: Request, viewer: Viewer, form: FormMultiDict, contact_id: int
) -> Response[Any]:
    campaigns = optional_service("stopline.services.campaigns")
    list_id = int_or_none(form_str(form, "list_id"))
    with viewer.writing() as conn:
        contact = directory.get_contact(conn, viewer.workspace_id, contact_id)
        if campaigns is None or list_id is None:
            return redirect(
                request, f"/contacts/{contact_id}", flash="Choose a list.", kind="error"
            )
        added = campaigns.add_members(conn, viewer.principal, list_id, list(contact.numbers))
    word = "number" if added.added == 1 else "numbers"
    return redirect(
        request,
        f"/contacts/{contact_id}",
        flash=f"Added {added.added} {word} to the list ({added.already} already on it).",
    )


def _service_or_404(name: str) -> Any:
    module = optional_service("stopline.services.contacts")
    if not has(module, name):
        raise NotFound("This action is not available in this version.", code="not_available")
    return module


@get("/contacts/{contact_id:int}/merge", sync_to_thread=True)
def merge_form(request: Request, viewer: Viewer, contact_id: int) -> Response[Any]:
    _service_or_404("merge_contacts")
    with viewer.reading() as conn:
        contact = directory.get_contact(conn, viewer.workspace_id, contact_id)
        others, _ = directory.list_contacts(conn, viewer.workspace_id, ContactFilter(), limit=500)
    return render(
        request,
        viewer,
        "contact_merge.html",
        title=f"Merge {contact.name}",
        nav="contacts",
        contact=contact,
        others=[o for o in others if o.id != contact_id],
    )


@post("/contacts/{contact_id:int}/merge", sync_to_thread=True)
def merge(request: Request, viewer: Viewer, form: FormMultiDict, contact_id: int) -> Response[Any]:
    service = _service_or_404("merge_contacts")
    source = int_or_none(form_str(form, "source_id"))
    with viewer.writing() as conn:
        merged = service.merge_contacts(conn, viewer.principal, contact_id, source or 0)
    return redirect(request, f"/contacts/{contact_id}", flash=f"Merged into {merged.name}.")


@get("/contacts/{contact_id:int}/delete", sync_to_thread=True)
def delete_form(request: Request, viewer: Viewer, contact_id: int) -> Response[Any]:
    _service_or_404("delete_contact")
    with viewer.reading() as conn:
        contact = directory.get_contact(conn, viewer.workspace_id, contact_id)
    return render(
        request,
        viewer,
        "contact_delete.html",
        title=f"Delete {contact.name}",
        nav="contacts",
        contact=contact,
    )


@post("/contacts/{contact_id:int}/delete", sync_to_thread=True)
def delete(request: Request, viewer: Viewer, contact_id: int) -> Response[Any]:
    service = _service_or_404("delete_contact")
    with viewer.writing() as conn:
        contact = directory.get_contact(conn, viewer.workspace_id, contact_id)
        service.delete_contact(conn, viewer.principal, contact_id)
    return redirect(
        request,
        "/contacts",
        flash=f"Deleted {contact.name}. Its numbers' opt-outs and blocks remain.",
    )


# --- bulk unsubscribe --------------------------------------------------------------------------


STALE = "The selected contacts changed since you reviewed them. Review the audience again."


def _review(
    request: Request,
    viewer: Viewer,
    flt: ContactFilter,
    params: dict[str, Any],
    *,
    error: str | None = None,
    status: int = 200,
    reason: str = "",
) -> Response[Any]:
    """The audience of a bulk unsubscribe: count, sample and a signed, expiring token."""
    with viewer.reading() as conn:
        audience = bulk.preview(conn, viewer.rt.keyring, viewer.principal, flt)
    return render(
        request,
        viewer,
        "bulk_review.html",
        status=status,
        title="Review bulk unsubscribe",
        nav="contacts",
        audience=audience,
        flt=flt,
        params=params,
        error=error,
        reason=reason,
    )


@get("/contacts/bulk-unsubscribe", sync_to_thread=True)
def bulk_review(
    request: Request,
    viewer: Viewer,
    q: str = Parameter(default="", query="q"),
    status: str = Parameter(default="", query="status"),
    list_id: str = Parameter(default="", query="list"),
    ids: list[str] | None = Parameter(default=None, query="ids"),
    which: str = Parameter(default="selected", query="scope"),
) -> Response[Any]:
    chosen = ids if which == "selected" else None
    if which == "selected" and not chosen:
        return redirect(
            request, "/contacts", flash="Tick the contacts to unsubscribe first.", kind="error"
        )
    flt = _filter(q, status, list_id, chosen)
    return _review(request, viewer, flt, {"q": q, "status": status, "list": list_id})


@post("/contacts/bulk-unsubscribe", sync_to_thread=True)
def bulk_confirm(request: Request, viewer: Viewer, form: FormMultiDict) -> Response[Any]:
    """Confirm the reviewed audience; the signed token carries its filter and audience hash."""
    reason = form_str(form, "reason")
    try:
        with viewer.writing() as conn:
            result = bulk.confirm(
                conn,
                viewer.rt.keyring,
                viewer.principal,
                form_str(form, "token"),
                reason=reason or None,
            )
    except StoplineError as exc:
        params = {
            "q": form_str(form, "q"),
            "status": form_str(form, "status"),
            "list": form_str(form, "list"),
        }
        flt = _filter(params["q"], params["status"], params["list"], form_list(form, "ids"))
        error = STALE if exc.code == "bulk_audience_changed" else exc.message
        return _review(request, viewer, flt, params, error=error, status=409, reason=reason)
    done, kept = len(result.opted_out), len(result.already)
    message = f"Unsubscribed {done} number{'s' if done != 1 else ''}."
    if kept:
        message += f" {kept} already opted out or blocked were kept as they were."
    return redirect(request, "/contacts", flash=message)


ROUTES = [
    ui_router(
        contacts_page,
        new_contact,
        create_contact,
        bulk_review,
        bulk_confirm,
        contact_page,
        add_note,
        add_to_list,
    )
]
