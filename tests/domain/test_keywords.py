"""Inbound keyword classification (PRODUCT inbound rules 1-3)."""

from __future__ import annotations

import sys
import unicodedata

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from stopline.domain import keywords
from stopline.domain import text as text_folding
from stopline.domain.errors import InvalidInput
from stopline.domain.keywords import (
    BUILTIN_SETS,
    DEFAULT_ENABLED_SETS,
    DEFAULT_SET,
    POLITENESS,
    STOP_AS_VERB,
    Classification,
    Intent,
    Keyword,
    KeywordConfig,
    ListKeywords,
    MatchMode,
    available_sets,
    classify,
)

DEFAULT = KeywordConfig()


def intent(text: str, config: KeywordConfig = DEFAULT, **kwargs: object) -> Intent:
    return classify(text, config, **kwargs).intent  # type: ignore[arg-type]


# --- rule 1: where and how keywords match ---------------------------------------------


@pytest.mark.parametrize("text", ["STOP", "stop", "Stop", "sToP", "  STOP  ", "STOP\n"])
def test_stop_opts_out_in_any_case(text: str) -> None:
    result = classify(text, DEFAULT)
    assert result == Classification(
        Intent.OPT_OUT, "STOP", "default", "en", None, MatchMode.LEADING, None
    )


def test_stop_please_opts_out() -> None:
    assert intent("STOP please") == Intent.OPT_OUT


def test_stop_with_a_full_stop_opts_out() -> None:
    assert intent("Stop.") == Intent.OPT_OUT


@pytest.mark.parametrize("text", ['"STOP"', "*stop*", "🛑 STOP", "...stop", "(stop)", "#STOP"])
def test_punctuation_and_emoji_before_stop_are_ignored(text: str) -> None:
    assert intent(text) == Intent.OPT_OUT


def test_stop_followed_by_a_digit_opts_out() -> None:
    assert intent("STOP2") == Intent.OPT_OUT


def test_pleasestop_does_not() -> None:
    assert intent("PleaseStop") == Intent.NONE


def test_stopping_does_not() -> None:
    assert intent("stopping by later") == Intent.NONE
    assert intent("Stopwatch says 12 minutes") == Intent.NONE


def test_keyword_later_in_the_text_is_not_a_keyword() -> None:
    assert classify("Hi, STOP", DEFAULT).keyword is None


@pytest.mark.parametrize("text", ["Cancel.", "cancel!!", "CANCEL", " cancel 🙏 ", "End", "QUIT!"])
def test_whole_message_words_opt_out_alone(text: str) -> None:
    assert intent(text) == Intent.OPT_OUT
    assert classify(text, DEFAULT).match == MatchMode.WHOLE


def test_cancel_my_appointment_is_not_an_opt_out() -> None:
    result = classify("cancel my appointment", DEFAULT)
    assert result.intent == Intent.NONE


@pytest.mark.parametrize(
    "text", ["End of the week works", "quit my job last week", "Info about parking?"]
)
def test_whole_message_words_inside_a_reply_do_nothing(text: str) -> None:
    assert intent(text) == Intent.NONE


def test_fullwidth_stop_opts_out() -> None:
    assert intent("ＳＴＯＰ") == Intent.OPT_OUT
    assert intent("ｓｔｏｐ ｐｌｅａｓｅ") == Intent.OPT_OUT


def test_mathematical_bold_stop_opts_out() -> None:
    assert intent("\U0001d412\U0001d413\U0001d40e\U0001d40f") == Intent.OPT_OUT


@pytest.mark.parametrize("text", ["ſTOP", "ſtop", "STOPſ", "ẛTOP", "ﬅOP", "UNſUBSCRIBE", "Qſ"])
def test_long_s_is_not_s(text: str) -> None:
    result = classify(text, DEFAULT)
    assert result.keyword is None


def test_cyrillic_lookalike_is_not_stop() -> None:
    assert intent("\u0405\u0422\u041e\u0420") == Intent.NONE  # ЅТОР
    assert intent("\u0455\u0442\u043e\u0440") == Intent.NONE  # ѕтор


def test_greek_lookalike_is_not_stop() -> None:
    assert intent("\u03a4\u039f\u03a1") == Intent.NONE


def test_turkish_i_does_not_make_quit_or_info() -> None:
    assert intent("QU\u0130T") == Intent.NONE  # QUİT
    assert intent("qu\u0131t") == Intent.NONE  # quıt
    assert intent("\u0130NFO") == Intent.NONE


def test_accents_are_not_folded_in_english() -> None:
    assert intent("STÖP") == Intent.NONE


@pytest.mark.parametrize("text", ["ST\u200bOP", "\ufeffSTOP", "STOP\u200d", "\u200eStop"])
def test_zero_width_characters_are_ignored(text: str) -> None:
    assert intent(text) == Intent.OPT_OUT


def test_combined_accent_forms_are_the_same_word() -> None:
    decomposed = "ARRE\u0302T"
    assert classify(decomposed, DEFAULT).keyword == "ARRET"


# --- rule 2: the keyword sets ---------------------------------------------------------


@pytest.mark.parametrize("text", ["STOPALL", "UNSUBSCRIBE", "REVOKE", "OPTOUT", "OPT OUT"])
def test_default_opt_out_words(text: str) -> None:
    assert intent(text) == Intent.OPT_OUT


@pytest.mark.parametrize("text", ["START", "UNSTOP", "SUBSCRIBE", "start.", "Start!"])
def test_default_opt_in_words(text: str) -> None:
    assert intent(text) == Intent.OPT_IN


@pytest.mark.parametrize("text", ["Start time is 3?", "start please", "subscribe me to what?"])
def test_opt_in_words_inside_a_sentence_do_not_opt_in(text: str) -> None:
    assert intent(text) != Intent.OPT_IN


def test_unsubscribe_is_not_subscribe() -> None:
    assert classify("unsubscribe", DEFAULT).keyword == "UNSUBSCRIBE"


@pytest.mark.parametrize("text", ["HELP", "help me please", "Info", "INFO?"])
def test_help_words(text: str) -> None:
    assert intent(text) == Intent.HELP


def test_stop_all_is_the_longest_match() -> None:
    assert classify("STOP ALL", DEFAULT).keyword == "STOP ALL"
    assert classify("stop   all please", DEFAULT).keyword == "STOP ALL"
    assert classify("stop allowed?", DEFAULT).keyword == "STOP"


@pytest.mark.parametrize("text", ["opt-out", "Opt out", "OPT_OUT", "opt  out please"])
def test_multi_word_keyword_allows_hyphen_and_spaces(text: str) -> None:
    assert classify(text, DEFAULT).keyword == "OPT OUT"


def test_yes_opts_in_only_while_opted_out() -> None:
    assert intent("YES") == Intent.NONE
    assert intent("Yes!", opted_out=True) == Intent.OPT_IN
    assert classify("yes", DEFAULT, opted_out=True).keyword == "YES"
    assert intent("yes please", opted_out=True) == Intent.NONE


@pytest.mark.parametrize("text", ["ARRET", "arret", "ARRÊT", "arrêt", "Arrêt.", "ＡＲＲÊＴ"])
def test_arret_is_french(text: str) -> None:
    result = classify(text, DEFAULT)
    assert (result.intent, result.keyword, result.keyword_set, result.language) == (
        Intent.OPT_OUT,
        "ARRET",
        "fr",
        "fr",
    )


def test_aide_is_french_help() -> None:
    result = classify("Aide", DEFAULT)
    assert (result.intent, result.language) == (Intent.HELP, "fr")


def test_french_words_count_only_as_the_whole_message() -> None:
    assert intent("arrêt de bus") == Intent.NONE


@pytest.mark.parametrize("text", ["ALTO", "¡Baja!", "parar", "CANCELAR", "Detener", "salir"])
def test_spanish_opt_out_words(text: str) -> None:
    result = classify(text, DEFAULT)
    assert (result.intent, result.language) == (Intent.OPT_OUT, "es")


def test_spanish_help_and_opt_in() -> None:
    assert classify("AYUDA", DEFAULT).intent == Intent.HELP
    assert classify("volver", DEFAULT).intent == Intent.OPT_IN


def test_spanish_accents_fold() -> None:
    assert classify("BÁJA", DEFAULT).keyword == "BAJA"


def test_portuguese_is_off_by_default() -> None:
    # Not a keyword then, but still a plain Portuguese request to stop: a person reviews it.
    assert intent("SAIR") == Intent.POSSIBLE_OPT_OUT
    assert classify("SAIR", DEFAULT).language == "pt"
    assert intent("AJUDA") == Intent.NONE


def test_portuguese_can_be_switched_on() -> None:
    config = KeywordConfig(enabled_sets=("fr", "es", "pt"))
    assert classify("SAIR", config).language == "pt"
    assert classify("Ajuda", config).intent == Intent.HELP


def test_parar_follows_the_order_of_enabled_sets() -> None:
    assert classify("PARAR", KeywordConfig(enabled_sets=("es", "pt"))).language == "es"
    assert classify("PARAR", KeywordConfig(enabled_sets=("pt", "es"))).language == "pt"
    assert classify("PARAR", KeywordConfig(enabled_sets=("pt",))).keyword_set == "pt"


def test_switching_off_optional_sets_keeps_the_default_set() -> None:
    config = KeywordConfig(enabled_sets=())
    assert intent("ARRET", config) == Intent.NONE
    assert intent("STOP", config) == Intent.OPT_OUT
    assert KeywordConfig(enabled_sets=("default",)).enabled_sets == ()


def test_builtin_sets_and_defaults() -> None:
    assert available_sets() == ("fr", "es", "pt")
    assert DEFAULT_ENABLED_SETS == ("fr", "es")
    assert set(BUILTIN_SETS) == {"default", "fr", "es", "pt"}
    assert DEFAULT.enabled_sets == ("fr", "es")
    modes = {k.word: k.mode for k in DEFAULT_SET.keywords}
    for word in ("CANCEL", "END", "QUIT", "YES", "INFO", "START", "UNSTOP", "SUBSCRIBE"):
        assert modes[word] == MatchMode.WHOLE
    for word in ("STOP", "UNSUBSCRIBE", "HELP", "OPT OUT", "STOP ALL"):
        assert modes[word] == MatchMode.LEADING
    for name in available_sets():
        assert all(k.mode == MatchMode.WHOLE for k in BUILTIN_SETS[name].keywords)


# --- custom keywords ------------------------------------------------------------------


def _custom(*entries: dict[str, object]) -> KeywordConfig:
    return KeywordConfig.from_settings(DEFAULT_ENABLED_SETS, list(entries))  # type: ignore[arg-type]


def test_custom_leading_keyword() -> None:
    config = _custom({"word": "enough", "intent": "opt_out", "mode": "leading"})
    result = classify("Enough already", config)
    assert (result.intent, result.keyword, result.keyword_set) == (
        Intent.OPT_OUT,
        "ENOUGH",
        "custom",
    )
    assert intent("Enoughh", config) == Intent.NONE


def test_custom_keyword_is_whole_message_by_default() -> None:
    config = _custom({"word": "Hours", "intent": "help"})
    assert intent("hours?", config) == Intent.HELP
    assert intent("hours on sunday?", config) == Intent.NONE


def test_custom_multi_word_keyword() -> None:
    config = _custom({"word": "no  more", "intent": "opt_out", "mode": "leading"})
    assert config.custom[0].word == "NO MORE"
    assert classify("No more please", config).keyword == "NO MORE"
    assert classify("no-more", config).keyword == "NO MORE"


def test_custom_keyword_language_and_accent_folding() -> None:
    config = _custom(
        {"word": "Désabonner", "intent": "opt_out", "language": "fr", "fold_accents": "true"}
    )
    result = classify("DESABONNER", config)
    assert (result.intent, result.language) == (Intent.OPT_OUT, "fr")


def test_custom_opt_out_beats_custom_help_on_the_same_word() -> None:
    config = KeywordConfig(
        custom=(
            Keyword("ENOUGH", Intent.HELP, MatchMode.WHOLE),
            Keyword("ENOUGH", Intent.OPT_OUT, MatchMode.LEADING),
        )
    )
    assert intent("enough", config) == Intent.OPT_OUT


def test_custom_keywords_do_not_change_the_default_config() -> None:
    _custom({"word": "enough", "intent": "opt_out", "mode": "leading"})
    assert intent("enough") == Intent.NONE


@pytest.mark.parametrize(
    ("enabled", "custom", "code"),
    [
        (("fr", "xx"), [], "keyword_set_unknown"),
        (("fr",), [{"word": "", "intent": "opt_out"}], "keyword_word_invalid"),
        (("fr",), [{"word": "   ", "intent": "opt_out"}], "keyword_word_invalid"),
        (("fr",), [{"word": "stop!", "intent": "opt_out"}], "keyword_word_invalid"),
        (("fr",), [{"word": "x" * 31, "intent": "opt_out"}], "keyword_word_invalid"),
        (("fr",), [{"word": 12, "intent": "opt_out"}], "keyword_word_invalid"),
        (("fr",), [{"word": "enough", "intent": "maybe"}], "keyword_intent_invalid"),
        (("fr",), [{"word": "enough", "intent": "none"}], "keyword_intent_invalid"),
        (("fr",), [{"word": "enough", "intent": "possible_opt_out"}], "keyword_intent_invalid"),
        (("fr",), [{"word": "enough", "intent": "opt_out", "mode": "x"}], "keyword_mode_invalid"),
        (
            ("fr",),
            [{"word": "enough", "intent": "help", "language": "!!"}],
            "keyword_language_invalid",
        ),
        (("fr",), [{"word": "Stop", "intent": "help"}], "keyword_reserved"),
        (("fr",), [{"word": "opt-out", "intent": "opt_out"}], "keyword_reserved"),
        (
            ("fr",),
            [{"word": "a", "intent": "help"}, {"word": "A", "intent": "help"}],
            "keyword_duplicate",
        ),
        (("fr",), [{"intent": "help"}], "keyword_invalid"),
        (("fr",), ["stop"], "keyword_invalid"),
        (("fr",), [{"word": "a", "intent": "help", "colour": "red"}], "keyword_invalid"),
        (("fr",), [{"word": "a", "intent": "help", "fold_accents": "maybe"}], "keyword_invalid"),
    ],
)
def test_from_settings_rejects_bad_settings_clearly(
    enabled: tuple[str, ...], custom: list[object], code: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        KeywordConfig.from_settings(enabled, custom)  # type: ignore[arg-type]
    assert caught.value.code == code
    assert caught.value.message.endswith(".")


def test_config_is_hashable_and_equal_by_value() -> None:
    a = _custom({"word": "enough", "intent": "opt_out"})
    b = _custom({"word": "ENOUGH", "intent": "opt_out"})
    assert a == b and hash(a) == hash(b)


# --- list keywords (seed 001) ---------------------------------------------------------

MARKETING = ListKeywords.from_settings(
    7,
    [
        {"word": "OPTOUT", "intent": "opt_out"},
        {"word": "HELP", "intent": "help"},
        {"word": "PROMOS", "intent": "opt_in", "mode": "leading"},
    ],
    help_text="Reply OPTOUT to leave marketing, STOP to leave everything.",
)


def test_list_optout_leaves_only_that_list() -> None:
    result = classify("OPTOUT", DEFAULT, list_keywords=[MARKETING])
    assert (result.intent, result.keyword, result.keyword_set, result.list_id) == (
        Intent.OPT_OUT,
        "OPTOUT",
        "list",
        7,
    )


def test_without_the_list_optout_is_global() -> None:
    result = classify("OPTOUT", DEFAULT)
    assert (result.keyword_set, result.list_id) == ("default", None)


def test_stop_stays_global_even_with_list_keywords() -> None:
    result = classify("STOP", DEFAULT, list_keywords=[MARKETING])
    assert (result.intent, result.list_id) == (Intent.OPT_OUT, None)


def test_list_help_is_the_lists() -> None:
    result = classify("help", DEFAULT, list_keywords=[MARKETING])
    assert (result.intent, result.list_id) == (Intent.HELP, 7)


def test_longer_global_keyword_beats_a_shorter_list_keyword() -> None:
    short = ListKeywords(3, (Keyword("OPT", Intent.OPT_OUT, MatchMode.LEADING),))
    assert classify("opt out", DEFAULT, list_keywords=[short]).list_id is None
    assert classify("opt in", DEFAULT, list_keywords=[short]).list_id == 3


def test_first_list_wins_between_lists_with_the_same_word() -> None:
    other = ListKeywords(9, (Keyword("OPTOUT", Intent.OPT_OUT, MatchMode.WHOLE),))
    assert classify("optout", DEFAULT, list_keywords=[MARKETING, other]).list_id == 7
    assert classify("optout", DEFAULT, list_keywords=[other, MARKETING]).list_id == 9


@pytest.mark.parametrize("word", ["STOP", "stop all", "Unsubscribe", "CANCEL", "START"])
def test_a_list_cannot_take_over_global_words(word: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        ListKeywords.from_settings(1, [{"word": word, "intent": "opt_out"}])
    assert caught.value.code == "keyword_reserved"


# --- rule 3: possible revocations -----------------------------------------------------


def test_plain_language_request_is_a_possible_opt_out() -> None:
    result = classify("please stop texting me", DEFAULT)
    assert (result.intent, result.phrase) == (Intent.POSSIBLE_OPT_OUT, "stop texting me")


def test_keyword_wins_over_the_revocation_detector() -> None:
    assert classify("stop texting me", DEFAULT).intent == Intent.OPT_OUT


def test_wrong_number_is_a_possible_opt_out() -> None:
    assert classify("wrong number", DEFAULT).intent == Intent.POSSIBLE_OPT_OUT


# --- robustness -----------------------------------------------------------------------


def test_format_character_class_matches_unicode() -> None:
    expected = {chr(c) for c in range(sys.maxunicode + 1) if unicodedata.category(chr(c)) == "Cf"}
    actual = {chr(c) for c in range(sys.maxunicode + 1) if text_folding.FORMAT.match(chr(c))}
    assert expected <= actual
    # The class follows Unicode 15; on an older Python the newer ones are unassigned here.
    assert all(unicodedata.category(c) == "Cn" for c in actual - expected)


def test_long_s_guard_covers_every_character_built_on_long_s() -> None:
    # NFKD would already have turned the long s into "s": follow the raw decomposition mappings.
    def built_on_long_s(c: str) -> bool:
        if c == "\u017f":
            return True
        parts = [p for p in unicodedata.decomposition(c).split() if not p.startswith("<")]
        return any(built_on_long_s(chr(int(p, 16))) for p in parts)

    found = {chr(c) for c in range(sys.maxunicode + 1) if built_on_long_s(chr(c))}
    assert found == set(text_folding.LONG_S)


@pytest.mark.parametrize("text", ["", " ", "\x00", "\ud800STOP", "STOP\udfff", "🛑" * 5000])
def test_odd_input_does_not_crash(text: str) -> None:
    assert isinstance(classify(text, DEFAULT), Classification)


def test_non_text_is_none() -> None:
    assert intent(None) == Intent.NONE  # type: ignore[arg-type]
    assert intent(b"STOP") == Intent.NONE  # type: ignore[arg-type]


CONFIGS = [
    DEFAULT,
    KeywordConfig(enabled_sets=("pt", "es", "fr")),
    KeywordConfig.from_settings(
        (), [{"word": "no more", "intent": "opt_out", "mode": "leading", "language": "en"}]
    ),
]


@settings(max_examples=2000, deadline=None)
@given(st.text(), st.sampled_from(CONFIGS), st.booleans())
@example("ſTOP", DEFAULT, False)
@example("\u0345", DEFAULT, False)
def test_classify_never_crashes_on_arbitrary_text(
    text: str, config: KeywordConfig, opted_out: bool
) -> None:
    result = classify(text, config, opted_out=opted_out, list_keywords=[MARKETING])
    assert isinstance(result, Classification)
    assert result.intent in set(Intent)


def _stays_a_non_letter(c: str) -> bool:
    # After normalisation the character must still not read as (part of) a word.
    if unicodedata.category(c)[0] in "LM" or unicodedata.category(c) == "Cf":
        return False
    if c in text_folding.LONG_S:
        return False
    normal = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", c).casefold())
    return not normal or not (normal[0].isalpha() or unicodedata.category(normal[0])[0] == "M")


def _stays_a_letter(c: str) -> bool:
    if unicodedata.category(c)[0] != "L":
        return False
    if c in text_folding.LONG_S:
        return True
    normal = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", c).casefold())
    return bool(normal) and normal[0].isalpha()


def _any_case(word: str) -> st.SearchStrategy[str]:
    return st.tuples(*(st.sampled_from(sorted({ch.lower(), ch.upper()})) for ch in word)).map(
        "".join
    )


non_letters = st.characters(codec="utf-8").filter(_stays_a_non_letter)
letters = st.characters(codec="utf-8").filter(_stays_a_letter)
LEADING_WORDS = [k.word for k in DEFAULT_SET.keywords if k.mode == MatchMode.LEADING]


@settings(max_examples=1000, deadline=None)
@given(st.text(" \t", max_size=3), _any_case("stop"), non_letters, st.text(max_size=30))
@example("", "STOP", ".", "")
@example("", "stop", "2", "x")
@example("", "Stop", "_", "please")
def test_stop_then_a_non_letter_opts_out(space: str, stop: str, after: str, rest: str) -> None:
    assert intent(space + stop + after + rest) == Intent.OPT_OUT


@settings(max_examples=1000, deadline=None)
@given(st.sampled_from(LEADING_WORDS), letters, st.text(max_size=20))
@example("STOP", "\u017f", "")
@example("HELP", "s", "")
def test_letters_glued_after_a_keyword_never_match_it(word: str, glued: str, rest: str) -> None:
    result = classify(word.lower() + glued + rest, DEFAULT)
    assert result.keyword != word


@settings(max_examples=500, deadline=None)
@given(st.sampled_from(LEADING_WORDS).flatmap(lambda w: st.tuples(st.just(w), _any_case(w))))
def test_leading_keywords_match_in_any_case(case: tuple[str, str]) -> None:
    word, written = case
    assert classify(written, DEFAULT).keyword == word


@settings(max_examples=500, deadline=None)
@given(st.sampled_from(["CANCEL", "END", "QUIT", "INFO"]), st.text(min_size=1, max_size=20))
def test_whole_words_followed_by_more_words_do_not_match(word: str, tail: str) -> None:
    text = f"{word.lower()} appointment {tail}"
    assert classify(text, DEFAULT).keyword != word


# --- hole 1: a list keyword never shadows an enabled opt-out word ------------------------------


def _list(list_id: int, word: str, intent: str) -> ListKeywords:
    return ListKeywords.from_settings(list_id, [{"word": word, "intent": intent}])


@pytest.mark.parametrize(
    ("word", "intent_of_list"),
    [
        ("BAJA", "opt_in"),
        ("ARRET", "help"),
        ("ARRÊT", "opt_in"),
        ("ALTO", "help"),
        ("PARAR", "opt_in"),
        ("OPT OUT", "opt_in"),
        ("OPT OUT NOW", "opt_in"),  # longer, and still an opt-out word first
    ],
)
def test_an_opt_out_word_beats_a_list_keyword_of_another_intent(
    word: str, intent_of_list: str
) -> None:
    """A list keyword stored before the check (or a set switched on later) cannot win."""
    lists = [_list(7, word, intent_of_list)]
    for text in (word, word.lower(), f"{word}.", "arrêt" if word.startswith("ARR") else word):
        result = classify(text, DEFAULT, list_keywords=lists)
        if result.keyword_set == "list":
            pytest.fail(f"{text!r} was read as list {intent_of_list}: {result}")
        assert result.intent is Intent.OPT_OUT, text


def test_a_list_opt_out_keyword_still_leaves_only_that_list() -> None:
    """Seed 001: OPTOUT, where a list defines it as its opt-out word, leaves that list."""
    result = classify("OPTOUT", DEFAULT, list_keywords=[_list(3, "OPTOUT", "opt_out")])
    assert (result.intent, result.list_id) == (Intent.OPT_OUT, 3)


@pytest.mark.parametrize(
    ("word", "intent_of_list", "sets", "owner"),
    [
        ("BAJA", "opt_in", ("es",), "es"),
        ("baja ya", "help", ("es",), "es"),
        ("ARRÊT", "opt_in", ("fr",), "fr"),
        ("SAIR", "opt_in", ("pt",), "pt"),
        ("OPT OUT", "help", (), "default"),
        ("STOP NOW", "opt_out", (), "default"),  # STOP belongs to the workspace, any intent
        ("STOP2", "help", (), "default"),
        ("YES", "help", (), "default"),
        ("VOLVER", "opt_out", ("es",), "es"),  # an opt-in word cannot be a list's opt-out either
    ],
)
def test_shadowed_keyword_names_the_set_that_owns_the_word(
    word: str, intent_of_list: str, sets: tuple[str, ...], owner: str
) -> None:
    keyword = _list(1, word, intent_of_list).keywords[0]
    shadowed = keywords.shadowed_keyword(keyword, KeywordConfig(enabled_sets=sets))
    assert shadowed is not None and shadowed.set_name == owner
    error = keywords.shadowing_error(keyword, shadowed, "Offers")
    assert error.code == "keyword_reserved" and error.detail["keyword_set"] == owner


@pytest.mark.parametrize(
    ("word", "intent_of_list", "sets"),
    [
        ("SAIR", "opt_in", ("fr", "es")),  # Portuguese is off: SAIR is no opt-out word here
        ("OPTOUT", "opt_out", ()),  # seed 001: same intent
        ("BAJAR", "help", ("es",)),  # begins with BAJA but goes on with a letter
        ("OFFERS", "help", ("fr", "es", "pt")),
    ],
)
def test_list_keywords_that_shadow_nothing_are_allowed(
    word: str, intent_of_list: str, sets: tuple[str, ...]
) -> None:
    keyword = _list(1, word, intent_of_list).keywords[0]
    assert keywords.shadowed_keyword(keyword, KeywordConfig(enabled_sets=sets)) is None


_ALL_WORDS = sorted(
    {k.word for s in BUILTIN_SETS.values() for k in s.keywords}
    | {"OFFERS", "DEALS", "JOIN", "NEWS", "SALE", "BAJAR", "ALTOS", "INFO PLEASE"}
)
_word_like = st.one_of(
    st.sampled_from(_ALL_WORDS),
    st.builds(
        lambda w, tail: f"{w} {tail}",
        st.sampled_from(_ALL_WORDS),
        st.sampled_from(["NOW", "YA", "2", "PLEASE", "ALL"]),
    ),
    st.builds(lambda w: w.lower().replace("E", "É"), st.sampled_from(_ALL_WORDS)),
    st.from_regex(r"[A-Z]{2,8}( [A-Z]{2,6})?", fullmatch=True),
)
_custom_entry = st.fixed_dictionaries(
    {
        "word": _word_like,
        "intent": st.sampled_from(["opt_out", "opt_in", "help"]),
        "mode": st.sampled_from(["whole", "leading"]),
    }
)


def _accepted_config(sets: list[str], custom: list[dict[str, str]]) -> KeywordConfig | None:
    try:
        return KeywordConfig.from_settings(sets, custom)
    except InvalidInput:
        return None


@settings(max_examples=400, deadline=None)
@given(
    sets=st.lists(st.sampled_from(list(available_sets())), unique=True),
    custom=st.lists(_custom_entry, max_size=3),
    candidates=st.lists(
        st.tuples(st.integers(1, 3), _word_like, st.sampled_from(["opt_out", "opt_in", "help"])),
        max_size=8,
    ),
    opted_out=st.booleans(),
)
def test_every_enabled_opt_out_word_still_opts_out_under_any_accepted_list_keywords(
    sets: list[str],
    custom: list[dict[str, str]],
    candidates: list[tuple[int, str, str]],
    opted_out: bool,
) -> None:
    """For any keyword sets and list keywords the API accepts (`services.lists.check_keywords`
    refuses exactly what `shadowed_keyword` names), every enabled opt-out word opts out: the
    workspace, or (seed 001) the list that defines that very word as its own opt-out word."""
    config = _accepted_config(sets, custom)
    if config is None:
        return
    accepted: dict[int, list[dict[str, str]]] = {}
    taken: set[str] = set()
    for list_id, word, list_intent in candidates:
        try:
            keyword = _list(list_id, word, list_intent).keywords[0]
        except InvalidInput:
            continue  # refused by the list rules themselves (reserved, not a word)
        if keyword.word in taken or keywords.shadowed_keyword(keyword, config) is not None:
            continue
        taken.add(keyword.word)
        accepted.setdefault(list_id, []).append({"word": word, "intent": list_intent})
    lists = [ListKeywords.from_settings(i, entries) for i, entries in sorted(accepted.items())]
    own_opt_outs = {k.word for lk in lists for k in lk.keywords if k.intent is Intent.OPT_OUT}
    enabled = [*DEFAULT_SET.keywords, *config.custom]
    enabled += [k for name in config.enabled_sets for k in BUILTIN_SETS[name].keywords]
    for word in (k for k in enabled if k.intent is Intent.OPT_OUT):
        texts = [word.word, word.word.lower(), f"{word.word}."]
        if word.mode is MatchMode.LEADING:
            texts += [f"{word.word} now", f"{word.word} ya", f"{word.word} 2", f"{word.word}2"]
        for text in texts:
            result = classify(text, config, opted_out=opted_out, list_keywords=lists)
            assert result.intent is Intent.OPT_OUT, (text, result, lists)
            if result.list_id is not None:
                assert result.keyword in own_opt_outs, (text, result)


# --- politeness, spaced letters, STOP as an ordinary word ---------------------------------------

ALL_SETS = KeywordConfig(enabled_sets=("fr", "es", "pt"))
POLITE_WORDS = sorted({p for words in POLITENESS.values() for p in words})
POLITE_KEYWORDS = sorted(
    k.word for name in ("fr", "es", "pt") for k in BUILTIN_SETS[name].keywords if k.polite
)


@settings(max_examples=500, deadline=None)
@given(
    st.sampled_from(POLITE_KEYWORDS),
    st.sampled_from(POLITE_WORDS),
    st.sampled_from([" ", ", ", " - ", "  "]),
    st.booleans(),
    st.booleans(),
)
def test_a_keyword_with_a_politeness_word_is_the_keyword(word, polite, sep, before, upper) -> None:
    text = f"{polite}{sep}{word}" if before else f"{word}{sep}{polite}"
    text = text.upper() if upper else text.lower()
    alone, with_polite = classify(word, ALL_SETS), classify(text, ALL_SETS)
    assert (with_polite.intent, with_polite.keyword, with_polite.language) == (
        alone.intent,
        alone.keyword,
        alone.language,
    ), text


@pytest.mark.parametrize(
    ("text", "word", "language"),
    [
        ("BAJA por favor", "BAJA", "es"),
        ("ARRÊT svp", "ARRET", "fr"),
        ("Arrêt, s\u2019il vous plaît", "ARRET", "fr"),
        ("ALTO por favor", "ALTO", "es"),
        ("Por favor, BAJA", "BAJA", "es"),
        ("Please STOP", "STOP", "en"),
    ],
)
def test_stop_words_with_please_opt_out(text: str, word: str, language: str) -> None:
    result = classify(text, DEFAULT)
    assert (result.intent, result.keyword, result.language) == (Intent.OPT_OUT, word, language)


def test_pare_is_portuguese_and_polite() -> None:
    assert classify("PARE por favor", ALL_SETS).keyword == "PARE"


@pytest.mark.parametrize("text", ["Cancel please", "cancelar por favor"])
def test_cancel_please_is_ambiguous_and_goes_to_review(text: str) -> None:
    assert classify(text, ALL_SETS).intent == Intent.POSSIBLE_OPT_OUT


_SENTENCE_WORDS = (
    "mañana",
    "está",
    "bien",
    "la",
    "temperatura",
    "de",
    "bus",
    "do",
    "trabalho",
    "às",
)


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(
        sorted({k.word for n in ("fr", "es", "pt") for k in BUILTIN_SETS[n].keywords} | {"PARA"})
    ),
    st.lists(st.sampled_from(_SENTENCE_WORDS), min_size=2, max_size=5),
)
def test_a_whole_message_keyword_inside_a_sentence_is_no_keyword(word, rest) -> None:
    text = " ".join([word.lower(), *rest])
    assert classify(text, ALL_SETS).intent not in (Intent.OPT_OUT, Intent.OPT_IN, Intent.HELP)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.sampled_from([" ", ".", "-", " . ", "  "]), min_size=3, max_size=3), st.booleans()
)
def test_spaced_letters_read_as_the_word(separators, upper) -> None:
    letters = "STOP" if upper else "stop"
    text = letters[0] + "".join(sep + c for sep, c in zip(separators, letters[1:], strict=True))
    result = classify(text, DEFAULT)
    assert (result.intent, result.keyword) == (Intent.OPT_OUT, "STOP"), text


@pytest.mark.parametrize(
    "text",
    [
        "Stop by tomorrow?",
        "Stop at the front desk when you arrive?",
        "stop in early to drop off the forms?",
        "Stop light on Main is out, I'll be late",
        "Stop on your way home?",
    ],
)
def test_stop_as_an_ordinary_word_goes_to_review_by_its_own_rule(text: str) -> None:
    result = classify(text, DEFAULT)
    assert (result.intent, result.phrase) == (Intent.POSSIBLE_OPT_OUT, STOP_AS_VERB)
    assert result.outcome() == "review" and result.outcome(auto_opt_out=True) == "opt_out"


@pytest.mark.parametrize("text", ["STOP at once", "STOP, by the way", "Stop.", "STOP texting me"])
def test_stop_as_a_request_still_opts_out(text: str) -> None:
    assert classify(text, DEFAULT).intent == Intent.OPT_OUT


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("STOP svp", "fr"),
        ("Stop merci", "fr"),
        ("svp STOP", "fr"),
        ("STOP por favor", "es"),
        ("Stop, gracias", "es"),
        ("stop pfv", "pt"),
        ("STOP please", "en"),
        ("STOP", "en"),
    ],
)
def test_stop_with_a_politeness_word_is_answered_in_its_language(text: str, language: str) -> None:
    result = classify(text, DEFAULT)
    assert (result.intent, result.keyword, result.language) == (Intent.OPT_OUT, "STOP", language)
