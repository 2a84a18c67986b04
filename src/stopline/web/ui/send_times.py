"""Settings · Send times: the workspace's own windows, caps and holiday closures per message
category, beside the built-in rules (read-only, with their sources)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from litestar import Request, Response, get, post
from litestar.datastructures import FormMultiDict

from stopline.domain.errors import Forbidden, StoplineError
from stopline.domain.policy import Policy
from stopline.domain.send_rules import DAYS, RULES, Category
from stopline.services import workspaces
from stopline.web.ui.kit import Viewer, form_list, form_str, redirect, render, ui_router

CATEGORIES = {
    Category.CONVERSATIONAL.value: "Conversational: replies within 24 hours of the recipient's "
    "last message, and STOP/HELP confirmations",
    Category.INFORMATIONAL.value: "Informational: reminders, notices, account messages",
    Category.MARKETING.value: "Marketing: offers and campaigns",
}


def in_words(label: str, check: Any, now: datetime) -> str:
    """ "Marketing texts: not before 8:00 tomorrow, Florida time" (for a `checks.SendCheck`)."""
    if check.timing is None:
        return f"{label}: not sent ({check.as_dict().get('code', 'refused')})"
    timing = check.timing
    place = timing.location.place()
    if timing.allowed:
        return f"{label}: may go now ({place} time)"
    local = timing.local_until()
    if timing.verdict.value == "refused" or local is None:
        return f"{label}: refused ({timing.reason})"
    today = now.astimezone(local.tzinfo).date()
    days = (local.date() - today).days
    day = (
        "today" if days == 0 else "tomorrow" if days == 1 else f"{local:%A} {local:%b} {local.day}"
    )
    why = " (frequency cap)" if timing.reason and timing.reason.value == "frequency_cap" else ""
    return f"{label}: not before {local.hour}:{local.minute:02d} {day}, {place} time{why}"


def _changes_from(form: FormMultiDict) -> dict[str, Any]:
    windows: dict[str, dict[str, Any]] = {}
    caps: dict[str, int | str] = {}
    for cat in CATEGORIES:
        if form_str(form, f"window_{cat}_on"):
            hours = [form_str(form, f"window_{cat}_start"), form_str(form, f"window_{cat}_end")]
            days = form_list(form, f"window_{cat}_days")
            windows[cat] = {day: (hours if day in days else None) for day in DAYS}
        cap = form_str(form, f"cap_{cat}")
        if cap:
            caps[cat] = int(cap) if cap.isdigit() else cap
    country = form_str(form, "holidays_country")
    holidays: dict[str, Any] = {}
    if country:
        holidays = {
            "country": country,
            "subdivision": form_str(form, "holidays_subdivision") or None,
            "categories": form_list(form, "holidays_categories"),
        }
    return {
        "send_windows": windows,
        "send_caps": caps,
        "send_holidays": holidays,
        "send_time_exempt": form_list(form, "send_time_exempt"),
        "confirmations_exempt": bool(form_str(form, "confirmations_exempt")),
        "over_cap": form_str(form, "over_cap") or "defer",
    }


def _page(
    request: Request,
    viewer: Viewer,
    *,
    policy: Policy | None = None,
    error: str | None = None,
    status: int = 200,
) -> Response[Any]:
    if policy is None:
        with viewer.reading() as conn:
            policy = workspaces.get_workspace(conn, viewer.workspace_id).policy
    return render(
        request,
        viewer,
        "settings_send_times.html",
        status=status,
        title="Settings · Send times",
        nav="settings",
        tab="send_times",
        policy=policy,
        windows={c: w.to_dict() for c, w in policy.send_time_rules.windows},
        error=error,
        categories=CATEGORIES,
        days=DAYS,
        rules=[r.as_dict() for r in RULES],
        editable=viewer.can("admin"),
    )


@get("/settings/send-times", sync_to_thread=True)
def send_times(request: Request, viewer: Viewer) -> Response[Any]:
    return _page(request, viewer)


@post("/settings/send-times", sync_to_thread=True)
def save_send_times(request: Request, viewer: Viewer, form: FormMultiDict) -> Response[Any]:
    viewer.principal.require("admin")
    try:
        with viewer.writing() as conn:
            workspaces.update_settings(conn, viewer.principal, _changes_from(form))
    except Forbidden:
        raise
    except StoplineError as exc:
        return _page(request, viewer, error=exc.message, status=422)
    return redirect(request, "/settings/send-times", flash="Send-time settings saved.")


ROUTES = [ui_router(send_times, save_send_times)]
