"""Checkpoint documents: any JSON is parsed or refused clearly; a signature covers every field."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stopline.domain.checkpoint import Head, documents_of, judge, parse, signed_bytes
from stopline.domain.errors import InvalidInput
from stopline.security import Keyring, ed25519_verifies
from stopline.services.checkpoints import sign

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=70),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=20,
)


@given(JSON)
def test_any_json_is_a_checkpoint_or_a_clear_refusal(content) -> None:
    try:
        for document in documents_of(content):
            parse(document)
    except InvalidInput as exc:
        assert exc.code == "checkpoint_invalid"


@pytest.mark.parametrize(
    ("field", "value"),
    [("seq", 4), ("hash", "f" * 64), ("workspace_id", 2), ("created_at", "2030-01-01T00:00:00Z")],
)
def test_changing_any_field_breaks_the_signature(field, value) -> None:
    keyring = Keyring("s")
    document = sign(keyring, Head(1, 3, "a" * 64, None), datetime(2026, 12, 3, tzinfo=UTC))
    _head, key, signature = parse(document)
    assert ed25519_verifies(key, signed_bytes(document), signature)
    assert not ed25519_verifies(key, signed_bytes({**document, field: value}), signature)


def test_judging_a_head() -> None:
    head = Head(1, 5, "a" * 64, None)
    assert judge(head, None, None, 0).kind == "workspace_missing"
    assert judge(head, 4, None, 0).kind == "behind"
    assert judge(head, 9, "b" * 64, 0).kind == "rewritten"
    assert judge(head, 9, "a" * 64, 1).kind == "rewritten"
    assert judge(head, 5, "a" * 64, 0).ok
