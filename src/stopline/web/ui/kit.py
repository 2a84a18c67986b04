"""What every page shares: the signed-in viewer, CSRF checking, rendering, redirects and flashes.

Pages are thin: they read the request, call a service inside a transaction and render a
template. Templates are autoescaped, so message bodies and every user-supplied string
arrive as text, never as markup.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from jinja2 import Environment, FileSystemLoader, StrictUndefined, pass_context, select_autoescape
from litestar import Request, Response, Router
from litestar.datastructures import Cookie, FormMultiDict
from litestar.di import Provide
from litestar.exceptions import HTTPException
from litestar.response import Redirect
from sqlalchemy import Connection

from stopline import __version__
from stopline.domain.errors import StoplineError
from stopline.runtime import Runtime
from stopline.services import sessions
from stopline.services.sessions import WebSession
from stopline.services.workspaces import ROLE_RANK, Principal
from stopline.store.db import read, write
from stopline.web.deps import runtime_of
from stopline.web.errors import status_for

HERE = Path(__file__).parent
SESSION_COOKIE = "stopline_session"
FLASH_COOKIE = "stopline_flash"
SIGN_IN_CSRF_COOKIE = "stopline_signin"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


class SignInRequired(Exception):
    """No live session: pages redirect to sign-in, htmx requests are told to."""


class CsrfRejected(Exception):
    pass


@dataclass(frozen=True)
class Viewer:
    """The signed-in member and the running app, as a page handler sees them."""

    session: WebSession
    rt: Runtime

    @property
    def principal(self) -> Principal:
        return self.session.principal

    @property
    def workspace_id(self) -> int:
        return self.session.workspace_id

    @property
    def role(self) -> str:
        return self.session.role

    def can(self, role: str) -> bool:
        return ROLE_RANK[self.session.role] >= ROLE_RANK[role]

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        with read(self.rt.engine) as conn:
            yield conn

    @contextmanager
    def writing(self) -> Iterator[Connection]:
        with write(self.rt.engine) as conn:
            yield conn


# --- templates --------------------------------------------------------------------------------


TIME_FORMAT = "%b %-d, %Y, %H:%M %Z"  # the one way a time is shown: Dec 3, 2026, 09:05 EST
FULL_TIME_FORMAT = "%b %-d, %Y, %H:%M:%S %Z"
DATE_FORMAT = "%b %-d, %Y"


def zone_of(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def format_when(value: datetime | date | None, zone: str | None, style: str = "short") -> str:
    """Every time in the UI: in the reader's zone (their own, else the workspace's), zone named."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value
        local = value.astimezone(zone_of(zone))
        return local.strftime(FULL_TIME_FORMAT if style == "full" else TIME_FORMAT)
    return value.strftime(DATE_FORMAT)


@pass_context
def _when(ctx: Any, value: datetime | date | None, style: str = "short") -> str:
    return format_when(value, ctx.get("tz"), style)


def _iso(value: datetime | date | None) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime) and value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.isoformat()


def _phone(number: str | None) -> str:
    """+14155550100 -> +1 415 555 0100 for reading; the E.164 form stays in links and data."""
    if not number:
        return ""
    try:
        import phonenumbers

        parsed = phonenumbers.parse(number, None)
        return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    except Exception:  # noqa: BLE001 - short codes and odd addresses are shown as stored
        return number


def _query(params: dict[str, Any], **changes: Any) -> str:
    merged = {**params, **changes}
    clean = {k: v for k, v in merged.items() if v not in (None, "", False)}
    return "?" + urllib.parse.urlencode(clean, doseq=True) if clean else "?"


env = Environment(
    loader=FileSystemLoader(str(HERE / "templates")),
    autoescape=select_autoescape(default=True, default_for_string=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
env.filters["when"] = _when
env.filters["iso"] = _iso
env.filters["phone"] = _phone
env.filters["tojson_attr"] = lambda v: json.dumps(v)
env.globals["query"] = _query
env.globals["version"] = __version__

METHOD_LABELS = {
    "reply": "Reply",
    "manual": "Manual",
    "link": "Link",
    "import": "Import",
    "api": "API",
    "carrier": "Carrier",
}
env.globals["METHOD_LABELS"] = METHOD_LABELS
# Navigation entries that show a count beside them, and what the count is of (screen readers).
env.globals["COUNTED_NAV"] = {"inbox": "unread", "review": "pending"}


def render_string(template: str, **context: Any) -> str:
    return env.get_template(template).render(**context)


def _flash_from(request: Request) -> dict[str, str] | None:
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw:
        return None
    try:
        data = json.loads(urllib.parse.unquote(raw))
        return {"kind": str(data["kind"]), "text": str(data["text"])}
    except (ValueError, KeyError, TypeError, RecursionError):  # the cookie is the client's
        return None


def render(
    request: Request,
    viewer: Viewer | None,
    template: str,
    *,
    status: int = 200,
    title: str = "",
    nav: str = "",
    **context: Any,
) -> Response[str]:
    flash = _flash_from(request)
    if viewer is not None and not is_htmx(request) and "nav_counts" not in context:
        context["nav_counts"] = nav_counts(viewer)
    html = render_string(
        template,
        request=request,
        viewer=viewer,
        session=viewer.session if viewer else None,
        csrf=viewer.session.csrf_token if viewer else "",
        tz=viewer.session.time_zone if viewer else "UTC",
        title=title,
        nav=nav,
        flash=flash,
        htmx=is_htmx(request),
        **context,
    )
    response: Response[str] = Response(
        html, status_code=status, media_type="text/html; charset=utf-8", headers=SECURITY_HEADERS
    )
    if flash is not None:
        response.delete_cookie(FLASH_COOKIE, path="/")
    return response


def nav_counts(viewer: Viewer) -> dict[str, int]:
    """The numbers beside the navigation: this person's unread conversations, pending reviews."""
    try:
        with viewer.reading() as conn:
            return nav_counts_in(conn, viewer)
    except Exception:  # noqa: BLE001 - an error page must render even if the database is down
        return {}


def nav_counts_in(conn: Connection, viewer: Viewer) -> dict[str, int]:
    from stopline.services import inbox, review

    return {
        "inbox": inbox.unread_count(conn, viewer.workspace_id, viewer.session.user_id),
        "review": review.pending_count(conn, viewer.workspace_id),
    }


SECURITY_HEADERS = {
    # Scripts only from this origin: even a body that slipped past escaping could not run.
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def is_https(request: Request) -> bool:
    if request.url.scheme == "https":
        return True
    if request.headers.get("x-forwarded-proto", "").split(",")[0].strip() == "https":
        return True
    rt = runtime_of(request.app.state)
    return bool(rt.config.public_url and rt.config.public_url.startswith("https://"))


def cookie(request: Request, key: str, value: str, *, max_age: int | None = None) -> Cookie:
    return Cookie(
        key=key,
        value=value,
        path="/",
        httponly=True,
        samesite="lax",
        secure=is_https(request),
        max_age=max_age,
    )


_SAME_SITE_PATH = re.compile(r"/(?![/\\])[\x21-\x7e]{0,2000}")


def safe_next(target: str | None, default: str = "/inbox") -> str:
    """Only go back within this site: a path of printable ASCII, never another origin.

    Browsers drop tabs and newlines from URLs and read a backslash as a slash, so
    ``/<TAB>/evil.example`` or ``/\\evil.example`` would leave the site: no control character,
    space, backslash or non-ASCII character is allowed, and the path may not start with ``//``.
    Every use of ``next`` (redirects, Back and Cancel links, hidden fields) passes here.
    """
    if not target or not _SAME_SITE_PATH.fullmatch(target) or "\\" in target:
        return default
    return target


def redirect(
    request: Request, url: str, *, flash: str | None = None, kind: str = "ok"
) -> Response[Any]:
    """After a form: go to `url` (303), with an optional one-time message."""
    if is_htmx(request):
        response: Response[Any] = Response("", status_code=204, headers={"HX-Redirect": url})
    else:
        response = Redirect(url, status_code=303)
    if flash:
        payload = urllib.parse.quote(json.dumps({"kind": kind, "text": flash[:500]}))
        response.set_cookie(cookie(request, FLASH_COOKIE, payload, max_age=60))
    return response


# --- dependencies -----------------------------------------------------------------------------


async def provide_form(request: Request) -> FormMultiDict:
    content_type = request.headers.get("content-type", "")
    if request.method in UNSAFE and ("form" in content_type or "multipart" in content_type):
        return await request.form()
    return FormMultiDict({})


async def provide_viewer(request: Request, form: FormMultiDict) -> Viewer:
    """The live session from the cookie; on unsafe methods the request must carry its CSRF token.

    It takes the parsed `form` as a dependency rather than reading the body itself: Litestar
    resolves independent dependencies concurrently, and two readers of one request body race
    (under load the loser sees no body, so a good CSRF token looked missing).
    """
    from anyio import to_thread

    rt = runtime_of(request.app.state)
    token = request.cookies.get(SESSION_COOKIE)

    def load() -> WebSession | None:
        with read(rt.engine) as conn:
            return sessions.load(conn, token)

    session = await to_thread.run_sync(load) if token else None
    if session is None:
        raise SignInRequired()
    if request.method in UNSAFE:
        given = request.headers.get(CSRF_HEADER) or form.get(CSRF_FIELD)
        if not sessions.csrf_matches(session, given if isinstance(given, str) else None):
            raise CsrfRejected()
    return Viewer(session, rt)


# --- errors -----------------------------------------------------------------------------------


def _sign_in_required(request: Request, exc: SignInRequired) -> Response[Any]:
    target = "/sign-in"
    if request.method == "GET":
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        target += "?" + urllib.parse.urlencode({"next": path})
    if is_htmx(request):
        return Response("", status_code=401, headers={"HX-Redirect": target})
    if request.method != "GET":
        return _error_page(
            request, None, 401, "Your session has ended", "Sign in again to continue."
        )
    return Redirect(target, status_code=303)


def _csrf_rejected(request: Request, exc: CsrfRejected) -> Response[Any]:
    return _error_page(
        request,
        None,
        403,
        "This form has expired",
        "The page was open too long or came from another site. Go back, reload it and try again.",
    )


def _error_page(
    request: Request, viewer: Viewer | None, status: int, heading: str, message: str
) -> Response[Any]:
    return render(
        request,
        viewer,
        "error.html",
        status=status,
        title=heading,
        heading=heading,
        message=message,
    )


def _viewer_or_none(request: Request) -> Viewer | None:
    rt = runtime_of(request.app.state)
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    try:
        with read(rt.engine) as conn:
            session = sessions.load(conn, token)
    except Exception:  # noqa: BLE001 - an error page must render even if the database is down
        return None
    return Viewer(session, rt) if session else None


def _stopline_error(request: Request, exc: StoplineError) -> Response[Any]:
    status = status_for(exc)
    heading = {403: "Not allowed", 404: "Not found", 401: "Sign in needed"}.get(
        status, "That did not work"
    )
    return _error_page(request, _viewer_or_none(request), status, heading, exc.message)


def _http_error(request: Request, exc: HTTPException) -> Response[Any]:
    heading = "Not found" if exc.status_code == 404 else "That did not work"
    message = "There is nothing at this address." if exc.status_code == 404 else str(exc.detail)
    return _error_page(request, _viewer_or_none(request), exc.status_code, heading, message)


def ui_router(*handlers: Any) -> Router:
    """Group a module's pages with the viewer, form and HTML error handling they share."""
    return Router(
        path="/",
        route_handlers=list(handlers),
        dependencies={
            "viewer": Provide(provide_viewer),
            "form": Provide(provide_form),
        },
        exception_handlers={
            SignInRequired: _sign_in_required,
            CsrfRejected: _csrf_rejected,
            StoplineError: _stopline_error,
            HTTPException: _http_error,
        },
        include_in_schema=False,
    )


# --- small helpers pages share ----------------------------------------------------------------


def form_str(form: FormMultiDict, key: str, default: str = "") -> str:
    value = form.get(key)
    return value.strip() if isinstance(value, str) else default


def form_list(form: FormMultiDict, key: str) -> list[str]:
    return [v for v in form.getall(key, []) if isinstance(v, str)]


def int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value not in (None, "") else None  # type: ignore[arg-type]
    except ValueError:
        return None


def optional_service(name: str) -> Any | None:
    """A service module another part of stopline provides, or None while it does not exist yet."""
    import importlib
    import importlib.util

    try:
        if importlib.util.find_spec(name) is None:
            return None
        return importlib.import_module(name)
    except ImportError:
        return None


def has(module: Any | None, *names: str) -> bool:
    return module is not None and all(callable(getattr(module, n, None)) for n in names)


Handler = Callable[..., Any]
