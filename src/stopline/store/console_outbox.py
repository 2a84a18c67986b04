"""SQL for the console provider's deliveries (the `console_outbox` table)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import (
    Connection,
    select,
    text,
)
from sqlalchemy.engine import Row

from stopline.store.db import dialect_insert, is_sqlite
from stopline.store.tables import (
    console_outbox,
)

_PG_CONSOLE = text(
    """
INSERT INTO console_outbox (workspace_id, message_id, idempotency_key, to_number,
                            from_address, body, created_at)
SELECT * FROM unnest(CAST(:workspace_id AS integer[]), CAST(:message_id AS bigint[]),
                     CAST(:idempotency_key AS text[]), CAST(:to_number AS text[]),
                     CAST(:from_address AS text[]), CAST(:body AS text[]),
                     CAST(:created_at AS timestamptz[]))
ON CONFLICT (idempotency_key) DO NOTHING
"""
)


def insert_console_deliveries(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    """The console provider's deliveries, in one statement. A key already present means this
    message was delivered before, and it is not delivered again."""
    if not rows:
        return
    if is_sqlite(conn):
        conn.execute(
            dialect_insert(conn, console_outbox).on_conflict_do_nothing(
                index_elements=["idempotency_key"]
            ),
            [dict(r) for r in rows],
        )
        return
    keys = ["workspace_id", "message_id", "idempotency_key", "to_number", "from_address"]
    params = {k: [r[k] for r in rows] for k in [*keys, "body", "created_at"]}
    conn.execute(_PG_CONSOLE, params)


def console_deliveries(
    conn: Connection, workspace_id: int, *, to_number: str | None = None, limit: int = 100
) -> list[Row[Any]]:
    query = select(console_outbox).where(console_outbox.c.workspace_id == workspace_id)
    if to_number is not None:
        query = query.where(console_outbox.c.to_number == to_number)
    return list(conn.execute(query.order_by(console_outbox.c.id.desc()).limit(limit)))
