"""What the campaign page reports: who will be skipped and why, progress, each recipient's
status, and the share that opted out after the campaign reached them."""

from __future__ import annotations

import pytest

from stopline.services import campaign_report, campaigns
from stopline.store.db import read, write
from tests.outbound import add_channel, block, number, opt_out, owner, stop_reply
from tests.services.test_campaigns import list_opt_out, make_list, run_campaign_jobs
from tests.services.test_compose import hand_off_all


@pytest.fixture
def channel(engine, ws, keyring):
    return add_channel(engine, ws, keyring)


def test_the_preview_counts_every_reason_to_skip(engine, ws, channel):
    fine = [number() for _ in range(3)]
    gone, spam, left = number(), number(), number()
    list_id = make_list(engine, ws, [*fine, gone, spam, left])
    opt_out(engine, ws, gone)
    block(engine, ws, spam)
    list_opt_out(engine, ws, left, list_id)
    with read(engine) as conn:
        counts = campaign_report.audience(conn, ws.id, list_ids=[list_id], channel_id=channel.id)
    assert counts == {
        "allowed": 3,
        "opted_out": 1,
        "blocked": 1,
        "list_opted_out": 1,
        "not_subscribed": 0,
        "invalid_number": 0,
    }


def test_progress_recipients_and_opt_out_rate_after_sending(engine, ws, channel, keyring):
    fine = [number() for _ in range(4)]
    gone = number()
    list_id = make_list(engine, ws, [*fine, gone])
    opt_out(engine, ws, gone)
    with write(engine) as conn:
        campaign = campaigns.create_campaign(
            conn, owner(ws), name="Spring", body="Sale", list_ids=[list_id], channel_id=channel.id
        )
    run_campaign_jobs(engine)
    with read(engine) as conn:
        waiting = campaign_report.progress(campaigns.get_campaign(conn, ws.id, campaign.id))
    assert (waiting.recipients, waiting.waiting, waiting.skipped) == (5, 4, 1)
    hand_off_all(engine, keyring)
    stop_reply(engine, ws, fine[0])
    with read(engine) as conn:
        done = campaigns.get_campaign(conn, ws.id, campaign.id)
        progress = campaign_report.progress(done)
        skipped, n_skipped = campaign_report.recipients(
            conn, ws.id, campaign.id, refusal="opted_out"
        )
        sent, n_sent = campaign_report.recipients(conn, ws.id, campaign.id, status="sent")
        rate = campaign_report.opt_out_rate(conn, ws.id, campaign.id)
    assert done.status == "done"
    assert (progress.handed, progress.waiting, progress.skipped, progress.failed) == (4, 0, 1, 0)
    assert progress.done_fraction == 1.0
    assert n_skipped == 1 and skipped[0].number == gone and skipped[0].refusal_code == "opted_out"
    assert n_sent == 4 and {r.number for r in sent} == set(fine)
    assert (rate.reached, rate.opted_out) == (4, 1) and rate.warning  # 25% > the 2% default


def test_a_canceled_campaign_reports_what_was_not_sent(engine, ws, channel):
    list_id = make_list(engine, ws, [number() for _ in range(3)])
    with write(engine) as conn:
        campaign = campaigns.create_campaign(
            conn, owner(ws), name="Oops", body="Wrong", list_ids=[list_id], channel_id=channel.id
        )
    run_campaign_jobs(engine)
    with write(engine) as conn:
        canceled = campaigns.cancel_campaign(conn, owner(ws), campaign.id)
    progress = campaign_report.progress(canceled)
    assert canceled.status == "canceled" and progress.canceled == 3 and progress.handed == 0


def test_recipients_of_another_workspaces_campaign_are_not_found(engine, ws, channel, created):
    from stopline.domain.errors import NotFound
    from stopline.services import workspaces

    list_id = make_list(engine, ws, [number()])
    with write(engine) as conn:
        campaign = campaigns.create_campaign(
            conn, owner(ws), name="Mine", body="x", list_ids=[list_id], channel_id=channel.id
        )
        other = workspaces.create_workspace(
            conn,
            name="Other",
            owner_email=f"x{number()[2:]}@example.com",
            owner_password="correct horse battery",
        ).workspace
    with read(engine) as conn, pytest.raises(NotFound):
        campaign_report.recipients(conn, other.id, campaign.id)
