"""Engines and transactions for SQLite (WAL, immediate write locks) and PostgreSQL (psycopg 3)."""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, any_, cast, create_engine, event, literal
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import make_url

log = logging.getLogger(__name__)


def normalize_url(url: str) -> str:
    """Accept plain postgresql:// URLs and point them at psycopg 3."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def make_engine(url: str, **kwargs: Any) -> Engine:
    url = normalize_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            **kwargs,
        )
        _configure_sqlite(engine)
        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy's begin event decide how each transaction starts.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # A write takes the lock up front: a deferred transaction that upgrades later can
        # fail with "database is locked" instead of waiting its turn.
        if conn.get_execution_options().get("stopline_readonly"):
            conn.exec_driver_sql("BEGIN")
        else:
            conn.exec_driver_sql("BEGIN IMMEDIATE")


def insert_id(conn: Connection, statement: Any) -> int:
    """Run an INSERT and return the new row's integer primary key."""
    key = conn.execute(statement).inserted_primary_key
    assert key is not None
    return int(key[0])


def among(conn: Connection, column: Any, values: Iterable[Any]) -> Any:
    """`column IN values` for a batch: on PostgreSQL `= ANY(array)`, one parameter whatever the
    batch size (a 500-placeholder IN list costs more to send and parse than to run)."""
    items = list(values)
    if is_sqlite(conn):
        return column.in_(items)
    return column == any_(cast(literal(items), ARRAY(column.type)))


def dialect_insert(conn: Connection, table: Any) -> Any:
    """A dialect-specific INSERT that supports ON CONFLICT DO NOTHING."""
    return sqlite.insert(table) if is_sqlite(conn) else postgresql.insert(table)


def is_sqlite(engine: Engine | Connection) -> bool:
    return engine.dialect.name == "sqlite"


def driver_connection(conn: Connection) -> Any:
    """The driver's own connection under `conn` (sqlite3 or psycopg), for statements that skip
    SQLAlchemy's per-statement work; in `conn`'s transaction."""
    driver = conn.connection.driver_connection
    assert driver is not None
    return driver


@contextmanager
def write(engine: Engine) -> Iterator[Connection]:
    """A write transaction: committed on success, rolled back whole on any error."""
    with engine.begin() as conn:
        yield conn


@contextmanager
def bulk_write(engine: Engine) -> Iterator[Connection]:
    """`write` for one very large transaction (an import of a million rows).

    SQLite copies the write-ahead log back into the database file in the commit that grows it
    past 1,000 pages, so the committing caller waits for it: about 2 s for a million-row import
    whose rows are already committed and visible. Here the commit skips that copy and a
    background thread does it right after (a PASSIVE checkpoint: readers and writers carry on,
    and the other connections' own checkpoints step aside while it runs).
    """
    if not is_sqlite(engine):
        with write(engine) as conn:
            yield conn
        return
    with engine.connect() as conn:
        driver = driver_connection(conn)
        every = driver.execute("PRAGMA wal_autocheckpoint").fetchone()[0]
        driver.execute("PRAGMA wal_autocheckpoint=0")
        try:
            with conn.begin():
                yield conn
        finally:
            driver.execute(f"PRAGMA wal_autocheckpoint={int(every)}")
    _checkpoint_soon(engine)


_checkpoints: list[threading.Thread] = []


def _checkpoint_soon(engine: Engine) -> None:
    _checkpoints[:] = [t for t in _checkpoints if t.is_alive()]
    thread = threading.Thread(
        target=_checkpoint, args=(engine,), name="stopline-wal-checkpoint", daemon=True
    )
    thread.start()
    _checkpoints.append(thread)


def _checkpoint(engine: Engine) -> None:
    try:
        with engine.connect() as conn:
            driver_connection(conn).execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
    except Exception:  # the next commit's own checkpoint copies it instead
        log.warning("background WAL checkpoint failed", exc_info=True)


def wait_for_checkpoints(timeout: float | None = None) -> None:
    """Wait for background checkpoints started by `bulk_write` (shutdown, benchmarks)."""
    for thread in list(_checkpoints):
        thread.join(timeout)


@contextmanager
def read(engine: Engine) -> Iterator[Connection]:
    """A read-only transaction: a consistent snapshot that never blocks writers."""
    with engine.connect().execution_options(stopline_readonly=True) as conn:
        with conn.begin():
            yield conn


_PG_SNAPSHOT_ID = re.compile(r"[0-9A-Fa-f]+(?:-[0-9A-Fa-f]+)+")


@contextmanager
def read_snapshot(engine: Engine, snapshot: str | None = None) -> Iterator[Connection]:
    """A read-only transaction whose statements all see one state, pinned before it is yielded.

    SQLite (WAL) gives every read transaction that from its first read, so one is made at once.
    PostgreSQL needs REPEATABLE READ for it (READ COMMITTED sees each statement's own state);
    with `snapshot`, from `shared_snapshot`, it sees exactly that transaction's state.
    """
    if is_sqlite(engine):
        with read(engine) as conn:
            conn.exec_driver_sql("SELECT 1 FROM workspaces LIMIT 1").all()
            yield conn
        return
    with _pg_repeatable_read(engine) as conn:
        if snapshot is not None:
            if not _PG_SNAPSHOT_ID.fullmatch(snapshot):
                raise ValueError(f"not a PostgreSQL snapshot id: {snapshot!r}")
            conn.exec_driver_sql(f"SET TRANSACTION SNAPSHOT '{snapshot}'")
        else:
            conn.exec_driver_sql("SELECT 1").all()
        yield conn


@contextmanager
def shared_snapshot(engine: Engine) -> Iterator[str | None]:
    """Hold one database state still for other processes' `read_snapshot(engine, token)`.

    Each must have begun before this exits. PostgreSQL exports the snapshot
    (`pg_export_snapshot`, as `pg_dump --jobs` does). SQLite has no snapshot to hand over, so
    this holds the write lock instead: nothing commits until the readers have begun, so they
    all begin at the same state. Keep it short; writers wait for it.
    """
    if is_sqlite(engine):
        with write(engine):
            yield None
        return
    with _pg_repeatable_read(engine) as conn:
        yield str(conn.exec_driver_sql("SELECT pg_export_snapshot()").scalar_one())


@contextmanager
def _pg_repeatable_read(engine: Engine) -> Iterator[Connection]:
    options = {"isolation_level": "REPEATABLE READ", "postgresql_readonly": True}
    with engine.connect().execution_options(**options) as conn, conn.begin():
        yield conn
