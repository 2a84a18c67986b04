"""SQL for signed ledger checkpoints: every workspace's chain head, and the checkpoints kept."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, and_, func, insert, select

from stopline.domain.checkpoint import Head, timestamp
from stopline.domain.consent import utc
from stopline.store.tables import consent_events, ledger_checkpoints, ledger_heads


def current_heads(conn: Connection, workspace_id: int | None = None) -> list[Head]:
    """Each workspace's chain head with its last event's recording time, by workspace id."""
    query = (
        select(ledger_heads.c.workspace_id, ledger_heads.c.seq, ledger_heads.c.hash)
        .add_columns(consent_events.c.recorded_at)
        .select_from(
            ledger_heads.outerjoin(
                consent_events,
                and_(
                    consent_events.c.workspace_id == ledger_heads.c.workspace_id,
                    consent_events.c.seq == ledger_heads.c.seq,
                ),
            )
        )
        .order_by(ledger_heads.c.workspace_id)
    )
    if workspace_id is not None:
        query = query.where(ledger_heads.c.workspace_id == workspace_id)
    return [
        Head(
            int(row.workspace_id),
            int(row.seq),
            str(row.hash),
            timestamp(utc(_dt(row.recorded_at))) if row.recorded_at is not None else None,
        )
        for row in conn.execute(query)
    ]


def _dt(value: datetime | str) -> datetime:
    return datetime.fromisoformat(value) if isinstance(value, str) else value


def insert_checkpoint(
    conn: Connection, workspace_id: int, seq: int, created_at: datetime, document: str
) -> None:
    conn.execute(
        insert(ledger_checkpoints).values(
            workspace_id=workspace_id, seq=seq, created_at=created_at, document=document
        )
    )


def latest_created_at(conn: Connection) -> datetime | None:
    value = conn.execute(select(func.max(ledger_checkpoints.c.created_at))).scalar()
    return utc(_dt(value)) if value is not None else None


def covering(conn: Connection, workspace_id: int, seq: int) -> str | None:
    """The newest checkpoint of the workspace that covers event `seq` (its seq is >= `seq`)."""
    return conn.execute(
        select(ledger_checkpoints.c.document)
        .where(ledger_checkpoints.c.workspace_id == workspace_id, ledger_checkpoints.c.seq >= seq)
        .order_by(ledger_checkpoints.c.created_at.desc(), ledger_checkpoints.c.id.desc())
        .limit(1)
    ).scalar()
