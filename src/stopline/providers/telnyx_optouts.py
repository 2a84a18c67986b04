"""Telnyx's list of recipients who opted out (replied STOP to a Telnyx number), read back.

From Telnyx's API reference: ``GET {base}/v2/messaging_optouts`` with ``Authorization: Bearer
<API key>``; query ``filter[messaging_profile_id]``, ``created_at[gte]`` (ISO 8601),
``page[number]``, ``page[size]`` and ``redaction_enabled=false`` (else numbers come back
masked). Each entry of ``data``: ``to`` (the recipient who opted out), ``from`` (our sending
address), ``messaging_profile_id``, ``keyword``, ``created_at``; ``meta.total_pages`` says how
many pages there are.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import httpx

from stopline.providers.base import (
    Credentials,
    ProviderError,
    Refusal,
    is_retryable_status,
    join_url,
    json_member,
    parse_timestamp,
    refused,
    response_json,
)
from stopline.providers.telnyx import DEFAULT_BASE_URL

NAME = "telnyx"
PAGE_SIZE = 250


@dataclass(frozen=True)
class TelnyxOptOut:
    to: str  # the recipient who opted out, as Telnyx wrote it
    from_address: str
    keyword: str | None
    created_at: datetime | None
    messaging_profile_id: str | None


def list_opt_outs(
    client: httpx.Client,
    credentials: Credentials,
    *,
    since: datetime | None,
    base_url: str | None = None,
    page_size: int = PAGE_SIZE,
    max_pages: int = 10_000,
) -> list[TelnyxOptOut]:
    """Every opt-out of the channel's messaging profile created at or after `since`."""
    api_key = credentials.get("api_key") or ""
    profile = credentials.get("messaging_profile_id") or ""
    if not api_key or not profile:
        raise ProviderError(
            "telnyx: reading opt-outs needs the channel's API key and messaging profile id",
            provider=NAME,
        )
    found: list[TelnyxOptOut] = []
    page = 1
    while page <= max_pages:
        params: dict[str, str | int] = {
            "filter[messaging_profile_id]": profile,
            "redaction_enabled": "false",
            "page[number]": page,
            "page[size]": page_size,
        }
        if since is not None:
            params["created_at[gte]"] = since.isoformat().replace("+00:00", "Z")
        try:
            response = client.get(
                join_url(base_url or DEFAULT_BASE_URL, "/v2/messaging_optouts"),
                params=params,
                headers={"Authorization": f"Bearer {api_key}", "Accept": "application/json"},
            )
        except httpx.HTTPError as exc:
            raise ProviderError(
                f"telnyx: could not read opt-outs ({type(exc).__name__})",
                provider=NAME,
                retryable=True,
            ) from exc
        data = response_json(response)
        if not response.is_success:
            error = (
                (json_member(data, "errors") or [{}])[0]
                if isinstance(json_member(data, "errors"), list)
                else {}
            )
            raise refused(
                NAME,
                response,
                Refusal(
                    code=str(json_member(error, "code") or "") or None,
                    message=json_member(error, "detail") or json_member(error, "title"),
                ),
            )
        entries = json_member(data, "data")
        if not isinstance(entries, list):
            raise ProviderError(
                "telnyx: opt-out list answer has no data",
                provider=NAME,
                retryable=is_retryable_status(response.status_code),
            )
        for entry in entries:
            to = json_member(entry, "to")
            if not isinstance(to, str) or not to:
                continue
            keyword = json_member(entry, "keyword")
            found.append(
                TelnyxOptOut(
                    to=to,
                    from_address=str(json_member(entry, "from") or ""),
                    keyword=keyword if isinstance(keyword, str) else None,
                    created_at=parse_timestamp(json_member(entry, "created_at")),
                    messaging_profile_id=json_member(entry, "messaging_profile_id"),
                )
            )
        total_pages = json_member(json_member(data, "meta"), "total_pages")
        if not entries or not isinstance(total_pages, int) or page >= total_pages:
            break
        page += 1
    return found
