"""`stopline worker`: a process that hands queued messages to providers and runs background jobs."""

from __future__ import annotations

import signal
import threading
from datetime import timedelta
from typing import Annotated, Any

import typer

from stopline.cli.main import JsonOpt, app, emit, err_console, runtime


@app.command()
def worker(
    concurrency: Annotated[
        int, typer.Option(help="Send loops in this process (threads).", min=1, max=64)
    ] = 1,
    once: Annotated[
        bool, typer.Option("--once", help="Work until nothing is due, then exit.")
    ] = False,
    batch_size: Annotated[int, typer.Option(help="Messages claimed at a time.", min=1)] = 200,
    lease_seconds: Annotated[
        float,
        typer.Option(
            help="How long a claim lasts; a killed worker's messages are retried after it.",
            min=1,
        ),
    ] = 60.0,
    poll_interval: Annotated[
        float, typer.Option(help="Seconds to wait when there is nothing to do.", min=0.01)
    ] = 0.5,
    as_json: JsonOpt = False,
) -> None:
    """Claim queued messages and jobs; SIGTERM or Ctrl-C stops after the current batch."""
    from stopline.worker.runner import Worker, WorkerPool, checkpoint_schedule

    rt = runtime()
    lease = timedelta(seconds=lease_seconds)
    if once:
        stats = Worker(rt.engine, rt.keyring, batch_size=batch_size, lease=lease).drain()
        emit(stats.as_dict(), as_json, f"done: {stats.as_dict()}")
        return
    pool = WorkerPool(
        rt.engine,
        rt.keyring,
        concurrency=concurrency,
        batch_size=batch_size,
        lease=lease,
        poll_interval=poll_interval,
        checkpoint=checkpoint_schedule(rt.config),
    )
    stopping = threading.Event()

    def _stop(signum: int, _frame: Any) -> None:
        if stopping.is_set():
            raise SystemExit(130)  # a second signal: stop now
        stopping.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    pool.start()
    err_console.print(
        f"worker running ({concurrency} send loop(s)); SIGTERM or Ctrl-C stops it",
        highlight=False,
    )
    while not stopping.wait(0.5):
        pass
    pool.stop()
    emit(pool.stats(), as_json, f"stopped: {pool.stats()}")
