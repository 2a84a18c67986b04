"""Schema migrations with Alembic, run from code so `stopline` needs no alembic.ini."""

from __future__ import annotations

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

    Every `stopline` process migrates on start; on PostgreSQL, processes started together on a
    fresh database would race to create the same tables, so they take turns under an advisory
    lock (SQLite's write lock already serialises them).
    """
    if engine.dialect.name != "postgresql":
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
