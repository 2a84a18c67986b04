"""Pushing consent changes to Twilio's Consent API through the outbox, against a local server that
speaks Consents/Bulk and enforces its rate limit on a simulated clock."""

from __future__ import annotations

from datetime import datetime

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stopline.domain.consent import Method
from stopline.domain.errors import InvalidInput
from stopline.domain.provider_sync import correlation_id
from stopline.services import channels, optouts, provider_sync, workspaces
from stopline.services.consent import bulk_opt_out
from stopline.store.db import read, write
from stopline.store.tables import sync_items
from tests.conftest import unique_number
from tests.providers.sync_servers import TwilioConsentApi
from tests.services.sync_kit import clock_fixture, owner, serving  # noqa: F401 (a fixture)


@pytest.fixture
def twilio(clock):
    yield from serving(TwilioConsentApi(clock))


def twilio_channel(engine, ws, keyring, api, *, sync: bool = True, address: str | None = None):
    with write(engine) as conn:
        return channels.create_channel(
            conn,
            owner(ws),
            keyring,
            address=address or unique_number(),
            provider="twilio",
            credentials={"account_sid": api.account_sid, "auth_token": api.auth_token},
            consent_sync=sync,
            accounts_base_url=api.url,
        )


def pusher(engine, keyring, ws, clock, **kwargs) -> provider_sync.Pusher:
    return provider_sync.Pusher(
        engine,
        keyring,
        httpx.Client(timeout=httpx.Timeout(2.0)),
        clock=provider_sync.Clock(now=clock.now, sleep=clock.sleep),
        workspace_id=ws.id,
        **kwargs,
    )


def items(engine, ws) -> list:
    with read(engine) as conn:
        return list(
            conn.execute(
                sync_items.select()
                .where(sync_items.c.workspace_id == ws.id)
                .order_by(sync_items.c.id)
            )
        )


def allow_member_opt_ins(engine, ws) -> None:
    with write(engine) as conn:
        workspaces.update_settings(conn, owner(ws), {"resubscribe_policy": "with_consent_note"})


def test_opt_out_and_opt_in_reach_twilio_once_with_their_documented_fields(
    engine, ws, keyring, twilio, clock
) -> None:
    channel = twilio_channel(engine, ws, keyring, twilio)
    allow_member_opt_ins(engine, ws)
    number = unique_number()
    with write(engine) as conn:
        out = optouts.add_opt_out(conn, owner(ws), number, reason="asked by phone")
        back = optouts.remove_opt_out(conn, owner(ws), number, consent_note="said yes at desk")
    result = pusher(engine, keyring, ws, clock).run_pass()
    assert result.delivered == 2 and result.requests == 1
    sent = twilio.received
    assert [i["status"] for i in sent] == ["opt-out", "opt-in"]
    assert {i["contact_id"] for i in sent} == {number}
    assert {i["sender_id"] for i in sent} == {channel.address}
    assert [i["source"] for i in sent] == ["offline", "offline"]
    assert sent[0]["correlation_id"] == correlation_id(ws.id, channel.id, out.event.seq)
    assert sent[1]["correlation_id"] == correlation_id(ws.id, channel.id, back.event.seq)
    assert all(len(i["correlation_id"]) == 32 for i in sent)
    assert datetime.fromisoformat(sent[0]["date_of_consent"].replace("Z", "+00:00"))
    # A second pass has nothing left to say.
    assert pusher(engine, keyring, ws, clock).run_pass().requests == 0
    assert len(twilio.received) == 2
    with read(engine) as conn:
        status = provider_sync.status(conn, ws.id)
    assert status.counts == {"delivered": 2}
    assert "reported to Twilio at" in status.items[0].summary()


def test_the_report_is_written_in_the_consent_changes_transaction(engine, ws, keyring, twilio):
    twilio_channel(engine, ws, keyring, twilio)
    with pytest.raises(RuntimeError):
        with write(engine) as conn:
            optouts.add_opt_out(conn, owner(ws), unique_number())
            assert (
                len(
                    list(
                        conn.execute(sync_items.select().where(sync_items.c.workspace_id == ws.id))
                    )
                )
                == 1
            )
            raise RuntimeError("crash before commit")
    assert items(engine, ws) == []  # no report of a change that never happened


def test_channels_without_sync_and_out_of_scope_channels_hear_nothing(
    engine, ws, keyring, twilio
) -> None:
    twilio_channel(engine, ws, keyring, twilio, sync=False)
    with write(engine) as conn:
        optouts.add_opt_out(conn, owner(ws), unique_number())
    assert items(engine, ws) == []
    synced = twilio_channel(engine, ws, keyring, twilio)
    other = twilio_channel(engine, ws, keyring, twilio)
    with write(engine) as conn:
        optouts.add_opt_out(
            conn, owner(ws), unique_number(), scope=optouts.Scope.CHANNEL, scope_key=str(other.id)
        )
    # Only `other` is in scope, and it... has sync on too: one row, for it alone.
    rows = items(engine, ws)
    assert [r.channel_id for r in rows] == [other.id]
    assert synced.id != other.id


def test_server_errors_and_429_are_retried_with_the_same_correlation_id(
    engine, ws, keyring, twilio, clock
) -> None:
    twilio_channel(engine, ws, keyring, twilio)
    with write(engine) as conn:
        optouts.add_opt_out(conn, owner(ws), unique_number())
    twilio.script.extend([("500",), ("429", 7)])
    p = pusher(engine, keyring, ws, clock)
    first = p.run_pass()
    assert first.retrying == 1 and first.delivered == 0
    [row] = items(engine, ws)
    assert row.state == "pending" and row.attempts == 1 and row.error_code == "20500"
    clock.advance(31)  # backoff: 30 s after the first failure
    second = p.run_pass()  # meets the 429, honours Retry-After (7 s, simulated), then delivers
    assert second.delivered == 1
    assert clock.slept >= 7
    ids = [i["correlation_id"] for i in twilio.received]
    assert len(ids) == 1  # the 500 and 429 answers took nothing
    [row] = items(engine, ws)
    assert row.state == "delivered"


def test_a_per_item_error_is_kept_visible_and_the_rest_delivered(
    engine, ws, keyring, twilio, clock
) -> None:
    twilio_channel(engine, ws, keyring, twilio)
    good, bad = unique_number(), unique_number()
    twilio.item_errors[bad] = (21211, "Invalid 'To' Phone Number")
    with write(engine) as conn:
        optouts.add_opt_out(conn, owner(ws), good)
        optouts.add_opt_out(conn, owner(ws), bad)
    result = pusher(engine, keyring, ws, clock).run_pass()
    assert result.delivered == 1 and result.failed == 1
    with read(engine) as conn:
        failed = provider_sync.status(conn, ws.id, states=["failed"]).items
    assert [i.number for i in failed] == [bad]
    assert failed[0].error_code == "twilio:21211"
    assert "Invalid 'To' Phone Number" in failed[0].summary()
    # Retried by hand once Twilio accepts it: the same correlation id goes again.
    del twilio.item_errors[bad]
    with write(engine) as conn:
        provider_sync.retry(conn, owner(ws), failed[0].id, now=clock.now())
    assert pusher(engine, keyring, ws, clock).run_pass().delivered == 1
    sent_for_bad = [i["correlation_id"] for i in twilio.received if i["contact_id"] == bad]
    assert len(sent_for_bad) == 2 and len(set(sent_for_bad)) == 1


def test_a_timeout_is_retried_later(engine, ws, keyring, twilio, clock) -> None:
    twilio_channel(engine, ws, keyring, twilio)
    with write(engine) as conn:
        optouts.add_opt_out(conn, owner(ws), unique_number())
    twilio.script.append(("hang",))
    p = provider_sync.Pusher(
        engine,
        keyring,
        httpx.Client(timeout=httpx.Timeout(0.3)),
        clock=provider_sync.Clock(now=clock.now, sleep=clock.sleep),
        workspace_id=ws.id,
    )
    assert p.run_pass().retrying == 1
    [row] = items(engine, ws)
    assert row.state == "pending" and row.error_code == "unreachable"
    clock.advance(60)
    assert p.run_pass().delivered == 1


def test_a_worker_killed_mid_push_loses_nothing(engine, ws, keyring, twilio, clock) -> None:
    twilio_channel(engine, ws, keyring, twilio)
    numbers = [unique_number() for _ in range(30)]
    with write(engine) as conn:
        for n in numbers:
            optouts.add_opt_out(conn, owner(ws), n)

    class Killed(BaseException):
        pass

    doomed = pusher(engine, keyring, ws, clock)
    real_report = provider_sync.twilio_consent.report

    def report_then_die(*args, **kwargs):
        real_report(*args, **kwargs)  # Twilio took the batch...
        raise Killed  # ...and the worker died before writing that down

    provider_sync.twilio_consent.report = report_then_die
    try:
        with pytest.raises(Killed):
            doomed.run_pass()
    finally:
        provider_sync.twilio_consent.report = real_report
    assert all(r.state == "pending" for r in items(engine, ws))
    # Nothing is due while the dead worker's lease lasts; after it, another worker delivers all.
    survivor = pusher(engine, keyring, ws, clock)
    assert survivor.run_pass().delivered == 5  # the 5 not leased by the dead one
    clock.advance(provider_sync.LEASE.total_seconds() + 1)
    assert survivor.run_pass().delivered == 25
    assert all(r.state == "delivered" for r in items(engine, ws))
    assert {i["contact_id"] for i in twilio.accepted.values()} == set(numbers)
    by_number: dict[str, set[str]] = {}
    for item in twilio.received:
        by_number.setdefault(item["contact_id"], set()).add(item["correlation_id"])
    assert all(len(ids) == 1 for ids in by_number.values())  # a repeat is recognisable


def test_imports_write_reports_in_bulk_only_for_sync_channels(
    engine, ws, keyring, twilio, clock
) -> None:
    numbers = sorted({unique_number() for _ in range(300)})
    with write(engine) as conn:
        bulk_opt_out(conn, ws.id, numbers[:100], method=Method.IMPORT, reason="list", actor="t")
    assert items(engine, ws) == []  # no channel with sync on: nothing queued
    channel = twilio_channel(engine, ws, keyring, twilio)
    twilio_channel(engine, ws, keyring, twilio, sync=False)
    with write(engine) as conn:
        bulk_opt_out(conn, ws.id, numbers[100:], method=Method.IMPORT, reason="list", actor="t")
    rows = items(engine, ws)
    assert len(rows) == 200 and {r.channel_id for r in rows} == {channel.id}
    assert {r.number for r in rows} == set(numbers[100:])
    result = pusher(engine, keyring, ws, clock).run_pass()
    assert result.delivered == 200 and result.requests == 8  # 25 items a request
    assert {i["source"] for i in twilio.received} == {"others"}


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    batches=st.lists(st.integers(min_value=1, max_value=60), min_size=1, max_size=6),
    gaps=st.lists(st.floats(min_value=0, max_value=90), min_size=6, max_size=6),
)
def test_the_rate_limit_is_never_exceeded(engine, ws, keyring, twilio, clock, batches, gaps):
    """Reports arrive in bursts at random moments; the pusher (5 requests a minute here, the
    server enforcing the same) never draws a 429 and never exceeds the window."""
    twilio.limit = 5
    if not hasattr(twilio, "pusher"):  # one channel and one worker across the examples
        twilio_channel(engine, ws, keyring, twilio)
        twilio.pusher = pusher(engine, keyring, ws, clock, twilio_rate=(5, 60.0))
    p = twilio.pusher
    for burst, gap in zip(batches, gaps, strict=False):
        with write(engine) as conn:
            bulk_opt_out(
                conn,
                ws.id,
                sorted({unique_number() for _ in range(burst)}),
                method=Method.IMPORT,
                reason=None,
                actor="t",
            )
        p.run_pass(wait=gap > 45)  # sometimes wait out the window, sometimes leave it
        clock.advance(gap)
    p.run_pass()
    assert twilio.rejected_429 == 0
    assert twilio.max_in_any_window() <= 5
    assert all(r.state == "delivered" for r in items(engine, ws))


def test_vonage_has_no_consent_api(engine, ws, keyring) -> None:
    with pytest.raises(InvalidInput) as caught, write(engine) as conn:
        channels.create_channel(
            conn,
            owner(ws),
            keyring,
            address=unique_number(),
            provider="vonage",
            credentials={"api_key": "k", "api_secret": "s", "signature_secret": "x"},
            consent_sync=True,
        )
    assert caught.value.code == "consent_sync_unsupported"


def test_the_worker_pool_sync_loop_delivers_by_itself(engine, ws, keyring, twilio, clock) -> None:
    from stopline.worker.sync import SyncRunner

    twilio_channel(engine, ws, keyring, twilio)
    number = unique_number()
    with write(engine) as conn:
        optouts.add_opt_out(conn, owner(ws), number)
    with httpx.Client(timeout=2.0) as http:
        runner = SyncRunner(
            engine,
            keyring,
            lambda: http,
            pull_interval=3600,
            clock=provider_sync.Clock(now=clock.now, sleep=clock.sleep),
        )
        while runner.step():  # what the pool's sync thread repeats
            pass
    assert number in {i["contact_id"] for i in twilio.accepted.values()}
    assert [r.state for r in items(engine, ws)] == ["delivered"]
