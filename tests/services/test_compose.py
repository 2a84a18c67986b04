"""Starting a conversation: the gate's answer before sending, queued through enqueue, scheduled."""

from __future__ import annotations

from datetime import timedelta

import pytest

from stopline.domain.errors import InvalidInput
from stopline.services import compose, hand_off
from stopline.services.consent import now_utc
from stopline.store.db import read, write
from tests.outbound import add_channel, block, deliveries, number, opt_out, owner, stop_reply


@pytest.fixture
def channel(engine, ws, keyring):
    return add_channel(engine, ws, keyring)


def test_the_gate_answers_before_sending(engine, ws, channel):
    fine, gone, spam = number(), number(), number()
    opt_out(engine, ws, gone)
    block(engine, ws, spam)
    with read(engine) as conn:
        ok = compose.check(conn, ws.id, to=fine[2:], channel_id=channel.id, body="Hi 🎄")
        refused = compose.check(conn, ws.id, to=gone, channel_id=channel.id)
        blocked = compose.check(conn, ws.id, to=spam, channel_id=channel.id)
        invalid = compose.check(conn, ws.id, to="12", channel_id=channel.id)
        empty = compose.check(conn, ws.id, to="", channel_id=channel.id)
    assert ok.number == fine and ok.refusal is None and ok.segments.encoding == "UCS-2"
    assert refused.refusal is not None and refused.refusal.code.value == "opted_out"
    assert blocked.refusal is not None and blocked.refusal.code.value == "blocked"
    assert invalid.refusal is not None and invalid.refusal.code.value == "invalid_number"
    assert empty.decision is None


def test_a_new_message_is_queued_in_a_conversation_and_handed_over(engine, ws, channel, keyring):
    to = number()
    with write(engine) as conn:
        composed = compose.send_new(
            conn, owner(ws), to=to, channel_id=channel.id, body="Your crown is ready"
        )
    assert composed.message.status == "queued" and composed.conversation_id is not None
    assert composed.message.sent_by == "test-owner"
    hand_off_all(engine, keyring)
    assert [d.to_number for d in deliveries(engine, ws.id, to)] == [to]


def test_a_refused_message_is_kept_with_its_reason_and_never_handed_over(
    engine, ws, channel, keyring
):
    to = number()
    opt_out(engine, ws, to)
    with write(engine) as conn:
        composed = compose.send_new(conn, owner(ws), to=to, channel_id=channel.id, body="Hi")
    assert composed.message.status == "failed" and composed.message.refusal_code == "opted_out"
    hand_off_all(engine, keyring)
    assert deliveries(engine, ws.id, to) == []


def test_a_scheduled_message_waits_and_a_stop_before_it_goes_cancels_it(
    engine, ws, channel, keyring
):
    to = number()
    when = now_utc() + timedelta(hours=3)
    with write(engine) as conn:
        composed = compose.send_new(
            conn, owner(ws), to=to, channel_id=channel.id, body="See you", scheduled_at=when
        )
    assert composed.message.status == "scheduled"
    assert abs(composed.message.scheduled_at - when) < timedelta(seconds=1)
    stop_reply(engine, ws, to)
    hand_off_all(engine, keyring, at=when + timedelta(minutes=1))
    assert deliveries(engine, ws.id, to) == []


def test_a_time_in_the_past_or_no_channel_is_refused_before_anything_is_stored(engine, ws, channel):
    with write(engine) as conn:
        with pytest.raises(InvalidInput) as past:
            compose.send_new(
                conn,
                owner(ws),
                to=number(),
                channel_id=channel.id,
                body="x",
                scheduled_at=now_utc() - timedelta(minutes=1),
            )
        with pytest.raises(InvalidInput) as no_channel:
            compose.send_new(conn, owner(ws), to=number(), channel_id=None, body="x")
    assert past.value.code == "schedule_in_past" and no_channel.value.code == "channel_required"


def hand_off_all(engine, keyring, at=None):
    """Claim and hand off everything due (at `at`), as the worker does."""
    while True:
        claimed = hand_off.claim(engine, "test-worker", now=at)
        if not claimed:
            return
        hand_off.hand_off(
            engine,
            claimed,
            owner="test-worker",
            keyring=keyring,
            now=(lambda: at) if at else now_utc,
        )


def test_the_check_says_when_quiet_hours_hold_a_message(engine, ws, channel):
    from datetime import UTC, datetime

    to = "+14155550177"  # area code 415: California
    night = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)  # 02:00 in California
    noon = datetime(2026, 12, 3, 20, 0, tzinfo=UTC)
    with read(engine) as conn:
        held = compose.check(
            conn, ws.id, to=to, channel_id=channel.id, category="marketing", at=night
        )
        fine = compose.check(
            conn, ws.id, to=to, channel_id=channel.id, category="marketing", at=noon
        )
        chat = compose.check(
            conn, ws.id, to=to, channel_id=channel.id, category="conversational", at=night
        )
    assert held.refusal is None and held.held_until is not None
    assert held.held_until.tzinfo is not None and held.held_until.hour >= 8
    assert held.held_until.astimezone(UTC) > night
    assert fine.held_until is None and not fine.time_refused
    assert chat.held_until is None
