"""Joining a list by double opt-in: join keywords, the YES that confirms, and the evidence kept.

A number texts a list's join keyword (JOIN, DEALS) or fills in the list's hosted form;
stopline answers with the list's confirmation request ("Reply YES to get Acme deals...") and
records the list opt-in only when the number answers YES within the workspace's window
(`Policy.double_opt_in_hours`, default 24 h). An unanswered request expires and subscribes
nothing. STOP always wins: join words may not be words the keyword classifier already reads
(opt-out, opt-in, HELP, a possible revocation, another list's keyword), and the join handlers
run after the keyword handlers.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from stopline.domain.errors import InvalidInput
from stopline.domain.optin_evidence import text_hash

MAX_WORDS = 10
MAX_REQUEST_TEXT = 480  # three SMS segments
MAX_CONSENT_TEXT = 2000
YES_WORDS = frozenset({"YES", "Y", "OUI", "SI", "SÍ", "SIM"})
_WORD = re.compile(r"[A-Z0-9]{2,20}")
_EDGE = re.compile(r"^[\W_]+|[\W_]+$")


def reading(text: str) -> str:
    """A whole message as a join keyword or YES is matched: NFKC, upper case, trimmed of
    spaces and punctuation at both ends (so "Join!" and " deals. " match)."""
    return _EDGE.sub("", unicodedata.normalize("NFKC", text or "").strip()).upper()


def is_yes(text: str) -> bool:
    return reading(text) in YES_WORDS


def matched_word(text: str, words: Iterable[str]) -> str | None:
    word = reading(text)
    return word if word and word in set(words) else None


def default_request(brand: str, list_name: str) -> str:
    return (
        f"{brand}: Reply YES to get {list_name} texts. Msg&data rates may apply. "
        "Reply HELP for help, STOP to cancel."
    )


def check_words(
    raw: Any, already_means: Callable[[str], str | None], taken: Mapping[str, str]
) -> list[str]:
    """Validate a list's join keywords; return them canonical (upper case, unique).

    `already_means(word)` says what the inbound classifier already reads the word as (None:
    nothing), so a join word can never shadow STOP, START, HELP or a revocation; `taken` maps
    words other lists join with to those lists' names.
    """
    if raw is None:
        return []
    if isinstance(raw, str) or not isinstance(raw, Iterable):
        raise InvalidInput("Join keywords are a list of words.", code="keyword_invalid")
    words = list(raw)
    if len(words) > MAX_WORDS:
        raise InvalidInput(
            f"A list has at most {MAX_WORDS} join keywords.", code="keyword_too_many"
        )
    out: list[str] = []
    for word in words:
        if not isinstance(word, str):
            raise InvalidInput("A join keyword is a word.", code="keyword_invalid")
        canonical = reading(word)
        if not _WORD.fullmatch(canonical):
            raise InvalidInput(
                f"{word!r} is not a join keyword: use one word of 2-20 letters or digits.",
                code="keyword_invalid",
                word=word,
            )
        if canonical in YES_WORDS:
            raise InvalidInput(
                f"{canonical} confirms a join; it cannot start one.",
                code="keyword_reserved",
                word=canonical,
            )
        meaning = already_means(canonical)
        if meaning is not None:
            raise InvalidInput(
                f"{canonical} already means {meaning}; a join keyword may not shadow it.",
                code="keyword_reserved",
                word=canonical,
            )
        if canonical in taken:
            raise InvalidInput(
                f"The list {taken[canonical]!r} already joins with {canonical}.",
                code="keyword_taken",
                word=canonical,
            )
        if canonical not in out:
            out.append(canonical)
    return out


def check_text(text: Any, *, field: str, limit: int) -> str:
    if not isinstance(text, str) or not text.strip():
        raise InvalidInput(f"{field} is required.", code=f"{field}_required")
    text = text.strip()
    if len(text) > limit:
        raise InvalidInput(f"{field} is at most {limit} characters.", code=f"{field}_too_long")
    return text


def expires_at(requested_at: datetime, hours: int) -> datetime:
    return requested_at + timedelta(hours=hours)


def confirmed_evidence(
    request: Mapping[str, Any], reply_text: str, reply_at: datetime
) -> dict[str, Any]:
    """The evidence of a confirmed double opt-in: what the join showed, the request sent, and
    the YES that answered it (recorded with the list opt-in, so the chain covers it)."""
    shown = dict(request.get("evidence") or {})
    shown.setdefault("consent_text", request["request_text"])
    shown.setdefault("consent_text_hash", text_hash(shown["consent_text"]))
    return {
        **shown,
        "request_text": request["request_text"],
        "request_sent_at": _iso(request["requested_at"]),
        "reply_text": reply_text,
        "reply_received_at": _iso(reply_at),
        "captured_at": _iso(reply_at),
    }


def _iso(value: Any) -> str:
    return value.isoformat() if isinstance(value, datetime) else str(value)
