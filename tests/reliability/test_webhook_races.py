"""The same inbound webhook delivered five times at once, over real HTTP to two app servers.

Providers redeliver a webhook they think failed, sometimes while the first delivery is still
being processed; behind a load balancer the copies reach different `stopline serve` processes.
Whatever the interleaving: one consent event, one stored inbound message, one confirmation.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from stopline.web.webhooks.base import CHANNELS
from tests.inbound_kit import (
    PROVIDERS,
    LiveServer,
    ProviderKit,
    add_kit_channel,
    events_of,
    inbound_from,
    make_runtime,
    number,
    outbound_to,
)

COPIES = 5


@pytest.fixture
def servers(engine, tmp_path) -> Iterator[list[LiveServer]]:
    CHANNELS.forget()
    runtime = make_runtime(engine, tmp_path)
    with LiveServer(runtime) as one, LiveServer(runtime) as two:
        yield [one, two]


@pytest.fixture(params=PROVIDERS)
def kit(request, engine, ws, keyring) -> ProviderKit:
    return add_kit_channel(engine, ws, keyring, request.param)


def _deliver_at_once(servers: list[LiveServer], kit: ProviderKit, sender: str) -> list[Any]:
    """Five copies of one signed STOP, released together, alternating between the servers."""
    message_id = "SM" + uuid.uuid4().hex if kit.provider == "twilio" else str(uuid.uuid4())
    # Twilio signs the URL it called: both servers listen on 127.0.0.1, on different ports.
    signed = {
        s.base_url: kit.inbound(s.base_url, sender, "STOP", message_id=message_id) for s in servers
    }
    barrier = threading.Barrier(COPIES)
    responses: list[Any] = [None] * COPIES

    def post(i: int) -> None:
        server = servers[i % len(servers)]
        request = signed[server.base_url]
        with httpx.Client(base_url=server.base_url, timeout=30) as http:
            barrier.wait()
            responses[i] = http.post(request.path, content=request.body, headers=request.headers)

    threads = [threading.Thread(target=post, args=(i,)) for i in range(COPIES)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return responses


def test_five_concurrent_copies_of_a_stop_make_one_event_and_one_confirmation(
    engine, ws, servers, kit
) -> None:
    sender = number()
    responses = _deliver_at_once(servers, kit, sender)
    assert all(r is not None for r in responses)
    # Every copy is answered without a server error: the provider must not keep retrying.
    assert [r.status_code for r in responses if r.status_code >= 500] == []
    assert any(r.status_code == 200 for r in responses)
    events = events_of(engine, ws.id, sender)
    assert [(e.action, e.method) for e in events] == [("opt_out", "reply")]
    assert len(inbound_from(engine, ws.id, sender)) == 1
    confirmations = outbound_to(engine, ws.id, sender, kind="confirmation")
    assert len(confirmations) == 1
    if kit.inline_replies:
        # Twilio: the confirmation rides in exactly one of the five TwiML answers.
        carried = [r for r in responses if r.status_code == 200 and "<Message>" in r.text]
        assert len(carried) == 1
