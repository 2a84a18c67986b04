"""Provider consent sync: pushing imported opt-outs to Twilio's Consent API at its documented rate.

A local server speaks Consents/Bulk and enforces Twilio's limit (100 requests a minute per
account, 25 items each: 2,500 records a minute) on a simulated clock that the pusher shares, so
40 minutes of pushing take seconds of wall time. Beside it, in the same run: the bulk import
with and without a sync channel (the outbox rows are copied by one INSERT ... SELECT), and gate
checks and an import while a push is running.
"""

from __future__ import annotations

import random
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any


def _numbers(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    seen: set[str] = set()
    while len(seen) < count:
        seen.add(f"+1{rng.choice(['415', '646', '312', '213'])}{rng.randint(2000000, 9999999)}")
    return sorted(seen)


def _setup(path: Path) -> tuple[Any, int]:
    from benchmarks.bench_manage import _engine_and_workspace

    return _engine_and_workspace(path)


def _import(engine: Any, ws_id: int, numbers: list[str]) -> float:
    from stopline.domain.consent import Method
    from stopline.services.consent import bulk_opt_out
    from stopline.store.db import write

    started = time.perf_counter()
    with write(engine) as conn:
        bulk_opt_out(conn, ws_id, numbers, method=Method.IMPORT, reason="bench", actor="bench")
    return len(numbers) / (time.perf_counter() - started)


def _gate_rate(engine: Any, ws_id: int, numbers: list[str], seconds: float = 2.0) -> float:
    from stopline.services.checks import check_number
    from stopline.store.db import read

    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        with read(engine) as conn:
            for number in numbers[done % len(numbers) : done % len(numbers) + 50]:
                check_number(conn, ws_id, number, region="US")
                done += 1
    return done / (time.perf_counter() - started)


class ScaledClock:
    """Simulated time that passes `scale` times faster than the wall clock: waiting out a
    60 s rate window takes 60/scale real seconds, so the push keeps its real shape (a burst
    of requests, then idle) while the gate and an import are measured beside it."""

    def __init__(self, start: datetime, scale: float) -> None:
        from tests.providers.sync_servers import FakeClock

        self.fake = FakeClock(start)
        self.scale = scale

    def now(self) -> datetime:
        return self.fake.now()

    def time(self) -> float:
        return self.fake.time()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds / self.scale)
        self.fake.advance(seconds)


class WallClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def time(self) -> float:
        return time.time()


def run(quick: bool = False) -> list[dict[str, Any]]:
    import httpx
    from tests.providers.sync_servers import ScriptedServer, TwilioConsentApi

    from stopline.domain.consent import Method
    from stopline.security import Keyring
    from stopline.services import channels, provider_sync
    from stopline.services.consent import bulk_opt_out
    from stopline.services.workspaces import Principal
    from stopline.store.db import write

    size = 10_000 if quick else 100_000
    rows: list[dict[str, Any]] = []
    keyring = Keyring("bench-secret")
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        engine, ws_id = _setup(tmp / "sync.db")
        first, second, third = (_numbers(size, s) for s in (1, 2, 3))
        without_sync = _import(engine, ws_id, first)

        # 100,000 records take 40 simulated minutes: 24 s of waiting at 100x.
        clock = ScaledClock(datetime.now(UTC) + timedelta(hours=1), scale=100.0)
        api = TwilioConsentApi(clock)  # type: ignore[arg-type]
        server = ScriptedServer(api.handle).start()
        owner = Principal(workspace_id=ws_id, role="owner", actor="bench")
        with write(engine) as conn:
            channel = channels.create_channel(
                conn,
                owner,
                keyring,
                address="+14155550100",
                provider="twilio",
                credentials={"account_sid": api.account_sid, "auth_token": api.auth_token},
                consent_sync=True,
                accounts_base_url=server.url,
            )
        with_sync = _import(engine, ws_id, second)
        rows.append(
            {
                "name": f"import {size:,} opt-outs with a Twilio sync channel (outbox rows too)",
                "value": with_sync,
                "unit": "rows/s",
                "baseline": without_sync,
                "baseline_name": "the same import with no channel syncing (no outbox rows)",
                "target": "the outbox rows cost one INSERT ... SELECT (no channel: one lookup)",
            }
        )
        # 1. The rate: everything imported so far, pushed on the scaled clock, nothing beside.
        pusher = provider_sync.Pusher(
            engine,
            keyring,
            httpx.Client(timeout=5.0),
            clock=provider_sync.Clock(now=clock.now, sleep=clock.sleep),
            workspace_id=ws_id,
        )
        began, wall = clock.time(), time.perf_counter()
        results = [pusher.run_pass()]
        wall = time.perf_counter() - wall
        simulated = clock.time() - began

        # 2. Beside the gate and an import: a push at Twilio's real pace (a burst of up to 100
        # requests, then the rest of the minute idle), as the worker's sync thread runs it.
        with write(engine) as conn:  # reports to push during the measurements
            bulk_opt_out(
                conn, ws_id, third[size // 2 :], method=Method.IMPORT, reason="b", actor="b"
            )
        half = third[: size // 2]
        # The live push talks to a server on the wall clock (the scaled one stands still now).
        real_api = TwilioConsentApi(WallClock())  # type: ignore[arg-type]
        real_server = ScriptedServer(real_api.handle).start()
        with write(engine) as conn:
            channels.update_channel(
                conn, owner, keyring, channel.id, accounts_base_url=real_server.url
            )
        gate_alone = _gate_rate(engine, ws_id, first)
        import_alone = _import(engine, ws_id, half[: len(half) // 2])
        live = provider_sync.Pusher(engine, keyring, httpx.Client(timeout=5.0), workspace_id=ws_id)
        stop = threading.Event()

        def sync_thread() -> None:
            while not stop.is_set():
                results.append(live.run_pass(wait=False, max_wait=2.0, max_requests=3))
                stop.wait(0.5)

        thread = threading.Thread(target=sync_thread)
        thread.start()
        import_during = _import(engine, ws_id, half[len(half) // 2 :])
        gate_during = _gate_rate(engine, ws_id, first)
        stop.set()
        thread.join()
        real_server.stop()
        with write(engine) as conn:
            channels.update_channel(conn, owner, keyring, channel.id, accounts_base_url=server.url)
        results.append(pusher.run_pass())  # what is left, on the scaled clock
        server.stop()
        delivered = sum(r.delivered for r in results)
        with write(engine) as conn:
            counts = provider_sync.status(conn, ws_id, limit=1).counts
        assert counts == {"delivered": delivered}, (counts, delivered)  # every one, once
        rows.append(
            {
                "name": f"push {delivered:,} opt-outs to Twilio: most records in any 60 s",
                "value": float(api.max_in_any_window(items=True)),
                "unit": "records/min",
                "baseline": 2500.0,
                "baseline_name": "Twilio's documented limit: 100 requests/min x 25 items",
                "target": "= 2,500/min (the limit, kept exactly) and no 429",
                "sustained_records_per_min": delivered / (simulated / 60 + 1),
                "429s": api.rejected_429,
                "max_requests_in_any_minute": api.max_in_any_window(),
                "simulated_minutes": simulated / 60,
                "wall_seconds": wall,
            }
        )
        rows.append(
            {
                "name": "429 answers from the rate-enforcing server during the push",
                "value": float(api.rejected_429 + real_api.rejected_429),
                "unit": "",
                "baseline": None,
                "target": "0",
            }
        )
        rows.append(
            {
                "name": "most Consents/Bulk requests in any 60 s of the push",
                "value": float(api.max_in_any_window()),
                "unit": "requests",
                "baseline": 100.0,
                "baseline_name": "Twilio's limit per account per minute",
                "target": "<= 100",
            }
        )
        rows.append(
            {
                "name": "gate checks while the push runs (real pace)",
                "value": gate_during,
                "unit": "checks/s",
                "baseline": gate_alone,
                "baseline_name": "gate checks with no push running",
                "target": "the gate never waits on the push (own thread, no shared lock)",
            }
        )
        rows.append(
            {
                "name": f"import {len(half) - len(half) // 2:,} opt-outs while the push runs",
                "value": import_during,
                "unit": "rows/s",
                "baseline": import_alone,
                "baseline_name": f"importing {len(half) // 2:,} just before, no push running",
                "target": "",
            }
        )
        engine.dispose()
    return rows
