"""SQL for reading the opt-out and block lists: pages for people, and a stream for exports."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Connection, func, select
from sqlalchemy.engine import Row

from stopline.store.db import is_sqlite
from stopline.store.tables import blocks, contact_numbers, contacts


def blocks_page(
    conn: Connection, workspace_id: int, *, digits: str | None, limit: int, offset: int
) -> tuple[list[Row[Any]], int]:
    conditions: list[Any] = [blocks.c.workspace_id == workspace_id]
    if digits:
        conditions.append(blocks.c.number.contains(digits, autoescape=True))
    total = conn.execute(select(func.count()).select_from(blocks).where(*conditions)).scalar_one()
    joined = blocks.outerjoin(
        contact_numbers,
        (contact_numbers.c.workspace_id == blocks.c.workspace_id)
        & (contact_numbers.c.number == blocks.c.number),
    ).outerjoin(contacts, contacts.c.id == contact_numbers.c.contact_id)
    rows = conn.execute(
        select(
            blocks,
            contacts.c.id.label("contact_id"),
            contacts.c.name.label("contact_name"),
        )
        .select_from(joined)
        .where(*conditions)
        .order_by(blocks.c.created_at.desc(), blocks.c.number)
        .limit(limit)
        .offset(offset)
    )
    return list(rows), int(total)


# --- export stream --------------------------------------------------------------------------------
# Millions of rows: plain SQL on the driver's cursor, timestamps formatted by the database, and
# keyset pages over the primary key (workspace_id, number, scope, scope_key), so each page is an
# index range scan and memory stays flat however long the list is.

EXPORT_COLUMNS = (
    "number",
    "contact",
    "method",
    "reason",
    "created_at",
    "actor",
    "scope",
    "scope_key",
    "blocked",
)

_SELECT = """
SELECT o.number, NULL, o.method, o.reason, {created}, o.actor, o.scope, o.scope_key, 'no'
  FROM opt_outs o
 WHERE o.workspace_id = {p}ws{s}
   AND (o.number, o.scope, o.scope_key) > ({p}n{s}, {p}sc{s}, {p}k{s})
   {filters}
 ORDER BY o.number, o.scope, o.scope_key
 LIMIT {limit}
"""
# The matching contact and the block flag are looked up per page, for the page's number range:
# a few contacts and blocks among thousands of opt-outs, patched into their rows, instead of
# three index probes per row in a join.
_CONTACTS = """
SELECT cn.number, c.name FROM contact_numbers cn JOIN contacts c ON c.id = cn.contact_id
 WHERE cn.workspace_id = {p}ws{s} AND cn.number BETWEEN {p}lo{s} AND {p}hi{s}
"""
_BLOCKS = """
SELECT number FROM blocks WHERE workspace_id = {p}ws{s} AND number BETWEEN {p}lo{s} AND {p}hi{s}
"""
_CREATED_SQLITE = "strftime('%Y-%m-%dT%H:%M:%SZ', o.created_at)"
_CREATED_PG = "to_char(o.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"


def _fetch(driver: Any, sql: str, params: dict[str, Any]) -> list[Any]:
    cursor = driver.cursor()
    try:
        cursor.execute(sql, params)
        return list(cursor.fetchall())
    finally:
        cursor.close()


def _patch(rows: list[Any], number: str, column: int, value: Any) -> None:
    """Set `column` on every row of `number` (rows sorted by number; one per scope)."""
    i = bisect_left(rows, (number,))
    while i < len(rows) and rows[i][0] == number:
        row = list(rows[i])
        row[column] = value
        rows[i] = tuple(row)
        i += 1


def export_rows(
    conn: Connection,
    workspace_id: int,
    *,
    digits: str | None = None,
    method: str | None = None,
    scope: str | None = None,
    page: int = 20_000,
) -> Iterator[tuple[Any, ...]]:
    """Every opt-out of the workspace matching the filters, in number order, as
    (number, contact, method, reason, created_at ISO 8601 UTC, actor, scope, scope_key, blocked).
    """
    sqlite = is_sqlite(conn)
    p, s = (":", "") if sqlite else ("%(", ")s")
    filters = []
    params: dict[str, Any] = {"ws": workspace_id, "n": "", "sc": "", "k": ""}
    if digits:
        # Digits only (checked by the caller), so no LIKE wildcards can sneak in.
        filters.append(f"AND o.number LIKE {p}like{s}")
        params["like"] = f"%{digits}%"
    if method:
        filters.append(f"AND o.method = {p}method{s}")
        params["method"] = method
    if scope:
        filters.append(f"AND o.scope = {p}scope{s}")
        params["scope"] = scope
    sql = _SELECT.format(
        created=_CREATED_SQLITE if sqlite else _CREATED_PG,
        p=p,
        s=s,
        filters=" ".join(filters),
        limit=int(page),
    )
    contacts_sql = _CONTACTS.format(p=p, s=s)
    blocks_sql = _BLOCKS.format(p=p, s=s)
    driver = conn.connection.driver_connection
    assert driver is not None
    while True:
        rows = _fetch(driver, sql, params)
        if not rows:
            return
        around = {"ws": workspace_id, "lo": rows[0][0], "hi": rows[-1][0]}
        for number, name in _fetch(driver, contacts_sql, around):
            _patch(rows, number, 1, name)
        for (number,) in _fetch(driver, blocks_sql, around):
            _patch(rows, number, 8, "yes")
        yield from rows
        if len(rows) < page:
            return
        last = rows[-1]
        params.update(n=last[0], sc=last[6], k=last[7])
