"""Batch classification (services.classification): one outcome per text, bounded."""

from __future__ import annotations

import json

import pytest

from stopline.domain.errors import InvalidInput
from stopline.domain.policy import Policy
from stopline.services.classification import MAX_TEXTS, classifier_for, classify_texts


def test_a_batch_keeps_its_order_and_says_what_would_happen() -> None:
    results = classify_texts(None, ["STOP", "Quiero darme de baja", "hola"])
    assert [r["outcome"] for r in results] == ["opt_out", "review", "none"]
    assert results[1]["rule"] == "darme de baja" and results[1]["language"] == "es"


def test_revocations_opt_out_where_the_workspace_says_so() -> None:
    policy = Policy.from_dict({"revocation_mode": "auto_opt_out"})
    [result] = classify_texts(policy, ["please stop texting me"])
    assert (result["intent"], result["outcome"]) == ("possible_opt_out", "opt_out")


def test_more_than_the_limit_is_refused_whole() -> None:
    with pytest.raises(InvalidInput) as caught:
        classify_texts(None, ["ok"] * (MAX_TEXTS + 1))
    assert caught.value.code == "too_many_texts"


@pytest.mark.parametrize(
    "text",
    [
        "STOP",
        "Liked \u201cReply STOP\u201d",
        "Ne m'envoyez plus",
        'quote " and \\ slash',
        "\u2028x",
    ],
)
def test_a_json_line_is_the_result_encoded(text: str) -> None:
    classifier = classifier_for(None)
    assert json.loads(classifier.json_line(text, 7)) == {**classifier(text), "line": 7}
