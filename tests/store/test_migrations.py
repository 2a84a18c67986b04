"""The Alembic migrations build exactly the schema the code declares, on both databases."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from stopline.store.migrate import upgrade
from stopline.store.tables import metadata


def test_migrations_match_the_declared_schema(engine: sa.Engine) -> None:
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == [], f"tables.py and the migrations differ: {diff}"


def test_upgrade_twice_is_harmless(engine: sa.Engine) -> None:
    upgrade(engine)
    with engine.connect() as conn:
        version = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
    assert version is not None


def test_list_members_from_before_0002_get_their_events_and_verify(database_url: str) -> None:
    """A database at 0001 with list members: after the upgrade the ledger still verifies, each
    member standing on one `list_subscribe` event."""
    import uuid
    from datetime import UTC, datetime

    from stopline.services import ledger as ledger_service
    from stopline.store.db import make_engine, read, write
    from stopline.store.migrate import alembic_config
    from tests.conftest import drop_postgres_database, fresh_postgres_database

    if database_url.startswith("sqlite"):
        import tempfile

        url, admin = f"sqlite:///{tempfile.mkdtemp()}/old.db", None
    else:
        url, admin = fresh_postgres_database()
    engine = make_engine(url)
    try:
        from alembic import command

        command.upgrade(alembic_config(engine), "0001")
        now = datetime.now(UTC)
        with write(engine) as conn:
            ws = conn.execute(
                sa.text(
                    "INSERT INTO workspaces (slug, name, settings, account_sid, auth_token_hash,"
                    " created_at) VALUES (:s, 'Old', '{}', :sid, 'x', :now) RETURNING id"
                ),
                {"s": f"old-{uuid.uuid4().hex[:6]}", "sid": "AC" + uuid.uuid4().hex, "now": now},
            ).scalar_one()
            conn.execute(
                sa.text("INSERT INTO ledger_heads (workspace_id, seq, hash) VALUES (:w, 0, :h)"),
                {"w": ws, "h": "0" * 64},
            )
            list_id = conn.execute(
                sa.text(
                    "INSERT INTO lists (workspace_id, name, keywords, created_at)"
                    " VALUES (:w, 'News', '{}', :now) RETURNING id"
                ),
                {"w": ws, "now": now},
            ).scalar_one()
            for number in ("+14155550123", "+14155550124"):
                conn.execute(
                    sa.text(
                        "INSERT INTO list_members (list_id, number, workspace_id, subscribed_at)"
                        " VALUES (:l, :n, :w, :now)"
                    ),
                    {"l": list_id, "n": number, "w": ws, "now": now},
                )
        upgrade(engine)
        with read(engine) as conn:
            report = ledger_service.verify(conn, ws)
        assert report.ok, report.problems
        assert report.events == 2
    finally:
        engine.dispose()
        if admin is not None:
            drop_postgres_database(admin, url)
