"""Every provider's webhook endpoint: verified with the channel's secret before anything is stored."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from litestar.testing import TestClient

from stopline.web.app import create_app
from stopline.web.webhooks.base import CHANNELS
from tests.inbound_kit import (
    PROVIDERS,
    ProviderKit,
    add_kit_channel,
    events_of,
    make_runtime,
    message_count,
    number,
    opt_out_rows,
    outbound_to,
    provider_message_id,
)

pytest.importorskip("stopline.domain.keywords", reason="the keyword classifier has not landed")

BASE = "http://testserver.local"


@pytest.fixture
def client(engine, tmp_path) -> Iterator[TestClient]:
    CHANNELS.forget()
    with TestClient(create_app(make_runtime(engine, tmp_path)), base_url=BASE) as c:
        yield c


@pytest.fixture(params=PROVIDERS)
def kit(request, engine, ws, keyring) -> ProviderKit:
    return add_kit_channel(engine, ws, keyring, request.param)


def post(client: TestClient, req) -> object:
    return client.post(req.path, content=req.body, headers=req.headers)


def test_a_signed_stop_is_processed_and_answered(client, engine, ws, kit):
    sender = number()
    response = post(client, kit.inbound(BASE, sender, "STOP please"))
    assert response.status_code == 200
    if kit.inline_replies:
        assert response.headers["content-type"].startswith("application/xml")
        assert "<Message>" in response.text and "no more messages" in response.text
    else:
        assert response.json()["received"][0]["action"] == "opt_out"
    assert opt_out_rows(engine, ws.id, sender)[0].method == "reply"
    assert len(outbound_to(engine, ws.id, sender, kind="confirmation")) == 1


def test_a_forged_signature_gets_403_and_stores_nothing(client, engine, ws, kit):
    sender = number()
    before = message_count(engine, ws.id)
    response = post(client, kit.forged(kit.inbound(BASE, sender, "STOP")))
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "webhook_signature_invalid"
    assert message_count(engine, ws.id) == before
    assert events_of(engine, ws.id, sender) == []


def test_an_unsigned_request_gets_403(client, engine, ws, kit):
    req = kit.inbound(BASE, number(), "STOP")
    response = client.post(req.path, content=req.body, headers={"content-type": "text/plain"})
    assert response.status_code == 403


def test_a_tampered_body_gets_403(client, engine, ws, kit):
    sender = number()
    req = kit.inbound(BASE, sender, "hello")
    response = client.post(
        req.path, content=req.body.replace(b"hello", b"STOP!"), headers=req.headers
    )
    assert response.status_code == 403
    assert events_of(engine, ws.id, sender) == []


def test_a_stale_timestamp_gets_403(client, engine, ws, kit):
    if kit.provider == "twilio":
        pytest.skip("Twilio's signature carries no timestamp; replays are caught by MessageSid")
    before = message_count(engine, ws.id)
    response = post(client, kit.inbound(BASE, number(), "STOP", now=time.time() - 3600))
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "webhook_stale"
    assert message_count(engine, ws.id) == before


def test_a_signed_but_unreadable_body_gets_400(client, engine, ws, kit):
    before = message_count(engine, ws.id)
    if kit.provider == "twilio":
        req = kit.twilio_signed(BASE, kit.path("inbound"), {"Body": "STOP"})  # no From/MessageSid
    elif kit.provider == "telnyx":
        req = kit.telnyx_signed(kit.path("inbound"), {"data": "nope"}, time.time())
    elif kit.provider == "vonage":
        req = kit.vonage_signed(kit.path("inbound"), {"text": "STOP"}, time.time())
    else:
        req = kit.generic_signed(kit.path("inbound"), {"text": "STOP"}, time.time())
    response = post(client, req)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "webhook_malformed"
    assert message_count(engine, ws.id) == before


def test_an_unknown_channel_gets_404(client, kit):
    req = kit.inbound(BASE, number(), "STOP")
    response = client.post(
        f"/webhooks/{kit.provider}/999999999/inbound", content=req.body, headers=req.headers
    )
    assert response.status_code == 404


def test_a_channel_of_another_provider_gets_404(client, engine, ws, keyring, kit):
    other = "telnyx" if kit.provider != "telnyx" else "twilio"
    req = kit.inbound(BASE, number(), "STOP")
    response = client.post(
        f"/webhooks/{other}/{kit.channel.id}/inbound", content=req.body, headers=req.headers
    )
    assert response.status_code == 404


def test_a_replayed_webhook_answers_without_a_second_confirmation(client, engine, ws, kit):
    sender = number()
    req = kit.inbound(BASE, sender, "STOP")
    first, second = post(client, req), post(client, req)
    assert first.status_code == second.status_code == 200
    if kit.inline_replies:
        assert "<Message>" in first.text and "<Message>" not in second.text
    else:
        assert second.json()["received"][0]["action"] == "replay"
    assert len(events_of(engine, ws.id, sender)) == 1
    assert len(outbound_to(engine, ws.id, sender, kind="confirmation")) == 1


def test_a_status_callback_reporting_an_opt_out_records_a_carrier_opt_out(client, engine, ws, kit):
    import sqlalchemy as sa

    from stopline.services import messages as messages_service
    from stopline.services import queueing
    from stopline.store.db import write
    from stopline.store.tables import messages

    to, pm = number(), provider_message_id(kit.provider)
    with write(engine) as conn:
        queued = queueing.enqueue(conn, ws.id, channel_id=kit.channel.id, to=to, body="Deal!")
        conn.execute(
            sa.update(messages)
            .where(messages.c.id == queued.id)
            .values(status="sent", provider_message_id=pm)
        )
    status, code = {
        "twilio": ("undelivered", "21610"),
        "telnyx": ("delivery_failed", "40300"),
        "vonage": ("rejected", "1250"),
        "generic": ("failed", "recipient_opted_out"),
    }[kit.provider]
    response = post(client, kit.status(BASE, pm, status, to=to, error_code=code))
    assert response.status_code in (200, 204)
    [row] = opt_out_rows(engine, ws.id, to)
    assert row.method == "carrier"
    with write(engine) as conn:
        assert messages_service.get_message(conn, ws.id, queued.id).status == "failed"


def test_a_delivered_status_moves_the_message_forward(client, engine, ws, kit):
    import sqlalchemy as sa

    from stopline.services import messages as messages_service
    from stopline.services import queueing
    from stopline.store.db import read, write
    from stopline.store.tables import messages

    to, pm = number(), provider_message_id(kit.provider)
    with write(engine) as conn:
        queued = queueing.enqueue(conn, ws.id, channel_id=kit.channel.id, to=to, body="Hi")
        conn.execute(
            sa.update(messages)
            .where(messages.c.id == queued.id)
            .values(status="sent", provider_message_id=pm)
        )
    response = post(client, kit.status(BASE, pm, "delivered", to=to))
    assert response.status_code in (200, 204)
    with read(engine) as conn:
        assert messages_service.get_message(conn, ws.id, queued.id).status == "delivered"


@pytest.mark.parametrize("provider", ["telnyx", "vonage", "generic"])
def test_any_signed_body_is_answered_200_or_400_never_500(client, engine, ws, keyring, provider):
    """A body the provider signed but we cannot read is refused cleanly; nothing crashes."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    kit = add_kit_channel(engine, ws, keyring, provider)
    json_values = st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=20),
        lambda inner: (
            st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
        ),
        max_leaves=10,
    )
    shaped = st.fixed_dictionaries(
        {"id": st.text(max_size=10), "from": st.text(max_size=16), "to": st.text(max_size=16)},
        optional={
            "text": json_values,
            "status": json_values,
            "message_uuid": json_values,
            "data": json_values,
        },
    )

    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
    @given(
        st.one_of(
            st.binary(max_size=200), shaped.map(lambda d: __import__("json").dumps(d).encode())
        )
    )
    def check(body: bytes) -> None:
        now = time.time()
        if provider == "telnyx":
            req = kit.telnyx_signed(kit.path("inbound"), {}, now)
            sig = kit.private_key.sign(req.headers["telnyx-timestamp"].encode() + b"|" + body)
            import base64

            headers = {**req.headers, "telnyx-signature-ed25519": base64.b64encode(sig).decode()}
        elif provider == "vonage":
            import hashlib
            import uuid

            import jwt

            token = jwt.encode(
                {
                    "iat": int(now),
                    "jti": str(uuid.uuid4()),
                    "iss": "Vonage",
                    "payload_hash": hashlib.sha256(body).hexdigest(),
                },
                kit.credentials["signature_secret"],
                algorithm="HS256",
            )
            headers = {"authorization": f"Bearer {token}", "content-type": "application/json"}
        else:
            import hashlib
            import hmac

            t = int(now)
            mac = hmac.new(
                kit.credentials["secret"].encode(), f"{t}.".encode() + body, hashlib.sha256
            ).hexdigest()
            headers = {
                "x-stopline-signature": f"t={t},v1={mac}",
                "content-type": "application/json",
            }
        response = client.post(kit.path("inbound"), content=body, headers=headers)
        assert response.status_code in (200, 400, 403), (response.status_code, response.text)
        if response.status_code == 403:  # genuine, but to a number that is not the workspace's
            assert response.json()["error"]["code"] == "webhook_wrong_recipient"

    check()
