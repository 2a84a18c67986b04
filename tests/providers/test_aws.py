"""AWS End User Messaging SMS: signed sends and SNS webhooks whose signatures are verified."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import httpx
import pytest

from stopline.providers import aws, sns
from stopline.providers.base import (
    InboundMessage,
    ProviderError,
    SendRequest,
    StatusUpdate,
    WebhookRejected,
)
from tests.providers.sns_kit import (
    CERT_URL,
    TOPIC,
    local_verifier,
    make_signer,
    notification,
    signed,
)
from tests.providers.sync_servers import AwsSmsApi, FakeClock, ScriptedServer

CREDENTIALS = {
    "access_key_id": "AKIDEXAMPLE",
    "secret_access_key": "secret",
    "region": "us-east-1",
    "sns_topic_arn": TOPIC,
}


@pytest.fixture(scope="module")
def signer():
    return make_signer()


@pytest.fixture
def verifier(signer):
    v = local_verifier(signer)
    previous = sns.use_verifier(v)
    yield v
    sns.use_verifier(previous)


INBOUND = {
    "originationNumber": "+14155550123",
    "destinationNumber": "+12065550100",
    "messageKeyword": "KEYWORD_123456789012",
    "messageBody": "STOP",
    "inboundMessageId": "in-1",
    "previousPublishedMessageId": "out-0",
}


@pytest.mark.parametrize("version", ["1", "2"])
def test_a_signed_inbound_text_is_parsed(signer, verifier, version) -> None:
    events = aws.PROVIDER.verify_and_parse_inbound(
        "https://x/webhooks/aws/1/inbound",
        {},
        signed(signer, notification(INBOUND), version),
        CREDENTIALS,
    )
    assert events == [
        InboundMessage(
            provider="aws",
            provider_message_id="in-1",
            from_number="+14155550123",
            to_address="+12065550100",
            body="STOP",
            received_at=datetime(2026, 12, 3, 9, 0, tzinfo=UTC),
        )
    ]
    # The certificate is fetched once and cached.
    aws.PROVIDER.verify_and_parse_inbound(
        "u", {}, signed(signer, notification(INBOUND)), CREDENTIALS
    )
    assert verifier.fetched == [CERT_URL]


def test_a_delivery_event_says_opted_out(signer, verifier) -> None:
    event = {
        "eventType": "TEXT_CARRIER_BLOCKED",
        "messageId": "msg-9",
        "messageStatus": "OPTED_OUT",
        "destinationPhoneNumber": "+14155550123",
    }
    [update] = aws.PROVIDER.verify_and_parse_status(
        "u", {}, signed(signer, notification(event)), CREDENTIALS
    )
    assert isinstance(update, StatusUpdate)
    assert (update.provider_message_id, update.status, update.recipient_opted_out) == (
        "msg-9",
        "failed",
        True,
    )


def test_tampered_forged_and_foreign_messages_are_refused(signer, verifier) -> None:
    good = json.loads(signed(signer, notification(INBOUND)))
    tampered = {**good, "Message": json.dumps({**INBOUND, "messageBody": "START"})}
    with pytest.raises(WebhookRejected):
        aws.PROVIDER.verify_and_parse_inbound("u", {}, json.dumps(tampered).encode(), CREDENTIALS)
    other_host = {**good, "SigningCertURL": "https://evil.example.com/cert.pem"}
    with pytest.raises(WebhookRejected, match="sns.us-east-1.amazonaws.com"):
        aws.PROVIDER.verify_and_parse_inbound("u", {}, json.dumps(other_host).encode(), CREDENTIALS)
    wrong_region = {**good, "SigningCertURL": CERT_URL.replace("us-east-1", "eu-west-1")}
    with pytest.raises(WebhookRejected):
        aws.PROVIDER.verify_and_parse_inbound(
            "u", {}, json.dumps(wrong_region).encode(), CREDENTIALS
        )
    plain_http = {**good, "SigningCertURL": CERT_URL.replace("https", "http")}
    with pytest.raises(WebhookRejected):
        aws.PROVIDER.verify_and_parse_inbound("u", {}, json.dumps(plain_http).encode(), CREDENTIALS)
    foreign_topic = signed(signer, {**notification(INBOUND), "TopicArn": TOPIC + "-other"})
    with pytest.raises(WebhookRejected, match="topic"):
        aws.PROVIDER.verify_and_parse_inbound("u", {}, foreign_topic, CREDENTIALS)
    with pytest.raises(WebhookRejected):
        aws.PROVIDER.verify_and_parse_inbound(
            "u", {}, signed(signer, notification(INBOUND), "3"), CREDENTIALS
        )
    assert verifier.fetched == [CERT_URL]  # nothing was fetched from a host that is not SNS


def test_a_subscription_confirmation_is_confirmed_at_aws_only(signer, verifier) -> None:
    message = {
        "Type": "SubscriptionConfirmation",
        "MessageId": "m-1",
        "Token": "tok",
        "TopicArn": TOPIC,
        "Message": "You have chosen to subscribe...",
        "SubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&Token=tok",
        "Timestamp": "2026-12-03T09:00:00.000Z",
    }
    assert (
        aws.PROVIDER.verify_and_parse_inbound("u", {}, signed(signer, message), CREDENTIALS) == []
    )
    assert verifier.fetched[-1] == message["SubscribeURL"]
    evil = {**message, "SubscribeURL": "https://evil.example.com/?x=1"}
    with pytest.raises(WebhookRejected):
        aws.PROVIDER.verify_and_parse_inbound("u", {}, signed(signer, evil), CREDENTIALS)


def test_send_is_signed_and_returns_the_message_id() -> None:
    api = AwsSmsApi(FakeClock())
    server = ScriptedServer(api.handle).start()
    try:
        with httpx.Client(timeout=2.0) as client:
            result = aws.PROVIDER.send(
                client,
                SendRequest(
                    to="+14155550123", from_address="+12065550100", body="Hi", idempotency_key="k1"
                ),
                CREDENTIALS,
                server.url,
            )
            assert result.provider_message_id == "msg-1"
            assert api.sent[0]["DestinationPhoneNumber"] == "+14155550123"
            assert api.sent[0]["OriginationIdentity"] == "+12065550100"
            api.script.append(("throttle",))
            with pytest.raises(ProviderError) as caught:
                aws.PROVIDER.send(
                    client,
                    SendRequest(
                        to="+14155550123",
                        from_address="+12065550100",
                        body="Hi",
                        idempotency_key="k2",
                    ),
                    CREDENTIALS,
                    server.url,
                )
            assert caught.value.retryable and caught.value.provider_code == "ThrottlingException"
            bad = {**CREDENTIALS, "access_key_id": "AKIDWRONG"}
            with pytest.raises(ProviderError) as refused:
                aws.PROVIDER.send(
                    client,
                    SendRequest(
                        to="+14155550123",
                        from_address="+12065550100",
                        body="Hi",
                        idempotency_key="k3",
                    ),
                    bad,
                    server.url,
                )
            assert not refused.value.retryable
    finally:
        server.stop()
