"""Twilio Programmable Messaging: verify and parse its webhooks, answer in TwiML, send via REST.

Facts carried over from Twilio's documentation:

- Webhooks are ``application/x-www-form-urlencoded`` POSTs (or GETs with the same parameters in
  the query). Inbound: ``MessageSid``, ``SmsSid``, ``AccountSid``, ``MessagingServiceSid``,
  ``From``, ``To``, ``Body``, ``NumMedia``, ``MediaUrl{N}``/``MediaContentType{N}``, and
  ``OptOutType`` (``STOP``/``START``/``HELP``) when the number sits in a Messaging Service with
  Advanced Opt-Out. Status callbacks: ``MessageSid``, ``MessageStatus``, ``ErrorCode``.
- ``X-Twilio-Signature`` is base64(HMAC-SHA1(auth token, URL + every POST parameter's name and
  value, sorted by name)). The URL is the exact one Twilio requested, query string included.
  Twilio's own validators try the URL both with and without the scheme's standard port,
  because Twilio's signer is inconsistent about it; so do we. JSON-bodied webhooks carry
  ``bodySHA256`` in the query instead and sign the URL alone.
- Sending: ``POST {base}/2010-04-01/Accounts/{AccountSid}/Messages.json`` with basic auth
  (AccountSid:AuthToken) and form fields ``To``, ``From`` or ``MessagingServiceSid``, ``Body``,
  ``StatusCallback``. Errors are JSON ``{code, message, more_info, status}``; code 21610 means
  the recipient replied STOP to this sender.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlsplit, urlunsplit
from xml.sax.saxutils import escape

import httpx

from stopline.providers.base import (
    Credentials,
    InboundMessage,
    MessageStatus,
    Provider,
    ProviderError,
    Refusal,
    SendRequest,
    SendResult,
    SendStatus,
    StatusUpdate,
    WebhookEvent,
    WebhookRejected,
    accepted_id,
    body_sha256_matches,
    digests_match,
    header,
    join_url,
    json_member,
    malformed,
    post_and_read,
    provider_id,
    required_secret,
)

NAME = "twilio"
DEFAULT_BASE_URL = "https://api.twilio.com"
SIGNATURE_HEADER = "x-twilio-signature"
RECIPIENT_UNSUBSCRIBED = "21610"  # "Attempt to send to unsubscribed recipient"

# MessageStatus values, mapped to stopline's; absent ones (queued, accepted, scheduled, sending,
# receiving, received, partially_delivered) are intermediate or not about our sends.
_STATUSES: dict[str, MessageStatus] = {
    "sent": "sent",
    "delivered": "delivered",
    "read": "delivered",
    "undelivered": "failed",
    "failed": "failed",
    "canceled": "failed",
}

_INBOUND_STATUSES = ("received", "receiving")
# Twilio's documented SID formats: two letters, then 32 hex digits. Fixed lengths are what make
# the signed name+value string impossible to re-partition (see `provider_id`).
MESSAGE_SID = re.compile(r"(SM|MM)[0-9a-fA-F]{32}")
ACCOUNT_SID = re.compile(r"AC[0-9a-fA-F]{32}")
_MESSAGING_SERVICE_SID = re.compile(r"^MG[0-9a-fA-F]{32}$")
# Characters XML 1.0 cannot carry; a reply containing them would make the TwiML unparsable.
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def signature(auth_token: str, url: str, params: Sequence[tuple[str, str]]) -> str:
    """The X-Twilio-Signature Twilio computes for `url` and form `params`."""
    values: dict[str, list[str]] = {}
    for name, value in params:
        values.setdefault(name, []).append(value)
    # Sorted names, and repeated names' values sorted too, as Twilio's own libraries do.
    signed = url + "".join(
        name + value for name in sorted(values) for value in sorted(set(values[name]))
    )
    digest = hmac.new(
        auth_token.encode("utf-8"), signed.encode("utf-8", "surrogatepass"), hashlib.sha1
    ).digest()
    return base64.b64encode(digest).decode("ascii")


def _url_variants(url: str) -> list[str]:
    """The URL as given, plus with the standard port added or any port removed."""
    variants = [url]
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return variants
    host = parts.hostname or ""
    if not host:
        return variants
    userinfo = parts.netloc.rpartition("@")[0]
    prefix = userinfo + "@" if userinfo else ""
    netloc_host = f"[{host}]" if ":" in host else host
    if port is None:
        default = {"https": 443, "http": 80}.get(parts.scheme)
        if default is not None:
            variants.append(urlunsplit(parts._replace(netloc=f"{prefix}{netloc_host}:{default}")))
    else:
        variants.append(urlunsplit(parts._replace(netloc=prefix + netloc_host)))
    return variants


def _form(raw_body: bytes) -> list[tuple[str, str]]:
    try:
        text = raw_body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise malformed(NAME, "body is not UTF-8") from exc
    try:
        return parse_qsl(text, keep_blank_values=True, errors="strict")
    except (ValueError, UnicodeDecodeError) as exc:
        raise malformed(NAME, "body is not form-encoded") from exc


def verify(
    url: str, headers: Mapping[str, str], raw_body: bytes, credentials: Credentials
) -> dict[str, str]:
    """Check X-Twilio-Signature and return the webhook's parameters."""
    auth_token = required_secret(credentials, "auth_token", NAME)
    presented = header(headers, SIGNATURE_HEADER)
    if not presented:
        raise WebhookRejected("twilio webhook has no X-Twilio-Signature")

    try:
        query = parse_qs(urlsplit(url).query, keep_blank_values=True)
    except ValueError as exc:
        raise malformed(NAME, "URL is unparsable") from exc
    body_hash = query.get("bodySHA256")
    if body_hash:
        # JSON webhook: the URL alone is signed, and it carries the body's SHA-256 (hex), compared
        # exactly as given (Vonage's payload_hash, by contrast, is lowercased first).
        if not body_sha256_matches(raw_body, body_hash[0]):
            raise WebhookRejected("twilio webhook body does not match its bodySHA256")
        signed_params: list[tuple[str, str]] = []
    else:
        signed_params = _form(raw_body)

    # Every URL variant is compared: no early exit that would time which one matched.
    expected = [signature(auth_token, candidate, signed_params) for candidate in _url_variants(url)]
    if not digests_match(expected, [presented.strip()]):
        raise WebhookRejected("twilio webhook signature does not match")

    if body_hash:
        raise malformed(NAME, "is JSON; messaging webhooks must be form-encoded")
    params = signed_params or [(name, value) for name, values in query.items() for value in values]
    # Last value wins for a repeated name; Twilio does not repeat messaging parameters.
    return dict(params)


def check_ids(params: Mapping[str, str], credentials: Credentials) -> str:
    """The message's SID, once every id the webhook carries is in Twilio's documented format and
    the account is the channel's own; anything else is refused before it is read.

    Twilio's signature runs names and values together with no separator and no timestamp, so a
    captured request could be re-sent with a field boundary moved and still verify. With
    `MessageSid` required at its fixed length (and its aliases equal to it), any such variant
    repeats the original SID and is caught as a replay; `AccountSid` pins the account.
    """
    message_id = provider_id(params, "MessageSid", MESSAGE_SID, NAME, "SM or MM and 32 hex")
    for alias in ("SmsSid", "SmsMessageSid"):
        if alias in params and params[alias] != message_id:
            raise malformed(NAME, f"has a {alias} that is not its MessageSid")
    account = provider_id(params, "AccountSid", ACCOUNT_SID, NAME, "AC and 32 hex")
    if account != required_secret(credentials, "account_sid", NAME):
        raise WebhookRejected(
            "twilio webhook is for another account than the channel's",
            code="webhook_wrong_recipient",
        )
    service = params.get("MessagingServiceSid")
    if service is not None and not _MESSAGING_SERVICE_SID.match(service):
        raise malformed(NAME, "has a MessagingServiceSid that is not MG and 32 hex")
    return message_id


def parse_inbound(params: Mapping[str, str]) -> InboundMessage:
    """An incoming-message webhook's parameters (ids already checked) as an `InboundMessage`."""
    message_id = params.get("MessageSid")
    sender = params.get("From")
    recipient = params.get("To")
    if not message_id or not sender or not recipient:
        raise malformed(NAME, "inbound message lacks MessageSid, From or To")
    if (params.get("MessageStatus") or "received").lower() not in _INBOUND_STATUSES:
        # A status callback pointed at the inbound URL must not become an empty inbound text.
        raise malformed(NAME, "request is a status callback, not an inbound message")
    media: list[str] = []
    try:
        num_media = int(params.get("NumMedia") or 0)
    except ValueError:
        num_media = 0
    # NumMedia is bounded by Twilio (10); the cap keeps a hostile value from looping long.
    for index in range(min(max(num_media, 0), 50)):
        media_url = params.get(f"MediaUrl{index}")
        if media_url:
            media.append(media_url)
    opt_out_type = (params.get("OptOutType") or "").strip().upper() or None
    return InboundMessage(
        provider=NAME,
        provider_message_id=message_id,
        from_number=sender,
        to_address=recipient,
        body=params.get("Body", ""),
        received_at=None,  # Twilio's incoming webhook carries no timestamp
        opt_out_type=opt_out_type,
        media_urls=tuple(media),
        messaging_service=params.get("MessagingServiceSid") or None,
        raw=dict(params),
    )


def parse_status(params: Mapping[str, str]) -> StatusUpdate:
    """A status callback's parameters (ids already checked) as a `StatusUpdate`."""
    message_id = params.get("MessageSid")
    raw_status = (params.get("MessageStatus") or params.get("SmsStatus") or "").strip().lower()
    if not message_id or not raw_status:
        raise malformed(NAME, "status callback lacks MessageSid or MessageStatus")
    if raw_status in _INBOUND_STATUSES:
        raise malformed(NAME, "request is an inbound message, not a status callback")
    error_code = (params.get("ErrorCode") or "").strip() or None
    return StatusUpdate(
        provider=NAME,
        provider_message_id=message_id,
        status=_STATUSES.get(raw_status),
        error_code=error_code,
        recipient_opted_out=error_code == RECIPIENT_UNSUBSCRIBED,
        raw=dict(params),
    )


def reply_twiml(texts: Sequence[str]) -> bytes:
    """TwiML answering with one <Message> per text; `<Response/>` for none."""
    if not texts:
        return b'<?xml version="1.0" encoding="UTF-8"?><Response/>'
    messages = "".join(f"<Message>{escape(_XML_INVALID.sub('', text))}</Message>" for text in texts)
    return f'<?xml version="1.0" encoding="UTF-8"?><Response>{messages}</Response>'.encode()


def _send_status(value: Any) -> SendStatus:
    # Twilio's vocabulary: "read" comes after "delivered" (compare Telnyx's and generic's).
    return "sent" if value in ("sent", "delivered", "read") else "queued"


def _refusal(data: Any) -> Refusal:
    """Twilio's error body: ``{code, message, more_info, status}``."""
    if not isinstance(data, dict):
        return Refusal()
    code = str(data["code"]) if data.get("code") is not None else None
    return Refusal(
        code=code,
        message=data["message"] if isinstance(data.get("message"), str) else None,
        recipient_opted_out=code == RECIPIENT_UNSUBSCRIBED,
    )


class TwilioProvider:
    """The Twilio adapter as a `Provider`."""

    name = NAME

    def verify_and_parse_inbound(
        self,
        url: str,
        headers: Mapping[str, str],
        raw_body: bytes,
        credentials: Credentials,
        *,
        now: float | None = None,
    ) -> list[WebhookEvent]:
        # Twilio's signature has no timestamp, so `now` has nothing to check; replays are
        # caught by their MessageSid, which `check_ids` makes impossible to vary.
        params = verify(url, headers, raw_body, credentials)
        check_ids(params, credentials)
        return [parse_inbound(params)]

    def verify_and_parse_status(
        self,
        url: str,
        headers: Mapping[str, str],
        raw_body: bytes,
        credentials: Credentials,
        *,
        now: float | None = None,
    ) -> list[WebhookEvent]:
        params = verify(url, headers, raw_body, credentials)
        check_ids(params, credentials)
        return [parse_status(params)]

    def reply_body(self, texts: Sequence[str]) -> tuple[str, bytes] | None:
        return "application/xml", reply_twiml(texts)

    def send(
        self,
        client: httpx.Client,
        request: SendRequest,
        credentials: Credentials,
        base_url: str | None = None,
    ) -> SendResult:
        account_sid = credentials.get("account_sid") or ""
        auth_token = credentials.get("auth_token") or ""
        if not account_sid or not auth_token:
            raise ProviderError(
                "twilio: credentials need account_sid and auth_token", provider=NAME
            )
        form = {"To": request.to, "Body": request.body}
        if _MESSAGING_SERVICE_SID.match(request.from_address):
            form["MessagingServiceSid"] = request.from_address
        else:
            form["From"] = request.from_address
        if request.status_callback:
            form["StatusCallback"] = request.status_callback
        url = join_url(
            base_url or DEFAULT_BASE_URL, f"/2010-04-01/Accounts/{account_sid}/Messages.json"
        )
        response, data = post_and_read(
            client, NAME, url, _refusal, data=form, auth=(account_sid, auth_token)
        )
        sid = accepted_id(NAME, response, json_member(data, "sid"))
        # A 2xx answer can still carry a message that already failed (its status field says so).
        if data.get("status") in ("failed", "undelivered"):
            code = str(data["error_code"]) if data.get("error_code") is not None else None
            raise ProviderError(
                f"twilio: message {sid} {data['status']}",
                provider=NAME,
                provider_code=code,
                http_status=response.status_code,
                retryable=False,
                recipient_opted_out=code == RECIPIENT_UNSUBSCRIBED,
            )
        return SendResult(provider_message_id=sid, status=_send_status(data.get("status")))


PROVIDER: Provider = TwilioProvider()  # annotated so mypy checks the protocol
