"""Ledger and consent-state SQL: append events, keep the projection tables, read a number's state."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, bindparam, delete, insert, select, update

from stopline.domain.consent import (
    GENESIS_HASH,
    Action,
    ConsentEvent,
    Method,
    NumberState,
    Record,
    Scope,
    utc,
)
from stopline.store.db import driver_connection, is_sqlite
from stopline.store.tables import (
    blocks,
    consent_events,
    ledger_heads,
    list_opt_outs,
    opt_outs,
)


def init_head(conn: Connection, workspace_id: int) -> None:
    conn.execute(insert(ledger_heads).values(workspace_id=workspace_id, seq=0, hash=GENESIS_HASH))


# The statements every consent change runs, built once (building one costs more than running it).
_HEAD = select(ledger_heads.c.seq, ledger_heads.c.hash).where(
    ledger_heads.c.workspace_id == bindparam("ws")
)
_HEAD_FOR_UPDATE = _HEAD.with_for_update()
_SET_HEAD = (
    update(ledger_heads)
    .where(ledger_heads.c.workspace_id == bindparam("ws"))
    .values(seq=bindparam("new_seq"), hash=bindparam("new_hash"))
)


def lock_head(conn: Connection, workspace_id: int) -> tuple[int, str]:
    """Take the workspace's ledger lock (PostgreSQL row lock; SQLite's write lock is already held)."""
    query = _HEAD if is_sqlite(conn) else _HEAD_FOR_UPDATE
    row = conn.execute(query, {"ws": workspace_id}).one()
    return int(row.seq), str(row.hash)


def read_head(conn: Connection, workspace_id: int) -> tuple[int, str] | None:
    row = conn.execute(_HEAD, {"ws": workspace_id}).one_or_none()
    return (int(row.seq), str(row.hash)) if row else None


def set_head(conn: Connection, workspace_id: int, seq: int, digest: str) -> None:
    conn.execute(_SET_HEAD, {"ws": workspace_id, "new_seq": seq, "new_hash": digest})


def _event_row(event: ConsentEvent) -> dict[str, Any]:
    return {
        "workspace_id": event.workspace_id,
        "seq": event.seq,
        "number": event.number,
        "action": event.action.value,
        "method": event.method.value,
        "scope": event.scope.value,
        "scope_key": event.scope_key,
        "list_id": event.list_id,
        "reason": event.reason,
        "inbound_text": event.inbound_text,
        "actor": event.actor,
        "channel_id": event.channel_id,
        "source": event.source,
        "correlation_id": event.correlation_id,
        "consent_note": event.consent_note,
        "detail": dict(event.detail) if event.detail is not None else None,
        "occurred_at": event.occurred_at,
        "recorded_at": event.recorded_at,
        "prev_hash": event.prev_hash,
        "hash": event.hash,
    }


_INSERT_EVENT = insert(consent_events)


def append_events(conn: Connection, events: Sequence[ConsentEvent]) -> None:
    if len(events) == 1:
        conn.execute(_INSERT_EVENT, _event_row(events[0]))
    elif events:
        conn.execute(_INSERT_EVENT, [_event_row(e) for e in events])


def append_uniform_events(
    conn: Connection,
    workspace_id: int,
    items: Sequence[tuple[int, str, str, str]],
    template: ConsentEvent,
) -> None:
    """Events equal to `template` but for (seq, number, prev_hash, hash) of each item, in chain
    order (a bulk of consent records; the caller hashed them)."""
    base = _event_row(template)
    rows = [
        {**base, "seq": seq, "number": number, "prev_hash": prev, "hash": digest}
        for seq, number, prev, digest in items
    ]
    for start in range(0, len(rows), 5000):
        conn.execute(_INSERT_EVENT, rows[start : start + 5000])


def event_from_row(row: Any) -> ConsentEvent:
    return ConsentEvent(
        workspace_id=row.workspace_id,
        seq=int(row.seq),
        number=row.number,
        action=Action(row.action),
        method=Method(row.method),
        scope=Scope(row.scope),
        scope_key=row.scope_key,
        list_id=row.list_id,
        reason=row.reason,
        inbound_text=row.inbound_text,
        actor=row.actor,
        channel_id=row.channel_id,
        source=row.source,
        correlation_id=row.correlation_id,
        consent_note=row.consent_note,
        detail=row.detail,
        occurred_at=utc(row.occurred_at),
        recorded_at=utc(row.recorded_at),
        prev_hash=row.prev_hash,
        hash=row.hash,
    )


def iter_events(
    conn: Connection,
    workspace_id: int,
    *,
    number: str | None = None,
    through: int | None = None,
    batch: int = 5000,
) -> Iterator[ConsentEvent]:
    """A workspace's events in chain order (optionally one number's, or up to seq `through`),
    read in batches."""
    last = 0
    while True:
        query = (
            select(consent_events)
            .where(consent_events.c.workspace_id == workspace_id, consent_events.c.seq > last)
            .order_by(consent_events.c.seq)
            .limit(batch)
        )
        if number is not None:
            query = query.where(consent_events.c.number == number)
        if through is not None:
            query = query.where(consent_events.c.seq <= through)
        rows = conn.execute(query).all()
        if not rows:
            return
        for row in rows:
            yield event_from_row(row)
        last = int(rows[-1].seq)


# --- state ----------------------------------------------------------------------------------

# The fourth column is text: an opt-out's kept lists (JSON), a list opt-out's list id. One
# column serves both so the hottest query keeps its shape (and `gate_state`'s extra rows fit).
_STATE_SQL = """
SELECT 'o' AS kind, scope, scope_key, kept_lists AS list_ref, method, reason, actor,
       created_at, event_seq, channel_id
  FROM opt_outs WHERE workspace_id = :ws AND number = :n
UNION ALL
SELECT 'b', NULL, NULL, NULL, method, reason, actor, created_at, event_seq,
       CAST(NULL AS INTEGER)
  FROM blocks WHERE workspace_id = :ws AND number = :n
UNION ALL
SELECT 'l', NULL, NULL, CAST(list_id AS TEXT), method, reason, actor, created_at, event_seq,
       CAST(NULL AS INTEGER)
  FROM list_opt_outs WHERE workspace_id = :ws AND number = :n
"""


# Also read by `store.send_time.gate_state`, which appends its own rows in the same layout.
STATE_SQL = _STATE_SQL

_KIND, _SCOPE, _KEY, _LIST, _METHOD, _REASON, _ACTOR, _CREATED, _SEQ, _CHANNEL = range(10)


def _record(row: Any, keeps: tuple[tuple[int, int], ...] = ()) -> Record:
    created = row[_CREATED]
    if isinstance(created, str):  # the SQLite driver hands timestamps back as text
        created = datetime.fromisoformat(created)
    return Record(
        method=Method(row[_METHOD]),
        reason=row[_REASON],
        actor=row[_ACTOR],
        created_at=utc(created),
        event_seq=int(row[_SEQ]),
        channel_id=row[_CHANNEL],
        keeps=keeps,
    )


def kept_lists_text(keeps: tuple[tuple[int, int], ...]) -> str | None:
    """An opt-out's kept lists as stored: canonical JSON text, NULL when it keeps none."""
    return json.dumps([list(p) for p in keeps], separators=(",", ":")) if keeps else None


def kept_lists_of(raw: Any) -> tuple[tuple[int, int], ...]:
    if raw is None:
        return ()
    try:
        pairs = json.loads(raw) if isinstance(raw, str) else raw
        return tuple(sorted((int(i), int(seq)) for i, seq in pairs))
    except (TypeError, ValueError):
        # An unreadable value keeps nothing: the gate refuses, and `ledger verify` reports the
        # row as not matching its events.
        return ((-1, -1),)


_EMPTY = NumberState()


def state_from_rows(rows: Sequence[Any]) -> NumberState:
    """Rows of _STATE_SQL (kind, scope, key, list, method, reason, actor, created, seq, channel)."""
    if not rows:
        return _EMPTY
    outs: dict[tuple[Scope, str], Record] = {}
    block: Record | None = None
    lists: dict[int, Record] = {}
    for row in rows:
        kind = row[_KIND]
        if kind == "o":
            keeps = kept_lists_of(row[_LIST]) if row[_LIST] is not None else ()
            outs[(Scope(row[_SCOPE]), row[_KEY])] = _record(row, keeps)
        elif kind == "b":
            block = _record(row)
        else:
            lists[int(row[_LIST])] = _record(row)
    return NumberState(opt_outs=outs, block=block, list_opt_outs=lists)


# The gate reads state on every hand-off, so this is the hottest query stopline has: it goes
# straight to the DB-API cursor (one round trip, no SQLAlchemy compilation or row objects).
_STATE_SQL_SQLITE = _STATE_SQL
_STATE_SQL_PG = _STATE_SQL.replace(":ws", "%(ws)s").replace(":n", "%(n)s")


def load_state(conn: Connection, workspace_id: int, number: str) -> NumberState:
    """A number's current consent: one round trip over the three projection tables."""
    driver = driver_connection(conn)
    sql = _STATE_SQL_SQLITE if is_sqlite(conn) else _STATE_SQL_PG
    cursor = driver.cursor()
    try:
        cursor.execute(sql, {"ws": workspace_id, "n": number})
        rows = cursor.fetchall()
    finally:
        cursor.close()
    return state_from_rows(rows)


def _where_number(table: Any, *extra: Any) -> Any:
    return and_(table.c.workspace_id == bindparam("ws"), table.c.number == bindparam("n"), *extra)


_OPT_OUT_KEY = (opt_outs.c.scope == bindparam("s"), opt_outs.c.scope_key == bindparam("k"))
_RECORD: dict[str, Any] = {
    name: bindparam(f"r_{name}")
    for name in ("method", "reason", "actor", "created_at", "event_seq", "channel_id")
}
_OPT_OUT_RECORD = {**_RECORD, "kept_lists": bindparam("r_kept_lists")}
_DELETE_OPT_OUT = delete(opt_outs).where(_where_number(opt_outs, *_OPT_OUT_KEY))
_INSERT_OPT_OUT = insert(opt_outs).values(
    workspace_id=bindparam("ws"),
    number=bindparam("n"),
    scope=bindparam("s"),
    scope_key=bindparam("k"),
    **_OPT_OUT_RECORD,
)
_UPDATE_OPT_OUT = (
    update(opt_outs).where(_where_number(opt_outs, *_OPT_OUT_KEY)).values(**_OPT_OUT_RECORD)
)
_DELETE_BLOCK = delete(blocks).where(_where_number(blocks))
_BLOCK_RECORD = {k: v for k, v in _RECORD.items() if k != "channel_id"}
_INSERT_BLOCK = insert(blocks).values(
    workspace_id=bindparam("ws"), number=bindparam("n"), **_BLOCK_RECORD
)
_LIST_KEY = list_opt_outs.c.list_id == bindparam("l")
_DELETE_LIST_OPT_OUT = delete(list_opt_outs).where(_where_number(list_opt_outs, _LIST_KEY))
_INSERT_LIST_OPT_OUT = insert(list_opt_outs).values(
    workspace_id=bindparam("ws"), number=bindparam("n"), list_id=bindparam("l"), **_BLOCK_RECORD
)


def write_state_diff(
    conn: Connection, workspace_id: int, number: str, old: NumberState, new: NumberState
) -> None:
    """Make the projection rows for `number` go from `old` to `new`."""
    at = {"ws": workspace_id, "n": number}
    for key in old.opt_outs.keys() - new.opt_outs.keys():
        conn.execute(_DELETE_OPT_OUT, {**at, "s": key[0].value, "k": key[1]})
    for key, record in new.opt_outs.items():
        before = old.opt_outs.get(key)
        if before == record:
            continue
        statement = _INSERT_OPT_OUT if before is None else _UPDATE_OPT_OUT
        values = _record_params(record, channel=True)
        conn.execute(statement, {**at, "s": key[0].value, "k": key[1], **values})
    if old.block != new.block:
        conn.execute(_DELETE_BLOCK, at)
        if new.block is not None:
            conn.execute(_INSERT_BLOCK, {**at, **_record_params(new.block)})
    for list_id in old.list_opt_outs.keys() - new.list_opt_outs.keys():
        conn.execute(_DELETE_LIST_OPT_OUT, {**at, "l": list_id})
    for list_id, record in new.list_opt_outs.items():
        if list_id not in old.list_opt_outs:
            conn.execute(_INSERT_LIST_OPT_OUT, {**at, "l": list_id, **_record_params(record)})


def _record_params(record: Record, *, channel: bool = False) -> dict[str, Any]:
    params = {f"r_{name}": value for name, value in _record_values(record).items()}
    if channel:  # an opt-out's: its channel and kept lists too
        params["r_channel_id"] = record.channel_id
        params["r_kept_lists"] = kept_lists_text(record.keeps)
    return params


def _record_values(record: Record) -> dict[str, Any]:
    return {
        "method": record.method.value,
        "reason": record.reason,
        "actor": record.actor,
        "created_at": record.created_at,
        "event_seq": record.event_seq,
    }


def insert_opt_outs_bulk(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Projection rows for a bulk of brand-new workspace opt-outs (import, bulk unsubscribe)."""
    if rows:
        conn.execute(insert(opt_outs), list(rows))


def all_states(conn: Connection, workspace_id: int) -> dict[str, NumberState]:
    """Every number's stored state in a workspace (for projection checks and verification)."""
    grouped: dict[str, list[Any]] = {}
    from sqlalchemy import text

    sql = _STATE_SQL.replace("AND number = :n", "")
    sql = sql.replace("SELECT 'o' AS kind,", "SELECT number, 'o' AS kind,")
    sql = sql.replace("SELECT 'b',", "SELECT number, 'b',").replace(
        "SELECT 'l',", "SELECT number, 'l',"
    )
    for row in conn.execute(text(sql), {"ws": workspace_id}):
        grouped.setdefault(row[0], []).append(tuple(row)[1:])
    return {number: state_from_rows(rows) for number, rows in grouped.items()}


def numbers_with_workspace_opt_out(
    conn: Connection, workspace_id: int, numbers: Sequence[str], chunk: int = 900
) -> set[str]:
    """Which of `numbers` are already opted out workspace-wide (a block implies that too)."""
    found: set[str] = set()
    for start in range(0, len(numbers), chunk):
        part = list(numbers[start : start + chunk])
        query = select(opt_outs.c.number).where(
            opt_outs.c.workspace_id == workspace_id,
            opt_outs.c.scope == Scope.WORKSPACE.value,
            opt_outs.c.number.in_(part),
        )
        found.update(conn.execute(query).scalars())
    return found


# --- bulk paths (imports, bulk unsubscribe) ----------------------------------------------------
# A million-row import cannot afford SQLAlchemy's per-row parameter processing: these statements
# go to the driver (sqlite3 executemany, PostgreSQL COPY) with values processed once, since every
# row of a bulk shares its method, reason, actor and timestamps.

_STAGE = "stopline_stage_numbers"
# Below this many numbers, IN-lists are cheaper than filling a temporary table.
STAGE_THRESHOLD = 20_000


def _processed(conn: Connection, column: Any, value: Any) -> Any:
    """`value` as SQLAlchemy would bind it for `column` (e.g. SQLite's text timestamps)."""
    dialect = conn.dialect
    processor = column.type.dialect_impl(dialect).bind_processor(dialect)
    return processor(value) if processor is not None else value


def _driver_cursor(conn: Connection) -> Any:
    return driver_connection(conn).cursor()


def _copy_rows(conn: Connection, table: str, columns: Sequence[str], rows: Any) -> None:
    """PostgreSQL COPY ... FROM STDIN inside the caller's transaction."""
    cursor = _driver_cursor(conn)
    try:
        with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
    finally:
        cursor.close()


def _insert_many(
    conn: Connection, table: str, columns: Sequence[str], rows: list[tuple[Any, ...]]
) -> None:
    if not rows:
        return
    if is_sqlite(conn):
        marks = ", ".join("?" for _ in columns)
        cursor = _driver_cursor(conn)
        try:
            cursor.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)
        finally:
            cursor.close()
    else:
        _copy_rows(conn, table, columns, rows)


_EVENT_COLUMNS = (
    "workspace_id",
    "seq",
    "number",
    "prev_hash",
    "hash",
    "action",
    "method",
    "scope",
    "scope_key",
    "list_id",
    "reason",
    "inbound_text",
    "actor",
    "channel_id",
    "source",
    "correlation_id",
    "consent_note",
    "detail",
    "occurred_at",
    "recorded_at",
)
_OPT_OUT_COLUMNS = (
    "workspace_id",
    "number",
    "event_seq",
    "scope",
    "scope_key",
    "method",
    "reason",
    "actor",
    "channel_id",
    "created_at",
)


def append_bulk_opt_outs(
    conn: Connection,
    workspace_id: int,
    items: Sequence[tuple[int, str, str, str]],
    *,
    method: Method,
    reason: str | None,
    actor: str,
    source: str | None,
    now: datetime,
) -> None:
    """Append workspace-wide opt-out events and their projection rows for brand-new opt-outs.

    `items` are (seq, number, prev_hash, hash) in chain order, hashed by the caller exactly as
    `domain.consent.make_event` would hash them (occurred_at = recorded_at = now, no detail).
    """
    if not items:
        return
    if is_sqlite(conn):
        _append_bulk_sqlite(conn, workspace_id, items, method, reason, actor, source, now)
        return
    c = consent_events.c
    stamp = _processed(conn, c.occurred_at, now)
    event_tail = (
        Action.OPT_OUT.value,
        method.value,
        Scope.WORKSPACE.value,
        "",
        None,
        reason,
        None,
        actor,
        None,
        source,
        None,
        None,
        _processed(conn, c.detail, None),
        stamp,
        stamp,
    )
    events = [
        (workspace_id, seq, number, prev, digest, *event_tail)
        for seq, number, prev, digest in items
    ]
    _insert_many(conn, "consent_events", _EVENT_COLUMNS, events)
    del events
    created = _processed(conn, opt_outs.c.created_at, now)
    out_tail = (Scope.WORKSPACE.value, "", method.value, reason, actor, None, created)
    rows = [(workspace_id, number, seq, *out_tail) for seq, number, _prev, _digest in items]
    _insert_many(conn, "opt_outs", _OPT_OUT_COLUMNS, rows)


_STAGE_EVENTS = "stopline_stage_events"


def _append_bulk_sqlite(
    conn: Connection,
    workspace_id: int,
    items: Sequence[tuple[int, str, str, str]],
    method: Method,
    reason: str | None,
    actor: str,
    source: str | None,
    now: datetime,
) -> None:
    """SQLite: stage only what differs per row, then copy into both tables inside SQLite.

    Binding 4 values per row into an unindexed temporary table and letting two
    INSERT ... SELECT statements fill the 20-column events and the opt-outs is about twice
    as fast as binding every column of both tables from Python.
    """
    stamp = _processed(conn, consent_events.c.occurred_at, now)
    created = _processed(conn, opt_outs.c.created_at, now)
    cursor = _driver_cursor(conn)
    try:
        cursor.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {_STAGE_EVENTS} "
            "(seq INTEGER, number TEXT, prev_hash TEXT, hash TEXT)"
        )
        cursor.execute(f"DELETE FROM {_STAGE_EVENTS}")
        # Items come in seq order, so rowid order is seq order: no sort in the copies below.
        cursor.executemany(f"INSERT INTO {_STAGE_EVENTS} VALUES (?, ?, ?, ?)", items)
        cursor.execute(
            f"INSERT INTO consent_events ({', '.join(_EVENT_COLUMNS)}) "
            "SELECT ?, seq, number, prev_hash, hash, ?, ?, ?, '', NULL, ?, NULL, ?, NULL, ?, "
            f"NULL, NULL, ?, ?, ? FROM {_STAGE_EVENTS} ORDER BY rowid",
            (
                workspace_id,
                Action.OPT_OUT.value,
                method.value,
                Scope.WORKSPACE.value,
                reason,
                actor,
                source,
                _processed(conn, consent_events.c.detail, None),
                stamp,
                stamp,
            ),
        )
        cursor.execute(
            f"INSERT INTO opt_outs ({', '.join(_OPT_OUT_COLUMNS)}) "
            f"SELECT ?, number, seq, ?, '', ?, ?, ?, NULL, ? FROM {_STAGE_EVENTS} ORDER BY rowid",
            (
                workspace_id,
                Scope.WORKSPACE.value,
                method.value,
                reason,
                actor,
                created,
            ),
        )
        cursor.execute(f"DROP TABLE {_STAGE_EVENTS}")
    finally:
        cursor.close()


def numbers_with_workspace_opt_out_staged(
    conn: Connection, workspace_id: int, numbers: Sequence[str]
) -> set[str]:
    """`numbers_with_workspace_opt_out` for large inputs: an anti-join against a temporary table."""
    if not numbers:
        return set()
    sqlite = is_sqlite(conn)
    cursor = _driver_cursor(conn)
    try:
        if sqlite:
            cursor.execute(f"CREATE TEMP TABLE IF NOT EXISTS {_STAGE} (number TEXT PRIMARY KEY)")
            cursor.execute(f"DELETE FROM {_STAGE}")
            cursor.executemany(
                f"INSERT OR IGNORE INTO {_STAGE} (number) VALUES (?)",
                ((n,) for n in sorted(numbers)),
            )
            cursor.execute(
                f"SELECT s.number FROM {_STAGE} s JOIN opt_outs o ON o.workspace_id = ? "
                "AND o.number = s.number AND o.scope = 'workspace' AND o.scope_key = ''",
                (workspace_id,),
            )
        else:
            cursor.execute(f"CREATE TEMP TABLE IF NOT EXISTS {_STAGE} (number TEXT) ON COMMIT DROP")
            cursor.execute(f"TRUNCATE {_STAGE}")
            with cursor.copy(f"COPY {_STAGE} (number) FROM STDIN") as copy:
                for n in numbers:
                    copy.write_row((n,))
            cursor.execute(
                f"SELECT DISTINCT s.number FROM {_STAGE} s JOIN opt_outs o ON o.workspace_id = %s "
                "AND o.number = s.number AND o.scope = 'workspace' AND o.scope_key = ''",
                (workspace_id,),
            )
        found = {row[0] for row in cursor.fetchall()}
        cursor.execute(f"DROP TABLE {_STAGE}")
    finally:
        cursor.close()
    return found


def events_at(conn: Connection, workspace_id: int, seqs: Sequence[int]) -> dict[int, ConsentEvent]:
    """The events at these chain positions (an evidence report checks each event's neighbours)."""
    found: dict[int, ConsentEvent] = {}
    wanted = sorted(set(seqs))
    for start in range(0, len(wanted), 900):
        part = wanted[start : start + 900]
        query = select(consent_events).where(
            consent_events.c.workspace_id == workspace_id, consent_events.c.seq.in_(part)
        )
        for row in conn.execute(query):
            event = event_from_row(row)
            found[event.seq] = event
    return found


def workspace_opt_out_numbers(conn: Connection, workspace_id: int, at_most: int) -> set[str] | None:
    """Every workspace-wide opted-out number, if there are no more than `at_most` of them.

    A big import into a workspace with fewer opt-outs than the file has rows is checked against
    this set instead of probing the index for every imported number.
    """
    sql = (
        "SELECT number FROM opt_outs WHERE workspace_id = {p} AND scope = 'workspace' LIMIT {n}"
    ).format(p="?" if is_sqlite(conn) else "%s", n=int(at_most) + 1)
    cursor = _driver_cursor(conn)
    try:
        cursor.execute(sql, (workspace_id,))
        found = {row[0] for row in cursor.fetchall()}
    finally:
        cursor.close()
    return found if len(found) <= at_most else None


def _binary(conn: Connection) -> str:
    """The collation that orders text by its bytes (Python's order for E.164 numbers)."""
    return "BINARY" if is_sqlite(conn) else "C"


def iter_events_by_number(
    conn: Connection, workspace_id: int, *, batch: int = 5000
) -> Iterator[ConsentEvent]:
    """A workspace's events number by number, each number's in chain order, read in batches
    (to check the state tables against the ledger without holding the ledger in memory)."""
    # Byte order on both databases, so callers can merge this with `iter_states` in Python.
    number = consent_events.c.number.collate(_binary(conn))
    after: tuple[str, int] | None = None
    while True:
        query = (
            select(consent_events)
            .where(consent_events.c.workspace_id == workspace_id)
            .order_by(number, consent_events.c.seq)
            .limit(batch)
        )
        if after is not None:
            query = query.where(
                (number > after[0])
                | ((consent_events.c.number == after[0]) & (consent_events.c.seq > after[1]))
            )
        rows = conn.execute(query).all()
        for row in rows:
            yield event_from_row(row)
        if len(rows) < batch:
            return
        after = (rows[-1].number, int(rows[-1].seq))


def iter_states(
    conn: Connection, workspace_id: int, *, batch: int = 5000
) -> Iterator[tuple[str, NumberState]]:
    """Every number's stored state (opt-outs, block, list opt-outs), in number order."""
    from sqlalchemy import text

    collate = f'COLLATE "{_binary(conn)}"'
    sql = _STATE_SQL.replace("AND number = :n", f"AND number {collate} > :after")
    sql = sql.replace("SELECT 'o' AS kind,", "SELECT number, 'o' AS kind,")
    sql = sql.replace("SELECT 'b',", "SELECT number, 'b',").replace(
        "SELECT 'l',", "SELECT number, 'l',"
    )
    sql = f"SELECT * FROM ({sql}) AS s ORDER BY number {collate} LIMIT :limit"
    after = ""
    while True:
        rows = [
            tuple(r)
            for r in conn.execute(text(sql), {"ws": workspace_id, "after": after, "limit": batch})
        ]
        complete = len(rows) < batch
        if not complete:
            # The last number's rows may continue in the next batch: read it again there.
            last = rows[-1][0]
            rows = [r for r in rows if r[0] != last]
            if not rows:  # one number with more rows than a batch: read it alone
                found = conn.execute(text(_STATE_SQL), {"ws": workspace_id, "n": last})
                rows = [(last, *r) for r in found]
        grouped: dict[str, list[Any]] = {}
        for row in rows:
            grouped.setdefault(row[0], []).append(row[1:])
        for number, group in grouped.items():
            yield number, state_from_rows(group)
        if complete or not grouped:
            return
        after = max(grouped)


def has_correlated_event(
    conn: Connection, workspace_id: int, number: str, action: Action, correlation_id: str
) -> bool:
    """Whether the number already has an event of this action with this correlation id (an API
    record sent again)."""
    query = (
        select(consent_events.c.seq)
        .where(
            consent_events.c.workspace_id == workspace_id,
            consent_events.c.number == number,
            consent_events.c.action == action.value,
            consent_events.c.correlation_id == correlation_id,
        )
        .limit(1)
    )
    return conn.execute(query).first() is not None
