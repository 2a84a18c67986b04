"""The core promise under concurrency: no message is handed over after the STOP committed.

A hand-off holds its message row (PostgreSQL) or the write lock (SQLite) while it re-checks
consent and calls the provider, so a STOP either commits first (and the hand-off refuses) or
waits until the hand-off has committed (and the message went before the STOP existed).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping

import httpx
import pytest
import sqlalchemy as sa

from stopline.providers.base import SendRequest, SendResult
from stopline.security import Keyring
from stopline.services import hand_off, provider_outcomes, queueing, workspaces
from stopline.services import messages as messages_service
from stopline.services.consent import ChangeResult
from stopline.store.db import read
from tests.outbound import add_channel, number, stop_reply


class HeldProvider:
    """A provider whose send waits until the test lets it finish."""

    name = "generic"

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.sent: list[SendRequest] = []

    def send(
        self,
        client: httpx.Client,
        request: SendRequest,
        credentials: Mapping[str, str],
        base_url: str | None = None,
    ) -> SendResult:
        self.entered.set()
        assert self.release.wait(30), "the test never released the provider"
        self.sent.append(request)
        return SendResult(provider_message_id=f"held-{request.idempotency_key}", status="sent")


@pytest.fixture
def channel(engine: sa.Engine, ws: workspaces.Workspace, keyring: Keyring) -> workspaces.Channel:
    return add_channel(engine, ws, keyring, "generic", credentials={"secret": "s"})


def test_a_stop_arriving_during_a_hand_off_waits_for_it_and_cancels_nothing_it_sent(  # type: ignore[no-untyped-def]
    engine, ws, keyring, channel
) -> None:
    to = number()
    with engine.begin() as conn:
        message = queueing.enqueue(conn, ws.id, channel_id=channel.id, to=to, body="Hi")
    ids = hand_off.claim(engine, "w1", limit=1000)
    assert message.id in ids
    provider = HeldProvider()
    handed: list[provider_outcomes.HandOff] = []
    stopped: list[ChangeResult] = []

    def deliver() -> None:
        handed.extend(
            hand_off.hand_off(
                engine, [message.id], owner="w1", keyring=keyring, providers=lambda _: provider
            )
        )

    def stop() -> None:
        stopped.append(stop_reply(engine, ws, to))

    worker = threading.Thread(target=deliver)
    worker.start()
    assert provider.entered.wait(30)  # the hand-off holds its lock and is inside the provider
    recipient = threading.Thread(target=stop)
    recipient.start()
    recipient.join(0.5)
    assert recipient.is_alive(), "the STOP committed while a hand-off to the number was in flight"
    provider.release.set()
    worker.join(30)
    recipient.join(30)
    assert [h.status for h in handed] == ["sent"]
    # The STOP committed after the hand-off: the message had already gone, nothing to cancel.
    assert stopped[0].changed and stopped[0].canceled_messages == 0
    with read(engine) as conn:
        after = messages_service.get_message(conn, ws.id, message.id)
    assert after.status == "sent"
    # ... and every later message is refused.
    with engine.begin() as conn:
        later = queueing.enqueue(conn, ws.id, channel_id=channel.id, to=to, body="Again")
    assert later.refusal_code == "opted_out"


def test_a_stop_committed_after_the_claim_makes_the_hand_off_skip_the_message(  # type: ignore[no-untyped-def]
    engine, ws, keyring, channel
) -> None:
    to = number()
    with engine.begin() as conn:
        message = queueing.enqueue(conn, ws.id, channel_id=channel.id, to=to, body="Hi")
    ids = hand_off.claim(engine, "w1", limit=1000)
    result = stop_reply(engine, ws, to)  # cancels the claimed ('sending') message
    assert result.canceled_messages == 1
    provider = HeldProvider()
    provider.release.set()
    handed = hand_off.hand_off(
        engine, ids, owner="w1", keyring=keyring, providers=lambda _: provider
    )
    assert [h.status for h in handed if h.message_id == message.id] == ["skipped"]
    assert all(r.to != to for r in provider.sent)
    with read(engine) as conn:
        after = messages_service.get_message(conn, ws.id, message.id)
    assert (after.status, after.refusal_code) == ("canceled", "opted_out")


def test_concurrent_stops_and_hand_offs_never_deliver_after_the_stop(  # type: ignore[no-untyped-def]
    engine, ws, keyring
) -> None:
    """Many numbers, STOPs racing two console workers: for each number, a delivery exists only
    if its message was marked sent, and a number whose STOP cancelled its message got nothing."""
    channel = add_channel(engine, ws, keyring)
    numbers = sorted({number() for _ in range(60)})
    with engine.begin() as conn:
        for n in numbers:
            queueing.enqueue(conn, ws.id, channel_id=channel.id, to=n, body="Race")
    results: dict[str, ChangeResult] = {}

    def work(owner: str) -> None:
        while ids := hand_off.claim(engine, owner, limit=5):
            hand_off.hand_off(engine, ids, owner=owner, keyring=keyring)

    def stops() -> None:
        for n in numbers[::2]:
            results[n] = stop_reply(engine, ws, n)

    threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(2)]
    threads.append(threading.Thread(target=stops))
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    from tests.outbound import deliveries, message_rows

    delivered: dict[str, int] = {}
    for d in deliveries(engine, ws.id):
        delivered[d.to_number] = delivered.get(d.to_number, 0) + 1
    rows = {r.to_number: r for r in message_rows(engine, ws.id)}
    for n in numbers:
        row = rows[n]
        assert delivered.get(n, 0) == (1 if row.status == "sent" else 0), n
        if n in results and results[n].canceled_messages == 1:
            assert (row.status, delivered.get(n, 0)) == ("canceled", 0)
        assert row.status in ("sent", "canceled", "failed")
    assert all(v == 1 for v in delivered.values())


def test_two_workers_never_both_send_a_caps_last_message(  # type: ignore[no-untyped-def]
    engine, ws, keyring, channel
) -> None:
    """A cap of 1 marketing text per 24 h and two messages claimed by two workers: the second
    worker's hand-off waits for the first (the per-recipient cap lock on PostgreSQL, the write
    lock on SQLite), then sees the first message in the history and defers its own."""
    to = number()  # Toronto: no built-in rule; the workspace's own cap is the one that counts
    owner_principal = workspaces.Principal(workspace_id=ws.id, role="owner", actor="t")
    with engine.begin() as conn:
        workspaces.update_settings(conn, owner_principal, {"send_caps": {"marketing": 1}})
        first, second = (
            queueing.enqueue(
                conn, ws.id, channel_id=channel.id, to=to, body=body, category="marketing"
            )
            for body in ("Sale today", "Sale tomorrow")
        )
    assert (first.status, second.status) == ("queued", "queued")  # nothing handed over yet
    [claimed_a] = hand_off.claim(engine, "wa", limit=1)
    [claimed_b] = hand_off.claim(engine, "wb", limit=1)
    assert {claimed_a, claimed_b} == {first.id, second.id}
    provider = HeldProvider()
    results: dict[str, list[provider_outcomes.HandOff]] = {}

    def run(owner: str, message_id: int) -> None:
        results[owner] = hand_off.hand_off(
            engine, [message_id], owner=owner, keyring=keyring, providers=lambda _: provider
        )

    a = threading.Thread(target=run, args=("wa", claimed_a))
    a.start()
    assert provider.entered.wait(30)  # worker A is inside the provider, holding its locks
    b = threading.Thread(target=run, args=("wb", claimed_b))
    b.start()
    b.join(0.5)
    assert b.is_alive(), "worker B decided while worker A's hand-off to the number was open"
    provider.release.set()
    a.join(30)
    b.join(30)
    assert [h.status for h in results["wa"]] == ["sent"]
    assert [(h.status, h.error_code) for h in results["wb"]] == [("scheduled", "frequency_cap")]
    assert len(provider.sent) == 1
    with read(engine) as conn:
        waiting = messages_service.get_message(conn, ws.id, claimed_b)
    assert waiting.status == "scheduled" and waiting.hold_reason == "frequency_cap"
