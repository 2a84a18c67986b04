"""SQL for background jobs (imports, exports, campaign expansion): enqueue, claim with a lease, finish."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, insert, or_, select, update
from sqlalchemy.engine import Row

from stopline.store.db import insert_id, is_sqlite
from stopline.store.tables import jobs


def insert_job(conn: Connection, **values: Any) -> int:
    return insert_id(conn, insert(jobs).values(**values))


def get_job(conn: Connection, workspace_id: int, job_id: int) -> Row[Any] | None:
    return conn.execute(
        select(jobs).where(jobs.c.workspace_id == workspace_id, jobs.c.id == job_id)
    ).one_or_none()


def claim_job(
    conn: Connection, owner: str, now: datetime, lease: timedelta, kinds: list[str] | None = None
) -> Row[Any] | None:
    """Claim the oldest runnable job: queued, or running with an expired lease (a dead worker's).

    PostgreSQL: FOR UPDATE SKIP LOCKED lets many workers claim without waiting on each other.
    SQLite: the transaction already holds the database's write lock, so the claim is exclusive.
    """
    runnable = or_(
        (jobs.c.status == "queued") & (jobs.c.available_at <= now),
        (jobs.c.status == "running") & (jobs.c.lease_until < now),
    )
    query = select(jobs.c.id).where(runnable).order_by(jobs.c.id).limit(1)
    if kinds:
        query = query.where(jobs.c.kind.in_(kinds))
    if not is_sqlite(conn):
        query = query.with_for_update(skip_locked=True)
    job_id = conn.execute(query).scalar_one_or_none()
    if job_id is None:
        return None
    conn.execute(
        update(jobs)
        .where(jobs.c.id == job_id)
        .values(
            status="running",
            lease_owner=owner,
            lease_until=now + lease,
            attempts=jobs.c.attempts + 1,
            started_at=now,
        )
    )
    return conn.execute(select(jobs).where(jobs.c.id == job_id)).one()


def set_progress(
    conn: Connection, job_id: int, done: int, total: int | None, lease_until: datetime | None
) -> None:
    values: dict[str, Any] = {"progress_done": done}
    if total is not None:
        values["progress_total"] = total
    if lease_until is not None:
        values["lease_until"] = lease_until
    conn.execute(update(jobs).where(jobs.c.id == job_id).values(**values))


def finish_job(
    conn: Connection,
    job_id: int,
    *,
    status: str,
    now: datetime,
    result: dict[str, Any] | None = None,
    error: str | None = None,
) -> None:
    conn.execute(
        update(jobs)
        .where(jobs.c.id == job_id)
        .values(status=status, result=result, error=error, finished_at=now, lease_owner=None)
    )


def recent_jobs(
    conn: Connection, workspace_id: int, *, kind: str | None = None, limit: int = 20
) -> list[Row[Any]]:
    """A workspace's jobs, newest first (optionally of one kind)."""
    query = select(jobs).where(jobs.c.workspace_id == workspace_id)
    if kind is not None:
        query = query.where(jobs.c.kind == kind)
    return list(conn.execute(query.order_by(jobs.c.id.desc()).limit(limit)))
