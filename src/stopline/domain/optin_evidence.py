"""Evidence of an opt-in: where, when and to what words a number agreed, and how strong that is.

TCPA and CASL disputes turn on proving the opt-in, not only the opt-out. Every way a number
joins (the consent API, a list import, a keyword join with double opt-in, the hosted form)
records the same fields with its ledger event, under ``detail["evidence"]``, so the hash chain
covers them. An opt-in recorded without them is kept, and shown as weaker.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from stopline.domain.errors import InvalidInput

# Field -> the most characters it may hold (bounded: evidence is stored in every event's hash).
LIMITS = {
    "source": 200,
    "consent_text": 2000,
    "consent_version": 64,
    "consent_text_hash": 64,
    "captured_at": 40,
    "ip": 45,
    "user_agent": 500,
    "reference_url": 1000,
}
FIELDS = tuple(LIMITS)
# Set by stopline itself for double opt-ins, never taken from a caller.
DOUBLE_OPT_IN_FIELDS = ("request_text", "request_sent_at", "reply_text", "reply_received_at")
_FUTURE_SKEW = timedelta(minutes=5)


class Strength(StrEnum):
    DOUBLE_OPT_IN = "double_opt_in"  # the number itself confirmed by text
    DOCUMENTED = "documented"  # a source and the consent language (or its version) were given
    PARTIAL = "partial"  # some evidence, but not the words agreed to
    NONE = "none"  # recorded without evidence: the weakest kind of opt-in
    RECIPIENT_TEXT = "recipient_text"  # an opt-in keyword the number texted (its own words)


STRENGTH_LABELS = {
    Strength.DOUBLE_OPT_IN: "double opt-in: the number confirmed by text",
    Strength.DOCUMENTED: "documented: source and consent language recorded",
    Strength.PARTIAL: "partial: no record of the consent language agreed to",
    Strength.NONE: "WEAK: recorded without any evidence of consent",
    Strength.RECIPIENT_TEXT: "the number's own text",
}


def text_hash(text: str) -> str:
    """SHA-256 of consent language, so a version can be proven to be these exact words."""
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class EvidenceError(Exception):
    field: str
    message: str


def clean(raw: Mapping[str, Any] | None, now: datetime) -> dict[str, str] | None:
    """Validate caller-given evidence fields; None when none were given.

    Raises `EvidenceError` naming the first bad field (too long, not text, a URL that is not
    http(s), an IP that is not one, a capture time without a zone or in the future).
    """
    if not raw:
        return None
    out: dict[str, str] = {}
    for name in FIELDS:
        value = raw.get(name)
        if value is None or value == "":
            continue
        if not isinstance(value, str):
            raise EvidenceError(name, f"evidence {name} must be text.")
        value = value.strip()
        if len(value) > LIMITS[name]:
            raise EvidenceError(name, f"evidence {name} is longer than {LIMITS[name]} characters.")
        if value:
            out[name] = value
    if "ip" in out:
        try:
            out["ip"] = str(ipaddress.ip_address(out["ip"]))
        except ValueError:
            raise EvidenceError("ip", "evidence ip is not an IPv4 or IPv6 address.") from None
    if "reference_url" in out:
        parts = urlsplit(out["reference_url"])
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise EvidenceError("reference_url", "evidence reference_url must be an http(s) URL.")
    if "captured_at" in out:
        out["captured_at"] = _captured_at(out["captured_at"], now)
    if "consent_text" in out and "consent_text_hash" not in out:
        out["consent_text_hash"] = text_hash(out["consent_text"])
    unknown = set(raw) - set(FIELDS)
    if unknown:
        raise EvidenceError(sorted(unknown)[0], f"unknown evidence field {sorted(unknown)[0]!r}.")
    return out or None


def _captured_at(value: str, now: datetime) -> str:
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise EvidenceError(
            "captured_at", "evidence captured_at must be an ISO 8601 time."
        ) from None
    if when.tzinfo is None:
        raise EvidenceError("captured_at", "evidence captured_at needs a time zone (e.g. Z).")
    if when > now + _FUTURE_SKEW:
        raise EvidenceError("captured_at", "evidence captured_at is in the future.")
    return when.isoformat()


def as_invalid_input(error: EvidenceError) -> InvalidInput:
    return InvalidInput(error.message, code="evidence_invalid", field=error.field)


def strength(action: str, method: str, detail: Mapping[str, Any] | None) -> Strength | None:
    """How well an opt-in event is evidenced; None for events that are not opt-ins."""
    if action not in ("opt_in", "list_opt_in"):
        return None
    evidence = (detail or {}).get("evidence") or {}
    if evidence.get("reply_text") and evidence.get("request_text"):
        return Strength.DOUBLE_OPT_IN
    if not evidence:
        return Strength.RECIPIENT_TEXT if method == "reply" else Strength.NONE
    if evidence.get("source") and (evidence.get("consent_text") or evidence.get("consent_version")):
        return Strength.DOCUMENTED
    return Strength.PARTIAL
