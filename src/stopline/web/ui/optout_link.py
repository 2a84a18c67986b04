"""The page behind an opt-out link: GET shows what will happen, POST (the recipient's click) opts
the number out with method `link`. Public: the signed token is the only credential."""

from __future__ import annotations

from typing import Any

from jinja2 import Environment, select_autoescape
from litestar import Request, Response, Router, get, post

from stopline.domain.errors import Forbidden
from stopline.services import links
from stopline.store.db import read, write
from stopline.web.deps import runtime_of

_env = Environment(autoescape=select_autoescape(default=True, default_for_string=True))
_PAGE = _env.from_string(
    """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{{ title }}</title>
<style>
body{font:16px/1.5 system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem;color:#1a1a1a}
h1{font-size:1.4rem}button{font:inherit;padding:.6rem 1.2rem;border:0;border-radius:.4rem;
background:#b3261e;color:#fff;cursor:pointer}.note{color:#555;font-size:.9rem}
</style></head><body>
<main>
<h1>{{ title }}</h1>
{% if state == "confirm" %}
<p>{{ brand }} will stop sending text messages to <strong>{{ number }}</strong>.</p>
<form method="post"><button type="submit">Stop messages</button></form>
<p class="note">You can also reply STOP to any of our messages.</p>
{% elif state == "done" %}
<p>{{ brand }} will send no more messages to <strong>{{ number }}</strong>.</p>
<p class="note">Changed your mind? Reply START to one of our messages.</p>
{% elif state == "already" %}
<p><strong>{{ number }}</strong> is already unsubscribed from {{ brand }}'s messages.</p>
{% else %}
<p>{{ message }}</p>
<p class="note">To stop messages, reply STOP to any message you received.</p>
{% endif %}
</main></body></html>"""
)
_HEADERS = {
    # The token is the credential: never leak it in a Referer, never cache the page.
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Robots-Tag": "noindex",
    # Framed by another site, the page's one button could be clicked by a trick (clickjacking).
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Frame-Options": "DENY",
}


def _page(status: int, **context: Any) -> Response[str]:
    return Response(
        _PAGE.render(**context), status_code=status, media_type="text/html", headers=_HEADERS
    )


def _refused(exc: Forbidden) -> Response[str]:
    expired = exc.code == "link_expired"
    return _page(
        410 if expired else 400,
        state="error",
        title="This link has expired" if expired else "This link is not valid",
        message=(
            "This unsubscribe link is too old to use."
            if expired
            else "This unsubscribe link is incomplete or has been changed."
        ),
    )


@get("/o/{token:str}", sync_to_thread=True, include_in_schema=False)
def show(request: Request, token: str) -> Response[str]:
    rt = runtime_of(request.app.state)
    try:
        with read(rt.engine) as conn:
            current = links.status(conn, rt.keyring, token)
    except Forbidden as exc:
        return _refused(exc)
    number = links.masked(current.target.number)
    brand = current.workspace.policy.brand_name
    if current.opted_out:
        return _page(200, state="already", title="You are unsubscribed", number=number, brand=brand)
    return _page(200, state="confirm", title="Stop text messages?", number=number, brand=brand)


@post("/o/{token:str}", sync_to_thread=True, include_in_schema=False, status_code=200)
def confirm(request: Request, token: str) -> Response[str]:
    rt = runtime_of(request.app.state)
    try:
        with write(rt.engine) as conn:
            current, result = links.opt_out(conn, rt.keyring, token)
    except Forbidden as exc:
        return _refused(exc)
    number = links.masked(current.target.number)
    brand = current.workspace.policy.brand_name
    state = "done" if result is not None else "already"
    return _page(200, state=state, title="You are unsubscribed", number=number, brand=brand)


ROUTES = [Router(path="/", route_handlers=[show, confirm])]
