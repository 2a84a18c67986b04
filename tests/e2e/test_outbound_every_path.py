"""A number that texted STOP is refused with `opted_out` by every way of sending, against a live
stopline (uvicorn on loopback, its in-process worker running, as `stopline serve` does), and a
number that STOPs after its message was queued or scheduled never gets it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from stopline.security import Keyring
from stopline.services import campaigns, inbox, workspaces
from stopline.services import messages as messages_service
from stopline.services.consent import now_utc
from stopline.store import conversations as conversation_store
from stopline.store.db import read, write
from tests.outbound import add_channel, deliveries, number, owner, stop_reply
from tests.web.outbound_server import SECRET, serve


@pytest.fixture
def live(database_url: str, tmp_path: Path) -> Iterator[str]:
    with serve(database_url, tmp_path, run_worker=True) as url:
        yield url


@pytest.fixture
def channel(engine: sa.Engine, ws: workspaces.Workspace, keyring: Keyring) -> workspaces.Channel:
    return add_channel(engine, ws, keyring)


def status_of(engine: sa.Engine, ws_id: int, message_id: int) -> tuple[str, str | None]:
    with read(engine) as conn:
        m = messages_service.get_message(conn, ws_id, message_id)
    return m.status, m.refusal_code


def wait_for(engine: sa.Engine, ws_id: int, message_id: int, status: str) -> None:
    deadline = time.monotonic() + 30
    while status_of(engine, ws_id, message_id)[0] != status:
        assert time.monotonic() < deadline, f"message {message_id} never became {status}"
        time.sleep(0.05)


def cli_send(
    database_url: str, tmp_path: Path, slug: str, to: str
) -> subprocess.CompletedProcess[str]:
    code = "import sys; from stopline.cli.main import main; sys.argv[0] = 'stopline'; main()"
    env = {
        **os.environ,
        "STOPLINE_DATABASE_URL": database_url,
        "STOPLINE_DATA_DIR": str(tmp_path / "cli"),
        "STOPLINE_SECRET_KEY": SECRET,
    }
    return subprocess.run(
        [sys.executable, "-c", code, "send", "--to", to, "--body", "Hi", "-w", slug, "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.slow
def test_every_path_refuses_an_opted_out_number_with_opted_out(  # type: ignore[no-untyped-def]
    live, database_url, tmp_path, engine, created, ws, channel
) -> None:
    stopped = number()
    stop_reply(engine, ws, stopped)
    api = httpx.Client(base_url=live, headers={"Authorization": f"Bearer {created.api_key}"})
    results: dict[str, Any] = {}

    # JSON API, and an automation tagging its sends with a source.
    r = api.post("/api/v1/messages", json={"to": stopped, "body": "Hi"})
    results["api"] = (r.status_code, r.json()["error"]["code"])
    r = api.post("/api/v1/messages", json={"to": stopped, "body": "Hi", "source": "zapier"})
    results["automation"] = (r.status_code, r.json()["error"]["code"])
    # A scheduled send.
    later = (now_utc() + timedelta(hours=1)).isoformat()
    r = api.post("/api/v1/messages", json={"to": stopped, "body": "Hi", "scheduled_at": later})
    results["scheduled"] = (r.status_code, r.json()["error"]["code"])
    # The Twilio-compatible API through the official package.
    client = Client(ws.account_sid, created.auth_token, region=None)
    client.api.base_url = live
    try:
        client.messages.create(to=stopped, from_=channel.address, body="Hi")
    except TwilioRestException as exc:
        results["twilio"] = (exc.status, exc.code)
    # The CLI.
    done = cli_send(database_url, tmp_path, ws.slug, stopped)
    import json

    results["cli"] = (done.returncode, json.loads(done.stdout)["refusal_code"])
    # An inbox reply.
    with write(engine) as conn:
        conversation_id = conversation_store.ensure_conversation(conn, ws.id, channel.id, stopped)
        reply = inbox.reply(conn, owner(ws), conversation_id, "Hi")
    results["inbox"] = (reply.status, reply.refusal_code)
    # A campaign to a list the number is on.
    clear = number()
    with write(engine) as conn:
        made = campaigns.create_list(conn, owner(ws), "Promos")
        campaigns.add_members(conn, owner(ws), made.id, [stopped, clear])
    campaign = api.post(
        "/api/v1/campaigns", json={"name": "Promo", "body": "Sale", "list_ids": [made.id]}
    ).json()
    deadline = time.monotonic() + 30
    while api.get(f"/api/v1/campaigns/{campaign['id']}").json()["status"] != "done":
        assert time.monotonic() < deadline, "the in-process worker did not run the campaign"
        time.sleep(0.05)
    listed = api.get("/api/v1/messages", params={"campaign_id": campaign["id"]}).json()
    by_to = {m["to"]: m for m in listed["messages"]}
    results["campaign"] = (by_to[stopped]["status"], by_to[stopped]["refusal_code"])
    assert by_to[clear]["status"] == "sent"

    assert results == {
        "api": (422, "opted_out"),
        "automation": (422, "opted_out"),
        "scheduled": (422, "opted_out"),
        "twilio": (400, 21610),
        "cli": (1, "opted_out"),
        "inbox": ("failed", "opted_out"),
        "campaign": ("failed", "opted_out"),
    }
    assert deliveries(engine, ws.id, stopped) == []
    api.close()


@pytest.mark.slow
def test_a_stop_after_queueing_or_scheduling_means_the_message_never_goes(  # type: ignore[no-untyped-def]
    live, engine, created, ws, channel
) -> None:
    api = httpx.Client(base_url=live, headers={"Authorization": f"Bearer {created.api_key}"})
    soon, later = number(), number()
    at = (now_utc() + timedelta(hours=1)).isoformat()
    scheduled = api.post("/api/v1/messages", json={"to": later, "body": "x", "scheduled_at": at})
    assert scheduled.json()["status"] == "scheduled"
    stop_reply(engine, ws, later)
    assert status_of(engine, ws.id, scheduled.json()["id"]) == ("canceled", "opted_out")
    # A queued message the worker has already sent stays sent; the next one is refused.
    first = api.post("/api/v1/messages", json={"to": soon, "body": "first"}).json()
    wait_for(engine, ws.id, first["id"], "sent")
    stop_reply(engine, ws, soon)
    second = api.post("/api/v1/messages", json={"to": soon, "body": "second"})
    assert second.status_code == 422
    assert [d.body.split("\n")[0] for d in deliveries(engine, ws.id, soon)] == ["first"]
    assert deliveries(engine, ws.id, later) == []
    api.close()
