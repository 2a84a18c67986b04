"""A local SNS signer: an RSA key and self-signed certificate standing in for AWS's, and messages
signed with them as SNS signs (SignatureVersion 1: SHA1, 2: SHA256)."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from stopline.providers import sns

TOPIC = "arn:aws:sns:us-east-1:123456789012:sms-in"
CERT_URL = "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-test.pem"


def make_signer() -> tuple[rsa.RSAPrivateKey, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return key, cert.public_bytes(serialization.Encoding.PEM)


def signed(
    signer: tuple[rsa.RSAPrivateKey, bytes], message: dict[str, Any], version: str = "1"
) -> bytes:
    message = {**message, "SignatureVersion": version, "SigningCertURL": CERT_URL}
    digest = hashes.SHA1() if version == "1" else hashes.SHA256()
    signature = signer[0].sign(sns.string_to_sign(message), padding.PKCS1v15(), digest)
    message["Signature"] = base64.b64encode(signature).decode()
    return json.dumps(message).encode()


def notification(body: dict[str, Any], topic: str = TOPIC) -> dict[str, Any]:
    return {
        "Type": "Notification",
        "MessageId": "11111111-2222-3333-4444-555555555555",
        "TopicArn": topic,
        "Message": json.dumps(body),
        "Timestamp": "2026-12-03T09:00:00.000Z",
    }


def local_verifier(signer: tuple[rsa.RSAPrivateKey, bytes]) -> sns.Verifier:
    """A verifier that 'fetches' the local certificate and records what it fetched."""
    fetched: list[str] = []

    def fetch(url: str) -> bytes:
        fetched.append(url)
        return signer[1]

    verifier = sns.Verifier(fetch=fetch)
    verifier.fetched = fetched  # type: ignore[attr-defined]
    return verifier
