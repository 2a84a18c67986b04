"""JSON API: send a message (API, automations with a `source` tag, scheduled), read and cancel messages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import anyio.to_thread
from litestar import Request, Response, get, post
from litestar.params import Parameter

from stopline.services import messages as messages_service
from stopline.services import queueing
from stopline.services.workspaces import Principal
from stopline.store.db import read, write
from stopline.web.deps import runtime_of


@dataclass
class SendMessage:
    """A message to send. `to` may be in national format (read in the workspace's region)."""

    to: str
    body: str
    channel_id: int | None = None  # default: the workspace's only channel
    source: str = "api"  # e.g. the automation's name: "zapier:new-order"
    scheduled_at: datetime | None = None  # send later (ISO 8601 with offset)
    idempotency_key: str | None = None  # or the Idempotency-Key header
    status_callback: str | None = None
    # conversational | informational | marketing; decides the send-time rules (default
    # informational). Outside the recipient's window the message is `scheduled`, with
    # `hold_reason` and `available_at` saying why and until when.
    category: str | None = None
    # Send as part of a list's messages: only to its members, and past an opt-out only if
    # the recipient kept this list when they opted out (the opt-out confirmation's offer).
    list_id: int | None = None


def refusal_response(message: messages_service.QueuedMessage) -> Response[dict[str, Any]]:
    """A refused send: 422 with the machine-readable reason; the message is kept as `failed`."""
    return Response(
        {
            "error": {
                "code": message.refusal_code,
                "message": message.error_message or f"refused: {message.refusal_code}",
                "sid": message.sid,
            },
            "message": message.as_dict(),
        },
        status_code=422,
    )


@post("/api/v1/messages", tags=["messages"], status_code=201)
async def send_message(
    request: Request, principal: Principal, data: SendMessage
) -> Response[dict[str, Any]]:
    """Queue one message. The gate answers at once: `201` with status `queued` (or `scheduled`:
    asked for later, or held by the send-time rules until `available_at`, see `hold_reason`),
    or `422` with `error.code` `opted_out`, `blocked`, `invalid_number`, `list_opted_out`,
    `not_subscribed` (with `list_id`), `frequency_cap` or `no_send_window` (the refused message
    is kept, status `failed`). The gate is checked again when a worker hands it over; an
    opt-out in between cancels it. Reusing an idempotency key returns the first message."""
    key = data.idempotency_key or request.headers.get("idempotency-key")
    message = await anyio.to_thread.run_sync(_send, request, principal, data, key)
    if message.refused:
        return refusal_response(message)
    return Response(message.as_dict(), status_code=201)


def _send(
    request: Request, principal: Principal, data: SendMessage, key: str | None
) -> messages_service.QueuedMessage:
    rt = runtime_of(request.app.state)
    with write(rt.engine) as conn:
        channel_id = queueing.default_channel_id(conn, principal.workspace_id, data.channel_id)
        message = queueing.enqueue(
            conn,
            principal.workspace_id,
            channel_id=channel_id,
            to=data.to,
            body=data.body,
            source=data.source,
            sent_by=principal.actor,
            scheduled_at=data.scheduled_at,
            idempotency_key=key,
            status_callback=data.status_callback,
            category=data.category,
            list_id=data.list_id,
        )
    return message


@get("/api/v1/messages", tags=["messages"], sync_to_thread=True)
def list_messages(
    request: Request,
    principal: Principal,
    status: str | None = Parameter(default=None, query="status"),
    to: str | None = Parameter(default=None, query="to"),
    campaign_id: int | None = Parameter(default=None, query="campaign_id"),
    source: str | None = Parameter(default=None, query="source"),
    direction: str | None = Parameter(default=None, query="direction"),
    limit: int = Parameter(default=50, query="limit", ge=1, le=1000),
    before: int | None = Parameter(default=None, query="before", description="Page: next_before"),
) -> dict[str, Any]:
    """Messages newest first; pass `next_before` back as `before` for the next page."""
    rt = runtime_of(request.app.state)
    with read(rt.engine) as conn:
        found = messages_service.list_messages(
            conn,
            principal.workspace_id,
            status=status,
            to=to,
            campaign_id=campaign_id,
            source=source,
            direction=direction,
            before_id=before,
            limit=limit,
        )
    return {
        "messages": [m.as_dict() for m in found],
        "next_before": found[-1].id if len(found) == limit else None,
    }


@get("/api/v1/messages/{ref:str}", tags=["messages"], sync_to_thread=True)
def get_message(request: Request, principal: Principal, ref: str) -> dict[str, Any]:
    """One message by SID (`SM...`) or id."""
    rt = runtime_of(request.app.state)
    with read(rt.engine) as conn:
        return messages_service.get_message(conn, principal.workspace_id, ref).as_dict()


@post("/api/v1/messages/{ref:str}/cancel", tags=["messages"], sync_to_thread=True, status_code=200)
def cancel_message(request: Request, principal: Principal, ref: str) -> dict[str, Any]:
    """Cancel a queued or scheduled message (409 once a worker has it or it is sent)."""
    rt = runtime_of(request.app.state)
    with write(rt.engine) as conn:
        return messages_service.cancel(conn, principal.workspace_id, ref).as_dict()


ROUTES = [send_message, list_messages, get_message, cancel_message]
