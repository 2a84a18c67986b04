"""Benchmark: the revocation classifier on the evaluation corpus (tests/data/replies*.tsv).

Prints, per language, the share of revocations caught (opt-out or review), the share of
ordinary replies flagged (sent to review, or opted out), reactions and quoted footers flagged,
and classification speed on one core beside a raw baseline (one precompiled case-insensitive
regex search per text: the floor of reading a text at all), measured in the same run.

The corpus and the rules share authors: replies.tsv was used to tune the rules, the holdout
(replies_holdout.tsv) was written after and its first figures are in the README. The earlier
English corpus (tests/domain/revocation_corpus.py, 305 ordinary replies and 129 requests) is
measured too.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from stopline.domain.keywords import KeywordConfig, classify
from stopline.services.classification import Classifier

DATA = Path(__file__).resolve().parent.parent / "tests" / "data"
LANGUAGES = ("en", "fr", "es", "pt")


def load(name: str = "replies.tsv") -> list[tuple[str, str, str, str]]:
    """(label, language, context, text) rows of a corpus file."""
    rows = []
    for line in (DATA / name).read_text(encoding="utf-8").splitlines():
        if not line or line.startswith("#") or line.startswith("label\t"):
            continue
        label, language, context, text = line.split("\t")
        rows.append((label, language, context, text.replace("\\n", "\n")))
    return rows


def _rates(rows: Sequence[tuple[str, str, str, str]], corpus: str) -> list[dict]:
    config = KeywordConfig(enabled_sets=("fr", "es"))  # a new workspace's sets: pt is off
    out: list[dict] = []

    def flagged(text: str) -> bool:
        return classify(text, config).outcome() in ("opt_out", "review")

    for language in LANGUAGES:
        asks = [t for label, lang, _, t in rows if label == "revocation" and lang == language]
        if asks:
            caught = sum(flagged(t) for t in asks)
            target = ">= 95%" if language == "en" else ">= 90%"
            out.append(
                {
                    "name": f"{corpus}: revocations caught, {language} ({caught}/{len(asks)})",
                    "value": 100 * caught / len(asks),
                    "unit": "%",
                    "target": target,
                }
            )
    for label, target in (("ordinary", "<= 4%"), ("reaction", "0%"), ("quoted", "0%")):
        texts = [t for lab, _, _, t in rows if lab == label]
        if not texts:
            continue
        hits = [t for t in texts if flagged(t)]
        out.append(
            {
                "name": f"{corpus}: {label} replies flagged ({len(hits)}/{len(texts)})",
                "value": 100 * len(hits) / len(texts),
                "unit": "%",
                "target": target,
            }
        )
    ordinary = [t for lab, _, _, t in rows if lab == "ordinary"]
    auto = sum(classify(t, config).outcome() == "opt_out" for t in ordinary)
    out.append(
        {
            "name": f"{corpus}: ordinary replies opted out automatically ({auto}/{len(ordinary)})",
            "value": 100 * auto / len(ordinary),
            "unit": "%",
            "target": "0%",
        }
    )
    return out


def _rate(run: Callable[[], object], count: int, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.process_time()
        run()
        best = min(best, time.process_time() - started)
    return count / best if best > 0 else float("inf")


def english_corpus() -> list[tuple[str, str, str, str]]:
    """The earlier English corpus (tests/domain/revocation_corpus.py) as rows of the same shape."""
    from tests.domain import revocation_corpus as c

    return [
        (label, "en", "mixed", text)
        for label, texts in (
            ("ordinary", c.ORDINARY + c.HOLDOUT_ORDINARY),
            ("revocation", c.REVOCATIONS + c.HOLDOUT_REVOCATIONS),
        )
        for text in texts
    ]


def run(quick: bool = False) -> list[dict]:
    rows = load()
    out = _rates(rows, "corpus") + _rates(load("replies_holdout.tsv"), "holdout")
    out += _rates(english_corpus(), "earlier English corpus")
    # Speed: every corpus text, many times over (no result is cached between calls).
    texts = [t for _, _, _, t in rows] * (20 if quick else 200)
    config = KeywordConfig()
    for t in texts[:2000]:
        classify(t, config)  # compile and warm the keyword matchers outside the timing
    floor = re.compile(r"\bstop\b", re.IGNORECASE)
    baseline = _rate(lambda: [floor.search(t) for t in texts], len(texts), 3)
    classifier = Classifier(config)
    out.append(
        {
            "name": "classify, texts/s on one core (CPU time)",
            "value": _rate(lambda: [classify(t, config) for t in texts], len(texts), 3),
            "unit": "texts/s",
            "baseline": baseline,
            "baseline_name": "one precompiled case-insensitive regex search per text",
            "target": ">= 50,000",
        }
    )
    out.append(
        {
            "name": "batch CLI path (classify + JSON line), texts/s",
            "value": _rate(
                lambda: [classifier.json_line(t, n) for n, t in enumerate(texts)], len(texts), 3
            ),
            "unit": "texts/s",
            "baseline": baseline,
            "baseline_name": "one precompiled case-insensitive regex search per text",
            "target": ">= 50,000",
        }
    )
    return out
