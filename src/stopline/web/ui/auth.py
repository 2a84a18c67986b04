"""Sign-in, sign-out, the workspace switcher, and the static files every page loads."""

from __future__ import annotations

import secrets
from typing import Any

from litestar import Request, Response, get, post
from litestar.datastructures import FormMultiDict
from litestar.params import Parameter
from litestar.response import Redirect
from litestar.static_files import create_static_files_router

from stopline.domain.errors import StoplineError
from stopline.services import sessions
from stopline.services.sessions import TooManyAttempts
from stopline.store.db import read
from stopline.web.deps import runtime_of
from stopline.web.ui.kit import (
    HERE,
    SESSION_COOKIE,
    SIGN_IN_CSRF_COOKIE,
    Viewer,
    cookie,
    form_str,
    int_or_none,
    redirect,
    render,
    safe_next,
    ui_router,
)


def _sign_in_page(
    request: Request, *, next_url: str, email: str = "", error: str | None = None, status: int = 200
) -> Response[Any]:
    token = secrets.token_urlsafe(24)
    response = render(
        request,
        None,
        "sign_in.html",
        status=status,
        title="Sign in",
        next_url=next_url,
        email=email,
        error=error,
        form_token=token,
    )
    response.set_cookie(cookie(request, SIGN_IN_CSRF_COOKIE, token, max_age=3600))
    return response


@get("/sign-in", sync_to_thread=True)
def sign_in_form(
    request: Request, next_url: str = Parameter(default="", query="next")
) -> Response[Any]:
    rt = runtime_of(request.app.state)
    with read(rt.engine) as conn:
        current = sessions.load(conn, request.cookies.get(SESSION_COOKIE))
    if current is not None:
        return Redirect(safe_next(next_url), status_code=303)
    return _sign_in_page(request, next_url=safe_next(next_url))


@post("/sign-in", sync_to_thread=True)
def sign_in(request: Request, form: FormMultiDict) -> Response[Any]:
    email = form_str(form, "email")
    password = form.get("password") or ""
    next_url = safe_next(form_str(form, "next"))
    # Login CSRF: the form's token must match the cookie set with the form (double submit).
    expected = request.cookies.get(SIGN_IN_CSRF_COOKIE) or ""
    if not expected or not secrets.compare_digest(expected, form_str(form, "form_token")):
        return _sign_in_page(
            request,
            next_url=next_url,
            email=email,
            error="The sign-in form expired. Please try again.",
            status=403,
        )
    if not email or not isinstance(password, str) or not password:
        return _sign_in_page(
            request,
            next_url=next_url,
            email=email,
            error="Enter your email and password.",
            status=422,
        )
    rt = runtime_of(request.app.state)
    ip = request.client.host if request.client else "unknown"
    try:
        signed = sessions.sign_in(
            rt.engine, email, password, ip=ip, previous_token=request.cookies.get(SESSION_COOKIE)
        )
    except TooManyAttempts as exc:
        return _sign_in_page(request, next_url=next_url, email=email, error=exc.message, status=429)
    except StoplineError as exc:
        return _sign_in_page(request, next_url=next_url, email=email, error=exc.message, status=401)
    response: Response[Any] = Redirect(next_url, status_code=303)
    max_age = int(sessions.SESSION_LIFETIME.total_seconds())
    response.set_cookie(cookie(request, SESSION_COOKIE, signed.token, max_age=max_age))
    response.delete_cookie(SIGN_IN_CSRF_COOKIE, path="/")
    return response


@post("/sign-out", sync_to_thread=True)
def sign_out(request: Request, viewer: Viewer) -> Response[Any]:
    with viewer.writing() as conn:
        sessions.sign_out(conn, request.cookies.get(SESSION_COOKIE))
    response: Response[Any] = Redirect("/sign-in", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@post("/workspace", sync_to_thread=True)
def switch_workspace(request: Request, viewer: Viewer, form: FormMultiDict) -> Response[Any]:
    target = int_or_none(form_str(form, "workspace_id"))
    with viewer.writing() as conn:
        membership = sessions.switch_workspace(conn, viewer.session, target or 0)
    # Ids differ between workspaces, so land on a list page rather than the same detail page.
    return redirect(request, "/inbox", flash=f"Switched to {membership.name}.")


@get("/", sync_to_thread=False)
def home() -> Redirect:
    return Redirect("/inbox", status_code=303)


static = create_static_files_router(path="/static", directories=[HERE / "static"], name="ui-static")

ROUTES = [ui_router(sign_in_form, sign_in, sign_out, switch_workspace, home), static]
