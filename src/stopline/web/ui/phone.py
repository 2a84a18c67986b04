"""Text this workspace as a customer: a phone on the screen that texts a console channel.

The text goes through the real webhook path: it is signed with the console channel's secret,
then verified and processed by the same code a provider's webhook reaches
(`web.webhooks.base.process_webhook`), so STOP, HELP and replies behave exactly as they would
from a phone. Admins only: a simulated START is recorded as the number's own reply.
"""

from __future__ import annotations

import json
import urllib.parse
from typing import Any

import anyio.to_thread
from litestar import Request, Response, get, post
from litestar.datastructures import FormMultiDict
from litestar.params import Parameter

from stopline.domain.errors import InvalidInput, StoplineError
from stopline.domain.numbers import normalize
from stopline.services import channels, inbox, workspaces
from stopline.web.ui.kit import Viewer, form_str, redirect, render, ui_router
from stopline.web.webhooks.base import CHANNELS, process_webhook, site_root

DEFAULT_FROM = "+14155550142"
ACTIONS = {
    "opt_out": "it opted the number out",
    "opt_in": "it opted the number back in",
    "help": "it asked for help",
    "revocation_review": "it looks like a request to stop: flagged in the review queue",
    "message": "it is in the inbox",
}


def _page(
    request: Request,
    viewer: Viewer,
    channel_id: int,
    from_number: str,
    *,
    text: str = "",
    error: str | None = None,
    status: int = 200,
) -> Response[Any]:
    viewer.principal.require("admin")
    with viewer.reading() as conn:
        channel = channels.get_channel(conn, viewer.workspace_id, viewer.rt.keyring, channel_id)
        region = workspaces.get_workspace(conn, viewer.workspace_id).policy.default_region
        try:
            number = normalize(from_number, region)
        except InvalidInput:
            number = None
        conversation_id = (
            inbox.conversation_with(conn, viewer.workspace_id, channel_id, number)
            if number
            else None
        )
        messages = (
            inbox.thread(conn, viewer.workspace_id, conversation_id) if conversation_id else []
        )
    return render(
        request,
        viewer,
        "phone.html",
        status=status,
        title="Text as a customer",
        nav="channels",
        channel=channel,
        from_number=number or from_number,
        text=text,
        messages=messages,
        conversation_id=conversation_id,
        error=error,
    )


@get("/phone", sync_to_thread=True)
def first_phone(request: Request, viewer: Viewer) -> Response[Any]:
    """The phone of the workspace's first console channel (the inbox links here)."""
    viewer.principal.require("admin")
    with viewer.reading() as conn:
        found = channels.list_channels(conn, viewer.workspace_id, viewer.rt.keyring)
    console = [c for c in found if c.provider == "console"]
    if not console:
        return redirect(
            request,
            "/channels",
            flash="Texting as a customer needs a console channel: add one (provider: Console).",
            kind="warn",
        )
    return redirect(request, f"/channels/{console[0].id}/phone")


@get("/channels/{channel_id:int}/phone", sync_to_thread=True)
def phone_page(
    request: Request,
    viewer: Viewer,
    channel_id: int,
    from_number: str = Parameter(default=DEFAULT_FROM, query="from"),
) -> Response[Any]:
    return _page(request, viewer, channel_id, from_number)


@post("/channels/{channel_id:int}/phone")
async def phone_send(
    request: Request, viewer: Viewer, form: FormMultiDict, channel_id: int
) -> Response[Any]:
    viewer.principal.require("admin")
    from_number = form_str(form, "from") or DEFAULT_FROM
    text = form_str(form, "quick") or form_str(form, "text")

    def sign() -> channels.SignedWebhook:
        if not text:
            raise InvalidInput("Type a text to send.", code="body_required")
        with viewer.writing() as conn:
            return channels.customer_text(
                conn,
                viewer.workspace_id,
                viewer.rt.keyring,
                channel_id,
                from_number=from_number,
                text=text,
            )

    try:
        signed = await anyio.to_thread.run_sync(sign)
    except StoplineError as exc:
        if exc.code == "channel_not_found":
            raise
        message = exc.message
        return await anyio.to_thread.run_sync(
            lambda: _page(
                request, viewer, channel_id, from_number, text=text, error=message, status=422
            )
        )
    CHANNELS.forget()  # the secret may be new this instant
    answer = await process_webhook(
        viewer.rt,
        "console",
        "inbound",
        signed.channel_id,
        site_root(request, viewer.rt.config.public_url) + signed.path,
        signed.headers,
        signed.body,
    )
    sender = _sender(signed.body)
    if answer.status_code != 200:
        error = (answer.content or {}).get("error", {}).get("message", "refused")
        return await anyio.to_thread.run_sync(
            lambda: _page(
                request,
                viewer,
                channel_id,
                sender,
                text=text,
                error=f"The webhook refused the text: {error}",
                status=422,
            )
        )
    received = (answer.content or {}).get("received") or [{}]
    action = str(received[0].get("action", "message"))
    what = ACTIONS.get(action, f"handled as {action}")
    return redirect(
        request,
        f"/channels/{channel_id}/phone?from={urllib.parse.quote(sender)}",
        flash=f"Texted “{text[:60]}” from {sender}, signed and verified: {what}.",
    )


def _sender(body: bytes) -> str:
    return str(json.loads(body)["from"])


ROUTES = [ui_router(first_phone, phone_page, phone_send)]
