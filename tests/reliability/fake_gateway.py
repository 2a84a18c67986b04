"""A misbehaving SMS gateway on 127.0.0.1: 5xx bursts, answers slower than the client waits.

It accepts messages the way a provider with idempotency keys does (Telnyx, or the generic
contract): a request whose `Idempotency-Key` was accepted before gets the first answer again
and sends nothing new. With `dedupe=False` it behaves like an API without keys (Twilio's): every
accepted request is a message on a phone.

The ambiguous fault is the interesting one: the gateway *accepts* the message, then answers too
late, so the client sees a timeout and cannot know whether it went.
"""

from __future__ import annotations

import json
import random
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Seen:
    key: str  # the idempotency key, or the body's text when the API has none
    status: int
    accepted: bool  # a new message left for a phone
    slow: bool  # answered after the client's timeout


class FakeGateway:
    def __init__(
        self,
        *,
        burst: int = 20,
        slow_rate: float = 0.15,
        error_rate: float = 0.1,
        slow_seconds: float = 1.0,
        dedupe: bool = True,
        reply: str = "generic",
        seed: int | None = None,
    ) -> None:
        self.burst = burst  # the first `burst` requests all get 503
        self.slow_rate = slow_rate
        self.error_rate = error_rate
        self.slow_seconds = slow_seconds
        self.dedupe = dedupe
        self.reply_format = reply
        self.rng = random.Random(seed)
        self.seen: list[Seen] = []
        self.delivered: list[str] = []  # keys of messages that reached a phone, repeats included
        self.ids: dict[str, str] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the stdlib's naming
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                key = self.headers.get("Idempotency-Key") or gateway._text_of(raw)
                status, body, slow = gateway._decide(key)
                if slow:
                    gateway._stop.wait(gateway.slow_seconds)
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @staticmethod
    def _text_of(raw: bytes) -> str:
        try:
            data = json.loads(raw)
            return str(data.get("text") or data.get("Body") or raw[:200])
        except ValueError:
            from urllib.parse import parse_qs

            return parse_qs(raw.decode(errors="replace")).get("Body", [""])[0]

    def _decide(self, key: str) -> tuple[int, bytes, bool]:
        with self._lock:
            if len(self.seen) < self.burst:
                self.seen.append(Seen(key, 503, False, False))
                return 503, b'{"error": "overloaded"}', False
            if self.dedupe and key in self.ids:
                self.seen.append(Seen(key, 200, False, False))
                return 200, self._accepted(self.ids[key]), False
            roll = self.rng.random()
            if roll < self.error_rate:
                self.seen.append(Seen(key, 500, False, False))
                return 500, b'{"error": "internal"}', False
            slow = roll < self.error_rate + self.slow_rate
            message_id = f"gw-{uuid.uuid4().hex[:12]}"
            self.ids.setdefault(key, message_id)
            self.delivered.append(key)
            self.seen.append(Seen(key, 200, True, slow))
            return 200, self._accepted(message_id), slow

    def _accepted(self, message_id: str) -> bytes:
        if self.reply_format == "twilio":
            sid = "SM" + uuid.uuid5(uuid.NAMESPACE_URL, message_id).hex
            return json.dumps({"sid": sid, "status": "queued"}).encode()
        return json.dumps({"id": message_id, "status": "queued"}).encode()

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> FakeGateway:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def wait_idle(self, seconds: float = 0.2) -> None:
        time.sleep(seconds)
