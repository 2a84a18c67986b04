"""Issue 11, hole 9a: JSON nested 1,000 deep is a clear 400 on every route, never a 500."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st
from litestar.testing import TestClient

from stopline.web.app import create_app
from stopline.web.json_body import MAX_JSON_DEPTH, too_deep
from stopline.web.webhooks.base import CHANNELS
from tests.inbound_kit import make_runtime

DEEP_ARRAY = b"[" * 1000 + b"]" * 1000
DEEP_OBJECT = b'{"a":' * 1000 + b"1" + b"}" * 1000


@pytest.fixture
def client(engine, tmp_path) -> Iterator[TestClient]:
    CHANNELS.forget()
    with TestClient(create_app(make_runtime(engine, tmp_path)), raise_server_exceptions=False) as c:
        yield c


def body_routes(client: TestClient) -> list[tuple[str, str]]:
    """Every (method, path) of the app that may take a body, path parameters filled with 1."""
    found = []
    for route in client.app.routes:
        methods = getattr(route, "methods", set()) & {"POST", "PUT", "PATCH", "DELETE"}
        path = re.sub(r"\{[^}]+\}", "1", route.path)
        found.extend((method, path) for method in sorted(methods))
    return found


def test_every_route_answers_deep_json_without_a_500(client, created):
    routes = body_routes(client)
    assert len(routes) > 40  # the route table was read
    auth = {"authorization": f"Bearer {created.api_key}"}
    basic = base64.b64encode(f"{created.workspace.account_sid}:{created.auth_token}".encode())
    twilio_auth = {"authorization": f"Basic {basic.decode()}"}
    too_deep_answers = 0
    for method, path in routes:
        path = path.replace("/Accounts/1/", f"/Accounts/{created.workspace.account_sid}/")
        for headers in ({}, auth, twilio_auth):
            for body in (DEEP_ARRAY, DEEP_OBJECT):
                response = client.request(
                    method,
                    path,
                    content=body,
                    headers={**headers, "content-type": "application/json"},
                )
                assert response.status_code < 500, (method, path, response.text[:200])
                if response.status_code == 400 and "json_too_deep" in response.text:
                    too_deep_answers += 1
    assert too_deep_answers > 20


@pytest.mark.parametrize(
    "path", ["/api/v1/opt-outs", "/api/v1/messages", "/api/v1/blocks", "/api/v1/contacts"]
)
@pytest.mark.parametrize("authenticated", [False, True])
def test_api_routes_say_what_is_wrong(client, created, path, authenticated):
    headers = {"content-type": "application/json"}
    if authenticated:
        headers["authorization"] = f"Bearer {created.api_key}"
    response = client.post(path, content=DEEP_OBJECT, headers=headers)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "json_too_deep"


def test_a_deep_flash_cookie_does_not_break_pages(client):
    client.cookies.set("stopline_flash", "[" * 1000 + "]" * 1000)
    assert client.get("/sign-in").status_code == 200


@given(
    st.recursive(
        st.none() | st.integers() | st.text(max_size=5),
        lambda inner: (
            st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
        ),
        max_leaves=30,
    )
)
def test_the_depth_check_agrees_with_a_parser(value):
    import json

    def depth(v: object) -> int:
        if isinstance(v, list):
            return 1 + max((depth(x) for x in v), default=0)
        if isinstance(v, dict):
            return 1 + max((depth(x) for x in v.values()), default=0)
        return 0

    text = json.dumps(value).encode()
    for limit in (0, 1, 2, 3, 5):
        assert too_deep(text, limit) == (depth(value) > limit)


def test_brackets_inside_strings_do_not_count():
    body = b'{"text": "' + b"[{" * 500 + b'\\" [[[ "}'
    assert not too_deep(body, MAX_JSON_DEPTH)
    assert too_deep(b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1))
