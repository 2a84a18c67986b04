"""Shared fixtures: every storage test runs against SQLite and PostgreSQL, each test in its own workspace."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from stopline.services import workspaces
from stopline.store.db import make_engine, normalize_url, write
from stopline.store.migrate import upgrade

PG_URL = os.environ.get("STOPLINE_TEST_DATABASE_URL")
REQUIRE_PG = os.environ.get("STOPLINE_REQUIRE_POSTGRES") == "1"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if REQUIRE_PG and not PG_URL:
        raise pytest.UsageError(
            "STOPLINE_REQUIRE_POSTGRES=1 but STOPLINE_TEST_DATABASE_URL is not set"
        )


def fresh_postgres_database() -> tuple[str, sa.Engine]:
    """A new, empty PostgreSQL database on the test server; returns its URL and an admin engine."""
    assert PG_URL
    admin = sa.create_engine(normalize_url(PG_URL), isolation_level="AUTOCOMMIT")
    name = f"stopline_t_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = sa.engine.make_url(normalize_url(PG_URL)).set(database=name)
    return url.render_as_string(hide_password=False), admin


def drop_postgres_database(admin: sa.Engine, url: str) -> None:
    name = sa.engine.make_url(url).database
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A migrated database URL, once per backend for the whole session."""
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("db") / "stopline.db"
        url = f"sqlite:///{path}"
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        yield url
        return
    if not PG_URL:
        if REQUIRE_PG:
            pytest.fail("PostgreSQL tests are required but STOPLINE_TEST_DATABASE_URL is unset")
        pytest.skip("set STOPLINE_TEST_DATABASE_URL to run the PostgreSQL tests")
    url, admin = fresh_postgres_database()
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    yield url
    drop_postgres_database(admin, url)


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[sa.Engine]:
    eng = make_engine(database_url)
    yield eng
    eng.dispose()


@pytest.fixture
def created(engine: sa.Engine) -> workspaces.CreatedWorkspace:
    """A brand-new workspace for this test alone: isolation makes tests independent."""
    with write(engine) as conn:
        return workspaces.create_workspace(
            conn,
            name=f"Acme {uuid.uuid4().hex[:6]}",
            owner_email=f"owner-{uuid.uuid4().hex[:8]}@example.com",
            owner_password="correct horse battery",
        )


@pytest.fixture
def ws(created: workspaces.CreatedWorkspace) -> workspaces.Workspace:
    return created.workspace


@pytest.fixture
def keyring() -> Keyring:
    from stopline.security import Keyring

    return Keyring("test-secret-key")


def unique_number() -> str:
    """A valid, unused-looking US number (555-01xx is fictional, so use real-format exchanges)."""
    import random

    return f"+1415{random.randint(200, 999)}{random.randint(1000, 9999)}"


from stopline.security import Keyring  # noqa: E402  (for the annotation above)
