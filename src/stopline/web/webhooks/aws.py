"""AWS End User Messaging SMS webhooks: SNS notifications of two-way SMS and of delivery events.

Subscribe ``https://<public host>/webhooks/aws/<channel id>/inbound`` (or /status: both accept
every notification) to the SNS topics named in the channel's ``sns_topic_arn``. Each message's
SNS signature is verified (`providers.sns`); a SubscriptionConfirmation is confirmed.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, post

from stopline.web.webhooks.base import MAX_WEBHOOK_BYTES, webhook


@post(
    "/webhooks/aws/{channel_id:int}/inbound",
    tags=["webhooks"],
    request_max_body_size=MAX_WEBHOOK_BYTES,
)
async def aws_inbound(request: Request) -> Response[Any]:
    return await webhook(request, "aws", "inbound")


@post(
    "/webhooks/aws/{channel_id:int}/status",
    tags=["webhooks"],
    request_max_body_size=MAX_WEBHOOK_BYTES,
)
async def aws_status(request: Request) -> Response[Any]:
    return await webhook(request, "aws", "status")


ROUTES = [aws_inbound, aws_status]
