"""Send-time rules through the real queue and hand-off, on a simulated clock: what the worker
hands over, and when, checked against the rule table."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stopline.domain.recipient_location import contact_location, number_location
from stopline.domain.send_rules import Category
from stopline.security import Keyring
from stopline.services import contacts, hand_off, queueing, workspaces
from stopline.services.checks import check_send
from stopline.store.db import read, write
from stopline.store.tables import messages
from tests.outbound import add_channel, opt_out, owner
from tests.send_time_oracle import cap_for, open_by_table

AREA_CODES = ["305", "850", "405", "410", "915", "541", "212"]


def us_number(area: str) -> str:
    return f"+1{area}{200 + secrets.randbelow(800)}{1000 + secrets.randbelow(9000)}"


def run_worker(
    engine: sa.Engine, keyring: Keyring, now: datetime, ws_id: int | None = None
) -> list[hand_off.HandOff]:
    """Hand over everything due at `now`, as a worker would; with `ws_id`, report only that
    workspace's messages (the session's database holds other tests' messages, due too)."""
    done: list[hand_off.HandOff] = []
    while True:
        ids = hand_off.claim(engine, "sim", now=now)
        if not ids:
            break
        done += hand_off.hand_off(engine, ids, owner="sim", keyring=keyring, now=lambda: now)
    if ws_id is None:
        return done
    with read(engine) as conn:
        mine = set(
            conn.execute(
                sa.select(messages.c.id).where(
                    messages.c.workspace_id == ws_id,
                    messages.c.id.in_([h.message_id for h in done]),
                )
            ).scalars()
        )
    return [h for h in done if h.message_id in mine]


def handed(engine: sa.Engine, ws_id: int) -> list[Any]:
    with read(engine) as conn:
        return list(
            conn.execute(
                sa.select(messages.c.to_number, messages.c.handed_at, messages.c.category)
                .where(messages.c.workspace_id == ws_id, messages.c.status == "sent")
                .order_by(messages.c.handed_at)
            )
        )


def enqueue(engine: sa.Engine, ws: Any, channel: Any, to: str, now: datetime, **kw: Any) -> Any:
    with write(engine) as conn:
        return queueing.enqueue(
            conn,
            ws.id,
            channel_id=channel.id,
            to=to,
            body="Sale!",
            category="marketing",
            now=now,
            **kw,
        )


def test_a_marketing_text_at_night_waits_for_florida_morning(engine, ws, keyring) -> None:  # type: ignore[no-untyped-def]
    channel = add_channel(engine, ws, keyring)
    to = us_number("305")
    night = datetime(2026, 12, 5, 2, 30, tzinfo=UTC)
    message = enqueue(engine, ws, channel, to, night)
    assert (message.status, message.hold_reason) == ("scheduled", "quiet_hours")
    assert message.available_at == datetime(2026, 12, 5, 13, 0, tzinfo=UTC)
    assert message.send_decision["location"]["found_by"] == "area code 305"
    assert run_worker(engine, keyring, night + timedelta(hours=10), ws.id) == []
    sent = run_worker(engine, keyring, datetime(2026, 12, 5, 13, 0, tzinfo=UTC), ws.id)
    assert [h.status for h in sent] == ["sent"]


def test_the_hand_off_itself_defers_a_message_queued_as_allowed(engine, ws, keyring) -> None:  # type: ignore[no-untyped-def]
    """Queued in the window, claimed after it closed: the hand-off (not only the queue) holds it."""
    channel = add_channel(engine, ws, keyring)
    to = us_number("305")
    evening = datetime(2026, 12, 4, 0, 30, tzinfo=UTC)  # 19:30 in Miami
    assert enqueue(engine, ws, channel, to, evening).status == "queued"
    late = evening + timedelta(hours=1)  # 20:30: Florida's window closed at 20:00
    results = run_worker(engine, keyring, late, ws.id)
    assert [(r.status, r.error_code) for r in results] == [("scheduled", "quiet_hours")]
    with read(engine) as conn:
        row = conn.execute(sa.select(messages).where(messages.c.to_number == to)).one()
    assert row.attempts == 0 and row.hold_reason == "quiet_hours"
    assert (
        run_worker(engine, keyring, datetime(2026, 12, 4, 13, 0, tzinfo=UTC), ws.id)[0].status
        == "sent"
    )


def test_a_fourth_marketing_text_in_oklahoma_waits_or_is_refused(engine, created, keyring) -> None:  # type: ignore[no-untyped-def]
    ws = created.workspace
    channel = add_channel(engine, ws, keyring)
    to = us_number("405")
    noon = datetime(2026, 12, 4, 18, 0, tzinfo=UTC)  # 12:00 in Oklahoma City
    for minutes in (0, 10, 20):
        enqueue(engine, ws, channel, to, noon + timedelta(minutes=minutes))
        run_worker(engine, keyring, noon + timedelta(minutes=minutes))
    fourth = enqueue(engine, ws, channel, to, noon + timedelta(minutes=30))
    assert fourth.hold_reason == "frequency_cap"
    assert fourth.available_at == noon + timedelta(hours=24)
    with write(engine) as conn:
        workspaces.update_settings(conn, owner(ws), {"over_cap": "refuse"})
        refused = queueing.enqueue(
            conn, ws.id, channel_id=channel.id, to=to, body="x", category="marketing",
            now=noon + timedelta(minutes=40),
        )  # fmt: skip
    assert (refused.status, refused.refusal_code) == ("failed", "frequency_cap")


def test_conversational_and_confirmations_go_at_night(engine, ws, keyring) -> None:  # type: ignore[no-untyped-def]
    channel = add_channel(engine, ws, keyring)
    night = datetime(2026, 12, 5, 7, 0, tzinfo=UTC)
    reply = enqueue(engine, ws, channel, us_number("305"), night, kind="normal")
    assert reply.status == "scheduled"
    with write(engine) as conn:
        chat = queueing.enqueue(
            conn, ws.id, channel_id=channel.id, to=us_number("305"), body="Sure, 3pm works",
            category="conversational", now=night,
        )  # fmt: skip
    assert chat.status == "queued" and chat.category == "conversational"


def test_check_explains_with_the_contacts_own_zone(engine, ws, keyring) -> None:  # type: ignore[no-untyped-def]
    to = us_number("305")
    with write(engine) as conn:
        person = contacts.create_contact(conn, owner(ws), name="Ana", numbers=[to])
        contacts.update_contact(conn, owner(ws), person.id, time_zone="America/Los_Angeles")
        answer = check_send(
            conn, ws.id, to, policy=ws.policy, category="marketing",
            at=datetime(2026, 12, 4, 15, 30, tzinfo=UTC),
        )  # fmt: skip
    data = answer.as_dict()
    assert data["verdict"] == "deferred" and data["until"] == "2026-12-04T08:00:00-08:00"
    assert data["location"]["found_by"].startswith("contact's time zone America/Los_Angeles")


actions = st.lists(
    st.tuples(
        st.sampled_from(["send", "send", "send", "stop", "tick"]),
        st.integers(0, len(AREA_CODES)),  # the last one: a contact with their own zone
        st.integers(1, 9 * 60),
    ),
    min_size=1,
    max_size=14,
)


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    start=st.datetimes(datetime(2026, 1, 1), datetime(2026, 12, 31), timezones=st.just(UTC)),
    steps=actions,
)
def test_on_a_simulated_clock_nothing_goes_outside_its_window_over_a_cap_or_after_a_stop(  # type: ignore[no-untyped-def]
    engine, keyring, start: datetime, steps: list[tuple[str, int, int]]
) -> None:
    with write(engine) as conn:
        ws = workspaces.create_workspace(
            conn,
            name=f"sim {secrets.token_hex(3)}",
            owner_email=f"{secrets.token_hex(4)}@example.com",
            owner_password="correct horse battery staple",
        ).workspace
    channel = add_channel(engine, ws, keyring)
    recipients = [us_number(a) for a in AREA_CODES] + [us_number("212")]
    own_zone = "America/Los_Angeles"
    with write(engine) as conn:
        person = contacts.create_contact(
            conn, owner(ws), name="Moved west", numbers=[recipients[-1]]
        )
        contacts.update_contact(conn, owner(ws), person.id, time_zone=own_zone)
    stopped: dict[str, datetime] = {}
    now = start
    for action, who, minutes in steps:
        to = recipients[who]
        if action == "send":
            enqueue(engine, ws, channel, to, now)
        elif action == "stop" and to not in stopped:
            opt_out(engine, ws, to)
            stopped[to] = now
        now += timedelta(minutes=minutes)
        run_worker(engine, keyring, now)
    for _ in range(3 * 24):  # let every deferred message come due
        now += timedelta(hours=1)
        run_worker(engine, keyring, now)

    places = {n: number_location(n) for n in recipients}
    places[recipients[-1]] = contact_location(
        places[recipients[-1]], time_zone=own_zone, postal_code=None
    )
    sent = handed(engine, ws.id)
    by_number: dict[str, list[datetime]] = {}
    for row in sent:
        at = row.handed_at if row.handed_at.tzinfo else row.handed_at.replace(tzinfo=UTC)
        assert open_by_table(at, places[row.to_number], Category.MARKETING), (row.to_number, at)
        if row.to_number in stopped:
            assert at <= stopped[row.to_number]
        by_number.setdefault(row.to_number, []).append(at)
    for number, times in by_number.items():
        for i, first in enumerate(times):
            cap = cap_for(places[number], first)
            if cap is not None:
                assert len([t for t in times[i:] if t < first + timedelta(hours=24)]) <= cap
    with read(engine) as conn:
        waiting = conn.execute(
            sa.select(sa.func.count()).where(
                messages.c.workspace_id == ws.id, messages.c.status.in_(("queued", "scheduled"))
            )
        ).scalar_one()
    assert waiting == 0  # deferred, never dropped: everything went or was refused for a reason


def test_a_contacts_florida_zip_code_brings_floridas_cap_to_a_new_york_number(  # type: ignore[no-untyped-def]
    engine, ws, keyring
) -> None:
    channel = add_channel(engine, ws, keyring)
    to = us_number("212")
    with write(engine) as conn:
        person = contacts.create_contact(conn, owner(ws), name="Snowbird", numbers=[to])
        contacts.update_contact(conn, owner(ws), person.id, postal_code="33101")
    noon = datetime(2026, 12, 4, 17, 0, tzinfo=UTC)  # 12:00 in Miami and New York
    for minutes in (0, 10, 20):
        enqueue(engine, ws, channel, to, noon + timedelta(minutes=minutes))
        run_worker(engine, keyring, noon + timedelta(minutes=minutes))
    fourth = enqueue(engine, ws, channel, to, noon + timedelta(minutes=30))
    assert fourth.hold_reason == "frequency_cap"
    assert "Florida" in fourth.send_decision["rule"]
