"""What stopline would do with texts someone might send: one, or a batch (CLI `classify --file`,
`POST /api/v1/classify`), with a workspace's keywords and revocation setting.

A business can run last year's replies through it before switching to stopline: each text's
intent, the keyword or rule that matched, its language, and the outcome (opt_out, review,
opt_in, help or none) exactly as the inbound pipeline would decide it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from stopline.domain import limits
from stopline.domain.errors import InvalidInput
from stopline.domain.keywords import DEFAULT_CONFIG, Classification, KeywordConfig, classify
from stopline.domain.policy import Policy, RevocationMode
from stopline.services.inbound_config import keyword_config

_ENCODE = json.JSONEncoder(ensure_ascii=False).encode
_TAILS: dict[tuple[Classification, bool], str] = {}

MAX_TEXTS = 10_000  # per API request; the CLI streams any number


@dataclass(frozen=True)
class Classifier:
    """A workspace's way of reading texts: its keywords and whether revocations opt out."""

    config: KeywordConfig = DEFAULT_CONFIG
    auto_opt_out: bool = False

    def __call__(self, text: str, *, opted_out: bool = False) -> dict[str, Any]:
        c = classify(text, self.config, opted_out=opted_out)
        return {
            "text": text,
            "intent": c.intent.value,
            "keyword": c.keyword,
            "rule": c.phrase,
            "language": c.language,
            "outcome": c.outcome(self.auto_opt_out),
        }

    def json_line(self, text: str, number: int, *, opted_out: bool = False) -> str:
        """``self(text)`` plus ``"line": number`` as one line of JSON, the same as encoding the
        dict; the part after the text is encoded once per distinct result (a batch has few)."""
        c = classify(text, self.config, opted_out=opted_out)
        tail = _TAILS.get((c, self.auto_opt_out))
        if tail is None:
            tail = _ENCODE(
                {
                    "intent": c.intent.value,
                    "keyword": c.keyword,
                    "rule": c.phrase,
                    "language": c.language,
                    "outcome": c.outcome(self.auto_opt_out),
                }
            )[1:-1]
            if len(_TAILS) < 4096:
                _TAILS[(c, self.auto_opt_out)] = tail
        return f'{{"text": {_ENCODE(text)}, {tail}, "line": {number}}}'

    def many(self, texts: Iterable[str], *, opted_out: bool = False) -> Iterator[dict[str, Any]]:
        for text in texts:
            yield self(text, opted_out=opted_out)


def classifier_for(policy: Policy | None) -> Classifier:
    """The classifier of a workspace's policy (None: the defaults of a new workspace)."""
    if policy is None:
        return Classifier()
    return Classifier(keyword_config(policy), policy.revocation_mode is RevocationMode.AUTO_OPT_OUT)


def classify_texts(
    policy: Policy | None, texts: object, *, opted_out: bool = False
) -> list[dict[str, Any]]:
    """A bounded batch (the API's): every text classified, or InvalidInput and nothing done."""
    if not isinstance(texts, list):
        raise InvalidInput("texts must be a list of strings.", code="texts_invalid")
    if len(texts) > MAX_TEXTS:
        raise InvalidInput(
            f"At most {MAX_TEXTS:,} texts per request; got {len(texts):,}. Send them in batches.",
            code="too_many_texts",
            limit=MAX_TEXTS,
            count=len(texts),
        )
    for index, text in enumerate(texts):
        if not isinstance(text, str):
            raise InvalidInput(
                f"texts[{index}] is not a string.", code="texts_invalid", index=index
            )
        limits.check(text, "classified_text", label=f"text texts[{index}]")
    return list(classifier_for(policy).many(texts, opted_out=opted_out))
