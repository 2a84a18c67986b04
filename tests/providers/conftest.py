"""Fixtures for the provider adapter tests: a local fake provider API and an HTTP client."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.providers.fake_servers import FakeProviderServer

CLIENT_TIMEOUT = 1.0  # seconds; the timeout tests use a shorter one of their own


@pytest.fixture
def fake_api() -> Iterator[FakeProviderServer]:
    server = FakeProviderServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=CLIENT_TIMEOUT) as http:
        yield http


@pytest.fixture
def impatient_client() -> Iterator[httpx.Client]:
    """A client that gives up before the fake server's delayed replies arrive."""
    with httpx.Client(timeout=0.2) as http:
        yield http
