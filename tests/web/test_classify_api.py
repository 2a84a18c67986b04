"""POST /api/v1/classify: what stopline would do with a batch of texts, with the workspace's settings."""

from __future__ import annotations

import pytest
from litestar.testing import TestClient

from tests.manage import set_policy
from tests.web import test_messages_api

api = test_messages_api.api  # the same API client: a fresh workspace, its API key


def test_each_text_gets_intent_rule_language_and_outcome_in_order(api: TestClient) -> None:
    texts = [
        "STOP please",
        "BAJA por favor",
        "Ne m'envoyez plus de SMS",
        "Liked \u201cReply STOP to unsubscribe\u201d",
        "Stop by tomorrow?",
        "see you at 3",
    ]
    response = api.post("/api/v1/classify", json={"texts": texts})
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["text"] for r in results] == texts
    got = [(r["intent"], r["keyword"] or r["rule"], r["language"], r["outcome"]) for r in results]
    assert got == [
        ("opt_out", "STOP", "en", "opt_out"),
        ("opt_out", "BAJA", "es", "opt_out"),
        ("possible_opt_out", "ne m'envoyez plus", "fr", "review"),
        ("reaction", "iOS tapback", "en", "none"),
        ("possible_opt_out", "STOP used as an ordinary word", "en", "review"),
        ("none", None, None, "none"),
    ]


def test_the_workspace_settings_decide_the_outcome(api: TestClient, engine, ws) -> None:
    set_policy(engine, ws, revocation_mode="auto_opt_out", keyword_sets=["fr", "es", "pt"])
    response = api.post(
        "/api/v1/classify", json={"texts": ["please stop texting me", "PARE por favor"]}
    )
    first, second = response.json()["results"]
    assert (first["intent"], first["outcome"]) == ("possible_opt_out", "opt_out")
    assert (second["keyword"], second["language"]) == ("PARE", "pt")


def test_ten_thousand_texts_are_taken_and_one_more_is_refused_whole(api: TestClient) -> None:
    ok = api.post("/api/v1/classify", json={"texts": ["ok"] * 10_000})
    assert ok.status_code == 200 and ok.json()["count"] == 10_000
    refused = api.post("/api/v1/classify", json={"texts": ["ok"] * 10_001})
    assert refused.status_code == 422
    error = refused.json()["error"]
    assert error["code"] == "too_many_texts" and error["limit"] == 10_000


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({}, "texts_invalid"),
        ({"texts": "STOP"}, "texts_invalid"),
        ({"texts": ["ok", 3]}, "texts_invalid"),
        ({"texts": ["x" * 10_001]}, "text_too_long"),
    ],
)
def test_bad_input_is_a_clear_422(api: TestClient, body: dict, code: str) -> None:
    response = api.post("/api/v1/classify", json=body)
    assert response.status_code == 422 and response.json()["error"]["code"] == code


def test_an_api_key_is_required(api: TestClient) -> None:
    del api.headers["Authorization"]
    assert api.post("/api/v1/classify", json={"texts": ["STOP"]}).status_code == 401
