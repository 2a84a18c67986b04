"""Campaigns to lists: set-based suppression, one message per recipient, STOPs mid-campaign."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from stopline.domain.consent import Action, ConsentChange, Method
from stopline.security import Keyring
from stopline.services import campaigns, hand_off, jobs, workspaces
from stopline.services.consent import change_consent, now_utc
from stopline.store import audience
from stopline.store.db import read, write
from tests.outbound import (
    add_channel,
    block,
    deliveries,
    message_rows,
    number,
    opt_out,
    owner,
    stop_reply,
)


@pytest.fixture
def channel(engine: sa.Engine, ws: workspaces.Workspace, keyring: Keyring) -> workspaces.Channel:
    return add_channel(engine, ws, keyring)


def make_list(engine: sa.Engine, ws: workspaces.Workspace, members: list[str]) -> int:
    with write(engine) as conn:
        created = campaigns.create_list(conn, owner(ws), f"List {number()}")
        campaigns.add_members(conn, owner(ws), created.id, members)
    return created.id


def list_opt_out(engine: sa.Engine, ws: workspaces.Workspace, to: str, list_id: int) -> None:
    with write(engine) as conn:
        policy = workspaces.get_workspace(conn, ws.id).policy
        change = ConsentChange(
            number=to, action=Action.LIST_OPT_OUT, method=Method.MANUAL, list_id=list_id
        )
        change_consent(conn, ws.id, change, policy)


def run_campaign_jobs(engine: sa.Engine) -> None:
    while jobs.run_next(engine, "test-jobs", ["campaign"]) is not None:
        pass


def create(
    engine: sa.Engine, ws: workspaces.Workspace, list_ids: list[int], **kw: Any
) -> campaigns.Campaign:
    with write(engine) as conn:
        return campaigns.create_campaign(
            conn, owner(ws), name="Spring sale", body="20% off", list_ids=list_ids, **kw
        )


def by_number(engine: sa.Engine, ws: workspaces.Workspace) -> dict[str, Any]:
    return {r.to_number: r for r in message_rows(engine, ws.id)}


def send_everything(engine: sa.Engine, keyring: Keyring) -> None:
    while ids := hand_off.claim(engine, "w1"):
        hand_off.hand_off(engine, ids, owner="w1", keyring=keyring)


def test_a_campaign_queues_one_message_per_member_and_records_who_was_suppressed(  # type: ignore[no-untyped-def]
    engine, ws, channel
) -> None:
    ok, opted, blocked, left = number(), number(), number(), number()
    list_id = make_list(engine, ws, [ok, opted, blocked, left])
    opt_out(engine, ws, opted)
    block(engine, ws, blocked)
    list_opt_out(engine, ws, left, list_id)
    campaign = create(engine, ws, [list_id])
    run_campaign_jobs(engine)
    rows = by_number(engine, ws)
    assert {n: (r.status, r.refusal_code) for n, r in rows.items()} == {
        ok: ("queued", None),
        opted: ("failed", "opted_out"),
        blocked: ("failed", "blocked"),
        left: ("failed", "list_opted_out"),
    }
    assert all(r.campaign_id == campaign.id and r.source == "campaign" for r in rows.values())
    assert rows[ok].list_id == list_id and rows[ok].sid.startswith("SM")


def test_a_member_of_two_lists_gets_one_message_through_the_list_they_did_not_leave(  # type: ignore[no-untyped-def]
    engine, ws, channel
) -> None:
    both = number()
    first = make_list(engine, ws, [both])
    second = make_list(engine, ws, [both])
    list_opt_out(engine, ws, both, first)
    create(engine, ws, [first, second])
    run_campaign_jobs(engine)
    rows = message_rows(engine, ws.id)
    assert [(r.to_number, r.status, r.list_id) for r in rows] == [(both, "queued", second)]


def test_expansion_in_small_chunks_and_run_twice_stores_each_recipient_once(  # type: ignore[no-untyped-def]
    engine, ws, channel
) -> None:
    members = [number() for _ in range(23)]
    list_id = make_list(engine, ws, members)
    campaign = create(engine, ws, [list_id])
    campaigns.expand(engine, ws.id, campaign.id, chunk=5)
    campaigns.expand(engine, ws.id, campaign.id, chunk=7)  # as after a crash: adds nothing
    rows = message_rows(engine, ws.id)
    assert sorted(r.to_number for r in rows) == sorted(set(members))
    with read(engine) as conn:
        view = campaigns.get_campaign(conn, ws.id, campaign.id)
    assert view.counts["by_status"] == {"queued": len(set(members))}


def test_a_stop_during_a_campaign_stops_every_later_message_to_that_number(  # type: ignore[no-untyped-def]
    engine, ws, channel, keyring
) -> None:
    members = sorted({number() for _ in range(30)})
    list_id = make_list(engine, ws, members)
    create(engine, ws, [list_id])
    run_campaign_jobs(engine)
    # Hand off the first few, then the STOP arrives from a number not yet sent to.
    first_ids = [r.id for r in message_rows(engine, ws.id)][:10]
    with write(engine) as conn:  # claim exactly those ten
        from stopline.store.tables import messages

        conn.execute(
            sa.update(messages)
            .where(messages.c.id.not_in(first_ids), messages.c.workspace_id == ws.id)
            .values(available_at=now_utc() + timedelta(days=1))
        )
    send_everything(engine, keyring)
    rows = by_number(engine, ws)
    sent_already = [n for n, r in rows.items() if r.status == "sent"]
    waiting = [n for n, r in rows.items() if r.status == "queued"]
    assert len(sent_already) == 10 and len(waiting) == 20
    stopper = waiting[0]
    result = stop_reply(engine, ws, stopper)
    assert result.canceled_messages == 1
    with write(engine) as conn:
        conn.execute(
            sa.update(messages)
            .where(messages.c.workspace_id == ws.id)
            .values(available_at=now_utc())
        )
    send_everything(engine, keyring)
    rows = by_number(engine, ws)
    assert (rows[stopper].status, rows[stopper].refusal_code) == ("canceled", "opted_out")
    assert deliveries(engine, ws.id, stopper) == []
    for n in members:
        if n != stopper:
            assert len(deliveries(engine, ws.id, n)) == 1, n


def test_a_scheduled_campaign_waits_until_its_time(engine, ws, channel, keyring) -> None:  # type: ignore[no-untyped-def]
    member = number()
    list_id = make_list(engine, ws, [member])
    at = now_utc() + timedelta(hours=2)
    create(engine, ws, [list_id], scheduled_at=at)
    run_campaign_jobs(engine)
    [row] = message_rows(engine, ws.id)
    assert row.status == "scheduled"
    assert row.id not in hand_off.claim(engine, "w1")
    assert row.id in hand_off.claim(engine, "w1", now=at + timedelta(seconds=1))


def test_preview_counts_what_expansion_would_suppress(engine, ws, channel) -> None:  # type: ignore[no-untyped-def]
    ok1, ok2, opted, blocked = number(), number(), number(), number()
    list_id = make_list(engine, ws, [ok1, ok2, opted, blocked])
    opt_out(engine, ws, opted)
    block(engine, ws, blocked)
    with read(engine) as conn:
        preview = campaigns.preview_audience(conn, ws.id, list_ids=[list_id])
    timing = preview.pop("send_time")
    assert preview == {"allowed": 2, "opted_out": 1, "blocked": 1}
    assert timing["now"] + timing["later"] == 2 and timing["capped"] == 0


def test_a_channel_scoped_opt_out_suppresses_only_on_that_channel(  # type: ignore[no-untyped-def]
    engine, ws, channel, keyring
) -> None:
    other = add_channel(engine, ws, keyring)
    member = number()
    list_id = make_list(engine, ws, [member])
    from stopline.domain.consent import Scope
    from stopline.services import optouts

    with write(engine) as conn:
        optouts.add_opt_out(conn, owner(ws), member, scope=Scope.CHANNEL, scope_key=str(channel.id))
    create(engine, ws, [list_id], channel_id=channel.id)
    create(engine, ws, [list_id], channel_id=other.id)
    run_campaign_jobs(engine)
    got = sorted((r.channel_id, r.status, r.refusal_code) for r in message_rows(engine, ws.id))
    assert got == sorted([(channel.id, "failed", "opted_out"), (other.id, "queued", None)])


def test_cancelling_a_campaign_cancels_its_queued_messages(engine, ws, channel) -> None:  # type: ignore[no-untyped-def]
    list_id = make_list(engine, ws, [number(), number()])
    campaign = create(engine, ws, [list_id])
    run_campaign_jobs(engine)
    with write(engine) as conn:
        view = campaigns.cancel_campaign(conn, owner(ws), campaign.id)
    assert view.status == "canceled"
    assert {r.status for r in message_rows(engine, ws.id)} == {"canceled"}


def test_a_campaign_needs_lists_of_its_own_workspace(engine, ws, channel) -> None:  # type: ignore[no-untyped-def]
    from stopline.domain.errors import InvalidInput

    with pytest.raises(InvalidInput) as exc:
        create(engine, ws, [987_654])
    assert exc.value.code == "list_not_found"


def test_the_campaign_is_done_when_every_message_is_final(engine, ws, channel, keyring) -> None:  # type: ignore[no-untyped-def]
    list_id = make_list(engine, ws, [number(), number(), number()])
    campaign = create(engine, ws, [list_id])
    run_campaign_jobs(engine)
    send_everything(engine, keyring)
    with read(engine) as conn:
        view = campaigns.get_campaign(conn, ws.id, campaign.id)
    assert view.status == "done"
    assert view.counts["by_status"] == {"sent": 3}


# --- the suppression SQL agrees with the gate -------------------------------------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

CONSENT = st.sampled_from(
    ["none", "workspace", "channel", "other_channel", "sms_type", "mms_type", "block"]
)


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    world=st.lists(
        st.tuples(
            CONSENT,
            st.lists(st.booleans(), min_size=3, max_size=3),  # member of list 0, 1, 2
            st.lists(st.booleans(), min_size=3, max_size=3),  # opted out of list 0, 1, 2
        ),
        min_size=1,
        max_size=6,
    ),
    targets=st.sets(st.integers(0, 2), min_size=1),
)
def test_expansion_refuses_exactly_what_the_gate_refuses(  # type: ignore[no-untyped-def]
    engine, ws, keyring, world, targets
) -> None:
    from stopline.domain.consent import Scope
    from stopline.domain.gate import Outbound, Refuse, decide
    from stopline.services import optouts
    from stopline.store import ledger

    sms = add_channel(engine, ws, keyring)
    other = add_channel(engine, ws, keyring)
    with write(engine) as conn:
        list_ids = [campaigns.create_list(conn, owner(ws), f"P {number()}").id for _ in range(3)]
    expected: dict[str, tuple[str, str | None, int]] = {}
    for consent, member_of, left in world:
        n = number()
        with write(engine) as conn:
            for i, is_member in enumerate(member_of):
                if is_member:
                    campaigns.add_members(conn, owner(ws), list_ids[i], [n])
            scope = {
                "workspace": (Scope.WORKSPACE, ""),
                "channel": (Scope.CHANNEL, str(sms.id)),
                "other_channel": (Scope.CHANNEL, str(other.id)),
                "sms_type": (Scope.CHANNEL_TYPE, "sms"),
                "mms_type": (Scope.CHANNEL_TYPE, "mms"),
            }.get(consent)
            if scope is not None:
                optouts.add_opt_out(conn, owner(ws), n, scope=scope[0], scope_key=scope[1])
            elif consent == "block":
                optouts.block(conn, owner(ws), n)
        for i, has_left in enumerate(left):
            if has_left:
                list_opt_out(engine, ws, n, list_ids[i])
        reachable = [list_ids[i] for i in sorted(targets) if member_of[i]]
        if not reachable:
            continue
        with read(engine) as conn:
            state = ledger.load_state(conn, ws.id, n)
        decisions = [
            (lid, decide(Outbound(n, sms.id, "sms", lid), state, subscribed=True))
            for lid in reachable
        ]
        allowed = [lid for lid, d in decisions if d.allowed]
        if allowed:
            expected[n] = ("queued", None, allowed[0])
        else:
            first = decisions[0][1]
            assert isinstance(first, Refuse)
            expected[n] = ("failed", first.code.value, decisions[0][0])
    with write(engine) as conn:
        campaign = campaigns.create_campaign(
            conn,
            owner(ws),
            name="prop",
            body="b",
            list_ids=[list_ids[i] for i in targets],
            channel_id=sms.id,
        )
    campaigns.expand(engine, ws.id, campaign.id, chunk=2)
    with read(engine) as conn:
        from stopline.store.tables import messages

        rows = conn.execute(sa.select(messages).where(messages.c.campaign_id == campaign.id))
        got = {r.to_number: (r.status, r.refusal_code, r.list_id) for r in rows}
    for n, (status, code, list_id) in expected.items():
        assert got[n][:2] == (status, code), (n, got[n], expected[n])
        if status == "queued":
            assert got[n][2] == list_id
    assert set(got) == set(expected)


def test_preview_never_counts_another_workspaces_list(engine, ws, channel) -> None:  # type: ignore[no-untyped-def]
    with write(engine) as conn:
        other = workspaces.create_workspace(
            conn, name="Other", owner_email="other@example.com", owner_password="password123"
        ).workspace
    theirs = make_list(engine, other, [number(), number()])
    with read(engine) as conn:
        preview = campaigns.preview_audience(conn, ws.id, list_ids=[theirs])
        # The suppression query itself, over every number: nothing of theirs either.
        counts = audience.audience_counts(
            conn,
            workspace_id=ws.id,
            list_ids=[theirs],
            channel_id=channel.id,
            channel_type="sms",
            lo=None,
            hi=None,
        )
    timing = preview.pop("send_time")
    assert preview == {"allowed": 0}
    assert timing["now"] == timing["later"] == 0
    assert counts == {}
