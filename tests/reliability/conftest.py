"""Shared by the reliability tests: the app on the test database, browser sign-in, the CLI."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from litestar.testing import TestClient

from stopline.config import Config
from stopline.runtime import Runtime
from tests.cli.conftest import cli  # noqa: F401  (re-exported fixture)

PASSWORD = "correct horse battery"
SESSION_COOKIE = "stopline_session"


@pytest.fixture
def runtime(database_url: str, engine: sa.Engine, tmp_path: Path) -> Runtime:
    rt = Runtime(Config(database_url, tmp_path / "data", "reliability-secret", None))
    rt.__dict__["engine"] = engine  # share the session's engine (a cached_property)
    return rt


@pytest.fixture
def app(runtime: Runtime) -> Any:
    from stopline.web.app import create_app

    return create_app(runtime)


@pytest.fixture
def client(app: Any) -> Iterator[TestClient[Any]]:
    with TestClient(app=app, raise_server_exceptions=False) as tc:
        yield tc


def form_token(html: str) -> str:
    found = re.search(r'name="form_token" value="([^"]+)"', html)
    assert found, "the sign-in page carries its form token"
    return found.group(1)


def sign_in(client: TestClient[Any], email: str, password: str = PASSWORD) -> Any:
    """Sign in as a browser would: load the form (its CSRF cookie and token), post it.

    A session cookie the browser already has is sent with the post (as a second tab would).
    """
    current = session_cookie(client)
    set_session_cookie(client, None)
    page = client.get("/sign-in")
    assert page.status_code == 200, page.status_code
    set_session_cookie(client, current)
    return client.post(
        "/sign-in",
        data={
            "email": email,
            "password": password,
            "form_token": form_token(page.text),
            "next": "/inbox",
        },
        follow_redirects=False,
    )


def session_cookie(client: TestClient[Any]) -> str | None:
    values = [c.value for c in client.cookies.jar if c.name == SESSION_COOKIE]
    assert len(values) <= 1
    return values[0] if values else None


def set_session_cookie(client: TestClient[Any], value: str | None) -> None:
    """Replace the browser's session cookie (None: drop it), as a copied or planted cookie."""
    for c in list(client.cookies.jar):
        if c.name == SESSION_COOKIE:
            client.cookies.jar.clear(c.domain, c.path, c.name)
    if value is not None:
        host = client.base_url.host
        client.cookies.set(SESSION_COOKIE, value, domain=host if "." in host else host + ".local")
