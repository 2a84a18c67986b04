"""The console provider: "delivers" locally for development and demos, never over the network.

Sending returns a fresh synthetic id with status ``sent`` and records nothing; the service layer
keeps the message, which is where the console shows it. Simulated inbound messages and statuses
use the generic contract (`stopline.providers.generic`): the same JSON bodies and the same
``X-Stopline-Signature`` scheme, keyed with the console credentials' ``secret``.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping

import httpx

from stopline.providers import generic
from stopline.providers.base import (
    Credentials,
    Provider,
    SelfDescribingWebhooks,
    SendRequest,
    SendResult,
    WebhookEvent,
)

NAME = "console"


class ConsoleProvider(SelfDescribingWebhooks):
    """The console adapter as a `Provider`."""

    name = NAME

    def verify_and_parse_body(
        self,
        headers: Mapping[str, str],
        raw_body: bytes,
        credentials: Credentials,
        now: float | None,
    ) -> list[WebhookEvent]:
        return generic.verify_and_parse(headers, raw_body, credentials, now=now, provider=NAME)

    def send(
        self,
        client: httpx.Client,
        request: SendRequest,
        credentials: Credentials,
        base_url: str | None = None,
    ) -> SendResult:
        # The client is unused on purpose: nothing leaves the process.
        return SendResult(provider_message_id=f"console-{uuid.uuid4()}", status="sent")


PROVIDER: Provider = ConsoleProvider()  # annotated so mypy checks the protocol
