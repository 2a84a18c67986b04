"""Secrets handling: hashed API keys, tokens and passwords, encrypted provider credentials, signed links."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.exceptions import InvalidSignature
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from stopline.domain.errors import Forbidden

_hasher = PasswordHasher()


def new_token(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)


def hash_token(token: str) -> str:
    """High-entropy secrets (API keys, auth tokens, session ids) need only a fast hash."""
    return hashlib.sha256(token.encode()).hexdigest()


def token_matches(token: str, digest: str) -> bool:
    return hmac.compare_digest(hash_token(token), digest)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def password_matches(password: str, digest: str) -> bool:
    try:
        return _hasher.verify(digest, password)
    except (VerificationError, InvalidHashError):
        return False


class Keyring:
    """Derives purpose-specific keys from the server secret, so one leak does not unlock all."""

    def __init__(self, secret_key: str) -> None:
        self._secret = secret_key.encode()

    def _derive(self, purpose: str) -> bytes:
        return hmac.new(self._secret, purpose.encode(), hashlib.sha256).digest()

    def checkpoint_key(self) -> Ed25519PrivateKey:
        """The deployment's Ed25519 key for signing ledger checkpoints.

        Derived from the server secret, so every process of a deployment signs with the same
        key and nothing more needs storing or sharing; only its public half ever leaves.
        """
        return Ed25519PrivateKey.from_private_bytes(self._derive("ledger-checkpoint-ed25519"))

    def encrypt(self, data: dict[str, Any]) -> str:
        fernet = Fernet(base64.urlsafe_b64encode(self._derive("credentials")))
        return fernet.encrypt(json.dumps(data).encode()).decode()

    def decrypt(self, blob: str | None) -> dict[str, Any]:
        if not blob:
            return {}
        fernet = Fernet(base64.urlsafe_b64encode(self._derive("credentials")))
        try:
            return dict(json.loads(fernet.decrypt(blob.encode())))
        except InvalidToken:
            raise Forbidden(
                "Stored credentials cannot be decrypted with this server's secret key.",
                code="credentials_undecryptable",
            ) from None

    def sign(self, purpose: str, payload: dict[str, Any], *, ttl_seconds: int | None = None) -> str:
        """A compact signed token (payload readable, not secret) for links and confirmations."""
        body = dict(payload)
        if ttl_seconds is not None:
            body["exp"] = int(time.time()) + ttl_seconds
        raw = base64.urlsafe_b64encode(
            json.dumps(body, separators=(",", ":"), sort_keys=True).encode()
        ).rstrip(b"=")
        mac = hmac.new(self._derive(purpose), raw, hashlib.sha256).digest()
        return raw.decode() + "." + base64.urlsafe_b64encode(mac).rstrip(b"=").decode()

    def unsign(self, purpose: str, token: str) -> dict[str, Any]:
        try:
            raw, mac = token.split(".", 1)
            expected = hmac.new(self._derive(purpose), raw.encode(), hashlib.sha256).digest()
            given = base64.urlsafe_b64decode(mac + "=" * (-len(mac) % 4))
            if not hmac.compare_digest(expected, given):
                raise ValueError("bad signature")
            body = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
        except (ValueError, TypeError, json.JSONDecodeError):
            raise Forbidden(
                "This link is invalid or has been tampered with.", code="bad_signature"
            ) from None
        if not isinstance(body, dict):
            raise Forbidden("This link is invalid.", code="bad_signature")
        if "exp" in body and int(body["exp"]) < time.time():
            raise Forbidden("This link has expired.", code="expired")
        return body


def public_key_text(key: Ed25519PublicKey) -> str:
    """The raw 32-byte public key, base64 (what checkpoints and evidence packets print)."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode()


def public_key_pem(key: Ed25519PublicKey) -> str:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def key_id(public_key: str) -> str:
    """A short fingerprint of a base64 public key: the first 16 hex digits of its SHA-256."""
    return hashlib.sha256(base64.b64decode(public_key)).hexdigest()[:16]


def ed25519_verifies(public_key: str, data: bytes, signature: str) -> bool:
    """Whether `signature` (base64) is `public_key`'s (base64, raw) Ed25519 signature of `data`."""
    try:
        key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key, validate=True))
        key.verify(base64.b64decode(signature, validate=True), data)
    except (InvalidSignature, ValueError):
        return False
    return True
