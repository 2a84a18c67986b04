"""Send-time rules over HTTP: the consent API explains, the JSON and Twilio-compatible APIs
answer a held message with `scheduled`."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
import sqlalchemy as sa

from stopline.security import Keyring
from stopline.services import workspaces
from stopline.store.db import write
from tests.outbound import add_channel, owner
from tests.web import test_messages_api
from tests.web.outbound_server import serve

api = test_messages_api.api  # the JSON API client fixture


def closed_today(engine: sa.Engine, ws: workspaces.Workspace) -> None:
    """Marketing only on a weekday that is not today in New York: held whatever the hour."""
    today = datetime.now(UTC).astimezone(ZoneInfo("America/New_York"))
    other = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[(today.weekday() + 3) % 7]
    with write(engine) as conn:
        workspaces.update_settings(
            conn, owner(ws), {"send_windows": {"marketing": {other: ["9:00", "17:00"]}}}
        )


def test_the_consent_api_explains_a_deferral_with_the_recipients_offset(api) -> None:  # type: ignore[no-untyped-def]
    answer = api.get(
        "/api/v1/consent/+13055550188",
        params={"category": "marketing", "at": "2026-12-05T02:30:00Z"},
    ).json()
    assert answer["verdict"] == "deferred" and answer["allowed"] is False
    assert answer["until"] == "2026-12-05T08:00:00-05:00"
    assert answer["location"]["found_by"] == "area code 305"
    noon = api.get(
        "/api/v1/consent/+13055550188",
        params={"category": "marketing", "at": "2026-12-05T17:00:00Z"},
    ).json()
    assert noon["verdict"] == "allowed" and noon["allowed"] is True
    assert api.get("/api/v1/consent/+13055550188", params={"category": "spam"}).status_code in (
        400,
        422,
    )


def test_the_json_api_queues_a_held_marketing_text_as_scheduled(api, engine, ws, keyring) -> None:  # type: ignore[no-untyped-def]
    add_channel(engine, ws, keyring)
    closed_today(engine, ws)
    held = api.post(
        "/api/v1/messages",
        json={"to": "+13055550189", "body": "Sale", "category": "marketing"},
    )
    assert held.status_code == 201, held.text
    data = held.json()
    assert (data["status"], data["category"], data["hold_reason"]) == (
        "scheduled",
        "marketing",
        "quiet_hours",
    )
    assert datetime.fromisoformat(data["available_at"]) > datetime.now(UTC) + timedelta(hours=1)
    notice = api.post("/api/v1/messages", json={"to": "+13055550190", "body": "Your order"})
    assert notice.json()["status"] == "queued" and notice.json()["category"] == "informational"


@pytest.fixture(scope="module")
def base_url(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with serve(database_url, tmp_path_factory.mktemp("data")) as url:
        yield url


def test_the_twilio_api_answers_a_held_message_with_scheduled(  # type: ignore[no-untyped-def]
    base_url, created, engine, ws, keyring: Keyring
) -> None:
    channel = add_channel(engine, ws, keyring)
    closed_today(engine, ws)
    url = f"{base_url}/2010-04-01/Accounts/{created.workspace.account_sid}/Messages.json"
    auth = (created.workspace.account_sid, created.auth_token)
    sent = httpx.post(
        url,
        data={
            "To": "+13055550191",
            "From": channel.address,
            "Body": "Sale",
            "Category": "marketing",
        },
        auth=auth,
    )
    assert sent.status_code == 201 and sent.json()["status"] == "scheduled"
    bad = httpx.post(
        url,
        data={"To": "+13055550192", "From": channel.address, "Body": "x", "Category": "ads"},
        auth=auth,
    )
    assert bad.status_code == 400 and bad.json()["code"] == 60200
