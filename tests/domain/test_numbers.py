"""Phone-number normalisation: behaviour, and the shortcuts proved against phonenumbers' full path."""

from __future__ import annotations

import pickle
import random

import phonenumbers
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from phonenumbers import PhoneNumberFormat, PhoneNumberType

from stopline.domain import numbers
from stopline.domain.errors import InvalidInput
from stopline.domain.numbers import (
    Normalized,
    channel_address,
    is_e164,
    normalize,
    normalize_many,
    normalize_with_warnings,
)

REGIONS = sorted(phonenumbers.SUPPORTED_REGIONS)


def reference(raw: str, region: str) -> str | None:
    """The full path: phonenumbers parse + is_valid_number + format E.164."""
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)


def outcome(raw: str, region: str) -> str | None:
    try:
        return normalize(raw, region)
    except InvalidInput:
        return None


def _example_numbers() -> list[phonenumbers.PhoneNumber]:
    found = []
    for region in REGIONS:
        for kind in PhoneNumberType.values():
            number = phonenumbers.example_number_for_type(region, kind)
            if number is not None:
                found.append(number)
    for code in sorted(phonenumbers.COUNTRY_CODES_FOR_NON_GEO_REGIONS):
        number = phonenumbers.example_number_for_non_geo_entity(code)
        if number is not None:
            found.append(number)
    return found


EXAMPLES = _example_numbers()
EXAMPLE_E164 = sorted({phonenumbers.format_number(n, PhoneNumberFormat.E164) for n in EXAMPLES})


@st.composite
def e164_like(draw: st.DrawFn) -> str:
    """Valid example numbers with digits changed, added or removed: mostly near the valid edge."""
    base = draw(st.sampled_from(EXAMPLE_E164))
    digits = list(base[1:])
    for _ in range(draw(st.integers(0, 3))):
        op = draw(st.sampled_from(("replace", "replace", "insert", "delete")))
        at = draw(st.integers(1, len(digits)))
        digit = draw(st.sampled_from("0123456789"))
        if op == "replace" and at < len(digits):
            digits[at] = digit
        elif op == "insert":
            digits.insert(at, digit)
        elif op == "delete" and len(digits) > 2:
            del digits[min(at, len(digits) - 1)]
    return "+" + "".join(digits)


@st.composite
def formatted_number(draw: st.DrawFn) -> tuple[str, str]:
    """A (near-)valid number written the ways people write it, with a default region."""
    e164 = draw(e164_like())
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return e164, draw(st.sampled_from(REGIONS))
    own = phonenumbers.region_code_for_number(number)
    if own not in phonenumbers.SUPPORTED_REGIONS:  # "001" for +800 etc. is no default region
        own = "US"
    region = draw(st.one_of(st.just(own), st.sampled_from(REGIONS)))
    style = draw(
        st.sampled_from(
            (
                PhoneNumberFormat.NATIONAL,
                PhoneNumberFormat.INTERNATIONAL,
                PhoneNumberFormat.E164,
                PhoneNumberFormat.RFC3966,
            )
        )
    )
    text = phonenumbers.format_number(number, style)
    if style == PhoneNumberFormat.INTERNATIONAL and draw(st.booleans()):
        idd = phonenumbers.PhoneMetadata.metadata_for_region(region, None)
        prefix = (idd.preferred_international_prefix or "00") if idd else "00"
        text = prefix + " " + text[1:]
    separator = draw(st.sampled_from((None, "", ".", "-", "  ")))
    if separator is not None:
        text = text.replace(" ", separator)
    return text, region


# --- behaviour ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "region"),
    [
        ("(415) 555-0100", "US"),
        ("415.555.0100", "US"),
        ("415-555-0100", "US"),
        ("+1 415 555 0100", "US"),
        ("+14155550100", "US"),
        ("1 (415) 555-0100", "US"),
        ("  +1 (415) 555-0100  ", "us"),
        ("\uff0b\uff11 \uff14\uff11\uff15 \uff15\uff15\uff15 \uff10\uff11\uff10\uff10", "US"),
    ],
)
def test_us_formats_normalise_to_e164(raw: str, region: str) -> None:
    assert normalize(raw, region) == "+14155550100"


@pytest.mark.parametrize(
    ("raw", "region"),
    [
        ("+44 20 7946 0958", "US"),
        ("0044 20 7946 0958", "GB"),
        ("020 7946 0958", "GB"),
        ("+44 (0)20 7946 0958", "GB"),
        ("011 44 20 7946 0958", "US"),
    ],
)
def test_uk_formats_normalise_to_e164(raw: str, region: str) -> None:
    assert normalize(raw, region) == "+442079460958"


def test_extension_is_dropped_with_a_warning() -> None:
    result = normalize_with_warnings("415-555-0100 ext. 123", "US")
    assert result == Normalized("+14155550100", ("extension 123 dropped",))
    assert normalize("415-555-0100 x123", "US") == "+14155550100"


def test_number_without_extension_has_no_warnings() -> None:
    assert normalize_with_warnings("+14155550100").warnings == ()


@pytest.mark.parametrize(
    ("raw", "region", "code"),
    [
        ("", "US", "number_empty"),
        ("   ", "US", "number_empty"),
        ("hello", "US", "number_not_a_number"),
        ("call me", "US", "number_not_a_number"),
        ("1", "US", "number_too_short"),
        ("415555010", "US", "number_too_short"),
        ("5550100", "US", "number_too_short"),
        ("+44 20 1", "US", "number_too_short"),
        ("41555501000", "US", "number_too_long"),
        ("4155550100123456789", "US", "number_too_long"),
        ("+1 555 555 5555", "US", "number_invalid_for_region"),
        ("+1 415 055 0100", "US", "number_invalid_for_region"),
        ("911", "US", "number_short_code"),
        ("22395", "US", "number_short_code"),
        ("+999 1234567", "US", "number_unknown_country_code"),
        ("4155550100", "XX", "number_invalid_region"),
        ("4155550100", "", "number_invalid_region"),
    ],
)
def test_each_failure_has_its_own_code(raw: str, region: str, code: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        normalize(raw, region)
    assert caught.value.code == code
    assert caught.value.detail["input"] == raw
    message = caught.value.message
    assert message.endswith(".") and "\n" not in message
    if raw.strip():
        assert raw.strip() in message


def test_error_message_names_the_region_of_an_international_number() -> None:
    with pytest.raises(InvalidInput, match="for GB"):
        normalize("+44 10 1234 5678", "US")


def test_non_text_input_is_rejected_not_crashed() -> None:
    with pytest.raises(InvalidInput) as caught:
        normalize(None, "US")  # type: ignore[arg-type]
    assert caught.value.code == "number_empty"
    with pytest.raises(InvalidInput) as caught:
        normalize(4155550100, "US")  # type: ignore[arg-type]
    assert caught.value.code == "number_not_a_number"


def test_is_e164() -> None:
    assert is_e164("+14155550100")
    assert not is_e164("14155550100")
    assert not is_e164("+04155550100")
    assert not is_e164("+1 415 555 0100")
    assert not is_e164("+\uff11\uff14\uff11\uff15\uff15\uff15\uff15\uff10\uff11\uff10\uff10")
    assert not is_e164(None)  # type: ignore[arg-type]


VALID_E164 = st.from_regex(r"\+[1-9][0-9]{5,18}", fullmatch=True)
ALMOST_E164 = st.one_of(
    VALID_E164,
    st.from_regex(r"\+?[0-9\n ]{0,20}(\n\+[1-9][0-9]{6})?", fullmatch=True),
    st.from_regex(r"\+[0-9+]{3,21}", fullmatch=True),  # a "+" inside, a leading 0, lengths
    st.from_regex(r"\+1[0-9\uff10-\uff19\u0660-\u0669]{6}", fullmatch=True),  # other digits
    st.none(),
    st.integers(),
)


@settings(max_examples=400)
@given(st.lists(ALMOST_E164, max_size=6))
def test_first_not_e164_finds_what_is_e164_refuses(values) -> None:
    expected = next((v for v in values if not is_e164(v)), None)
    assert numbers.first_not_e164(values) == expected


@given(st.lists(VALID_E164, min_size=1, max_size=5), st.integers(0, 4))
def test_first_not_e164_is_not_fooled_by_a_line_break_inside_a_value(values, at) -> None:
    smuggled = values[at % len(values)] + "\n" + values[0]
    mixed = [*values, smuggled]
    assert numbers.first_not_e164(mixed) == smuggled
    assert numbers.first_not_e164(values) is None
    assert numbers.first_not_e164([]) is None


def test_normalize_many_returns_errors_in_place_without_raising() -> None:
    rows = ["(415) 555-0100", "nope", "", "+44 20 7946 0958", "415 555 0100 x7"]
    results = normalize_many(rows, "US")
    assert [type(r).__name__ for r in results] == [
        "Normalized",
        "InvalidInput",
        "InvalidInput",
        "Normalized",
        "Normalized",
    ]
    assert results[0] == Normalized("+14155550100")
    assert isinstance(results[1], InvalidInput) and results[1].code == "number_not_a_number"
    assert isinstance(results[2], InvalidInput) and results[2].code == "number_empty"
    assert results[4] == Normalized("+14155550100", ("extension 7 dropped",))


def test_normalize_many_results_survive_pickling_for_worker_processes() -> None:
    results = normalize_many(["(415) 555-0100", "nope"], "US")
    copied = pickle.loads(pickle.dumps(results))
    assert copied[0] == results[0]
    assert isinstance(copied[1], InvalidInput)
    assert copied[1].code == "number_not_a_number"
    assert copied[1].as_dict() == results[1].as_dict()  # type: ignore[union-attr]
    assert pickle.loads(pickle.dumps(normalize_many)) is normalize_many


def test_repeated_failures_raise_fresh_errors() -> None:
    # Results are cached; the exception raised must not be a shared, ever-growing instance.
    seen = []
    for _ in range(3):
        with pytest.raises(InvalidInput) as caught:
            normalize("nope", "US")
        seen.append(caught.value)
    assert len({id(e) for e in seen}) == 3


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("+1 415 555 0100", "+14155550100"),
        ("(415) 555-0100", "+14155550100"),
        ("22395", "22395"),
        ("223 95", "22395"),
        ("123456", "123456"),
        ("MG0123456789abcdef0123456789ABCDEF", "MG0123456789abcdef0123456789ABCDEF"),
        ("  MG0123456789abcdef0123456789abcdef ", "MG0123456789abcdef0123456789abcdef"),
    ],
)
def test_channel_address_accepts_numbers_short_codes_and_service_ids(
    raw: str, expected: str
) -> None:
    assert channel_address(raw, "US") == expected


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("MG123", "channel_service_id_invalid"),
        ("mg0123456789abcdef0123456789abcdef", "channel_service_id_invalid"),
        ("MG0123456789abcdef0123456789abcdeg", "channel_service_id_invalid"),
        ("hello", "channel_address_invalid"),
        ("", "channel_address_invalid"),
        ("911", "channel_short_code_invalid"),
        ("+1 555 555 5555", "number_invalid_for_region"),
    ],
)
def test_channel_address_rejects_clearly(raw: str, code: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        channel_address(raw, "US")
    assert caught.value.code == code


def test_channel_address_short_code_needs_a_known_region() -> None:
    with pytest.raises(InvalidInput) as caught:
        channel_address("22395", "XX")
    assert caught.value.code == "number_invalid_region"


# --- shortcuts == full path ---------------------------------------------------------


def test_fast_validator_agrees_with_is_valid_number_for_every_calling_code() -> None:
    rnd = random.Random(20240601)
    checked = 0
    for e164 in EXAMPLE_E164:
        number = phonenumbers.parse(e164, None)
        code = number.country_code
        nsn = phonenumbers.national_significant_number(number)
        variants = {nsn}
        for _ in range(30):
            keep = rnd.randint(0, len(nsn))
            length = max(1, len(nsn) + rnd.randint(-2, 2))
            tail = "".join(rnd.choice("0123456789") for _ in range(max(0, length - keep)))
            variants.add((nsn[:keep] + tail)[:17])
        for variant in variants:
            candidate = phonenumbers.PhoneNumber(country_code=code, national_number=int(variant))
            if variant.startswith("0") and len(variant) > 1:
                zeros = len(variant) - len(variant.lstrip("0"))
                zeros = min(zeros, len(variant) - 1)
                candidate.italian_leading_zero = True
                candidate.number_of_leading_zeros = zeros if zeros != 1 else None
            expected = phonenumbers.is_valid_number(candidate)
            nsn_back = phonenumbers.national_significant_number(candidate)
            assert numbers._fast_valid(code, nsn_back) == expected, (code, nsn_back)
            checked += 1
    assert checked > 10_000


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(e164_like(), st.sampled_from(["US", "GB", "DE", "IT", "BR", "AR", "CA", "IN", "JP"]))
@example("+14155550100", "US")
@example("+114155550100", "US")
@example("+4402079460958", "US")
@example("+390612345678", "US")
@example("+5491123456789", "AR")
@example("+80012345678", "US")
@example("+0014155550100", "US")
def test_e164_shortcut_equals_full_path(raw: str, region: str) -> None:
    fast = numbers._simple_shortcut(raw, region)
    expected = reference(raw, region)
    if fast is not None:
        assert fast == expected
    assert outcome(raw, region) == expected


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.from_regex(r"\A\+[0-9]{1,18}\Z"), st.sampled_from(REGIONS))
def test_digit_strings_after_plus_match_full_path(raw: str, region: str) -> None:
    fast = numbers._simple_shortcut(raw, region)
    expected = reference(raw, region)
    if fast is not None:
        assert fast == expected
    assert outcome(raw, region) == expected


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(formatted_number())
def test_formatted_numbers_match_full_path(case: tuple[str, str]) -> None:
    raw, region = case
    text = raw.strip()
    if numbers._SIMPLE_SHAPE.fullmatch(text):
        fast = numbers._simple_shortcut(text, region)
        if fast is not None:
            assert fast == reference(raw, region)
    assert outcome(raw, region) == reference(raw, region)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.from_regex(r"\A[0-9 ().+\-]{0,22}\Z"), st.sampled_from(REGIONS))
def test_punctuated_digit_strings_match_full_path(raw: str, region: str) -> None:
    text = raw.strip()
    if text and numbers._SIMPLE_SHAPE.fullmatch(text):
        fast = numbers._simple_shortcut(text, region)
        if fast is not None:
            assert fast == reference(raw, region)
    assert outcome(raw, region) == reference(raw, region)


@settings(max_examples=1500, deadline=None)
@given(st.text(max_size=40), st.sampled_from(["US", "GB", "FR", "DE"]))
def test_arbitrary_text_matches_full_path_and_never_crashes(raw: str, region: str) -> None:
    try:
        result = normalize(raw, region)
    except InvalidInput as exc:
        assert exc.code.startswith("number_")
        assert reference(raw, region) is None
    else:
        assert result == reference(raw, region)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(formatted_number())
def test_accepted_numbers_round_trip(case: tuple[str, str]) -> None:
    raw, region = case
    try:
        e164 = normalize(raw, region)
    except InvalidInput:
        return
    assert is_e164(e164)
    assert normalize(e164, region) == e164
    assert normalize(e164, "US") == e164
    parsed = phonenumbers.parse(e164, None)
    assert phonenumbers.is_valid_number(parsed)
    assert phonenumbers.format_number(parsed, PhoneNumberFormat.E164) == e164


def test_shortcuts_cover_the_common_formats() -> None:
    # Guards the speed: these must not fall through to phonenumbers' parse.
    for raw, region in [
        ("+14155550100", "US"),
        ("(415) 555-0100", "US"),
        ("1 415 555 0100", "US"),
        ("+44 20 7946 0958", "US"),
        ("020 7946 0958", "GB"),
        ("0044 20 7946 0958", "GB"),
    ]:
        assert numbers._simple_shortcut(raw, region) == reference(raw, region), raw
