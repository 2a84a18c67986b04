"""The hand-off through HTTP providers, against local servers speaking their APIs: success, 4xx
failed with the provider's code, 5xx and timeouts retried with backoff, carrier opt-outs, and
never a duplicate send."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from stopline.services import hand_off, provider_outcomes, queueing, workspaces
from stopline.services import messages as messages_service
from stopline.services.consent import now_utc
from stopline.store import ledger
from stopline.store.db import read, write
from tests.outbound import add_channel, number
from tests.providers.fake_servers import FakeProviderServer

CREDENTIALS = {
    "twilio": {"account_sid": "AC" + "1" * 32, "auth_token": "t" * 32},
    "telnyx": {"api_key": "KEYtest", "public_key": "cHVibGlj"},
    "vonage": {"api_key": "k", "api_secret": "s", "signature_secret": "x"},
}


def accepted(provider: str, message_id: str = "prov-1") -> dict[str, Any]:
    if provider == "twilio":
        return {"sid": "SM" + "a" * 32, "status": "queued"}
    if provider == "telnyx":
        return {"data": {"id": message_id, "to": [{"status": "queued"}]}}
    return {"message_uuid": message_id}


@pytest.fixture
def fake_api() -> Iterator[FakeProviderServer]:
    server = FakeProviderServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=0.5) as client:
        yield client


def provider_channel(engine, ws, keyring, fake_api, provider: str) -> workspaces.Channel:  # type: ignore[no-untyped-def]
    return add_channel(
        engine, ws, keyring, provider, credentials=CREDENTIALS[provider], base_url=fake_api.url
    )


def queue(
    engine: sa.Engine, ws: workspaces.Workspace, channel: workspaces.Channel, to: str | None = None
) -> messages_service.QueuedMessage:
    with write(engine) as conn:
        return queueing.enqueue(conn, ws.id, channel_id=channel.id, to=to or number(), body="Hi")


def attempt(engine, keyring, http, message_id: int, *, at=None) -> provider_outcomes.HandOff | None:  # type: ignore[no-untyped-def]
    """One worker pass at time `at`: claim (only our message counts) and hand off."""
    ids = hand_off.claim(engine, "w", now=at or now_utc(), limit=1000)
    results = hand_off.hand_off(engine, ids, owner="w", keyring=keyring, http=http)
    mine = [r for r in results if r.message_id == message_id]
    return mine[0] if mine else None


def reload(
    engine: sa.Engine, ws: workspaces.Workspace, message_id: int
) -> messages_service.QueuedMessage:
    with read(engine) as conn:
        return messages_service.get_message(conn, ws.id, message_id)


@pytest.mark.parametrize("provider", ["twilio", "telnyx", "vonage"])
def test_an_accepted_message_is_sent_with_the_providers_id(  # type: ignore[no-untyped-def]
    engine, ws, keyring, fake_api, http, provider
) -> None:
    channel = provider_channel(engine, ws, keyring, fake_api, provider)
    fake_api.reply(200 if provider != "vonage" else 202, json_body=accepted(provider, "abc-123"))
    message = queue(engine, ws, channel)
    assert attempt(engine, keyring, http, message.id).status == "sent"  # type: ignore[union-attr]
    after = reload(engine, ws, message.id)
    assert after.status == "sent" and after.provider == provider
    assert after.provider_message_id in ("abc-123", "SM" + "a" * 32)
    assert len(fake_api.requests) == 1
    assert attempt(engine, keyring, http, message.id) is None  # nothing left to send
    assert len(fake_api.requests) == 1


@pytest.mark.parametrize("provider", ["twilio", "telnyx", "vonage"])
def test_a_server_error_is_retried_with_backoff_then_sent(  # type: ignore[no-untyped-def]
    engine, ws, keyring, fake_api, http, provider
) -> None:
    channel = provider_channel(engine, ws, keyring, fake_api, provider)
    message = queue(engine, ws, channel)
    fake_api.reply(503, json_body={"message": "try later"})
    first = attempt(engine, keyring, http, message.id)
    assert first is not None and first.status == "queued"
    waiting = reload(engine, ws, message.id)
    assert (waiting.status, waiting.attempts, waiting.error_code) == ("queued", 1, "http_503")
    # Not before its backoff ...
    assert attempt(engine, keyring, http, message.id) is None
    assert len(fake_api.requests) == 1
    # ... and after it, once.
    fake_api.reply(200 if provider != "vonage" else 202, json_body=accepted(provider))
    later = now_utc() + timedelta(seconds=5)
    assert attempt(engine, keyring, http, message.id, at=later).status == "sent"  # type: ignore[union-attr]
    assert reload(engine, ws, message.id).attempts == 2
    assert len(fake_api.requests) == 2


def test_backoff_grows_exponentially_and_is_capped() -> None:
    delays = [provider_outcomes.retry_delay(n) for n in range(1, 12)]
    assert timedelta(seconds=2) <= delays[0] <= timedelta(seconds=2.4)
    assert timedelta(seconds=8) <= delays[2] <= timedelta(seconds=9.6)
    assert all(d <= provider_outcomes.RETRY_CAP * 1.2 for d in delays)


@pytest.mark.parametrize("provider", ["twilio", "telnyx", "vonage"])
def test_a_client_error_fails_the_message_with_the_providers_code(  # type: ignore[no-untyped-def]
    engine, ws, keyring, fake_api, http, provider
) -> None:
    channel = provider_channel(engine, ws, keyring, fake_api, provider)
    bodies = {
        "twilio": {"code": 21408, "message": "Permission to send an SMS has not been enabled"},
        "telnyx": {"errors": [{"code": "40310", "title": "Invalid 'to' address"}]},
        "vonage": {"title": "Invalid params", "detail": "bad number", "type": "x"},
    }
    fake_api.reply(400 if provider != "vonage" else 422, json_body=bodies[provider])
    message = queue(engine, ws, channel)
    result = attempt(engine, keyring, http, message.id)
    assert result is not None and result.status == "failed"
    after = reload(engine, ws, message.id)
    assert after.status == "failed" and after.refusal_code is None
    expected = {"twilio": "21408", "telnyx": "40310"}.get(provider)
    assert after.error_code == (expected or after.error_code)
    assert after.error_code
    assert attempt(engine, keyring, http, message.id, at=now_utc() + timedelta(hours=1)) is None
    assert len(fake_api.requests) == 1  # never retried


def test_a_timeout_is_retried_and_the_retry_carries_the_same_idempotency_key(  # type: ignore[no-untyped-def]
    engine, ws, keyring, fake_api, http
) -> None:
    channel = provider_channel(engine, ws, keyring, fake_api, "telnyx")
    message = queue(engine, ws, channel)
    fake_api.reply(200, json_body=accepted("telnyx"), delay=2.0)  # slower than the 0.5 s client
    assert attempt(engine, keyring, http, message.id).status == "queued"  # type: ignore[union-attr]
    fake_api.reply(200, json_body=accepted("telnyx"))
    later = now_utc() + timedelta(seconds=5)
    assert attempt(engine, keyring, http, message.id, at=later).status == "sent"  # type: ignore[union-attr]
    keys = [r.headers.get("idempotency-key") for r in fake_api.requests]
    assert keys == [message.sid, message.sid]  # Telnyx drops the repeat: no duplicate send


@pytest.mark.parametrize(
    ("provider", "status", "body"),
    [
        ("twilio", 400, {"code": 21610, "message": "Attempt to send to unsubscribed recipient"}),
        ("telnyx", 403, {"errors": [{"code": "40300", "title": "Blocked due to STOP message"}]}),
    ],
)
def test_a_provider_saying_the_recipient_opted_out_records_a_carrier_opt_out(  # type: ignore[no-untyped-def]
    engine, ws, keyring, fake_api, http, provider, status, body
) -> None:
    channel = provider_channel(engine, ws, keyring, fake_api, provider)
    fake_api.reply(status, json_body=body)
    to = number()
    message = queue(engine, ws, channel, to)
    later = queue(engine, ws, channel, to)  # queued behind it: must never go
    result = attempt(engine, keyring, http, message.id)
    assert result is not None and (result.status, result.refusal_code) == ("failed", "opted_out")
    with read(engine) as conn:
        state = ledger.load_state(conn, ws.id, to)
    [record] = state.opt_outs.values()
    assert record.method.value == "carrier" and record.actor == f"provider:{provider}"
    assert (reload(engine, ws, later.id).status, reload(engine, ws, later.id).refusal_code) == (
        "canceled",
        "opted_out",
    )
    assert len(fake_api.requests) == 1


def test_a_message_that_keeps_failing_gives_up_after_the_attempt_limit(  # type: ignore[no-untyped-def]
    engine, ws, keyring, fake_api, http
) -> None:
    channel = provider_channel(engine, ws, keyring, fake_api, "twilio")
    message = queue(engine, ws, channel)
    at = now_utc()
    for _ in range(provider_outcomes.MAX_ATTEMPTS):
        fake_api.reply(500, json_body={"message": "down"})
        attempt(engine, keyring, http, message.id, at=at)
        at += provider_outcomes.RETRY_CAP * 2
    after = reload(engine, ws, message.id)
    assert (after.status, after.attempts) == ("failed", provider_outcomes.MAX_ATTEMPTS)
    assert len(fake_api.requests) == provider_outcomes.MAX_ATTEMPTS


def test_a_disclosure_on_a_message_the_provider_refused_goes_with_the_next_one(  # type: ignore[no-untyped-def]
    engine, ws, keyring, fake_api, http
) -> None:
    from urllib.parse import parse_qs

    channel = provider_channel(engine, ws, keyring, fake_api, "twilio")
    to = number()
    first = queue(engine, ws, channel, to)
    fake_api.reply(400, json_body={"code": 21408, "message": "Permission denied"})
    assert attempt(engine, keyring, http, first.id).status == "failed"  # type: ignore[union-attr]
    second = queue(engine, ws, channel, to)
    fake_api.reply(201, json_body=accepted("twilio"))
    assert attempt(engine, keyring, http, second.id).status == "sent"  # type: ignore[union-attr]
    bodies = [parse_qs(r.body.decode())["Body"][0] for r in fake_api.requests]
    assert bodies == ["Hi\nReply STOP to opt out, HELP for help."] * 2
    assert reload(engine, ws, first.id).body == "Hi"  # what was stored is what was (not) sent
