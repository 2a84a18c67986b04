"""The hosted opt-in form of a list: GET /join/{slug} shows it, POST starts the double opt-in.
Public (no sign-in); CSRF-safe by a double-submit cookie bound into the signed form token."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, Response, Router, get, post
from litestar.datastructures import Cookie
from litestar.enums import RequestEncodingType
from litestar.params import Body

from stopline.domain.errors import StoplineError
from stopline.services import join_form
from stopline.store.db import read, write
from stopline.web.deps import runtime_of
from stopline.web.ui.kit import render_string

_COOKIE = "stopline_join"
_HEADERS = {
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
    "X-Robots-Tag": "noindex",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"
    ),
}
_STATUS = {"rate_limited": 429, "form_not_found": 404, "consent_required": 422}


def _page(status: int, cookie: str | None = None, **context: Any) -> Response[str]:
    cookies = (
        [Cookie(key=_COOKIE, value=cookie, httponly=True, samesite="strict", max_age=7200)]
        if cookie
        else []
    )
    return Response(
        render_string("join.html", **context),
        status_code=status,
        media_type="text/html",
        headers=_HEADERS,
        cookies=cookies,
    )


def _form_page(
    request: Request, slug: str, status: int = 200, error: str | None = None, phone: str = ""
) -> Response[str]:
    rt = runtime_of(request.app.state)
    with read(rt.engine) as conn:
        form = join_form.open_form(conn, rt.keyring, slug, request.cookies.get(_COOKIE))
    return _page(
        status,
        cookie=form.csrf,
        state="form",
        title=f"Get {form.settings.list_name} texts",
        brand=form.workspace.policy.brand_name,
        action=f"/join/{slug}",
        token=form.token,
        csrf=form.csrf,
        consent_text=form.settings.consent_text,
        version=form.settings.consent_version,
        phone=phone,
        error=error,
    )


def _not_found() -> Response[str]:
    return _page(
        404,
        state="error",
        title="Form not found",
        brand="",
        message="This sign-up form does not exist or is closed.",
    )


@get("/join/{slug:str}", sync_to_thread=True, include_in_schema=False)
def show(request: Request, slug: str) -> Response[str]:
    try:
        return _form_page(request, slug)
    except StoplineError:
        return _not_found()


@post(
    "/join/{slug:str}",
    sync_to_thread=True,
    include_in_schema=False,
    status_code=200,
    request_max_body_size=16 * 1024,
)
def submit(
    request: Request,
    slug: str,
    data: Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)],
) -> Response[str]:
    return _handle(request, slug, data)


def _field(form: Any, name: str, limit: int = 200) -> str:
    value = form.get(name)
    if isinstance(value, list):
        value = value[0] if value else ""
    return value[:limit] if isinstance(value, str) else ""


def _handle(request: Request, slug: str, form: Any) -> Response[str]:
    rt = runtime_of(request.app.state)
    base = (rt.config.public_url or str(request.base_url)).rstrip("/")
    submission = join_form.Submission(
        phone=_field(form, "phone", 40),
        agreed=_field(form, "agree") == "yes",
        token=_field(form, "token", 600),
        csrf_form=_field(form, "csrf_token", 100),
        csrf_cookie=request.cookies.get(_COOKIE),
        honeypot=_field(form, "website"),
        ip=request.client.host if request.client else "unknown",
        user_agent=request.headers.get("user-agent", "")[: join_form.MAX_USER_AGENT],
        page_url=f"{base}/join/{slug}",
    )
    error: StoplineError | None = None
    outcome = None
    # The attempt counted by the rate limit is committed even when the submission is refused.
    with write(rt.engine) as conn:
        try:
            outcome = join_form.submit(conn, rt.keyring, slug, submission)
        except StoplineError as exc:
            error = exc
    if error is not None:
        if error.code == "form_not_found":
            return _not_found()
        try:
            return _form_page(
                request,
                slug,
                status=_STATUS.get(error.code, 400),
                error=error.message,
                phone=submission.phone,
            )
        except StoplineError:
            return _not_found()
    assert outcome is not None
    return _page(
        200,
        state="sent",
        title=f"Check your phone to join {outcome.list_name}",
        brand=outcome.brand,
        number=outcome.masked_number,
        hours=outcome.hours,
    )


ROUTES = [Router(path="/", route_handlers=[show, submit])]
