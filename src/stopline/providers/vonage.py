"""Vonage Messages API (v1): verify and parse its signed JSON webhooks, send an SMS via REST.

Facts carried over from Vonage's documentation:

- Inbound webhooks are JSON ``{message_uuid, to, from, channel: "sms", message_type: "text",
  text, timestamp, ...}``; status webhooks are JSON ``{message_uuid, to, from, timestamp,
  status, error: {type, title, detail, instance}, ...}`` with status ``submitted``,
  ``delivered``, ``rejected``, ``undeliverable`` (older texts: ``undelivered``, ``failed``) or
  ``read``. Numbers are E.164 digits without the leading ``+``.
- Signed webhooks: ``Authorization: Bearer <JWT>``, HS256 with the account's signature secret.
  Claims: ``iat`` (unix seconds), ``jti``, ``iss`` (always ``"Vonage"``), ``payload_hash``
  (SHA-256 hex of the raw body), ``api_key``, and optionally ``application_id``. We check the
  signature, the issuer, the api_key (when configured), the body hash, and that ``iat`` is
  within a 5-minute window (Vonage says the signature "defends against interception and later
  replay"; the window is what makes that true).
- Sending: ``POST {base}/v1/messages`` with basic auth (api_key:api_secret) or a bearer JWT
  (RS256 with the application's private key, claims ``application_id``, ``iat``, ``jti``,
  ``exp``); JSON ``{message_type: "text", text, to, from, channel: "sms", client_ref?,
  webhook_url?}``; the answer is 202 ``{"message_uuid"}``; errors are RFC 7807
  ``{type, title, detail, instance}``.
- A send to a number that opted out is accepted (202) and later reported as a ``rejected``
  status; the error code for that case is not confirmed, so we recognise it by its words.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import httpx
import jwt

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
    body_sha256_matches,
    check_fresh,
    current_time,
    header,
    is_number,
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

NAME = "vonage"
DEFAULT_BASE_URL = "https://api.nexmo.com"
ISSUER = "Vonage"
CLIENT_REF_MAX = 40  # the Messages API's documented client_ref limit
SEND_JWT_LIFETIME_SECONDS = 900

_STATUSES: dict[str, MessageStatus] = {
    # "submitted": handed to the carrier, Vonage's counterpart of Twilio's "sent".
    "submitted": "sent",
    "delivered": "delivered",
    "read": "delivered",
    "rejected": "failed",
    "undeliverable": "failed",
    "undelivered": "failed",
    "failed": "failed",
}
_MEDIA_TYPES = ("image", "audio", "video", "file", "vcard")
_OPTED_OUT_WORDS = ("opted out", "opted-out", "opt out", "unsubscribed")


def verify(
    headers: Mapping[str, str],
    raw_body: bytes,
    credentials: Credentials,
    *,
    now: float | None = None,
    tolerance: float = DEFAULT_TOLERANCE_SECONDS,
) -> dict[str, Any]:
    """Check the webhook's bearer JWT against the body; return its claims."""
    secret = required_secret(credentials, "signature_secret", NAME)
    authorization = header(headers, "authorization") or ""
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise WebhookRejected("vonage webhook has no bearer JWT")
    try:
        claims = jwt.decode(
            token.strip(),
            secret,
            algorithms=["HS256"],
            # Time is checked below against `now`; the library would use the wall clock.
            options={
                "require": ["iat", "payload_hash"],
                "verify_exp": False,
                "verify_iat": False,
                "verify_nbf": False,
                "verify_aud": False,
                "verify_iss": False,
            },
        )
    except jwt.InvalidTokenError as exc:
        raise WebhookRejected(f"vonage webhook JWT is invalid ({type(exc).__name__})") from exc
    except (ValueError, TypeError) as exc:  # odd headers PyJWT does not classify
        raise WebhookRejected("vonage webhook JWT is unreadable") from exc

    if claims.get("iss") != ISSUER:
        raise WebhookRejected("vonage webhook JWT was not issued by Vonage")
    expected_key = credentials.get("api_key")
    if expected_key and claims.get("api_key") not in (None, expected_key):
        raise WebhookRejected("vonage webhook JWT belongs to another api_key")
    payload_hash = claims.get("payload_hash")
    # Lowercased before comparing, unlike Twilio's bodySHA256, which is compared as given.
    if not isinstance(payload_hash, str) or not body_sha256_matches(raw_body, payload_hash.lower()):
        raise WebhookRejected("vonage webhook body does not match the JWT's payload_hash")
    issued_at = claims.get("iat")
    if not is_number(issued_at):
        raise WebhookRejected("vonage webhook JWT has no numeric iat")
    check_fresh(float(issued_at), now, tolerance, "vonage JWT iat")
    # Unlike Telnyx's and the generic scheme, a Vonage JWT may also carry its own expiry.
    expires = claims.get("exp")
    if is_number(expires) and expires < current_time(now):
        raise WebhookRejected("vonage webhook JWT has expired", code="webhook_stale")
    return claims


def _error_code(error: Mapping[str, Any]) -> str | None:
    """Vonage's code for an RFC 7807 error: a numeric title, else the type's fragment."""
    title = error.get("title")
    if isinstance(title, int) and not isinstance(title, bool):
        return str(title)
    if isinstance(title, str) and title.strip().isdigit():
        return title.strip()
    kind = error.get("type")
    if isinstance(kind, str) and "#" in kind:
        return kind.rsplit("#", 1)[1] or None
    if isinstance(title, str) and title:
        return title
    return None


def _says_opted_out(error: Mapping[str, Any]) -> bool:
    words = " ".join(str(error.get(key) or "") for key in ("title", "detail")).lower()
    return any(phrase in words for phrase in _OPTED_OUT_WORDS)


def parse(body: Mapping[str, Any]) -> list[WebhookEvent]:
    """A verified webhook body as stopline events: a status if it has one, else an inbound."""
    # Vonage's message_uuid is a UUID; its JWT covers the body's hash, so the body cannot be
    # re-cut, but an id that could be anything is refused rather than trusted.
    message_id = provider_id(body, "message_uuid", UUID_PATTERN, NAME, "a UUID")
    if "status" in body:
        raw_status = body.get("status")
        error = body.get("error")
        error = error if isinstance(error, dict) else {}
        return [
            StatusUpdate(
                provider=NAME,
                provider_message_id=message_id,
                status=_STATUSES.get(raw_status) if isinstance(raw_status, str) else None,
                error_code=_error_code(error) if error else None,
                recipient_opted_out=_says_opted_out(error) if error else False,
                raw=body,
            )
        ]

    sender = text_field(body, "from", NAME)
    message_type = body.get("message_type")
    text = body.get("text")
    media: list[str] = []
    if isinstance(message_type, str) and message_type in _MEDIA_TYPES:
        item = body.get(message_type)
        if isinstance(item, dict) and isinstance(item.get("url"), str) and item["url"]:
            media.append(item["url"])
        if not isinstance(text, str) and isinstance(item, dict):
            text = item.get("caption")
    elif message_type not in (None, "text"):
        raise malformed(NAME, f"has an unsupported message_type {message_type!r}")
    return [
        InboundMessage(
            provider=NAME,
            provider_message_id=message_id,
            from_number=sender,
            to_address=text_field(body, "to", NAME),
            body=text if isinstance(text, str) else "",
            received_at=parse_timestamp(body.get("timestamp")),
            media_urls=tuple(media),
            raw=body,
        )
    ]


def _auth(credentials: Credentials, now: float | None = None) -> dict[str, Any]:
    """httpx keyword arguments authenticating a send: basic auth, else an application JWT."""
    api_key = credentials.get("api_key") or ""
    api_secret = credentials.get("api_secret") or ""
    if api_key and api_secret:
        return {"auth": (api_key, api_secret)}
    application_id = credentials.get("application_id") or ""
    private_key = credentials.get("private_key") or ""
    if application_id and private_key:
        issued = int(current_time(now))
        try:
            token = jwt.encode(
                {
                    "application_id": application_id,
                    "iat": issued,
                    "jti": str(uuid.uuid4()),
                    "exp": issued + SEND_JWT_LIFETIME_SECONDS,
                },
                private_key,
                algorithm="RS256",
            )
        except (ValueError, TypeError, jwt.PyJWTError) as exc:
            raise ProviderError(
                "vonage: private_key is not a usable RSA key", provider=NAME
            ) from exc
        return {"headers": {"Authorization": f"Bearer {token}"}}
    raise ProviderError(
        "vonage: credentials need api_key and api_secret, or application_id and private_key",
        provider=NAME,
    )


def _refusal(data: Any) -> Refusal:
    """Vonage's RFC 7807 error body: ``{type, title, detail, instance}``."""
    if not isinstance(data, dict):
        return Refusal()
    words = data.get("detail") or data.get("title")
    return Refusal(
        code=_error_code(data),
        message=str(words) if words else None,
        recipient_opted_out=_says_opted_out(data),
    )


class VonageProvider(SelfDescribingWebhooks):
    """The Vonage adapter as a `Provider`."""

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
        auth = _auth(credentials)
        payload: dict[str, str] = {
            "message_type": "text",
            "channel": "sms",
            # Vonage wants E.164 digits without the "+"; alphanumeric senders pass unchanged.
            "to": request.to.removeprefix("+"),
            "from": request.from_address.removeprefix("+"),
            "text": request.body,
        }
        # The idempotency key travels as client_ref, and only within Vonage's length limit.
        if 0 < len(request.idempotency_key) <= CLIENT_REF_MAX:
            payload["client_ref"] = request.idempotency_key
        if request.status_callback:
            payload["webhook_url"] = request.status_callback
        headers = {"Accept": "application/json", **auth.pop("headers", {})}
        response, data = post_and_read(
            client,
            NAME,
            join_url(base_url or DEFAULT_BASE_URL, "/v1/messages"),
            _refusal,
            json=payload,
            headers=headers,
            **auth,
        )
        message_id = accepted_id(NAME, response, json_member(data, "message_uuid"))
        # Vonage's 202 says only that the message was accepted; statuses come by webhook.
        return SendResult(provider_message_id=message_id, status="queued")


PROVIDER: Provider = VonageProvider()  # annotated so mypy checks the protocol
