"""Campaigns: list, write (with a segment counter), preview who is reached and who is skipped
and why, confirm, then follow the sending live, per recipient, and cancel."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from litestar import Request, Response, get, post
from litestar.datastructures import FormMultiDict
from litestar.params import Parameter

from stopline.domain.errors import InvalidInput, StoplineError
from stopline.domain.segments import count_segments
from stopline.services import campaign_report, campaigns, channels, compose
from stopline.services.consent import now_utc
from stopline.services.queueing import MAX_BODY
from stopline.web.ui.compose import parse_when
from stopline.web.ui.kit import (
    Viewer,
    form_list,
    form_str,
    format_when,
    int_or_none,
    redirect,
    render,
    ui_router,
)

PAGE_SIZE = 50


def _fields(form: FormMultiDict) -> dict[str, Any]:
    return {
        "name": form_str(form, "name"),
        "body": str(form.get("body") or ""),
        "channel_id": int_or_none(form_str(form, "channel_id")),
        "list_ids": sorted({i for i in (int_or_none(v) for v in form_list(form, "list_ids")) if i}),
        "schedule": form_str(form, "schedule") == "later",
        "when": form_str(form, "when"),
    }


def _blank() -> dict[str, Any]:
    return {
        "name": "",
        "body": "",
        "channel_id": None,
        "list_ids": [],
        "schedule": False,
        "when": "",
    }


def _choices(viewer: Viewer) -> dict[str, Any]:
    with viewer.reading() as conn:
        return {
            "channels": compose.sendable_channels(conn, viewer.workspace_id),
            "lists": campaigns.list_lists(conn, viewer.workspace_id),
        }


@get("/campaigns", sync_to_thread=True)
def campaigns_page(
    request: Request, viewer: Viewer, page: int = Parameter(default=1, query="page", ge=1)
) -> Response[Any]:
    with viewer.reading() as conn:
        listed = campaigns.list_campaigns(
            conn, viewer.workspace_id, limit=PAGE_SIZE + 1, offset=(page - 1) * PAGE_SIZE
        )
        # Each with its live status (a campaign whose last message went is "done").
        found = [campaigns.get_campaign(conn, viewer.workspace_id, c.id) for c in listed]
        rates = {
            c.id: campaign_report.opt_out_rate(conn, viewer.workspace_id, c.id)
            for c in found[:PAGE_SIZE]
        }
        names = channels.channel_names(conn, viewer.workspace_id)
    return render(
        request,
        viewer,
        "campaigns.html",
        title="Campaigns",
        nav="campaigns",
        campaigns=found[:PAGE_SIZE],
        more=len(found) > PAGE_SIZE,
        page=page,
        rates=rates,
        channel_names=names,
        now=now_utc(),
    )


def _form(
    request: Request,
    viewer: Viewer,
    values: dict[str, Any],
    *,
    error: str | None = None,
    status: int = 200,
) -> Response[Any]:
    return render(
        request,
        viewer,
        "campaign_form.html",
        status=status,
        title="New campaign",
        nav="campaigns",
        values=values,
        segments=count_segments(values["body"]),
        error=error,
        MAX_BODY=MAX_BODY,
        **_choices(viewer),
    )


@get("/campaigns/new", sync_to_thread=True)
def new_campaign(request: Request, viewer: Viewer) -> Response[Any]:
    return _form(request, viewer, _blank())


@post("/campaigns/new", sync_to_thread=True)
def edit_new_campaign(request: Request, viewer: Viewer, form: FormMultiDict) -> Response[Any]:
    """Back from the preview to the form, with what was written."""
    return _form(request, viewer, _fields(form))


def _validated(values: dict[str, Any], zone: str) -> datetime | None:
    """Check what create_campaign checks too, so the preview never promises what fails."""
    if not values["name"] or len(values["name"]) > 200:
        raise InvalidInput("A campaign needs a name (up to 200 characters).", code="name_required")
    if not values["body"].strip():
        raise InvalidInput("A campaign needs a message.", code="body_required")
    if len(values["body"]) > MAX_BODY:
        raise InvalidInput(f"A message is at most {MAX_BODY} characters.", code="body_too_long")
    if not values["list_ids"]:
        raise InvalidInput("Choose at least one list to send to.", code="list_required")
    if values["channel_id"] is None:
        raise InvalidInput("Choose the channel to send from.", code="channel_required")
    if not values["schedule"]:
        return None
    when = parse_when(values["when"], zone)
    if when is None:
        raise InvalidInput("Choose when to send it, or send it now.", code="schedule_required")
    compose.check_send_time(when, now_utc())
    return when


@post("/campaigns/preview", sync_to_thread=True)
def preview_campaign(request: Request, viewer: Viewer, form: FormMultiDict) -> Response[Any]:
    values = _fields(form)
    try:
        when = _validated(values, viewer.session.time_zone)
        with viewer.reading() as conn:
            counts = campaign_report.audience(
                conn,
                viewer.workspace_id,
                list_ids=values["list_ids"],
                channel_id=values["channel_id"],
            )
    except StoplineError as exc:
        return _form(request, viewer, values, error=exc.message, status=422)
    choices = _choices(viewer)
    segments = count_segments(values["body"])
    return render(
        request,
        viewer,
        "campaign_preview.html",
        title="Review the campaign",
        nav="campaigns",
        values=values,
        when=when,
        counts=counts,
        skipped=sum(v for k, v in counts.items() if k != "allowed"),
        segments=segments,
        SKIP_REASONS=campaign_report.SKIP_REASONS,
        channel={c.id: c for c in choices["channels"]}.get(values["channel_id"]),
        list_names=[x.name for x in choices["lists"] if x.id in values["list_ids"]],
    )


@post("/campaigns", sync_to_thread=True)
def create_campaign(request: Request, viewer: Viewer, form: FormMultiDict) -> Response[Any]:
    values = _fields(form)
    try:
        when = _validated(values, viewer.session.time_zone)
        with viewer.writing() as conn:
            campaign = campaigns.create_campaign(
                conn,
                viewer.principal,
                name=values["name"],
                body=values["body"],
                list_ids=values["list_ids"],
                channel_id=values["channel_id"],
                scheduled_at=when,
            )
    except StoplineError as exc:
        return _form(request, viewer, values, error=exc.message, status=422)
    flash = (
        f"Campaign scheduled for {format_when(when, viewer.session.time_zone)}."
        if when
        else "Campaign started: its messages are being queued and sent."
    )
    return redirect(request, f"/campaigns/{campaign.id}", flash=flash)


@get("/campaigns/{campaign_id:int}", sync_to_thread=True)
def campaign_page(
    request: Request,
    viewer: Viewer,
    campaign_id: int,
    status: str = Parameter(default="", query="status"),
    reason: str = Parameter(default="", query="reason"),
    page: int = Parameter(default=1, query="page", ge=1),
) -> Response[Any]:
    with viewer.reading() as conn:
        campaign = campaigns.get_campaign(conn, viewer.workspace_id, campaign_id)
        rows, total = campaign_report.recipients(
            conn,
            viewer.workspace_id,
            campaign_id,
            status=status or None,
            refusal=reason or None,
            limit=PAGE_SIZE,
            offset=(page - 1) * PAGE_SIZE,
        )
        rate = campaign_report.opt_out_rate(conn, viewer.workspace_id, campaign_id)
        lists = {x.id: x.name for x in campaigns.list_lists(conn, viewer.workspace_id)}
        names = channels.channel_names(conn, viewer.workspace_id)
    progress = campaign_report.progress(campaign)
    return render(
        request,
        viewer,
        "campaign.html",
        title=campaign.name,
        nav="campaigns",
        campaign=campaign,
        progress=progress,
        live=campaign_report.is_live(campaign, now_utc()),
        rate=rate,
        recipients=rows,
        total=total,
        page=page,
        pages=max(1, -(-total // PAGE_SIZE)),
        params={"status": status, "reason": reason},
        status_filter=status,
        reason_filter=reason,
        STATUSES=campaign_report.RECIPIENT_STATUSES,
        SKIP_REASONS=campaign_report.SKIP_REASONS,
        list_names=lists,
        list_label=", ".join(lists[i] for i in campaign.list_ids if i in lists),
        channel_name=names.get(campaign.channel_id, ""),
        now=now_utc(),
        segments=count_segments(campaign.body),
    )


@post("/campaigns/{campaign_id:int}/cancel", sync_to_thread=True)
def cancel_campaign(request: Request, viewer: Viewer, campaign_id: int) -> Response[Any]:
    with viewer.writing() as conn:
        campaign = campaigns.cancel_campaign(conn, viewer.principal, campaign_id)
    left = campaign.counts.get("by_status", {}).get("canceled", 0)
    return redirect(
        request,
        f"/campaigns/{campaign_id}",
        flash=f"Campaign canceled: {left} message{'s' if left != 1 else ''} not sent.",
    )


ROUTES = [
    ui_router(
        campaigns_page,
        new_campaign,
        edit_new_campaign,
        preview_campaign,
        create_campaign,
        campaign_page,
        cancel_campaign,
    )
]
