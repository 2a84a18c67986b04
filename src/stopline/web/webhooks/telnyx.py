"""Telnyx webhooks (API v2): ``message.received`` and ``message.sent``/``message.finalized`` events.

Set the messaging profile's webhook URL to
``https://<public host>/webhooks/telnyx/<channel id>/inbound``; either URL of the pair accepts
every event type, as Telnyx sends them all to one URL. Verified with the Ed25519
``telnyx-signature-ed25519`` over ``telnyx-timestamp|body`` and the channel's public key,
refused outside a 5-minute window. Confirmations are queued for immediate send (a Telnyx
webhook cannot carry a reply); delivery failures with code 40300 record a carrier opt-out.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, post

from stopline.web.webhooks.base import MAX_WEBHOOK_BYTES, webhook


@post(
    "/webhooks/telnyx/{channel_id:int}/inbound",
    tags=["webhooks"],
    request_max_body_size=MAX_WEBHOOK_BYTES,
)
async def telnyx_inbound(request: Request) -> Response[Any]:
    return await webhook(request, "telnyx", "inbound")


@post(
    "/webhooks/telnyx/{channel_id:int}/status",
    tags=["webhooks"],
    request_max_body_size=MAX_WEBHOOK_BYTES,
)
async def telnyx_status(request: Request) -> Response[Any]:
    return await webhook(request, "telnyx", "status")


ROUTES = [telnyx_inbound, telnyx_status]
