"""The opt-out confirmation that asks which list to keep (issue 16 item 4, FCC 24-24): a STOP
opts out of everything at once; the confirmation offers the number's lists; only the
recipient's own answer, in time, keeps one list, and only messages sent through that list."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from stopline.domain.consent import Action, Method
from stopline.domain.errors import StoplineError
from stopline.domain.gate import Outbound
from stopline.services import ledger as ledger_service
from stopline.services import lists as lists_service
from stopline.services.checks import check_outbound
from stopline.services.consent import change_consent
from stopline.services.workspaces import get_workspace
from stopline.store import ledger
from stopline.store.db import read, write
from tests.inbound_kit import events_of, number
from tests.outbound import owner
from tests.services.test_inbound import add_channel, confirmations, receive, set_policy

T0 = datetime(2026, 12, 3, 15, 0, tzinfo=UTC)


@pytest.fixture
def channel(engine, ws, keyring):
    return add_channel(engine, ws, keyring, "generic")


@pytest.fixture
def two_lists(engine, ws):
    with write(engine) as conn:
        alerts = lists_service.create_list(
            conn, owner(ws), name="Appointment alerts", keywords={"opt_in": ["ALERTS"]}
        )
        deals = lists_service.create_list(
            conn, owner(ws), name="Acme deals", keywords={"opt_in": ["DEALS"]}
        )
    set_policy(engine, ws, keep_offer_lists=[alerts.id, deals.id], keep_offer_hours=24)
    return alerts.id, deals.id


def member_of(engine, ws, list_ids, sender: str) -> None:
    with write(engine) as conn:
        for list_id in list_ids:
            lists_service.add_members(conn, owner(ws), list_id, [sender])


def stop_and_answer(engine, ws, channel, lists, answer: str | None = "ALERTS") -> str:
    """A new member of `lists` texts STOP at T0 and, a minute later, `answer` (None: nothing)."""
    sender = number()
    member_of(engine, ws, lists, sender)
    receive(engine, channel, sender, "STOP", now=T0)
    if answer is not None:
        receive(engine, channel, sender, answer, now=T0 + timedelta(minutes=1))
    return sender


def allowed(engine, ws, sender: str, channel_id: int, list_id: int | None) -> bool:
    with read(engine) as conn:
        message = Outbound(to=sender, channel_id=channel_id, list_id=list_id)
        return check_outbound(conn, ws.id, message).allowed


def verify(engine, ws):
    with read(engine) as conn:
        return ledger_service.verify(conn, ws.id)


def test_stop_asks_which_list_to_keep_and_opts_out_of_everything_at_once(
    engine, ws, channel, two_lists
):
    alerts, deals = two_lists
    sender = number()
    member_of(engine, ws, [alerts, deals], sender)
    assert receive(engine, channel, sender, "STOP", now=T0).action == "opt_out"
    [confirmation] = confirmations(engine, ws, sender)
    assert confirmation.body.endswith(
        "Reply ALERTS to keep getting Appointment alerts. Reply DEALS to keep getting Acme deals."
    )
    assert "no more messages" in confirmation.body
    # Until an answer, nothing goes: not through either list, not outside them.
    for list_id in (alerts, deals, None):
        assert not allowed(engine, ws, sender, channel.id, list_id)
    [event] = events_of(engine, ws.id, sender)[-1:]
    assert event.detail["keep_offer"]["lists"] == [
        [alerts, "ALERTS", "Appointment alerts"],
        [deals, "DEALS", "Acme deals"],
    ]


def test_the_answer_keeps_that_list_only_with_the_exchange_as_evidence(
    engine, ws, channel, two_lists
):
    alerts, deals = two_lists
    sender = number()
    member_of(engine, ws, [alerts, deals], sender)
    receive(engine, channel, sender, "STOP", now=T0)
    outcome = receive(engine, channel, sender, "alerts", now=T0 + timedelta(minutes=3))
    assert outcome.action == "list_kept"
    assert allowed(engine, ws, sender, channel.id, alerts)
    assert not allowed(engine, ws, sender, channel.id, deals)
    assert not allowed(engine, ws, sender, channel.id, None)  # no message outside the list
    kept = events_of(engine, ws.id, sender)[-1]
    assert (kept.action, kept.method, kept.list_id) == ("list_opt_in", "reply", alerts)
    evidence = kept.detail["evidence"]
    assert evidence["answer_text"] == "alerts" and evidence["opt_out_text"] == "STOP"
    assert "Reply ALERTS to keep getting Appointment alerts" in evidence["offer"]
    last = confirmations(engine, ws, sender)[-1]
    assert "keep getting Appointment alerts" in last.body and "STOP" in last.body
    with read(engine) as conn:
        [record] = ledger.load_state(conn, ws.id, sender).opt_outs.values()
    assert [list_id for list_id, _seq in record.keeps] == [alerts]
    assert verify(engine, ws).ok


def test_no_answer_leaves_the_opt_out_covering_everything(engine, ws, channel, two_lists):
    alerts, deals = two_lists
    sender = number()
    member_of(engine, ws, [alerts, deals], sender)
    receive(engine, channel, sender, "STOP", now=T0)
    late = receive(engine, channel, sender, "ALERTS", now=T0 + timedelta(hours=24, seconds=1))
    assert late.action != "list_kept"
    for list_id in (alerts, deals, None):
        assert not allowed(engine, ws, sender, channel.id, list_id)
    assert verify(engine, ws).ok


def test_a_later_stop_ends_the_kept_list_and_asks_again(engine, ws, channel, two_lists):
    alerts, _deals = two_lists
    sender = stop_and_answer(engine, ws, channel, [alerts])
    assert allowed(engine, ws, sender, channel.id, alerts)
    receive(engine, channel, sender, "STOP", now=T0 + timedelta(days=3))
    assert not allowed(engine, ws, sender, channel.id, alerts)
    # The first offer is gone with it: only the new one may be taken up.
    assert "Reply ALERTS" in confirmations(engine, ws, sender)[-1].body
    again = receive(engine, channel, sender, "ALERTS", now=T0 + timedelta(days=3, minutes=2))
    assert again.action == "list_kept"
    assert allowed(engine, ws, sender, channel.id, alerts)
    assert verify(engine, ws).ok


def test_only_the_numbers_own_lists_are_offered(engine, ws, channel, two_lists):
    alerts, deals = two_lists
    sender = number()
    member_of(engine, ws, [deals], sender)
    receive(engine, channel, sender, "STOP", now=T0)
    body = confirmations(engine, ws, sender)[0].body
    assert "Reply DEALS" in body and "ALERTS" not in body
    outcome = receive(engine, channel, sender, "ALERTS", now=T0 + timedelta(minutes=1))
    assert outcome.action != "list_kept"
    assert not allowed(engine, ws, sender, channel.id, alerts)


def test_a_number_in_no_offered_list_gets_the_plain_confirmation(engine, ws, channel, two_lists):
    sender = number()
    receive(engine, channel, sender, "STOP", now=T0)
    [confirmation] = confirmations(engine, ws, sender)
    with read(engine) as conn:
        plain = get_workspace(conn, ws.id).policy.confirmation_text("opt_out", "en")
    assert confirmation.body == plain
    assert events_of(engine, ws.id, sender)[0].detail is None


def test_without_the_setting_the_confirmation_asks_nothing(engine, ws, channel):
    with write(engine) as conn:
        alerts = lists_service.create_list(
            conn, owner(ws), name="Alerts", keywords={"opt_in": ["ALERTS"]}
        )
    sender = number()
    member_of(engine, ws, [alerts.id], sender)
    receive(engine, channel, sender, "STOP", now=T0)
    assert "ALERTS" not in confirmations(engine, ws, sender)[0].body
    outcome = receive(engine, channel, sender, "ALERTS", now=T0 + timedelta(minutes=1))
    assert outcome.action != "list_kept"
    assert not allowed(engine, ws, sender, channel.id, alerts.id)


def test_no_confirmations_means_no_offer_to_take_up(engine, ws, channel, two_lists):
    alerts, _ = two_lists
    set_policy(engine, ws, send_confirmations=False)
    sender = number()
    member_of(engine, ws, [alerts], sender)
    receive(engine, channel, sender, "STOP", now=T0)
    outcome = receive(engine, channel, sender, "ALERTS", now=T0 + timedelta(minutes=1))
    assert outcome.action != "list_kept"
    assert not allowed(engine, ws, sender, channel.id, alerts)


def test_only_the_recipient_can_keep_a_list(engine, ws, channel, two_lists):
    alerts, _ = two_lists
    sender = number()
    member_of(engine, ws, [alerts], sender)
    receive(engine, channel, sender, "STOP", now=T0)
    [stop] = [e for e in events_of(engine, ws.id, sender) if e.action == "opt_out"]
    from stopline.domain.consent import ConsentChange, Scope

    forged = ConsentChange(
        number=sender,
        action=Action.LIST_OPT_IN,
        method=Method.API,
        list_id=alerts,
        consent_note="they said so on the phone",
        detail={"keeps": [Scope.WORKSPACE.value, ""], "offer_seq": stop.seq},
    )
    with write(engine) as conn:
        policy = get_workspace(conn, ws.id).policy
        with pytest.raises(StoplineError) as refused:
            change_consent(conn, ws.id, forged, policy)
    assert refused.value.code == "keep_reply_only"
    assert not allowed(engine, ws, sender, channel.id, alerts)


def test_a_list_left_after_keeping_it_is_not_kept(engine, ws, channel, two_lists):
    alerts, _ = two_lists
    sender = stop_and_answer(engine, ws, channel, [alerts])
    with write(engine) as conn:
        lists_service.opt_out(conn, owner(ws), alerts, sender, reason="asked on the phone")
    assert not allowed(engine, ws, sender, channel.id, alerts)
    assert verify(engine, ws).ok


def test_settings_refuse_a_list_with_no_word_to_answer_with(engine, ws):
    with write(engine) as conn:
        plain = lists_service.create_list(conn, owner(ws), name="Newsletter")
    for bad, code in (([plain.id], "keep_word_missing"), ([987654], "list_not_found")):
        with pytest.raises(StoplineError) as refused:
            set_policy(engine, ws, keep_offer_lists=bad)
        assert refused.value.code == code
    with read(engine) as conn:
        assert get_workspace(conn, ws.id).policy.keep_offer_lists == ()


# --- campaigns: a kept list's campaign reaches the number, no other does -----------------------


def test_a_campaign_to_the_kept_list_reaches_the_number_and_no_other_campaign_does(
    engine, ws, channel, two_lists, keyring
):
    from stopline.services import campaigns, hand_off, jobs
    from tests.outbound import add_channel as console_channel
    from tests.outbound import message_rows
    from tests.outbound import number as toronto  # no send-time rule holds these at night

    console = console_channel(engine, ws, keyring)

    alerts, deals = two_lists
    kept, stopped, fine = toronto(), toronto(), toronto()
    member_of(engine, ws, [alerts, deals], kept)
    member_of(engine, ws, [alerts], stopped)
    member_of(engine, ws, [alerts], fine)
    receive(engine, channel, kept, "STOP")
    receive(engine, channel, kept, "ALERTS")
    receive(engine, channel, stopped, "STOP")
    with read(engine) as conn:
        preview = campaigns.preview_audience(conn, ws.id, list_ids=[alerts], channel_id=console.id)
    assert (preview["allowed"], preview["opted_out"]) == (2, 1)

    def run(list_ids: list[int]) -> dict[str, tuple[str, str | None, int | None]]:
        with write(engine) as conn:
            made = campaigns.create_campaign(
                conn,
                owner(ws),
                name="Reminder",
                body="See you at 3",
                list_ids=list_ids,
                channel_id=console.id,
            )
        while jobs.run_next(engine, "test-jobs", ["campaign"]) is not None:
            pass
        return {
            r.to_number: (r.status, r.refusal_code, r.list_id)
            for r in message_rows(engine, ws.id)
            if r.campaign_id == made.id
        }

    assert run([alerts]) == {
        kept: ("queued", None, alerts),
        stopped: ("failed", "opted_out", alerts),
        fine: ("queued", None, alerts),
    }
    assert run([deals])[kept][:2] == ("failed", "opted_out")
    assert run([deals, alerts])[kept] == ("queued", None, alerts)
    while ids := hand_off.claim(engine, "w-keep"):
        hand_off.hand_off(engine, ids, owner="w-keep", keyring=keyring)
    sent = [r for r in message_rows(engine, ws.id) if r.to_number == kept and r.campaign_id]
    assert sorted(r.status for r in sent) == ["failed", "sent", "sent"]


def test_a_kept_list_written_behind_the_ledger_is_reported(engine, ws, channel, two_lists):
    import sqlalchemy as sa

    from stopline.store.tables import opt_outs

    alerts, _ = two_lists
    sender = number()
    member_of(engine, ws, [alerts], sender)
    receive(engine, channel, sender, "STOP", now=T0)
    assert verify(engine, ws).ok
    with write(engine) as conn:
        conn.execute(
            sa.update(opt_outs)
            .where(opt_outs.c.workspace_id == ws.id, opt_outs.c.number == sender)
            .values(kept_lists=f"[[{alerts},1]]")
        )
    report = verify(engine, ws)
    assert not report.ok
    assert [p.kind for p in report.problems] == ["state_mismatch"]
    assert sender in report.problems[0].detail


def test_the_contact_card_and_opt_outs_page_show_the_kept_list(engine, ws, channel, two_lists):
    from stopline.services import optouts, preferences

    alerts, _ = two_lists
    sender = stop_and_answer(engine, ws, channel, [alerts])
    with read(engine) as conn:
        policy = get_workspace(conn, ws.id).policy
        card = preferences.for_number(conn, ws.id, sender, policy)
        rows, _total = optouts.list_opt_outs(conn, ws.id, search=sender)
    assert card.status == "opted_out"  # still opted out of everything else
    assert [o.kept_lists for o in card.opt_outs] == [("Appointment alerts",)]
    assert [bool(r.kept_lists) for r in rows if r.number == sender] == [True]


def test_the_evidence_packet_holds_the_offer_and_the_answer(
    engine, ws, channel, two_lists, keyring
):
    import io

    import pypdf

    from stopline.files.evidence_pdf import render
    from stopline.services import evidence

    alerts, _ = two_lists
    sender = stop_and_answer(engine, ws, channel, [alerts])
    with read(engine) as conn:
        packet = evidence.packet(conn, ws.id, sender, keyring)
    text = " ".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(render(packet))).pages)
    flat = " ".join(text.split())
    assert "Reply ALERTS to keep getting Appointment alerts." in flat  # the confirmation sent
    assert "answer to the opt-out confirmation's offer" in flat  # the keep's evidence
    assert "You will keep getting Appointment alerts" in flat  # and its confirmation


def test_the_offer_is_made_in_the_language_of_the_stop(engine, ws, channel, two_lists):
    alerts, _ = two_lists
    sender = number()
    member_of(engine, ws, [alerts], sender)
    receive(engine, channel, sender, "ARRÊT", now=T0)
    body = confirmations(engine, ws, sender)[0].body
    assert body.endswith("Répondez ALERTS pour continuer à recevoir Appointment alerts.")
    assert receive(engine, channel, sender, "Alerts", now=T0 + timedelta(minutes=1)).action == (
        "list_kept"
    )
    assert (
        "Vous continuerez à recevoir Appointment alerts"
        in confirmations(engine, ws, sender)[-1].body
    )
