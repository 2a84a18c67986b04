"""Telnyx Messaging (API v2): verify and parse its signed JSON webhooks, send via REST.

Facts carried over from Telnyx's documentation:

- Webhooks are JSON ``{"data": {"record_type": "event", "id", "event_type", "occurred_at",
  "payload": {...}}, "meta": {...}}``; ``event_type`` is ``message.received`` (inbound),
  ``message.sent`` or ``message.finalized`` (outbound status). The payload carries ``id``,
  ``from.phone_number``, ``to[].phone_number`` and ``to[].status`` (queued, sending, sent,
  delivered, expired, sending_failed, delivery_failed, delivery_unconfirmed), ``text``,
  ``media[].url``, ``received_at`` and ``errors[] {code, title, detail}``.
- Signature: ``telnyx-signature-ed25519`` (base64 Ed25519 signature) over
  ``f"{telnyx-timestamp}|{raw body}"``, verified with the account's base64 public key. We refuse
  timestamps outside a 5-minute window to stop replays.
- Sending: ``POST {base}/v2/messages`` with ``Authorization: Bearer <API key>`` and JSON
  ``{from, to, text, messaging_profile_id?, webhook_url?}``; the answer is ``{"data": {"id",
  "to": [{"status"}]}}``; errors are ``{"errors": [{"code", "title", "detail"}]}``. Code 40300,
  "Blocked due to STOP message", means the recipient opted out of this messaging profile.
  ``Idempotency-Key`` (``[A-Za-z0-9_:-]{1,255}``) makes retries of the same request safe.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from typing import Any

import httpx
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from stopline.providers.base import (
    DEFAULT_TOLERANCE_SECONDS,
    UUID_PATTERN,
    Credentials,
    InboundMessage,
    MessageStatus,
    Provider,
    ProviderError,
    Refusal,
    SelfDescribingWebhooks,
    SendRequest,
    SendResult,
    StatusUpdate,
    WebhookEvent,
    WebhookRejected,
    accepted_id,
    check_fresh,
    header,
    is_unix_seconds,
    join_url,
    json_member,
    load_json_object,
    malformed,
    parse_timestamp,
    post_and_read,
    provider_id,
    required_secret,
    text_field,
)

NAME = "telnyx"
DEFAULT_BASE_URL = "https://api.telnyx.com"
SIGNATURE_HEADER = "telnyx-signature-ed25519"
TIMESTAMP_HEADER = "telnyx-timestamp"
BLOCKED_DUE_TO_STOP = "40300"

_STATUSES: dict[str, MessageStatus] = {
    "sent": "sent",
    # Handed to the carrier, which never confirmed: as far as anyone will know, sent.
    "delivery_unconfirmed": "sent",
    "delivered": "delivered",
    "sending_failed": "failed",
    "delivery_failed": "failed",
    "expired": "failed",
}
_STATUS_EVENTS = ("message.sent", "message.finalized")
_IDEMPOTENCY_KEY = re.compile(r"^[A-Za-z0-9_:-]{1,255}$")


def signed_content(timestamp: str, raw_body: bytes) -> bytes:
    """The bytes Telnyx signs: the timestamp header, a pipe, then the raw body."""
    return timestamp.encode("ascii") + b"|" + raw_body


def verify(
    headers: Mapping[str, str],
    raw_body: bytes,
    credentials: Credentials,
    *,
    now: float | None = None,
    tolerance: float = DEFAULT_TOLERANCE_SECONDS,
) -> None:
    """Check the Ed25519 signature and the replay window; raise `WebhookRejected` if not."""
    encoded_key = required_secret(credentials, "public_key", NAME)
    try:
        public_key = Ed25519PublicKey.from_public_bytes(
            base64.b64decode(encoded_key, validate=True)
        )
    except (binascii.Error, ValueError) as exc:
        raise WebhookRejected("telnyx public_key is not a base64 Ed25519 public key") from exc

    signature_b64 = header(headers, SIGNATURE_HEADER)
    timestamp = header(headers, TIMESTAMP_HEADER)
    if not signature_b64 or not timestamp:
        raise WebhookRejected("telnyx webhook lacks its signature or timestamp header")
    timestamp = timestamp.strip()
    if not is_unix_seconds(timestamp):
        raise WebhookRejected("telnyx-timestamp is not unix seconds")
    try:
        signature = base64.b64decode(signature_b64.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise WebhookRejected("telnyx signature is not base64") from exc
    try:
        public_key.verify(signature, signed_content(timestamp, raw_body))
    except InvalidSignature as exc:
        raise WebhookRejected("telnyx webhook signature does not match") from exc
    # Checked after the signature so that "stale" is only ever said of genuine Telnyx requests.
    check_fresh(int(timestamp), now, tolerance, "telnyx-timestamp")


def _recipient(payload: Mapping[str, Any]) -> Mapping[str, Any]:
    recipients = payload.get("to")
    if isinstance(recipients, list) and recipients and isinstance(recipients[0], dict):
        return recipients[0]
    return {}


def _error_codes(payload: Mapping[str, Any]) -> list[str]:
    errors = payload.get("errors")
    if not isinstance(errors, list):
        return []
    return [
        str(error["code"])
        for error in errors
        if isinstance(error, dict) and isinstance(error.get("code"), str | int)
    ]


def parse(body: Mapping[str, Any]) -> list[WebhookEvent]:
    """A verified webhook body as stopline events; events about anything else are ignored."""
    data = body.get("data")
    if not isinstance(data, dict):
        raise malformed(NAME, "has no 'data' object")
    event_type = data.get("event_type")
    payload = data.get("payload")
    if not isinstance(event_type, str) or not isinstance(payload, dict):
        raise malformed(NAME, "has no event_type or payload")

    if event_type != "message.received" and event_type not in _STATUS_EVENTS:
        return []
    # The event's and the message's ids are UUIDs (Telnyx API v2); the signature covers the
    # whole body, but an id that could be anything is still refused rather than trusted.
    provider_id(data, "id", UUID_PATTERN, NAME, "a UUID")
    message_id = provider_id(payload, "id", UUID_PATTERN, NAME, "a UUID")

    if event_type == "message.received":
        sender = payload.get("from")
        sender_number = text_field(sender, "phone_number", NAME) if isinstance(sender, dict) else ""
        if not sender_number:
            raise malformed(NAME, "inbound message has no from.phone_number")
        media = payload.get("media")
        media_urls = tuple(
            item["url"]
            for item in (media if isinstance(media, list) else [])
            if isinstance(item, dict) and isinstance(item.get("url"), str) and item["url"]
        )
        text = payload.get("text")
        listed = [payload.get("to"), payload.get("cc")]
        others = tuple(
            item["phone_number"]
            for group in listed
            if isinstance(group, list)
            for item in group
            if isinstance(item, dict) and isinstance(item.get("phone_number"), str)
        )[1:]
        return [
            InboundMessage(
                provider=NAME,
                provider_message_id=message_id,
                from_number=sender_number,
                to_address=text_field(_recipient(payload), "phone_number", NAME),
                also_to=others,
                body=text if isinstance(text, str) else "",
                received_at=parse_timestamp(payload.get("received_at"))
                or parse_timestamp(data.get("occurred_at")),
                media_urls=media_urls,
                raw=body,
            )
        ]

    # A message.sent or message.finalized event.
    raw_status = _recipient(payload).get("status")
    codes = _error_codes(payload)
    return [
        StatusUpdate(
            provider=NAME,
            provider_message_id=message_id,
            status=_STATUSES.get(raw_status) if isinstance(raw_status, str) else None,
            error_code=codes[0] if codes else None,
            recipient_opted_out=BLOCKED_DUE_TO_STOP in codes,
            raw=body,
        )
    ]


def _refusal(data: Any) -> Refusal:
    """Telnyx's error body: ``{"errors": [{"code", "title", "detail"}]}``."""
    if not isinstance(data, dict) or not isinstance(data.get("errors"), list):
        return Refusal()
    codes = _error_codes(data)
    first = data["errors"][0] if data["errors"] else None
    words = (first.get("detail") or first.get("title")) if isinstance(first, dict) else None
    return Refusal(
        code=codes[0] if codes else None,
        message=str(words) if words else None,
        recipient_opted_out=BLOCKED_DUE_TO_STOP in codes,
    )


class TelnyxProvider(SelfDescribingWebhooks):
    """The Telnyx adapter as a `Provider`."""

    name = NAME

    def verify_and_parse_body(
        self,
        headers: Mapping[str, str],
        raw_body: bytes,
        credentials: Credentials,
        now: float | None,
    ) -> list[WebhookEvent]:
        verify(headers, raw_body, credentials, now=now)
        return parse(load_json_object(raw_body, NAME))

    def send(
        self,
        client: httpx.Client,
        request: SendRequest,
        credentials: Credentials,
        base_url: str | None = None,
    ) -> SendResult:
        api_key = credentials.get("api_key") or ""
        if not api_key:
            raise ProviderError("telnyx: credentials need api_key", provider=NAME)
        payload: dict[str, str] = {"to": request.to, "text": request.body}
        if request.from_address:  # without one, Telnyx picks from the messaging profile's pool
            payload["from"] = request.from_address
        if credentials.get("messaging_profile_id"):
            payload["messaging_profile_id"] = credentials["messaging_profile_id"]
        if request.status_callback:
            payload["webhook_url"] = request.status_callback
        headers = {"Authorization": f"Bearer {api_key}", "Accept": "application/json"}
        # Telnyx refuses keys outside its documented pattern, so such a key is left out rather
        # than failing the send (the generic contract and Vonage's client_ref have other limits).
        if _IDEMPOTENCY_KEY.match(request.idempotency_key):
            headers["Idempotency-Key"] = request.idempotency_key
        response, data = post_and_read(
            client,
            NAME,
            join_url(base_url or DEFAULT_BASE_URL, "/v2/messages"),
            _refusal,
            json=payload,
            headers=headers,
        )
        message = json_member(data, "data")
        message_id = accepted_id(NAME, response, json_member(message, "id"))
        status = _recipient(message).get("status")
        return SendResult(
            provider_message_id=message_id,
            status="sent" if status in ("sent", "delivered") else "queued",
        )


PROVIDER: Provider = TelnyxProvider()  # annotated so mypy checks the protocol
