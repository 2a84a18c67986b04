"""The review queue: possible revocations listed with their deadline, resolved once, by someone."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

import pytest
from litestar.testing import TestClient

from stopline.domain.errors import Conflict, InvalidInput, NotFound
from stopline.providers.base import InboundMessage
from stopline.services import inbound, queueing, review, workspaces
from stopline.services import messages as messages_service
from stopline.services.workspaces import Principal
from stopline.store.db import read, write
from stopline.web.app import create_app
from tests.inbound_kit import events_of, make_runtime, number, opt_out_rows
from tests.outbound import owner

pytest.importorskip("stopline.domain.keywords", reason="the keyword classifier has not landed")


@pytest.fixture
def channel(engine, ws, keyring):
    with write(engine) as conn:
        ch = workspaces.add_channel(
            conn, ws.id, keyring, address=number(), provider="generic", credentials={"secret": "s"}
        )
        return inbound.channel_for(conn, ch.id)[0]


def flagged(engine, channel, sender: str, text: str = "please stop texting me", at=None) -> int:
    outcome = inbound.process_inbound(
        engine,
        channel,
        InboundMessage("generic", uuid.uuid4().hex, sender, channel.address, text, received_at=at),
    )
    assert outcome.review_item_id is not None
    return outcome.review_item_id


def member(ws) -> Principal:
    return Principal(workspace_id=ws.id, role="member", actor="user:pat@example.com")


def test_pending_items_are_listed_soonest_deadline_first(engine, ws, channel):
    late = flagged(engine, channel, number(), at=datetime(2025, 3, 10, 20, tzinfo=UTC))
    early = flagged(engine, channel, number(), at=datetime(2025, 3, 3, 20, tzinfo=UTC))
    with read(engine) as conn:
        items, total = review.list_review_items(conn, ws.id, today=date(2025, 3, 20))
    assert total == 2 and [i.id for i in items] == [early, late]
    assert items[0].deadline == date(2025, 3, 17) and items[0].overdue
    assert items[1].deadline == date(2025, 3, 24) and not items[1].overdue


def test_resolving_as_opt_out_goes_through_the_ledger_with_who_and_when(engine, ws, channel):
    sender = number()
    item_id = flagged(engine, channel, sender, "wrong number")
    with write(engine) as conn:
        queued = queueing.enqueue(conn, ws.id, channel_id=channel.id, to=sender, body="Reminder")
        result = review.resolve_review_item(conn, member(ws), item_id, "opt_out", note="clear")
    assert result.item.status == "opted_out"
    assert result.item.resolved_by == "user:pat@example.com" and result.item.resolved_at
    assert result.canceled_messages == 1
    [row] = opt_out_rows(engine, ws.id, sender)
    assert (row.method, row.actor) == ("manual", "user:pat@example.com")
    assert "wrong number" in row.reason and "clear" in row.reason
    [event] = events_of(engine, ws.id, sender)
    assert event.seq == result.event_seq and event.inbound_text == "wrong number"
    with read(engine) as conn:
        assert messages_service.get_message(conn, ws.id, queued.id).status == "canceled"


def test_dismissing_records_who_and_changes_no_consent(engine, ws, channel):
    sender = number()
    item_id = flagged(engine, channel, sender)
    with write(engine) as conn:
        result = review.resolve_review_item(conn, owner(ws), item_id, "dismiss")
    assert result.item.status == "dismissed" and result.item.resolved_by == "test-owner"
    assert result.event_seq is None and events_of(engine, ws.id, sender) == []


def test_an_item_is_resolved_once(engine, ws, channel):
    item_id = flagged(engine, channel, number())
    with write(engine) as conn:
        review.resolve_review_item(conn, owner(ws), item_id, "dismiss")
    with pytest.raises(Conflict), write(engine) as conn:
        review.resolve_review_item(conn, owner(ws), item_id, "opt_out")


def test_bad_resolutions_and_other_workspaces_items_are_refused(engine, ws, channel, created):
    item_id = flagged(engine, channel, number())
    with pytest.raises(InvalidInput), write(engine) as conn:
        review.resolve_review_item(conn, owner(ws), item_id, "maybe")
    stranger = Principal(workspace_id=ws.id + 100000, role="owner", actor="x")
    with pytest.raises(NotFound), write(engine) as conn:
        review.resolve_review_item(conn, stranger, item_id, "dismiss")


def test_the_review_api_lists_and_resolves(engine, ws, created, channel, tmp_path):
    sender = number()
    item_id = flagged(engine, channel, sender)
    auth = {"Authorization": f"Bearer {created.api_key}"}
    with TestClient(create_app(make_runtime(engine, tmp_path))) as client:
        listed = client.get("/api/v1/review", headers=auth).json()
        assert [i["id"] for i in listed["items"]] == [item_id]
        assert listed["items"][0]["deadline"]
        done = client.post(
            f"/api/v1/review/{item_id}/resolve", json={"resolution": "opt_out"}, headers=auth
        )
        assert done.status_code == 200 and done.json()["status"] == "opted_out"
        assert done.json()["resolved_by"] == "api_key:default"
        again = client.post(
            f"/api/v1/review/{item_id}/resolve", json={"resolution": "dismiss"}, headers=auth
        )
        assert again.status_code == 409
        assert client.get("/api/v1/review", headers=auth).json()["total"] == 0
        assert client.get("/api/v1/review?status=all", headers=auth).json()["total"] == 1
        assert client.get("/api/v1/review").status_code == 401
    assert opt_out_rows(engine, ws.id, sender)[0].actor == "api_key:default"


def test_a_pending_item_resolves_itself_when_the_number_opts_out_another_way(engine, ws, channel):
    from stopline.services import optouts

    sender, other = number(), number()
    item_id = flagged(engine, channel, sender, "please don't text me anymore")
    untouched = flagged(engine, channel, other)
    stop = inbound.process_inbound(
        engine,
        channel,
        InboundMessage("generic", uuid.uuid4().hex, sender, channel.address, "STOP"),
    )
    assert stop is not None
    with read(engine) as conn:
        item = review.get_review_item(conn, ws.id, item_id)
        still = review.get_review_item(conn, ws.id, untouched)
    assert item.status == "opted_out" and item.resolved_at is not None
    assert item.resolved_by and "another way" in (item.resolution_note or "")
    assert "reply" in (item.resolution_note or "")
    assert still.status == "pending"
    # A manual opt-out by a member resolves it too, recording who.
    with write(engine) as conn:
        optouts.add_opt_out(conn, member(ws), other, reason="asked at the desk")
        settled = review.get_review_item(conn, ws.id, untouched)
    assert settled.status == "opted_out" and settled.resolved_by == "user:pat@example.com"
    assert "asked at the desk" in (settled.resolution_note or "")


def test_a_bulk_opt_out_resolves_the_waiting_items_of_its_numbers(engine, ws, channel):
    from stopline.domain.consent import Method
    from stopline.services.consent import bulk_opt_out

    sender = number()
    item_id = flagged(engine, channel, sender)
    with write(engine) as conn:
        bulk_opt_out(
            conn, ws.id, [number(), sender], method=Method.IMPORT, reason="paper", actor="pat"
        )
        item = review.get_review_item(conn, ws.id, item_id)
    assert item.status == "opted_out" and item.resolved_by == "pat"
    assert "import" in (item.resolution_note or "")


def test_a_channel_scoped_opt_out_resolves_only_that_channels_items(engine, ws, channel, keyring):
    from stopline.domain.consent import Scope
    from stopline.services import optouts

    with write(engine) as conn:
        second = workspaces.add_channel(
            conn, ws.id, keyring, address=number(), provider="generic", credentials={"secret": "s"}
        )
        second_channel = inbound.channel_for(conn, second.id)[0]
    sender = number()
    here = flagged(engine, channel, sender)
    there = flagged(engine, second_channel, sender)
    with write(engine) as conn:
        optouts.add_opt_out(
            conn, member(ws), sender, scope=Scope.CHANNEL, scope_key=str(channel.id)
        )
        assert review.get_review_item(conn, ws.id, here).status == "opted_out"
        assert review.get_review_item(conn, ws.id, there).status == "pending"


def test_each_item_names_the_rule_that_flagged_it_and_why(engine, ws, created, channel, tmp_path):
    item_id = flagged(engine, channel, number(), "Ne m'envoyez plus de SMS")
    auth = {"Authorization": f"Bearer {created.api_key}"}
    with TestClient(create_app(make_runtime(engine, tmp_path))) as client:
        [item] = client.get("/api/v1/review", headers=auth).json()["items"]
    assert item["id"] == item_id
    assert (item["rule"], item["rule_language"]) == ("ne m'envoyez plus", "fr")
    assert "Ne m'envoyez plus" in item["rule_why"]
