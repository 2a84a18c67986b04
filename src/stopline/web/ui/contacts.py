"""Contacts: the table with search and filters, a contact's page, notes, lists, bulk unsubscribe."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post
from litestar.datastructures import FormMultiDict
from litestar.params import Parameter

from stopline.domain.errors import NotFound, StoplineError
from stopline.services import bulk, directory, evidence, preferences, workspaces
from stopline.services import contacts as contacts_service
from stopline.services import lists as lists_service
from stopline.services.checks import check_send
from stopline.services.consent import now_utc
from stopline.services.contacts import get_contact as contact_record
from stopline.services.contacts import update_contact
from stopline.services.directory import ContactFilter
from stopline.web.ui.kit import (
    Viewer,
    form_list,
    form_str,
    int_or_none,
    redirect,
    render,
    safe_next,
    ui_router,
)
from stopline.web.ui.send_times import in_words

PAGE_SIZE = 50


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
        lists = lists_service.all_lists(conn, viewer.workspace_id)
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
def new_contact(
    request: Request,
    viewer: Viewer,
    number: str = Parameter(default="", query="number", max_length=64),
    next_url: str = Parameter(default="", query="next", max_length=500),
) -> Response[Any]:
    """A blank contact, or one for the unknown number of a conversation (then back to it)."""
    return render(
        request,
        viewer,
        "contact_form.html",
        title="New contact",
        nav="contacts",
        name="",
        numbers=number,
        email="",
        error=None,
        next_url=safe_next(next_url, ""),
    )


@post("/contacts", sync_to_thread=True)
def create_contact(request: Request, viewer: Viewer, form: FormMultiDict) -> Response[Any]:
    name, numbers, email = (
        form_str(form, "name"),
        form_str(form, "numbers"),
        form_str(form, "email"),
    )
    next_url = safe_next(form_str(form, "next"), "")
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
            next_url=next_url,
        )
    return redirect(
        request, next_url or f"/contacts/{contact.id}", flash=f"Created {contact.name}."
    )


@get("/contacts/{contact_id:int}", sync_to_thread=True)
def contact_page(request: Request, viewer: Viewer, contact_id: int) -> Response[Any]:
    with viewer.reading() as conn:
        policy = workspaces.get_workspace(conn, viewer.workspace_id).policy
        contact = directory.get_contact(conn, viewer.workspace_id, contact_id)
        prefs = [
            preferences.for_number(conn, viewer.workspace_id, n, policy) for n in contact.numbers
        ]
        notes = directory.list_notes(conn, viewer.workspace_id, contact_id)
        lists = lists_service.all_lists(conn, viewer.workspace_id)
        record = contact_record(conn, viewer.workspace_id, contact_id)
        now = now_utc()
        send_times = {
            n: in_words(
                "Marketing texts",
                check_send(
                    conn, viewer.workspace_id, n, policy=policy, category="marketing", at=now
                ),
                now,
            )
            for n in contact.numbers
        }
        opt_ins = {n: evidence.opt_ins(conn, viewer.workspace_id, n) for n in contact.numbers}
        member_of = lists_service.memberships(conn, viewer.workspace_id, list(contact.numbers))
    names = {lst.id: lst.name for lst in lists}
    left = {(lo.list_id, p.number) for p in prefs for lo in p.list_opt_outs}
    list_rows = [
        {
            "list_id": list_id,
            "list_name": names.get(list_id, f"List {list_id}"),
            "number": number,
            "member": (list_id, number) in member_of,
            "opted_out": (list_id, number) in left,
        }
        for list_id, number in sorted(member_of | left, key=lambda k: (names.get(k[0], ""), k[1]))
    ]
    return render(
        request,
        viewer,
        "contact.html",
        title=contact.name,
        nav="contacts",
        contact=contact,
        policy=policy,
        record=record,
        send_times=send_times,
        prefs_list=prefs,
        notes=notes,
        notes_available=True,
        lists=lists,
        list_rows=list_rows,
        opt_ins=opt_ins,
    )


@post("/contacts/{contact_id:int}/place", sync_to_thread=True)
def save_place(
    request: Request, viewer: Viewer, form: FormMultiDict, contact_id: int
) -> Response[Any]:
    """The contact's own time zone and ZIP code: they win over the number's area code."""
    try:
        with viewer.writing() as conn:
            update_contact(
                conn,
                viewer.principal,
                contact_id,
                time_zone=form_str(form, "time_zone"),
                postal_code=form_str(form, "postal_code"),
            )
    except StoplineError as exc:
        if exc.code == "contact_not_found":
            raise
        return redirect(request, f"/contacts/{contact_id}", flash=exc.message, kind="error")
    return redirect(request, f"/contacts/{contact_id}", flash="Location saved.")


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
    list_id = int_or_none(form_str(form, "list_id"))
    back = f"/contacts/{contact_id}"
    with viewer.writing() as conn:
        # The contact first: another workspace's id is a 404 whatever else the form says.
        contact = directory.get_contact(conn, viewer.workspace_id, contact_id)
        if list_id is None:
            return redirect(request, back, flash="Choose a list.", kind="error")
        added = lists_service.add_members(conn, viewer.principal, list_id, list(contact.numbers))
    count = len(added.added)
    word = "number" if count == 1 else "numbers"
    return redirect(
        request,
        back,
        flash=f"Added {count} {word} to the list ({len(added.already)} already on it).",
    )


@post("/contacts/{contact_id:int}/lists/{list_id:int}/{action:str}", sync_to_thread=True)
def list_action(
    request: Request,
    viewer: Viewer,
    form: FormMultiDict,
    contact_id: int,
    list_id: int,
    action: str,
) -> Response[Any]:
    """Per number and list: take it off the list, opt it out of that list only, or opt it back in."""
    back = f"/contacts/{contact_id}"
    number = form_str(form, "number")
    try:
        with viewer.writing() as conn:
            contact = directory.get_contact(conn, viewer.workspace_id, contact_id)
            if number not in contact.numbers:
                raise NotFound("The contact has no such number.", code="number_not_found")
            name = lists_service.get_list(conn, viewer.workspace_id, list_id).name
            if action == "remove":
                lists_service.remove_members(conn, viewer.principal, list_id, [number])
                done = f"Took {number} off {name}. It can be added again; consent is unchanged."
            elif action == "opt-out":
                lists_service.opt_out(
                    conn, viewer.principal, list_id, number, reason=form_str(form, "reason") or None
                )
                done = f"Opted {number} out of {name} only."
            elif action == "opt-in":
                lists_service.opt_in(
                    conn, viewer.principal, list_id, number, consent_note=form_str(form, "note")
                )
                done = f"Opted {number} back in to {name}."
            else:
                raise NotFound("There is nothing at this address.", code="not_found")
    except StoplineError as exc:
        if exc.code in ("contact_not_found", "list_not_found", "not_found"):
            raise
        return redirect(request, back, flash=exc.message, kind="error")
    return redirect(request, back, flash=done)


@get("/contacts/{contact_id:int}/edit", sync_to_thread=True)
def edit_form(request: Request, viewer: Viewer, contact_id: int) -> Response[Any]:
    with viewer.reading() as conn:
        contact = directory.get_contact(conn, viewer.workspace_id, contact_id)
    return _edit_page(
        request, viewer, contact, contact.name, "\n".join(contact.numbers), contact.email or ""
    )


def _edit_page(
    request: Request,
    viewer: Viewer,
    contact: Any,
    name: str,
    numbers: str,
    email: str,
    *,
    error: str | None = None,
    status: int = 200,
) -> Response[Any]:
    return render(
        request,
        viewer,
        "contact_edit.html",
        status=status,
        title=f"Edit {contact.name or 'contact'}",
        nav="contacts",
        contact=contact,
        name=name,
        numbers=numbers,
        email=email,
        error=error,
    )


@post("/contacts/{contact_id:int}/edit", sync_to_thread=True)
def save_contact(
    request: Request, viewer: Viewer, form: FormMultiDict, contact_id: int
) -> Response[Any]:
    name, numbers, email = (
        form_str(form, "name"),
        form_str(form, "numbers"),
        form_str(form, "email"),
    )
    try:
        with viewer.writing() as conn:
            contacts_service.edit_contact(
                conn,
                viewer.principal,
                contact_id,
                name=name,
                email=email or None,
                numbers=numbers.replace(",", "\n").splitlines(),
            )
    except StoplineError as exc:
        if exc.code == "contact_not_found":
            raise
        with viewer.reading() as conn:
            contact = directory.get_contact(conn, viewer.workspace_id, contact_id)
        return _edit_page(
            request, viewer, contact, name, numbers, email, error=exc.message, status=422
        )
    return redirect(request, f"/contacts/{contact_id}", flash="Contact saved.")


@get("/contacts/{contact_id:int}/merge", sync_to_thread=True)
def merge_form(request: Request, viewer: Viewer, contact_id: int) -> Response[Any]:
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
    source = int_or_none(form_str(form, "source_id"))
    try:
        with viewer.writing() as conn:
            merged = contacts_service.merge_contacts(
                conn, viewer.principal, contact_id, source or 0
            )
    except StoplineError as exc:
        if exc.code == "contact_not_found":
            raise  # either id unknown here (another workspace's, or deleted): 404, nothing merged
        return redirect(request, f"/contacts/{contact_id}/merge", flash=exc.message, kind="error")
    name = merged.name or "this contact"
    return redirect(request, f"/contacts/{contact_id}", flash=f"Merged into {name}.")


@get("/contacts/{contact_id:int}/delete", sync_to_thread=True)
def delete_form(request: Request, viewer: Viewer, contact_id: int) -> Response[Any]:
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
    with viewer.writing() as conn:
        contact = directory.get_contact(conn, viewer.workspace_id, contact_id)
        contacts_service.delete_contact(conn, viewer.principal, contact_id)
    return redirect(
        request,
        "/contacts",
        flash=f"Deleted {contact.name or 'the contact'}. Its numbers' opt-outs and blocks remain.",
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
        save_place,
        add_note,
        add_to_list,
        list_action,
        edit_form,
        save_contact,
        merge_form,
        merge,
        delete_form,
        delete,
    )
]
