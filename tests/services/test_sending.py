"""Queueing and hand-off: the gate at queue time and again at hand-off, disclosures, leases."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from stopline.domain.errors import InvalidInput
from stopline.security import Keyring
from stopline.services import hand_off, provider_outcomes, queueing, workspaces
from stopline.services import messages as messages_service
from stopline.services.consent import now_utc
from stopline.store.db import read, write
from tests.outbound import (
    add_channel,
    block,
    deliveries,
    number,
    opt_out,
    set_policy,
    stop_reply,
)


@pytest.fixture
def channel(engine: sa.Engine, ws: workspaces.Workspace, keyring: Keyring) -> workspaces.Channel:
    return add_channel(engine, ws, keyring)


def send(engine: sa.Engine, ws: workspaces.Workspace, channel: workspaces.Channel, to: str, **kw):  # type: ignore[no-untyped-def]
    with write(engine) as conn:
        return queueing.enqueue(
            conn, ws.id, channel_id=channel.id, to=to, body=kw.pop("body", "Hi"), **kw
        )


def work(
    engine: sa.Engine, keyring: Keyring, owner_name: str = "w1", now=None
) -> list[provider_outcomes.HandOff]:  # type: ignore[no-untyped-def]
    ids = hand_off.claim(engine, owner_name, now=now)
    return hand_off.hand_off(engine, ids, owner=owner_name, keyring=keyring)


def test_a_send_is_queued_with_a_twilio_shaped_sid(engine, ws, channel) -> None:  # type: ignore[no-untyped-def]
    message = send(engine, ws, channel, "(415) 555-2671")
    assert message.status == "queued"
    assert message.refusal_code is None
    assert message.to == "+14155552671"
    assert message.sid.startswith("SM") and len(message.sid) == 34
    int(message.sid[2:], 16)
    assert message.from_address == channel.address


def test_a_send_to_an_opted_out_number_is_refused_at_once(engine, ws, channel) -> None:  # type: ignore[no-untyped-def]
    to = number()
    opt_out(engine, ws, to)
    message = send(engine, ws, channel, to)
    assert (message.status, message.refusal_code) == ("failed", "opted_out")


def test_a_send_to_a_blocked_number_is_refused_as_blocked(engine, ws, channel) -> None:  # type: ignore[no-untyped-def]
    to = number()
    block(engine, ws, to)
    message = send(engine, ws, channel, to)
    assert (message.status, message.refusal_code) == ("failed", "blocked")


def test_a_send_to_an_invalid_number_is_refused_as_invalid_number(engine, ws, channel) -> None:  # type: ignore[no-untyped-def]
    message = send(engine, ws, channel, "12")
    assert (message.status, message.refusal_code) == ("failed", "invalid_number")


def test_an_empty_body_or_unknown_channel_is_invalid_input(engine, ws, channel) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidInput) as empty:
        send(engine, ws, channel, number(), body="   ")
    assert empty.value.code == "body_required"
    with write(engine) as conn, pytest.raises(InvalidInput) as unknown:
        queueing.enqueue(conn, ws.id, channel_id=999_999, to=number(), body="x")
    assert unknown.value.code == "channel_not_found"


def test_a_channel_of_another_workspace_cannot_be_used(engine, ws, channel, created) -> None:  # type: ignore[no-untyped-def]
    with write(engine) as conn:
        other = workspaces.create_workspace(
            conn, name="Other", owner_email="o@example.com", owner_password="long enough pw"
        ).workspace
    with write(engine) as conn, pytest.raises(InvalidInput):
        queueing.enqueue(conn, other.id, channel_id=channel.id, to=number(), body="x")


def test_reusing_an_idempotency_key_returns_the_first_message(engine, ws, channel) -> None:  # type: ignore[no-untyped-def]
    first = send(engine, ws, channel, number(), idempotency_key="order-17")
    again = send(engine, ws, channel, number(), idempotency_key="order-17")
    assert again.id == first.id and again.sid == first.sid


def test_a_future_send_is_scheduled_and_goes_only_when_due(engine, ws, channel, keyring) -> None:  # type: ignore[no-untyped-def]
    to = number()
    at = now_utc() + timedelta(hours=1)
    message = send(engine, ws, channel, to, scheduled_at=at)
    assert message.status == "scheduled"
    assert message.id not in [h.message_id for h in work(engine, keyring)]
    results = work(engine, keyring, now=at + timedelta(seconds=1))
    assert [r.status for r in results if r.message_id == message.id] == ["sent"]
    assert len(deliveries(engine, ws.id, to)) == 1


def test_hand_off_delivers_once_and_marks_sent(engine, ws, channel, keyring) -> None:  # type: ignore[no-untyped-def]
    to = number()
    message = send(engine, ws, channel, to)
    work(engine, keyring)
    with read(engine) as conn:
        after = messages_service.get_message(conn, ws.id, message.sid)
    assert after.status == "sent" and after.handed_at is not None
    assert after.provider == "console"
    assert [d.idempotency_key for d in deliveries(engine, ws.id, to)] == [message.sid]
    assert message.id not in [h.message_id for h in work(engine, keyring)]  # never twice
    assert len(deliveries(engine, ws.id, to)) == 1


def test_an_opt_out_after_queueing_cancels_the_message(engine, ws, channel, keyring) -> None:  # type: ignore[no-untyped-def]
    to = number()
    message = send(engine, ws, channel, to)
    result = stop_reply(engine, ws, to)
    assert result.canceled_messages == 1
    work(engine, keyring)
    with read(engine) as conn:
        after = messages_service.get_message(conn, ws.id, message.id)
    assert (after.status, after.refusal_code) == ("canceled", "opted_out")
    assert deliveries(engine, ws.id, to) == []


def test_hand_off_refuses_a_claimed_message_whose_number_opted_out_since(
    engine, ws, channel, keyring
) -> None:  # type: ignore[no-untyped-def]
    # The opt-out lands between the claim and the hand-off, and (as a manual edit of the
    # projection would) without cancelling the row: the hand-off's own gate check refuses it.
    to = number()
    message = send(engine, ws, channel, to)
    ids = hand_off.claim(engine, "w1")
    assert message.id in ids
    opt_out_without_cancel(engine, ws, to)
    results = hand_off.hand_off(engine, ids, owner="w1", keyring=keyring)
    assert [(r.status, r.refusal_code) for r in results if r.message_id == message.id] == [
        ("failed", "opted_out")
    ]
    assert deliveries(engine, ws.id, to) == []


def opt_out_without_cancel(engine: sa.Engine, ws: workspaces.Workspace, to: str) -> None:
    """An opt-out whose cancellation missed the message (defence in depth for the hand-off)."""
    from stopline.store import outbox

    original = outbox.cancel_pending
    outbox.cancel_pending = lambda *a, **k: 0  # type: ignore[assignment]
    try:
        opt_out(engine, ws, to)
    finally:
        outbox.cancel_pending = original  # type: ignore[assignment]


def test_the_first_message_to_a_number_carries_the_disclosure_once(
    engine, ws, channel, keyring
) -> None:  # type: ignore[no-untyped-def]
    to = number()
    send(engine, ws, channel, to, body="Your table is ready")
    send(engine, ws, channel, to, body="See you soon")
    work(engine, keyring)
    bodies = [d.body for d in deliveries(engine, ws.id, to)]
    assert bodies == [
        "Your table is ready\nReply STOP to opt out, HELP for help.",
        "See you soon",
    ]


def test_no_disclosure_when_the_setting_is_off(engine, ws, channel, keyring) -> None:  # type: ignore[no-untyped-def]
    set_policy(engine, ws, first_message_disclosure=False)
    to = number()
    send(engine, ws, channel, to, body="Hello")
    work(engine, keyring)
    assert [d.body for d in deliveries(engine, ws.id, to)] == ["Hello"]


def test_confirmations_never_carry_the_disclosure(engine, ws, channel, keyring) -> None:  # type: ignore[no-untyped-def]
    to = number()
    send(engine, ws, channel, to, body="You are unsubscribed.", kind="confirmation")
    work(engine, keyring)
    assert [d.body for d in deliveries(engine, ws.id, to)] == ["You are unsubscribed."]


def test_a_confirmation_passes_an_opt_out_but_not_a_block(engine, ws, channel, keyring) -> None:  # type: ignore[no-untyped-def]
    opted, blocked = number(), number()
    opt_out(engine, ws, opted)
    block(engine, ws, blocked)
    a = send(engine, ws, channel, opted, body="Unsubscribed.", kind="confirmation")
    b = send(engine, ws, channel, blocked, body="Unsubscribed.", kind="confirmation")
    assert a.status == "queued"
    assert (b.status, b.refusal_code) == ("failed", "blocked")


def test_an_inline_reply_is_recorded_as_sent(engine, ws, channel) -> None:  # type: ignore[no-untyped-def]
    to = number()
    stop_reply(engine, ws, to)
    with write(engine) as conn:
        reply = queueing.record_inline_reply(
            conn, ws.id, channel_id=channel.id, to=to, body="You are unsubscribed."
        )
    assert reply is not None
    assert (reply.status, reply.kind, reply.body) == (
        "sent",
        "confirmation",
        "You are unsubscribed.",
    )


def test_an_inline_reply_to_a_blocked_number_is_refused(engine, ws, channel) -> None:  # type: ignore[no-untyped-def]
    to = number()
    block(engine, ws, to)
    with write(engine) as conn:
        reply = queueing.record_inline_reply(conn, ws.id, channel_id=channel.id, to=to, body="Bye")
    assert reply is None


def test_a_killed_workers_claim_is_retried_by_another_after_its_lease(
    engine, ws, channel, keyring
) -> None:  # type: ignore[no-untyped-def]
    to = number()
    message = send(engine, ws, channel, to)
    ids = hand_off.claim(engine, "dead-worker")  # ... and then it dies before handing off
    assert message.id in ids
    assert message.id not in hand_off.claim(engine, "w2")  # still leased
    later = now_utc() + hand_off.LEASE + timedelta(seconds=1)
    retry = hand_off.claim(engine, "w2", now=later)
    assert message.id in retry
    hand_off.hand_off(engine, retry, owner="w2", keyring=keyring)
    # The dead worker, had it woken up, no longer owns it:
    assert (
        hand_off.hand_off(engine, ids, owner="dead-worker", keyring=keyring)[0].status == "skipped"
    )
    assert len(deliveries(engine, ws.id, to)) == 1


def test_a_normal_inline_reply_that_is_the_first_message_carries_the_disclosure(  # type: ignore[no-untyped-def]
    engine, ws, channel
) -> None:
    to = number()
    with write(engine) as conn:
        first = queueing.record_inline_reply(
            conn, ws.id, channel_id=channel.id, to=to, body="Thanks!", kind="normal"
        )
        second = queueing.record_inline_reply(
            conn, ws.id, channel_id=channel.id, to=to, body="Again", kind="normal"
        )
    assert first is not None and first.body == "Thanks!\nReply STOP to opt out, HELP for help."
    assert second is not None and second.body == "Again"


def test_a_body_that_already_says_it_gets_no_second_disclosure(
    engine, ws, channel, keyring
) -> None:  # type: ignore[no-untyped-def]
    to = number()
    send(engine, ws, channel, to, body="Hi! Reply STOP to opt out, HELP for help.")
    work(engine, keyring)
    assert [d.body for d in deliveries(engine, ws.id, to)] == [
        "Hi! Reply STOP to opt out, HELP for help."
    ]


def _sent_via_provider(engine, ws, channel, keyring, provider_id: str):  # type: ignore[no-untyped-def]
    message = send(engine, ws, channel, number())
    work(engine, keyring)
    from stopline.store.tables import messages

    with write(engine) as conn:
        conn.execute(
            sa.update(messages)
            .where(messages.c.id == message.id)
            .values(provider_message_id=provider_id)
        )
    return message


def test_status_callbacks_move_a_message_forward_only(engine, ws, channel, keyring) -> None:  # type: ignore[no-untyped-def]
    message = _sent_via_provider(engine, ws, channel, keyring, f"prov-{number()}")
    with read(engine) as conn:
        pid = messages_service.get_message(conn, ws.id, message.id).provider_message_id
    assert pid is not None
    with write(engine) as conn:
        delivered = provider_outcomes.apply_status_update(
            conn, ws.id, provider="console", provider_message_id=pid, status="delivered"
        )
        late_failure = provider_outcomes.apply_status_update(
            conn, ws.id, provider="console", provider_message_id=pid, status="failed"
        )
        unknown = provider_outcomes.apply_status_update(
            conn, ws.id, provider="console", provider_message_id="nope", status="delivered"
        )
    assert delivered is not None and delivered.status == "delivered"
    assert late_failure is not None and late_failure.status == "delivered"
    assert unknown is None


def test_a_status_callback_saying_the_recipient_opted_out_records_a_carrier_opt_out(  # type: ignore[no-untyped-def]
    engine, ws, channel, keyring
) -> None:
    from stopline.store import ledger

    message = _sent_via_provider(engine, ws, channel, keyring, f"prov-{number()}")
    with read(engine) as conn:
        sent = messages_service.get_message(conn, ws.id, message.id)
    pending = send(engine, ws, channel, sent.to, body="next one")
    with write(engine) as conn:
        # A report signed by another provider than the one the message went through: not ours.
        assert (
            provider_outcomes.apply_status_update(
                conn,
                ws.id,
                provider="twilio",
                provider_message_id=sent.provider_message_id or "",
                status="failed",
                error_code="21610",
                recipient_opted_out=True,
            )
            is None
        )
        updated = provider_outcomes.apply_status_update(
            conn,
            ws.id,
            provider=channel.provider,
            provider_message_id=sent.provider_message_id or "",
            status="failed",
            error_code="21610",
            recipient_opted_out=True,
        )
    assert updated is not None and (updated.status, updated.refusal_code) == ("failed", "opted_out")
    with read(engine) as conn:
        state = ledger.load_state(conn, ws.id, sent.to)
        after = messages_service.get_message(conn, ws.id, pending.id)
    assert [r.method.value for r in state.opt_outs.values()] == ["carrier"]
    assert (after.status, after.refusal_code) == ("canceled", "opted_out")
