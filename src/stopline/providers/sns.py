"""Amazon SNS message signatures: how AWS End User Messaging SMS webhooks are verified.

From AWS's documentation ("Verifying the signatures of Amazon SNS messages"): the string to sign
is the message's fields as ``name\\nvalue\\n`` pairs in a fixed order (Notification: Message,
MessageId, Subject if present, Timestamp, TopicArn, Type; subscription messages: Message,
MessageId, SubscribeURL, Timestamp, Token, TopicArn, Type); ``Signature`` is base64 RSA PKCS#1
v1.5 over it, with SHA1 for ``SignatureVersion`` 1 and SHA256 for 2, by the X.509 certificate at
``SigningCertURL``, which must be an https URL on ``sns.<region>.amazonaws.com``. Certificates
are fetched once and cached.
"""

from __future__ import annotations

import base64
import binascii
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from stopline.providers.base import WebhookRejected

_NOTIFICATION_FIELDS = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
_SUBSCRIPTION_FIELDS = (
    "Message",
    "MessageId",
    "SubscribeURL",
    "Timestamp",
    "Token",
    "TopicArn",
    "Type",
)
_HASHES: dict[str, Callable[[], hashes.HashAlgorithm]] = {"1": hashes.SHA1, "2": hashes.SHA256}
MAX_CERT_BYTES = 64 * 1024


def string_to_sign(message: Mapping[str, Any]) -> bytes:
    kind = message.get("Type")
    names = _NOTIFICATION_FIELDS if kind == "Notification" else _SUBSCRIPTION_FIELDS
    parts = []
    for name in names:
        value = message.get(name)
        if value is None:
            if name == "Subject":
                continue
            raise WebhookRejected(f"SNS message has no {name}", code="webhook_malformed")
        parts.append(f"{name}\n{value}\n")
    return "".join(parts).encode("utf-8")


def region_of(topic_arn: str) -> str:
    """`arn:aws:sns:<region>:<account>:<name>` -> region."""
    parts = topic_arn.split(":")
    if len(parts) != 6 or parts[0] != "arn" or parts[2] != "sns" or not parts[3]:
        raise WebhookRejected("SNS message has no valid TopicArn", code="webhook_malformed")
    return parts[3]


def aws_host_allowed(host: str, region: str) -> bool:
    return host == f"sns.{region}.amazonaws.com"


def _fetch(url: str) -> bytes:
    with httpx.Client(timeout=5.0, follow_redirects=False) as client:
        response = client.get(url)
    if response.status_code != 200 or len(response.content) > MAX_CERT_BYTES:
        raise WebhookRejected("could not fetch the SNS signing certificate")
    return response.content


@dataclass
class Verifier:
    """Checks SNS signatures. `fetch` and `host_allowed` are replaceable for tests (a local
    certificate, a local host); production uses AWS's hosts over https only."""

    fetch: Callable[[str], bytes] = _fetch
    host_allowed: Callable[[str, str], bool] = aws_host_allowed
    require_https: bool = True
    _keys: dict[str, rsa.RSAPublicKey] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def check_url(self, url: str, region: str, what: str) -> None:
        parts = urlsplit(url)
        if (self.require_https and parts.scheme != "https") or not self.host_allowed(
            parts.hostname or "", region
        ):
            raise WebhookRejected(f"SNS {what} is not on sns.{region}.amazonaws.com")

    def key(self, url: str, region: str) -> rsa.RSAPublicKey:
        self.check_url(url, region, "SigningCertURL")
        with self._lock:
            cached = self._keys.get(url)
        if cached is not None:
            return cached
        try:
            cert = x509.load_pem_x509_certificate(self.fetch(url))
        except (ValueError, httpx.HTTPError) as exc:
            raise WebhookRejected("unusable SNS signing certificate") from exc
        key = cert.public_key()
        if not isinstance(key, rsa.RSAPublicKey):
            raise WebhookRejected("SNS signing certificate is not RSA")
        with self._lock:
            self._keys[url] = key
        return key

    def verify(self, message: Mapping[str, Any]) -> str:
        """Raise `WebhookRejected` unless the message is signed by SNS; returns its region."""
        version = str(message.get("SignatureVersion") or "")
        algorithm = _HASHES.get(version)
        if algorithm is None:
            raise WebhookRejected(f"unsupported SNS SignatureVersion {version!r}")
        region = region_of(str(message.get("TopicArn") or ""))
        url = message.get("SigningCertURL")
        signature = message.get("Signature")
        if not isinstance(url, str) or not isinstance(signature, str):
            raise WebhookRejected("SNS message is not signed")
        try:
            raw = base64.b64decode(signature, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise WebhookRejected("SNS signature is not base64") from exc
        try:
            self.key(url, region).verify(
                raw, string_to_sign(message), padding.PKCS1v15(), algorithm()
            )
        except InvalidSignature as exc:
            raise WebhookRejected("SNS signature does not match") from exc
        return region


VERIFIER = Verifier()


def use_verifier(verifier: Verifier) -> Verifier:
    """Replace the process-wide verifier (tests); returns the previous one."""
    global VERIFIER
    previous, VERIFIER = VERIFIER, verifier
    return previous
