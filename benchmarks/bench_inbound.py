"""Benchmark: signed Twilio inbound webhooks/s end to end, against a bare Litestar app, same run.

stopline runs under one uvicorn worker (its own process) on SQLite. Each request is a genuine
Twilio incoming-message webhook (form body, X-Twilio-Signature over the URL and parameters)
from one of many numbers, a mix of STOP, START, HELP and ordinary texts; stopline verifies it,
writes the message (and, for keywords, the ledger event and the confirmation) in one
transaction and answers TwiML. The baseline is a bare Litestar app under the same uvicorn
settings answering the same requests with an empty TwiML document.

The load generator is deliberately thin so that it is not the bottleneck: requests are built
and signed before timing, then replayed over keep-alive raw sockets from two processes with a
few connections each (the same client for both servers).
"""

from __future__ import annotations

import multiprocessing
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from litestar import Litestar, Request, Response, post

ROOT = Path(__file__).resolve().parent.parent
PATH_TEMPLATE = "/webhooks/twilio/{channel}/inbound"
AUTH_TOKEN = "bench-auth-token-0123456789abcdef"
ACCOUNT_SID = "AC" + "b" * 32
TWIML_EMPTY = b'<?xml version="1.0" encoding="UTF-8"?><Response/>'
# Most inbound texts are conversation; keywords are a minority. MIX is 10% keywords (STOP 5%,
# START 3%, HELP 2%); KEYWORDS is keywords only, the worst case (each writes a ledger event or
# a confirmation, or both).
ORDINARY = ["See you at 3pm", "Thanks!", "Can I move my appointment?", "ok", "Who is this?"]
MIX = ["STOP"] * 5 + ["START"] * 3 + ["HELP"] * 2 + ORDINARY * 18
KEYWORDS = ["STOP"] * 4 + ["START"] * 4 + ["HELP"] * 2


# --- the servers ---------------------------------------------------------------------------------


def _bare_app() -> Any:
    @post("/webhooks/twilio/{channel_id:int}/inbound", status_code=200)
    async def inbound(request: Request) -> Response[bytes]:
        await request.body()
        return Response(TWIML_EMPTY, media_type="application/xml")

    return Litestar(route_handlers=[inbound])


def _serve(kind: str, database_url: str, port: int) -> None:
    import uvicorn

    if kind == "bare":
        app = _bare_app()
    else:
        from stopline.runtime import Runtime
        from stopline.web.app import create_app

        app = create_app(Runtime.from_env(database_url))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="error", access_log=False)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """A uvicorn process (one worker) serving `kind`: "stopline" or "bare"."""

    def __init__(self, kind: str, database_url: str, env: dict[str, str]) -> None:
        self.port = _free_port()
        self.proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [
                sys.executable,
                "-m",
                "benchmarks.bench_inbound",
                "serve",
                kind,
                database_url,
                str(self.port),
            ],
            cwd=ROOT,
            env=env,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    break
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    self.stop()
                    raise RuntimeError(f"{kind} server did not start") from None
                time.sleep(0.05)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


# --- the world and the requests ------------------------------------------------------------------


def _setup(database_url: str, env: dict[str, str]) -> int:
    """A workspace with one Twilio channel; returns the channel id."""
    os.environ.update(env)
    from stopline.runtime import Runtime
    from stopline.services import workspaces
    from stopline.store.db import write

    runtime = Runtime.from_env(database_url)
    runtime.migrate()
    with write(runtime.engine) as conn:
        created = workspaces.create_workspace(
            conn, name="Bench", owner_email="bench@example.com", owner_password="bench-password"
        )
        channel = workspaces.add_channel(
            conn,
            created.workspace.id,
            runtime.keyring,
            address="+14155550199",
            provider="twilio",
            credentials={"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN},
        )
    runtime.engine.dispose()
    return channel.id


def _requests(
    count: int, channel_id: int, port: int, seed: int, texts: list[str] = MIX
) -> list[bytes]:
    """`count` distinct signed Twilio webhooks as raw HTTP/1.1 requests."""
    from stopline.providers.twilio import signature

    rnd = random.Random(seed)
    path = PATH_TEMPLATE.format(channel=channel_id)
    host = f"127.0.0.1:{port}"
    url = f"http://{host}{path}"
    senders = [f"+1415{rnd.randint(200, 999)}{rnd.randint(1000, 9999)}" for _ in range(2000)]
    out = []
    for i in range(count):
        sid = f"SM{seed:08x}{i:024x}"
        params = {
            "ToCountry": "US",
            "SmsMessageSid": sid,
            "NumMedia": "0",
            "SmsSid": sid,
            "SmsStatus": "received",
            "Body": rnd.choice(texts),
            "FromCountry": "US",
            "To": "+14155550199",
            "NumSegments": "1",
            "MessageSid": sid,
            "AccountSid": ACCOUNT_SID,
            "From": rnd.choice(senders),
            "ApiVersion": "2010-04-01",
        }
        body = urlencode(params).encode()
        sig = signature(AUTH_TOKEN, url, list(params.items()))
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {host}\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n"
            f"X-Twilio-Signature: {sig}\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        out.append(head + body)
    return out


# --- the load generator --------------------------------------------------------------------------


def _read_response(sock: socket.socket, buf: bytearray) -> int:
    """Read one HTTP response off a keep-alive socket; returns its status code."""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("server closed the connection")
        buf += chunk
    head_end = buf.index(b"\r\n\r\n") + 4
    head = bytes(buf[:head_end]).decode("latin-1")
    status = int(head.split(" ", 2)[1])
    length = 0
    for line in head.split("\r\n"):
        if line.lower().startswith("content-length:"):
            length = int(line.split(":", 1)[1])
    while len(buf) < head_end + length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("server closed the connection")
        buf += chunk
    del buf[: head_end + length]
    return status


def _connection(port: int, requests: list[bytes], errors: list[int]) -> None:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        buf = bytearray()
        for request in requests:
            sock.sendall(request)
            status = _read_response(sock, buf)
            if status != 200:
                errors.append(status)


def _client_process(port: int, requests: list[bytes], connections: int, queue: Any) -> None:
    errors: list[int] = []
    threads = [
        threading.Thread(target=_connection, args=(port, requests[i::connections], errors))
        for i in range(connections)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    queue.put(len(errors))


def _load(port: int, requests: list[bytes], processes: int = 2, connections: int = 8) -> float:
    """Send every request; returns requests per second (errors raise)."""
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    procs = [
        ctx.Process(target=_client_process, args=(port, requests[i::processes], connections, queue))
        for i in range(processes)
    ]
    start = time.perf_counter()
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    elapsed = time.perf_counter() - start
    errors = sum(queue.get() for _ in procs)
    if errors:
        raise RuntimeError(f"{errors} requests were not answered 200")
    return len(requests) / elapsed


def _ledger_events(database_url: str) -> int:
    import sqlalchemy as sa

    from stopline.store.db import make_engine
    from stopline.store.tables import consent_events

    engine = make_engine(database_url)
    with engine.connect() as conn:
        count = conn.execute(sa.select(sa.func.count()).select_from(consent_events)).scalar_one()
    engine.dispose()
    return int(count)


def run(quick: bool = False) -> list[dict]:
    """Signed Twilio webhooks/s through stopline vs the bare framework, in the same run."""
    count, warm = (3_000, 300) if quick else (20_000, 1_000)
    with tempfile.TemporaryDirectory() as tmp:
        database_url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        env = {
            **os.environ,
            "STOPLINE_DATA_DIR": str(Path(tmp) / "data"),
            "STOPLINE_SECRET_KEY": "bench-secret-key",
            "STOPLINE_DATABASE_URL": database_url,
            "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)]),
        }
        env.pop("STOPLINE_PUBLIC_URL", None)
        channel_id = _setup(database_url, env)
        results: dict[str, float] = {}
        for kind in ("bare", "stopline"):
            server = Server(kind, database_url, env)
            try:
                _load(server.port, _requests(warm, channel_id, server.port, seed=1))
                results[kind] = _load(
                    server.port, _requests(count, channel_id, server.port, seed=2)
                )
                if kind == "stopline":
                    results["keywords"] = _load(
                        server.port,
                        _requests(count // 2, channel_id, server.port, seed=3, texts=KEYWORDS),
                    )
            finally:
                server.stop()
        events = _ledger_events(database_url)
    if events == 0:
        raise RuntimeError("no ledger event was written: the benchmark measured nothing")
    common = {
        "unit": "req/s",
        "baseline": results["bare"],
        "baseline_name": "bare Litestar app answering the same requests",
        "target": ">= 1,500 req/s and >= 30% of baseline",
    }
    return [
        {
            "name": "signed Twilio inbound webhooks (10% keywords), 1 uvicorn worker, SQLite",
            "value": results["stopline"],
            **common,
        },
        {
            "name": "signed Twilio inbound webhooks (keywords only), 1 uvicorn worker, SQLite",
            "value": results["keywords"],
            **common,
        },
    ]


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "serve":
        _serve(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        for row in run(quick="--quick" in sys.argv):
            print(row)
