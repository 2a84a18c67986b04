"""Vonage Messages API webhooks: inbound messages and message statuses.

Set the application's Inbound URL to ``https://<public host>/webhooks/vonage/<channel id>/inbound``
and its Status URL to ``.../webhooks/vonage/<channel id>/status``. Verified with the signed JWT
(HS256, the channel's signature secret) in ``Authorization``, its ``payload_hash`` over the body
and a 5-minute window on ``iat``. Confirmations are queued for immediate send.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, post

from stopline.web.webhooks.base import MAX_WEBHOOK_BYTES, webhook


@post(
    "/webhooks/vonage/{channel_id:int}/inbound",
    tags=["webhooks"],
    request_max_body_size=MAX_WEBHOOK_BYTES,
)
async def vonage_inbound(request: Request) -> Response[Any]:
    return await webhook(request, "vonage", "inbound")


@post(
    "/webhooks/vonage/{channel_id:int}/status",
    tags=["webhooks"],
    request_max_body_size=MAX_WEBHOOK_BYTES,
)
async def vonage_status(request: Request) -> Response[Any]:
    return await webhook(request, "vonage", "status")


ROUTES = [vonage_inbound, vonage_status]
