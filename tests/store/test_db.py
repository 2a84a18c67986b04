"""Transactions: a bulk write commits without waiting for SQLite's checkpoint, loses nothing."""

from __future__ import annotations

import os

import pytest
import sqlalchemy as sa

from stopline.store.db import bulk_write, is_sqlite, read, wait_for_checkpoints


def _count(engine, name: str) -> int:
    with read(engine) as conn:
        return int(conn.execute(sa.text(f"SELECT count(*) FROM {name}")).scalar_one())


def test_a_bulk_write_commits_whole_and_its_wal_is_checkpointed_after(engine) -> None:
    table = f"bulk_{abs(hash(engine.url)) % 10_000}"
    with bulk_write(engine) as conn:
        conn.execute(sa.text(f"DROP TABLE IF EXISTS {table}"))
        conn.execute(sa.text(f"CREATE TABLE {table} (n INTEGER, pad TEXT)"))
        conn.execute(  # about 3,000 pages: past the 1,000 at which SQLite checkpoints
            sa.text(f"INSERT INTO {table} VALUES (:n, :pad)"),
            [{"n": i, "pad": "x" * 1000} for i in range(12_000)],
        )
    assert _count(engine, table) == 12_000
    wait_for_checkpoints()
    if is_sqlite(engine):
        with engine.connect() as conn:
            driver = conn.connection.driver_connection
            # The connection went back to the pool checkpointing as usual...
            assert driver.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 1000
        # ...and the rows had been copied from the log into the database file itself.
        assert os.path.getsize(engine.url.database) > 12_000 * 1000
    with bulk_write(engine) as conn:
        conn.execute(sa.text(f"DROP TABLE {table}"))


def test_a_failed_bulk_write_leaves_nothing(engine) -> None:
    table = f"bulk_fail_{abs(hash(engine.url)) % 10_000}"
    with bulk_write(engine) as conn:
        conn.execute(sa.text(f"DROP TABLE IF EXISTS {table}"))
        conn.execute(sa.text(f"CREATE TABLE {table} (n INTEGER)"))
    with pytest.raises(RuntimeError), bulk_write(engine) as conn:
        conn.execute(sa.text(f"INSERT INTO {table} VALUES (1)"))
        raise RuntimeError("the import found a bad row")
    assert _count(engine, table) == 0
    with bulk_write(engine) as conn:
        conn.execute(sa.text(f"DROP TABLE {table}"))
