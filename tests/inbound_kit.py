"""Building blocks for the inbound tests: provider channels with real secrets, and webhooks signed
with each provider's real algorithm on its documented payloads.

Twilio requests are signed by the official `twilio` package's RequestValidator (an independent
oracle for our verifier), Telnyx with an Ed25519 key from `cryptography`, Vonage with a PyJWT
HS256 token carrying `payload_hash`, the generic contract with HMAC-SHA256.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import jwt
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from twilio.request_validator import RequestValidator

from stopline.security import Keyring
from stopline.services import workspaces
from stopline.store.db import read, write
from stopline.store.tables import consent_events, messages, opt_outs, review_items

PROVIDERS = ("twilio", "telnyx", "vonage", "generic")


def provider_message_id(provider: str) -> str:
    """A fresh message id in the provider's documented format (Twilio SID, UUID, gateway id)."""
    if provider == "twilio":
        return "SM" + uuid.uuid4().hex
    if provider in ("telnyx", "vonage"):
        return str(uuid.uuid4())
    return f"gw-{uuid.uuid4().hex}"


def number() -> str:
    return f"+1415{random.randint(200, 999)}{random.randint(1000, 9999)}"


@dataclass(frozen=True)
class SignedRequest:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class ProviderKit:
    """One provider's channel secrets and how that provider signs and shapes its webhooks."""

    provider: str
    credentials: dict[str, str]
    private_key: Ed25519PrivateKey | None = None
    channel: workspaces.Channel | None = field(default=None)

    @property
    def inline_replies(self) -> bool:
        return self.provider == "twilio"

    def path(self, endpoint: str = "inbound") -> str:
        assert self.channel is not None
        return f"/webhooks/{self.provider}/{self.channel.id}/{endpoint}"

    # --- inbound ------------------------------------------------------------------------------

    def inbound(
        self,
        base_url: str,
        sender: str,
        text: str,
        *,
        message_id: str | None = None,
        now: float | None = None,
        extra: dict[str, str] | None = None,
    ) -> SignedRequest:
        assert self.channel is not None
        to = self.channel.address
        now = time.time() if now is None else now
        if self.provider == "twilio":
            sid = message_id or "SM" + uuid.uuid4().hex
            params = {
                "ToCountry": "US",
                "ToState": "CA",
                "SmsMessageSid": sid,
                "NumMedia": "0",
                "ToCity": "SAN FRANCISCO",
                "FromZip": "94105",
                "SmsSid": sid,
                "FromState": "CA",
                "SmsStatus": "received",
                "FromCity": "SAN FRANCISCO",
                "Body": text,
                "FromCountry": "US",
                "To": to,
                "ToZip": "94105",
                "NumSegments": "1",
                "MessageSid": sid,
                "AccountSid": self.credentials["account_sid"],
                "From": sender,
                "ApiVersion": "2010-04-01",
                **(extra or {}),
            }
            return self.twilio_signed(base_url, self.path("inbound"), params)
        if self.provider == "telnyx":
            payload = {
                "data": {
                    "event_type": "message.received",
                    "id": str(uuid.uuid4()),
                    "occurred_at": _iso(now),
                    "payload": {
                        "cc": [],
                        "completed_at": None,
                        "cost": None,
                        "direction": "inbound",
                        "encoding": "GSM-7",
                        "errors": [],
                        "from": {
                            "carrier": "T-Mobile USA",
                            "line_type": "long_code",
                            "phone_number": sender,
                            "status": "webhook_delivered",
                        },
                        "id": message_id or str(uuid.uuid4()),
                        "media": [],
                        "messaging_profile_id": "740572b6-099c-44a1-89b9-6c92163bc68d",
                        "organization_id": "47a530f8-4362-4526-829b-bcee17fd9f7a",
                        "parts": 1,
                        "received_at": _iso(now),
                        "record_type": "message",
                        "sent_at": None,
                        "tags": [],
                        "text": text,
                        "to": [
                            {
                                "carrier": "Telnyx",
                                "line_type": "Wireless",
                                "phone_number": to,
                                "status": "webhook_delivered",
                            }
                        ],
                        "type": "SMS",
                        "valid_until": None,
                        "webhook_failover_url": None,
                        "webhook_url": "https://example.com/webhooks",
                    },
                    "record_type": "event",
                },
                "meta": {"attempt": 1, "delivered_to": "https://example.com/webhooks"},
            }
            return self.telnyx_signed(self.path("inbound"), payload, now)
        if self.provider == "vonage":
            payload = {
                "channel": "sms",
                "message_uuid": message_id or str(uuid.uuid4()),
                "to": to.removeprefix("+"),
                "from": sender.removeprefix("+"),
                "timestamp": _iso(now),
                "text": text,
                "sms": {"num_messages": "1", "keyword": (text.split() or [""])[0].upper()},
                "usage": {"price": "0.0057", "currency": "EUR"},
                "message_type": "text",
            }
            return self.vonage_signed(self.path("inbound"), payload, now)
        payload = {
            "id": message_id or f"gw-{uuid.uuid4().hex}",
            "from": sender,
            "to": to,
            "text": text,
            "timestamp": _iso(now),
        }
        return self.generic_signed(self.path("inbound"), payload, now)

    # --- status callbacks ---------------------------------------------------------------------

    def status(
        self,
        base_url: str,
        provider_message_id: str,
        status: str,
        *,
        to: str,
        error_code: str | None = None,
        now: float | None = None,
    ) -> SignedRequest:
        """A documented status callback; `status` is the provider's own word."""
        assert self.channel is not None
        now = time.time() if now is None else now
        if self.provider == "twilio":
            params = {
                "MessageSid": provider_message_id,
                "SmsSid": provider_message_id,
                "MessageStatus": status,
                "SmsStatus": status,
                "AccountSid": self.credentials["account_sid"],
                "From": self.channel.address,
                "To": to,
                "ApiVersion": "2010-04-01",
            }
            if error_code:
                params["ErrorCode"] = error_code
            return self.twilio_signed(base_url, self.path("status"), params)
        if self.provider == "telnyx":
            payload = {
                "data": {
                    "event_type": "message.finalized",
                    "id": str(uuid.uuid4()),
                    "occurred_at": _iso(now),
                    "payload": {
                        "id": provider_message_id,
                        "direction": "outbound",
                        "from": {"phone_number": self.channel.address},
                        "to": [{"phone_number": to, "status": status}],
                        "errors": (
                            [{"code": error_code, "title": "Blocked due to STOP message"}]
                            if error_code
                            else []
                        ),
                        "record_type": "message",
                        "type": "SMS",
                    },
                    "record_type": "event",
                },
                "meta": {"attempt": 1},
            }
            return self.telnyx_signed(self.path("status"), payload, now)
        if self.provider == "vonage":
            payload: dict[str, Any] = {
                "message_uuid": provider_message_id,
                "to": to.removeprefix("+"),
                "from": self.channel.address.removeprefix("+"),
                "timestamp": _iso(now),
                "status": status,
                "channel": "sms",
            }
            if error_code:
                payload["error"] = {
                    "type": f"https://developer.vonage.com/api-errors/messages#{error_code}",
                    "title": error_code,
                    "detail": "The recipient has opted out",
                }
            return self.vonage_signed(self.path("status"), payload, now)
        payload = {"id": provider_message_id, "status": status, "error_code": error_code}
        return self.generic_signed(self.path("status"), payload, now)

    # --- signing ------------------------------------------------------------------------------

    def twilio_signed(self, base_url: str, path: str, params: dict[str, str]) -> SignedRequest:
        validator = RequestValidator(self.credentials["auth_token"])
        signature = validator.compute_signature(base_url + path, params)
        return SignedRequest(
            path,
            {
                "x-twilio-signature": signature,
                "content-type": "application/x-www-form-urlencoded",
            },
            urlencode(params).encode(),
        )

    def telnyx_signed(self, path: str, payload: dict[str, Any], now: float) -> SignedRequest:
        assert self.private_key is not None
        body = json.dumps(payload).encode()
        timestamp = str(int(now))
        signature = self.private_key.sign(timestamp.encode() + b"|" + body)
        return SignedRequest(
            path,
            {
                "telnyx-signature-ed25519": base64.b64encode(signature).decode(),
                "telnyx-timestamp": timestamp,
                "content-type": "application/json",
            },
            body,
        )

    def vonage_signed(self, path: str, payload: dict[str, Any], now: float) -> SignedRequest:
        body = json.dumps(payload).encode()
        token = jwt.encode(
            {
                "iat": int(now),
                "jti": str(uuid.uuid4()),
                "iss": "Vonage",
                "payload_hash": hashlib.sha256(body).hexdigest(),
                "api_key": self.credentials["api_key"],
                "application_id": "aaaaaaaa-bbbb-cccc-dddd-0123456789ab",
            },
            self.credentials["signature_secret"],
            algorithm="HS256",
        )
        return SignedRequest(
            path,
            {"authorization": f"Bearer {token}", "content-type": "application/json"},
            body,
        )

    def generic_signed(self, path: str, payload: dict[str, Any], now: float) -> SignedRequest:
        body = json.dumps(payload).encode()
        t = int(now)
        mac = hmac.new(
            self.credentials["secret"].encode(), f"{t}.".encode() + body, hashlib.sha256
        ).hexdigest()
        return SignedRequest(
            path,
            {"x-stopline-signature": f"t={t},v1={mac}", "content-type": "application/json"},
            body,
        )

    def forged(self, request: SignedRequest) -> SignedRequest:
        """The same request with a signature made with the wrong secret."""
        other = make_kit(self.provider)
        other.channel = self.channel
        headers = dict(request.headers)
        if self.provider == "twilio":
            headers["x-twilio-signature"] = base64.b64encode(b"\0" * 20).decode()
        elif self.provider == "telnyx":
            assert other.private_key is not None
            headers["telnyx-signature-ed25519"] = base64.b64encode(
                other.private_key.sign(headers["telnyx-timestamp"].encode() + b"|" + request.body)
            ).decode()
        elif self.provider == "vonage":
            token = headers["authorization"].split()[1]
            claims = jwt.decode(token, options={"verify_signature": False})
            headers["authorization"] = "Bearer " + jwt.encode(
                claims, other.credentials["signature_secret"], algorithm="HS256"
            )
        else:
            t = headers["x-stopline-signature"].split(",")[0][2:]
            mac = hmac.new(
                other.credentials["secret"].encode(),
                f"{t}.".encode() + request.body,
                hashlib.sha256,
            ).hexdigest()
            headers["x-stopline-signature"] = f"t={t},v1={mac}"
        return SignedRequest(request.path, headers, request.body)


def _iso(now: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))


def make_kit(provider: str) -> ProviderKit:
    """Fresh secrets for a provider channel."""
    if provider == "twilio":
        return ProviderKit(
            provider, {"account_sid": "AC" + uuid.uuid4().hex, "auth_token": uuid.uuid4().hex}
        )
    if provider == "telnyx":
        key = Ed25519PrivateKey.generate()
        public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        return ProviderKit(
            provider,
            {"api_key": "KEY" + uuid.uuid4().hex, "public_key": base64.b64encode(public).decode()},
            private_key=key,
        )
    if provider == "vonage":
        return ProviderKit(
            provider,
            {
                "api_key": uuid.uuid4().hex[:8],
                "api_secret": uuid.uuid4().hex,
                "signature_secret": uuid.uuid4().hex + uuid.uuid4().hex,
            },
        )
    return ProviderKit(provider, {"secret": uuid.uuid4().hex})


def add_kit_channel(
    engine: sa.Engine, ws: workspaces.Workspace, keyring: Keyring, provider: str, **kwargs: Any
) -> ProviderKit:
    kit = make_kit(provider)
    with write(engine) as conn:
        kit.channel = workspaces.add_channel(
            conn,
            ws.id,
            keyring,
            address=kwargs.pop("address", None) or number(),
            provider=provider,
            credentials=kit.credentials,
            **kwargs,
        )
    return kit


# --- reading the world back ---------------------------------------------------------------------


def events_of(engine: sa.Engine, ws_id: int, number: str) -> list[Any]:
    with read(engine) as conn:
        return list(
            conn.execute(
                sa.select(consent_events)
                .where(consent_events.c.workspace_id == ws_id, consent_events.c.number == number)
                .order_by(consent_events.c.seq)
            )
        )


def opt_out_rows(engine: sa.Engine, ws_id: int, number: str) -> list[Any]:
    with read(engine) as conn:
        return list(
            conn.execute(
                sa.select(opt_outs).where(
                    opt_outs.c.workspace_id == ws_id, opt_outs.c.number == number
                )
            )
        )


def outbound_to(engine: sa.Engine, ws_id: int, number: str, kind: str | None = None) -> list[Any]:
    with read(engine) as conn:
        query = (
            sa.select(messages)
            .where(
                messages.c.workspace_id == ws_id,
                messages.c.direction == "out",
                messages.c.to_number == number,
            )
            .order_by(messages.c.id)
        )
        if kind is not None:
            query = query.where(messages.c.kind == kind)
        return list(conn.execute(query))


def inbound_from(engine: sa.Engine, ws_id: int, number: str) -> list[Any]:
    with read(engine) as conn:
        return list(
            conn.execute(
                sa.select(messages)
                .where(
                    messages.c.workspace_id == ws_id,
                    messages.c.direction == "in",
                    messages.c.from_address == number,
                )
                .order_by(messages.c.id)
            )
        )


def review_rows(engine: sa.Engine, ws_id: int, number: str) -> list[Any]:
    with read(engine) as conn:
        return list(
            conn.execute(
                sa.select(review_items).where(
                    review_items.c.workspace_id == ws_id, review_items.c.number == number
                )
            )
        )


def message_count(engine: sa.Engine, ws_id: int) -> int:
    with read(engine) as conn:
        return int(
            conn.execute(
                sa.select(sa.func.count()).where(messages.c.workspace_id == ws_id)
            ).scalar_one()
        )


# --- a running app --------------------------------------------------------------------------------


def make_runtime(engine: sa.Engine, tmp_dir: Any, public_url: str | None = None) -> Any:
    """A Runtime over the test's engine, with the tests' keyring secret."""
    from pathlib import Path

    from stopline.config import Config
    from stopline.runtime import Runtime

    runtime = Runtime(
        Config(
            database_url=engine.url.render_as_string(hide_password=False),
            data_dir=Path(tmp_dir),
            secret_key="test-secret-key",
            public_url=public_url,
        )
    )
    runtime.__dict__["engine"] = engine  # share the session's engine (cached_property slot)
    return runtime


class LiveServer:
    """The real app under uvicorn on a free loopback port, in a thread."""

    def __init__(self, runtime: Any) -> None:
        import socket

        import uvicorn

        from stopline.web.app import create_app

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            create_app(runtime),
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            access_log=False,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=20)


def text_in(engine: sa.Engine, channel: Any, sender: str, body: str) -> Any:
    """One inbound text through the whole pipeline (confirmations queued, not inline)."""
    from stopline.providers.base import InboundMessage
    from stopline.services import inbound

    message = InboundMessage(
        provider=channel.provider,
        provider_message_id=uuid.uuid4().hex,
        from_number=sender,
        to_address=channel.address,
        body=body,
    )
    return inbound.process_inbound(engine, channel, message, reply_inline=False)
