"""Opt-in evidence fields: validated and bounded whatever a caller sends, and graded."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stopline.domain.optin_evidence import (
    LIMITS,
    EvidenceError,
    Strength,
    clean,
    strength,
    text_hash,
)

NOW = datetime(2026, 12, 3, 12, tzinfo=UTC)
VALUES = st.one_of(st.none(), st.text(max_size=2100), st.integers(), st.lists(st.text(max_size=3)))
FIELDS = st.sampled_from([*LIMITS, "other"])


@given(st.dictionaries(FIELDS, VALUES, max_size=6))
def test_any_input_is_cleaned_or_refused_with_its_field(raw) -> None:
    try:
        out = clean(raw, NOW)
    except EvidenceError as exc:
        assert exc.field in raw and exc.message
        return
    for name, value in (out or {}).items():
        assert name in LIMITS and isinstance(value, str) and 0 < len(value) <= LIMITS[name]


def test_a_consent_text_gets_its_hash_and_times_need_a_zone() -> None:
    out = clean({"consent_text": " Yes, text me. ", "ip": "::ffff:1.2.3.4"}, NOW)
    assert out == {
        "consent_text": "Yes, text me.",
        "ip": "::ffff:102:304",
        "consent_text_hash": text_hash("Yes, text me."),
    }
    with pytest.raises(EvidenceError):
        clean({"captured_at": "2026-12-01T10:00:00"}, NOW)


@pytest.mark.parametrize(
    ("action", "method", "evidence", "grade"),
    [
        ("opt_in", "api", None, Strength.NONE),
        ("opt_in", "reply", None, Strength.RECIPIENT_TEXT),
        ("list_opt_in", "import", {"source": "fair", "consent_version": "v1"}, Strength.DOCUMENTED),
        ("list_opt_in", "import", {"ip": "1.2.3.4"}, Strength.PARTIAL),
        ("list_opt_in", "reply", {"request_text": "Reply YES", "reply_text": "YES"}, Strength.DOUBLE_OPT_IN),
        ("opt_out", "reply", None, None),
    ],
)
def test_grades(action, method, evidence, grade) -> None:
    assert strength(action, method, {"evidence": evidence}) is grade
