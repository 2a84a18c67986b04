"""Workers: claim due messages and background jobs, hand the messages off, run the jobs.

One `Worker` is one loop (a thread). `WorkerPool` runs `concurrency` send loops plus one job
loop, and stops them gracefully: each finishes the batch in hand, nothing is abandoned
half-done. A worker killed outright (SIGKILL, power loss) leaves its claimed messages in
``sending`` under a lease; when the lease expires any other worker claims them again, and
`services.hand_off.hand_off` re-checks the gate before delivering (see its docstring for the
delivery guarantees). `stopline worker` runs a pool in its own process (several processes on
PostgreSQL is the scale path); `stopline serve` runs one in-process through `InProcessWorker`.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import Engine

from stopline.providers.base import get_provider
from stopline.security import Keyring
from stopline.services import checkpoints, hand_off, jobs, joins, provider_outcomes
from stopline.services import consent as consent_service
from stopline.store.db import wait_for_checkpoints

log = logging.getLogger(__name__)


def worker_name(suffix: str = "") -> str:
    """host:pid:random — unique per loop, so a lease names exactly one owner."""
    base = f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
    return f"{base}:{suffix}" if suffix else base


@dataclass
class Stats:
    sent: int = 0
    failed: int = 0
    retried: int = 0
    skipped: int = 0
    jobs: int = 0
    errors: int = 0
    by_status: dict[str, int] = field(default_factory=dict)

    def add(self, results: list[provider_outcomes.HandOff]) -> None:
        for r in results:
            self.by_status[r.status] = self.by_status.get(r.status, 0) + 1
            if r.status == "sent":
                self.sent += 1
            elif r.status == "failed":
                self.failed += 1
            elif r.status == "queued":
                self.retried += 1
            else:
                self.skipped += 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "sent": self.sent,
            "failed": self.failed,
            "retried": self.retried,
            "skipped": self.skipped,
            "jobs": self.jobs,
            "errors": self.errors,
        }


class Worker:
    """One claim-and-hand-off loop. Thread-confined: give each thread its own Worker."""

    def __init__(
        self,
        engine: Engine,
        keyring: Keyring,
        *,
        name: str | None = None,
        batch_size: int = 200,
        lease: timedelta = hand_off.LEASE,
        poll_interval: float = 0.5,
        providers: hand_off.ProviderLookup = get_provider,
        clock: Callable[[], datetime] = consent_service.now_utc,
        checkpoint: checkpoints.Schedule | None = None,
    ) -> None:
        self.engine = engine
        self.checkpoint = checkpoint
        self._checkpoint_checked = -float("inf")
        self.keyring = keyring
        self.owner = name or worker_name()
        self.batch_size = batch_size
        self.lease = lease
        self.poll_interval = poll_interval
        self.providers = providers
        self.clock = clock
        self.stats = Stats()
        self._http: httpx.Client | None = None

    @property
    def http(self) -> httpx.Client:
        if self._http is None:
            self._http = httpx.Client(timeout=httpx.Timeout(15.0, connect=5.0))
        return self._http

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None

    def send_batch(self) -> int:
        """Claim and hand off one batch; returns how many messages were claimed."""
        ids = hand_off.claim(
            self.engine, self.owner, limit=self.batch_size, lease=self.lease, now=self.clock()
        )
        if ids:
            self.stats.add(
                hand_off.hand_off(
                    self.engine,
                    ids,
                    owner=self.owner,
                    keyring=self.keyring,
                    http=self.http,
                    providers=self.providers,
                    now=self.clock,
                )
            )
        return len(ids)

    def run_job(self) -> bool:
        """Run one background job (campaign expansion, import, export) if one is due."""
        job = jobs.run_next(self.engine, self.owner, keyring=self.keyring)
        if job is not None:
            self.stats.jobs += 1
        self.checkpoint_if_due()
        return job is not None

    def checkpoint_if_due(self) -> None:
        """Once a minute: expire unanswered double opt-ins, and write the daily signed ledger
        checkpoint when it is due."""
        if time.monotonic() - self._checkpoint_checked < 60:
            return
        self._checkpoint_checked = time.monotonic()
        try:
            joins.expire_due(self.engine, self.clock())
            if self.checkpoint is not None:
                checkpoints.write_if_due(self.engine, self.keyring, self.checkpoint, self.clock())
        except Exception:  # noqa: BLE001 - housekeeping must not hold up jobs; retried next minute
            log.exception("worker %s: minute housekeeping failed", self.owner)

    def loop(self, stop: threading.Event, step: Callable[[], Any]) -> None:
        """Repeat `step` until `stop` is set; idle for `poll_interval` when it found nothing."""
        failures = 0
        while not stop.is_set():
            try:
                busy = bool(step())
                failures = 0
            except Exception:  # noqa: BLE001 - a database hiccup must not kill the worker
                self.stats.errors += 1
                failures += 1
                log.exception("worker %s: step failed", self.owner)
                stop.wait(min(30.0, 0.5 * 2**failures))
                continue
            if not busy:
                stop.wait(self.poll_interval)
        self.close()

    def drain(self, *, jobs_too: bool = True) -> Stats:
        """Work until nothing is due (`stopline worker --once`, tests)."""
        while True:
            ran_job = self.run_job() if jobs_too else False
            sent = self.send_batch()
            if not ran_job and not sent:
                break
        self.close()
        return self.stats


class WorkerPool:
    """`concurrency` send loops and one job loop, in threads, stopped together."""

    def __init__(
        self,
        engine: Engine,
        keyring: Keyring,
        *,
        concurrency: int = 1,
        batch_size: int = 200,
        lease: timedelta = hand_off.LEASE,
        poll_interval: float = 0.5,
        run_jobs: bool = True,
        checkpoint: checkpoints.Schedule | None = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.stop_event = threading.Event()
        self.workers = [
            Worker(
                engine,
                keyring,
                name=worker_name(f"s{i}"),
                batch_size=batch_size,
                lease=lease,
                poll_interval=poll_interval,
            )
            for i in range(concurrency)
        ]
        self.job_worker = (
            Worker(
                engine,
                keyring,
                name=worker_name("j"),
                poll_interval=poll_interval,
                checkpoint=checkpoint,
            )
            if run_jobs
            else None
        )
        # Provider consent sync runs in its own loop: a slow provider never holds up sends.
        self.sync_worker = (
            Worker(engine, keyring, name=worker_name("y"), poll_interval=max(poll_interval, 1.0))
            if run_jobs
            else None
        )
        self.threads: list[threading.Thread] = []

    def start(self) -> None:
        for worker in self.workers:
            self._spawn(worker, worker.send_batch)
        if self.job_worker is not None:
            self._spawn(self.job_worker, self.job_worker.run_job)
        if self.sync_worker is not None:
            from stopline.worker.sync import SyncRunner

            sync_worker = self.sync_worker
            runner = SyncRunner(sync_worker.engine, sync_worker.keyring, lambda: sync_worker.http)
            self._spawn(sync_worker, runner.step)

    def _spawn(self, worker: Worker, step: Callable[[], Any]) -> None:
        thread = threading.Thread(
            target=worker.loop,
            args=(self.stop_event, step),
            name=f"stopline-{worker.owner}",
            daemon=True,
        )
        thread.start()
        self.threads.append(thread)

    def stop(self, timeout: float = 30.0) -> None:
        """Ask every loop to finish its current batch, and wait for them (and for a finished
        import's background checkpoint)."""
        self.stop_event.set()
        for thread in self.threads:
            thread.join(timeout)
        wait_for_checkpoints(timeout)

    def stats(self) -> dict[str, int]:
        total: dict[str, int] = {}
        everyone = self.workers + ([self.job_worker] if self.job_worker else [])
        for worker in everyone:
            for key, value in worker.stats.as_dict().items():
                total[key] = total.get(key, 0) + value
        return total


class InProcessWorker:
    """The worker `stopline serve` runs beside the web app (the embedded default)."""

    def __init__(self, runtime: Any, *, concurrency: int = 1) -> None:
        self.runtime = runtime
        self.concurrency = concurrency
        self.pool: WorkerPool | None = None

    def start(self) -> None:
        """Start processing queued sends and jobs in background threads."""
        config = getattr(self.runtime, "config", None)  # none: no data dir for checkpoint files
        self.pool = WorkerPool(
            self.runtime.engine,
            self.runtime.keyring,
            concurrency=self.concurrency,
            checkpoint=checkpoint_schedule(config) if config is not None else None,
        )
        self.pool.start()

    def stop(self) -> None:
        """Stop after the current batch."""
        if self.pool is not None:
            self.pool.stop()
            self.pool = None


def checkpoint_schedule(config: Any) -> checkpoints.Schedule:
    """The daily ledger checkpoint of a process's configuration (files under its data dir)."""
    return checkpoints.Schedule(
        data_dir=config.data_dir,
        url=config.checkpoint_url,
        token=config.checkpoint_token,
        email=config.checkpoint_email,
    )
