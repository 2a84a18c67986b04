"""SQL for reading the opt-out and block lists: pages for people, and a stream for exports."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import Connection, func, select
from sqlalchemy.engine import Row

from stopline.files.csv_export import csv_field, sql_csv_field
from stopline.store.db import driver_connection, is_sqlite
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
# index range scan and memory stays flat however long the list is. A number range [start, stop)
# lets several processes each write one part of the same export (services.export_parts).

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
SELECT o.number, {rest}, o.scope, o.scope_key
  FROM opt_outs o
 WHERE o.workspace_id = {p}ws{s}
   AND (o.number, o.scope, o.scope_key) > ({p}n{s}, {p}sc{s}, {p}k{s})
   {filters}
 ORDER BY o.number, o.scope, o.scope_key
 LIMIT {limit}
"""
# The matching contact and the block flag are looked up per page, for the page's number range:
# a few contacts and blocks among thousands of opt-outs, merged in as the page's rows are built,
# instead of three index probes per row in a join.
_CONTACTS = """
SELECT cn.number, c.name FROM contact_numbers cn JOIN contacts c ON c.id = cn.contact_id
 WHERE cn.workspace_id = {p}ws{s} AND cn.number BETWEEN {p}lo{s} AND {p}hi{s}
"""
_BLOCKS = """
SELECT number FROM blocks WHERE workspace_id = {p}ws{s} AND number BETWEEN {p}lo{s} AND {p}hi{s}
"""
# SQLAlchemy stores SQLite timestamps as "YYYY-MM-DD HH:MM:SS.ffffff" (UTC here); cutting that
# text is the same as strftime('%Y-%m-%dT%H:%M:%SZ', ...) for a third less time per row.
_CREATED_SQLITE = "substr(o.created_at, 1, 10) || 'T' || substr(o.created_at, 12, 8) || 'Z'"
_CREATED_PG = "to_char(o.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"


def _rest_of_line(dialect: str) -> str:
    """SQL for the CSV text of the columns from method to scope_key (method and scope are
    fixed words, created_at is formatted; the free-text cells are quoted as csv.writer would)."""
    created = _CREATED_SQLITE if dialect == "sqlite" else _CREATED_PG
    cells = [
        "o.method",
        sql_csv_field("o.reason", dialect),
        created,
        sql_csv_field("o.actor", dialect),
        "o.scope",
        sql_csv_field("o.scope_key", dialect),
    ]
    return " || ',' || ".join(cells)


def _fetch(driver: Any, sql: str, params: dict[str, Any]) -> list[Any]:
    cursor = driver.cursor()
    try:
        cursor.execute(sql, params)
        return list(cursor.fetchall())
    finally:
        cursor.close()


def export_csv_pages(
    conn: Connection,
    workspace_id: int,
    *,
    digits: str | None = None,
    method: str | None = None,
    scope: str | None = None,
    start: str | None = None,
    stop: str | None = None,
    page: int = 20_000,
) -> Iterator[tuple[str, int]]:
    """Every opt-out of the workspace matching the filters, in number order, as CSV text a page
    at a time: (lines, row count), each line (number, contact, method, reason, created_at ISO
    8601 UTC, actor, scope, scope_key, blocked) exactly as csv.writer would write it, not yet
    neutralised (`files.csv_export.write_csv_text` does that). With `start`/`stop`, only
    numbers in [start, stop).
    """
    dialect = "sqlite" if is_sqlite(conn) else "postgresql"
    p, s = (":", "") if dialect == "sqlite" else ("%(", ")s")
    filters = []
    # Every scope sorts after "", so (start, "", "") keeps all of start's rows.
    params: dict[str, Any] = {"ws": workspace_id, "n": start or "", "sc": "", "k": ""}
    if stop is not None:
        filters.append(f"AND o.number < {p}stop{s}")
        params["stop"] = stop
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
        rest=_rest_of_line(dialect), p=p, s=s, filters=" ".join(filters), limit=int(page)
    )
    contacts_sql = _CONTACTS.format(p=p, s=s)
    blocks_sql = _BLOCKS.format(p=p, s=s)
    driver = driver_connection(conn)
    while True:
        rows = _fetch(driver, sql, params)
        if not rows:
            return
        around = {"ws": workspace_id, "lo": rows[0][0], "hi": rows[-1][0]}
        names = {n: csv_field(name) for n, name in _fetch(driver, contacts_sql, around)}
        blocked = {number for (number,) in _fetch(driver, blocks_sql, around)}
        # E.164 numbers never need quoting.
        if names or blocked:
            text = "".join(
                [
                    f"{n},{names.get(n, '')},{rest},{'yes' if n in blocked else 'no'}\r\n"
                    for n, rest, _sc, _k in rows
                ]
            )
        else:
            text = "".join([f"{n},,{rest},no\r\n" for n, rest, _sc, _k in rows])
        yield text, len(rows)
        if len(rows) < page:
            return
        # The page's last key, read as columns: never parsed back out of the CSV text, whose
        # reason cell may be longer than Python's csv field limit.
        number, _rest, last_scope, last_key = rows[-1]
        params.update(n=number, sc=last_scope, k=last_key)


def export_split_points(conn: Connection, workspace_id: int, parts: int) -> tuple[int, list[str]]:
    """The workspace's opt-out count, and up to `parts - 1` numbers that cut its list into
    parts of about equal size (counted on the primary key index, filters aside)."""
    mark = "?" if is_sqlite(conn) else "%s"
    total = int(
        conn.exec_driver_sql(
            f"SELECT count(*) FROM opt_outs WHERE workspace_id = {mark}", (workspace_id,)
        ).scalar_one()
    )
    points: list[str] = []
    for i in range(1, parts):
        found = conn.exec_driver_sql(
            f"SELECT number FROM opt_outs WHERE workspace_id = {mark}"
            f" ORDER BY workspace_id, number LIMIT 1 OFFSET {int(total * i // parts)}",
            (workspace_id,),
        ).scalar()
        if found is not None and (not points or found > points[-1]):
            points.append(found)
    return total, points
