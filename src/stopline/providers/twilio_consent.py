"""Twilio's Consent Management API: report opt-outs and opt-ins made outside Twilio.

From Twilio's documentation: ``POST https://accounts.twilio.com/v1/Consents/Bulk``, basic auth
(Account SID : auth token), form-encoded with one repeated ``Items`` field per consent, each a
JSON object ``{contact_id, correlation_id, sender_id, status, source, date_of_consent}``; at
most 25 items a request and 100 requests a minute per account. The answer's ``items`` carry
each item's ``error_code`` and ``error_messages`` (null and empty when it was accepted). A
repeated ``correlation_id`` lets Twilio recognise a retry.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from stopline.domain.provider_sync import TWILIO_BATCH
from stopline.providers.base import (
    Credentials,
    ProviderError,
    Refusal,
    join_url,
    json_member,
    post,
    refused,
    response_json,
)

NAME = "twilio"
DEFAULT_ACCOUNTS_URL = "https://accounts.twilio.com"
BULK_PATH = "/v1/Consents/Bulk"


@dataclass(frozen=True)
class Consent:
    contact_id: str  # E.164
    correlation_id: str  # 32 hex
    sender_id: str  # Messaging Service SID (MG...) or the sending number
    status: str  # opt-in | opt-out
    source: str  # opt-out-message | opt-in-message | website | offline | others
    date_of_consent: datetime

    def item(self) -> str:
        return json.dumps(
            {
                "contact_id": self.contact_id,
                "correlation_id": self.correlation_id,
                "sender_id": self.sender_id,
                "status": self.status,
                "source": self.source,
                "date_of_consent": self.date_of_consent.isoformat().replace("+00:00", "Z"),
            },
            separators=(",", ":"),
        )


@dataclass(frozen=True)
class ItemResult:
    correlation_id: str
    error_code: str | None  # None: accepted
    error: str | None


@dataclass(frozen=True)
class RateLimited(Exception):
    """HTTP 429: nothing was taken; try again after `retry_after` seconds (None: not said)."""

    retry_after: float | None


def _refusal(data: Any) -> Refusal:
    code = json_member(data, "code")
    message = json_member(data, "message")
    return Refusal(
        code=str(code) if code is not None else None,
        message=message if isinstance(message, str) else None,
    )


def retry_after_seconds(response: httpx.Response) -> float | None:
    """Retry-After as seconds (it may be a number or an HTTP date); None when absent or odd."""
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def report(
    client: httpx.Client,
    credentials: Credentials,
    consents: Sequence[Consent],
    accounts_base_url: str | None = None,
) -> list[ItemResult]:
    """Send up to 25 consents in one request; one result per consent, in the same order.

    Raises `RateLimited` on 429 and `ProviderError` on any other failure (retryable for 5xx and
    transport errors): in both cases no item may be assumed taken.
    """
    if not consents or len(consents) > TWILIO_BATCH:
        raise ValueError(f"between 1 and {TWILIO_BATCH} consents a request")
    sid = credentials.get("account_sid") or ""
    token = credentials.get("auth_token") or ""
    if not sid or not token:
        raise ProviderError("twilio: channel has no account SID or auth token", provider=NAME)
    url = join_url(accounts_base_url or DEFAULT_ACCOUNTS_URL, BULK_PATH)
    response = post(
        client,
        NAME,
        url,
        data={"Items": [c.item() for c in consents]},
        auth=(sid, token),
    )
    if response.status_code == 429:
        raise RateLimited(retry_after_seconds(response))
    data = response_json(response)
    if not response.is_success:
        raise refused(NAME, response, _refusal(data))
    return _results(consents, json_member(data, "items"))


def _results(consents: Sequence[Consent], items: Any) -> list[ItemResult]:
    by_id: dict[str, Any] = {}
    if isinstance(items, list):
        for item in items:
            key = json_member(item, "correlation_id")
            if isinstance(key, str):
                by_id[key] = item
    results = []
    for consent in consents:
        item = by_id.get(consent.correlation_id)
        if item is None:
            results.append(
                ItemResult(consent.correlation_id, "missing", "Twilio's answer did not list it")
            )
            continue
        code = json_member(item, "error_code")
        messages = json_member(item, "error_messages")
        if code in (None, "", 0) and not messages:
            results.append(ItemResult(consent.correlation_id, None, None))
            continue
        text = "; ".join(str(m) for m in messages) if isinstance(messages, list) else None
        results.append(
            ItemResult(
                consent.correlation_id,
                str(code) if code not in (None, "") else "rejected",
                text or f"Twilio error {code}",
            )
        )
    return results
