"""Issue 11, hole 9: `next` never leads off the site, and no HTML page can be framed."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stopline.services import links
from stopline.web.ui.kit import safe_next
from tests.web import ui_helpers
from tests.web.ui_helpers import csrf_of, new_workspace, sign_in

ui_app = ui_helpers.ui_app
client = ui_helpers.client

HOSTILE_NEXT = [
    "/\t/evil.example",
    "/\n/evil.example",
    "/\r\n/evil.example",
    "//evil.example",
    "/\\evil.example",
    "\\/evil.example",
    "https://evil.example/",
    "javascript:alert(1)",
    "/\x00/evil.example",
    "/\u2028/evil.example",
    "/ /evil.example",
]


def hrefs_and_next_fields(html: str) -> list[str]:
    return re.findall(r'href="([^"]*)"', html) + re.findall(r'name="next" value="([^"]*)"', html)


@pytest.mark.parametrize("target", HOSTILE_NEXT, ids=repr)
def test_back_and_cancel_links_never_carry_a_hostile_next(client, engine, target):
    created = new_workspace(engine)
    csrf = sign_in(client, created.owner_email)
    page = client.get("/numbers/+14155550123/unsubscribe", params={"next": target})
    assert page.status_code == 200
    for link in hrefs_and_next_fields(page.text):
        assert "evil" not in link and "javascript" not in link, link
    # The form's answer goes to the safe default, not the hostile target.
    done = client.post(
        "/numbers/+14155550123/unsubscribe",
        data={"csrf_token": csrf, "next": target},
        follow_redirects=False,
    )
    assert done.status_code == 303
    assert done.headers["location"] == "/opt-outs"


@pytest.mark.parametrize("target", HOSTILE_NEXT, ids=repr)
def test_sign_in_never_redirects_off_the_site(client, engine, target):
    created = new_workspace(engine)
    page = client.get("/sign-in", params={"next": target})
    assert 'name="next" value="/inbox"' in page.text
    token = re.search(r'name="form_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    response = client.post(
        "/sign-in",
        data={
            "email": created.owner_email,
            "password": ui_helpers.PASSWORD,
            "form_token": token,
            "next": target,
        },
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/inbox"


def test_a_same_site_next_is_kept(client, engine):
    created = new_workspace(engine)
    sign_in(client, created.owner_email)
    page = client.get("/numbers/+14155550123/block", params={"next": "/contacts/12?tab=notes"})
    assert 'href="/contacts/12?tab=notes"' in page.text


@given(st.one_of(st.text(max_size=30), st.text(max_size=30).map("/".__add__)))
def test_safe_next_yields_only_same_site_printable_paths(target):
    result = safe_next(target)
    assert result == target or result == "/inbox"
    assert result.startswith("/") and not result.startswith("//")
    assert all("\x21" <= ch <= "\x7e" for ch in result) and "\\" not in result


# --- framing --------------------------------------------------------------------------------------


def assert_not_frameable(response: Any) -> None:
    assert response.headers.get("x-frame-options") == "DENY"
    policy = response.headers.get("content-security-policy", "")
    assert "frame-ancestors 'none'" in policy


def test_the_opt_out_link_page_cannot_be_framed(client, engine, ws):
    rt = client.app.state["runtime"]
    made = links.make_link(rt.keyring, "http://testserver.local", ws.id, "+14155550123")
    page = client.get(f"/o/{made.token}")
    assert page.status_code == 200
    assert_not_frameable(page)
    assert_not_frameable(client.get("/o/not-a-token"))
    confirmed = client.post(f"/o/{made.token}")
    assert confirmed.status_code == 200
    assert_not_frameable(confirmed)


def test_every_html_page_cannot_be_framed(client, engine):
    """Every GET route of the app, signed in, that answers HTML says it must not be framed."""
    created = new_workspace(engine)
    sign_in(client, created.owner_email)
    html_pages = 0
    for route in client.app.routes:
        if "GET" not in getattr(route, "methods", set()):
            continue
        path = re.sub(r"\{[^}]+\}", "1", route.path)
        response = client.get(path, follow_redirects=False)
        if "html" in response.headers.get("content-type", ""):
            html_pages += 1
            assert_not_frameable(response)
    assert html_pages > 15


def test_pages_still_carry_their_csrf_forms(client, engine):
    created = new_workspace(engine)
    sign_in(client, created.owner_email)
    assert csrf_of(client.get("/opt-outs").text)
