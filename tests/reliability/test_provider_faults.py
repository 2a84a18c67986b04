"""Provider faults: 5xx bursts and answers that come after the client gave up, under two workers.

With a provider that honours idempotency keys every message reaches a phone exactly once, however
often it is retried. With one that has none (Twilio's API), only the ambiguous case can repeat
a message: the provider accepted it but answered after our timeout (README: the at-least-once
window). Each test has a database of its own, so its workers claim only its own messages.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import sqlalchemy as sa

from stopline.security import Keyring
from stopline.services import queueing, workspaces
from stopline.store.db import make_engine, read, write
from stopline.store.migrate import upgrade
from stopline.store.tables import messages
from stopline.worker.runner import Worker
from tests.conftest import PG_URL, drop_postgres_database, fresh_postgres_database, unique_number
from tests.reliability.fake_gateway import FakeGateway

KEYRING = Keyring("provider-faults")
MESSAGES = 40
SPEEDUP = 30  # the workers' clock runs this much faster, so backoff (2 s, 4 s, ...) is quick


@pytest.fixture(params=["sqlite", "postgresql"])
def own_engine(request: pytest.FixtureRequest, tmp_path) -> Iterator[sa.Engine]:
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'faults.db'}")
        upgrade(engine)
        yield engine
        engine.dispose()
        return
    if not PG_URL:
        pytest.skip("set STOPLINE_TEST_DATABASE_URL to run the PostgreSQL tests")
    url, admin = fresh_postgres_database()
    engine = make_engine(url)
    upgrade(engine)
    yield engine
    engine.dispose()
    drop_postgres_database(admin, url)


@pytest.fixture
def gateway(request: pytest.FixtureRequest) -> Iterator[FakeGateway]:
    options = getattr(request, "param", {})
    server = FakeGateway(slow_seconds=0.6, seed=7, **options).start()
    try:
        yield server
    finally:
        server.stop()


def _fast_clock() -> datetime:
    return _EPOCH + (datetime.now(UTC) - _EPOCH) * SPEEDUP


_EPOCH = datetime.now(UTC)


def _run_workers(engine: sa.Engine, workspace_id: int, count: int = 2) -> None:
    """Two worker loops until every message is sent or failed (or the deadline passes)."""
    stop = threading.Event()
    workers = []
    for i in range(count):
        worker = Worker(
            engine,
            KEYRING,
            name=f"fault-{i}-{uuid.uuid4().hex[:4]}",
            batch_size=5,
            lease=timedelta(hours=1),
            poll_interval=0.02,
            clock=_fast_clock,
        )
        worker._http = httpx.Client(timeout=0.3)  # gives up before the gateway's slow answers
        workers.append(worker)
    threads = [
        threading.Thread(target=w.loop, args=(stop, w.send_batch), daemon=True) for w in workers
    ]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            with read(engine) as conn:
                pending = conn.execute(
                    sa.select(sa.func.count()).where(
                        messages.c.workspace_id == workspace_id,
                        messages.c.status.in_(("queued", "sending", "scheduled")),
                    )
                ).scalar_one()
            if pending == 0:
                break
            time.sleep(0.1)
    finally:
        stop.set()
        for t in threads:
            t.join(10)
    assert sum(w.stats.errors for w in workers) == 0


def _world(engine: sa.Engine, provider: str, gateway: FakeGateway) -> tuple[int, dict[str, str]]:
    credentials = {
        "generic": {"secret": "gateway-secret", "send_url": gateway.url},
        "twilio": {"account_sid": "AC" + "1" * 32, "auth_token": "t" * 32},
    }[provider]
    with write(engine) as conn:
        created = workspaces.create_workspace(
            conn,
            name=f"Gateway {uuid.uuid4().hex[:6]}",
            owner_email=f"gw-{uuid.uuid4().hex[:8]}@example.com",
            owner_password="correct horse battery",
        )
        ws = created.workspace
        channel = workspaces.add_channel(
            conn,
            ws.id,
            KEYRING,
            address=unique_number(),
            provider=provider,
            credentials=credentials,
            base_url=gateway.url,
        )
        bodies = {}
        for i in range(MESSAGES):
            message = queueing.enqueue(
                conn,
                ws.id,
                channel_id=channel.id,
                to=f"+1415300{i:04d}",
                body=f"Reminder #{i}: your appointment is tomorrow",
            )
            bodies[message.sid] = message.body
    return ws.id, bodies


def _final(engine: sa.Engine, workspace_id: int) -> dict[str, tuple[str, str | None]]:
    with read(engine) as conn:
        return {
            r.sid: (r.status, r.provider_message_id)
            for r in conn.execute(
                sa.select(messages.c.sid, messages.c.status, messages.c.provider_message_id).where(
                    messages.c.workspace_id == workspace_id
                )
            )
        }


def test_with_idempotency_keys_every_message_reaches_a_phone_exactly_once(own_engine, gateway):
    workspace_id, bodies = _world(own_engine, "generic", gateway)
    _run_workers(own_engine, workspace_id)
    final = _final(own_engine, workspace_id)
    assert {status for status, _ in final.values()} == {"sent"}
    # Exactly once at the phone: one delivery per message, under its SID as the key.
    assert Counter(gateway.delivered) == Counter(set(bodies))
    # And the faults really happened: the burst, errors, accepted-but-too-late answers, each
    # retried under the same key (the gateway answered the repeat with the first id).
    statuses = Counter(s.status for s in gateway.seen)
    assert statuses[503] >= gateway.burst and statuses[500] > 0
    assert any(s.slow for s in gateway.seen)
    assert {s.key for s in gateway.seen} == set(bodies)
    assert all(final[sid][1] == gateway.ids[sid] for sid in bodies)


@pytest.mark.parametrize("gateway", [{"dedupe": False, "reply": "twilio"}], indirect=True)
def test_without_idempotency_keys_only_a_late_answer_can_repeat_a_message(own_engine, gateway):
    workspace_id, bodies = _world(own_engine, "twilio", gateway)
    _run_workers(own_engine, workspace_id)
    final = _final(own_engine, workspace_id)
    assert {status for status, _ in final.values()} == {"sent"}
    # Bodies as sent carry the first-message disclosure on a line of their own.
    by_body = Counter(text.split("\n")[0] for text in gateway.delivered)
    assert set(by_body) == set(bodies.values()), "every message reached a phone"
    repeated = {body for body, n in by_body.items() if n > 1}
    late = {s.key.split("\n")[0] for s in gateway.seen if s.accepted and s.slow}
    # The at-least-once window, exactly: a repeat only ever follows an accepted-but-late answer.
    assert repeated <= late
    # ... and at most once per late answer.
    slow = Counter(s.key.split("\n")[0] for s in gateway.seen if s.accepted and s.slow)
    assert {b: n for b, n in by_body.items() if n > 1 + slow[b]} == {}
