"""Adding members to a list on SQLite now that each membership is a ledger event.

- add: 100,000 numbers (10,000 quick) subscribed to one list through `services.lists.add_members`
  (E.164 check, one hash-chained `list_subscribe` event per number, the list_members rows, one
  transaction); baseline: one raw sqlite3 executemany of the same numbers into list_members.
- verify: `ledger verify` of the workspace afterwards (chain, state tables, rules, memberships);
  baseline: reading every event row with a raw cursor.
"""

from __future__ import annotations

import random
import sqlite3
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from stopline.services import ledger as ledger_service
from stopline.services import lists, workspaces
from stopline.store.db import make_engine, read, write
from stopline.store.migrate import upgrade

_AREAS = ("212", "213", "305", "312", "404", "415", "512", "617", "646", "702", "718", "917")


def _numbers(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    out: dict[str, None] = {}
    while len(out) < count:
        exchange = rng.randint(200, 999)
        if exchange % 100 != 11:
            out[f"+1{rng.choice(_AREAS)}{exchange}{rng.randint(0, 9999):04d}"] = None
    return list(out)


def run(quick: bool = False) -> list[dict[str, Any]]:
    size = 10_000 if quick else 100_000
    numbers = _numbers(size, 7)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.db"
        engine = make_engine(f"sqlite:///{path}")
        upgrade(engine)
        with write(engine) as conn:
            created = workspaces.create_workspace(
                conn, name="Bench", owner_email="bench@example.com", owner_password="benchmark1"
            )
            owner = workspaces.Principal(created.workspace.id, "owner", "bench")
            raw_list = lists.create_list(conn, owner, name="Raw").id
            real_list = lists.create_list(conn, owner, name="Real").id

        raw = sqlite3.connect(path)
        now = datetime.now(UTC).isoformat(sep=" ")
        started = time.perf_counter()
        raw.executemany(
            "INSERT INTO list_members (list_id, number, workspace_id, subscribed_at)"
            " VALUES (?, ?, ?, ?)",
            ((raw_list, n, created.workspace.id, now) for n in numbers),
        )
        raw.commit()
        baseline = size / (time.perf_counter() - started)
        raw.execute("DELETE FROM list_members WHERE list_id = ?", (raw_list,))
        raw.commit()

        started = time.perf_counter()
        with write(engine) as conn:
            added = lists.add_members(conn, owner, real_list, numbers)
        rate = size / (time.perf_counter() - started)
        assert len(added.added) == size

        started = time.perf_counter()
        rows = raw.execute(
            "SELECT * FROM consent_events WHERE workspace_id = ? ORDER BY seq",
            (created.workspace.id,),
        ).fetchall()
        read_rate = len(rows) / (time.perf_counter() - started)
        raw.close()
        started = time.perf_counter()
        with read(engine) as conn:
            report = ledger_service.verify(conn, created.workspace.id)
        verify_rate = report.events / (time.perf_counter() - started)
        assert report.ok and report.events == size
        engine.dispose()
    return [
        {
            "name": f"add {size:,} list members, SQLite (ledger events)",
            "value": rate,
            "unit": "numbers/s",
            "baseline": baseline,
            "baseline_name": "raw sqlite3 executemany into list_members",
        },
        {
            "name": f"ledger verify after it ({size:,} events)",
            "value": verify_rate,
            "unit": "events/s",
            "baseline": read_rate,
            "baseline_name": "raw sqlite3 read of every event row",
        },
    ]
