"""Reactions and quoted footers (domain.reactions): never a request to stop."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stopline.domain.keywords import Intent, KeywordConfig, classify
from stopline.domain.reactions import reaction, unquoted
from stopline.domain.text import fold

ALL_SETS = KeywordConfig(enabled_sets=("fr", "es", "pt"))

# What phones put before the quoted message, in the four languages.
PREFIXES = (
    "Liked",
    "Loved",
    "Disliked",
    "Laughed at",
    "Emphasized",
    "Questioned",
    "Reacted \U0001f44d to",
    "Reacted with \u2764\ufe0f to",
    "Removed a heart from",
    "A aim\u00e9",
    "A ador\u00e9",
    "N\u2019a pas aim\u00e9",
    "A ri de",
    "Le gust\u00f3",
    "Le encant\u00f3",
    "No le gust\u00f3",
    "Se ri\u00f3 de",
    "Curtiu",
    "Amou",
    "N\u00e3o curtiu",
    "Riu de",
    "\U0001f602 to",
)
QUOTES = (("\u201c", "\u201d"), ('"', '"'), ("\u00ab ", " \u00bb"))
FOOTERS = (
    "Reply STOP to unsubscribe.",
    "Msg&data rates may apply. Reply STOP to opt out",
    "Txt STOP to end",
    "R\u00e9pondez STOP pour vous d\u00e9sabonner",
    "STOP au 36111",
    "Responde BAJA para no recibir m\u00e1s mensajes",
    "Responda SAIR para n\u00e3o receber mais",
)
REQUESTS = (
    "please stop texting me",
    "unsubscribe",
    "ne m'envoyez plus de SMS",
    "quiero darme de baja",
)


@settings(max_examples=400, deadline=None)
@given(
    st.sampled_from(PREFIXES),
    st.sampled_from(QUOTES),
    st.one_of(st.sampled_from(FOOTERS + REQUESTS), st.text(max_size=80)),
    st.sampled_from(FOOTERS),
)
def test_a_reaction_is_never_flagged_whatever_it_quotes(prefix, quotes, body, footer) -> None:
    open_, close = quotes
    text = f"{prefix} {open_}{body} {footer}{close}"
    result = classify(text, ALL_SETS)
    assert result.intent is Intent.REACTION, text
    assert result.outcome() == "none"


ORDINARY = (
    "Thanks!",
    "See you then",
    "ok",
    "Got it, thank you",
    "Gracias!",
    "Merci !",
    "Obrigado!",
)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(ORDINARY + REQUESTS), st.sampled_from(FOOTERS), st.integers(0, 2))
def test_a_quoted_footer_changes_nothing_about_the_reply_above_it(reply, footer, style) -> None:
    quoted = (f"\n> {footer}", f' "{footer}"', f"\n\n\u201c{footer}\u201d")[style]
    assert classify(reply + quoted, ALL_SETS).outcome() == classify(reply, ALL_SETS).outcome()


def test_the_senders_own_words_after_a_reaction_still_count() -> None:
    text = "Liked \u201cReply STOP to unsubscribe\u201d but please stop texting me"
    assert reaction(text) is None
    assert classify(text).intent is Intent.POSSIBLE_OPT_OUT


@pytest.mark.parametrize(
    "text",
    [
        "I replied STOP to unsubscribe and you keep texting",
        "Thanks! Reply STOP to unsubscribe",  # the footer is stripped only where quoted
    ],
)
def test_unquoted_words_are_kept(text: str) -> None:
    assert unquoted(fold(text)) == fold(text)


def test_a_reaction_names_its_form_and_language() -> None:
    form = reaction("A aim\u00e9 \u00ab Soldes ! \u00bb")
    assert form is not None and form.language == "fr"
    result = classify("Le gust\u00f3 \u201cOfertas\u201d")
    assert (result.intent, result.language) == (Intent.REACTION, "es")
    assert reaction("Liked your post") is None


@pytest.mark.parametrize(
    ("text", "keyword"),
    [
        ("BAJA\n> Responde BAJA para no recibir m\u00e1s", "BAJA"),
        ("ARR\u00caT \u00ab R\u00e9pondez STOP pour vous d\u00e9sabonner \u00bb", "ARRET"),
        ("STOP\n> Reply STOP to unsubscribe", "STOP"),
    ],
)
def test_a_keyword_above_a_quoted_footer_still_counts(text: str, keyword: str) -> None:
    result = classify(text)
    assert (result.intent, result.keyword) == (Intent.OPT_OUT, keyword)
