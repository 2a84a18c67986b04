"""SQL for contacts: people with numbers and notes, found by a filter, merged and deleted."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, delete, exists, func, insert, or_, select, update
from sqlalchemy.engine import Row

from stopline.store.tables import (
    blocks,
    contact_notes,
    contact_numbers,
    contacts,
    list_members,
    opt_outs,
)

# What a contact filter's `status` may be: the state of the contact's numbers.
STATUSES = ("subscribed", "opted_out", "blocked", "no_number")


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def filter_conditions(
    workspace_id: int,
    *,
    search: str | None = None,
    status: str | None = None,
    list_id: int | None = None,
    ids: Sequence[int] | None = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
) -> list[Any]:
    """WHERE conditions on `contacts` for a contact filter (every one scoped to the workspace)."""
    conditions: list[Any] = [contacts.c.workspace_id == workspace_id]
    if ids is not None:
        conditions.append(contacts.c.id.in_(list(ids)))
    own_number = and_(
        contact_numbers.c.workspace_id == workspace_id,
        contact_numbers.c.contact_id == contacts.c.id,
    )
    if search:
        pattern = _like(search.strip())
        matches: list[Any] = [
            contacts.c.name.ilike(pattern, escape="\\"),
            contacts.c.email.ilike(pattern, escape="\\"),
        ]
        digits = "".join(ch for ch in search if ch.isdigit())
        if digits:
            matches.append(
                exists().where(
                    own_number, contact_numbers.c.number.contains(digits, autoescape=True)
                )
            )
        conditions.append(or_(*matches))
    if status is not None:
        blocked = exists().where(
            own_number,
            blocks.c.workspace_id == workspace_id,
            blocks.c.number == contact_numbers.c.number,
        )
        opted = exists().where(
            own_number,
            opt_outs.c.workspace_id == workspace_id,
            opt_outs.c.number == contact_numbers.c.number,
        )
        if status == "blocked":
            conditions.append(blocked)
        elif status == "opted_out":
            conditions.append(and_(opted, ~blocked))
        elif status == "subscribed":
            conditions.append(and_(exists().where(own_number), ~opted, ~blocked))
        elif status == "no_number":
            conditions.append(~exists().where(own_number))
    if list_id is not None:
        conditions.append(
            exists().where(
                own_number,
                list_members.c.workspace_id == workspace_id,
                list_members.c.list_id == list_id,
                list_members.c.number == contact_numbers.c.number,
            )
        )
    if created_after is not None:
        conditions.append(contacts.c.created_at >= created_after)
    if created_before is not None:
        conditions.append(contacts.c.created_at < created_before)
    return conditions


def find_contacts(
    conn: Connection, conditions: list[Any], *, limit: int | None, offset: int = 0
) -> tuple[list[Row[Any]], int]:
    total = conn.execute(select(func.count()).select_from(contacts).where(*conditions)).scalar_one()
    query = (
        select(contacts)
        .where(*conditions)
        .order_by(func.lower(contacts.c.name), contacts.c.id)
        .offset(offset)
    )
    if limit is not None:
        query = query.limit(limit)
    return list(conn.execute(query)), int(total)


def matching_numbers(conn: Connection, workspace_id: int, conditions: list[Any]) -> list[str]:
    """Every number of the contacts matching `conditions`, sorted and distinct."""
    query = (
        select(contact_numbers.c.number)
        .where(
            contact_numbers.c.workspace_id == workspace_id,
            contact_numbers.c.contact_id.in_(select(contacts.c.id).where(*conditions)),
        )
        .order_by(contact_numbers.c.number)
        .distinct()
    )
    return list(conn.execute(query).scalars())


def get_contact(conn: Connection, workspace_id: int, contact_id: int) -> Row[Any] | None:
    return conn.execute(
        select(contacts).where(contacts.c.workspace_id == workspace_id, contacts.c.id == contact_id)
    ).one_or_none()


def insert_contact(conn: Connection, workspace_id: int, **values: Any) -> int:
    result = conn.execute(insert(contacts).values(workspace_id=workspace_id, **values))
    return int(result.inserted_primary_key[0])  # type: ignore[index]


def update_contact(conn: Connection, workspace_id: int, contact_id: int, **values: Any) -> None:
    conn.execute(
        update(contacts)
        .where(contacts.c.workspace_id == workspace_id, contacts.c.id == contact_id)
        .values(**values)
    )


def delete_contact(conn: Connection, workspace_id: int, contact_id: int) -> None:
    """The contact, its numbers and notes; opt-outs and blocks are keyed by number and stay."""
    for table in (contact_numbers, contact_notes):
        conn.execute(
            delete(table).where(
                table.c.workspace_id == workspace_id, table.c.contact_id == contact_id
            )
        )
    conn.execute(
        delete(contacts).where(contacts.c.workspace_id == workspace_id, contacts.c.id == contact_id)
    )


def numbers_of(conn: Connection, workspace_id: int, contact_ids: Sequence[int]) -> list[Row[Any]]:
    if not contact_ids:
        return []
    return list(
        conn.execute(
            select(contact_numbers.c.contact_id, contact_numbers.c.number, contact_numbers.c.label)
            .where(
                contact_numbers.c.workspace_id == workspace_id,
                contact_numbers.c.contact_id.in_(list(contact_ids)),
            )
            .order_by(contact_numbers.c.contact_id, contact_numbers.c.number)
        )
    )


def owner_of(conn: Connection, workspace_id: int, number: str) -> int | None:
    return conn.execute(
        select(contact_numbers.c.contact_id).where(
            contact_numbers.c.workspace_id == workspace_id, contact_numbers.c.number == number
        )
    ).scalar_one_or_none()


def insert_number(
    conn: Connection, workspace_id: int, contact_id: int, number: str, label: str
) -> None:
    conn.execute(
        insert(contact_numbers).values(
            workspace_id=workspace_id, contact_id=contact_id, number=number, label=label
        )
    )


def delete_number(conn: Connection, workspace_id: int, contact_id: int, number: str) -> bool:
    result = conn.execute(
        delete(contact_numbers).where(
            contact_numbers.c.workspace_id == workspace_id,
            contact_numbers.c.contact_id == contact_id,
            contact_numbers.c.number == number,
        )
    )
    return bool(result.rowcount)


def move_contact_rows(conn: Connection, workspace_id: int, source_id: int, target_id: int) -> None:
    """Give the target contact every number and note of the source (a merge)."""
    for table in (contact_numbers, contact_notes):
        conn.execute(
            update(table)
            .where(table.c.workspace_id == workspace_id, table.c.contact_id == source_id)
            .values(contact_id=target_id)
        )


def insert_note(
    conn: Connection, workspace_id: int, contact_id: int, body: str, author: str, now: datetime
) -> int:
    result = conn.execute(
        insert(contact_notes).values(
            workspace_id=workspace_id,
            contact_id=contact_id,
            body=body,
            author=author,
            created_at=now,
        )
    )
    return int(result.inserted_primary_key[0])  # type: ignore[index]


def notes_of(conn: Connection, workspace_id: int, contact_id: int) -> list[Row[Any]]:
    return list(
        conn.execute(
            select(contact_notes)
            .where(
                contact_notes.c.workspace_id == workspace_id,
                contact_notes.c.contact_id == contact_id,
            )
            .order_by(contact_notes.c.created_at.desc(), contact_notes.c.id.desc())
        )
    )


def contacts_for_numbers(
    conn: Connection, workspace_id: int, numbers: Sequence[str]
) -> dict[str, tuple[int, str]]:
    """number -> (contact id, name) for the numbers that belong to a contact."""
    out: dict[str, tuple[int, str]] = {}
    for start in range(0, len(numbers), 900):
        part = list(numbers[start : start + 900])
        rows = conn.execute(
            select(contact_numbers.c.number, contacts.c.id, contacts.c.name)
            .join(contacts, contacts.c.id == contact_numbers.c.contact_id)
            .where(
                contact_numbers.c.workspace_id == workspace_id,
                contact_numbers.c.number.in_(part),
            )
        )
        out.update({r.number: (int(r.id), r.name) for r in rows})
    return out
