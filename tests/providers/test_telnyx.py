"""The Telnyx adapter: Ed25519 webhook signatures, message events, and sending."""

from __future__ import annotations

import base64
import copy
import json
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import given, settings
from hypothesis import strategies as st

from stopline.providers.base import (
    InboundMessage,
    ProviderError,
    SendRequest,
    StatusUpdate,
    WebhookRejected,
)
from stopline.providers.telnyx import PROVIDER
from tests.providers.fake_servers import FakeProviderServer
from tests.providers.strategies import JSON

SIGNING_KEY = Ed25519PrivateKey.generate()
PUBLIC_KEY = base64.b64encode(
    SIGNING_KEY.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
).decode()
CREDS = {"api_key": "KEY0123", "public_key": PUBLIC_KEY, "messaging_profile_id": "mp-1"}
URL = "https://stopline.example.com/webhooks/telnyx"
NOW = 1_700_000_000

# Telnyx's documented message.received example (API reference, "inboundMessage" callback).
RECEIVED = {
    "data": {
        "record_type": "event",
        "id": "bf6307bd-884d-4c1f-b6ea-c62b8c495d3c",
        "event_type": "message.received",
        "occurred_at": "2019-01-23T18:10:02.574Z",
        "payload": {
            "record_type": "message",
            "direction": "inbound",
            "id": "7ee4241c-f127-47e5-9c34-3aac291f8058",
            "type": "SMS",
            "messaging_profile_id": "0f512bda-ae1e-4597-8e11-e5f5686b97d3",
            "organization_id": "b448f9cc-a842-4784-98e9-03c1a5872950",
            "from": {
                "phone_number": "+18665550001",
                "carrier": "T-MOBILE USA, INC.",
                "line_type": "Wireless",
            },
            "to": [
                {
                    "phone_number": "+18445550001",
                    "status": "delivered",
                    "carrier": "TELNYX LLC",
                    "line_type": "VoIP",
                }
            ],
            "cc": [],
            "text": "Hello, World!",
            "media": [],
            "webhook_url": "https://www.example.com/hooks",
            "encoding": "GSM-7",
            "parts": 1,
            "received_at": "2019-01-23T18:10:02.574Z",
            "errors": [],
        },
    },
    "meta": {"attempt": 1, "delivered_to": "https://www.example.com/hooks"},
}

# Telnyx's documented message.sent example ("deliveryUpdate" callback), trimmed.
SENT = {
    "data": {
        "record_type": "event",
        "id": "86f58db9-0fe3-4adc-9d1f-46e66e6e9323",
        "event_type": "message.sent",
        "occurred_at": "2019-01-23T18:10:02.574Z",
        "payload": {
            "record_type": "message",
            "direction": "outbound",
            "id": "40385f64-5717-4562-b3fc-2c963f66afa6",
            "type": "MMS",
            "from": {"phone_number": "+18445550001", "carrier": "TELNYX LLC", "line_type": "VoIP"},
            "to": [
                {
                    "phone_number": "+18665550001",
                    "status": "queued",
                    "carrier": "T-MOBILE USA, INC.",
                    "line_type": "Wireless",
                }
            ],
            "text": "Hello, World!",
            "errors": [],
        },
    },
    "meta": {"attempt": 1, "delivered_to": "https://www.example.com/hooks"},
}


def finalized(to_status: str, errors: list[dict] | None = None) -> dict:
    event = copy.deepcopy(SENT)
    event["data"]["event_type"] = "message.finalized"
    event["data"]["payload"]["to"][0]["status"] = to_status
    event["data"]["payload"]["errors"] = errors or []
    return event


def sign(body: bytes, timestamp: int = NOW, key: Ed25519PrivateKey = SIGNING_KEY) -> dict:
    signature = key.sign(f"{timestamp}|".encode() + body)
    return {
        "telnyx-signature-ed25519": base64.b64encode(signature).decode(),
        "telnyx-timestamp": str(timestamp),
    }


def deliver(event: dict, *, now: int = NOW):
    body = json.dumps(event).encode()
    return PROVIDER.verify_and_parse_inbound(URL, sign(body), body, CREDS, now=now)


def rejection(headers: dict, body: bytes, *, now: int = NOW, creds: dict = CREDS) -> str:
    with pytest.raises(WebhookRejected) as rejected:
        PROVIDER.verify_and_parse_inbound(URL, headers, body, creds, now=now)
    return rejected.value.code


# --- webhooks ----------------------------------------------------------------------------------


def test_documented_inbound_example_parses_to_an_inbound_message():
    [message] = deliver(RECEIVED)
    assert message == InboundMessage(
        provider="telnyx",
        provider_message_id="7ee4241c-f127-47e5-9c34-3aac291f8058",
        from_number="+18665550001",
        to_address="+18445550001",
        body="Hello, World!",
        received_at=datetime(2019, 1, 23, 18, 10, 2, 574000, tzinfo=UTC),
        media_urls=(),
    )


def test_inbound_mms_lists_media_urls():
    event = copy.deepcopy(RECEIVED)
    event["data"]["payload"]["media"] = [
        {"url": "https://media.telnyx.com/a.png", "content_type": "image/png", "size": 1}
    ]
    [message] = deliver(event)
    assert message.media_urls == ("https://media.telnyx.com/a.png",)


def test_status_endpoint_parses_the_same_events():
    body = json.dumps(SENT).encode()
    [update] = PROVIDER.verify_and_parse_status(URL, sign(body), body, CREDS, now=NOW)
    assert update == StatusUpdate(
        provider="telnyx",
        provider_message_id="40385f64-5717-4562-b3fc-2c963f66afa6",
        status=None,  # queued
    )


@pytest.mark.parametrize(
    ("telnyx_status", "expected"),
    [
        ("sent", "sent"),
        ("delivered", "delivered"),
        ("delivery_unconfirmed", "sent"),
        ("delivery_failed", "failed"),
        ("sending_failed", "failed"),
        ("expired", "failed"),
        ("sending", None),
    ],
)
def test_finalized_statuses_map_to_stopline_statuses(telnyx_status, expected):
    [update] = deliver(finalized(telnyx_status))
    assert update.status == expected
    assert update.recipient_opted_out is False


def test_a_send_blocked_by_stop_is_reported_as_an_opt_out():
    errors = [
        {
            "code": "40300",
            "title": "Blocked due to STOP message",
            "detail": "Messages cannot be sent from '+18445550001' to '+18665550001' due to an "
            "existing block rule.",
        }
    ]
    [update] = deliver(finalized("sending_failed", errors))
    assert (update.status, update.error_code, update.recipient_opted_out) == (
        "failed",
        "40300",
        True,
    )


def test_other_delivery_errors_are_not_opt_outs():
    [update] = deliver(
        finalized("delivery_failed", [{"code": "40002", "title": "Blocked as spam"}])
    )
    assert (update.error_code, update.recipient_opted_out) == ("40002", False)


def test_events_about_other_things_are_ignored():
    event = copy.deepcopy(SENT)
    event["data"]["event_type"] = "call.initiated"
    assert deliver(event) == []


def test_forged_signature_is_rejected():
    body = json.dumps(RECEIVED).encode()
    headers = sign(body)
    headers["telnyx-signature-ed25519"] = base64.b64encode(b"\x01" * 64).decode()
    assert rejection(headers, body) == "webhook_signature_invalid"


def test_signature_from_another_key_is_rejected():
    body = json.dumps(RECEIVED).encode()
    assert rejection(sign(body, key=Ed25519PrivateKey.generate()), body) == (
        "webhook_signature_invalid"
    )


def test_tampered_body_is_rejected():
    body = json.dumps(RECEIVED).encode()
    headers = sign(body)
    assert rejection(headers, body.replace(b"Hello, World!", b"STOP")) == (
        "webhook_signature_invalid"
    )


def test_timestamp_is_part_of_what_is_signed():
    body = json.dumps(RECEIVED).encode()
    headers = dict(sign(body), **{"telnyx-timestamp": str(NOW + 1)})
    assert rejection(headers, body) == "webhook_signature_invalid"


@pytest.mark.parametrize("age", [301, -301, 86_400])
def test_genuine_but_stale_or_future_webhooks_are_rejected_as_replays(age):
    body = json.dumps(RECEIVED).encode()
    assert rejection(sign(body, timestamp=NOW - age), body, now=NOW) == "webhook_stale"


def test_webhooks_inside_the_window_are_accepted():
    body = json.dumps(RECEIVED).encode()
    assert PROVIDER.verify_and_parse_inbound(URL, sign(body, NOW - 299), body, CREDS, now=NOW)


@pytest.mark.parametrize(
    "drop", ["telnyx-signature-ed25519", "telnyx-timestamp"], ids=["no-signature", "no-timestamp"]
)
def test_missing_headers_are_rejected(drop):
    body = json.dumps(RECEIVED).encode()
    headers = sign(body)
    del headers[drop]
    assert rejection(headers, body) == "webhook_signature_invalid"


def test_a_misconfigured_public_key_rejects_instead_of_accepting():
    body = json.dumps(RECEIVED).encode()
    assert rejection(sign(body), body, creds=dict(CREDS, public_key="not a key")) == (
        "webhook_signature_invalid"
    )


def test_genuine_webhook_that_is_not_json_is_malformed():
    assert rejection(sign(b"not json"), b"not json") == "webhook_malformed"


# --- sending -----------------------------------------------------------------------------------

REQUEST = SendRequest(
    to="+18665550001",
    from_address="+18445550001",
    body="You are unsubscribed. Reply START to resubscribe.",
    idempotency_key="2f0c6a1e-93f5-4f49-9a1e-6b1c0b0c0a11",
    status_callback="https://stopline.example.com/webhooks/telnyx",
)


def test_send_posts_json_with_a_bearer_key(fake_api: FakeProviderServer, client):
    fake_api.reply(
        200,
        json_body={
            "data": {
                "record_type": "message",
                "direction": "outbound",
                "id": "40385f64-5717-4562-b3fc-2c963f66afa6",
                "to": [{"phone_number": "+18665550001", "status": "queued"}],
            }
        },
    )
    result = PROVIDER.send(client, REQUEST, CREDS, fake_api.url)
    assert (result.provider_message_id, result.status) == (
        "40385f64-5717-4562-b3fc-2c963f66afa6",
        "queued",
    )
    sent = fake_api.last
    assert sent.path == "/v2/messages"
    assert sent.headers["authorization"] == "Bearer KEY0123"
    assert sent.headers["idempotency-key"] == REQUEST.idempotency_key
    assert sent.json() == {
        "from": "+18445550001",
        "to": "+18665550001",
        "text": REQUEST.body,
        "messaging_profile_id": "mp-1",
        "webhook_url": REQUEST.status_callback,
    }


def test_idempotency_keys_telnyx_would_refuse_are_not_sent(fake_api, client):
    fake_api.reply(200, json_body={"data": {"id": "m1", "to": [{"status": "sent"}]}})
    request = SendRequest("+18665550001", "+18445550001", "hi", "key with spaces")
    assert PROVIDER.send(client, request, CREDS, fake_api.url).status == "sent"
    assert "idempotency-key" not in fake_api.last.headers


def test_send_to_a_number_that_sent_stop_reports_the_opt_out(fake_api, client):
    fake_api.reply(
        403,
        json_body={
            "errors": [
                {
                    "code": "40300",
                    "title": "Blocked due to STOP message",
                    "detail": "Messages cannot be sent from '+18445550001' to '+18665550001' due "
                    "to an existing block rule.",
                }
            ]
        },
    )
    with pytest.raises(ProviderError) as error:
        PROVIDER.send(client, REQUEST, CREDS, fake_api.url)
    assert error.value.provider_code == "40300"
    assert error.value.recipient_opted_out is True
    assert error.value.retryable is False


def test_send_validation_errors_are_final(fake_api, client):
    fake_api.reply(
        422,
        json_body={"errors": [{"code": "10015", "title": "Invalid value", "detail": "bad to"}]},
    )
    with pytest.raises(ProviderError) as error:
        PROVIDER.send(client, REQUEST, CREDS, fake_api.url)
    assert (error.value.provider_code, error.value.http_status, error.value.retryable) == (
        "10015",
        422,
        False,
    )
    assert error.value.recipient_opted_out is False


@pytest.mark.parametrize("http_status", [500, 502, 429])
def test_send_server_errors_and_rate_limits_are_retryable(fake_api, client, http_status):
    fake_api.reply(http_status, json_body={"errors": [{"code": "10011", "title": "Too many"}]})
    with pytest.raises(ProviderError) as error:
        PROVIDER.send(client, REQUEST, CREDS, fake_api.url)
    assert error.value.retryable is True


# --- robustness --------------------------------------------------------------------------------

EVENTS = st.fixed_dictionaries(
    {
        "data": st.fixed_dictionaries(
            {
                "event_type": st.sampled_from(
                    ["message.received", "message.sent", "message.finalized", "other"]
                )
                | JSON,
                "payload": st.dictionaries(
                    st.sampled_from(["id", "from", "to", "text", "media", "errors", "received_at"]),
                    JSON,
                )
                | JSON,
                "occurred_at": JSON,
            }
        )
        | JSON
    }
)


@settings(max_examples=300, deadline=None)
@given(
    headers=st.dictionaries(
        st.sampled_from(["telnyx-signature-ed25519", "telnyx-timestamp", "x-other"]),
        st.text(max_size=90),
    ),
    body=st.binary(max_size=300),
)
def test_arbitrary_requests_only_ever_raise_webhook_rejected(headers, body):
    try:
        PROVIDER.verify_and_parse_inbound(URL, headers, body, CREDS, now=NOW)
    except WebhookRejected:
        pass


@settings(max_examples=200, deadline=None)
@given(event=EVENTS | JSON)
def test_genuinely_signed_arbitrary_json_parses_or_is_malformed(event):
    body = json.dumps(event).encode()
    try:
        events = PROVIDER.verify_and_parse_inbound(URL, sign(body), body, CREDS, now=NOW)
    except WebhookRejected as rejected:
        assert rejected.code == "webhook_malformed"
    else:
        assert all(isinstance(e, InboundMessage | StatusUpdate) for e in events)


# --- ids (issue 11, hole 4) ----------------------------------------------------------------------


@pytest.mark.parametrize("where", ["event", "message"])
@pytest.mark.parametrize(
    "bad_id", [None, "", "mp-1", "3fa85f64-5717-4562-b3fc-2c963f66afa", "x" * 36, 12345]
)
def test_event_and_message_ids_must_be_uuids(where, bad_id):
    for template in (RECEIVED, finalized("delivered")):
        event = copy.deepcopy(template)
        holder = event["data"] if where == "event" else event["data"]["payload"]
        if bad_id is None:
            holder.pop("id")
        else:
            holder["id"] = bad_id
        body = json.dumps(event).encode()
        assert rejection(sign(body), body) == "webhook_malformed"


def test_an_inbound_message_without_its_recipient_is_refused():
    event = copy.deepcopy(RECEIVED)
    event["data"]["payload"]["to"] = []
    body = json.dumps(event).encode()
    assert rejection(sign(body), body) == "webhook_malformed"


def test_the_timestamp_and_the_body_cannot_trade_bytes():
    """Telnyx signs "<digits>|<body>": moving the boundary changes the timestamp's digits-only
    form or the JSON body, so a re-cut request fails the signature or the body's parse."""
    body = json.dumps(RECEIVED).encode()
    headers = sign(body)
    recut = {**headers, "telnyx-timestamp": str(NOW)[:-1]}
    assert rejection(recut, str(NOW)[-1:].encode() + body) in (
        "webhook_signature_invalid",
        "webhook_malformed",
    )
