"""Nothing leaks across workspaces: every route with a path parameter, generated from the route table.

Workspace B gets one of everything (a channel, an opt-out, a list, a campaign, a message and its
conversation, a review item, an API key, a second member), each carrying a unique marker text.
Then every route of the app that takes a path parameter is called with *workspace A's*
credentials (A's API key for the JSON API, A's auth token for the Twilio-compatible API, the
session of A's owner for the pages) and *B's* ids. Each call must answer 403/404 for an id of B
(a number is answered from A's own records), must not show any of B's marker texts, and must
leave every row of B exactly as it was.

The routes come from `create_app(...).routes`, so a new route is covered the day it lands: a
path parameter this test does not know how to fill fails the test until it is added to
`RESOLVERS` (or, for routes that are public by design, to `PUBLIC`).
"""

from __future__ import annotations

import base64
import hashlib
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa
from litestar.testing import TestClient

from stopline.providers.base import InboundMessage
from stopline.services import (
    campaigns,
    inbound,
    invitations,
    optouts,
    queueing,
    sessions,
    workspaces,
)
from stopline.services import messages as messages_service
from stopline.services.inbound_context import InboundChannel
from stopline.services.workspaces import Principal
from stopline.store.db import read, write
from stopline.store.tables import api_keys, ledger_heads, members, metadata
from tests.conftest import unique_number
from tests.reliability.conftest import PASSWORD, set_session_cookie, sign_in

# Routes anyone may call without a workspace credential: they authenticate otherwise (webhooks:
# the channel's provider signature, proven per provider in tests/web; opt-out links: a signed
# token) or serve nothing of a workspace. Each entry is a path prefix, with the reason.
PUBLIC = {
    "/webhooks/": "authenticated by the channel's provider signature (tests/web/test_webhooks_*)",
    "/static/": "the UI's static files",
    "/api/docs": "the OpenAPI document and its viewer",
    "/o/": "opt-out links: the signed token is the credential (tests of issue 5)",
    "/join/": "hosted opt-in forms: public by design, addressed by a random slug, show only the "
    "list's name and consent text (tests/services/test_join_form.py)",
}


@dataclass
class World:
    """One workspace with one of everything, each carrying `marker`."""

    created: workspaces.CreatedWorkspace
    marker: str
    channel: workspaces.Channel
    number: str  # opted out here, with the marker as reason
    list_id: int
    campaign_id: int
    message: messages_service.QueuedMessage
    review_item_id: int
    api_key_id: int
    member_id: int  # a second member (role member), not the owner
    contact_id: int
    invitation: invitations.IssuedInvitation  # an open invitation to someone else

    @property
    def ws(self) -> workspaces.Workspace:
        return self.created.workspace

    @property
    def owner(self) -> Principal:
        return Principal(workspace_id=self.ws.id, role="owner", actor=self.created.owner_email)


def build_world(engine: sa.Engine, keyring: Any, label: str) -> World:
    marker = f"SECRET-{label}-{uuid.uuid4().hex[:10]}"
    with write(engine) as conn:
        created = workspaces.create_workspace(
            conn,
            name=f"{marker} Co",
            owner_email=f"{label.lower()}-{uuid.uuid4().hex[:8]}@example.com",
            owner_password=PASSWORD,
        )
        ws = created.workspace
        owner = Principal(workspace_id=ws.id, role="owner", actor=created.owner_email)
        channel = workspaces.add_channel(
            conn, ws.id, keyring, address=unique_number(), provider="console"
        )
        number = unique_number()
        optouts.add_opt_out(conn, owner, number, reason=f"{marker} asked by phone")
        the_list = campaigns.create_list(conn, owner, f"{marker} list")
        campaigns.add_members(conn, owner, the_list.id, [unique_number() for _ in range(3)])
        campaign = campaigns.create_campaign(
            conn, owner, name=f"{marker} campaign", body=f"{marker} sale", list_ids=[the_list.id]
        )
        message = queueing.enqueue(
            conn, ws.id, channel_id=channel.id, to=unique_number(), body=f"{marker} hello"
        )
        key = workspaces.issue_api_key(conn, ws.id, name=f"{marker} key")
        api_key_id = conn.execute(
            sa.select(api_keys.c.id).where(api_keys.c.prefix == key.split("_")[1])
        ).scalar_one()
        user_id = workspaces.add_member(
            conn, ws.id, f"m-{uuid.uuid4().hex[:8]}@example.com", PASSWORD, "member"
        )
        member_id = conn.execute(
            sa.select(members.c.id).where(
                members.c.workspace_id == ws.id, members.c.user_id == user_id
            )
        ).scalar_one()
        from stopline.services import contacts

        invitation = invitations.invite(
            conn,
            owner,
            f"invited-{uuid.uuid4().hex[:8]}@example.com",
            invitations.initial_password_hash(PASSWORD),
        )
        contact = contacts.create_contact(
            conn,
            owner,
            name=f"{marker} person",
            numbers=[number],
            note=f"{marker} requested opt-out on Sept 2",
        )
        channel_in = InboundChannel(
            id=channel.id,
            workspace_id=ws.id,
            address=channel.address,
            provider="console",
            type="sms",
        )
        outcome = inbound.receive_inbound(
            conn,
            channel_in,
            InboundMessage(
                provider="console",
                provider_message_id=f"in-{uuid.uuid4().hex}",
                from_number=unique_number(),
                to_address=channel.address,
                body=f"please stop texting me {marker}",
            ),
        )
        assert outcome.review_item_id is not None, outcome
    return World(
        created=created,
        marker=marker,
        channel=channel,
        number=number,
        list_id=the_list.id,
        campaign_id=campaign.id,
        message=message,
        review_item_id=outcome.review_item_id,
        api_key_id=api_key_id,
        member_id=member_id,
        contact_id=contact.id,
        invitation=invitation,
    )


# How to fill each path parameter: (value, foreign) pairs, foreign meaning "an id of workspace
# B". A new parameter name fails the test until it is listed here: that is how new routes get
# covered. A number is not an id: A asking about B's number gets A's own answer.
Resolver = Callable[[World, World], list[tuple[str, bool]]]
RESOLVERS: dict[str, Resolver] = {
    "campaign_id": lambda a, b: [(str(b.campaign_id), True)],
    "ref": lambda a, b: [(b.message.sid, True), (str(b.message.id), True)],  # SID or id
    "item_id": lambda a, b: [(str(b.review_item_id), True)],
    "conversation_id": lambda a, b: [(str(_conversation_id(b)), True)],
    "key_id": lambda a, b: [(str(b.api_key_id), True)],
    "member_id": lambda a, b: [(str(b.member_id), True)],
    "list_id": lambda a, b: [(str(b.list_id), True)],
    "channel_id": lambda a, b: [(str(b.channel.id), True)],
    "message_id": lambda a, b: [(str(b.message.id), True)],
    "contact_id": lambda a, b: [(str(b.contact_id), True)],
    "job_id": lambda a, b: [(str(j), True) for j in _job_ids(b)],  # campaign, import, export
    "number": lambda a, b: [(b.number, False)],
    # B's account with A's credentials, and A's own account asked for B's message.
    "account_sid": lambda a, b: [(b.ws.account_sid, True), (a.ws.account_sid, False)],
    "message": lambda a, b: [(f"{b.message.sid}.json", True), (b.message.sid, True)],
    "action": lambda a, b: [(v, False) for v in ("unsubscribe", "opt-in", "block", "unblock")],
    # B's invitation link (for someone else) opened by A, and B's invitation withdrawn by A.
    "token": lambda a, b: [(b.invitation.token, True)],
    "invitation_id": lambda a, b: [(str(b.invitation.id), True)],
}

# A plausible body per (method, path template), so a handler that validates its input before
# looking the id up still reaches the lookup.
JSON_BODIES: dict[str, Any] = {
    "POST /api/v1/review/{item_id:int}/resolve": {"resolution": "dismiss", "note": "x"},
}
FORM_BODIES: dict[str, dict[str, str]] = {
    "POST /inbox/{conversation_id:int}/reply": {"body": "hello there"},
    "POST /review/{item_id:int}": {"resolution": "dismiss", "note": "x"},
    "POST /settings/members/{member_id:int}/role": {"role": "admin"},
    "POST /opt-outs/{number:str}/edit": {"reason": "changed", "number": ""},
    "POST /numbers/{number:str}/{action:str}": {"reason": "x", "consent_note": "verbal"},
}


def _conversation_id(world: World) -> int:
    with read(_ENGINE[0]) as conn:
        row = messages_service.get_message(conn, world.ws.id, world.message.id)
    from stopline.store.tables import messages

    with read(_ENGINE[0]) as conn:
        return int(
            conn.execute(
                sa.select(messages.c.conversation_id).where(messages.c.id == row.id)
            ).scalar_one()
        )


def _job_ids(world: World) -> list[int]:
    from stopline.store.tables import jobs

    with read(_ENGINE[0]) as conn:
        return list(
            conn.execute(
                sa.select(jobs.c.id).where(jobs.c.workspace_id == world.ws.id).order_by(jobs.c.id)
            ).scalars()
        )


def _start_jobs(client: TestClient[Any], world: World) -> None:
    """An import and an export of B's, started through B's own API key."""
    auth = {"Authorization": f"Bearer {world.created.api_key}"}
    csv = f"phone,note\n{unique_number()},{world.marker}\n".encode()
    started = client.post(
        "/api/v1/imports",
        headers=auth,
        files={"file": ("optouts.csv", csv, "text/csv")},
        data={"reason": f"{world.marker} import"},
    )
    assert started.status_code in (200, 201, 202), started.text
    exported = client.post("/api/v1/exports", headers=auth, json={})
    assert exported.status_code in (200, 201, 202), exported.text


_ENGINE: list[sa.Engine] = []
_SPEC: dict[int, Any] = {}


def snapshot(engine: sa.Engine, workspace_id: int) -> str:
    """A digest of every row that belongs to the workspace, in every table."""
    digest = hashlib.sha256()
    with read(engine) as conn:
        for table in metadata.sorted_tables:
            if "workspace_id" not in table.c:
                continue
            query = sa.select(table).where(table.c.workspace_id == workspace_id)
            rows = [tuple(str(v) for v in row) for row in conn.execute(query)]
            digest.update(f"{table.name}:{sorted(rows)!r}".encode())
    return digest.hexdigest()


@dataclass(frozen=True)
class Call:
    method: str
    template: str  # the route's path template, e.g. /api/v1/campaigns/{campaign_id:int}
    path: str
    kind: str  # api | twilio | ui
    foreign: bool  # some parameter is an id of workspace B

    @property
    def key(self) -> str:
        return f"{self.method} {self.template}"


PARAM = re.compile(r"\{(\w+)(?::\w+)?\}")


def _kind(template: str) -> str:
    if template.startswith("/api/"):
        return "api"
    if template.startswith("/2010-04-01/"):
        return "twilio"
    return "ui"


def route_calls(app: Any, a: World, b: World) -> Iterator[Call]:
    """Every (method, route with a path parameter) of the app, filled with B's ids."""
    unknown: list[str] = []
    for route in app.routes:
        template = route.path
        names = PARAM.findall(template)
        if not names or any(template.startswith(p) for p in PUBLIC):
            continue
        for handler in route.route_handlers:
            for method in sorted(handler.http_methods - {"OPTIONS", "HEAD"}):
                missing = [n for n in names if n not in RESOLVERS]
                if missing:
                    unknown.append(f"{method} {template}: {', '.join(missing)}")
                    continue
                choices: list[dict[str, tuple[str, bool]]] = [{}]
                for name in names:
                    values = RESOLVERS[name](a, b)
                    choices = [{**c, name: v} for c in choices for v in values]
                for choice in choices:
                    path = PARAM.sub(lambda m, c=choice: c[m.group(1)][0], template)
                    foreign = any(f for _, f in choice.values())
                    yield Call(method, template, path, _kind(template), foreign)
    assert not unknown, (
        "routes with path parameters this isolation test cannot fill yet; add a resolver "
        "(or list the route as public, with the reason):\n" + "\n".join(unknown)
    )


@pytest.fixture
def worlds(engine: sa.Engine, keyring: Any, client: TestClient[Any]) -> tuple[World, World]:
    _ENGINE[:] = [engine]
    a, b = build_world(engine, keyring, "A"), build_world(engine, keyring, "B")
    _start_jobs(client, b)
    assert len(_job_ids(b)) >= 3
    return a, b


def _example(schema: dict[str, Any], spec: dict[str, Any], name: str = "") -> Any:
    """A minimal valid instance of an OpenAPI schema: every required field, plausible values."""
    if "$ref" in schema:
        ref = schema["$ref"].rsplit("/", 1)[-1]
        return _example(spec["components"]["schemas"][ref], spec, name)
    for key in ("oneOf", "anyOf"):
        if key in schema:
            options = [o for o in schema[key] if o.get("type") != "null"] or schema[key]
            return _example(options[0], spec, name)
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        props = schema.get("properties", {})
        return {k: _example(props[k], spec, k) for k in schema.get("required", []) if k in props}
    if kind == "array":
        return [_example(schema.get("items", {}), spec, name.rstrip("s"))]
    if kind == "integer":
        return 1
    if kind == "number":
        return 1.0
    if kind == "boolean":
        return False
    return "+14155550123" if "number" in name or name in ("to", "phone") else "x"


def _json_body(call: Call, spec: dict[str, Any]) -> Any:
    if call.key in JSON_BODIES:
        return JSON_BODIES[call.key]
    path = re.sub(r"\{(\w+):\w+\}", r"{\1}", call.template)
    operation = spec["paths"].get(path, {}).get(call.method.lower(), {})
    content = operation.get("requestBody", {}).get("content", {})
    schema = content.get("application/json", {}).get("schema")
    return _example(schema, spec) if schema else None


def _send(client: TestClient[Any], call: Call, a: World, csrf: str) -> Any:
    headers: dict[str, str] = {}
    if call.kind == "api":
        headers["Authorization"] = f"Bearer {a.created.api_key}"
        spec = _SPEC.get(id(client)) or client.get("/api/docs/openapi.json").json()
        _SPEC[id(client)] = spec
        body = _json_body(call, spec) if call.method != "GET" else None
        return client.request(
            call.method, call.path, headers=headers, json=body, follow_redirects=False
        )
    if call.kind == "twilio":
        token = base64.b64encode(f"{a.ws.account_sid}:{a.created.auth_token}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
        data = {"To": unique_number(), "From": a.channel.address, "Body": "hi"}
        if call.method == "GET":
            return client.get(call.path, headers=headers, follow_redirects=False)
        return client.request(
            call.method, call.path, headers=headers, data=data, follow_redirects=False
        )
    if call.method == "GET":
        return client.get(call.path, follow_redirects=False)
    form = {"csrf_token": csrf, **FORM_BODIES.get(call.key, {})}
    return client.request(call.method, call.path, data=form, follow_redirects=False)


def _owner_session(engine: sa.Engine, client: TestClient[Any], world: World) -> str:
    assert sign_in(client, world.created.owner_email).status_code == 303
    from tests.reliability.conftest import session_cookie

    with read(engine) as conn:
        session = sessions.load(conn, session_cookie(client))
    assert session is not None and session.workspace_id == world.ws.id
    return session.csrf_token


def test_every_route_with_an_id_refuses_another_workspaces_ids(engine, app, client, worlds):
    a, b = worlds
    csrf = _owner_session(engine, client, a)
    calls = list(route_calls(app, a, b))
    assert {c.kind for c in calls} >= {"api", "ui"}, "the route table has API routes and pages"
    before = snapshot(engine, b.ws.id)
    failures: list[str] = []
    for call in calls:
        response = _send(client, call, a, csrf)
        status = response.status_code
        where = f"{call.method} {call.path} -> {status}"
        if status >= 500:
            failures.append(f"{where}: server error")
        elif b.marker in response.text:
            failures.append(f"{where}: shows workspace B's data")
        elif call.foreign and status not in (
            (401, 403, 404) if call.kind == "twilio" else (403, 404)
        ):
            failures.append(f"{where}: expected 403 or 404 for another workspace's id")
        after = snapshot(engine, b.ws.id)
        if after != before:
            failures.append(f"{where}: changed workspace B's rows")
            before = after
    assert not failures, "\n".join(failures)


def test_lists_and_pages_never_show_another_workspaces_rows(engine, app, client, worlds):
    """Every GET without a path parameter, as A, with B's ids in every id-like query parameter."""
    a, b = worlds
    _owner_session(engine, client, a)
    query = {
        "campaign_id": b.campaign_id,
        "campaign": b.campaign_id,
        "channel": b.channel.id,
        "channel_id": b.channel.id,
        "list": b.list_id,
        "list_id": b.list_id,
        "conversation": _conversation_id(b),
        "contact": b.contact_id,
        "contact_id": b.contact_id,
        "ids": b.contact_id,  # bulk unsubscribe's selection
        "q": b.number,  # echoed into the search box: so not the marker itself
        "search": b.number,
        "number": b.number,
        "to": b.number,
    }
    failures = []
    for route in app.routes:
        if PARAM.search(route.path) or any(route.path.startswith(p) for p in PUBLIC):
            continue
        for handler in route.route_handlers:
            if "GET" not in handler.http_methods:
                continue
            headers = {}
            if route.path.startswith("/api/"):
                headers["Authorization"] = f"Bearer {a.created.api_key}"
            for params in ({}, query):
                response = client.get(
                    route.path, params=params, headers=headers, follow_redirects=False
                )
                if response.status_code >= 500 or b.marker in response.text:
                    failures.append(f"GET {route.path} {params or ''} -> {response.status_code}")
    assert not failures, "\n".join(failures)


def test_body_ids_of_another_workspace_are_refused(engine, client, worlds):
    """Ids in request bodies (channel, list) are scoped too, not only those in the path."""
    a, b = worlds
    auth = {"Authorization": f"Bearer {a.created.api_key}"}
    before = snapshot(engine, b.ws.id)
    send = client.post(
        "/api/v1/messages",
        headers=auth,
        json={"to": unique_number(), "body": "hi", "channel_id": b.channel.id},
    )
    assert send.status_code in (403, 404, 422), send.text
    campaign = client.post(
        "/api/v1/campaigns",
        headers=auth,
        json={"name": "x", "body": "hi", "list_ids": [b.list_id], "channel_id": a.channel.id},
    )
    assert campaign.status_code in (403, 404, 422), campaign.text
    campaign = client.post(
        "/api/v1/campaigns",
        headers=auth,
        json={"name": "x", "body": "hi", "list_ids": [a.list_id], "channel_id": b.channel.id},
    )
    assert campaign.status_code in (403, 404, 422), campaign.text
    assert snapshot(engine, b.ws.id) == before


def test_the_twilio_compatible_api_never_sends_from_another_workspaces_number(
    engine, client, worlds
):
    """`From` (or `MessagingServiceSid`) naming B's channel, with A's account: refused, and
    nothing queued anywhere."""
    a, b = worlds
    token = base64.b64encode(f"{a.ws.account_sid}:{a.created.auth_token}".encode()).decode()
    before = snapshot(engine, b.ws.id), snapshot(engine, a.ws.id)
    for field in ({"From": b.channel.address}, {"MessagingServiceSid": str(b.channel.id)}):
        response = client.post(
            f"/2010-04-01/Accounts/{a.ws.account_sid}/Messages.json",
            headers={"Authorization": f"Basic {token}"},
            data={"To": unique_number(), "Body": "hi", **field},
        )
        assert 400 <= response.status_code < 500, (field, response.status_code, response.text)
        assert b.marker not in response.text
    assert (snapshot(engine, b.ws.id), snapshot(engine, a.ws.id)) == before


def test_form_ids_of_another_workspace_are_refused(engine, client, worlds):
    """A page's form naming B's contact or list (merge, add to list) changes nothing of B."""
    a, b = worlds
    csrf = _owner_session(engine, client, a)
    before = snapshot(engine, b.ws.id)
    merge = client.post(
        f"/contacts/{a.contact_id}/merge",
        data={"csrf_token": csrf, "source_id": str(b.contact_id)},
        follow_redirects=False,
    )
    assert merge.status_code in (403, 404), merge.status_code
    add = client.post(
        f"/contacts/{a.contact_id}/lists",
        data={"csrf_token": csrf, "list_id": str(b.list_id)},
        follow_redirects=False,
    )
    assert add.status_code in (303, 403, 404), add.status_code
    review = client.get(f"/contacts/bulk-unsubscribe?scope=selected&ids={b.contact_id}")
    token = re.search(r'name="token" value="([^"]*)"', review.text)
    bulk = client.post(
        "/contacts/bulk-unsubscribe",
        data={
            "csrf_token": csrf,
            "ids": str(b.contact_id),
            "token": token.group(1) if token else "x",
            "reason": "x",
        },
        follow_redirects=False,
    )
    assert bulk.status_code < 500 and b.marker not in bulk.text
    assert snapshot(engine, b.ws.id) == before
    assert b.marker not in client.get(f"/contacts/{a.contact_id}").text


def test_a_session_cannot_switch_into_a_workspace_it_is_not_a_member_of(engine, client, worlds):
    a, b = worlds
    csrf = _owner_session(engine, client, a)
    response = client.post(
        "/workspace",
        data={"csrf_token": csrf, "workspace_id": str(b.ws.id)},
        follow_redirects=False,
    )
    assert response.status_code in (403, 404)
    page = client.get("/opt-outs")
    assert b.marker not in page.text


def test_api_keys_and_sessions_of_one_workspace_see_only_their_own_ledger(engine, client, worlds):
    """The ledger heads of both workspaces move only with their own changes."""
    a, b = worlds
    with read(engine) as conn:
        heads = dict(conn.execute(sa.select(ledger_heads.c.workspace_id, ledger_heads.c.seq)).all())
    auth = {"Authorization": f"Bearer {a.created.api_key}"}
    response = client.get(f"/api/v1/consent/{b.number}", headers=auth)
    assert response.status_code == 200 and response.json()["allowed"] is True
    with read(engine) as conn:
        after = dict(conn.execute(sa.select(ledger_heads.c.workspace_id, ledger_heads.c.seq)).all())
    assert after[b.ws.id] == heads[b.ws.id] and after[a.ws.id] == heads[a.ws.id]


def test_a_revoked_or_foreign_api_key_is_refused(engine, client, worlds):
    a, _ = worlds
    with write(engine) as conn:
        conn.execute(
            sa.update(api_keys)
            .where(api_keys.c.workspace_id == a.ws.id)
            .values(revoked_at=sa.func.now())
        )
    for key in (a.created.api_key, a.created.api_key[:-1] + "x", "sl_000000000000_nope", "junk"):
        response = client.get("/api/v1/messages", headers={"Authorization": f"Bearer {key}"})
        assert response.status_code == 401, (key, response.status_code)
    set_session_cookie(client, None)
