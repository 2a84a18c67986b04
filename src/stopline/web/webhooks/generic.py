"""stopline's own signed JSON webhook (`stopline.providers.generic`), for custom gateways.

``POST https://<public host>/webhooks/generic/<channel id>/inbound`` (or ``/status``) with
``X-Stopline-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "t.body">`` keyed with the channel's
secret. Console channels accept the same contract at ``/webhooks/console/<channel id>/...``,
which is how a developer simulates an incoming text. Confirmations are queued for immediate
send.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, post

from stopline.web.webhooks.base import MAX_WEBHOOK_BYTES, webhook

_OPTIONS: dict[str, Any] = {
    "tags": ["webhooks"],
    "request_max_body_size": MAX_WEBHOOK_BYTES,
}


@post("/webhooks/generic/{channel_id:int}/inbound", **_OPTIONS)
async def generic_inbound(request: Request) -> Response[Any]:
    return await webhook(request, "generic", "inbound")


@post("/webhooks/generic/{channel_id:int}/status", **_OPTIONS)
async def generic_status(request: Request) -> Response[Any]:
    return await webhook(request, "generic", "status")


@post("/webhooks/console/{channel_id:int}/inbound", **_OPTIONS)
async def console_inbound(request: Request) -> Response[Any]:
    return await webhook(request, "console", "inbound")


@post("/webhooks/console/{channel_id:int}/status", **_OPTIONS)
async def console_status(request: Request) -> Response[Any]:
    return await webhook(request, "console", "status")


ROUTES = [generic_inbound, generic_status, console_inbound, console_status]
