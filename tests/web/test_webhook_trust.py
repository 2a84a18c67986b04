"""Issue 11, holes 4 and 5: a genuine signature is not enough. A captured Twilio webhook re-cut
at a field boundary is refused, and a webhook signed with a provider key that two workspaces
share cannot change the workspace whose URL it was posted to unless it is addressed there."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from urllib.parse import parse_qsl, urlencode

import pytest
import sqlalchemy as sa
from litestar.testing import TestClient

from stopline.services import messages as messages_service
from stopline.services import queueing, workspaces
from stopline.store.db import read, write
from stopline.store.tables import messages
from stopline.web.app import create_app
from stopline.web.webhooks.base import CHANNELS
from tests.inbound_kit import (
    ProviderKit,
    SignedRequest,
    add_kit_channel,
    events_of,
    make_runtime,
    message_count,
    number,
    opt_out_rows,
    provider_message_id,
)

BASE = "http://testserver.local"


@pytest.fixture
def client(engine, tmp_path) -> Iterator[TestClient]:
    CHANNELS.forget()
    with TestClient(create_app(make_runtime(engine, tmp_path)), base_url=BASE) as c:
        yield c


def post(client: TestClient, req: SignedRequest):
    return client.post(req.path, content=req.body, headers=req.headers)


def other_workspace(engine) -> workspaces.Workspace:
    with write(engine) as conn:
        return workspaces.create_workspace(
            conn,
            name=f"Other {uuid.uuid4().hex[:6]}",
            owner_email=f"owner-{uuid.uuid4().hex[:8]}@example.com",
            owner_password="correct horse battery",
        ).workspace


def opted_out(engine, ws_id: int, sender: str) -> bool:
    return bool(opt_out_rows(engine, ws_id, sender))


# --- hole 4: re-partitioned Twilio replays ------------------------------------------------------


def recut(req: SignedRequest) -> SignedRequest:
    """The captured request with MessageSid swallowing the fields that sort after it: Twilio's
    signature (names and values run together, in name order) is still valid for it."""
    params = dict(parse_qsl(req.body.decode(), keep_blank_values=True))
    names = sorted(params)
    swallowed = names[names.index("MessageSid") + 1 :][:2]
    moved = {k: v for k, v in params.items() if k not in swallowed}
    moved["MessageSid"] = params["MessageSid"] + "".join(k + params[k] for k in swallowed)
    return SignedRequest(req.path, req.headers, urlencode(moved).encode())


def test_a_captured_start_recut_after_a_stop_does_not_resubscribe(client, engine, ws, keyring):
    kit = add_kit_channel(engine, ws, keyring, "twilio")
    sender = number()
    captured_start = kit.inbound(BASE, sender, "START")
    assert post(client, captured_start).status_code == 200
    assert post(client, kit.inbound(BASE, sender, "STOP")).status_code == 200
    assert opted_out(engine, ws.id, sender)
    before = message_count(engine, ws.id)

    # The plain replay is a duplicate; the re-cut one would escape de-duplication.
    assert post(client, captured_start).status_code == 200
    replay = post(client, recut(captured_start))

    assert replay.status_code == 400
    assert replay.json()["error"]["code"] == "webhook_malformed"
    assert opted_out(engine, ws.id, sender)
    assert message_count(engine, ws.id) == before
    assert [e.action for e in events_of(engine, ws.id, sender)][-1] == "opt_out"


def test_a_twilio_webhook_of_another_account_is_refused(client, engine, ws, keyring):
    kit = add_kit_channel(engine, ws, keyring, "twilio")
    sender = number()
    req = kit.inbound(BASE, sender, "STOP", extra={"AccountSid": "AC" + uuid.uuid4().hex})
    response = post(client, req)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "webhook_wrong_recipient"
    assert events_of(engine, ws.id, sender) == []


# --- hole 5: shared provider keys ---------------------------------------------------------------


def shared_kits(engine, ws, keyring, provider: str) -> tuple[ProviderKit, ProviderKit, int]:
    """A channel in `ws` and one in a second workspace, both with the same provider secrets."""
    mine = add_kit_channel(engine, ws, keyring, provider)
    other_ws = other_workspace(engine)
    theirs = ProviderKit(provider, dict(mine.credentials), private_key=mine.private_key)
    with write(engine) as conn:
        theirs.channel = workspaces.add_channel(
            conn,
            other_ws.id,
            keyring,
            address=number(),
            provider=provider,
            credentials=theirs.credentials,
        )
    return mine, theirs, other_ws.id


@pytest.mark.parametrize("provider", ["telnyx", "generic", "vonage", "twilio"])
def test_a_start_for_one_workspace_posted_to_anothers_url_changes_nothing(
    client, engine, ws, keyring, provider
):
    mine, theirs, other_ws_id = shared_kits(engine, ws, keyring, provider)
    sender = number()
    assert post(client, mine.inbound(BASE, sender, "STOP")).status_code == 200
    assert opted_out(engine, ws.id, sender)
    before = (message_count(engine, ws.id), message_count(engine, other_ws_id))

    # Signed with the shared key, addressed to the other workspace's number, posted to ours.
    start = theirs.inbound(BASE, sender, "START")
    start = SignedRequest(mine.path("inbound"), start.headers, start.body)
    if provider == "twilio":  # Twilio signs the URL: sign the same payload for our URL
        params = dict(parse_qsl(theirs.inbound(BASE, sender, "START").body.decode()))
        start = mine.twilio_signed(BASE, mine.path("inbound"), params)
    response = post(client, start)

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "webhook_wrong_recipient"
    assert opted_out(engine, ws.id, sender)
    assert (message_count(engine, ws.id), message_count(engine, other_ws_id)) == before
    assert events_of(engine, other_ws_id, sender) == []


@pytest.mark.parametrize("provider", ["telnyx", "generic"])
def test_the_same_start_posted_to_its_own_workspace_is_honoured(
    client, engine, ws, keyring, provider
):
    mine, theirs, other_ws_id = shared_kits(engine, ws, keyring, provider)
    sender = number()
    assert post(client, theirs.inbound(BASE, sender, "STOP")).status_code == 200
    assert post(client, theirs.inbound(BASE, sender, "START")).status_code == 200
    assert not opted_out(engine, other_ws_id, sender)
    assert [e.action for e in events_of(engine, other_ws_id, sender)] == ["opt_out", "opt_in"]


def test_a_message_to_another_channel_of_the_workspace_is_filed_under_it(
    client, engine, ws, keyring
):
    first = add_kit_channel(engine, ws, keyring, "generic")
    with write(engine) as conn:
        second = workspaces.add_channel(
            conn, ws.id, keyring, address=number(), provider="generic", credentials={}
        )
    sender = number()
    req = first.generic_signed(
        first.path("inbound"),
        {"id": provider_message_id("generic"), "from": sender, "to": second.address, "text": "hi"},
        __import__("time").time(),
    )
    assert post(client, req).status_code == 200
    with read(engine) as conn:
        row = conn.execute(
            sa.select(messages.c.channel_id).where(
                messages.c.workspace_id == ws.id, messages.c.from_address == sender
            )
        ).one()
    assert row.channel_id == second.id


def test_a_number_of_the_channels_messaging_service_is_its_own(client, engine, ws, keyring):
    service = "MG" + uuid.uuid4().hex
    kit = add_kit_channel(engine, ws, keyring, "twilio", address=service)
    sender = number()
    unregistered_number = number()
    params = dict(parse_qsl(kit.inbound(BASE, sender, "STOP").body.decode()))
    params.update({"To": unregistered_number, "MessagingServiceSid": service})
    assert post(client, kit.twilio_signed(BASE, kit.path("inbound"), params)).status_code == 200
    assert opted_out(engine, ws.id, sender)

    params.update({"MessageSid": "SM" + uuid.uuid4().hex, "MessagingServiceSid": "MG" + "0" * 32})
    params.pop("SmsSid"), params.pop("SmsMessageSid")
    refused = post(client, kit.twilio_signed(BASE, kit.path("inbound"), params))
    assert refused.status_code == 403


@pytest.mark.parametrize("provider", ["telnyx", "generic"])
def test_a_status_for_one_workspaces_message_changes_nothing_in_another(
    client, engine, ws, keyring, provider
):
    mine, theirs, other_ws_id = shared_kits(engine, ws, keyring, provider)
    to, pm = number(), provider_message_id(provider)
    with write(engine) as conn:
        queued = queueing.enqueue(conn, other_ws_id, channel_id=theirs.channel.id, to=to, body="Hi")
        conn.execute(
            sa.update(messages)
            .where(messages.c.id == queued.id)
            .values(status="sent", provider_message_id=pm)
        )
    code = "40300" if provider == "telnyx" else "recipient_opted_out"
    status = "delivery_failed" if provider == "telnyx" else "failed"
    response = post(client, mine.status(BASE, pm, status, to=to, error_code=code))
    assert response.status_code in (200, 204)
    with read(engine) as conn:
        assert messages_service.get_message(conn, other_ws_id, queued.id).status == "sent"
    assert opt_out_rows(engine, other_ws_id, to) == []
    assert opt_out_rows(engine, ws.id, to) == []


def test_a_group_message_with_the_channel_among_its_recipients_is_accepted(
    client, engine, ws, keyring
):
    import json
    import time

    kit = add_kit_channel(engine, ws, keyring, "telnyx")
    sender = number()
    payload = json.loads(kit.inbound(BASE, sender, "STOP").body)
    ours = payload["data"]["payload"]["to"][0]
    stranger = {**ours, "phone_number": number()}
    payload["data"]["payload"]["to"] = [stranger, ours]
    assert (
        post(client, kit.telnyx_signed(kit.path("inbound"), payload, time.time())).status_code
        == 200
    )
    assert opted_out(engine, ws.id, sender)

    payload["data"]["payload"]["to"] = [stranger]
    payload["data"]["payload"]["id"] = provider_message_id("telnyx")
    payload["data"]["id"] = provider_message_id("telnyx")
    refused = post(client, kit.telnyx_signed(kit.path("inbound"), payload, time.time()))
    assert refused.status_code == 403
