"""Workspace isolation on every page and form: a member of A sees and changes nothing of B's."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass

import pytest

from stopline.providers.base import InboundMessage
from stopline.services import directory, inbound, inbox, members, optouts, queueing, review
from stopline.services import workspaces as ws_service
from stopline.services.workspaces import Principal
from stopline.store import ledger
from stopline.store.db import read, write
from stopline.web.ui.kit import _phone as shown_number
from tests.web import ui_helpers
from tests.web.ui_helpers import add_person, new_workspace, post, sign_in

ui_app = ui_helpers.ui_app
client = ui_helpers.client


def _number() -> str:
    return f"+1415{random.randint(200, 999)}{random.randint(1000, 9999)}"


@dataclass
class World:
    workspace_id: int
    owner: Principal
    conversation_id: int
    contact_id: int
    number: str  # B's contact, conversation, opt-out and review item are all this number
    opted_out: str
    review_item_id: int
    member_id: int
    api_key: str
    api_key_id: int
    secret: str  # a string only B's data contains


def _world(engine) -> World:
    created = new_workspace(engine, "Other")
    wid = created.workspace.id
    owner = Principal(wid, "owner", "owner-b")
    secret = "secret-" + uuid.uuid4().hex[:8]
    number, opted = _number(), _number()
    add_person(engine, wid, "member")
    with write(engine) as conn:
        channel = ws_service.add_channel(
            conn, wid, ui_helpers_keyring(), address=_number(), provider="console"
        )
        sent = queueing.enqueue(conn, wid, channel_id=channel.id, to=number, body=secret)
        contact = directory.create_contact(conn, owner, name=f"B {secret}", numbers=[number])
        directory.add_note(conn, owner, contact.id, f"note {secret}")
        optouts.add_opt_out(conn, owner, opted, reason=f"reason {secret}")
        in_channel = inbound.channel_for(conn, channel.id)[0]
        outcome = inbound.receive_inbound(
            conn,
            in_channel,
            InboundMessage(
                provider="console",
                provider_message_id=uuid.uuid4().hex,
                from_number=number,
                to_address=channel.address,
                body="please stop texting me",
            ),
        )
        people = members.list_members(conn, owner)
        keys = members.list_api_keys(conn, owner)
    assert outcome.review_item_id is not None
    return World(
        workspace_id=wid,
        owner=owner,
        conversation_id=int(sent.__dict__.get("conversation_id") or _conversation_of(engine, wid)),
        contact_id=contact.id,
        number=number,
        opted_out=opted,
        review_item_id=outcome.review_item_id,
        member_id=[p for p in people if p.role == "member"][0].id,
        api_key=created.api_key,
        api_key_id=keys[0].id,
        secret=secret,
    )


def ui_helpers_keyring():
    from stopline.security import Keyring

    return Keyring("test-secret-key")


def _conversation_of(engine, workspace_id: int) -> int:
    with read(engine) as conn:
        found, _ = inbox.list_conversations(conn, workspace_id, status=None)
    return found[0].id


@pytest.fixture
def worlds(engine, client):
    mine = new_workspace(engine, "Mine")
    theirs = _world(engine)
    admin = add_person(engine, mine.workspace.id, "admin")
    csrf = sign_in(client, admin)
    return mine, theirs, csrf


def test_pages_of_another_workspace_are_not_found(client, worlds):
    _, b, _ = worlds
    for path in (
        f"/inbox/{b.conversation_id}",
        f"/contacts/{b.contact_id}",
        f"/opt-outs/{b.opted_out}/edit",
    ):
        response = client.get(path)
        assert response.status_code == 404, path
        assert b.secret not in response.text


def test_lists_and_searches_show_nothing_of_another_workspace(client, worlds):
    _, b, _ = worlds
    for path in (
        "/inbox",
        "/inbox?status=closed",
        f"/inbox?q={b.number[2:]}",
        "/contacts",
        f"/contacts?q={b.secret}",
        "/opt-outs",
        f"/opt-outs?q={b.opted_out[2:]}",
        "/review",
        "/audit",
        f"/audit?number={b.opted_out[2:]}",
        f"/audit/numbers/{b.opted_out}",
        "/dashboard",
        "/settings/members",
        "/settings/api-keys",
    ):
        response = client.get(path)
        assert response.status_code == 200, path
        echoed = response.text.count(f'value="{b.secret}"')  # the search box shows the query
        assert response.text.count(b.secret) == echoed, path
        if not path.startswith("/audit/numbers"):
            for shown in (b.number, shown_number(b.number), shown_number(b.opted_out)):
                assert shown not in response.text, (path, shown)


def test_forms_aimed_at_another_workspace_change_nothing(client, worlds, engine):
    _, b, csrf = worlds
    with read(engine) as conn:
        messages_before = len(inbox.thread(conn, b.workspace_id, b.conversation_id))
        state_before = ledger.load_state(conn, b.workspace_id, b.number)
        notes_before = directory.list_notes(conn, b.workspace_id, b.contact_id)
    attempts = [
        (f"/inbox/{b.conversation_id}/reply", {"body": "hello"}),
        (f"/inbox/{b.conversation_id}/close", {}),
        (f"/contacts/{b.contact_id}/notes", {"body": "mine"}),
        (f"/contacts/{b.contact_id}/lists", {"list_id": "1"}),
        (f"/review/{b.review_item_id}", {"resolution": "opt_out"}),
        (f"/settings/members/{b.member_id}/role", {"role": "owner"}),
        (f"/settings/members/{b.member_id}/remove", {}),
        (f"/settings/api-keys/{b.api_key_id}/revoke", {}),
    ]
    for url, data in attempts:
        response = post(client, url, csrf, **data)
        assert response.status_code == 404, (url, response.status_code)
    with read(engine) as conn:
        assert len(inbox.thread(conn, b.workspace_id, b.conversation_id)) == messages_before
        assert inbox.get_conversation(conn, b.workspace_id, b.conversation_id).status == "open"
        assert ledger.load_state(conn, b.workspace_id, b.number) == state_before
        assert directory.list_notes(conn, b.workspace_id, b.contact_id) == notes_before
        assert review.get_review_item(conn, b.workspace_id, b.review_item_id).status == "pending"
        assert [p.role for p in members.list_members(conn, b.owner)].count("member") == 1
    assert (
        client.get(
            f"/api/v1/consent/{b.number}", headers={"Authorization": f"Bearer {b.api_key}"}
        ).status_code
        == 200
    )


def test_consent_actions_on_a_number_act_only_in_ones_own_workspace(client, worlds, engine):
    mine, b, csrf = worlds
    for action in ("block", "unsubscribe"):
        response = post(client, f"/numbers/{b.number}/{action}", csrf, next="/opt-outs")
        assert response.status_code == 303
    with read(engine) as conn:
        assert ledger.load_state(conn, b.workspace_id, b.number).block is None
        assert ledger.load_state(conn, mine.workspace.id, b.number).block is not None


def test_bulk_unsubscribe_of_another_workspaces_contacts_reaches_nobody(client, worlds, engine):
    _, b, csrf = worlds
    page = client.get(f"/contacts/bulk-unsubscribe?scope=selected&ids={b.contact_id}")
    assert page.status_code == 200 and 'id="aud-contacts">0<' in page.text
    token = "forged"  # bulk tokens are signed by the server; a guessed one is refused
    response = post(client, "/contacts/bulk-unsubscribe", csrf, token=token, ids=str(b.contact_id))
    assert response.status_code == 409
    with read(engine) as conn:
        assert not ledger.load_state(conn, b.workspace_id, b.number).opt_outs
