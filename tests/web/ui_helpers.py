"""Helpers for the web UI tests: an app on the test database, signing in, and reading forms."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from litestar.testing import TestClient

from stopline.config import Config
from stopline.runtime import Runtime
from stopline.services import workspaces
from stopline.store.db import write

PASSWORD = "correct horse battery"


def make_runtime(engine: sa.Engine, tmp: Path) -> Runtime:
    url = engine.url.render_as_string(hide_password=False)
    rt = Runtime(
        Config(database_url=url, data_dir=tmp, secret_key="ui-test-secret" * 3, public_url=None)
    )
    rt.__dict__["engine"] = engine  # share the session's engine (cached_property slot)
    return rt


@pytest.fixture(scope="module")
def ui_app(engine: sa.Engine, tmp_path_factory: pytest.TempPathFactory) -> Any:
    from stopline.web.app import create_app

    return create_app(make_runtime(engine, tmp_path_factory.mktemp("ui")))


@pytest.fixture
def client(ui_app: Any) -> Iterator[TestClient[Any]]:
    with TestClient(ui_app, base_url="http://testserver.local") as c:
        yield c


@pytest.fixture
def other_client(ui_app: Any) -> Iterator[TestClient[Any]]:
    with TestClient(ui_app, base_url="http://testserver.local") as c:
        yield c


def new_workspace(engine: sa.Engine, name: str = "Shop") -> workspaces.CreatedWorkspace:
    with write(engine) as conn:
        return workspaces.create_workspace(
            conn,
            name=f"{name} {uuid.uuid4().hex[:6]}",
            owner_email=f"owner-{uuid.uuid4().hex[:8]}@example.com",
            owner_password=PASSWORD,
        )


def add_person(engine: sa.Engine, workspace_id: int, role: str, email: str | None = None) -> str:
    email = email or f"{role}-{uuid.uuid4().hex[:8]}@example.com"
    with write(engine) as conn:
        workspaces.add_member(conn, workspace_id, email, PASSWORD, role)
    return email


def form_token(html: str) -> str:
    return re.search(r'name="form_token" value="([^"]+)"', html).group(1)  # type: ignore[union-attr]


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)  # type: ignore[union-attr]


def sign_in(client: TestClient[Any], email: str, password: str = PASSWORD) -> str:
    """Sign in through the form; returns the session's CSRF token."""
    page = client.get("/sign-in")
    response = client.post(
        "/sign-in",
        data={"email": email, "password": password, "form_token": form_token(page.text)},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    return csrf_of(client.get("/settings/members").text)


def post(client: TestClient[Any], url: str, csrf: str, **data: Any) -> Any:
    return client.post(url, data={"csrf_token": csrf, **data}, follow_redirects=False)
