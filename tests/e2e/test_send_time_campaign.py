"""A campaign to recipients in several states, sent on a simulated clock: each message goes
as its recipient's window opens, never before, checked against the rule table."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from stopline.domain.recipient_location import contact_location, number_location
from stopline.domain.send_rules import Category
from stopline.services import campaigns, contacts, hand_off
from stopline.store.db import read, write
from stopline.store.tables import console_outbox, messages
from tests.outbound import add_channel, opt_out, owner
from tests.send_time_oracle import open_by_table

START = datetime(2026, 12, 5, 3, 0, tzinfo=UTC)  # Friday 22:00 in New York, 19:00 in Portland
TICK = timedelta(minutes=5)
# Area code -> when its first opening after START is, by the rule table.
EXPECTED = {
    "305": datetime(2026, 12, 5, 13, 0, tzinfo=UTC),  # Florida 8:00 EST
    "212": datetime(2026, 12, 5, 13, 0, tzinfo=UTC),  # New York, federal 8:00 EST
    "410": datetime(2026, 12, 5, 13, 0, tzinfo=UTC),  # Maryland 8:00 EST
    "405": datetime(2026, 12, 5, 14, 0, tzinfo=UTC),  # Oklahoma 8:00 CST
    "214": datetime(2026, 12, 5, 15, 0, tzinfo=UTC),  # Texas, Saturday 9:00 CST
    "850": datetime(2026, 12, 5, 14, 0, tzinfo=UTC),  # Florida panhandle: 8:00 in Central too
    "503": START,  # Oregon: 19:00 PST, open until 20:00
    "415": START,  # California: federal window until 21:00
}


def member(area: str) -> str:
    return f"+1{area}{200 + secrets.randbelow(800)}{1000 + secrets.randbelow(9000)}"


def test_a_campaign_across_states_goes_out_as_each_window_opens(engine, ws, keyring) -> None:  # type: ignore[no-untyped-def]
    add_channel(engine, ws, keyring)
    recipients = {member(area): area for area in EXPECTED for _ in range(2)}
    moved = member("503")  # an Oregon number whose contact lives in Miami
    stopped = member("212")  # says STOP while their message waits for the morning
    everyone = [*recipients, moved, stopped]
    with write(engine) as conn:
        made = campaigns.create_list(conn, owner(ws), f"Customers {secrets.token_hex(3)}")
        campaigns.add_members(conn, owner(ws), made.id, everyone)
        person = contacts.create_contact(conn, owner(ws), name="Moved", numbers=[moved])
        contacts.update_contact(conn, owner(ws), person.id, postal_code="33101")
        preview = campaigns.preview_audience(conn, ws.id, list_ids=[made.id], at=START)
        campaign = campaigns.create_campaign(
            conn, owner(ws), name="Weekend sale", body="20% off", list_ids=[made.id]
        )
    timing = preview["send_time"]
    # As the expansion does: the Oregon number of the contact in Miami waits for Florida's 8:00.
    assert timing["now"] == 4 and timing["later"] == len(everyone) - 4
    assert timing["last_at"] == EXPECTED["214"].isoformat()
    campaigns.expand(engine, ws.id, campaign.id, now=START)
    with read(engine) as conn:
        waiting = conn.execute(
            sa.select(messages.c.to_number, messages.c.status, messages.c.hold_reason).where(
                messages.c.campaign_id == campaign.id
            )
        ).all()
    # The Oregon number whose contact is in Miami waits for 8:00 in Florida.
    assert {r.to_number: r.status for r in waiting}[moved] == "scheduled"
    assert [r for r in waiting if r.status == "scheduled" and r.hold_reason != "quiet_hours"] == []

    now = START
    handed: dict[str, datetime] = {}
    while now < START + timedelta(hours=20):
        if now == START + timedelta(hours=1):
            opt_out(engine, ws, stopped)
        for result in _work(engine, keyring, now):
            assert result.status in ("sent", "failed", "skipped")
        with read(engine) as conn:
            for number, at in conn.execute(
                sa.select(messages.c.to_number, messages.c.handed_at).where(
                    messages.c.campaign_id == campaign.id, messages.c.status == "sent"
                )
            ):
                handed.setdefault(number, at if at.tzinfo else at.replace(tzinfo=UTC))
        now += TICK

    for number, area in recipients.items():
        at = handed[number]
        assert open_by_table(at, number_location(number), Category.MARKETING)
        assert EXPECTED[area] <= at < EXPECTED[area] + TICK, (area, at)
    miami = contact_location(number_location(moved), time_zone=None, postal_code="33101")
    assert miami.states == ("FL", "OR") and miami.zones == ("America/New_York",)
    assert open_by_table(handed[moved], miami, Category.MARKETING)
    assert handed[moved] == datetime(2026, 12, 5, 13, 0, tzinfo=UTC)  # 8:00 in Miami
    assert stopped not in handed
    with read(engine) as conn:
        delivered = conn.execute(
            sa.select(sa.func.count()).where(console_outbox.c.workspace_id == ws.id)
        ).scalar_one()
    assert delivered == len(everyone) - 1


def _work(engine, keyring, now):  # type: ignore[no-untyped-def]
    results = []
    while ids := hand_off.claim(engine, "e2e", now=now):
        results += hand_off.hand_off(engine, ids, owner="e2e", keyring=keyring, now=lambda: now)
    return results
