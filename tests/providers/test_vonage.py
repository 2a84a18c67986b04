"""The Vonage adapter: signed-webhook JWTs, inbound and status webhooks, and sending."""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from datetime import UTC, datetime

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import given, settings
from hypothesis import strategies as st

from stopline.providers.base import (
    InboundMessage,
    ProviderError,
    SendRequest,
    StatusUpdate,
    WebhookRejected,
)
from stopline.providers.vonage import PROVIDER
from tests.providers.fake_servers import FakeProviderServer
from tests.providers.strategies import JSON

SECRET = "mEUfTXNtQj2hDXq2Z7PHjkKg7NPjBqhV"  # 32 bytes, as HS256 wants
CREDS = {"api_key": "a1b2c3d", "api_secret": "s3cr3t", "signature_secret": SECRET}
URL = "https://stopline.example.com/webhooks/vonage"
NOW = 1_587_494_962  # the iat of Vonage's sample signed JWT

# Vonage Messages API inbound SMS, as documented.
INBOUND = {
    "channel": "sms",
    "message_uuid": "aaaaaaaa-bbbb-cccc-dddd-0123456789ab",
    "to": "447700900000",
    "from": "447700900001",
    "timestamp": "2020-01-01T14:00:00.000Z",
    "text": "Hello From Vonage!",
    "sms": {"num_messages": "1"},
    "message_type": "text",
}

# Vonage Messages API status callback for an SMS, as documented.
SUBMITTED = {
    "message_uuid": "aaaaaaaa-bbbb-cccc-dddd-0123456789ab",
    "to": "447700900000",
    "from": "447700900001",
    "timestamp": "2023-05-01T14:00:00.000Z",
    "status": "submitted",
    "usage": {"currency": "EUR", "price": "0.0333"},
    "channel": "sms",
}


def token(body: bytes, *, secret: str = SECRET, iat: int = NOW, **claims) -> str:
    payload = {
        "iat": iat,
        "jti": str(uuid.uuid4()),
        "iss": "Vonage",
        "payload_hash": hashlib.sha256(body).hexdigest(),
        "api_key": "a1b2c3d",
        "application_id": "aaaaaaaa-bbbb-cccc-dddd-0123456789ab",
        **claims,
    }
    payload = {k: v for k, v in payload.items() if v is not None}
    return jwt.encode(payload, secret, algorithm="HS256")


def signed(event: dict, **claims) -> tuple[dict, bytes]:
    body = json.dumps(event).encode()
    return {"authorization": f"Bearer {token(body, **claims)}"}, body


def deliver(event: dict, *, now: int = NOW, status_endpoint: bool = False):
    headers, body = signed(event)
    parse = (
        PROVIDER.verify_and_parse_status if status_endpoint else PROVIDER.verify_and_parse_inbound
    )
    return parse(URL, headers, body, CREDS, now=now)


def rejection(headers: dict, body: bytes, *, now: int = NOW, creds: dict = CREDS) -> str:
    with pytest.raises(WebhookRejected) as rejected:
        PROVIDER.verify_and_parse_inbound(URL, headers, body, creds, now=now)
    return rejected.value.code


# --- webhooks ----------------------------------------------------------------------------------


def test_documented_inbound_sms_parses_to_an_inbound_message():
    [message] = deliver(INBOUND)
    assert message == InboundMessage(
        provider="vonage",
        provider_message_id="aaaaaaaa-bbbb-cccc-dddd-0123456789ab",
        from_number="447700900001",
        to_address="447700900000",
        body="Hello From Vonage!",
        received_at=datetime(2020, 1, 1, 14, 0, tzinfo=UTC),
    )


def test_documented_submitted_status_means_sent():
    [update] = deliver(SUBMITTED, status_endpoint=True)
    assert update == StatusUpdate(
        provider="vonage",
        provider_message_id="aaaaaaaa-bbbb-cccc-dddd-0123456789ab",
        status="sent",
    )


@pytest.mark.parametrize(
    ("vonage_status", "expected"),
    [
        ("delivered", "delivered"),
        ("read", "delivered"),
        ("rejected", "failed"),
        ("undeliverable", "failed"),
        ("undelivered", "failed"),
        ("failed", "failed"),
        ("something-new", None),
    ],
)
def test_statuses_map_to_stopline_statuses(vonage_status, expected):
    [update] = deliver(dict(SUBMITTED, status=vonage_status), status_endpoint=True)
    assert update.status == expected


def test_rejection_keeps_vonages_error_code():
    event = dict(
        SUBMITTED,
        status="rejected",
        error={
            "type": "https://developer.vonage.com/api-errors/messages#1320",
            "title": 1320,
            "detail": "Message failed because the number is barred",
            "instance": "bf0ca0bf927b3b52e3cb03217e1a1ddf",
        },
    )
    [update] = deliver(event, status_endpoint=True)
    assert (update.status, update.error_code, update.recipient_opted_out) == (
        "failed",
        "1320",
        False,
    )


def test_rejection_because_the_recipient_opted_out_is_reported():
    event = dict(
        SUBMITTED,
        status="rejected",
        error={
            "type": "https://developer.vonage.com/api-errors/messages#1470",
            "title": "1470",
            "detail": "The recipient has opted out of receiving messages from this sender",
        },
    )
    [update] = deliver(event, status_endpoint=True)
    assert update.recipient_opted_out is True
    assert update.error_code == "1470"


def test_inbound_mms_image_lists_its_url():
    event = dict(INBOUND, channel="mms", message_type="image")
    del event["text"]
    event["image"] = {"url": "https://api.nexmo.com/v3/media/1", "caption": "STOP"}
    [message] = deliver(event)
    assert message.media_urls == ("https://api.nexmo.com/v3/media/1",)
    assert message.body == "STOP"


def test_unsigned_webhook_is_rejected():
    body = json.dumps(INBOUND).encode()
    assert rejection({}, body) == "webhook_signature_invalid"


def test_jwt_signed_with_another_secret_is_rejected():
    headers, body = signed(INBOUND, secret="another-signature-secret-32bytes")
    assert rejection(headers, body) == "webhook_signature_invalid"


def test_tampered_body_fails_the_payload_hash():
    headers, body = signed(INBOUND)
    assert rejection(headers, body.replace(b"Hello From Vonage!", b"STOP")) == (
        "webhook_signature_invalid"
    )


def test_jwt_without_payload_hash_is_rejected():
    headers, body = signed(INBOUND, payload_hash=None)
    assert rejection(headers, body) == "webhook_signature_invalid"


def test_jwt_not_issued_by_vonage_is_rejected():
    headers, body = signed(INBOUND, iss="Mallory")
    assert rejection(headers, body) == "webhook_signature_invalid"


def test_jwt_for_another_api_key_is_rejected():
    headers, body = signed(INBOUND, api_key="zzzzzzz")
    assert rejection(headers, body) == "webhook_signature_invalid"


def test_unsigned_alg_none_jwt_is_rejected():
    body = json.dumps(INBOUND).encode()
    claims = {"iat": NOW, "iss": "Vonage", "payload_hash": hashlib.sha256(body).hexdigest()}

    def part(value: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    forged = f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."
    assert rejection({"authorization": f"Bearer {forged}"}, body) == "webhook_signature_invalid"


@pytest.mark.parametrize("age", [301, -301, 3600])
def test_genuine_but_stale_jwts_are_rejected_as_replays(age):
    headers, body = signed(INBOUND, iat=NOW - age)
    assert rejection(headers, body) == "webhook_stale"


def test_missing_signature_secret_rejects_everything():
    headers, body = signed(INBOUND)
    assert rejection(headers, body, creds={"api_key": "a1b2c3d"}) == "webhook_signature_invalid"


def test_genuine_webhook_without_message_uuid_is_malformed():
    event = {k: v for k, v in INBOUND.items() if k != "message_uuid"}
    headers, body = signed(event)
    assert rejection(headers, body) == "webhook_malformed"


# --- sending -----------------------------------------------------------------------------------

REQUEST = SendRequest(
    to="+447700900000",
    from_address="+447700900001",
    body="You are unsubscribed.",
    idempotency_key="msg-42",
    status_callback="https://stopline.example.com/webhooks/vonage/status",
)


def test_send_posts_the_documented_json_with_basic_auth(fake_api: FakeProviderServer, client):
    fake_api.reply(202, json_body={"message_uuid": "aaaaaaaa-bbbb-cccc-dddd-0123456789ab"})
    result = PROVIDER.send(client, REQUEST, CREDS, fake_api.url)
    assert (result.provider_message_id, result.status) == (
        "aaaaaaaa-bbbb-cccc-dddd-0123456789ab",
        "queued",
    )
    sent = fake_api.last
    assert sent.path == "/v1/messages"
    assert sent.headers["authorization"] == "Basic " + base64.b64encode(b"a1b2c3d:s3cr3t").decode()
    assert sent.json() == {
        "message_type": "text",
        "channel": "sms",
        "to": "447700900000",
        "from": "447700900001",
        "text": "You are unsubscribed.",
        "client_ref": "msg-42",
        "webhook_url": REQUEST.status_callback,
    }


def test_send_with_an_application_key_uses_a_signed_jwt(fake_api, client):
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    creds = {"application_id": "app-1", "private_key": pem, "signature_secret": SECRET}
    fake_api.reply(202, json_body={"message_uuid": "m-1"})
    PROVIDER.send(client, REQUEST, creds, fake_api.url)
    scheme, _, bearer = fake_api.last.headers["authorization"].partition(" ")
    assert scheme == "Bearer"
    claims = jwt.decode(bearer, private_key.public_key(), algorithms=["RS256"])
    assert claims["application_id"] == "app-1"
    assert {"iat", "jti", "exp"} <= claims.keys()


def test_send_without_usable_credentials_fails_before_any_request(fake_api, client):
    with pytest.raises(ProviderError):
        PROVIDER.send(client, REQUEST, {"api_key": "a1b2c3d"}, fake_api.url)
    assert fake_api.requests == []


def test_send_refusals_in_rfc7807_are_final(fake_api, client):
    fake_api.reply(
        422,
        json_body={
            "type": "https://developer.nexmo.com/api-errors/messages-olympus#1150",
            "title": "Invalid params",
            "detail": "The value of one or more parameters is invalid.",
            "instance": "bf0ca0bf927b3b52e3cb03217e1a1ddf",
        },
        headers={"Content-Type": "application/problem+json"},
    )
    with pytest.raises(ProviderError) as error:
        PROVIDER.send(client, REQUEST, CREDS, fake_api.url)
    assert (error.value.provider_code, error.value.http_status, error.value.retryable) == (
        "1150",
        422,
        False,
    )


@pytest.mark.parametrize("http_status", [500, 503, 429])
def test_send_server_errors_and_rate_limits_are_retryable(fake_api, client, http_status):
    fake_api.reply(
        http_status,
        json_body={"type": "https://developer.vonage.com/api-errors#throttled", "title": "Slow"},
    )
    with pytest.raises(ProviderError) as error:
        PROVIDER.send(client, REQUEST, CREDS, fake_api.url)
    assert error.value.retryable is True
    assert error.value.provider_code == "throttled"


# --- robustness --------------------------------------------------------------------------------

PAYLOADS = st.dictionaries(
    st.sampled_from(
        [
            "message_uuid",
            "from",
            "to",
            "text",
            "timestamp",
            "status",
            "error",
            "message_type",
            "image",
            "channel",
        ]
    ),
    JSON,
)


@settings(max_examples=300, deadline=None)
@given(
    authorization=st.one_of(st.text(max_size=80), st.text(max_size=80).map("Bearer {}".format)),
    body=st.binary(max_size=300),
)
def test_arbitrary_requests_only_ever_raise_webhook_rejected(authorization, body):
    try:
        PROVIDER.verify_and_parse_inbound(URL, {"authorization": authorization}, body, CREDS)
    except WebhookRejected:
        pass


@settings(max_examples=200, deadline=None)
@given(
    event=PAYLOADS | JSON, claims=st.dictionaries(st.sampled_from(["iat", "exp", "api_key"]), JSON)
)
def test_genuinely_signed_arbitrary_json_parses_or_is_rejected(event, claims):
    body = json.dumps(event).encode()
    try:
        bearer = token(body, **claims)
    except (TypeError, ValueError):
        return  # PyJWT will not mint it; nothing to test
    try:
        events = PROVIDER.verify_and_parse_status(
            URL, {"authorization": f"Bearer {bearer}"}, body, CREDS, now=NOW
        )
    except WebhookRejected:
        pass
    else:
        assert all(isinstance(e, InboundMessage | StatusUpdate) for e in events)


# --- ids (issue 11, hole 4) ----------------------------------------------------------------------


@pytest.mark.parametrize("bad_id", ["", "aaaaaaaa", "aaaaaaaa-bbbb-cccc-dddd-0123456789abX", 7])
def test_message_uuid_must_be_a_uuid(bad_id):
    for template in (INBOUND, SUBMITTED):
        headers, body = signed({**template, "message_uuid": bad_id})
        assert rejection(headers, body) == "webhook_malformed"


def test_an_inbound_message_without_its_recipient_is_refused():
    headers, body = signed({k: v for k, v in INBOUND.items() if k != "to"})
    assert rejection(headers, body) == "webhook_malformed"
