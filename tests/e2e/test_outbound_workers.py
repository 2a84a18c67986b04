"""Real `stopline worker` processes: four on PostgreSQL, one SIGKILLed mid-campaign, STOPs arriving
while it sends. Every recipient gets exactly one message; no opted-out number gets any; the
killed worker's claimed messages are handed off by the others once its lease expires. And a
worker stops gracefully on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from stopline.security import Keyring
from stopline.services import campaigns, jobs, workspaces
from stopline.store.db import make_engine, write
from stopline.store.migrate import upgrade
from stopline.store.tables import console_outbox, messages
from tests.conftest import PG_URL, drop_postgres_database, fresh_postgres_database
from tests.outbound import number, owner, stop_reply

SECRET = "e2e-secret"


def _env(url: str, data_dir: Path) -> dict[str, str]:
    return {
        **os.environ,
        "STOPLINE_DATABASE_URL": url,
        "STOPLINE_DATA_DIR": str(data_dir),
        "STOPLINE_SECRET_KEY": SECRET,
    }


def stopline_command() -> list[str]:
    """The installed `stopline` entry point beside this interpreter (the same code otherwise)."""
    script = Path(sys.executable).parent / "stopline"
    if script.exists():
        return [str(script)]
    code = "import sys; from stopline.cli.main import main; sys.argv[0] = 'stopline'; main()"
    return [sys.executable, "-c", code]


def start_worker(url: str, data_dir: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*stopline_command(), "worker", *args],
        env=_env(url, data_dir),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def stop_all(workers: list[subprocess.Popen[str]]) -> list[tuple[str, str]]:
    """SIGTERM every live worker and collect its output; SIGKILL any that will not stop."""
    for w in workers:
        if w.poll() is None:
            w.send_signal(signal.SIGTERM)
    outputs = []
    for w in workers:
        try:
            outputs.append(w.communicate(timeout=30))
        except subprocess.TimeoutExpired:
            w.kill()
            outputs.append(w.communicate())
    return outputs


@pytest.fixture
def pg_url() -> Iterator[str]:
    if not PG_URL:
        pytest.skip("set STOPLINE_TEST_DATABASE_URL to run the multi-process PostgreSQL test")
    url, admin = fresh_postgres_database()
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    yield url
    drop_postgres_database(admin, url)


def counts(engine: sa.Engine, ws_id: int) -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(messages.c.status, sa.func.count())
            .where(messages.c.workspace_id == ws_id)
            .group_by(messages.c.status)
        )
        return {status: int(n) for status, n in rows}


def delivered(engine: sa.Engine, ws_id: int) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                sa.select(sa.func.count()).where(console_outbox.c.workspace_id == ws_id)
            ).scalar_one()
        )


@pytest.mark.slow
@pytest.mark.postgres
def test_four_workers_one_killed_mid_campaign_every_recipient_exactly_once(
    pg_url: str, tmp_path: Path
) -> None:
    engine = make_engine(pg_url)
    with write(engine) as conn:
        created = workspaces.create_workspace(
            conn, name="Kill test", owner_email="k@example.com", owner_password="long password"
        )
    ws = created.workspace
    with write(engine) as conn:
        channel = workspaces.add_channel(
            conn, ws.id, Keyring(SECRET), address=number(), provider="console"
        )
    members = sorted({number() for _ in range(3000)})
    opted_before = members[::50]
    with write(engine) as conn:
        made = campaigns.create_list(conn, owner(ws), "Everyone")
        campaigns.add_members(conn, owner(ws), made.id, members)
    for n in opted_before:
        stop_reply(engine, ws, n)
    with write(engine) as conn:
        campaign = campaigns.create_campaign(
            conn, owner(ws), name="Big", body="Big news", list_ids=[made.id], channel_id=channel.id
        )
    # Expand first, so the kill lands among sends (the job itself is covered elsewhere).
    while jobs.run_next(engine, "e2e", ["campaign"]) is not None:
        pass
    recipients = len(members) - len(opted_before)
    assert counts(engine, ws.id) == {"queued": recipients, "failed": len(opted_before)}

    args = ("--batch-size", "25", "--lease-seconds", "3", "--poll-interval", "0.05")
    workers = [start_worker(pg_url, tmp_path, *args) for _ in range(4)]
    stopped_mid_run: list[str] = []
    try:
        deadline = time.monotonic() + 50
        while delivered(engine, ws.id) < recipients // 5:
            assert time.monotonic() < deadline, "workers made no progress"
            time.sleep(0.02)
        workers[0].send_signal(signal.SIGKILL)  # mid-campaign, possibly mid-batch
        # STOPs arrive while the others send: whatever was not handed over yet must not go.
        late = [m for m in members[-1000:] if m not in opted_before]  # likely not yet sent
        for n in late[::33]:
            result = stop_reply(engine, ws, n)
            if result.canceled_messages:
                stopped_mid_run.append(n)
        while True:
            state = counts(engine, ws.id)
            if not {"queued", "sending", "scheduled"} & set(state):
                break
            if time.monotonic() > deadline:
                errs = [err[-3000:] for _, err in stop_all(workers)]
                raise AssertionError(f"campaign did not finish: {state}\n" + "\n".join(errs))
            time.sleep(0.1)
    finally:
        outputs = stop_all(workers)
    for w, (_, err) in zip(workers[1:], outputs[1:], strict=True):
        assert w.returncode == 0, err
        assert "Traceback" not in err, err

    with engine.connect() as conn:
        per_number: dict[str, int] = {}
        for row in conn.execute(
            sa.select(console_outbox.c.to_number).where(console_outbox.c.workspace_id == ws.id)
        ):
            per_number[row.to_number] = per_number.get(row.to_number, 0) + 1
        rows = {
            r.to_number: r
            for r in conn.execute(sa.select(messages).where(messages.c.campaign_id == campaign.id))
        }
    assert set(per_number.values()) == {1}, "some number got more than one message"
    for n in opted_before:
        assert n not in per_number and rows[n].refusal_code == "opted_out"
    for n in stopped_mid_run:
        assert n not in per_number and rows[n].status == "canceled"
    for n in members:
        if n not in opted_before and n not in stopped_mid_run:
            assert per_number.get(n) == 1 and rows[n].status == "sent", n
    assert len(stopped_mid_run) > 0  # the race really happened mid-campaign
    engine.dispose()


@pytest.mark.slow
def test_a_worker_stops_gracefully_on_sigterm(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'graceful.db'}"
    engine = make_engine(url)
    upgrade(engine)
    worker = start_worker(url, tmp_path, "--poll-interval", "0.05", "--json")
    assert worker.stderr is not None
    assert "worker running" in worker.stderr.readline()  # signal handlers are installed
    worker.send_signal(signal.SIGTERM)
    out, err = worker.communicate(timeout=30)
    assert worker.returncode == 0, err
    stats: dict[str, Any] = json.loads(out)
    assert stats["errors"] == 0
    engine.dispose()
