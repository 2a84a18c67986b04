"""SQL for first-message disclosures: which message carries a number's disclosure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy import (
    Connection,
    delete,
    select,
    text,
)

from stopline.store.db import among, dialect_insert, is_sqlite
from stopline.store.tables import (
    disclosures,
)

_PG_DISCLOSURES = text(
    """
INSERT INTO disclosures (workspace_id, number, message_id, created_at)
SELECT :workspace_id, v.number, v.message_id, :now
  FROM unnest(CAST(:numbers AS text[]), CAST(:message_ids AS bigint[])) AS v(number, message_id)
 ORDER BY v.number
ON CONFLICT (workspace_id, number) DO NOTHING
RETURNING number
"""
)


def claim_disclosures(
    conn: Connection, workspace_id: int, firsts: Mapping[str, int], now: datetime
) -> set[str]:
    """Record that each number's disclosure goes with the given message, unless some message
    already carried it; returns the numbers whose disclosure goes with our message.

    Inserted in number order with ON CONFLICT DO NOTHING: on PostgreSQL a concurrent hand-off
    to the same number waits for ours to commit or roll back, so exactly one message carries
    it. Then the rows naming our messages are the ones we won (a plain executemany and an IN
    query: both statements compile once and stay cached, unlike a multi-row RETURNING).
    """
    if not firsts:
        return set()
    rows = [
        {"workspace_id": workspace_id, "number": n, "message_id": firsts[n], "created_at": now}
        for n in sorted(firsts)
    ]
    if is_sqlite(conn):
        conn.execute(
            dialect_insert(conn, disclosures).on_conflict_do_nothing(
                index_elements=["workspace_id", "number"]
            ),
            rows,
        )
    else:
        won = conn.execute(
            _PG_DISCLOSURES,
            {
                "workspace_id": workspace_id,
                "numbers": [r["number"] for r in rows],
                "message_ids": [r["message_id"] for r in rows],
                "now": now,
            },
        )
        return set(won.scalars())
    ours = conn.execute(
        select(disclosures.c.number).where(
            disclosures.c.workspace_id == workspace_id,
            among(conn, disclosures.c.message_id, sorted(firsts.values())),
        )
    )
    return set(ours.scalars())


def release_disclosures(conn: Connection, workspace_id: int, message_ids: Sequence[int]) -> None:
    """Forget disclosures whose message was not delivered after all, so the next one carries it."""
    if message_ids:
        conn.execute(
            delete(disclosures).where(
                disclosures.c.workspace_id == workspace_id,
                disclosures.c.message_id.in_(list(message_ids)),
            )
        )
