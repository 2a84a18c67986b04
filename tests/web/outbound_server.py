"""stopline served by uvicorn on 127.0.0.1 in a thread, for tests that use real HTTP clients."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import uvicorn

from stopline.config import Config
from stopline.runtime import Runtime
from stopline.web.app import create_app

SECRET = "test-secret-key"  # the `keyring` fixture's key, so both decrypt channel credentials


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serve(database_url: str, data_dir: Path, *, run_worker: bool = False) -> Iterator[str]:
    """Yield the base URL of a live stopline; stopped (and its worker) on exit."""
    runtime = Runtime(Config(database_url, data_dir, SECRET, None))
    app = create_app(runtime, run_worker=run_worker)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("stopline did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(15)
        runtime.engine.dispose()
