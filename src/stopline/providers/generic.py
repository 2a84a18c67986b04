"""stopline's own signed JSON webhook and send contract, for SMS gateways we have no adapter for.

This contract is public: gateways implement it, so change it only compatibly.

Webhooks (gateway -> stopline), ``POST`` with ``Content-Type: application/json``:

- An inbound message::

      {"id": "gw-123", "from": "+14155550100", "to": "+14155550199",
       "text": "STOP", "timestamp": "2026-01-02T03:04:05Z"}

  ``id``, ``from`` and ``to`` are required strings (``id``: 1 to 128 printable ASCII
  characters without spaces, or an integer; it is how a redelivery is recognised), ``text`` a string (may be empty),
  ``timestamp`` optional (ISO 8601, or unix seconds), ``media_urls`` an optional list of URLs.
- A status of a message stopline sent (it has a ``status`` key)::

      {"id": "gw-456", "status": "delivered", "error_code": null}

  ``status`` is one of ``queued``, ``sent``, ``delivered``, ``failed`` (``undelivered`` and
  ``rejected`` are read as ``failed``); ``error_code`` an optional string of the gateway's own;
  ``recipient_opted_out`` an optional boolean, true when the carrier or gateway refused the
  message because the recipient opted out (``error_code: "recipient_opted_out"`` says the same).

Every webhook carries ``X-Stopline-Signature: t=<unix seconds>,v1=<hex>`` where ``<hex>`` is
HMAC-SHA256 keyed with the shared secret over ``f"{t}.{raw body}"`` (the exact bytes sent).
``t`` is digits only, so the first ``.`` ends it and the signed bytes read back one way only.
Several ``v1=`` entries may be given while a secret is rotated; one must match. Requests whose
``t`` is more than 300 seconds from stopline's clock are refused as replays.

Sending (stopline -> gateway): ``POST <send_url>`` with JSON ``{"to", "from", "text",
"idempotency_key", "status_callback"}``, an ``Idempotency-Key`` header with the same key (a
retry of one message always reuses it), and ``X-Stopline-Signature`` signed as above so the
gateway can check it came from us. Answer 2xx with ``{"id": "<gateway message id>", "status":
"queued" | "sent"}``. Refuse with 4xx (a final "no") or 5xx/429 (try again later) and a body
``{"error": {"code": "...", "message": "..."}}``; code ``recipient_opted_out`` says the
recipient has opted out at the gateway.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from typing import Any

import httpx

from stopline.providers.base import (
    DEFAULT_TOLERANCE_SECONDS,
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
    digests_match,
    header,
    hmac_sha256_hex,
    is_unix_seconds,
    json_member,
    load_json_object,
    malformed,
    parse_timestamp,
    post_and_read,
    required_secret,
    text_field,
)

NAME = "generic"
SIGNATURE_HEADER = "x-stopline-signature"
RECIPIENT_OPTED_OUT = "recipient_opted_out"

_STATUSES: dict[str, MessageStatus | None] = {
    "queued": None,
    "sent": "sent",
    "delivered": "delivered",
    "failed": "failed",
    "undelivered": "failed",
    "rejected": "failed",
}


# Printable ASCII, no spaces, bounded: an id is a key for de-duplication, never free text.
GATEWAY_ID = re.compile(r"[\x21-\x7e]{1,128}")


def message_id_of(body: Mapping[str, Any], provider: str = NAME) -> str:
    """The gateway's message id (a string, or an integer as its text), well-formed or refused."""
    value = body.get("id")
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not GATEWAY_ID.fullmatch(value):
        raise malformed(provider, "has no 'id' of 1-128 printable ASCII characters")
    return value


def sign(secret: str, raw_body: bytes, timestamp: int | None = None) -> str:
    """The X-Stopline-Signature value for `raw_body` at `timestamp` (default: now)."""
    t = int(time.time()) if timestamp is None else timestamp
    return f"t={t},v1={hmac_sha256_hex(secret, f'{t}.'.encode() + raw_body)}"


def _parse_signature_header(value: str) -> tuple[str, list[str]]:
    timestamp = ""
    signatures: list[str] = []
    for part in value.split(","):
        key, sep, item = part.strip().partition("=")
        if not sep:
            continue
        if key == "t":
            timestamp = item.strip()
        elif key == "v1":
            signatures.append(item.strip())
    return timestamp, signatures


def verify(
    headers: Mapping[str, str],
    raw_body: bytes,
    credentials: Credentials,
    *,
    now: float | None = None,
    tolerance: float = DEFAULT_TOLERANCE_SECONDS,
    provider: str = NAME,
) -> None:
    """Check X-Stopline-Signature and its replay window; raise `WebhookRejected` if either fails."""
    secret = required_secret(credentials, "secret", provider)
    value = header(headers, SIGNATURE_HEADER)
    if not value:
        raise WebhookRejected(f"{provider} webhook has no X-Stopline-Signature")
    timestamp, signatures = _parse_signature_header(value)
    if not signatures or not is_unix_seconds(timestamp):
        raise WebhookRejected(f"{provider} X-Stopline-Signature is not t=<unix>,v1=<hex>")
    expected = hmac_sha256_hex(secret, timestamp.encode("ascii") + b"." + raw_body)
    # Several v1= entries while a secret is rotated: one must match, hex in either case.
    if not digests_match([expected], [candidate.lower() for candidate in signatures]):
        raise WebhookRejected(f"{provider} webhook signature does not match")
    check_fresh(int(timestamp), now, tolerance, "X-Stopline-Signature t")


def parse(body: Mapping[str, Any], provider: str = NAME) -> list[WebhookEvent]:
    """A verified webhook body as one stopline event: a status if it has one, else an inbound."""
    message_id = message_id_of(body, provider)
    if "status" in body:
        raw_status = body.get("status")
        if not isinstance(raw_status, str) or raw_status.lower() not in _STATUSES:
            raise malformed(provider, f"has an unknown status {raw_status!r}")
        error_code = body.get("error_code")
        error_code = (
            str(error_code) if isinstance(error_code, str | int) and error_code != "" else None
        )
        opted_out = body.get("recipient_opted_out") is True or error_code == RECIPIENT_OPTED_OUT
        return [
            StatusUpdate(
                provider=provider,
                provider_message_id=message_id,
                status=_STATUSES[raw_status.lower()],
                error_code=error_code,
                recipient_opted_out=opted_out,
                raw=body,
            )
        ]

    text = body.get("text", "")
    if not isinstance(text, str):
        raise malformed(provider, "has a non-string 'text'")
    media = body.get("media_urls", [])
    if not isinstance(media, list) or not all(isinstance(url, str) for url in media):
        raise malformed(provider, "has 'media_urls' that is not a list of strings")
    return [
        InboundMessage(
            provider=provider,
            provider_message_id=message_id,
            from_number=text_field(body, "from", provider),
            to_address=text_field(body, "to", provider),
            body=text,
            received_at=parse_timestamp(body.get("timestamp")),
            media_urls=tuple(media),
            raw=body,
        )
    ]


def verify_and_parse(
    headers: Mapping[str, str],
    raw_body: bytes,
    credentials: Credentials,
    *,
    now: float | None = None,
    provider: str = NAME,
) -> list[WebhookEvent]:
    verify(headers, raw_body, credentials, now=now, provider=provider)
    return parse(load_json_object(raw_body, provider), provider)


def _refusal(data: Any) -> Refusal:
    """The contract's error body ``{"error": {"code", "message"}}``, or those keys at the top."""
    error = json_member(data, "error")
    if not isinstance(error, dict):
        error = data if isinstance(data, dict) else {}
    code = str(error["code"]) if isinstance(error.get("code"), str | int) else None
    return Refusal(
        code=code,
        message=error["message"] if isinstance(error.get("message"), str) else None,
        recipient_opted_out=code == RECIPIENT_OPTED_OUT,
    )


class GenericProvider(SelfDescribingWebhooks):
    """The generic signed-JSON gateway adapter as a `Provider`."""

    name = NAME

    def verify_and_parse_body(
        self,
        headers: Mapping[str, str],
        raw_body: bytes,
        credentials: Credentials,
        now: float | None,
    ) -> list[WebhookEvent]:
        return verify_and_parse(headers, raw_body, credentials, now=now)

    def send(
        self,
        client: httpx.Client,
        request: SendRequest,
        credentials: Credentials,
        base_url: str | None = None,
    ) -> SendResult:
        url = base_url or credentials.get("send_url") or ""
        secret = credentials.get("secret") or ""
        if not url or not secret:
            raise ProviderError("generic: credentials need secret and send_url", provider=NAME)
        body = json.dumps(
            {
                "to": request.to,
                "from": request.from_address,
                "text": request.body,
                "idempotency_key": request.idempotency_key,
                "status_callback": request.status_callback,
            },
            separators=(",", ":"),
        ).encode()
        headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "X-Stopline-Signature": sign(secret, body),
        }
        key = request.idempotency_key
        if key and key.isascii() and key.isprintable():  # header values must be plain ASCII
            headers["Idempotency-Key"] = key
        response, data = post_and_read(client, NAME, url, _refusal, content=body, headers=headers)
        message_id = json_member(data, "id")
        # The contract also accepts an integer id; the other adapters take string ids only.
        if isinstance(message_id, int) and not isinstance(message_id, bool):
            message_id = str(message_id)
        # The contract answers "queued" or "sent"; anything else is read as "queued".
        return SendResult(
            provider_message_id=accepted_id(NAME, response, message_id),
            status="sent" if data.get("status") == "sent" else "queued",
        )


PROVIDER: Provider = GenericProvider()  # annotated so mypy checks the protocol
