"""The plain types every SMS provider adapter speaks, the registry, and their shared checks.

Adapters are pure: they verify and parse what a provider sends us, and hand one message to a
provider's HTTP API through an `httpx.Client` the caller owns (pooling and timeouts are the
caller's). They never touch the store or the services; the web layer and the worker call them.

Credentials are a plain ``dict[str, str]`` per provider; the keys each adapter reads:

- ``twilio``: ``account_sid``, ``auth_token``
- ``telnyx``: ``api_key``, ``public_key`` (base64 Ed25519), ``messaging_profile_id`` (optional)
- ``vonage``: ``api_key``, ``api_secret``, ``signature_secret``; ``application_id`` and
  ``private_key`` (PEM) to send with a JWT instead of basic auth
- ``generic``: ``secret``, ``send_url`` (optional if a base URL is passed to ``send``)
- ``console``: none to send; ``secret`` only to accept simulated webhooks
- ``aws``: ``access_key_id``, ``secret_access_key``, ``region``, ``sns_topic_arn``;
  ``opt_out_list`` and ``configuration_set`` (optional)
"""

from __future__ import annotations

import abc
import hashlib
import hmac
import importlib
import json
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol, TypeGuard

import httpx

from stopline.domain.errors import StoplineError

Credentials = Mapping[str, str]
"""A provider's secrets and identifiers, keyed as listed in this module's docstring."""

MessageStatus = Literal["sent", "delivered", "failed"]
SendStatus = Literal["sent", "queued"]

# Replay window for timestamped signatures: Telnyx's and Stripe-style schemes both use 5 minutes.
DEFAULT_TOLERANCE_SECONDS = 300

PROVIDER_NAMES = ("twilio", "telnyx", "vonage", "generic", "console", "aws")


@dataclass(frozen=True)
class InboundMessage:
    """A text someone sent to one of our numbers, as the provider reported it."""

    provider: str
    provider_message_id: str
    from_number: str  # raw, as sent: the domain normalises it
    to_address: str  # raw: a number, short code or messaging-service address
    body: str
    received_at: datetime | None = None
    opt_out_type: str | None = None  # Twilio Advanced Opt-Out: STOP, START or HELP
    # The provider's messaging service the recipient number belongs to (Twilio's
    # MessagingServiceSid), when it names one: a channel may be the whole service.
    messaging_service: str | None = None
    # Further recipients of a group message (Telnyx lists every `to` and `cc`): any of them
    # may be the channel's number.
    also_to: tuple[str, ...] = ()
    media_urls: tuple[str, ...] = ()
    raw: Mapping[str, Any] = field(default_factory=dict, hash=False, compare=False)


@dataclass(frozen=True)
class StatusUpdate:
    """A provider's news about a message we sent, mapped to stopline's statuses."""

    provider: str
    provider_message_id: str
    status: MessageStatus | None  # None: an intermediate state worth no transition
    error_code: str | None = None  # the provider's own code, kept verbatim
    recipient_opted_out: bool = False  # the provider refused because the recipient said STOP
    raw: Mapping[str, Any] = field(default_factory=dict, hash=False, compare=False)


WebhookEvent = InboundMessage | StatusUpdate


@dataclass(frozen=True)
class SendRequest:
    """One message to hand to a provider."""

    to: str  # E.164
    from_address: str  # a number, short code, alphanumeric sender or messaging service id
    body: str
    idempotency_key: str
    status_callback: str | None = None


@dataclass(frozen=True)
class SendResult:
    """What the provider answered when it accepted the message."""

    provider_message_id: str
    status: SendStatus


class ProviderError(StoplineError):
    """A provider refused or was unreachable; `retryable` says whether trying again may help."""

    code = "provider_error"

    def __init__(
        self,
        message: str,
        *,
        provider: str,
        provider_code: str | None = None,
        http_status: int | None = None,
        retryable: bool = False,
        recipient_opted_out: bool = False,
    ) -> None:
        super().__init__(
            message,
            provider=provider,
            provider_code=provider_code,
            http_status=http_status,
            retryable=retryable,
            recipient_opted_out=recipient_opted_out,
        )
        self.provider = provider
        self.provider_code = provider_code
        self.http_status = http_status
        self.retryable = retryable
        self.recipient_opted_out = recipient_opted_out


WebhookRejectionCode = Literal[
    "webhook_signature_invalid", "webhook_stale", "webhook_malformed", "webhook_wrong_recipient"
]


class WebhookRejected(StoplineError):
    """A webhook we will not act on: forged (403), replayed (403), unreadable (400), or genuine
    but addressed to another account or number than the channel it was posted to (403)."""

    code = "webhook_signature_invalid"

    def __init__(self, message: str, *, code: WebhookRejectionCode = "webhook_signature_invalid"):
        super().__init__(message, code=code)


class Provider(Protocol):
    """What the web layer and the worker need from an SMS provider adapter."""

    name: str

    def verify_and_parse_inbound(
        self,
        url: str,
        headers: Mapping[str, str],
        raw_body: bytes,
        credentials: Credentials,
        *,
        now: float | None = None,
    ) -> list[WebhookEvent]:
        """Verify a request to the inbound-message webhook and return what it reports.

        `url` is the full URL the provider requested (scheme, host, path and query), `headers`
        has lowercased keys, `now` (unix seconds) is for tests. Providers whose payload names
        its own kind (Telnyx, Vonage, generic, console) may return status updates here too.
        Raises `WebhookRejected` and nothing else.
        """
        ...

    def verify_and_parse_status(
        self,
        url: str,
        headers: Mapping[str, str],
        raw_body: bytes,
        credentials: Credentials,
        *,
        now: float | None = None,
    ) -> list[WebhookEvent]:
        """Verify a request to the status-callback webhook; same contract as the inbound one."""
        ...

    def reply_body(self, texts: Sequence[str]) -> tuple[str, bytes] | None:
        """A synchronous webhook response carrying `texts` as replies: (content type, body).

        None means the provider cannot reply in the webhook response; queue the texts instead.
        """
        ...

    def send(
        self,
        client: httpx.Client,
        request: SendRequest,
        credentials: Credentials,
        base_url: str | None = None,
    ) -> SendResult:
        """Hand one message to the provider; raises `ProviderError`."""
        ...


def get_provider(name: str) -> Provider:
    """The adapter registered under `name` (twilio, telnyx, vonage, generic, console)."""
    if name not in PROVIDER_NAMES:
        raise StoplineError(f"unknown SMS provider {name!r}", code="unknown_provider")
    # Imported lazily: adapter modules import this one.
    module = importlib.import_module(f"stopline.providers.{name}")
    provider: Provider = module.PROVIDER
    return provider


class SelfDescribingWebhooks(abc.ABC):
    """The webhook half of an adapter whose signed JSON bodies say what they are (Telnyx, Vonage,
    generic, console).

    One provider URL may receive every kind of event (Telnyx sends all of a messaging profile's
    events to one URL; Vonage, generic and console bodies name their kind), so the inbound and the
    status endpoint verify and parse alike. None of these can reply in the webhook response:
    Telnyx's and Vonage's webhooks cannot carry a reply, and the generic contract (which the
    console speaks) has no synchronous replies; stopline sends confirmations through `send`.
    Twilio is not one of these: its two endpoints differ and it answers in TwiML.
    """

    name: str

    @abc.abstractmethod
    def verify_and_parse_body(
        self,
        headers: Mapping[str, str],
        raw_body: bytes,
        credentials: Credentials,
        now: float | None,
    ) -> list[WebhookEvent]:
        """Verify a webhook's signature and return what its body reports; per adapter."""

    def verify_and_parse_inbound(
        self,
        url: str,
        headers: Mapping[str, str],
        raw_body: bytes,
        credentials: Credentials,
        *,
        now: float | None = None,
    ) -> list[WebhookEvent]:
        return self.verify_and_parse_body(headers, raw_body, credentials, now)

    def verify_and_parse_status(
        self,
        url: str,
        headers: Mapping[str, str],
        raw_body: bytes,
        credentials: Credentials,
        *,
        now: float | None = None,
    ) -> list[WebhookEvent]:
        return self.verify_and_parse_body(headers, raw_body, credentials, now)

    def reply_body(self, texts: Sequence[str]) -> tuple[str, bytes] | None:
        return None


# ---------------------------------------------------------------------------------------------
# Shared checks for the adapters. Public so each adapter stays small; not part of the Provider
# contract.


def header(headers: Mapping[str, str], name: str) -> str | None:
    """A header value by lowercased name, tolerating callers that did not lowercase keys."""
    value = headers.get(name)
    if value is not None:
        return value
    for key, candidate in headers.items():
        if key.lower() == name:
            return candidate
    return None


def required_secret(credentials: Credentials, key: str, provider: str) -> str:
    """A credential needed to verify a webhook; a missing one rejects rather than accepts."""
    value = credentials.get(key)
    if not isinstance(value, str) or not value:
        raise WebhookRejected(f"{provider} credentials have no {key}; cannot verify webhooks")
    return value


def current_time(now: float | None) -> float:
    """`now` (unix seconds) when a caller such as a test gives it, else the wall clock."""
    return time.time() if now is None else now


def is_number(value: object) -> TypeGuard[int | float]:
    """An int or a float, but not a bool (JSON's true and false are not numbers)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def is_unix_seconds(text: str) -> bool:
    """A signature header's timestamp: ASCII digits only (no sign, no fraction), at most 12."""
    return text.isascii() and text.isdigit() and len(text) <= 12


def check_fresh(timestamp: float, now: float | None, tolerance: float, what: str) -> None:
    """Reject a signed timestamp outside the replay window, in either direction."""
    if abs(current_time(now) - timestamp) > tolerance:
        raise WebhookRejected(
            f"{what} is outside the {int(tolerance)} s replay window", code="webhook_stale"
        )


def hmac_sha256_hex(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def digests_match(expected: Iterable[str], presented: Iterable[str]) -> bool:
    """Whether any presented digest equals any expected one, compared in constant time.

    Every pair is compared, with no early exit, so timing does not reveal which one matched.
    Presented values come from request headers or claims and may hold lone surrogates.
    """
    candidates = [value.encode("utf-8", "surrogatepass") for value in presented]
    matched = False
    for value in expected:
        for candidate in candidates:
            matched |= hmac.compare_digest(value.encode(), candidate)
    return matched


def body_sha256_matches(raw_body: bytes, presented: str) -> bool:
    """Whether `presented` is the SHA-256 (hex) of the exact body bytes."""
    return digests_match([hashlib.sha256(raw_body).hexdigest()], [presented])


def load_json_object(raw_body: bytes, provider: str) -> dict[str, Any]:
    """The body as a JSON object, or a `webhook_malformed` rejection."""
    try:
        value = json.loads(raw_body)
    except (ValueError, RecursionError) as exc:
        raise WebhookRejected(
            f"{provider} webhook body is not JSON", code="webhook_malformed"
        ) from exc
    if not isinstance(value, dict):
        raise WebhookRejected(
            f"{provider} webhook body is not a JSON object", code="webhook_malformed"
        )
    return value


def malformed(provider: str, what: str) -> WebhookRejected:
    return WebhookRejected(f"{provider} webhook {what}", code="webhook_malformed")


def provider_id(
    data: Mapping[str, Any], key: str, pattern: re.Pattern[str], provider: str, what: str
) -> str:
    """A provider's id in its documented format, required: anything else is `webhook_malformed`.

    Fixed formats are what keep signed fields from being re-partitioned (Twilio signs names and
    values run together): an id that cannot grow or shrink cannot swallow its neighbour, so a
    replay must repeat it and is caught as a duplicate.
    """
    value = data.get(key)
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise malformed(provider, f"has no {key!r} in the documented format ({what})")
    return value


UUID_PATTERN = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)
"""A UUID in its canonical 8-4-4-4-12 text (Telnyx's and Vonage's message and event ids)."""


def text_field(data: Mapping[str, Any], key: str, provider: str, *, required: bool = True) -> str:
    """A string field of a payload; numbers are accepted as their text (ids sometimes are)."""
    value = data.get(key)
    if isinstance(value, str):
        if required and not value:
            raise malformed(provider, f"has an empty {key!r}")
        return value
    if is_number(value):
        return str(value)
    if value is None and not required:
        return ""
    raise malformed(provider, f"has no usable {key!r}")


def parse_timestamp(value: Any) -> datetime | None:
    """An ISO 8601 string or unix seconds as an aware UTC datetime; None when absent or odd.

    A bad timestamp is not worth losing a STOP over, so it degrades to None.
    """
    if is_number(value):
        try:
            return datetime.fromtimestamp(float(value), tz=UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if not isinstance(value, str) or not value:
        return None
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


# --- sending ---------------------------------------------------------------------------------


def is_retryable_status(http_status: int) -> bool:
    """Rate limits and server errors may pass on a later try; other refusals will not."""
    return http_status == 429 or http_status >= 500


def post(
    client: httpx.Client,
    provider: str,
    url: str,
    **kwargs: Any,
) -> httpx.Response:
    """POST through the caller's client, turning transport failures into `ProviderError`."""
    try:
        return client.post(url, **kwargs)
    except httpx.UnsupportedProtocol as exc:
        raise ProviderError(
            f"{provider}: unusable API URL {url!r}", provider=provider, retryable=False
        ) from exc
    except httpx.TimeoutException as exc:
        raise ProviderError(
            f"{provider}: timed out ({type(exc).__name__})", provider=provider, retryable=True
        ) from exc
    except httpx.TransportError as exc:
        raise ProviderError(
            f"{provider}: could not reach the API ({type(exc).__name__})",
            provider=provider,
            retryable=True,
        ) from exc
    except httpx.InvalidURL as exc:
        raise ProviderError(
            f"{provider}: invalid API URL {url!r}", provider=provider, retryable=False
        ) from exc
    except httpx.HTTPError as exc:
        raise ProviderError(
            f"{provider}: HTTP error ({type(exc).__name__})", provider=provider, retryable=False
        ) from exc


def response_json(response: httpx.Response) -> Any:
    """The response body as JSON, or None when it is not JSON."""
    try:
        return response.json()
    except (ValueError, UnicodeDecodeError):
        return None


@dataclass(frozen=True)
class Refusal:
    """What a provider's error answer says, read by each adapter from its own error format."""

    code: str | None = None  # the provider's own code, kept verbatim
    message: str | None = None  # None: the HTTP reason phrase
    recipient_opted_out: bool = False


def refused(provider: str, response: httpx.Response, refusal: Refusal) -> ProviderError:
    """A non-2xx answer as a `ProviderError`; only the HTTP status decides `retryable`."""
    message = refusal.message if refusal.message is not None else response.reason_phrase or "error"
    return ProviderError(
        f"{provider}: HTTP {response.status_code}: {message}",
        provider=provider,
        provider_code=refusal.code,
        http_status=response.status_code,
        retryable=is_retryable_status(response.status_code),
        recipient_opted_out=refusal.recipient_opted_out,
    )


def post_and_read(
    client: httpx.Client,
    provider: str,
    url: str,
    read_refusal: Callable[[Any], Refusal],
    **kwargs: Any,
) -> tuple[httpx.Response, Any]:
    """POST (see `post`) and return the 2xx answer with its JSON body (None when not JSON).

    Any other answer raises `refused`, with what `read_refusal` makes of its JSON body.
    """
    response = post(client, provider, url, **kwargs)
    data = response_json(response)
    if not response.is_success:
        raise refused(provider, response, read_refusal(data))
    return response, data


def json_member(value: Any, key: str) -> Any:
    """`value[key]` when `value` is a JSON object, else None."""
    return value.get(key) if isinstance(value, dict) else None


def accepted_id(provider: str, response: httpx.Response, value: Any) -> str:
    """The message id a 2xx answer carried; a missing or empty one is `accepted_without_id`."""
    if not isinstance(value, str) or not value:
        raise accepted_without_id(provider, response)
    return value


def accepted_without_id(provider: str, response: httpx.Response) -> ProviderError:
    """A 2xx we cannot read. The message may have gone out, so retrying could send it twice."""
    return ProviderError(
        f"{provider}: accepted the message (HTTP {response.status_code}) but its answer has no "
        "message id",
        provider=provider,
        http_status=response.status_code,
        retryable=False,
    )


def join_url(base_url: str, path: str) -> str:
    return base_url.rstrip("/") + path
