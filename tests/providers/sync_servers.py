"""Local servers speaking the providers' consent APIs, as documented: Twilio's Consents/Bulk (with its
rate limit enforced on a simulated clock), Telnyx's messaging_optouts list, and AWS End User
Messaging SMS's JSON 1.0 opt-out list operations (with the 30-day removal rule)."""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.providers.fake_servers import answer


class FakeClock:
    """Simulated time: `sleep` advances it at once. Shared by the client and the fake server."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
        self._lock = threading.Lock()
        self.slept = 0.0

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def time(self) -> float:
        return self.now().timestamp()

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self._now += timedelta(seconds=seconds)
            self.slept += seconds

    advance = sleep


Handler = Callable[[str, str, dict[str, str], bytes], tuple[int, dict[str, str], bytes]]


class ScriptedServer:
    """An HTTP server on 127.0.0.1 answering through `handle(method, path, headers, body)`."""

    def __init__(self, handle: Handler) -> None:
        self.handle = handle
        self._release = threading.Event()
        server = self

        class _H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out at once: no 40 ms ACK wait

            def _do(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                headers = {k.lower(): v for k, v in self.headers.items()}
                status, out_headers, out = server.handle(method, self.path, headers, body)
                if status == 0:  # hang: make the client time out
                    server._release.wait(10)
                    return
                answer(self, status, out_headers, out)

            def do_POST(self) -> None:  # noqa: N802
                self._do("POST")

            def do_GET(self) -> None:  # noqa: N802
                self._do("GET")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _H)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> ScriptedServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._release.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


def _json(status: int, value: Any, headers: dict[str, str] | None = None):
    return (
        status,
        {"Content-Type": "application/json", **(headers or {})},
        json.dumps(value).encode(),
    )


# --- Twilio -----------------------------------------------------------------------------------


@dataclass
class TwilioConsentApi:
    """`POST /v1/Consents/Bulk` as Twilio documents it, enforcing 25 items a request and 100
    requests a minute per account (a 429 with Retry-After beyond that), on `clock`."""

    clock: FakeClock
    account_sid: str = "AC" + "1" * 32
    auth_token: str = "token-1"
    limit: int = 100
    period: float = 60.0
    # Scripted answers for the next requests, before any checks: ("500",), ("429", secs), ("hang",)
    script: deque[tuple[Any, ...]] = field(default_factory=deque)
    item_errors: dict[str, tuple[int, str]] = field(default_factory=dict)  # contact_id -> error
    received: list[dict[str, Any]] = field(default_factory=list)  # every item of every request
    accepted: dict[str, dict[str, Any]] = field(default_factory=dict)  # by correlation_id
    requests: list[float] = field(default_factory=list)  # accepted request times
    request_items: list[int] = field(default_factory=list)  # items of each accepted request
    rejected_429: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes):
        import base64

        with self.lock:
            if method != "POST" or urlsplit(path).path != "/v1/Consents/Bulk":
                return _json(404, {"code": 20404, "message": "not found", "status": 404})
            expected = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
            if headers.get("authorization") != f"Basic {expected}":
                return _json(401, {"code": 20003, "message": "Authenticate", "status": 401})
            if self.script:
                step = self.script.popleft()
                if step[0] == "500":
                    return _json(500, {"code": 20500, "message": "Internal error", "status": 500})
                if step[0] == "429":
                    self.rejected_429 += 1
                    return _json(
                        429,
                        {"code": 20429, "message": "Too Many Requests", "status": 429},
                        {"Retry-After": str(step[1])},
                    )
                if step[0] == "hang":
                    return 0, {}, b""
            now = self.clock.time()
            recent = [t for t in self.requests if t > now - self.period]
            if len(recent) >= self.limit:
                self.rejected_429 += 1
                wait = recent[0] + self.period - now
                return _json(
                    429,
                    {"code": 20429, "message": "Too Many Requests", "status": 429},
                    {"Retry-After": str(max(1, int(wait + 0.999)))},
                )
            if headers.get("content-type", "").split(";")[0] != "application/x-www-form-urlencoded":
                return _json(400, {"code": 20001, "message": "form expected", "status": 400})
            items = [json.loads(v) for v in parse_qs(body.decode()).get("Items", [])]
            if not 1 <= len(items) <= 25:
                return _json(400, {"code": 20001, "message": "1 to 25 Items", "status": 400})
            self.requests.append(now)
            self.request_items.append(len(items))
            answer = []
            for item in items:
                self.received.append(item)
                error = self.item_errors.get(item["contact_id"])
                if error is None:
                    self.accepted.setdefault(item["correlation_id"], item)
                answer.append(
                    {
                        **item,
                        "error_code": error[0] if error else None,
                        "error_messages": [error[1]] if error else [],
                    }
                )
            return _json(201, {"items": answer})

    def max_in_any_window(self, *, items: bool = False) -> int:
        """The most accepted requests (or items, with `items`) within any one `period`."""
        pairs = sorted(zip(self.requests, self.request_items, strict=True))
        best, start, total = 0, 0, 0
        for t, n in pairs:
            total += n if items else 1
            while pairs[start][0] <= t - self.period:
                total -= pairs[start][1] if items else 1
                start += 1
            best = max(best, total)
        return best


# --- Telnyx -----------------------------------------------------------------------------------


@dataclass
class TelnyxOptOutsApi:
    """`GET /v2/messaging_optouts`, filtered by messaging profile and created_at[gte], paged."""

    api_key: str = "KEY-telnyx"
    entries: list[dict[str, Any]] = field(default_factory=list)
    queries: list[dict[str, list[str]]] = field(default_factory=list)

    def add(self, to: str, created_at: datetime, *, profile: str, keyword: str = "STOP") -> None:
        self.entries.append(
            {
                "record_type": "messaging_optout",
                "messaging_profile_id": profile,
                "from": "+14155550000",
                "to": to,
                "keyword": keyword,
                "created_at": created_at.isoformat().replace("+00:00", "Z"),
            }
        )

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes):
        parts = urlsplit(path)
        if method != "GET" or parts.path != "/v2/messaging_optouts":
            return _json(404, {"errors": [{"code": "10005", "title": "Not found"}]})
        if headers.get("authorization") != f"Bearer {self.api_key}":
            return _json(401, {"errors": [{"code": "10009", "title": "Authentication failed"}]})
        query = parse_qs(parts.query)
        self.queries.append(query)
        chosen = [
            e
            for e in self.entries
            if e["messaging_profile_id"] == query.get("filter[messaging_profile_id]", [""])[0]
        ]
        since = query.get("created_at[gte]")
        if since:
            floor = datetime.fromisoformat(since[0].replace("Z", "+00:00"))
            chosen = [
                e
                for e in chosen
                if datetime.fromisoformat(e["created_at"].replace("Z", "+00:00")) >= floor
            ]
        redact = query.get("redaction_enabled", ["true"])[0] != "false"
        size = int(query.get("page[size]", ["20"])[0])
        number = int(query.get("page[number]", ["1"])[0])
        total_pages = max(1, -(-len(chosen) // size))
        page = chosen[(number - 1) * size : number * size]
        if redact:
            page = [{**e, "to": e["to"][:-4] + "****"} for e in page]
        return _json(
            200,
            {
                "data": page,
                "meta": {
                    "page_number": number,
                    "page_size": size,
                    "total_pages": total_pages,
                    "total_results": len(chosen),
                },
            },
        )


# --- AWS --------------------------------------------------------------------------------------


@dataclass
class AwsSmsApi:
    """PinpointSMSVoiceV2 JSON 1.0: SendTextMessage, Put/Delete/DescribeOptedOutNumber(s); checks
    SigV4 is present for the right service and region, and enforces AWS's once-per-30-days
    removal of a number from an opt-out list."""

    clock: FakeClock
    region: str = "us-east-1"
    access_key_id: str = "AKIDEXAMPLE"
    lists: dict[str, dict[str, dict[str, Any]]] = field(default_factory=lambda: {"Default": {}})
    removed_at: dict[str, datetime] = field(default_factory=dict)
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    script: deque[tuple[Any, ...]] = field(default_factory=deque)
    sent: list[dict[str, Any]] = field(default_factory=list)

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes):
        target = headers.get("x-amz-target", "")
        auth = headers.get("authorization", "")
        if not (
            auth.startswith("AWS4-HMAC-SHA256 ")
            and f"Credential={self.access_key_id}/" in auth
            and f"/{self.region}/sms-voice/aws4_request" in auth
            and "x-amz-date" in headers
        ):
            return self._error(403, "AccessDeniedException", "missing or wrong SigV4 signature")
        if headers.get("content-type") != "application/x-amz-json-1.0":
            return self._error(400, "ValidationException", "content type")
        if not target.startswith("PinpointSMSVoiceV2."):
            return self._error(400, "UnknownOperationException", target)
        operation = target.split(".", 1)[1]
        payload = json.loads(body or b"{}")
        self.calls.append((operation, payload))
        if self.script:
            step = self.script.popleft()
            if step[0] == "500":
                return self._error(500, "InternalServerException", "try again")
            if step[0] == "throttle":
                return self._error(400, "ThrottlingException", "Rate exceeded")
        if operation == "SendTextMessage":
            self.sent.append(payload)
            return _json(200, {"MessageId": f"msg-{len(self.sent)}"})
        name = payload.get("OptOutListName")
        if name not in self.lists:
            return self._error(404, "ResourceNotFoundException", f"opt-out list {name} not found")
        entries = self.lists[name]
        if operation == "PutOptedOutNumber":
            number = payload["OptedOutNumber"]
            entry = entries.setdefault(
                number,
                {
                    "OptedOutNumber": number,
                    "OptedOutTimestamp": self.clock.time(),
                    "EndUserOptedOut": False,
                },
            )
            return _json(200, {"OptOutListName": name, **entry})
        if operation == "DeleteOptedOutNumber":
            number = payload["OptedOutNumber"]
            if number not in entries:
                return self._error(404, "ResourceNotFoundException", "OptedOutNumber not found")
            last = self.removed_at.get(number)
            if last is not None and self.clock.now() - last < timedelta(days=30):
                return self._error(
                    400,
                    "ValidationException",
                    "A phone number can only be removed from an opt-out list once every 30 days.",
                )
            entry = entries.pop(number)
            self.removed_at[number] = self.clock.now()
            return _json(200, {"OptOutListName": name, **entry})
        if operation == "DescribeOptedOutNumbers":
            ordered = sorted(entries.values(), key=lambda e: e["OptedOutNumber"])
            start = int(payload.get("NextToken") or 0)
            size = int(payload.get("MaxResults") or 100)
            page = ordered[start : start + size]
            answer: dict[str, Any] = {"OptOutListName": name, "OptedOutNumbers": page}
            if start + size < len(ordered):
                answer["NextToken"] = str(start + size)
            return _json(200, answer)
        return self._error(400, "UnknownOperationException", operation)

    def end_user_opt_out(self, number: str, list_name: str = "Default") -> None:
        self.lists[list_name][number] = {
            "OptedOutNumber": number,
            "OptedOutTimestamp": self.clock.time(),
            "EndUserOptedOut": True,
        }

    @staticmethod
    def _error(status: int, kind: str, message: str):
        return _json(
            status,
            {"__type": f"com.amazonaws.pinpointsmsvoicev2#{kind}", "message": message},
            {"x-amzn-ErrorType": kind},
        )
