"""What every adapter does alike: transport failures on send, and no replies in JSON webhooks."""

from __future__ import annotations

import importlib
from typing import Any

import pytest

from stopline.providers.base import Provider, ProviderError, SendRequest
from tests.providers.fake_servers import closed_port_url

REQUEST = SendRequest(
    to="+14155550100",
    from_address="+14155550199",
    body="You are unsubscribed.",
    idempotency_key="msg-1",
    status_callback="https://stopline.example.com/webhooks/status",
)

# Per sending provider: credentials it sends with, and an accepted answer in its own format
# (status, JSON body) for the fake API to give too late.
SENDERS: dict[str, tuple[dict[str, str], int, dict[str, Any]]] = {
    "twilio": (
        {"account_sid": "AC" + "a" * 32, "auth_token": "12345"},
        201,
        {"sid": "SM" + "3" * 32, "status": "queued"},
    ),
    "telnyx": ({"api_key": "KEY0123"}, 200, {"data": {"id": "late"}}),
    "vonage": ({"api_key": "a1b2c3d", "api_secret": "s3cr3t"}, 202, {"message_uuid": "late"}),
    "generic": ({"secret": "whsec-test-0123456789abcdef"}, 200, {"id": "late"}),
}


def adapter(name: str) -> Provider:
    provider: Provider = importlib.import_module(f"stopline.providers.{name}").PROVIDER
    return provider


@pytest.mark.parametrize("name", SENDERS)
def test_send_that_times_out_is_retryable(fake_api, impatient_client, name):
    credentials, status, answer = SENDERS[name]
    fake_api.reply(status, json_body=answer, delay=2.0)
    with pytest.raises(ProviderError) as error:
        adapter(name).send(impatient_client, REQUEST, credentials, fake_api.url)
    assert error.value.retryable is True
    assert error.value.http_status is None


@pytest.mark.parametrize("name", SENDERS)
def test_send_to_an_unreachable_api_is_retryable(client, name):
    credentials, _, _ = SENDERS[name]
    with pytest.raises(ProviderError) as error:
        adapter(name).send(client, REQUEST, credentials, closed_port_url())
    assert error.value.retryable is True


@pytest.mark.parametrize("name", ["telnyx", "vonage", "generic", "console"])
def test_json_webhook_providers_have_no_synchronous_replies(name):
    assert adapter(name).reply_body(["You are unsubscribed."]) is None
