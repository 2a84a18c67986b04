"""Reading provider opt-out lists (Telnyx, AWS) into the ledger, pushing to AWS's list, and
reconciling both ways, against local servers speaking the documented APIs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from stopline.services import channels, optouts, provider_pull, provider_sync, workspaces
from stopline.services.workspaces import Principal
from stopline.store.db import read, write
from stopline.store.tables import messages, opt_outs
from tests.conftest import unique_number
from tests.providers.sync_servers import AwsSmsApi, TelnyxOptOutsApi
from tests.services.sync_kit import clock_fixture, owner, serving  # noqa: F401 (a fixture)


@pytest.fixture
def telnyx():
    yield from serving(TelnyxOptOutsApi())


@pytest.fixture
def aws(clock):
    yield from serving(AwsSmsApi(clock))


@pytest.fixture
def http():
    with httpx.Client(timeout=httpx.Timeout(2.0)) as client:
        yield client


def telnyx_channel(engine, ws, keyring, api, profile: str):
    with write(engine) as conn:
        return channels.create_channel(
            conn,
            owner(ws),
            keyring,
            address=unique_number(),
            provider="telnyx",
            credentials={
                "api_key": api.api_key,
                "public_key": "MCowBQYDK2VwAyEA" + "A" * 43 + "=",
                "messaging_profile_id": profile,
            },
            base_url=api.url,
            consent_sync=True,
        )


def aws_channel(engine, ws, keyring, api):
    with write(engine) as conn:
        return channels.create_channel(
            conn,
            owner(ws),
            keyring,
            address=unique_number(),
            provider="aws",
            credentials={
                "access_key_id": api.access_key_id,
                "secret_access_key": "secret",
                "region": api.region,
                "sns_topic_arn": "arn:aws:sns:us-east-1:123456789012:sms-in",
            },
            base_url=api.url,
            consent_sync=True,
        )


def opted_out(engine, ws) -> dict[str, str]:
    with read(engine) as conn:
        rows = conn.execute(opt_outs.select().where(opt_outs.c.workspace_id == ws.id))
        return {r.number: r.method for r in rows}


def test_telnyx_pull_records_carrier_opt_outs_without_confirmations(
    engine, ws, keyring, telnyx, http
) -> None:
    channel = telnyx_channel(engine, ws, keyring, telnyx, "profile-a")
    first, second, elsewhere = unique_number(), unique_number(), unique_number()
    start = datetime.now(UTC) - timedelta(hours=2)
    telnyx.add(first, start, profile="profile-a")
    telnyx.add(second, start + timedelta(minutes=5), profile="profile-a", keyword="UNSUBSCRIBE")
    telnyx.add(elsewhere, start, profile="profile-b")  # another profile: not ours
    result = provider_pull.pull_channel(engine, keyring, http, channel.id)
    assert (result.read, result.added, result.error) == (2, 2, None)
    assert opted_out(engine, ws) == {first: "carrier", second: "carrier"}
    query = telnyx.queries[0]
    assert query["redaction_enabled"] == ["false"]
    assert query["filter[messaging_profile_id]"] == ["profile-a"]
    assert "created_at[gte]" not in query  # the first read takes everything
    with read(engine) as conn:
        sent = conn.execute(messages.select().where(messages.c.workspace_id == ws.id)).all()
    assert sent == []  # no confirmation text: Telnyx already answered
    # The next read asks only for what is new; entries already held add nothing.
    later = unique_number()
    telnyx.add(later, start + timedelta(minutes=10), profile="profile-a")
    again = provider_pull.pull_channel(engine, keyring, http, channel.id)
    assert telnyx.queries[-1]["created_at[gte]"][0].startswith(
        (start + timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M")
    )
    assert (again.read, again.added) == (2, 1)  # `second` again (>= its time) and `later`
    with read(engine) as conn:
        history = optouts.number_view(conn, ws.id, second)
    assert history["number"] == second


def test_telnyx_pull_pages_through_the_list(engine, ws, keyring, telnyx, http) -> None:
    start = datetime.now(UTC) - timedelta(days=1)
    numbers = sorted({unique_number() for _ in range(7)})
    for i, n in enumerate(numbers):
        telnyx.add(n, start + timedelta(seconds=i), profile="profile-p")
    from stopline.providers import telnyx_optouts

    found = telnyx_optouts.list_opt_outs(
        http,
        {"api_key": telnyx.api_key, "messaging_profile_id": "profile-p"},
        since=None,
        base_url=telnyx.url,
        page_size=3,
    )
    assert sorted(f.to for f in found) == numbers
    assert [q["page[number]"][0] for q in telnyx.queries] == ["1", "2", "3"]


def test_aws_push_puts_and_removes_and_reports_the_30_day_rule(
    engine, ws, keyring, aws, clock
) -> None:
    aws_channel(engine, ws, keyring, aws)
    with write(engine) as conn:
        workspaces.update_settings(conn, owner(ws), {"resubscribe_policy": "with_consent_note"})
    number = unique_number()
    pusher = provider_sync.Pusher(
        engine,
        keyring,
        httpx.Client(timeout=2.0),
        clock=provider_sync.Clock(now=clock.now, sleep=clock.sleep),
        workspace_id=ws.id,
    )
    with write(engine) as conn:
        optouts.add_opt_out(conn, owner(ws), number)
    assert pusher.run_pass().delivered == 1
    assert number in aws.lists["Default"]
    with write(engine) as conn:
        optouts.remove_opt_out(conn, owner(ws), number, consent_note="asked again")
    assert pusher.run_pass().delivered == 1
    assert number not in aws.lists["Default"]
    # Opted out and back in again within 30 days: AWS refuses the second removal.
    with write(engine) as conn:
        optouts.add_opt_out(conn, owner(ws), number)
        optouts.remove_opt_out(conn, owner(ws), number, consent_note="yes, again")
    result = pusher.run_pass()
    assert result.delivered == 1 and result.failed == 1
    with read(engine) as conn:
        [failed] = provider_sync.status(conn, ws.id, states=["failed"]).items
    assert failed.error_code == "aws_30_day_rule"
    assert "only once every 30 days" in failed.summary()
    assert [op for op, _ in aws.calls] == [
        "PutOptedOutNumber",
        "DeleteOptedOutNumber",
        "PutOptedOutNumber",
        "DeleteOptedOutNumber",
    ]


def test_aws_pull_takes_only_recipients_own_opt_outs(engine, ws, keyring, aws, http) -> None:
    channel = aws_channel(engine, ws, keyring, aws)
    texted_stop, put_by_api = unique_number(), unique_number()
    aws.end_user_opt_out(texted_stop)
    aws.lists["Default"][put_by_api] = {
        "OptedOutNumber": put_by_api,
        "OptedOutTimestamp": 1764000000.0,
        "EndUserOptedOut": False,
    }
    result = provider_pull.pull_channel(engine, keyring, http, channel.id)
    assert (result.read, result.added) == (1, 1)
    assert opted_out(engine, ws) == {texted_stop: "carrier"}


def test_reconcile_reports_and_repairs_a_seeded_difference(engine, ws, keyring, aws, http) -> None:
    channel = aws_channel(engine, ws, keyring, aws)
    only_aws, only_here, both = unique_number(), unique_number(), unique_number()
    aws.end_user_opt_out(only_aws)
    aws.end_user_opt_out(both)
    with write(engine) as conn:
        # Written straight to the ledger with sync off for a moment: the seeded difference.
        channels.update_channel(conn, owner(ws), keyring, channel.id, consent_sync=False)
        optouts.add_opt_out(conn, owner(ws), only_here)
        optouts.add_opt_out(conn, owner(ws), both)
        channels.update_channel(conn, owner(ws), keyring, channel.id, consent_sync=True)
    report = provider_pull.reconcile(engine, keyring, http, ws.id, channel.id)
    assert (report.provider_only, report.stopline_only) == ([only_aws], [only_here])
    assert not report.applied and only_aws not in opted_out(engine, ws)
    fixed = provider_pull.reconcile(engine, keyring, http, ws.id, channel.id, apply=True)
    assert (fixed.recorded, fixed.pushed, fixed.errors) == (1, 1, [])
    assert opted_out(engine, ws)[only_aws] == "carrier"
    assert only_here in aws.lists["Default"]
    after = provider_pull.reconcile(engine, keyring, http, ws.id, channel.id)
    assert (after.provider_only, after.stopline_only) == ([], [])


def test_reconcile_is_scoped_to_the_workspace(engine, ws, keyring, aws, http, created) -> None:
    channel = aws_channel(engine, ws, keyring, aws)
    other = Principal(workspace_id=ws.id + 10_000, role="owner", actor="x")
    from stopline.domain.errors import NotFound

    with pytest.raises(NotFound):
        provider_pull.reconcile(engine, keyring, http, other.workspace_id, channel.id)
