"""Sign-in, sessions, CSRF and the workspace switcher of the web app."""

from __future__ import annotations

import sqlalchemy as sa

from stopline import security
from stopline.services import optouts, sessions
from stopline.store.db import read, write
from stopline.store.tables import opt_outs, web_sessions
from tests.web import ui_helpers
from tests.web.ui_helpers import (
    PASSWORD,
    add_person,
    form_token,
    new_workspace,
    post,
    sign_in,
)

ui_app = ui_helpers.ui_app
client = ui_helpers.client

PAGES = [
    "/inbox",
    "/opt-outs",
    "/opt-outs/new",
    "/review",
    "/dashboard",
    "/audit",
    "/audit/verify",
    "/settings/messaging",
    "/settings/members",
    "/settings/api-keys",
]


def _opted_out(engine, workspace_id: int) -> set[str]:
    with read(engine) as conn:
        return set(
            conn.execute(
                sa.select(opt_outs.c.number).where(opt_outs.c.workspace_id == workspace_id)
            ).scalars()
        )


def test_every_page_redirects_to_sign_in_without_a_session(client, engine):
    for page in PAGES:
        response = client.get(page, follow_redirects=False)
        assert response.status_code == 303, page
        assert response.headers["location"].startswith("/sign-in?next="), page


def test_a_form_post_without_a_session_changes_nothing(client, engine):
    created = new_workspace(engine)
    response = client.post("/opt-outs", data={"number": "+14155550100"}, follow_redirects=False)
    assert response.status_code == 401
    assert _opted_out(engine, created.workspace.id) == set()


def test_sign_in_with_a_wrong_password_is_refused_plainly(client, engine):
    created = new_workspace(engine)
    page = client.get("/sign-in")
    response = client.post(
        "/sign-in",
        data={
            "email": created.owner_email,
            "password": "wrong",
            "form_token": form_token(page.text),
        },
    )
    assert response.status_code == 401
    assert "do not match" in response.text
    assert "stopline_session" not in client.cookies


def test_sign_in_sets_an_httponly_lax_cookie_and_stores_only_its_hash(client, engine):
    created = new_workspace(engine)
    page = client.get("/sign-in")
    response = client.post(
        "/sign-in",
        data={
            "email": created.owner_email,
            "password": PASSWORD,
            "form_token": form_token(page.text),
        },
        follow_redirects=False,
    )
    header = [
        v
        for k, v in response.headers.multi_items()
        if k == "set-cookie" and "stopline_session=" in v
    ][0]
    assert "HttpOnly" in header and "SameSite=lax" in header.replace("Lax", "lax")
    token = client.cookies["stopline_session"]
    with read(engine) as conn:
        stored = conn.execute(sa.select(web_sessions.c.token_hash)).scalars().all()
    assert token not in stored
    assert security.hash_token(token) in stored


def test_sign_in_rotates_the_session(client, engine):
    created = new_workspace(engine)
    sign_in(client, created.owner_email)
    first = client.cookies["stopline_session"]
    sign_in_again = client.get("/sign-in", follow_redirects=False)
    assert sign_in_again.status_code == 303  # already signed in
    client.cookies.delete("stopline_session")
    client.cookies.set("stopline_session", first)
    # Signing in again with the old cookie present ends the old session.
    page = client.get("/sign-out", follow_redirects=False)  # GET is not a sign-out
    assert page.status_code in (404, 405)
    signed = sessions.sign_in(engine, created.owner_email, PASSWORD, ip="x", previous_token=first)
    with read(engine) as conn:
        assert sessions.load(conn, first) is None
        assert sessions.load(conn, signed.token) is not None


def test_sign_out_ends_the_session(client, engine):
    created = new_workspace(engine)
    csrf = sign_in(client, created.owner_email)
    token = client.cookies["stopline_session"]
    assert post(client, "/sign-out", csrf).status_code == 303
    with read(engine) as conn:
        assert sessions.load(conn, token) is None
    client.cookies.set("stopline_session", token)
    assert client.get("/inbox", follow_redirects=False).status_code == 303


def test_ten_failures_lock_sign_in_for_that_email_and_address(client, engine):
    created = new_workspace(engine)
    for _ in range(10):
        page = client.get("/sign-in")
        client.post(
            "/sign-in",
            data={
                "email": created.owner_email,
                "password": "nope",
                "form_token": form_token(page.text),
            },
        )
    page = client.get("/sign-in")
    response = client.post(
        "/sign-in",
        data={
            "email": created.owner_email,
            "password": PASSWORD,
            "form_token": form_token(page.text),
        },
        follow_redirects=False,
    )
    assert response.status_code == 429
    assert "Too many failed sign-in attempts" in response.text


def test_the_sign_in_form_needs_its_own_token(client, engine):
    created = new_workspace(engine)
    client.get("/sign-in")
    response = client.post(
        "/sign-in",
        data={"email": created.owner_email, "password": PASSWORD, "form_token": "forged"},
        follow_redirects=False,
    )
    assert response.status_code == 403
    assert "stopline_session" not in client.cookies


def test_an_unsafe_request_without_the_csrf_token_is_refused_and_changes_nothing(client, engine):
    created = new_workspace(engine)
    sign_in(client, created.owner_email)
    missing = client.post("/opt-outs", data={"number": "+14155550100"}, follow_redirects=False)
    wrong = client.post(
        "/opt-outs", data={"number": "+14155550100", "csrf_token": "x" * 43}, follow_redirects=False
    )
    assert missing.status_code == 403 and wrong.status_code == 403
    assert "This form has expired" in missing.text
    assert _opted_out(engine, created.workspace.id) == set()


def test_a_form_whose_body_arrives_late_is_read_once_and_accepted(client, ui_app, engine):
    """A slow client's body reaches the server after the headers: every dependency that needs the
    form must see the same parsed body (they once raced, and the CSRF token looked missing)."""
    import asyncio
    from urllib.parse import urlencode

    created = new_workspace(engine)
    csrf = sign_in(client, created.owner_email)
    cookie = f"stopline_session={client.cookies['stopline_session']}"
    body = urlencode({"csrf_token": csrf, "number": "+14155550123", "reason": "asked"}).encode()
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/opt-outs",
        "raw_path": b"/opt-outs",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"testserver.local"),
            (b"content-type", b"application/x-www-form-urlencoded"),
            (b"content-length", str(len(body)).encode()),
            (b"cookie", cookie.encode()),
        ],
        "client": ("127.0.0.1", 5000),
        "server": ("testserver.local", 80),
        "state": {},
    }
    sent: list[dict] = []

    async def call() -> None:
        chunks = [body[:10], body[10:]]

        async def receive() -> dict:
            await asyncio.sleep(0.05)  # the body is on its way
            if chunks:
                chunk = chunks.pop(0)
                return {"type": "http.request", "body": chunk, "more_body": bool(chunks)}
            await asyncio.sleep(3600)
            return {"type": "http.disconnect"}

        async def send(message: dict) -> None:
            sent.append(message)

        await ui_app(scope, receive, send)

    asyncio.run(asyncio.wait_for(call(), timeout=30))
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    assert status == 303, b"".join(m.get("body", b"") for m in sent)[:500]
    assert _opted_out(engine, created.workspace.id) == {"+14155550123"}


def test_the_csrf_token_is_accepted_from_the_htmx_header(client, engine):
    created = new_workspace(engine)
    csrf = sign_in(client, created.owner_email)
    response = client.post(
        "/opt-outs",
        data={"number": "+14155550100"},
        headers={"X-CSRF-Token": csrf, "HX-Request": "true"},
        follow_redirects=False,
    )
    assert response.status_code == 204 and response.headers["HX-Redirect"] == "/opt-outs"
    assert _opted_out(engine, created.workspace.id) == {"+14155550100"}


def test_the_json_api_with_an_api_key_needs_no_csrf_token(client, engine):
    created = new_workspace(engine)
    response = client.get(
        "/api/v1/consent/+14155550100", headers={"Authorization": f"Bearer {created.api_key}"}
    )
    assert response.status_code == 200 and response.json()["allowed"] is True


def test_the_workspace_switcher_moves_between_workspaces_of_the_member(client, engine):
    first = new_workspace(engine, "First")
    second = new_workspace(engine, "Second")
    add_person(engine, second.workspace.id, "member", email=first.owner_email)
    with write(engine) as conn:
        from stopline.services.workspaces import Principal

        optouts.add_opt_out(
            conn, Principal(second.workspace.id, "owner", "t"), "+14155550177", reason="second ws"
        )
    csrf = sign_in(client, first.owner_email)
    page = client.get("/opt-outs")
    assert 'id="workspace-switch"' in page.text and "second ws" not in page.text
    response = post(client, "/workspace", csrf, workspace_id=str(second.workspace.id))
    assert response.status_code == 303
    page = client.get("/opt-outs")
    assert "second ws" in page.text
    assert "(member)" in page.text


def test_switching_to_a_workspace_one_is_not_a_member_of_is_refused(client, engine):
    mine = new_workspace(engine)
    theirs = new_workspace(engine)
    csrf = sign_in(client, mine.owner_email)
    response = post(client, "/workspace", csrf, workspace_id=str(theirs.workspace.id))
    assert response.status_code == 404
    assert mine.workspace.name in client.get("/inbox").text
