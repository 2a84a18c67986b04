"""Twilio webhooks: incoming messages (answered with TwiML) and status callbacks, per channel.

Point the number's (or Messaging Service's) "A message comes in" webhook at
``https://<public host>/webhooks/twilio/<channel id>/inbound`` and each send's StatusCallback at
``.../webhooks/twilio/<channel id>/status``. Requests are verified with ``X-Twilio-Signature``
and the channel's auth token over the public URL (see `stopline.web.webhooks.base`); set
``STOPLINE_PUBLIC_URL`` when stopline sits behind a proxy that rewrites the host.

Twilio answers STOP/START/HELP itself unless its default opt-out handling is turned off; with
Advanced Opt-Out the webhook says so (``OptOutType``) and stopline records the change with
method ``carrier`` and adds no second confirmation.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, route

from stopline.web.webhooks.base import MAX_WEBHOOK_BYTES, webhook


@route(
    "/webhooks/twilio/{channel_id:int}/inbound",
    http_method=["POST", "GET"],
    tags=["webhooks"],
    request_max_body_size=MAX_WEBHOOK_BYTES,
)
async def twilio_inbound(request: Request) -> Response[Any]:
    """An incoming message: processed, answered with TwiML carrying its confirmation if any."""
    return await webhook(request, "twilio", "inbound")


@route(
    "/webhooks/twilio/{channel_id:int}/status",
    http_method=["POST", "GET"],
    tags=["webhooks"],
    request_max_body_size=MAX_WEBHOOK_BYTES,
)
async def twilio_status(request: Request) -> Response[Any]:
    """A status callback: the message's status moves on; error 21610 records a carrier opt-out."""
    return await webhook(request, "twilio", "status")


ROUTES = [twilio_inbound, twilio_status]
