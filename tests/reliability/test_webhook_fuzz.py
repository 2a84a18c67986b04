"""Hostile input at the HTTP edge: webhooks with arbitrary bodies and headers, genuinely signed
webhooks with arbitrary Unicode, and ids too large for any column on every route.

A webhook that is not genuinely signed is refused (400/403/404/413) and stores nothing; one that
is signed is processed or refused as unreadable (400), whatever its text: never a 500, which
would make the provider retry it forever.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from litestar.testing import TestClient

from stopline.services import sessions
from stopline.store.db import read
from stopline.store.tables import consent_events, messages
from stopline.web.webhooks.base import CHANNELS
from tests.inbound_kit import PROVIDERS, ProviderKit, add_kit_channel, make_runtime
from tests.reliability.conftest import session_cookie, sign_in

BASE = "http://testserver.local"
ENDPOINTS = ("inbound", "status")


@pytest.fixture
def hook_client(engine, tmp_path) -> Iterator[TestClient[Any]]:
    from stopline.web.app import create_app

    CHANNELS.forget()
    with TestClient(
        create_app(make_runtime(engine, tmp_path)), base_url=BASE, raise_server_exceptions=False
    ) as c:
        yield c


@pytest.fixture
def kits(engine, ws, keyring) -> dict[str, ProviderKit]:
    return {p: add_kit_channel(engine, ws, keyring, p) for p in PROVIDERS}


def _stored(engine: sa.Engine, workspace_id: int) -> tuple[int, int]:
    with read(engine) as conn:
        return (
            int(
                conn.execute(
                    sa.select(sa.func.count()).where(messages.c.workspace_id == workspace_id)
                ).scalar_one()
            ),
            int(
                conn.execute(
                    sa.select(sa.func.count()).where(consent_events.c.workspace_id == workspace_id)
                ).scalar_one()
            ),
        )


header_names = st.sampled_from(
    [
        "content-type",
        "x-twilio-signature",
        "telnyx-signature-ed25519",
        "telnyx-timestamp",
        "authorization",
        "x-stopline-signature",
        "x-forwarded-proto",
        "x-forwarded-host",
        "content-encoding",
    ]
)
header_values = st.one_of(
    st.sampled_from(
        [
            "application/json",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "Bearer eyJhbGciOiJub25lIn0.eyJpYXQiOjF9.",
            "t=1,v1=00",
            "gzip",
            "AAAA",
        ]
    ),
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=80),
)
bodies = st.one_of(
    st.binary(max_size=2000),
    st.text(max_size=500).map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.dictionaries(st.text(max_size=20), st.text(max_size=40), max_size=8).map(
        lambda d: "&".join(f"{k}={v}" for k, v in d.items()).encode("utf-8", "surrogatepass")
    ),
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=30),
        lambda inner: (
            st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
        ),
        max_leaves=12,
    ).map(lambda v: __import__("json").dumps(v).encode()),
)


def test_unsigned_or_forged_webhooks_are_refused_and_store_nothing(
    engine, ws, hook_client, kits
) -> None:
    before = _stored(engine, ws.id)
    statuses: set[int] = set()

    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
    @given(
        provider=st.sampled_from(PROVIDERS),
        endpoint=st.sampled_from(ENDPOINTS),
        headers=st.dictionaries(header_names, header_values, max_size=5),
        body=bodies,
        query=st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=40),
    )
    def attempt(
        provider: str, endpoint: str, headers: dict[str, str], body: bytes, query: str
    ) -> None:
        path = kits[provider].path(endpoint) + ("?" + query if query else "")
        response = hook_client.post(path, content=body, headers=headers)
        statuses.add(response.status_code)
        assert response.status_code in (400, 403, 404, 413, 415), (
            response.status_code,
            response.text[:200],
        )

    attempt()
    assert _stored(engine, ws.id) == before
    assert 403 in statuses


def test_webhooks_for_unknown_or_huge_channel_ids_are_404(hook_client) -> None:
    for provider in PROVIDERS:
        for channel in ("0", "999999999", str(2**63), str(2**80), "-1"):
            response = hook_client.post(f"/webhooks/{provider}/{channel}/inbound", content=b"{}")
            assert response.status_code in (400, 404, 422), (
                provider,
                channel,
                response.status_code,
            )


@pytest.mark.parametrize("provider", PROVIDERS)
def test_genuinely_signed_webhooks_with_arbitrary_text_never_fail(
    engine, ws, hook_client, kits, provider
) -> None:
    kit = kits[provider]

    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
    @given(
        text=st.text(max_size=300),
        sender=st.one_of(
            st.from_regex(r"\+1415[2-9]\d{6}", fullmatch=True),
            st.text(min_size=1, max_size=20),
        ),
    )
    def attempt(text: str, sender: str) -> None:
        request = kit.inbound(BASE, sender, text, message_id=_id(provider))
        response = hook_client.post(request.path, content=request.body, headers=request.headers)
        assert response.status_code in (200, 400), (response.status_code, response.text[:300])

    attempt()


def _id(provider: str) -> str:
    return "SM" + uuid.uuid4().hex if provider == "twilio" else str(uuid.uuid4())


HUGE = str(2**70)


def test_ids_beyond_64_bits_never_make_a_server_error(engine, app, client, created) -> None:
    """Every route with an integer path parameter, as the API and as a signed-in page."""
    assert sign_in(client, created.owner_email).status_code == 303
    with read(engine) as conn:
        csrf = sessions.load(conn, session_cookie(client)).csrf_token  # type: ignore[union-attr]
    auth = {"Authorization": f"Bearer {created.api_key}"}
    tried = 0
    for route in app.routes:
        if ":int}" not in route.path or route.path.startswith("/webhooks/"):
            continue
        path = re.sub(r"\{\w+:int\}", HUGE, route.path)
        path = re.sub(r"\{\w+:\w+\}", "+14155550123", path)
        for handler in route.route_handlers:
            for method in handler.http_methods - {"OPTIONS", "HEAD"}:
                tried += 1
                if path.startswith("/api/"):
                    response = client.request(method, path, headers=auth, json={})
                else:
                    data = {"csrf_token": csrf} if method != "GET" else None
                    response = client.request(method, path, data=data, follow_redirects=False)
                assert response.status_code < 500, (method, path, response.status_code)
    assert tried > 10
