"""Channels (admins): connect a number at a provider, see the webhook URLs to paste there, edit,
disable and remove. Credentials are write-only: the forms never show a stored one."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post
from litestar.datastructures import FormMultiDict
from litestar.params import Parameter

from stopline.domain.errors import StoplineError
from stopline.services import channels
from stopline.services.workspaces import CHANNEL_TYPES, PROVIDERS
from stopline.web.ui.kit import Viewer, form_str, redirect, render, ui_router
from stopline.web.webhooks.base import site_root


def base_url(request: Request, viewer: Viewer) -> str:
    """Where this stopline is reached from outside: STOPLINE_PUBLIC_URL, else this request's."""
    return site_root(request, viewer.rt.config.public_url)


def _credentials_from(form: FormMultiDict, provider: str) -> dict[str, str | None]:
    return {
        field: form_str(form, f"cred_{field}")
        for field, _label, _help in channels.CREDENTIAL_FIELDS.get(provider, ())
    }


def _context(request: Request, viewer: Viewer) -> dict[str, Any]:
    return {
        "base": base_url(request, viewer),
        "webhook_urls": channels.webhook_urls,
        "CREDENTIAL_FIELDS": channels.CREDENTIAL_FIELDS,
        "REQUIRED": channels.REQUIRED_CREDENTIALS,
        "PROVIDER_LABELS": channels.PROVIDER_LABELS,
        "INSTRUCTIONS": channels.INSTRUCTIONS,
        "SYNC_SUPPORT": channels.SYNC_SUPPORT,
        "PROVIDERS": PROVIDERS,
        "CHANNEL_TYPES": CHANNEL_TYPES,
        "public_url_set": bool(viewer.rt.config.public_url),
    }


@get("/channels", sync_to_thread=True)
def channels_page(request: Request, viewer: Viewer) -> Response[Any]:
    with viewer.reading() as conn:
        found = channels.list_channels(conn, viewer.workspace_id, viewer.rt.keyring)
    return render(
        request,
        viewer,
        "channels.html",
        title="Channels",
        nav="channels",
        channels=found,
        **_context(request, viewer),
    )


def _new_page(
    request: Request,
    viewer: Viewer,
    provider: str,
    *,
    values: dict[str, str] | None = None,
    error: str | None = None,
    status: int = 200,
) -> Response[Any]:
    viewer.principal.require("admin")
    if provider not in PROVIDERS:
        provider = "twilio"
    return render(
        request,
        viewer,
        "channel_form.html",
        status=status,
        title="Add a channel",
        nav="channels",
        channel=None,
        used=0,
        provider=provider,
        values=values or {},
        error=error,
        **_context(request, viewer),
    )


@get("/channels/new", sync_to_thread=True)
def new_channel(
    request: Request, viewer: Viewer, provider: str = Parameter(default="twilio", query="provider")
) -> Response[Any]:
    return _new_page(request, viewer, provider)


@post("/channels", sync_to_thread=True)
def create_channel(request: Request, viewer: Viewer, form: FormMultiDict) -> Response[Any]:
    provider = form_str(form, "provider")
    fields = (
        "address",
        "name",
        "type",
        "location",
        "base_url",
        "consent_sync",
        "accounts_base_url",
    )
    values = {k: form_str(form, k) for k in fields}
    try:
        with viewer.writing() as conn:
            channel = channels.create_channel(
                conn,
                viewer.principal,
                viewer.rt.keyring,
                address=values["address"],
                provider=provider,
                type=values["type"] or "sms",
                name=values["name"],
                location=values["location"],
                credentials=_credentials_from(form, provider),
                base_url=values["base_url"],
                consent_sync=bool(values["consent_sync"]),
                accounts_base_url=values["accounts_base_url"],
            )
    except StoplineError as exc:
        if exc.code == "forbidden":
            raise
        return _new_page(request, viewer, provider, values=values, error=exc.message, status=422)
    return redirect(
        request,
        f"/channels/{channel.id}",
        flash=f"Channel {channel.name} added. Paste its webhook URLs into "
        f"{channels.PROVIDER_LABELS[channel.provider]}.",
    )


def _channel_page(
    request: Request,
    viewer: Viewer,
    channel_id: int,
    *,
    error: str | None = None,
    status: int = 200,
) -> Response[Any]:
    with viewer.reading() as conn:
        channel = channels.get_channel(conn, viewer.workspace_id, viewer.rt.keyring, channel_id)
        used = channels.usage(conn, viewer.workspace_id, channel_id)
    return render(
        request,
        viewer,
        "channel_form.html",
        status=status,
        title=channel.name,
        used=used,
        nav="channels",
        channel=channel,
        provider=channel.provider,
        values={},
        error=error,
        **_context(request, viewer),
    )


@get("/channels/{channel_id:int}", sync_to_thread=True)
def channel_page(request: Request, viewer: Viewer, channel_id: int) -> Response[Any]:
    return _channel_page(request, viewer, channel_id)


@post("/channels/{channel_id:int}", sync_to_thread=True)
def update_channel(
    request: Request, viewer: Viewer, form: FormMultiDict, channel_id: int
) -> Response[Any]:
    try:
        with viewer.writing() as conn:
            current = channels.get_channel(conn, viewer.workspace_id, viewer.rt.keyring, channel_id)
            channel = channels.update_channel(
                conn,
                viewer.principal,
                viewer.rt.keyring,
                channel_id,
                name=form_str(form, "name"),
                type=form_str(form, "type") or current.type,
                location=form_str(form, "location"),
                base_url=form_str(form, "base_url"),
                credentials=_credentials_from(form, current.provider),
                consent_sync=bool(form_str(form, "consent_sync")),
                accounts_base_url=form_str(form, "accounts_base_url"),
            )
    except StoplineError as exc:
        if exc.code in ("forbidden", "channel_not_found"):
            raise
        return _channel_page(request, viewer, channel_id, error=exc.message, status=422)
    return redirect(request, f"/channels/{channel.id}", flash="Channel saved.")


@post("/channels/{channel_id:int}/disable", sync_to_thread=True)
def disable_channel(request: Request, viewer: Viewer, channel_id: int) -> Response[Any]:
    with viewer.writing() as conn:
        channel = channels.set_disabled(conn, viewer.principal, viewer.rt.keyring, channel_id, True)
    return redirect(
        request,
        f"/channels/{channel_id}",
        flash=f"{channel.name} disabled: nothing new is sent from it; texts to it still arrive.",
    )


@post("/channels/{channel_id:int}/enable", sync_to_thread=True)
def enable_channel(request: Request, viewer: Viewer, channel_id: int) -> Response[Any]:
    with viewer.writing() as conn:
        channel = channels.set_disabled(
            conn, viewer.principal, viewer.rt.keyring, channel_id, False
        )
    return redirect(request, f"/channels/{channel_id}", flash=f"{channel.name} enabled.")


@get("/channels/{channel_id:int}/remove", sync_to_thread=True)
def confirm_remove(request: Request, viewer: Viewer, channel_id: int) -> Response[Any]:
    viewer.principal.require("admin")
    with viewer.reading() as conn:
        channel = channels.get_channel(conn, viewer.workspace_id, viewer.rt.keyring, channel_id)
    return render(
        request,
        viewer,
        "channel_remove.html",
        title=f"Remove {channel.name}",
        nav="channels",
        channel=channel,
        error=None,
    )


@post("/channels/{channel_id:int}/remove", sync_to_thread=True)
def remove_channel(request: Request, viewer: Viewer, channel_id: int) -> Response[Any]:
    try:
        with viewer.writing() as conn:
            channel = channels.get_channel(conn, viewer.workspace_id, viewer.rt.keyring, channel_id)
            channels.remove_channel(conn, viewer.principal, channel_id)
    except StoplineError as exc:
        if exc.code != "channel_in_use":
            raise
        return render(
            request,
            viewer,
            "channel_remove.html",
            status=409,
            title="Remove channel",
            nav="channels",
            channel=channel,
            error=exc.message,
        )
    return redirect(request, "/channels", flash=f"Channel {channel.name} removed.")


ROUTES = [
    ui_router(
        channels_page,
        new_channel,
        create_channel,
        channel_page,
        update_channel,
        disable_channel,
        enable_channel,
        confirm_remove,
        remove_channel,
    )
]
