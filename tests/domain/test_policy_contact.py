"""The HELP reply never sends a placeholder contact; the workspace time zone is a real zone."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stopline.domain.errors import InvalidInput
from stopline.domain.policy import Policy


@pytest.mark.parametrize("language", ["en", "fr", "es", "pt"])
@pytest.mark.parametrize("contact", ["", "support", "  Support "])
def test_no_contact_set_means_the_help_reply_leaves_the_contact_clause_out(language, contact):
    text = Policy(brand_name="Acme", help_contact=contact).confirmation_text("help", language)
    assert text.startswith("Acme")
    assert "support" not in text.lower() and "{" not in text
    assert "contact" not in text.lower()


def test_a_real_contact_is_named_in_the_help_reply():
    policy = Policy(brand_name="Acme", help_contact="help@acme.example or 555-0100")
    assert "contact help@acme.example or 555-0100." in policy.confirmation_text("help", "en")


def test_a_custom_help_text_loses_only_the_sentence_naming_the_missing_contact():
    policy = Policy.from_dict(
        {"confirmations": {"en": {"help": "{brand} help desk. Call {help_contact} today! Bye."}}}
    )
    assert policy.confirmation_text("help", "en") == "stopline help desk. Bye."


@given(st.text(max_size=60))
def test_help_text_never_shows_a_placeholder(contact):
    policy = Policy(help_contact=contact)
    text = policy.confirmation_text("help", "en")
    assert "{help_contact}" not in text
    if policy.real_help_contact:
        assert policy.real_help_contact in text


def test_time_zone_is_checked():
    assert Policy.from_dict({"time_zone": "America/Chicago"}).time_zone == "America/Chicago"
    with pytest.raises(InvalidInput):
        Policy.from_dict({"time_zone": "Nowhere/Land"})
    assert Policy().time_zone == "UTC"
