"""AWS End User Messaging SMS webhooks end to end: a signed SNS notification carrying STOP opts the
sender out and queues the confirmation; an unsigned or foreign one stores nothing."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from litestar.testing import TestClient

from stopline.providers import sns
from stopline.services import workspaces
from stopline.store.db import write
from stopline.web.app import create_app
from stopline.web.webhooks.base import CHANNELS
from tests.inbound_kit import make_runtime, number, opt_out_rows, outbound_to
from tests.providers.sns_kit import TOPIC, local_verifier, make_signer, notification, signed

BASE = "http://testserver.local"


@pytest.fixture(scope="module")
def signer():
    return make_signer()


@pytest.fixture
def client(engine, tmp_path, signer) -> Iterator[TestClient]:
    CHANNELS.forget()
    previous = sns.use_verifier(local_verifier(signer))
    with TestClient(create_app(make_runtime(engine, tmp_path)), base_url=BASE) as c:
        yield c
    sns.use_verifier(previous)


@pytest.fixture
def channel(engine, ws, keyring):
    with write(engine) as conn:
        return workspaces.add_channel(
            conn,
            ws.id,
            keyring,
            address=number(),
            provider="aws",
            credentials={
                "access_key_id": "AKIDEXAMPLE",
                "secret_access_key": "secret",
                "region": "us-east-1",
                "sns_topic_arn": TOPIC,
            },
        )


def stop_from(sender: str, channel) -> dict:
    return {
        "originationNumber": sender,
        "destinationNumber": channel.address,
        "messageKeyword": "KEYWORD_123456789012",
        "messageBody": "STOP",
        "inboundMessageId": f"in-{sender}",
    }


def test_a_signed_stop_opts_out_and_queues_the_confirmation(client, engine, ws, channel, signer):
    sender = number()
    body = signed(signer, notification(stop_from(sender, channel)), "2")
    response = client.post(
        f"/webhooks/aws/{channel.id}/inbound",
        content=body,
        headers={
            "content-type": "text/plain; charset=UTF-8",
            "x-amz-sns-message-type": "Notification",
        },
    )
    assert response.status_code == 200, response.text
    assert opt_out_rows(engine, ws.id, sender)[0].method == "reply"
    assert len(outbound_to(engine, ws.id, sender, kind="confirmation")) == 1


def test_unsigned_or_foreign_notifications_store_nothing(client, engine, ws, channel, signer):
    sender = number()
    forged = signed(signer, notification(stop_from(sender, channel))).replace(b"STOP", b"STAP")
    assert client.post(f"/webhooks/aws/{channel.id}/inbound", content=forged).status_code == 403
    foreign = signed(signer, notification(stop_from(sender, channel), topic=TOPIC + "-x"))
    assert client.post(f"/webhooks/aws/{channel.id}/inbound", content=foreign).status_code == 403
    assert opt_out_rows(engine, ws.id, sender) == []
