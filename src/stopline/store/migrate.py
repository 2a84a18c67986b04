"""Schema migrations with Alembic, run from code so `stopline` needs no alembic.ini."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import Engine

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(engine: Engine) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


# Any constant: the PostgreSQL advisory lock that lets one process at a time migrate.
_MIGRATION_LOCK = 0x5_7095_1E


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the database to the newest schema (idempotent).

    Every `stopline` process migrates on start, and processes started together on a fresh
    database would race to create the same tables (Alembic decides the path once, then runs
    each step in its own transaction), so they take turns: under an advisory lock on
    PostgreSQL, under an exclusive lock on a file beside the database on SQLite.
    """
    if engine.dialect.name != "postgresql":
        with _file_lock(engine):
            command.upgrade(alembic_config(engine), revision)
        return
    with engine.connect() as lock:
        lock.exec_driver_sql(f"SELECT pg_advisory_lock({_MIGRATION_LOCK})")
        lock.commit()
        try:
            command.upgrade(alembic_config(engine), revision)
        finally:
            lock.exec_driver_sql(f"SELECT pg_advisory_unlock({_MIGRATION_LOCK})")
            lock.commit()


@contextlib.contextmanager
def _file_lock(engine: Engine) -> Iterator[None]:
    """An exclusive lock on `<database>.migrate-lock` for the time of the upgrade (nothing for an
    in-memory database, which no other process can see)."""
    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        yield
        return
    import fcntl

    with open(f"{database}.migrate-lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
