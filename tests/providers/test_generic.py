"""The generic gateway contract: X-Stopline-Signature webhooks and the signed send request."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stopline.providers import generic
from stopline.providers.base import (
    InboundMessage,
    ProviderError,
    SendRequest,
    StatusUpdate,
    WebhookRejected,
)
from stopline.providers.generic import PROVIDER, sign
from tests.providers.fake_servers import FakeProviderServer
from tests.providers.strategies import JSON

SECRET = "whsec-test-0123456789abcdef"
URL = "https://stopline.example.com/webhooks/generic"
NOW = 1_767_322_800
INBOUND = {
    "id": "gw-123",
    "from": "+14155550100",
    "to": "+14155550199",
    "text": "STOP",
    "timestamp": "2026-01-02T03:04:05Z",
}


def creds(**extra: str) -> dict[str, str]:
    return {"secret": SECRET, **extra}


def deliver(event: dict, *, now: int = NOW, timestamp: int = NOW):
    body = json.dumps(event).encode()
    headers = {"x-stopline-signature": sign(SECRET, body, timestamp)}
    return PROVIDER.verify_and_parse_inbound(URL, headers, body, creds(), now=now)


def rejection(headers: dict, body: bytes, *, now: int = NOW) -> str:
    with pytest.raises(WebhookRejected) as rejected:
        PROVIDER.verify_and_parse_inbound(URL, headers, body, creds(), now=now)
    return rejected.value.code


def test_signature_is_hmac_sha256_of_timestamp_dot_body():
    body = b'{"id":"1"}'
    expected = hmac.new(SECRET.encode(), b"1700000000." + body, hashlib.sha256).hexdigest()
    assert sign(SECRET, body, 1_700_000_000) == f"t=1700000000,v1={expected}"


def test_inbound_parses_to_an_inbound_message():
    [message] = deliver(INBOUND)
    assert message == InboundMessage(
        provider="generic",
        provider_message_id="gw-123",
        from_number="+14155550100",
        to_address="+14155550199",
        body="STOP",
        received_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
    )


def test_inbound_timestamp_may_be_unix_seconds_and_media_may_be_listed():
    [message] = deliver(dict(INBOUND, timestamp=NOW, media_urls=["https://gw.example/m/1"]))
    assert message.received_at == datetime.fromtimestamp(NOW, tz=UTC)
    assert message.media_urls == ("https://gw.example/m/1",)


@pytest.mark.parametrize(
    ("gateway_status", "expected"),
    [
        ("queued", None),
        ("sent", "sent"),
        ("delivered", "delivered"),
        ("failed", "failed"),
        ("undelivered", "failed"),
        ("rejected", "failed"),
    ],
)
def test_status_parses_to_a_status_update(gateway_status, expected):
    body = json.dumps({"id": "gw-456", "status": gateway_status, "error_code": None}).encode()
    headers = {"x-stopline-signature": sign(SECRET, body, NOW)}
    [update] = PROVIDER.verify_and_parse_status(URL, headers, body, creds(), now=NOW)
    assert update == StatusUpdate(provider="generic", provider_message_id="gw-456", status=expected)


@pytest.mark.parametrize(
    "event",
    [
        {"id": "gw-9", "status": "failed", "error_code": "recipient_opted_out"},
        {"id": "gw-9", "status": "failed", "error_code": "E42", "recipient_opted_out": True},
    ],
)
def test_status_can_report_that_the_recipient_opted_out(event):
    [update] = deliver(event)
    assert update.recipient_opted_out is True
    assert update.status == "failed"


def test_an_unknown_status_is_malformed():
    body = json.dumps({"id": "gw-1", "status": "teleported"}).encode()
    assert rejection({"x-stopline-signature": sign(SECRET, body, NOW)}, body) == "webhook_malformed"


def test_any_of_several_v1_signatures_may_match_during_secret_rotation():
    body = json.dumps(INBOUND).encode()
    good = sign(SECRET, body, NOW).split("v1=")[1]
    headers = {"x-stopline-signature": f"t={NOW},v1={'0' * 64},v1={good}"}
    assert PROVIDER.verify_and_parse_inbound(URL, headers, body, creds(), now=NOW)


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="missing"),
        pytest.param({"x-stopline-signature": ""}, id="empty"),
        pytest.param({"x-stopline-signature": "v1=abc"}, id="no-timestamp"),
        pytest.param({"x-stopline-signature": f"t={NOW}"}, id="no-v1"),
        pytest.param({"x-stopline-signature": f"t={NOW},v1={'0' * 64}"}, id="forged"),
        pytest.param({"x-stopline-signature": f"t=soon,v1={'0' * 64}"}, id="bad-timestamp"),
    ],
)
def test_bad_signature_headers_are_rejected(headers):
    assert rejection(headers, json.dumps(INBOUND).encode()) == "webhook_signature_invalid"


def test_signature_with_another_secret_is_rejected():
    body = json.dumps(INBOUND).encode()
    assert rejection({"x-stopline-signature": sign("other", body, NOW)}, body) == (
        "webhook_signature_invalid"
    )


def test_tampered_body_is_rejected():
    body = json.dumps(INBOUND).encode()
    headers = {"x-stopline-signature": sign(SECRET, body, NOW)}
    assert rejection(headers, body.replace(b"STOP", b"START")) == "webhook_signature_invalid"


def test_re_timestamped_signature_is_rejected():
    body = json.dumps(INBOUND).encode()
    digest = sign(SECRET, body, NOW - 1000).split("v1=")[1]
    assert rejection({"x-stopline-signature": f"t={NOW},v1={digest}"}, body) == (
        "webhook_signature_invalid"
    )


@pytest.mark.parametrize("age", [301, -301])
def test_genuine_but_stale_webhooks_are_rejected_as_replays(age):
    body = json.dumps(INBOUND).encode()
    headers = {"x-stopline-signature": sign(SECRET, body, NOW - age)}
    assert rejection(headers, body) == "webhook_stale"


def test_missing_secret_rejects_everything():
    body = json.dumps(INBOUND).encode()
    with pytest.raises(WebhookRejected):
        PROVIDER.verify_and_parse_inbound(
            URL, {"x-stopline-signature": sign(SECRET, body, NOW)}, body, {}, now=NOW
        )


@pytest.mark.parametrize(
    "event",
    [
        {"from": "+1", "to": "+2", "text": "x"},
        {"id": "1", "to": "+2", "text": "x"},
        {"id": "1", "from": "+1", "to": "+2", "text": 5},
        {"id": "1", "from": "+1", "to": "+2", "media_urls": "https://x"},
    ],
    ids=["no-id", "no-from", "text-not-string", "media-not-list"],
)
def test_genuine_but_incomplete_webhooks_are_malformed(event):
    body = json.dumps(event).encode()
    assert rejection({"x-stopline-signature": sign(SECRET, body, NOW)}, body) == "webhook_malformed"


# --- sending -----------------------------------------------------------------------------------

REQUEST = SendRequest(
    to="+14155550100",
    from_address="+14155550199",
    body="Reply STOP to opt out",
    idempotency_key="msg-7",
    status_callback="https://stopline.example.com/webhooks/generic",
)


def test_send_posts_the_signed_contract(fake_api: FakeProviderServer, client):
    fake_api.reply(200, json_body={"id": "gw-789", "status": "queued"})
    result = PROVIDER.send(client, REQUEST, creds(send_url=fake_api.url + "/send"))
    assert (result.provider_message_id, result.status) == ("gw-789", "queued")
    sent = fake_api.last
    assert sent.path == "/send"
    assert sent.headers["idempotency-key"] == "msg-7"
    assert sent.json() == {
        "to": "+14155550100",
        "from": "+14155550199",
        "text": "Reply STOP to opt out",
        "idempotency_key": "msg-7",
        "status_callback": REQUEST.status_callback,
    }
    # The gateway can verify the request with the same scheme.
    generic.verify(sent.headers, sent.body, creds())


def test_send_base_url_overrides_send_url(fake_api, client):
    fake_api.reply(201, json_body={"id": 17, "status": "sent"})
    result = PROVIDER.send(client, REQUEST, creds(send_url="http://nowhere.invalid"), fake_api.url)
    assert (result.provider_message_id, result.status) == ("17", "sent")


def test_send_refusal_for_an_opted_out_recipient(fake_api, client):
    fake_api.reply(
        409, json_body={"error": {"code": "recipient_opted_out", "message": "opted out"}}
    )
    with pytest.raises(ProviderError) as error:
        PROVIDER.send(client, REQUEST, creds(), fake_api.url)
    assert (error.value.provider_code, error.value.retryable, error.value.recipient_opted_out) == (
        "recipient_opted_out",
        False,
        True,
    )


def test_send_4xx_is_final(fake_api, client):
    fake_api.reply(400, json_body={"error": {"code": "bad_number", "message": "no"}})
    with pytest.raises(ProviderError) as error:
        PROVIDER.send(client, REQUEST, creds(), fake_api.url)
    assert (error.value.provider_code, error.value.http_status, error.value.retryable) == (
        "bad_number",
        400,
        False,
    )
    assert error.value.recipient_opted_out is False


@pytest.mark.parametrize("http_status", [500, 503, 429])
def test_send_5xx_and_429_are_retryable(fake_api, client, http_status):
    fake_api.reply(http_status, body=b"upstream trouble")
    with pytest.raises(ProviderError) as error:
        PROVIDER.send(client, REQUEST, creds(), fake_api.url)
    assert error.value.retryable is True
    assert error.value.provider_code is None


def test_send_without_a_url_fails_before_any_request(client):
    with pytest.raises(ProviderError) as error:
        PROVIDER.send(client, REQUEST, creds())
    assert error.value.retryable is False


# --- robustness --------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(signature=st.text(max_size=120), body=st.binary(max_size=300))
def test_arbitrary_requests_only_ever_raise_webhook_rejected(signature, body):
    try:
        PROVIDER.verify_and_parse_inbound(
            URL, {"x-stopline-signature": signature}, body, creds(), now=NOW
        )
    except WebhookRejected:
        pass


@settings(max_examples=200, deadline=None)
@given(
    event=st.dictionaries(
        st.sampled_from(
            [
                "id",
                "from",
                "to",
                "text",
                "timestamp",
                "status",
                "error_code",
                "recipient_opted_out",
                "media_urls",
            ]
        ),
        JSON,
    )
    | JSON
)
def test_genuinely_signed_arbitrary_json_parses_or_is_malformed(event):
    body = json.dumps(event).encode()
    headers = {"x-stopline-signature": sign(SECRET, body, NOW)}
    try:
        events = PROVIDER.verify_and_parse_status(URL, headers, body, creds(), now=NOW)
    except WebhookRejected as rejected:
        assert rejected.code == "webhook_malformed"
    else:
        assert len(events) == 1


# --- ids (issue 11, hole 4) ----------------------------------------------------------------------


@pytest.mark.parametrize("bad_id", ["", " ", "gw 1", "gw-\n1", "x" * 129, "é", 1.5, True, None])
def test_message_ids_must_be_short_printable_ascii(bad_id):
    for template in (INBOUND, {"id": "gw-1", "status": "delivered"}):
        event = {**template, "id": bad_id}
        body = json.dumps(event).encode()
        headers = {"x-stopline-signature": sign(SECRET, body, NOW)}
        assert rejection(headers, body) == "webhook_malformed"


def test_integer_and_long_ids_within_the_limit_are_accepted():
    [message] = deliver({**INBOUND, "id": 42})
    assert message.provider_message_id == "42"
    [message] = deliver({**INBOUND, "id": "g" * 128})
    assert message.provider_message_id == "g" * 128
