"""SQL for send-time rules: contacts' own places, recent hand-offs for frequency caps (Core,
on the `ix_messages_cap` index), and the per-recipient lock that keeps caps exact when several
PostgreSQL workers hand over at once."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, bindparam, func, literal, select, text

from stopline.domain.consent import NumberState, utc
from stopline.store.db import among, driver_connection, is_sqlite
from stopline.store.ledger import STATE_SQL, state_from_rows
from stopline.store.tables import (
    contact_numbers,
    contacts,
    list_members,
    messages,
)


def contact_places(
    conn: Connection, workspace_id: int, numbers: Iterable[str]
) -> dict[str, tuple[str | None, str | None]]:
    """number -> (time zone, postal code) for numbers whose contact has either."""
    wanted = sorted(set(numbers))
    if not wanted:
        return {}
    rows = conn.execute(
        select(contact_numbers.c.number, contacts.c.time_zone, contacts.c.postal_code)
        .join(contacts, contacts.c.id == contact_numbers.c.contact_id)
        .where(
            contact_numbers.c.workspace_id == workspace_id,
            among(conn, contact_numbers.c.number, wanted),
            (contacts.c.time_zone.is_not(None) | contacts.c.postal_code.is_not(None)),
        )
    )
    return {r.number: (r.time_zone, r.postal_code) for r in rows}


def contact_places_between(
    conn: Connection, workspace_id: int, lo: str | None, hi: str | None
) -> dict[str, tuple[str | None, str | None]]:
    """The same for every number in `lo < number <= hi` (a campaign chunk)."""
    query = (
        select(contact_numbers.c.number, contacts.c.time_zone, contacts.c.postal_code)
        .join(contacts, contacts.c.id == contact_numbers.c.contact_id)
        .where(
            contact_numbers.c.workspace_id == workspace_id,
            (contacts.c.time_zone.is_not(None) | contacts.c.postal_code.is_not(None)),
        )
    )
    if lo is not None:
        query = query.where(contact_numbers.c.number > lo)
    if hi is not None:
        query = query.where(contact_numbers.c.number <= hi)
    return {r.number: (r.time_zone, r.postal_code) for r in conn.execute(query)}


_RECENT = (
    select(messages.c.to_number, messages.c.category, messages.c.handed_at)
    .where(
        messages.c.workspace_id == bindparam("ws"),
        messages.c.to_number.in_(bindparam("numbers", expanding=True)),
        messages.c.category.in_(bindparam("categories", expanding=True)),
        messages.c.handed_at > bindparam("since"),
        messages.c.direction == "out",
    )
    .order_by(messages.c.handed_at)
)


def recent_hand_offs(
    conn: Connection,
    workspace_id: int,
    numbers: Iterable[str],
    categories: Sequence[str],
    since: datetime,
) -> dict[tuple[str, str], list[datetime]]:
    """(number, category) -> when its messages were handed over after `since`, oldest first."""
    wanted = sorted(set(numbers))
    if not wanted or not categories:
        return {}
    found: dict[tuple[str, str], list[datetime]] = {}
    params = {"ws": workspace_id, "numbers": wanted, "categories": list(categories), "since": since}
    for number, cat, at in conn.execute(_RECENT, params):
        found.setdefault((number, cat), []).append(utc(at))
    return found


# The gate's hot path (every queued message and every `check`): a number's consent state
# (`ledger.STATE_SQL`), its contact's place and its recent hand-offs of one category, in one
# round trip straight to the DB-API cursor, like `ledger.load_state`. Extra rows use the
# state rows' layout: 'p' carries (time zone, postal code) as (scope, key), 's' a hand-off
# time as created_at.
_PLACE_SQL = (
    STATE_SQL
    + """
UNION ALL
SELECT 'p', c.time_zone, c.postal_code, NULL, NULL, NULL, NULL, NULL, NULL, NULL
  FROM contact_numbers cn JOIN contacts c ON c.id = cn.contact_id
 WHERE cn.workspace_id = :ws AND cn.number = :n
   AND (c.time_zone IS NOT NULL OR c.postal_code IS NOT NULL)
"""
)
_GATE_SQL = (
    _PLACE_SQL
    + """UNION ALL
SELECT 's', NULL, NULL, NULL, NULL, NULL, NULL, handed_at, NULL, NULL FROM messages
 WHERE workspace_id = :ws AND to_number = :n AND category = :cat AND handed_at > :since
   AND direction = 'out'
"""
)


def _pg(sql: str) -> str:
    for name in ("ws", "n", "cat", "since"):
        sql = sql.replace(f":{name}", f"%({name})s")
    return sql


def _numbered(sql: str) -> str:
    """SQLite: numbered parameters, bound from a tuple (no dict to build per check, no names
    to look up per parameter)."""
    for number, name in enumerate(("ws", "n", "cat", "since"), 1):
        sql = sql.replace(f":{name}", f"?{number}")
    return sql


# Without and with the cap history.
_GATE_SQLITE = {False: _numbered(_PLACE_SQL), True: _numbered(_GATE_SQL)}
_GATE_PG = {False: _pg(_PLACE_SQL), True: _pg(_GATE_SQL)}


_EXTRA = frozenset({"p", "s"})  # the kinds of rows `_GATE` adds to the consent state's


def gate_state(
    conn: Connection, workspace_id: int, number: str, category: str | None, since: datetime
) -> tuple[NumberState, tuple[str | None, str | None] | None, list[datetime]]:
    """A number's consent state, its contact's place (or None) and when its `category`
    messages were handed over after `since` (no history read when `category` is None)."""
    driver = driver_connection(conn)
    if is_sqlite(conn):
        # The connection's own `execute`: its cursor goes with its rows, all fetched here.
        if category is None:
            rows = driver.execute(_GATE_SQLITE[False], (workspace_id, number)).fetchall()
        else:
            params = (workspace_id, number, category, _sqlite_time(since))
            rows = driver.execute(_GATE_SQLITE[True], params).fetchall()
    else:
        named: dict[str, Any] = {"ws": workspace_id, "n": number}
        if category is not None:
            named["cat"] = category
            named["since"] = since
        cursor = driver.cursor()
        try:
            cursor.execute(_GATE_PG[category is not None], named)
            rows = cursor.fetchall()
        finally:
            cursor.close()
    for row in rows:
        if row[0] in _EXTRA:
            break
    else:  # consent rows only (the usual case): no sorting out
        return state_from_rows(rows), None, []
    consent: list[Any] = []
    place: tuple[str | None, str | None] | None = None
    sent: list[datetime] = []
    for row in rows:
        kind = row[0]
        if kind == "p":
            place = (row[1], row[2])
        elif kind == "s":
            at = row[7]
            sent.append(utc(datetime.fromisoformat(at)) if isinstance(at, str) else utc(at))
        else:
            consent.append(row)
    if len(sent) > 1:
        sent.sort()
    return state_from_rows(consent), place, sent


@functools.lru_cache(maxsize=64)
def _sqlite_time(at: datetime) -> str:
    """SQLite keeps timestamps as UTC text in SQLAlchemy's format, which sorts as time does
    (the gate asks with one `since` for a whole batch: formatted once)."""
    return at.astimezone(UTC).isoformat(" ", "microseconds")[:26]


def recent_counts_in_lists(
    conn: Connection, workspace_id: int, list_ids: Sequence[int], category: str, since: datetime
) -> list[Any]:
    """(number, count) of the lists' members who were sent `category` messages since `since`:
    read from the recent messages (few), each probed in the list members' index."""
    member = (
        select(literal(1))
        .where(
            list_members.c.workspace_id == workspace_id,
            list_members.c.list_id.in_(list(list_ids)),
            list_members.c.number == messages.c.to_number,
        )
        .exists()
    )
    return list(
        conn.execute(
            select(messages.c.to_number, func.count())
            .where(
                messages.c.workspace_id == workspace_id,
                messages.c.category == category,
                messages.c.handed_at > since,
                messages.c.direction == "out",
                member,
            )
            .group_by(messages.c.to_number)
        )
    )


def wrote_since(conn: Connection, conversation_id: int, since: datetime) -> bool:
    """Did the recipient write in this conversation after `since`?"""
    found = conn.execute(
        select(messages.c.id)
        .where(
            messages.c.conversation_id == conversation_id,
            messages.c.direction == "in",
            messages.c.created_at > since,
        )
        .limit(1)
    ).first()
    return found is not None


_PG_LOCK = text(
    "SELECT pg_advisory_xact_lock(h) FROM "
    "(SELECT hashtextextended(k, 0) AS h FROM unnest(CAST(:keys AS text[])) AS k ORDER BY 1) s"
)


def lock_recipients(conn: Connection, workspace_id: int, numbers: Iterable[str]) -> None:
    """PostgreSQL: hold each recipient's cap lock to the end of the transaction, in one order
    for every worker (no deadlock). SQLite: the write transaction is already exclusive."""
    if is_sqlite(conn):
        return
    keys = sorted({f"cap:{workspace_id}:{n}" for n in numbers})
    if keys:
        conn.execute(_PG_LOCK, {"keys": keys})
