"""What every provider webhook does: find the channel, verify, hand the events to the services.

URL scheme: ``POST /webhooks/{provider}/{channel_id}/inbound`` and
``POST /webhooks/{provider}/{channel_id}/status``. The channel id in the URL names the
credentials to verify with *before* the body is trusted or anything is stored; the workspace is
the channel's. A forged or stale request answers 403, an unreadable one 400, an unknown channel
(or one of another provider) 404, and none of them stores anything. A genuine request about a
message to an address that is none of the workspace's channels (a provider key shared by two
workspaces) answers 403 too and stores nothing (`stopline.services.recipients`).

The URL a provider signed (Twilio signs the full URL it requested) is rebuilt as the public
URL: ``STOPLINE_PUBLIC_URL`` (e.g. ``https://sms.example.com``; a path prefix is kept) joined
with the request's path and query, else the ``X-Forwarded-Proto`` / ``X-Forwarded-Host``
headers a reverse proxy sets, else the request's own scheme and Host. Trusting those headers is
safe here: they only choose which URL the signature must cover, and a forger without the
channel's secret can sign none.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

import anyio.to_thread
from litestar import Request, Response

from stopline.domain.errors import NotFound
from stopline.providers.base import (
    InboundMessage,
    Provider,
    StatusUpdate,
    WebhookRejected,
    get_provider,
)
from stopline.runtime import Runtime
from stopline.services import delivery_status, inbound
from stopline.services.group_commit import submit_write
from stopline.services.inbound_context import InboundChannel
from stopline.services.recipients import WrongRecipient
from stopline.store.db import read

T = TypeVar("T")

MAX_WEBHOOK_BYTES = 256 * 1024  # providers send a few KiB; anything bigger is not a message
CHANNEL_TTL_SECONDS = 5.0  # rotated credentials or a removed channel take effect within this


@dataclass(frozen=True)
class _CachedChannel:
    channel: InboundChannel
    credentials: Mapping[str, Any]
    expires: float


class ChannelCache:
    """Channels and their decrypted credentials for a few seconds: decryption is the costly part
    of a webhook, and a burst of messages to one number needs it once."""

    def __init__(self, ttl: float = CHANNEL_TTL_SECONDS) -> None:
        self.ttl = ttl
        self._items: dict[tuple[int, int], _CachedChannel] = {}
        self._lock = threading.Lock()

    def get(self, runtime: Runtime, channel_id: int) -> tuple[InboundChannel, Mapping[str, Any]]:
        now = time.monotonic()
        key = (id(runtime), channel_id)  # one process may serve several databases (tests)
        hit = self._items.get(key)
        if hit is not None and hit.expires > now:
            return hit.channel, hit.credentials
        with read(runtime.engine) as conn:
            channel, blob = inbound.channel_for(conn, channel_id)
        credentials = runtime.keyring.decrypt(blob)
        with self._lock:
            if len(self._items) > 10_000:
                self._items.clear()
            self._items[key] = _CachedChannel(channel, credentials, now + self.ttl)
        return channel, credentials

    def peek(
        self, runtime: Runtime, channel_id: int
    ) -> tuple[InboundChannel, Mapping[str, Any]] | None:
        """The cached entry if fresh, without touching the database."""
        hit = self._items.get((id(runtime), channel_id))
        if hit is not None and hit.expires > time.monotonic():
            return hit.channel, hit.credentials
        return None

    def forget(self) -> None:
        with self._lock:
            self._items.clear()


CHANNELS = ChannelCache()


def public_url(request: Request, configured: str | None) -> str:
    """The URL the provider requested, as it saw it (see the module docstring)."""
    scope = request.scope
    raw_path = scope.get("raw_path") or scope["path"].encode()
    path = raw_path.decode("latin-1") if isinstance(raw_path, bytes) else str(raw_path)
    path = path.split("?", 1)[0]  # ASGI's raw_path has no query, but some servers include it
    query = scope.get("query_string") or b""
    if query:
        path += "?" + query.decode("latin-1")
    return site_root(request, configured) + path


def site_root(request: Request, configured: str | None) -> str:
    """This site's address as the outside world sees it, without a trailing slash: what
    webhook URLs shown to a user start with, and what a provider's signature covers."""
    scope = request.scope
    if configured:
        return configured.rstrip("/")
    headers = request.headers
    proto = (headers.get("x-forwarded-proto") or "").split(",")[0].strip()
    host = (headers.get("x-forwarded-host") or "").split(",")[0].strip()
    scheme = proto or scope.get("scheme", "http")
    if not host:
        host = headers.get("host") or ""
        if not host:
            server = scope.get("server") or ("localhost", None)
            host = server[0] if server[1] in (None, 80, 443) else f"{server[0]}:{server[1]}"
    return f"{scheme}://{host}"


def _error(status: int, code: str, message: str) -> Response[Any]:
    return Response({"error": {"code": code, "message": message}}, status_code=status)


def rejection(exc: WebhookRejected) -> Response[Any]:
    status = 400 if exc.code == "webhook_malformed" else 403
    return _error(status, exc.code, exc.message)


async def webhook(request: Request, provider_name: str, endpoint: str) -> Response[Any]:
    """Verify a webhook with the channel's credentials, then process each event it carries.

    `endpoint` is "inbound" or "status": which of the adapter's verifiers to use. Twilio's
    inbound answer is TwiML carrying the confirmations; other providers get a small JSON body
    and their confirmations are queued for immediate send. Verification is CPU work done on
    the event loop; database work goes to the inbound service's writer (SQLite) or a thread.
    """
    runtime: Runtime = request.app.state["runtime"]
    body = await request.body()  # the exact bytes: signatures cover them
    if len(body) > MAX_WEBHOOK_BYTES:
        return _error(413, "webhook_too_large", "The webhook body is too large.")
    return await process_webhook(
        runtime,
        provider_name,
        endpoint,
        int(request.path_params["channel_id"]),
        public_url(request, runtime.config.public_url),
        dict(request.headers),
        body,
    )


async def process_webhook(
    runtime: Runtime,
    provider_name: str,
    endpoint: str,
    channel_id: int,
    url: str,
    headers: dict[str, str],
    body: bytes,
) -> Response[Any]:
    """`webhook` once the request is read: also how the web app's "text this workspace as a
    customer" delivers its signed texts, so they pass the same verification."""
    found = CHANNELS.peek(runtime, channel_id)
    if found is None:
        try:
            found = await anyio.to_thread.run_sync(CHANNELS.get, runtime, channel_id)
        except NotFound:
            return _error(404, "channel_not_found", f"No channel {channel_id}.")
    channel, credentials = found
    if channel.provider != provider_name:
        return _error(
            404, "channel_not_found", f"Channel {channel_id} is not a {provider_name} channel."
        )
    provider: Provider = get_provider(provider_name)
    verify = (
        provider.verify_and_parse_status
        if endpoint == "status"
        else provider.verify_and_parse_inbound
    )
    try:
        if getattr(provider, "verifies_with_io", False):  # AWS SNS: may fetch a certificate
            events = await anyio.to_thread.run_sync(verify, url, headers, body, credentials)
        else:
            events = verify(url, headers, body, credentials)
    except WebhookRejected as exc:
        return rejection(exc)
    inline = endpoint == "inbound" and provider.reply_body(()) is not None
    replies: list[str] = []
    summary: list[dict[str, Any]] = []
    for event in events:
        if isinstance(event, InboundMessage):
            try:
                outcome = await _run(
                    runtime,
                    partial(
                        inbound.receive_inbound, channel=channel, message=event, reply_inline=inline
                    ),
                )
            except WrongRecipient as exc:  # rolled back: nothing of it was stored
                return _error(403, exc.code, exc.message)
            replies.extend(outcome.replies)
            summary.append({"message": event.provider_message_id, "action": outcome.action})
        elif isinstance(event, StatusUpdate):
            status = await _run(
                runtime, partial(delivery_status.receive_status, channel=channel, update=event)
            )
            summary.append({"message": event.provider_message_id, "status": status.status})
    if inline:
        reply = provider.reply_body(replies)
        assert reply is not None
        content_type, content = reply
        return Response(content, media_type=content_type, status_code=200)
    if endpoint == "status" and provider.name == "twilio":
        return Response(b"", status_code=204)
    return Response({"received": summary}, status_code=200)


async def _run(runtime: Runtime, work: Callable[..., T]) -> T:
    """Run `work(conn)` in a write transaction without blocking the event loop."""
    future = submit_write(runtime.engine, lambda conn: work(conn))
    return await asyncio.wrap_future(future)
