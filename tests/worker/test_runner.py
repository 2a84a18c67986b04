"""The worker loops: background sending, jobs, graceful stop, surviving a failing step."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
import sqlalchemy as sa

from stopline.security import Keyring
from stopline.services import campaigns, hand_off, queueing, workspaces
from stopline.services import consent as consent_service
from stopline.services import messages as messages_service
from stopline.store.db import read, write
from stopline.worker.runner import InProcessWorker, Worker, WorkerPool
from tests.outbound import add_channel, deliveries, number, owner


@pytest.fixture
def channel(engine: sa.Engine, ws: workspaces.Workspace, keyring: Keyring) -> workspaces.Channel:
    return add_channel(engine, ws, keyring)


def wait_until(predicate, seconds: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "gave up waiting"
        time.sleep(0.02)


def statuses(engine: sa.Engine, ws_id: int, ids: list[int]) -> set[str]:
    with read(engine) as conn:
        return {messages_service.get_message(conn, ws_id, i).status for i in ids}


def test_a_pool_sends_in_the_background_and_stops_gracefully(engine, ws, channel, keyring) -> None:  # type: ignore[no-untyped-def]
    with write(engine) as conn:
        ids = [
            queueing.enqueue(conn, ws.id, channel_id=channel.id, to=number(), body="bg").id
            for _ in range(30)
        ]
    pool = WorkerPool(engine, keyring, concurrency=2, batch_size=7, poll_interval=0.01)
    pool.start()
    try:
        wait_until(lambda: statuses(engine, ws.id, ids) == {"sent"})
    finally:
        pool.stop()
    assert all(not t.is_alive() for t in pool.threads)
    assert pool.stats()["sent"] >= 30
    assert len(deliveries(engine, ws.id)) == 30


def test_drain_expands_a_campaign_then_sends_it(engine, ws, channel, keyring) -> None:  # type: ignore[no-untyped-def]
    members = [number() for _ in range(12)]
    with write(engine) as conn:
        made = campaigns.create_list(conn, owner(ws), f"L {number()}")
        campaigns.add_members(conn, owner(ws), made.id, members)
        campaign = campaigns.create_campaign(
            conn, owner(ws), name="c", body="b", list_ids=[made.id], channel_id=channel.id
        )
    stats = Worker(engine, keyring, batch_size=5).drain()
    assert stats.jobs >= 1 and stats.sent >= 12
    with read(engine) as conn:
        assert campaigns.get_campaign(conn, ws.id, campaign.id).status == "done"


def test_a_failing_step_is_logged_and_the_loop_carries_on(engine, keyring) -> None:  # type: ignore[no-untyped-def]
    worker = Worker(engine, keyring, poll_interval=0.01)
    stop = threading.Event()
    calls = []

    def step() -> bool:
        calls.append(1)
        if len(calls) == 1:
            raise sa.exc.OperationalError("SELECT 1", {}, Exception("database went away"))
        stop.set()
        return False

    worker.loop(stop, step)
    assert len(calls) == 2 and worker.stats.errors == 1


def test_the_in_process_worker_of_stopline_serve_starts_and_stops(
    engine, ws, channel, keyring
) -> None:  # type: ignore[no-untyped-def]
    class FakeRuntime:
        def __init__(self) -> None:
            self.engine = engine
            self.keyring = keyring

    with write(engine) as conn:
        message = queueing.enqueue(conn, ws.id, channel_id=channel.id, to=number(), body="serve")
    worker = InProcessWorker(FakeRuntime())
    worker.start()
    try:
        wait_until(lambda: statuses(engine, ws.id, [message.id]) == {"sent"})
    finally:
        worker.stop()
    assert worker.pool is None


def test_a_short_lease_lets_a_second_worker_take_over_a_dead_ones_claim(  # type: ignore[no-untyped-def]
    engine, ws, channel, keyring
) -> None:
    with write(engine) as conn:
        message = queueing.enqueue(conn, ws.id, channel_id=channel.id, to=number(), body="x")
    now = consent_service.now_utc()
    dead = Worker(engine, keyring, lease=timedelta(seconds=5), clock=lambda: now)
    assert message.id in hand_off.claim(engine, dead.owner, lease=dead.lease, now=now, limit=10_000)
    later = now + timedelta(seconds=6)
    alive = Worker(engine, keyring, clock=lambda: later, batch_size=10_000)
    alive.send_batch()
    assert statuses(engine, ws.id, [message.id]) == {"sent"}
