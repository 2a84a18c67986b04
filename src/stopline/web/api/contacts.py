"""JSON API: contacts with numbers and notes, merge and delete, communication preferences, and
a contact's consent actions (opt out, re-subscribe, block, unblock: on each of its numbers)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from litestar import Request, Router, delete, get, patch, post
from litestar.params import Parameter

from stopline.services import contacts
from stopline.services.consent import ChangeResult
from stopline.services.contacts import ContactFilter
from stopline.services.workspaces import Principal
from stopline.store.db import read, write
from stopline.web.deps import runtime_of


@dataclass
class NumberIn:
    number: str
    label: str = "mobile"


@dataclass
class NewContact:
    name: str = ""
    email: str | None = None
    numbers: list[NumberIn] = field(default_factory=list)
    note: str | None = None


@dataclass
class ContactChanges:
    name: str | None = None
    email: str | None = None


@dataclass
class NoteIn:
    body: str


@dataclass
class MergeIn:
    """The contact to fold into this one; it is deleted after its numbers and notes move."""

    source_id: int


@dataclass
class ReasonIn:
    reason: str | None = None


@dataclass
class ConsentNoteIn:
    consent_note: str | None = None


def _changes(results: list[ChangeResult]) -> dict[str, Any]:
    return {
        "numbers": [
            {
                "number": r.event.number if r.event else None,
                "changed": r.changed,
                "event_seq": r.event.seq if r.event else None,
            }
            for r in results
        ],
        "changed": sum(1 for r in results if r.changed),
    }


@get(
    "/api/v1/contacts",
    tags=["contacts"],
    sync_to_thread=True,
    operation_id="contacts_list_contacts",
)
def list_contacts(
    request: Request,
    principal: Principal,
    search: str | None = Parameter(
        default=None, query="search", description="Name, email or digits"
    ),
    status: str | None = Parameter(
        default=None, query="status", description="subscribed, opted_out, blocked, no_number"
    ),
    list_id: int | None = Parameter(default=None, query="list_id"),
    created_after: datetime | None = Parameter(default=None, query="created_after"),
    created_before: datetime | None = Parameter(default=None, query="created_before"),
    limit: int = Parameter(default=50, query="limit", ge=1, le=1000),
    offset: int = Parameter(default=0, query="offset", ge=0),
) -> dict[str, Any]:
    flt = ContactFilter(
        search=search,
        status=status,
        list_id=list_id,
        created_after=created_after,
        created_before=created_before,
    )
    with read(runtime_of(request.app.state).engine) as conn:
        rows, total = contacts.list_contacts(
            conn, principal.workspace_id, flt, limit=limit, offset=offset
        )
    return {"total": total, "items": [c.as_dict() for c in rows]}


@post(
    "/api/v1/contacts",
    tags=["contacts"],
    sync_to_thread=True,
    status_code=201,
    operation_id="contacts_create_contact",
)
def create_contact(request: Request, principal: Principal, data: NewContact) -> dict[str, Any]:
    """A contact; a number already on another contact is refused (409 `number_taken`)."""
    with write(runtime_of(request.app.state).engine) as conn:
        contact = contacts.create_contact(
            conn,
            principal,
            name=data.name,
            email=data.email,
            numbers=[(n.number, n.label) for n in data.numbers],
            note=data.note,
        )
    return contact.as_dict()


@get(
    "/api/v1/contacts/{contact_id:int}",
    tags=["contacts"],
    sync_to_thread=True,
    operation_id="contacts_get_contact",
)
def get_contact(request: Request, principal: Principal, contact_id: int) -> dict[str, Any]:
    with read(runtime_of(request.app.state).engine) as conn:
        contact = contacts.get_contact(conn, principal.workspace_id, contact_id)
        notes = contacts.list_notes(conn, principal.workspace_id, contact_id)
    return {**contact.as_dict(), "notes": [n.as_dict() for n in notes]}


@patch(
    "/api/v1/contacts/{contact_id:int}",
    tags=["contacts"],
    sync_to_thread=True,
    operation_id="contacts_update_contact",
)
def update_contact(
    request: Request, principal: Principal, contact_id: int, data: ContactChanges
) -> dict[str, Any]:
    with write(runtime_of(request.app.state).engine) as conn:
        kwargs: dict[str, Any] = {"name": data.name}
        if data.email is not None:
            kwargs["email"] = data.email
        return contacts.update_contact(conn, principal, contact_id, **kwargs).as_dict()


@delete(
    "/api/v1/contacts/{contact_id:int}",
    tags=["contacts"],
    sync_to_thread=True,
    status_code=200,
    operation_id="contacts_delete_contact",
)
def delete_contact(request: Request, principal: Principal, contact_id: int) -> dict[str, Any]:
    """Delete a contact with its numbers and notes; the numbers' opt-outs and blocks remain."""
    with write(runtime_of(request.app.state).engine) as conn:
        contacts.delete_contact(conn, principal, contact_id)
    return {"deleted": contact_id}


@post(
    "/api/v1/contacts/{contact_id:int}/numbers",
    tags=["contacts"],
    sync_to_thread=True,
    status_code=201,
    operation_id="contacts_add_number",
)
def add_number(
    request: Request, principal: Principal, contact_id: int, data: NumberIn
) -> dict[str, Any]:
    with write(runtime_of(request.app.state).engine) as conn:
        return contacts.add_number(conn, principal, contact_id, data.number, data.label).as_dict()


@delete(
    "/api/v1/contacts/{contact_id:int}/numbers/{number:str}",
    tags=["contacts"],
    sync_to_thread=True,
    status_code=200,
    operation_id="contacts_remove_number",
)
def remove_number(
    request: Request, principal: Principal, contact_id: int, number: str
) -> dict[str, Any]:
    with write(runtime_of(request.app.state).engine) as conn:
        return contacts.remove_number(conn, principal, contact_id, number).as_dict()


@get(
    "/api/v1/contacts/{contact_id:int}/notes",
    tags=["contacts"],
    sync_to_thread=True,
    operation_id="contacts_list_notes",
)
def list_notes(request: Request, principal: Principal, contact_id: int) -> dict[str, Any]:
    with read(runtime_of(request.app.state).engine) as conn:
        notes = contacts.list_notes(conn, principal.workspace_id, contact_id)
    return {"items": [n.as_dict() for n in notes]}


@post(
    "/api/v1/contacts/{contact_id:int}/notes",
    tags=["contacts"],
    sync_to_thread=True,
    status_code=201,
    operation_id="contacts_add_note",
)
def add_note(
    request: Request, principal: Principal, contact_id: int, data: NoteIn
) -> dict[str, Any]:
    """A note, e.g. consent evidence: "Requested opt-out on Sept 2"."""
    with write(runtime_of(request.app.state).engine) as conn:
        return contacts.add_note(conn, principal, contact_id, data.body).as_dict()


@post(
    "/api/v1/contacts/{contact_id:int}/merge",
    tags=["contacts"],
    sync_to_thread=True,
    status_code=200,
    operation_id="contacts_merge",
)
def merge(request: Request, principal: Principal, contact_id: int, data: MergeIn) -> dict[str, Any]:
    with write(runtime_of(request.app.state).engine) as conn:
        return contacts.merge_contacts(conn, principal, contact_id, data.source_id).as_dict()


@get(
    "/api/v1/contacts/{contact_id:int}/preferences",
    tags=["contacts"],
    sync_to_thread=True,
    operation_id="contacts_preferences",
)
def preferences(request: Request, principal: Principal, contact_id: int) -> dict[str, Any]:
    """Per number: per channel type, channel and list, can a message go, and why not."""
    with read(runtime_of(request.app.state).engine) as conn:
        prefs = contacts.communication_preferences(conn, principal.workspace_id, contact_id)
    return {"contact_id": contact_id, "numbers": [p.as_dict() for p in prefs]}


@post(
    "/api/v1/contacts/{contact_id:int}/opt-out",
    tags=["contacts"],
    sync_to_thread=True,
    status_code=200,
    operation_id="contacts_opt_out",
)
def opt_out(
    request: Request, principal: Principal, contact_id: int, data: ReasonIn
) -> dict[str, Any]:
    with write(runtime_of(request.app.state).engine) as conn:
        return _changes(contacts.opt_out_contact(conn, principal, contact_id, reason=data.reason))


@post(
    "/api/v1/contacts/{contact_id:int}/resubscribe",
    tags=["contacts"],
    sync_to_thread=True,
    status_code=200,
    operation_id="contacts_resubscribe",
)
def resubscribe(
    request: Request, principal: Principal, contact_id: int, data: ConsentNoteIn
) -> dict[str, Any]:
    with write(runtime_of(request.app.state).engine) as conn:
        return _changes(
            contacts.resubscribe_contact(
                conn, principal, contact_id, consent_note=data.consent_note
            )
        )


@post(
    "/api/v1/contacts/{contact_id:int}/block",
    tags=["contacts"],
    sync_to_thread=True,
    status_code=200,
    operation_id="contacts_block",
)
def block(
    request: Request, principal: Principal, contact_id: int, data: ReasonIn
) -> dict[str, Any]:
    with write(runtime_of(request.app.state).engine) as conn:
        return _changes(contacts.block_contact(conn, principal, contact_id, reason=data.reason))


@post(
    "/api/v1/contacts/{contact_id:int}/unblock",
    tags=["contacts"],
    sync_to_thread=True,
    status_code=200,
    operation_id="contacts_unblock",
)
def unblock(
    request: Request, principal: Principal, contact_id: int, data: ReasonIn
) -> dict[str, Any]:
    with write(runtime_of(request.app.state).engine) as conn:
        return _changes(contacts.unblock_contact(conn, principal, contact_id, reason=data.reason))


# One router per module: Litestar re-registers every handler of a path each time a handler
# joins it, which wraps sync_to_thread handlers twice when they are registered one by one.
ROUTES = [
    Router(
        path="/",
        route_handlers=[
            list_contacts,
            create_contact,
            get_contact,
            update_contact,
            delete_contact,
            add_number,
            remove_number,
            list_notes,
            add_note,
            merge,
            preferences,
            opt_out,
            resubscribe,
            block,
            unblock,
        ],
    )
]
