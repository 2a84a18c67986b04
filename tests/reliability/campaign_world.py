"""Building and running the fault tests' world: a workspace, a 10,000-recipient campaign, workers.

Kept apart from the tests so each step has a name: `seed_campaign` builds the world through the
services, `WorkerProcesses` runs real `stopline worker` processes, `inject_stop` sends a STOP
through the real inbound pipeline and records when it had certainly committed (by the
database's own clock), `ledger_of_deliveries` reads what the console provider delivered.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.exc import InterfaceError, OperationalError

from stopline.providers.base import InboundMessage
from stopline.security import Keyring
from stopline.services import campaigns, inbound, jobs, optouts, workspaces
from stopline.services.inbound_context import InboundChannel
from stopline.services.workspaces import Principal
from stopline.store.db import read, write
from stopline.store.tables import console_outbox, messages

SECRET = "fault-test-secret"
T = TypeVar("T")


def recipient(i: int) -> str:
    """The i-th recipient: distinct, valid numbers (Toronto's 416 area, exchanges 200 onwards:
    no US send-time rule holds a campaign to them, whatever the hour the tests run)."""
    return f"+1416{200 + i // 10_000:03d}{i % 10_000:04d}"


@dataclass
class CampaignWorld:
    workspace: workspaces.Workspace
    owner: Principal
    channel: workspaces.Channel
    list_id: int
    campaign_id: int
    recipients: list[str]
    opted_out: set[str]  # before the campaign: manual opt-outs
    blocked: set[str]  # before the campaign: blocks

    @property
    def eligible(self) -> list[str]:
        excluded = self.opted_out | self.blocked
        return [n for n in self.recipients if n not in excluded]

    @property
    def inbound_channel(self) -> InboundChannel:
        return InboundChannel(
            id=self.channel.id,
            workspace_id=self.workspace.id,
            address=self.channel.address,
            provider=self.channel.provider,
            type=self.channel.type,
        )


def seed_campaign(
    engine: sa.Engine, *, size: int, opted_out: int, blocked: int, expand: bool = True
) -> CampaignWorld:
    """A workspace whose list of `size` numbers gets a campaign; some numbers opted out or
    blocked beforehand. With `expand`, the campaign's messages are stored (its job run here)."""
    keyring = Keyring(SECRET)
    numbers = [recipient(i) for i in range(size)]
    with write(engine) as conn:
        created = workspaces.create_workspace(
            conn,
            name=f"Faults {uuid.uuid4().hex[:6]}",
            owner_email=f"faults-{uuid.uuid4().hex[:8]}@example.com",
            owner_password="correct horse battery",
        )
        ws = created.workspace
        owner = Principal(workspace_id=ws.id, role="owner", actor=created.owner_email)
        channel = workspaces.add_channel(
            conn, ws.id, keyring, address="+14155550100", provider="console"
        )
        the_list = campaigns.create_list(conn, owner, "Everyone")
        campaigns.add_members(conn, owner, the_list.id, numbers)
    # Every 50th number opted out, every 50th (offset) blocked: spread over the whole list.
    out = set(numbers[7::50][:opted_out])
    blk = set(numbers[31::50][:blocked])
    with write(engine) as conn:
        for n in sorted(out):
            optouts.add_opt_out(conn, owner, n, reason="asked before the campaign")
        for n in sorted(blk):
            optouts.block(conn, owner, n, reason="abuse")
        campaign = campaigns.create_campaign(
            conn, owner, name="Spring sale", body="Spring sale: 20% off", list_ids=[the_list.id]
        )
    world = CampaignWorld(ws, owner, channel, the_list.id, campaign.id, numbers, out, blk)
    if engine.dialect.name == "postgresql":
        # What autovacuum does after a bulk load; without statistics the planner picks
        # per-row index scans for the suppression query (see the README's production notes).
        with engine.connect() as conn:
            conn.execute(sa.text("ANALYZE list_members, opt_outs, blocks, list_opt_outs, messages"))
            conn.commit()
    if expand:
        expand_campaign(engine)
    return world


def expand_campaign(engine: sa.Engine) -> str | None:
    """Run the campaign's expansion job here; None if a worker had already claimed it (then
    returns the claiming worker's lease owner name instead)."""
    job = jobs.run_next(engine, "test-expander", ["campaign"])
    if job is not None:
        assert job.status == "done", job
        return None
    with read(engine) as conn:
        from stopline.store.tables import jobs as jobs_table

        return conn.execute(
            sa.select(jobs_table.c.lease_owner).where(jobs_table.c.kind == "campaign")
        ).scalar()


def retrying(fn: Callable[[], T], *, attempts: int = 120, pause: float = 0.25) -> T:
    """Run `fn` until the database answers (the fault tests restart it under our feet)."""
    for attempt in range(attempts):
        try:
            return fn()
        except (OperationalError, InterfaceError):
            if attempt == attempts - 1:
                raise
            time.sleep(pause)
    raise AssertionError("unreachable")


def db_now(engine: sa.Engine) -> datetime:
    with read(engine) as conn:
        return conn.execute(sa.text("SELECT clock_timestamp()")).scalar_one()  # type: ignore[no-any-return]


@dataclass
class Stop:
    number: str
    provider_message_id: str
    committed_by: datetime  # a database-clock time at which the STOP had certainly committed


def inject_stop(engine: sa.Engine, world: CampaignWorld, number: str, text: str = "STOP") -> Stop:
    """A STOP through the inbound pipeline (the webhook's service), retried across outages.

    A retry after a lost connection is the provider redelivering the same message (same id):
    if the first attempt had committed, the retry is a replay and changes nothing.
    """
    message_id = f"SM{uuid.uuid4().hex}"
    message = InboundMessage(
        provider="console",
        provider_message_id=message_id,
        from_number=number,
        to_address=world.channel.address,
        body=text,
    )

    def deliver() -> None:
        with write(engine) as conn:
            inbound.receive_inbound(conn, world.inbound_channel, message)

    retrying(deliver)
    return Stop(number, message_id, retrying(lambda: db_now(engine)))


@dataclass
class WorkerProcesses:
    """Real `stopline worker` processes on the test database."""

    url: str
    count: int
    logdir: Path
    args: tuple[str, ...] = ()
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start(self) -> WorkerProcesses:
        env = {
            **os.environ,
            "STOPLINE_DATABASE_URL": self.url,
            "STOPLINE_SECRET_KEY": SECRET,
            "STOPLINE_DATA_DIR": str(self.logdir / "data"),
            "PYTHONUNBUFFERED": "1",
        }
        exe = Path(sys.executable).parent / "stopline"
        for i in range(self.count):
            log = open(self.logdir / f"worker-{i}.log", "wb")  # noqa: SIM115 - kept by the process
            self.procs.append(
                subprocess.Popen(
                    [str(exe), "worker", *self.args],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
        return self

    def kill(self, index: int) -> None:
        self.procs[index].send_signal(signal.SIGKILL)
        self.procs[index].wait(10)

    def alive(self) -> list[int]:
        return [i for i, p in enumerate(self.procs) if p.poll() is None]

    def stop(self, timeout: float = 30) -> dict[int, int | None]:
        """SIGTERM every live worker (they finish their batch) and collect the exit codes."""
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        codes: dict[int, int | None] = {}
        for i, p in enumerate(self.procs):
            try:
                codes[i] = p.wait(timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                codes[i] = None
        return codes

    def logs(self) -> str:
        return "\n".join(
            f"--- worker {i}\n"
            + (self.logdir / f"worker-{i}.log").read_text(errors="replace")[-3000:]
            for i in range(self.count)
        )


def message_counts(engine: sa.Engine, workspace_id: int) -> dict[str, int]:
    with read(engine) as conn:
        rows = conn.execute(
            sa.select(messages.c.status, sa.func.count())
            .where(messages.c.workspace_id == workspace_id, messages.c.direction == "out")
            .group_by(messages.c.status)
        ).all()
    return {str(status): int(n) for status, n in rows}


def deliveries(engine: sa.Engine, workspace_id: int) -> list[Any]:
    """What the console provider delivered, with the message each delivery came from."""
    with read(engine) as conn:
        return list(
            conn.execute(
                sa.select(
                    console_outbox.c.to_number,
                    console_outbox.c.message_id,
                    console_outbox.c.created_at,
                    messages.c.kind,
                    messages.c.campaign_id,
                    messages.c.handed_at,
                    messages.c.attempts,
                )
                .select_from(
                    console_outbox.join(messages, messages.c.id == console_outbox.c.message_id)
                )
                .where(console_outbox.c.workspace_id == workspace_id)
            )
        )
