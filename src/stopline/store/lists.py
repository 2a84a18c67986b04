"""SQL for subscription lists: the lists with their keywords and HELP text, and their members."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update
from sqlalchemy.engine import Row

from stopline.store.db import insert_id
from stopline.store.tables import list_members, list_opt_outs, lists


def insert_list(conn: Connection, workspace_id: int, **values: Any) -> int:
    result = conn.execute(insert(lists).values(workspace_id=workspace_id, **values))
    return int(result.inserted_primary_key[0])  # type: ignore[index]


def update_list(conn: Connection, workspace_id: int, list_id: int, **values: Any) -> None:
    conn.execute(
        update(lists)
        .where(lists.c.workspace_id == workspace_id, lists.c.id == list_id)
        .values(**values)
    )


def delete_list(conn: Connection, workspace_id: int, list_id: int) -> None:
    conn.execute(
        delete(list_members).where(
            list_members.c.workspace_id == workspace_id, list_members.c.list_id == list_id
        )
    )
    conn.execute(delete(lists).where(lists.c.workspace_id == workspace_id, lists.c.id == list_id))


def _counted() -> Any:
    members = (
        select(func.count())
        .where(list_members.c.list_id == lists.c.id)
        .scalar_subquery()
        .label("members")
    )
    opted_out = (
        select(func.count())
        .where(list_opt_outs.c.list_id == lists.c.id)
        .scalar_subquery()
        .label("opted_out")
    )
    return select(lists, members, opted_out)


def get_list(conn: Connection, workspace_id: int, list_id: int) -> Row[Any] | None:
    return conn.execute(
        _counted().where(lists.c.workspace_id == workspace_id, lists.c.id == list_id)
    ).one_or_none()


def list_by_name(conn: Connection, workspace_id: int, name: str) -> Row[Any] | None:
    return conn.execute(
        select(lists).where(
            lists.c.workspace_id == workspace_id, func.lower(lists.c.name) == name.lower()
        )
    ).one_or_none()


def all_lists(conn: Connection, workspace_id: int) -> list[Row[Any]]:
    return list(
        conn.execute(
            _counted()
            .where(lists.c.workspace_id == workspace_id)
            .order_by(func.lower(lists.c.name), lists.c.id)
        )
    )


def _numbers_in(
    conn: Connection, table: Any, workspace_id: int, list_id: int, numbers: Sequence[str]
) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(numbers), 900):
        part = list(numbers[start : start + 900])
        found.update(
            conn.execute(
                select(table.c.number).where(
                    table.c.workspace_id == workspace_id,
                    table.c.list_id == list_id,
                    table.c.number.in_(part),
                )
            ).scalars()
        )
    return found


def member_numbers(conn: Connection, workspace_id: int, list_id: int) -> list[str]:
    return list(
        conn.execute(
            select(list_members.c.number)
            .where(list_members.c.workspace_id == workspace_id, list_members.c.list_id == list_id)
            .order_by(list_members.c.number)
        ).scalars()
    )


def all_memberships(conn: Connection, workspace_id: int) -> set[tuple[str, int]]:
    """(number, list id) of every list member of the workspace (for `ledger verify`)."""
    rows = conn.execute(
        select(list_members.c.number, list_members.c.list_id).where(
            list_members.c.workspace_id == workspace_id
        )
    )
    return {(r.number, int(r.list_id)) for r in rows}


def present_members(
    conn: Connection, workspace_id: int, list_id: int, numbers: Sequence[str]
) -> set[str]:
    return _numbers_in(conn, list_members, workspace_id, list_id, numbers)


def list_opted_out(
    conn: Connection, workspace_id: int, list_id: int, numbers: Sequence[str]
) -> set[str]:
    """Which of `numbers` opted out of this list."""
    return _numbers_in(conn, list_opt_outs, workspace_id, list_id, numbers)


def insert_members(
    conn: Connection, workspace_id: int, list_id: int, numbers: Sequence[str], now: datetime
) -> None:
    if numbers:
        conn.execute(
            insert(list_members),
            [
                {
                    "workspace_id": workspace_id,
                    "list_id": list_id,
                    "number": n,
                    "subscribed_at": now,
                }
                for n in numbers
            ],
        )


def delete_members(
    conn: Connection, workspace_id: int, list_id: int, numbers: Sequence[str]
) -> int:
    removed = 0
    for start in range(0, len(numbers), 900):
        part = list(numbers[start : start + 900])
        result = conn.execute(
            delete(list_members).where(
                list_members.c.workspace_id == workspace_id,
                list_members.c.list_id == list_id,
                list_members.c.number.in_(part),
            )
        )
        removed += result.rowcount or 0
    return removed


def members(
    conn: Connection,
    workspace_id: int,
    list_id: int,
    *,
    search: str | None,
    limit: int,
    offset: int,
) -> tuple[list[Row[Any]], int]:
    """Members with their list opt-out, if any, newest subscription first."""
    conditions: list[Any] = [
        list_members.c.workspace_id == workspace_id,
        list_members.c.list_id == list_id,
    ]
    if search:
        conditions.append(list_members.c.number.contains(search, autoescape=True))
    total = conn.execute(
        select(func.count()).select_from(list_members).where(*conditions)
    ).scalar_one()
    joined = list_members.outerjoin(
        list_opt_outs,
        (list_opt_outs.c.list_id == list_members.c.list_id)
        & (list_opt_outs.c.number == list_members.c.number),
    )
    rows = conn.execute(
        select(
            list_members.c.number,
            list_members.c.subscribed_at,
            list_opt_outs.c.method.label("opt_out_method"),
            list_opt_outs.c.created_at.label("opted_out_at"),
        )
        .select_from(joined)
        .where(*conditions)
        .order_by(list_members.c.subscribed_at.desc(), list_members.c.number)
        .limit(limit)
        .offset(offset)
    )
    return list(rows), int(total)


def lists_of_numbers(
    conn: Connection, workspace_id: int, numbers: Sequence[str]
) -> list[tuple[str, int]]:
    """(number, list id) memberships of the given numbers."""
    out: list[tuple[str, int]] = []
    for start in range(0, len(numbers), 900):
        part = list(numbers[start : start + 900])
        out.extend(
            (r.number, int(r.list_id))
            for r in conn.execute(
                select(list_members.c.number, list_members.c.list_id).where(
                    list_members.c.workspace_id == workspace_id,
                    list_members.c.number.in_(part),
                )
            )
        )
    return out


def list_opt_out_count(conn: Connection, workspace_id: int, list_id: int) -> int:
    return int(
        conn.execute(
            select(func.count()).where(
                list_opt_outs.c.workspace_id == workspace_id, list_opt_outs.c.list_id == list_id
            )
        ).scalar_one()
    )


def create_list(conn: Connection, workspace_id: int, name: str, now: datetime) -> int:
    return insert_id(
        conn,
        insert(lists).values(workspace_id=workspace_id, name=name, keywords={}, created_at=now),
    )


def list_exists(conn: Connection, workspace_id: int, list_id: int) -> bool:
    found = conn.execute(
        select(lists.c.id).where(lists.c.workspace_id == workspace_id, lists.c.id == list_id)
    ).first()
    return found is not None


def existing_list_ids(conn: Connection, workspace_id: int, list_ids: Sequence[int]) -> set[int]:
    rows = conn.execute(
        select(lists.c.id).where(
            lists.c.workspace_id == workspace_id, lists.c.id.in_(list(list_ids))
        )
    )
    return {int(i) for i in rows.scalars()}


def list_lists(conn: Connection, workspace_id: int) -> list[Row[Any]]:
    members = (
        select(list_members.c.list_id, func.count().label("members"))
        .where(list_members.c.workspace_id == workspace_id)
        .group_by(list_members.c.list_id)
        .subquery()
    )
    return list(
        conn.execute(
            select(
                lists.c.id,
                lists.c.name,
                lists.c.created_at,
                func.coalesce(members.c.members, 0).label("members"),
            )
            .select_from(lists.outerjoin(members, members.c.list_id == lists.c.id))
            .where(lists.c.workspace_id == workspace_id)
            .order_by(lists.c.id)
        )
    )
