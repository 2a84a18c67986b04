"""A PostgreSQL server the fault tests may restart: a private one when possible, else the test server.

Restarting the shared test server would cut every other test's connections (and, on a developer
machine, other people's test runs), so the fault tests start a throwaway cluster of their own
(`initdb` into a temporary directory, as the `postgres` user when run as root, on a free
port). Where that is impossible they fall back to a fresh database on the test server and
restart it with `pg_ctlcluster`, as CI's `.ci/run` starts it.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

from stopline.store.db import normalize_url


def _bindir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_postgres(args: list[str]) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *args]
    return args


@dataclass
class FaultyPostgres:
    """A database URL plus a way to restart (or stop and start) the server behind it."""

    url: str
    private_dir: Path | None = None
    port: int | None = None
    admin: sa.Engine | None = None
    restarts: list[float] = field(default_factory=list)

    # --- lifecycle -------------------------------------------------------------------------

    @classmethod
    def start(cls, fallback_url: str | None) -> FaultyPostgres:
        bindir = _bindir()
        if bindir is not None and (os.geteuid() != 0 or shutil.which("runuser")):
            return cls._private(bindir)
        if not fallback_url:
            raise RuntimeError("no PostgreSQL to run the fault tests against")
        from tests.conftest import fresh_postgres_database

        url, admin = fresh_postgres_database()
        return cls(url=url, admin=admin)

    @classmethod
    def _private(cls, bindir: Path) -> FaultyPostgres:
        root = Path(tempfile.mkdtemp(prefix="stopline-faults-"))
        os.chmod(root, 0o777)
        if os.geteuid() == 0:
            shutil.chown(root, "postgres")
        data = root / "data"
        subprocess.run(
            _as_postgres(
                [
                    str(bindir / "initdb"),
                    "-D",
                    str(data),
                    "-A",
                    "trust",
                    "-U",
                    "postgres",
                    "-E",
                    "UTF8",
                    "--no-sync",
                ]
            ),
            check=True,
            capture_output=True,
        )
        server = cls(url="", private_dir=root, port=_free_port())
        server._pg_ctl("start")
        server.url = f"postgresql://postgres@127.0.0.1:{server.port}/postgres"
        return server

    def _pg_ctl(self, action: str, *extra: str) -> None:
        assert self.private_dir is not None
        bindir = _bindir()
        assert bindir is not None
        options = (
            f"-p {self.port} -k {self.private_dir} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c full_page_writes=off -c max_connections=200 "
            # Commit timestamps let the tests order a STOP's commit against a delivery's.
            "-c track_commit_timestamp=on"
        )
        args = [str(bindir / "pg_ctl"), "-D", str(self.private_dir / "data"), "-w", "-t", "60"]
        if action in ("start", "restart"):
            args += ["-o", options, "-l", str(self.private_dir / "server.log")]
        subprocess.run(_as_postgres([*args, *extra, action]), check=True, capture_output=True)

    def restart(self, down_for: float = 2.0) -> None:
        """Stop the server (every connection is cut), stay down `down_for` seconds, start again."""
        self.restarts.append(time.time())
        self.down()
        time.sleep(down_for)
        self.up()

    def down(self) -> None:
        if self.private_dir is not None:
            self._pg_ctl("stop", "-m", "fast")
        else:
            self._cluster("stop")

    def up(self) -> None:
        if self.private_dir is not None:
            self._pg_ctl("start")
        else:
            self._cluster("start")

    @staticmethod
    def _cluster(action: str) -> None:
        version = os.listdir("/etc/postgresql")[0]
        subprocess.run(
            ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", action],
            check=True,
            capture_output=True,
        )

    def stop(self) -> None:
        if self.private_dir is not None:
            try:
                self._pg_ctl("stop", "-m", "immediate")
            finally:
                shutil.rmtree(self.private_dir, ignore_errors=True)
        elif self.admin is not None:
            from tests.conftest import drop_postgres_database

            drop_postgres_database(self.admin, self.url)

    def engine(self, **kwargs: object) -> sa.Engine:
        from stopline.store.db import make_engine

        return make_engine(normalize_url(self.url), **kwargs)  # type: ignore[arg-type]
