"""What the provider-sync service tests share: the acting owner, a simulated clock, and the local
provider servers started and stopped around a test."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from stopline.services.workspaces import Principal
from tests.providers.sync_servers import FakeClock, ScriptedServer


def owner(ws: Any) -> Principal:
    return Principal(workspace_id=ws.id, role="owner", actor="owner:test")


@pytest.fixture(name="clock")
def clock_fixture() -> FakeClock:
    # An hour ahead: reports written at the wall clock's now are already due.
    return FakeClock(datetime.now(UTC) + timedelta(hours=1))


def serving(api: Any) -> Iterator[Any]:
    """Run `api.handle` on a local server for one test; `api.url` is its address."""
    server = ScriptedServer(api.handle).start()
    api.url = server.url
    yield api
    server.stop()
