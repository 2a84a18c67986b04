"""Contacts as the team's pages show them: the contacts service, with each row's consent status.

A contact is matched to opt-outs purely by number (seed 003): the status shown for a contact is
the state of its numbers. Filtering, creating, notes and audiences live in `services.contacts`
(bulk unsubscribe in `services.bulk`); this module only shapes their answers for the web UI.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection

from stopline.services import contacts, preferences
from stopline.services.contacts import ContactFilter, Note, add_note, list_notes
from stopline.services.workspaces import Principal
from stopline.store import lists as list_store

__all__ = [
    "STATUSES",
    "ContactDetail",
    "ContactFilter",
    "ContactRow",
    "Note",
    "add_note",
    "contact_for_number",
    "create_contact",
    "get_contact",
    "list_contacts",
    "list_notes",
]

STATUSES = contacts.STATUSES


@dataclass(frozen=True)
class ContactRow:
    id: int
    name: str
    email: str | None
    numbers: tuple[str, ...]
    status: str  # blocked | opted_out | partly_opted_out | subscribed | no_number


@dataclass(frozen=True)
class ContactDetail:
    id: int
    name: str
    email: str | None
    created_at: datetime
    numbers: tuple[str, ...]
    lists: dict[str, list[str]] = field(default_factory=dict)  # number -> list names


def _status(states: list[str]) -> str:
    if not states:
        return "no_number"
    for word in ("blocked", "opted_out", "partly_opted_out"):
        if word in states:
            return word
    return "subscribed"


def list_contacts(
    conn: Connection,
    workspace_id: int,
    flt: ContactFilter,
    *,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[ContactRow], int]:
    found, total = contacts.list_contacts(conn, workspace_id, flt, limit=limit, offset=offset)
    states = preferences.statuses(conn, workspace_id, [n.number for c in found for n in c.numbers])
    return [
        ContactRow(
            id=c.id,
            name=c.name,
            email=c.email,
            numbers=tuple(n.number for n in c.numbers),
            status=_status([states[n.number] for n in c.numbers]),
        )
        for c in found
    ], total


def _detail(conn: Connection, workspace_id: int, contact: contacts.Contact) -> ContactDetail:
    numbers = tuple(n.number for n in contact.numbers)
    names = {int(r.id): r.name for r in list_store.all_lists(conn, workspace_id)}
    member_of: dict[str, list[str]] = {}
    for number, list_id in list_store.lists_of_numbers(conn, workspace_id, numbers):
        if list_id in names:
            member_of.setdefault(number, []).append(names[list_id])
    return ContactDetail(
        id=contact.id,
        name=contact.name,
        email=contact.email,
        created_at=contact.created_at,
        numbers=numbers,
        lists={n: sorted(ls) for n, ls in member_of.items()},
    )


def get_contact(conn: Connection, workspace_id: int, contact_id: int) -> ContactDetail:
    return _detail(conn, workspace_id, contacts.get_contact(conn, workspace_id, contact_id))


def contact_for_number(conn: Connection, workspace_id: int, number: str) -> ContactDetail | None:
    contact = contacts.contact_for_number(conn, workspace_id, number)
    return _detail(conn, workspace_id, contact) if contact is not None else None


def create_contact(
    conn: Connection,
    principal: Principal,
    *,
    name: str,
    numbers: list[str],
    email: str | None = None,
) -> ContactDetail:
    """A contact with its numbers (E.164; a number belongs to one contact per workspace)."""
    contact = contacts.create_contact(conn, principal, name=name, email=email, numbers=numbers)
    return _detail(conn, principal.workspace_id, contact)
