"""Compose: a new message to a number or a contact, with the gate's answer shown as you type.

The page asks the gate (htmx, on every change of number, channel or text) so the writer sees a
refusal before sending; sending queues through the one enqueue, and the hand-off checks again.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from litestar import Request, Response, get, post
from litestar.datastructures import FormMultiDict
from litestar.params import Parameter

from stopline.domain.errors import InvalidInput, StoplineError
from stopline.domain.segments import count_segments
from stopline.services import compose, directory, workspaces
from stopline.services.queueing import MAX_BODY
from stopline.web.ui.inbox import refusal_text
from stopline.web.ui.kit import (
    Viewer,
    form_str,
    format_when,
    int_or_none,
    redirect,
    render,
    ui_router,
    zone_of,
)

MAX_SUGGESTIONS = 200


def parse_when(value: str, zone: str = "UTC") -> datetime | None:
    """A datetime-local field's value ("2026-12-03T09:30"), read in the person's time zone
    (their own, else the workspace's: the zone every time on their pages is shown in); empty
    means now. Returned in UTC."""
    value = (value or "").strip()
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"{value!r} is not a date and time.", code="schedule_invalid") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zone_of(zone))
    return parsed.astimezone(UTC)


def _when_or_none(values: dict[str, Any]) -> datetime | None:
    """The chosen send time, if one is chosen and readable (the live check ignores a bad one)."""
    if not values.get("schedule"):
        return None
    try:
        return parse_when(values.get("when") or "")
    except InvalidInput:
        return None


def _fields(form: FormMultiDict) -> dict[str, Any]:
    return {
        "to": form_str(form, "to"),
        "channel_id": int_or_none(form_str(form, "channel_id")),
        "body": str(form.get("body") or ""),
        "when": form_str(form, "when"),
        "schedule": form_str(form, "schedule") == "later",
        "contact_id": int_or_none(form_str(form, "contact_id")),
        "category": form_str(form, "category") or "informational",
    }


def _page(
    request: Request,
    viewer: Viewer,
    values: dict[str, Any],
    *,
    error: str | None = None,
    refusal: str | None = None,
    status: int = 200,
) -> Response[Any]:
    with viewer.reading() as conn:
        channels = compose.sendable_channels(conn, viewer.workspace_id)
        if values.get("channel_id") is None and channels:
            values["channel_id"] = channels[0].id
        contact = None
        if values.get("contact_id") is not None:
            contact = directory.get_contact(conn, viewer.workspace_id, values["contact_id"])
            if not values.get("to") and contact.numbers:
                values["to"] = contact.numbers[0]
        suggestions, _total = directory.list_contacts(
            conn, viewer.workspace_id, directory.ContactFilter(), limit=MAX_SUGGESTIONS
        )
        answer = compose.check(
            conn,
            viewer.workspace_id,
            to=values.get("to") or "",
            channel_id=values.get("channel_id"),
            body=values.get("body") or "",
            category=values.get("category"),
            at=_when_or_none(values),
        )
        policy = workspaces.get_workspace(conn, viewer.workspace_id).policy
    return render(
        request,
        viewer,
        "compose.html",
        status=status,
        title="New message",
        nav="inbox",
        values=values,
        channels=channels,
        contact=contact,
        suggestions=suggestions,
        answer=answer,
        answer_text=_answer_text(answer, policy),
        error=error,
        refusal=refusal,
        CATEGORIES=compose.CATEGORIES,
    )


def _answer_text(answer: compose.Check, policy: Any) -> str:
    if answer.refusal is not None:
        text = refusal_text(
            answer.refusal.code.value, answer.number or "", policy, answer.refusal.detail
        )
        return text.replace("Not sent", "Would not be sent", 1)  # nothing was sent yet
    if answer.number is None:
        return ""
    consent = f"{answer.number} has not opted out and is not blocked"
    timing = answer.timing
    if answer.time_refused and timing is not None:
        return f"Would not be sent: {timing.rule or timing.reason} ({consent})."
    until = answer.held_until
    if until is not None and timing is not None:
        return (
            f"Can be sent, but it waits until {until:%b %-d, %H:%M} {until:%Z} in the "
            f"recipient's time zone: {timing.rule or timing.reason}. ({consent}.)"
        )
    return f"Can be sent: {consent}."


@get("/compose", sync_to_thread=True)
def compose_page(
    request: Request,
    viewer: Viewer,
    to: str = Parameter(default="", query="to"),
    contact_id: int | None = Parameter(default=None, query="contact"),
    channel_id: int | None = Parameter(default=None, query="channel"),
) -> Response[Any]:
    values = {
        "to": to[:64],
        "contact_id": contact_id,
        "channel_id": channel_id,
        "body": "",
        "when": "",
        "schedule": False,
        "category": "informational",
    }
    return _page(request, viewer, values)


@post("/compose/check", sync_to_thread=True)
def compose_check(request: Request, viewer: Viewer, form: FormMultiDict) -> Response[Any]:
    """The gate's answer and the segment count, as a fragment for htmx (nothing is stored)."""
    values = _fields(form)
    try:
        with viewer.reading() as conn:
            answer = compose.check(
                conn,
                viewer.workspace_id,
                to=values["to"],
                channel_id=values["channel_id"],
                body=values["body"],
                category=values["category"],
                at=_when_or_none(values),
            )
            policy = workspaces.get_workspace(conn, viewer.workspace_id).policy
    except StoplineError as exc:
        return render(request, viewer, "_compose_check.html", answer=None, answer_text=exc.message)
    return render(
        request,
        viewer,
        "_compose_check.html",
        answer=answer,
        answer_text=_answer_text(answer, policy),
    )


@post("/compose/count", sync_to_thread=True)
def compose_count(request: Request, viewer: Viewer, form: FormMultiDict) -> Response[Any]:
    """The segment counter of the body typed so far, as a fragment for htmx."""
    body = str(form.get("body") or "")[: MAX_BODY * 2]
    return render(request, viewer, "_segments.html", s=count_segments(body))


@post("/compose", sync_to_thread=True)
def compose_send(request: Request, viewer: Viewer, form: FormMultiDict) -> Response[Any]:
    values = _fields(form)
    try:
        when = parse_when(values["when"], viewer.session.time_zone) if values["schedule"] else None
        if values["schedule"] and when is None:
            raise InvalidInput("Choose when to send it, or send it now.", code="schedule_required")
        with viewer.writing() as conn:
            composed = compose.send_new(
                conn,
                viewer.principal,
                to=values["to"],
                channel_id=values["channel_id"],
                body=values["body"],
                scheduled_at=when,
                category=values["category"],
            )
            policy = workspaces.get_workspace(conn, viewer.workspace_id).policy
    except StoplineError as exc:
        return _page(request, viewer, values, error=exc.message, status=422)
    message = composed.message
    if message.refusal_code:
        return _page(
            request,
            viewer,
            values,
            refusal=refusal_text(message.refusal_code, message.to, policy, message.error_message),
            status=422,
        )
    target = f"/inbox/{composed.conversation_id}" if composed.conversation_id else "/inbox"
    if message.status == "scheduled" and message.scheduled_at is not None:
        flash = (
            f"Scheduled for {format_when(message.scheduled_at, viewer.session.time_zone)}. "
            "It is checked against "
            "opt-outs and blocks again when it goes."
        )
    elif message.status == "scheduled":
        why = (message.hold_reason or "send-time rules").replace("_", " ")
        flash = f"Queued: it waits for the recipient's sending hours ({why})."
    else:
        flash = "Message queued."
    return redirect(request, target, flash=flash)


ROUTES = [ui_router(compose_page, compose_check, compose_count, compose_send)]
