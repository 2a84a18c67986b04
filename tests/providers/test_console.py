"""The console provider and the registry: local "delivery" and generic-scheme webhooks."""

from __future__ import annotations

import importlib
import json

import httpx
import pytest

from stopline.domain.errors import StoplineError
from stopline.providers.base import (
    PROVIDER_NAMES,
    InboundMessage,
    SendRequest,
    StatusUpdate,
    WebhookRejected,
    get_provider,
)
from stopline.providers.console import PROVIDER
from stopline.providers.generic import sign

SECRET = "console-secret"
NOW = 1_767_322_800
REQUEST = SendRequest("+14155550100", "+14155550199", "hello", "msg-1")


def no_network() -> httpx.Client:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise AssertionError(f"the console provider made a request: {request.url}")

    return httpx.Client(transport=httpx.MockTransport(refuse))


def test_send_delivers_locally_with_a_fresh_id_and_status_sent():
    with no_network() as client:
        first = PROVIDER.send(client, REQUEST, {})
        second = PROVIDER.send(client, REQUEST, {}, "https://ignored.example")
    assert first.status == second.status == "sent"
    assert first.provider_message_id != second.provider_message_id
    assert first.provider_message_id.startswith("console-")


def test_simulated_inbound_uses_the_generic_signature():
    body = json.dumps({"id": "c-1", "from": "+14155550100", "to": "+14155550199", "text": "STOP"})
    headers = {"x-stopline-signature": sign(SECRET, body.encode(), NOW)}
    [message] = PROVIDER.verify_and_parse_inbound(
        "http://localhost/webhooks/console", headers, body.encode(), {"secret": SECRET}, now=NOW
    )
    assert isinstance(message, InboundMessage)
    assert (message.provider, message.body) == ("console", "STOP")


def test_simulated_status_uses_the_generic_signature():
    body = json.dumps({"id": "console-1", "status": "delivered"}).encode()
    headers = {"x-stopline-signature": sign(SECRET, body, NOW)}
    [update] = PROVIDER.verify_and_parse_status(
        "http://x", headers, body, {"secret": SECRET}, now=NOW
    )
    assert update == StatusUpdate(
        provider="console", provider_message_id="console-1", status="delivered"
    )


def test_webhooks_without_a_configured_secret_are_rejected():
    body = b'{"id": "c-1", "from": "+1", "to": "+2", "text": "STOP"}'
    headers = {"x-stopline-signature": sign(SECRET, body, NOW)}
    with pytest.raises(WebhookRejected) as rejected:
        PROVIDER.verify_and_parse_inbound("http://x", headers, body, {}, now=NOW)
    assert rejected.value.code == "webhook_signature_invalid"


def test_unsigned_webhooks_are_rejected():
    with pytest.raises(WebhookRejected):
        PROVIDER.verify_and_parse_inbound("http://x", {}, b"{}", {"secret": SECRET}, now=NOW)


@pytest.mark.parametrize("name", PROVIDER_NAMES)
def test_registry_knows_every_provider_by_name(name):
    provider = get_provider(name)
    assert provider.name == name
    assert get_provider(name) is provider
    assert provider is importlib.import_module(f"stopline.providers.{name}").PROVIDER


def test_registry_refuses_unknown_names():
    with pytest.raises(StoplineError) as error:
        get_provider("carrier-pigeon")
    assert error.value.code == "unknown_provider"
