"""What an open inbox costs the server each second, on SQLite with 1M messages.

- the live poll: `services.inbox.change_stamp` (newest message and its last update, the ledger
  head, pending reviews, conversation counts), which answers the 1 s htmx poll (204 when
  nothing changed); baseline: a raw sqlite3 primary-key lookup of the ledger head, the
  cheapest query a poll could make.
- the navigation's unread count for one member (`services.inbox.unread_count`, on every page;
  it looks at the 200 most recently active conversations); baseline: the same lookup.
- the floor under both: the app's own read transaction around `SELECT 1`.

quick=True makes every size 10x smaller.
"""

from __future__ import annotations

import random
import sqlite3
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from stopline.security import Keyring
from stopline.services import inbox, workspaces
from stopline.store.db import make_engine, read, write
from stopline.store.migrate import upgrade


def _world(path: Path, messages: int, conversations: int) -> tuple[Any, int, int]:
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    with write(engine) as conn:
        created = workspaces.create_workspace(
            conn, name="Bench", owner_email="bench@example.com", owner_password="benchmark1"
        )
        channel = workspaces.add_channel(
            conn, created.workspace.id, Keyring("bench"), address="+15005550006", provider="console"
        )
    ws = created.workspace.id
    rng = random.Random(7)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    raw = sqlite3.connect(path)
    raw.executemany(
        "INSERT INTO conversations (id, workspace_id, channel_id, number, status, last_message_at,"
        " created_at) VALUES (?, ?, ?, ?, 'open', ?, ?)",
        (
            (i, ws, channel.id, f"+1415{i:07d}", start.isoformat(sep=" "), start.isoformat(sep=" "))
            for i in range(1, conversations + 1)
        ),
    )
    rows = []
    for i in range(1, messages + 1):
        conv = rng.randint(1, conversations)
        at = (start + timedelta(seconds=i)).isoformat(sep=" ")
        inbound = rng.random() < 0.5
        rows.append(
            (
                i,
                f"SM{i:032d}",
                ws,
                "in" if inbound else "out",
                channel.id,
                conv,
                f"+1415{conv:07d}" if inbound else "+15005550006",
                "+15005550006" if inbound else f"+1415{conv:07d}",
                "Thanks, see you Thursday",
                "received" if inbound else "delivered",
                at,
                at,
            )
        )
        if len(rows) == 50_000:
            _insert(raw, rows)
            rows = []
    _insert(raw, rows)
    # The member has read about half of the conversations.
    raw.executemany(
        "INSERT INTO conversation_reads (user_id, conversation_id, workspace_id, message_id)"
        " VALUES (1, ?, ?, ?)",
        ((c, ws, messages // 2) for c in range(1, conversations + 1, 2)),
    )
    raw.commit()
    raw.execute("ANALYZE")
    raw.close()
    return engine, ws, 1


def _insert(raw: sqlite3.Connection, rows: list[tuple[Any, ...]]) -> None:
    raw.executemany(
        "INSERT INTO messages (id, sid, workspace_id, direction, channel_id, conversation_id,"
        " from_address, to_number, body, kind, source, status, hidden, attempts, created_at,"
        " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'normal', 'bench', ?, 0, 0, ?, ?)",
        rows,
    )


def _per_second(fn: Any, calls: int) -> float:
    started = time.perf_counter()
    for _ in range(calls):
        fn()
    return calls / (time.perf_counter() - started)


def run(quick: bool = False) -> list[dict[str, Any]]:
    scale = 10 if quick else 1
    messages, conversations = 1_000_000 // scale, 20_000 // scale
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.db"
        engine, ws, user = _world(path, messages, conversations)
        raw = sqlite3.connect(path)
        baseline = _per_second(
            lambda: raw.execute(
                "SELECT seq, hash FROM ledger_heads WHERE workspace_id = ?", (ws,)
            ).fetchone(),
            2000,
        )
        raw.close()

        def poll() -> None:
            with read(engine) as conn:
                inbox.change_stamp(conn, ws)

        def unread() -> None:
            with read(engine) as conn:
                inbox.unread_count(conn, ws, user)

        def floor() -> None:
            with read(engine) as conn:
                conn.exec_driver_sql("SELECT 1").all()

        floors = _per_second(floor, 2000)
        polls = _per_second(poll, 2000)
        counts = _per_second(unread, 200)
        engine.dispose()
    return [
        {
            "name": f"live inbox poll (change stamp), {messages:,} messages",
            "value": polls,
            "unit": "polls/s",
            "baseline": baseline,
            "baseline_name": "raw sqlite3 primary-key lookup of the ledger head",
            "target": ">= 1,000/s: 1 s polls by a whole team cost little",
        },
        {
            "name": f"unread count (200 most recent of {conversations:,} conversations)",
            "value": counts,
            "unit": "counts/s",
            "baseline": baseline,
            "baseline_name": "raw sqlite3 primary-key lookup of the ledger head",
            "target": "on every page view and changed poll",
        },
        {
            "name": "read transaction around SELECT 1 (the floor of any poll)",
            "value": floors,
            "unit": "txns/s",
            "baseline": baseline,
            "baseline_name": "raw sqlite3 primary-key lookup of the ledger head",
            "target": "context for the rows above",
        },
    ]
