"""Unsubscribe, opt in, block and unblock a number, after a confirmation that says what it does.

Every place in the app that offers these actions (inbox panel, contact page, Opt-Outs page)
links here, so the wording, the rules and the ledger record are the same everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar import Request, Response, get, post
from litestar.datastructures import FormMultiDict
from litestar.params import Parameter

from stopline.domain.errors import InvalidInput, NotFound, StoplineError
from stopline.domain.numbers import normalize
from stopline.services import optouts, preferences, workspaces
from stopline.web.ui.kit import (
    Viewer,
    form_str,
    redirect,
    render,
    safe_next,
    ui_router,
)


@dataclass(frozen=True)
class ActionText:
    title: str
    button: str
    danger: bool
    done: str


ACTIONS = {
    "unsubscribe": ActionText("Unsubscribe", "Yes, unsubscribe", True, "Unsubscribed"),
    "opt-in": ActionText("Opt back in", "Yes, opt back in", False, "Opted back in"),
    "block": ActionText("Block", "Yes, block", True, "Blocked"),
    "unblock": ActionText("Unblock", "Yes, unblock", False, "Unblocked"),
}


def _number(viewer: Viewer, raw: str) -> tuple[str, Any]:
    with viewer.reading() as conn:
        policy = workspaces.get_workspace(conn, viewer.workspace_id).policy
    return normalize(raw, policy.default_region), policy


def _confirm_page(
    request: Request,
    viewer: Viewer,
    raw_number: str,
    action: str,
    next_url: str,
    *,
    error: str | None = None,
    reason: str = "",
    status: int = 200,
) -> Response[Any]:
    if action not in ACTIONS:
        raise NotFound("There is no such action.", code="action_unknown")
    number, policy = _number(viewer, raw_number)
    with viewer.reading() as conn:
        prefs = preferences.for_number(conn, viewer.workspace_id, number, policy)
    return render(
        request,
        viewer,
        "confirm_action.html",
        status=status,
        title=f"{ACTIONS[action].title} {number}",
        number=number,
        action=action,
        text=ACTIONS[action],
        prefs=prefs,
        policy=policy,
        next_url=next_url,
        error=error,
        reason=reason,
    )


@get("/numbers/{number:str}/{action:str}", sync_to_thread=True)
def confirm_action(
    request: Request,
    viewer: Viewer,
    number: str,
    action: str,
    next_url: str = Parameter(default="", query="next"),
) -> Response[Any]:
    return _confirm_page(request, viewer, number, action, safe_next(next_url, "/opt-outs"))


@post("/numbers/{number:str}/{action:str}", sync_to_thread=True)
def do_action(
    request: Request, viewer: Viewer, form: FormMultiDict, number: str, action: str
) -> Response[Any]:
    next_url = safe_next(form_str(form, "next"), "/opt-outs")
    reason = form_str(form, "reason")
    if action not in ACTIONS:
        raise NotFound("There is no such action.", code="action_unknown")
    try:
        with viewer.writing() as conn:
            principal = viewer.principal
            if action == "unsubscribe":
                result = optouts.add_opt_out(conn, principal, number, reason=reason or None)
            elif action == "opt-in":
                if not reason:
                    raise InvalidInput(
                        "Write down how the recipient gave their consent (e.g. 'Asked by phone "
                        "on Sept 2 to receive reminders again').",
                        code="consent_note_required",
                    )
                result = optouts.remove_opt_out(conn, principal, number, consent_note=reason)
            elif action == "block":
                result = optouts.block(conn, principal, number, reason=reason or None)
            else:
                result = optouts.unblock(conn, principal, number, reason=reason or None)
    except StoplineError as exc:
        return _confirm_page(
            request,
            viewer,
            number,
            action,
            next_url,
            error=exc.message,
            reason=reason,
            status=422 if isinstance(exc, InvalidInput) else 403,
        )
    shown = result.event.number if result.event else number
    if not result.changed:
        message = {
            "unsubscribe": f"{shown} was already unsubscribed; nothing changed.",
            "opt-in": f"{shown} had no opt-out to lift; nothing changed.",
            "block": f"{shown} was already blocked.",
            "unblock": f"{shown} was not blocked.",
        }[action]
        return redirect(request, next_url, flash=message, kind="warn")
    message = f"{ACTIONS[action].done} {shown}."
    if result.canceled_messages:
        plural = "s" if result.canceled_messages != 1 else ""
        message += f" {result.canceled_messages} queued message{plural} cancelled."
    if action == "unblock":
        message += " It stays opted out until the recipient opts back in."
    return redirect(request, next_url, flash=message)


ROUTES = [ui_router(confirm_action, do_action)]
