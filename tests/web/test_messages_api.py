"""JSON API v1 for messages and campaigns: send, refusals with their reason, read, cancel, OpenAPI."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from litestar.testing import TestClient

from stopline.config import Config
from stopline.runtime import Runtime
from stopline.security import Keyring
from stopline.services import jobs, queueing, workspaces
from stopline.web.app import create_app
from tests.outbound import add_channel, block, number, opt_out, owner
from tests.web.outbound_server import SECRET


@pytest.fixture
def api(
    engine: sa.Engine, created: workspaces.CreatedWorkspace, tmp_path: Path
) -> Iterator[TestClient]:
    runtime = Runtime(
        Config(str(engine.url.render_as_string(hide_password=False)), tmp_path, SECRET, None)
    )
    runtime.__dict__["engine"] = engine  # share the session's engine (cached_property slot)
    with TestClient(create_app(runtime)) as client:
        client.headers["Authorization"] = f"Bearer {created.api_key}"
        yield client


@pytest.fixture
def channel(engine: sa.Engine, ws: workspaces.Workspace, keyring: Keyring) -> workspaces.Channel:
    return add_channel(engine, ws, keyring)


def test_send_answers_201_with_the_queued_message(api, channel) -> None:  # type: ignore[no-untyped-def]
    to = number()
    response = api.post("/api/v1/messages", json={"to": to, "body": "Hello"})
    assert response.status_code == 201, response.text
    data = response.json()
    assert (data["status"], data["to"], data["from"], data["source"]) == (
        "queued",
        to,
        channel.address,
        "api",
    )
    assert data["sid"].startswith("SM") and data["sent_by"].startswith("api_key:")


def test_an_automation_send_to_an_opted_out_number_is_refused_with_opted_out(  # type: ignore[no-untyped-def]
    api, channel, engine, ws
) -> None:
    to = number()
    opt_out(engine, ws, to)
    response = api.post(
        "/api/v1/messages", json={"to": to, "body": "Order #12 shipped", "source": "zapier:orders"}
    )
    assert response.status_code == 422
    body = response.json()
    assert body["error"]["code"] == "opted_out"
    assert (body["message"]["status"], body["message"]["source"]) == ("failed", "zapier:orders")


def test_blocked_and_invalid_numbers_are_refused_with_their_reason(
    api, channel, engine, ws
) -> None:  # type: ignore[no-untyped-def]
    blocked = number()
    block(engine, ws, blocked)
    assert (
        api.post("/api/v1/messages", json={"to": blocked, "body": "x"}).json()["error"]["code"]
        == "blocked"
    )
    invalid = api.post("/api/v1/messages", json={"to": "not a number", "body": "x"})
    assert invalid.status_code == 422 and invalid.json()["error"]["code"] == "invalid_number"


def test_malformed_input_is_a_clear_error(api, channel) -> None:  # type: ignore[no-untyped-def]
    empty = api.post("/api/v1/messages", json={"to": number(), "body": " "})
    assert empty.status_code == 422 and empty.json()["error"]["code"] == "body_required"
    missing = api.post("/api/v1/messages", json={"body": "hi"})
    assert missing.status_code == 400


def test_an_idempotency_key_header_makes_a_retry_return_the_same_message(api, channel) -> None:  # type: ignore[no-untyped-def]
    payload = {"to": number(), "body": "Once"}
    first = api.post("/api/v1/messages", json=payload, headers={"Idempotency-Key": "abc-1"})
    again = api.post("/api/v1/messages", json=payload, headers={"Idempotency-Key": "abc-1"})
    assert first.json()["sid"] == again.json()["sid"]


def test_a_scheduled_send_is_scheduled_and_can_be_cancelled(api, channel) -> None:  # type: ignore[no-untyped-def]
    created = api.post(
        "/api/v1/messages",
        json={"to": number(), "body": "Later", "scheduled_at": "2099-05-01T09:00:00+00:00"},
    ).json()
    assert created["status"] == "scheduled" and created["scheduled_at"].startswith("2099-05-01T09")
    canceled = api.post(f"/api/v1/messages/{created['sid']}/cancel")
    assert canceled.status_code == 200 and canceled.json()["status"] == "canceled"
    again = api.post(f"/api/v1/messages/{created['sid']}/cancel")
    assert again.status_code == 409


def test_messages_are_listed_newest_first_and_fetched_by_sid(api, channel) -> None:  # type: ignore[no-untyped-def]
    to = number()
    sids = [
        api.post("/api/v1/messages", json={"to": to, "body": f"m{i}"}).json()["sid"]
        for i in range(3)
    ]
    listed = api.get("/api/v1/messages", params={"to": to, "limit": 2}).json()
    assert [m["sid"] for m in listed["messages"]] == [sids[2], sids[1]]
    rest = api.get(
        "/api/v1/messages", params={"to": to, "limit": 2, "before": listed["next_before"]}
    )
    assert [m["sid"] for m in rest.json()["messages"]] == [sids[0]]
    assert api.get(f"/api/v1/messages/{sids[0]}").json()["body"] == "m0"
    assert api.get("/api/v1/messages/SM" + "0" * 32).status_code == 404


def test_another_workspaces_message_is_not_found(api, channel, engine) -> None:  # type: ignore[no-untyped-def]
    from stopline.store.db import write

    with write(engine) as conn:
        other = workspaces.create_workspace(
            conn, name="Else", owner_email="else@example.com", owner_password="long password"
        )
    other_channel = add_channel(engine, other.workspace, Keyring(SECRET))
    with write(engine) as conn:
        theirs = queueing.enqueue(
            conn, other.workspace.id, channel_id=other_channel.id, to=number(), body="private"
        )
    assert api.get(f"/api/v1/messages/{theirs.sid}").status_code == 404


def test_an_api_key_is_required(api, channel) -> None:  # type: ignore[no-untyped-def]
    response = api.post(
        "/api/v1/messages", json={"to": number(), "body": "x"}, headers={"Authorization": ""}
    )
    assert response.status_code == 401


def test_a_campaign_is_created_previewed_and_reported(api, channel, engine, ws) -> None:  # type: ignore[no-untyped-def]
    from stopline.services import campaigns
    from stopline.store.db import write

    ok, opted = number(), number()
    with write(engine) as conn:
        made = campaigns.create_list(conn, owner(ws), f"VIP {number()}")
        campaigns.add_members(conn, owner(ws), made.id, [ok, opted])
    opt_out(engine, ws, opted)
    preview = api.post("/api/v1/campaigns/preview", json={"list_ids": [made.id]})
    counted = preview.json()
    assert counted.pop("send_time")["capped"] == 0
    assert counted == {"allowed": 1, "opted_out": 1}
    created = api.post(
        "/api/v1/campaigns", json={"name": "VIP night", "body": "Doors at 8", "list_ids": [made.id]}
    )
    assert created.status_code == 201 and created.json()["status"] == "queued"
    while jobs.run_next(engine, "api-test", ["campaign"]) is not None:
        pass
    shown = api.get(f"/api/v1/campaigns/{created.json()['id']}").json()
    assert shown["status"] == "sending"
    assert shown["counts"]["by_status"] == {"queued": 1, "failed": 1}
    assert shown["counts"]["by_refusal"] == {"opted_out": 1}
    refused = api.get("/api/v1/messages", params={"campaign_id": shown["id"], "status": "failed"})
    assert [m["to"] for m in refused.json()["messages"]] == [opted]
    assert any(c["id"] == shown["id"] for c in api.get("/api/v1/campaigns").json()["campaigns"])


def test_the_openapi_document_describes_sending(api) -> None:  # type: ignore[no-untyped-def]
    paths = api.get("/api/docs/openapi.json").json()["paths"]
    assert "post" in paths["/api/v1/messages"]
    assert "post" in paths["/api/v1/campaigns"]
    assert "/2010-04-01/Accounts/{account_sid}/Messages.json" in paths


def test_a_send_through_the_list_the_recipient_kept_passes_their_opt_out_and_no_other_does(  # type: ignore[no-untyped-def]
    api, channel, engine, ws
) -> None:
    import uuid

    from stopline.providers.base import InboundMessage
    from stopline.services import inbound
    from stopline.services import lists as lists_service
    from stopline.store.db import read, write

    to = number()
    with write(engine) as conn:
        alerts = lists_service.create_list(
            conn, owner(ws), name="Appointment alerts", keywords={"opt_in": ["ALERTS"]}
        ).id
        lists_service.add_members(conn, owner(ws), alerts, [to])
        workspaces.update_settings(conn, owner(ws), {"keep_offer_lists": [alerts]})
    with read(engine) as conn:
        receiving = inbound.channel_for(conn, channel.id)[0]
    for text in ("STOP", "ALERTS"):
        message = InboundMessage(
            provider="console",
            provider_message_id=uuid.uuid4().hex,
            from_number=to,
            to_address=channel.address,
            body=text,
        )
        inbound.process_inbound(engine, receiving, message)
    kept = api.post("/api/v1/messages", json={"to": to, "body": "See you at 3", "list_id": alerts})
    assert kept.status_code == 201, kept.text
    assert kept.json()["status"] in ("queued", "scheduled")
    other = api.post("/api/v1/messages", json={"to": to, "body": "20% off today"})
    assert (other.status_code, other.json()["error"]["code"]) == (422, "opted_out")
    view = api.get(f"/api/v1/opt-outs/{to}").json()
    assert [k["list_id"] for k in view["opt_outs"][0]["kept_lists"]] == [alerts]
