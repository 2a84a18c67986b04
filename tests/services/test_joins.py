"""Keyword join with double opt-in, through the inbound pipeline: JOIN, the request, YES within
the window subscribes with both texts as evidence; no YES, nothing; STOP always wins."""

from __future__ import annotations

import io
import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa
from pypdf import PdfReader

from stopline.domain.errors import InvalidInput
from stopline.files.evidence_pdf import render
from stopline.services import evidence as evidence_service
from stopline.services import inbound, joins, lists
from stopline.services.consent import now_utc
from stopline.store.db import read, write
from stopline.store.tables import consent_events, list_members
from tests.inbound_kit import outbound_to
from tests.inbound_kit import text_in as text
from tests.outbound import add_channel, number, owner

REQUEST = "Acme: Reply YES to get Acme deals, up to 4 msgs/month. Msg&data rates may apply. Reply STOP to cancel."


@pytest.fixture
def world(engine, ws, keyring):
    channel = add_channel(engine, ws, keyring)
    with write(engine) as conn:
        deals = lists.create_list(conn, owner(ws), name=f"Deals {uuid.uuid4().hex[:4]}")
        joins.save_settings(
            conn, owner(ws), deals.id, keywords=["join", "Deals"], request_text=REQUEST
        )
        in_channel = inbound.channel_for(conn, channel.id)[0]
    return in_channel, deals


def members_of(engine, list_id: int) -> set[str]:
    with read(engine) as conn:
        return set(
            conn.execute(
                sa.select(list_members.c.number).where(list_members.c.list_id == list_id)
            ).scalars()
        )


def list_opt_ins(engine, ws_id: int, who: str) -> list:
    with read(engine) as conn:
        return list(
            conn.execute(
                sa.select(consent_events).where(
                    consent_events.c.workspace_id == ws_id,
                    consent_events.c.number == who,
                    consent_events.c.action == "list_opt_in",
                )
            )
        )


def test_join_then_yes_subscribes_with_both_texts_as_evidence(engine, ws, keyring, world) -> None:
    channel, deals = world
    who = number()
    asked = text(engine, channel, who, "Join!")
    assert asked.action == "join_requested"
    [request] = outbound_to(engine, ws.id, who)
    assert request.body == REQUEST and request.kind == "confirmation"
    assert who not in members_of(engine, deals.id) and not list_opt_ins(engine, ws.id, who)

    answered = text(engine, channel, who, "yes")
    assert answered.action == "join_confirmed"
    assert who in members_of(engine, deals.id)
    [event] = list_opt_ins(engine, ws.id, who)
    evidence = event.detail["evidence"]
    assert evidence["request_text"] == REQUEST and evidence["reply_text"] == "yes"
    assert evidence["join_text"] == "Join!" and evidence["consent_text"] == REQUEST
    assert (event.method, event.list_id, event.inbound_text) == ("reply", deals.id, "yes")
    confirmation = outbound_to(engine, ws.id, who)[-1]
    assert "You are subscribed to" in confirmation.body

    with read(engine) as conn:
        packet = evidence_service.packet(conn, ws.id, who, keyring)
        [row] = joins.requests_of(conn, ws.id, who)
    assert packet["events"][0]["evidence_strength"] == "double_opt_in"
    assert packet["verification"]["verified"]
    assert row["status"] == "confirmed" and row["event_seq"] == event.seq
    pdf = PdfReader(io.BytesIO(render(packet)))
    flat = " ".join(" ".join(p.extract_text() for p in pdf.pages).split())
    assert "double opt-in: the number confirmed by text" in flat
    assert "Double opt-in requests (1)" in flat and "confirmed: list" in flat
    assert "reply_text yes" in flat and "join_text Join!" in flat


def test_an_unanswered_join_expires_and_subscribes_nothing(engine, ws, world) -> None:
    channel, deals = world
    who = number()
    assert text(engine, channel, who, "DEALS").action == "join_requested"
    with read(engine) as conn:
        [row] = joins.requests_of(conn, ws.id, who)
    assert row["expires_at"][:13] == (now_utc() + timedelta(hours=24)).isoformat()[:13]
    assert joins.expire_due(engine, now_utc() + timedelta(hours=24, minutes=1)) >= 1
    late = text(engine, channel, who, "YES")
    assert late.action != "join_confirmed"
    assert who not in members_of(engine, deals.id) and not list_opt_ins(engine, ws.id, who)
    with read(engine) as conn:
        assert [r["status"] for r in joins.requests_of(conn, ws.id, who)] == ["expired"]


def test_stop_after_join_voids_the_request(engine, ws, world) -> None:
    channel, deals = world
    who = number()
    text(engine, channel, who, "JOIN")
    assert text(engine, channel, who, "STOP").action == "opt_out"
    assert text(engine, channel, who, "START").action == "opt_in"
    assert text(engine, channel, who, "YES").action != "join_confirmed"
    assert who not in members_of(engine, deals.id) and not list_opt_ins(engine, ws.id, who)


def test_an_opted_out_number_gets_no_request(engine, ws, world) -> None:
    channel, deals = world
    who = number()
    text(engine, channel, who, "STOP")
    before = len(outbound_to(engine, ws.id, who))
    assert text(engine, channel, who, "JOIN").action != "join_requested"
    assert len(outbound_to(engine, ws.id, who)) == before


@pytest.mark.parametrize(
    "word", ["STOP", "stop", "Arret", "UNSUBSCRIBE", "START", "HELP", "YES", "INFO"]
)
def test_join_keywords_never_shadow_keywords(engine, ws, world, word) -> None:
    _channel, deals = world
    with pytest.raises(InvalidInput) as refused, write(engine) as conn:
        joins.save_settings(conn, owner(ws), deals.id, keywords=[word])
    assert refused.value.code == "keyword_reserved"


def test_a_join_word_belongs_to_one_list(engine, ws, world) -> None:
    _channel, deals = world
    with write(engine) as conn:
        other = lists.create_list(conn, owner(ws), name=f"Other {uuid.uuid4().hex[:4]}")
    with pytest.raises(InvalidInput) as refused, write(engine) as conn:
        joins.save_settings(conn, owner(ws), other.id, keywords=["deals"])
    assert refused.value.code == "keyword_taken"


def test_a_list_keyword_cannot_take_a_join_word(engine, ws, world) -> None:
    from stopline.domain.errors import Conflict

    with write(engine) as conn:
        other = lists.create_list(conn, owner(ws), name=f"Other {uuid.uuid4().hex[:4]}")
    with pytest.raises(Conflict) as refused, write(engine) as conn:
        lists.update_list(conn, owner(ws), other.id, keywords={"opt_in": ["DEALS"]})
    assert refused.value.code == "keyword_taken"
