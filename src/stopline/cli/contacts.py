"""`stopline contacts ...`: contacts, notes, merge, preferences, and bulk unsubscribe."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer

from stopline.cli.main import (
    JsonOpt,
    WorkspaceOpt,
    app,
    emit,
    operator,
    reading,
    runtime,
    table,
    writing,
)
from stopline.services import bulk, contacts, workspaces
from stopline.services.contacts import ContactFilter

contacts_app = typer.Typer(help="Contacts: numbers, notes, preferences.", no_args_is_help=True)
app.add_typer(contacts_app, name="contacts")

SearchOpt = Annotated[str | None, typer.Option(help="Name, email or digits of a number.")]
StatusOpt = Annotated[str | None, typer.Option(help="subscribed, opted_out, blocked or no_number.")]
ListOpt = Annotated[int | None, typer.Option("--list", help="Members of this list id.")]


def _contact_line(c: contacts.Contact) -> list[object]:
    return [c.id, c.name, c.email, ", ".join(n.number for n in c.numbers)]


@contacts_app.command("add")
def add(
    name: Annotated[str, typer.Option(help="The person's name.")] = "",
    number: Annotated[list[str] | None, typer.Option(help="A phone number (repeatable).")] = None,
    email: Annotated[str | None, typer.Option(help="Email address.")] = None,
    note: Annotated[str | None, typer.Option(help="A first note.")] = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create a contact."""
    with writing() as conn:
        contact = contacts.create_contact(
            conn, operator(conn, workspace), name=name, email=email, numbers=number or [], note=note
        )
    emit(contact.as_dict(), as_json, f"contact {contact.id}: {contact.name}")


@contacts_app.command("list")
def list_(
    search: SearchOpt = None,
    status: StatusOpt = None,
    list_id: ListOpt = None,
    limit: Annotated[int, typer.Option(help="Rows per page.")] = 50,
    offset: Annotated[int, typer.Option(help="Rows to skip.")] = 0,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Find contacts."""
    with reading() as conn:
        ws = workspaces.resolve_workspace(conn, workspace)
        rows, total = contacts.list_contacts(
            conn,
            ws.id,
            ContactFilter(search=search, status=status, list_id=list_id),
            limit=limit,
            offset=offset,
        )
    emit(
        {"total": total, "items": [c.as_dict() for c in rows]},
        as_json,
        lambda: table(
            ["id", "name", "email", "numbers"],
            [_contact_line(c) for c in rows],
            title=f"{total} contact(s)",
        ),
    )


@contacts_app.command("show")
def show(contact_id: int, workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """A contact with its notes and communication preferences."""
    with reading() as conn:
        ws = workspaces.resolve_workspace(conn, workspace)
        contact = contacts.get_contact(conn, ws.id, contact_id)
        notes = contacts.list_notes(conn, ws.id, contact_id)
        prefs = contacts.communication_preferences(conn, ws.id, contact_id)
    data = {
        **contact.as_dict(),
        "notes": [n.as_dict() for n in notes],
        "preferences": [p.as_dict() for p in prefs],
    }

    def human() -> None:
        table(["id", "name", "email", "numbers"], [_contact_line(contact)])
        for p in prefs:
            table(
                ["", "", "may send", "why not"],
                [
                    [x.kind, x.name, "yes" if x.allowed else "no", x.detail or ""]
                    for x in p.permissions
                ],
                title=f"{p.number}: {p.status}",
            )
        if notes:
            table(
                ["when", "who", "note"],
                [[n.created_at.strftime("%Y-%m-%d %H:%M"), n.author, n.body] for n in notes],
                title="Notes",
            )

    emit(data, as_json, human)


@contacts_app.command("note")
def note(
    contact_id: int, body: str, workspace: WorkspaceOpt = None, as_json: JsonOpt = False
) -> None:
    """Add a note (e.g. consent evidence: "Requested opt-out on Sept 2")."""
    with writing() as conn:
        added = contacts.add_note(conn, operator(conn, workspace), contact_id, body)
    emit(added.as_dict(), as_json, f"note {added.id} added")


@contacts_app.command("merge")
def merge(
    target_id: int,
    source_id: int,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Fold SOURCE_ID into TARGET_ID (numbers and notes move; SOURCE_ID is deleted)."""
    with writing() as conn:
        merged = contacts.merge_contacts(conn, operator(conn, workspace), target_id, source_id)
    emit(merged.as_dict(), as_json, f"merged {source_id} into {target_id}")


@contacts_app.command("delete")
def delete(contact_id: int, workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """Delete a contact. Its numbers' opt-outs and blocks stay (they are keyed by number)."""
    with writing() as conn:
        contacts.delete_contact(conn, operator(conn, workspace), contact_id)
    emit({"deleted": contact_id}, as_json, f"contact {contact_id} deleted")


@contacts_app.command("opt-out")
def opt_out(
    contact_id: int,
    reason: Annotated[str | None, typer.Option(help="Why.")] = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Opt every number of the contact out."""
    with writing() as conn:
        results = contacts.opt_out_contact(
            conn, operator(conn, workspace), contact_id, reason=reason
        )
    changed = sum(1 for r in results if r.changed)
    emit({"changed": changed}, as_json, f"{changed} number(s) opted out")


@contacts_app.command("bulk-unsubscribe")
def bulk_unsubscribe(
    search: SearchOpt = None,
    status: StatusOpt = None,
    list_id: ListOpt = None,
    created_after: Annotated[
        datetime | None, typer.Option(help="Contacts created on or after (ISO date).")
    ] = None,
    created_before: Annotated[
        datetime | None, typer.Option(help="Contacts created before (ISO date).")
    ] = None,
    reason: Annotated[str | None, typer.Option(help="Why (kept on every opt-out).")] = None,
    yes: Annotated[bool, typer.Option("--yes", help="Confirm without asking.")] = False,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Opt out every number of the contacts matching the filter, after reviewing the audience."""
    rt = runtime()
    flt = ContactFilter(
        search=search,
        status=status,
        list_id=list_id,
        created_after=created_after,
        created_before=created_before,
    )
    with reading() as conn:
        principal = operator(conn, workspace)
        review = bulk.preview(conn, rt.keyring, principal, flt)
    if not as_json:
        table(
            ["id", "name", "email", "numbers"],
            [_contact_line(c) for c in review.sample],
            title=(
                f"{review.contacts} contact(s), {review.numbers} number(s), "
                f"{review.already_opted_out} already opted out (sample)"
            ),
        )
    if not yes and not typer.confirm(
        f"Opt out {review.numbers - review.already_opted_out} number(s)?", default=False
    ):
        raise typer.Abort()
    with writing() as conn:
        outcome = bulk.confirm(conn, rt.keyring, principal, review.token, reason=reason)
    emit(
        {**outcome.as_dict(), "reviewed": review.as_dict()},
        as_json,
        f"opted out {len(outcome.opted_out)} number(s); {len(outcome.already)} already were",
    )
