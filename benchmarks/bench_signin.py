"""Benchmark: how long a STOP takes to commit on SQLite while a sign-in flood runs.

A STOP goes through the inbound pipeline (`process_inbound`, the webhooks' write path) one at a
time while four threads sign in with wrong passwords as fast as they can, each from its own
address so the rate limit never stops them. The baseline is the same STOPs with no flood, in
the same run. For comparison, the flood is also run the way sign-in worked before issue 11
(argon2 verified inside the write transaction that records the attempt), which holds SQLite's
write lock for the whole hash and makes every STOP wait behind it.
"""

from __future__ import annotations

import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy.exc import OperationalError

from stopline import security
from stopline.domain.errors import StoplineError
from stopline.providers.base import InboundMessage
from stopline.security import Keyring
from stopline.services import inbound, sessions, workspaces
from stopline.services.consent import now_utc
from stopline.services.inbound_context import InboundChannel
from stopline.store import sessions as session_store
from stopline.store.db import make_engine, write
from stopline.store.migrate import upgrade

FLOOD_THREADS = 4
FAILED: dict[int, list[int]] = {}


def _old_sign_in(engine: Any, email: str, ip: str) -> None:
    """Sign-in as it was: count, verify and record inside one write transaction."""
    from stopline.store import workspaces as ws_store

    with write(engine) as conn:
        key = sessions.attempt_key(email, ip)
        now = now_utc()
        session_store.count_attempts(conn, key, now - sessions.ATTEMPT_WINDOW)
        user = ws_store.user_by_email(conn, email)
        security.password_matches("wrong password", user.password_hash)
        session_store.record_attempt(conn, key, now)


def _new_sign_in(engine: Any, email: str, ip: str) -> None:
    try:
        sessions.sign_in(engine, email, "wrong password", ip=ip)
    except StoplineError:
        pass


def _stop_latencies(
    engine: Any, channel: InboundChannel, count: int, flood: Callable[[str], None] | None
) -> list[float]:
    stop = threading.Event()
    attempts = [0]
    failed = FAILED.setdefault(id(flood), [0]) if flood else [0]

    def flooding(thread: int) -> None:
        i = 0
        while not stop.is_set():
            i += 1
            assert flood is not None
            try:
                flood(f"10.{thread}.{i // 250}.{i % 250}")
            except OperationalError:  # "database is locked": the flood starves itself too
                pass
            attempts[0] += 1

    threads = [
        threading.Thread(target=flooding, args=(t,), daemon=True)
        for t in range(FLOOD_THREADS if flood else 0)
    ]
    for thread in threads:
        thread.start()
    time.sleep(0.3 if flood else 0)  # let the flood get going
    latencies = []
    try:
        for _ in range(count):
            message = InboundMessage(
                provider="console",
                provider_message_id=f"bench-{uuid.uuid4().hex}",
                from_number=f"+1415{uuid.uuid4().int % 800 + 200}{uuid.uuid4().int % 9000 + 1000}",
                to_address=channel.address,
                body="STOP",
            )
            started = time.perf_counter()
            try:
                outcome = inbound.process_inbound(engine, channel, message)
            except OperationalError:  # gave up after SQLite's 30 s busy timeout
                failed[0] += 1
            else:
                assert outcome.action == "opt_out", outcome.action
            latencies.append(time.perf_counter() - started)
            time.sleep(0.02)  # STOPs arrive now and then, not back to back
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    return latencies


def run(quick: bool = False) -> list[dict[str, Any]]:
    count = 20 if quick else 60
    # Each STOP behind the old flood can wait out SQLite's 30 s busy timeout: a few suffice.
    before_count = 3 if quick else 8
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{Path(tmp) / 'bench.db'}")
        upgrade(engine)
        email = "bench@example.com"
        with write(engine) as conn:
            created = workspaces.create_workspace(
                conn, name="Bench", owner_email=email, owner_password="bench-password"
            )
            added = workspaces.add_channel(
                conn,
                created.workspace.id,
                Keyring("bench-secret-key"),
                address="+14155550199",
                provider="console",
            )
            channel, _ = inbound.channel_for(conn, added.id)
        quiet = _stop_latencies(engine, channel, count, None)
        now = _stop_latencies(engine, channel, count, lambda ip: _new_sign_in(engine, email, ip))
        old_flood = lambda ip: _old_sign_in(engine, email, ip)  # noqa: E731
        before = _stop_latencies(engine, channel, before_count, old_flood)
        before_failed = FAILED[id(old_flood)][0]
        engine.dispose()
    rows = []
    for label, figures in (("now", now), ("as before issue 11", before)):
        for stat, fn in (("median", statistics.median), ("max", max)):
            rows.append(
                {
                    "name": f"STOP commit {stat} under a 4-thread sign-in flood ({label})",
                    "value": fn(figures) * 1000,
                    "unit": "ms",
                    "baseline": fn(quiet) * 1000,
                    "baseline_name": f"the same STOPs with no sign-in flood ({stat})",
                    "target": "close to baseline" if label == "now" else "",
                }
            )
    rows.append(
        {
            "name": "STOPs lost to 'database is locked' (as before issue 11)",
            "value": before_failed,
            "unit": f"of {before_count}",
            "baseline": None,
        }
    )
    return rows
