"""AWS End User Messaging SMS (Pinpoint SMS and Voice v2): send, keep the opt-out list, and read
its SNS webhooks.

Facts from AWS's API reference: JSON 1.0 over ``POST https://sms-voice.<region>.amazonaws.com/``
with ``X-Amz-Target: PinpointSMSVoiceV2.<Operation>`` and ``Content-Type:
application/x-amz-json-1.0``, signed with SigV4 (service ``sms-voice``; botocore signs, the
``stopline[aws]`` extra). Operations used: ``SendTextMessage`` (``DestinationPhoneNumber``,
``OriginationIdentity``, ``MessageBody`` -> ``MessageId``), ``PutOptedOutNumber`` and
``DeleteOptedOutNumber`` (``OptOutListName``, ``OptedOutNumber``; a number can be removed from
an opt-out list only once every 30 days), ``DescribeOptedOutNumbers`` (``OptOutListName``,
``NextToken`` -> ``OptedOutNumbers[{OptedOutNumber, OptedOutTimestamp, EndUserOptedOut}]``).
Errors carry ``__type`` (``...#ValidationException``, ``ThrottlingException``, ...) and
``message``. Two-way SMS and delivery events reach us as SNS notifications (`providers.sns`).

Credentials: ``access_key_id``, ``secret_access_key``, ``region``, ``opt_out_list`` (default
``Default``), ``sns_topic_arn`` (the topic(s) whose notifications are accepted, comma-separated),
``configuration_set`` (optional, where delivery events go).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from stopline.providers import sns
from stopline.providers.base import (
    Credentials,
    InboundMessage,
    MessageStatus,
    ProviderError,
    SelfDescribingWebhooks,
    SendRequest,
    SendResult,
    StatusUpdate,
    WebhookEvent,
    WebhookRejected,
    load_json_object,
    malformed,
    parse_timestamp,
    post,
    response_json,
)

NAME = "aws"
SERVICE = "sms-voice"
TARGET_PREFIX = "PinpointSMSVoiceV2."
THIRTY_DAY_RULE = "aws_30_day_rule"

# messageStatus of SMS events, mapped to stopline's; others (PENDING, QUEUED) are intermediate.
_STATUSES: dict[str, MessageStatus] = {
    "SUCCESSFUL": "sent",
    "DELIVERED": "delivered",
    "INVALID": "failed",
    "UNREACHABLE": "failed",
    "CARRIER_UNREACHABLE": "failed",
    "BLOCKED": "failed",
    "CARRIER_BLOCKED": "failed",
    "SPAM": "failed",
    "TTL_EXPIRED": "failed",
    "MAX_PRICE_EXCEEDED": "failed",
    "OPTED_OUT": "failed",
    "UNKNOWN": "failed",
}


def endpoint(credentials: Credentials, base_url: str | None = None) -> str:
    if base_url:
        return base_url.rstrip("/") + "/"
    return f"https://{SERVICE}.{region(credentials)}.amazonaws.com/"


def region(credentials: Credentials) -> str:
    value = credentials.get("region") or ""
    if not value:
        raise ProviderError("aws: channel has no region", provider=NAME)
    return value


def _signed_headers(credentials: Credentials, url: str, target: str, body: bytes) -> dict[str, str]:
    try:
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials as AwsCredentials
    except ImportError as exc:  # pragma: no cover - the extra is in the test dependencies
        raise ProviderError(
            "aws: install stopline[aws] (botocore) to use AWS channels", provider=NAME
        ) from exc
    key, secret = credentials.get("access_key_id"), credentials.get("secret_access_key")
    if not key or not secret:
        raise ProviderError("aws: channel has no access key", provider=NAME)
    request = AWSRequest(
        method="POST",
        url=url,
        data=body,
        headers={
            "Content-Type": "application/x-amz-json-1.0",
            "X-Amz-Target": TARGET_PREFIX + target,
        },
    )
    SigV4Auth(
        AwsCredentials(key, secret, credentials.get("session_token") or None),
        SERVICE,
        region(credentials),
    ).add_auth(request)
    return dict(request.headers.items())


def call(
    client: httpx.Client,
    credentials: Credentials,
    target: str,
    payload: Mapping[str, Any],
    base_url: str | None = None,
) -> dict[str, Any]:
    """One signed API call; raises `ProviderError` (retryable on throttling, 5xx, timeouts)."""
    url = endpoint(credentials, base_url)
    body = json.dumps(payload, separators=(",", ":")).encode()
    response = post(
        client, NAME, url, content=body, headers=_signed_headers(credentials, url, target, body)
    )
    data = response_json(response)
    if response.is_success:
        return data if isinstance(data, dict) else {}
    kind = str((data or {}).get("__type") or response.headers.get("x-amzn-errortype") or "")
    kind = kind.rsplit("#", 1)[-1].split(":", 1)[0]
    message = (data or {}).get("message") or (data or {}).get("Message") or response.reason_phrase
    reason = (data or {}).get("Reason")
    retryable = response.status_code >= 500 or kind in (
        "ThrottlingException",
        "ServiceQuotaExceededException",
        "InternalServerException",
    )
    raise ProviderError(
        f"aws: {target}: {kind or 'HTTP ' + str(response.status_code)}: {message}"
        + (f" ({reason})" if reason else ""),
        provider=NAME,
        provider_code=kind or None,
        http_status=response.status_code,
        retryable=retryable,
    )


# --- opt-out list -------------------------------------------------------------------------------


def _list_name(credentials: Credentials) -> str:
    return credentials.get("opt_out_list") or "Default"


def put_opted_out_number(
    client: httpx.Client, credentials: Credentials, number: str, base_url: str | None = None
) -> None:
    call(
        client,
        credentials,
        "PutOptedOutNumber",
        {"OptOutListName": _list_name(credentials), "OptedOutNumber": number},
        base_url,
    )


def delete_opted_out_number(
    client: httpx.Client, credentials: Credentials, number: str, base_url: str | None = None
) -> None:
    """Take a number off the opt-out list. AWS refuses a second removal within 30 days: that
    refusal is raised with provider_code `aws_30_day_rule`, not retryable."""
    try:
        call(
            client,
            credentials,
            "DeleteOptedOutNumber",
            {"OptOutListName": _list_name(credentials), "OptedOutNumber": number},
            base_url,
        )
    except ProviderError as exc:
        if exc.http_status == 400 and "30 days" in exc.message:
            raise ProviderError(
                f"AWS removes a number from an opt-out list only once every 30 days; {number} "
                "stays opted out at AWS until then (retry after that). AWS said: " + exc.message,
                provider=NAME,
                provider_code=THIRTY_DAY_RULE,
                http_status=400,
                retryable=False,
            ) from exc
        if exc.provider_code == "ResourceNotFoundException" and "OptedOutNumber" in exc.message:
            return  # not on the list: nothing to remove
        raise


@dataclass(frozen=True)
class OptedOut:
    number: str
    opted_out_at: datetime | None
    end_user_opted_out: bool  # the recipient texted STOP (not put there by an API call)


def describe_opted_out_numbers(
    client: httpx.Client,
    credentials: Credentials,
    base_url: str | None = None,
    *,
    page_size: int = 100,
    max_pages: int = 10_000,
) -> list[OptedOut]:
    """Every number on the channel's opt-out list, following NextToken."""
    found: list[OptedOut] = []
    token: str | None = None
    for _ in range(max_pages):
        payload: dict[str, Any] = {
            "OptOutListName": _list_name(credentials),
            "MaxResults": page_size,
        }
        if token:
            payload["NextToken"] = token
        data = call(client, credentials, "DescribeOptedOutNumbers", payload, base_url)
        for entry in data.get("OptedOutNumbers") or []:
            if isinstance(entry, dict) and isinstance(entry.get("OptedOutNumber"), str):
                found.append(
                    OptedOut(
                        entry["OptedOutNumber"],
                        parse_timestamp(entry.get("OptedOutTimestamp")),
                        bool(entry.get("EndUserOptedOut")),
                    )
                )
        token = data.get("NextToken") or None
        if not token:
            break
    return found


# --- the adapter ------------------------------------------------------------------------------


class AwsProvider(SelfDescribingWebhooks):
    name = NAME
    verifies_with_io = True  # the first message of a certificate fetches it

    def send(
        self,
        client: httpx.Client,
        request: SendRequest,
        credentials: Credentials,
        base_url: str | None = None,
    ) -> SendResult:
        payload: dict[str, Any] = {
            "DestinationPhoneNumber": request.to,
            "OriginationIdentity": request.from_address,
            "MessageBody": request.body,
            "MessageType": "TRANSACTIONAL",
            "Context": {"stopline_idempotency_key": request.idempotency_key[:100]},
        }
        if credentials.get("configuration_set"):
            payload["ConfigurationSetName"] = credentials["configuration_set"]
        try:
            data = call(client, credentials, "SendTextMessage", payload, base_url)
        except ProviderError as exc:
            if exc.provider_code == "ValidationException" and "OPTED_OUT" in exc.message.upper():
                exc.recipient_opted_out = True
            raise
        message_id = data.get("MessageId")
        if not isinstance(message_id, str) or not message_id:
            raise ProviderError(
                "aws: accepted the message but its answer has no MessageId",
                provider=NAME,
                retryable=False,
            )
        return SendResult(message_id, "sent")

    def verify_and_parse_body(
        self,
        headers: Mapping[str, str],
        raw_body: bytes,
        credentials: Credentials,
        now: float | None,
    ) -> list[WebhookEvent]:
        message = load_json_object(raw_body, NAME)
        topics = [t.strip() for t in (credentials.get("sns_topic_arn") or "").split(",")]
        topics = [t for t in topics if t]
        if not topics:
            raise WebhookRejected("aws credentials have no sns_topic_arn; cannot verify webhooks")
        if message.get("TopicArn") not in topics:
            raise WebhookRejected("SNS message is from a topic this channel does not accept")
        verifier = sns.VERIFIER
        region = verifier.verify(message)
        kind = message.get("Type")
        if kind == "SubscriptionConfirmation":
            url = message.get("SubscribeURL")
            if isinstance(url, str):
                verifier.check_url(url, region, "SubscribeURL")
                verifier.fetch(url)  # visiting it confirms the subscription
            return []
        if kind != "Notification":
            return []
        return _events(message)


def _events(notification: Mapping[str, Any]) -> list[WebhookEvent]:
    try:
        body = json.loads(str(notification.get("Message") or ""))
    except ValueError as exc:
        raise malformed(NAME, "notification's Message is not JSON") from exc
    if not isinstance(body, dict):
        raise malformed(NAME, "notification's Message is not a JSON object")
    if "originationNumber" in body and "messageBody" in body:
        return [
            InboundMessage(
                provider=NAME,
                provider_message_id=str(
                    body.get("inboundMessageId") or notification.get("MessageId")
                ),
                from_number=str(body["originationNumber"]),
                to_address=str(body.get("destinationNumber") or ""),
                body=str(body["messageBody"]),
                received_at=parse_timestamp(notification.get("Timestamp")),
                raw=body,
            )
        ]
    if str(body.get("eventType") or "").startswith("TEXT_") and body.get("messageId"):
        status = str(body.get("messageStatus") or "").upper()
        return [
            StatusUpdate(
                provider=NAME,
                provider_message_id=str(body["messageId"]),
                status=_STATUSES.get(status),
                error_code=status if _STATUSES.get(status) == "failed" else None,
                recipient_opted_out=status == "OPTED_OUT",
                raw=body,
            )
        ]
    return []


PROVIDER = AwsProvider()
