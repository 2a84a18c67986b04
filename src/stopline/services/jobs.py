"""Background jobs as users see them: enqueue, follow progress, read the result.

A job kind is handled by a function registered with `handler(kind)`; the worker claims jobs
and runs the handler, which reports progress through `Progress` and returns a JSON result.
A handler must do its writes so that a retry after a crash cannot half-apply (one transaction,
or idempotent steps).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine

from stopline.domain.errors import NotFound
from stopline.security import Keyring
from stopline.services.consent import now_utc
from stopline.store import jobs as store
from stopline.store.db import write

LEASE = timedelta(minutes=2)


@dataclass(frozen=True)
class Job:
    id: int
    workspace_id: int
    kind: str
    status: str
    payload: dict[str, Any]
    result: dict[str, Any] | None
    error: str | None
    progress_done: int
    progress_total: int | None
    attempts: int
    created_by: str | None
    created_at: datetime
    finished_at: datetime | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "status": self.status,
            "progress": {"done": self.progress_done, "total": self.progress_total},
            "result": self.result,
            "error": self.error,
            "created_by": self.created_by,
            "created_at": self.created_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
        }


def job_from_row(row: Any) -> Job:
    from stopline.domain.consent import utc

    return Job(
        id=row.id,
        workspace_id=row.workspace_id,
        kind=row.kind,
        status=row.status,
        payload=dict(row.payload or {}),
        result=row.result,
        error=row.error,
        progress_done=int(row.progress_done or 0),
        progress_total=row.progress_total,
        attempts=int(row.attempts or 0),
        created_by=row.created_by,
        created_at=utc(row.created_at),
        finished_at=utc(row.finished_at) if row.finished_at else None,
    )


def enqueue(
    conn: Connection,
    workspace_id: int,
    kind: str,
    payload: dict[str, Any],
    *,
    created_by: str | None = None,
    total: int | None = None,
) -> Job:
    now = now_utc()
    job_id = store.insert_job(
        conn,
        workspace_id=workspace_id,
        kind=kind,
        status="queued",
        payload=payload,
        progress_done=0,
        progress_total=total,
        attempts=0,
        available_at=now,
        created_by=created_by,
        created_at=now,
    )
    return get(conn, workspace_id, job_id)


def get(conn: Connection, workspace_id: int, job_id: int) -> Job:
    row = store.get_job(conn, workspace_id, job_id)
    if row is None:
        raise NotFound(f"No job {job_id}.", code="job_not_found")
    return job_from_row(row)


def recent(
    conn: Connection, workspace_id: int, *, kind: str | None = None, limit: int = 20
) -> list[Job]:
    """The workspace's latest jobs, newest first (optionally of one kind)."""
    return [job_from_row(r) for r in store.recent_jobs(conn, workspace_id, kind=kind, limit=limit)]


class Progress:
    """Handed to a handler: records progress and renews the lease in a short transaction."""

    def __init__(self, engine: Engine, job_id: int, keyring: Keyring | None = None) -> None:
        self.engine = engine
        self.job_id = job_id
        # The worker's keyring, for a job that must open a secret (a workspace's SMTP account).
        self.keyring = keyring

    def __call__(self, done: int, total: int | None = None) -> None:
        with write(self.engine) as conn:
            store.set_progress(conn, self.job_id, done, total, now_utc() + LEASE)


Handler = Callable[[Engine, Job, Progress], dict[str, Any]]
HANDLERS: dict[str, Handler] = {}


def handler(kind: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        HANDLERS[kind] = fn
        return fn

    return register


def run_next(
    engine: Engine, owner: str, kinds: list[str] | None = None, keyring: Keyring | None = None
) -> Job | None:
    """Claim one job and run it to completion; returns it, or None if there was nothing to do."""
    _load_handlers()
    with write(engine) as conn:
        row = store.claim_job(conn, owner, now_utc(), LEASE, kinds or sorted(HANDLERS))
    if row is None:
        return None
    job = job_from_row(row)
    fn = HANDLERS.get(job.kind)
    try:
        if fn is None:
            raise NotFound(f"No handler for job kind {job.kind!r}.", code="job_kind_unknown")
        result = fn(engine, job, Progress(engine, job.id, keyring))
    except Exception as exc:  # noqa: BLE001 - a failed job records why; the worker carries on
        from stopline.domain.errors import StoplineError

        message = exc.message if isinstance(exc, StoplineError) else f"{type(exc).__name__}: {exc}"
        with write(engine) as conn:
            store.finish_job(conn, job.id, status="failed", now=now_utc(), error=message)
    else:
        with write(engine) as conn:
            store.finish_job(conn, job.id, status="done", now=now_utc(), result=result)
    with write(engine) as conn:
        return get(conn, job.workspace_id, job.id)


# The services that register job handlers; each is imported once before claiming work.
HANDLER_MODULES = (
    "stopline.services.imports",
    "stopline.services.exports",
    "stopline.services.campaigns",
)


def _load_handlers() -> None:
    import importlib
    import importlib.util

    for name in HANDLER_MODULES:
        if importlib.util.find_spec(name) is not None:
            importlib.import_module(name)
