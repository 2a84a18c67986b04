"""Fault tests on PostgreSQL with real processes: killed workers, a database restart, racing STOPs.

The promise under test: every eligible recipient of a campaign gets exactly one message, none
gets two, none is lost, no opted-out or blocked number gets any, and no message is handed to
the provider after the recipient's STOP committed. The console provider records deliveries in
`console_outbox` in the hand-off's own transaction, so the table is the ground truth of what
was "sent".
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from stopline.services import ledger
from stopline.store.db import read
from stopline.store.migrate import upgrade
from stopline.store.tables import messages
from tests.conftest import PG_URL
from tests.reliability.campaign_world import (
    Stop,
    WorkerProcesses,
    deliveries,
    expand_campaign,
    inject_stop,
    message_counts,
    retrying,
    seed_campaign,
)
from tests.reliability.pg_server import FaultyPostgres

pytestmark = [
    pytest.mark.slow,
    pytest.mark.postgres,
    pytest.mark.skipif(not PG_URL, reason="set STOPLINE_TEST_DATABASE_URL to run the fault tests"),
]

RECIPIENTS = 10_000
DEADLINE = 90.0  # seconds for the whole campaign, faults included
MAX_STOPS = 150


@pytest.fixture(scope="module")
def faulty_pg() -> Iterator[FaultyPostgres]:
    server = FaultyPostgres.start(PG_URL)
    try:
        engine = server.engine()
        upgrade(engine)
        engine.dispose()
        yield server
    finally:
        server.stop()


def _pending(counts: dict[str, int]) -> int:
    return sum(counts.get(s, 0) for s in ("queued", "scheduled", "sending"))


def _leased_to(engine: sa.Engine, workspace_id: int, pid: int) -> int:
    with read(engine) as conn:
        return int(
            conn.execute(
                sa.select(sa.func.count()).where(
                    messages.c.workspace_id == workspace_id,
                    messages.c.status == "sending",
                    messages.c.lease_owner.like(f"%:{pid}:%"),
                )
            ).scalar_one()
        )


def _kill_while_holding_a_claim(
    engine: sa.Engine, workers: WorkerProcesses, index: int, workspace_id: int
) -> int:
    """SIGKILL worker `index` at a moment it holds claimed messages; returns how many."""
    proc = workers.procs[index]
    for _ in range(2000):
        proc.send_signal(signal.SIGSTOP)  # freeze it, then look at what it holds
        held = retrying(lambda: _leased_to(engine, workspace_id, proc.pid))
        if held:
            workers.kill(index)
            return held
        proc.send_signal(signal.SIGCONT)
        time.sleep(0.005)
    raise AssertionError("the worker never held a claim")


def _stop_targets(engine: sa.Engine, world, rng: random.Random, taken: set[str]) -> str | None:
    """A number to STOP: mostly one whose message is in flight or next in line, some at random."""
    roll = rng.random()
    status = "sending" if roll < 0.5 else "queued" if roll < 0.8 else None
    with read(engine) as conn:
        started = conn.execute(
            sa.select(messages.c.id)
            .where(messages.c.campaign_id == world.campaign_id, messages.c.status == "sent")
            .limit(1)
        ).first()
        if started is None:
            return None  # STOPs go in while the campaign is sending
        query = sa.select(messages.c.to_number).where(messages.c.campaign_id == world.campaign_id)
        if status is not None:
            query = query.where(messages.c.status == status)
        candidates = [n for n in conn.execute(query.limit(200)).scalars() if n not in taken]
    return rng.choice(candidates) if candidates else None


def _deliveries_committed_after_stop(
    engine: sa.Engine, workspace_id: int, campaign_id: int
) -> list[tuple[str, object, object]] | None:
    """Campaign deliveries whose transaction committed after the recipient's STOP event did
    (None when the server does not record commit timestamps)."""
    with read(engine) as conn:
        if conn.execute(sa.text("SHOW track_commit_timestamp")).scalar() != "on":
            return None
        rows = conn.execute(
            sa.text(
                """
                SELECT co.to_number, pg_xact_commit_timestamp(co.xmin) AS delivered,
                       pg_xact_commit_timestamp(ce.xmin) AS stopped
                  FROM console_outbox co
                  JOIN messages m ON m.id = co.message_id
                  JOIN consent_events ce
                    ON ce.workspace_id = co.workspace_id AND ce.number = co.to_number
                 WHERE co.workspace_id = :ws AND m.campaign_id = :campaign
                   AND ce.method = 'reply' AND ce.action = 'opt_out'
                """
            ),
            {"ws": workspace_id, "campaign": campaign_id},
        ).all()
    assert all(r.delivered is not None and r.stopped is not None for r in rows)
    return [(r.to_number, r.delivered, r.stopped) for r in rows if r.delivered >= r.stopped]


def test_four_workers_survive_a_kill_and_a_restart_and_honour_every_stop(
    faulty_pg: FaultyPostgres, tmp_path: Path
) -> None:
    engine = faulty_pg.engine()
    world = seed_campaign(engine, size=RECIPIENTS, opted_out=150, blocked=50, expand=False)
    ws_id = world.workspace.id
    workers = WorkerProcesses(
        faulty_pg.url,
        4,
        tmp_path,
        ("--batch-size", "50", "--lease-seconds", "5", "--poll-interval", "0.1"),
    ).start()
    # The campaign's messages are stored while the workers boot (by whoever claims the job).
    expander = expand_campaign(engine)
    victim = next(
        i for i, p in enumerate(workers.procs) if not expander or f":{p.pid}:" not in expander
    )
    stops: list[Stop] = []
    stop_errors: list[BaseException] = []
    finished = threading.Event()
    rng = random.Random(int.from_bytes(os.urandom(4), "big"))

    def stop_injector() -> None:
        taken: set[str] = set(world.opted_out | world.blocked)
        try:
            while not finished.is_set() and len(stops) < MAX_STOPS:
                number = retrying(lambda: _stop_targets(engine, world, rng, taken))
                if number is None:
                    finished.wait(0.05)  # nothing in flight yet (workers starting) or any more
                    continue
                taken.add(number)
                stops.append(inject_stop(engine, world, number))
                finished.wait(rng.uniform(0.0, 0.05))
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            stop_errors.append(exc)

    injector = threading.Thread(target=stop_injector, daemon=True)
    started = time.monotonic()
    killed_holding = 0
    restarted = False
    try:
        injector.start()
        while True:
            counts = retrying(lambda: message_counts(engine, ws_id))
            sent = counts.get("sent", 0)
            if not killed_holding and sent >= RECIPIENTS * 0.15:
                killed_holding = _kill_while_holding_a_claim(engine, workers, victim, ws_id)
            if killed_holding and not restarted and sent >= RECIPIENTS * 0.45:
                faulty_pg.restart(down_for=2.0)
                restarted = True
            if restarted and _pending(counts) == 0:
                break
            assert time.monotonic() - started < DEADLINE, (counts, workers.logs())
            time.sleep(0.2)
        finished.set()
        injector.join(30)
        # The injector's last STOPs queued confirmations: let the workers deliver them too.
        while _pending(retrying(lambda: message_counts(engine, ws_id))):
            assert time.monotonic() - started < DEADLINE, workers.logs()
            time.sleep(0.2)
    finally:
        finished.set()
        codes = workers.stop()
    assert not stop_errors, stop_errors
    assert killed_holding > 0 and restarted
    # The three survivors rode out the restart and stopped cleanly when asked.
    assert codes.pop(victim) == -signal.SIGKILL
    assert set(codes.values()) == {0}, workers.logs()

    delivered = deliveries(engine, ws_id)
    campaign = [d for d in delivered if d.campaign_id == world.campaign_id]
    per_number = Counter(d.to_number for d in campaign)
    stopped = {s.number: s for s in stops}
    assert len(stops) >= 20, f"only {len(stops)} STOPs landed during the campaign"

    # None twice.
    assert [n for n, c in per_number.items() if c > 1] == []
    # No opted-out or blocked number got anything at all.
    excluded = world.opted_out | world.blocked
    assert not excluded & {d.to_number for d in delivered}
    # None lost: every eligible number that did not STOP got its message.
    missing = [n for n in world.eligible if n not in stopped and per_number[n] != 1]
    assert missing == []
    # No message handed over after the recipient's STOP had committed: by commit order
    # where the server tracks commit timestamps (the private test server does) ...
    late_commits = _deliveries_committed_after_stop(engine, ws_id, world.campaign_id)
    assert late_commits is None or late_commits == []
    # ... and by the database clock, which needs no server setting.
    late = [
        (d.to_number, d.handed_at, stopped[d.to_number].committed_by)
        for d in campaign
        if d.to_number in stopped and d.handed_at > stopped[d.to_number].committed_by
    ]
    assert late == []
    # Each STOP was confirmed exactly once (a confirmation passes the opt-out).
    confirmations = Counter(d.to_number for d in delivered if d.kind == "confirmation")
    assert {n: confirmations[n] for n in stopped} == {n: 1 for n in stopped}
    # The STOPs really raced the campaign: some landed before their number's message went
    # out (cancelled), some after (already sent).
    with read(engine) as conn:
        fates = dict(
            conn.execute(
                sa.select(messages.c.to_number, messages.c.status).where(
                    messages.c.campaign_id == world.campaign_id,
                    messages.c.to_number.in_(list(stopped)),
                )
            ).all()
        )
    assert set(fates.values()) <= {"sent", "canceled", "failed"}
    assert "sent" in fates.values() and {"canceled", "failed"} & set(fates.values())
    # The killed worker's claimed messages were taken over after its lease and delivered once.
    assert any(d.attempts >= 2 for d in campaign)
    with read(engine) as conn:
        assert ledger.verify(conn, ws_id).ok
    engine.dispose()


@pytest.mark.parametrize("backend", ["postgresql", "sqlite"])
def test_processes_started_together_on_an_empty_database_all_come_up(
    faulty_pg: FaultyPostgres, tmp_path: Path, backend: str
) -> None:
    """A fresh deployment starts its workers (and servers) at once; each migrates on start."""
    import subprocess
    import sys
    import uuid

    if backend == "postgresql":
        name = f"fresh_{uuid.uuid4().hex[:8]}"
        admin = sa.create_engine(
            faulty_pg.engine().url.set(database="postgres"), isolation_level="AUTOCOMMIT"
        )
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        admin.dispose()
        url = sa.engine.make_url(faulty_pg.url).set(database=name).render_as_string(False)
    else:
        url = f"sqlite:///{tmp_path / 'fresh.db'}"
    env = {
        **os.environ,
        "STOPLINE_DATABASE_URL": url,
        "STOPLINE_SECRET_KEY": "fresh",
        "STOPLINE_DATA_DIR": str(tmp_path / "data"),
    }
    exe = Path(sys.executable).parent / "stopline"
    procs = [
        subprocess.Popen(
            [str(exe), "worker", "--once"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(5)
    ]
    outcomes = [(p.wait(timeout=120), p.stdout.read() if p.stdout else "") for p in procs]
    assert [code for code, _ in outcomes] == [0] * 5, [out[-800:] for _, out in outcomes]


def test_the_app_rides_out_a_database_restart_and_the_provider_retry_lands_once(
    faulty_pg: FaultyPostgres, tmp_path: Path
) -> None:
    """During the outage a webhook gets a 5xx (so the provider retries it); after it, the same
    webhook is processed, once, on the same server process, with no restart of stopline."""
    import uuid

    from stopline.security import Keyring
    from stopline.services import workspaces
    from stopline.store.db import write
    from tests.inbound_kit import LiveServer, add_kit_channel, events_of, make_runtime

    engine = faulty_pg.engine()
    with write(engine) as conn:
        ws = workspaces.create_workspace(
            conn,
            name=f"Outage {uuid.uuid4().hex[:6]}",
            owner_email=f"outage-{uuid.uuid4().hex[:8]}@example.com",
            owner_password="correct horse battery",
        ).workspace
    kit = add_kit_channel(engine, ws, Keyring("test-secret-key"), "generic")
    from stopline.web.webhooks.base import CHANNELS

    CHANNELS.forget()  # channel ids repeat across the tests' databases
    import httpx

    with (
        LiveServer(make_runtime(engine, tmp_path)) as server,
        httpx.Client(base_url=server.base_url, timeout=30) as http,
    ):

        def deliver(sender: str, message_id: str) -> int:
            signed = kit.inbound(server.base_url, sender, "STOP", message_id=message_id)
            return http.post(signed.path, content=signed.body, headers=signed.headers).status_code

        assert deliver("+14155550161", "before") == 200
        faulty_pg.down()
        try:
            assert deliver("+14155550162", "during") >= 500
        finally:
            faulty_pg.up()
        assert deliver("+14155550162", "during") == 200  # the provider's retry
        assert deliver("+14155550163", "after") == 200
    for number in ("+14155550161", "+14155550162", "+14155550163"):
        assert [(e.action, e.method) for e in events_of(engine, ws.id, number)] == [
            ("opt_out", "reply")
        ]
    engine.dispose()
