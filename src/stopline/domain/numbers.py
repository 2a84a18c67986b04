"""Phone numbers: turn what people type into E.164, the one form opt-outs and blocks are keyed by.

The rule is phonenumbers' full parse + ``is_valid_number`` + E.164 format (the
"full path"). Two shortcuts make it fast enough for bulk imports, and both are
one-sided: they may only *accept*, and only where they provably agree with the
full path; anything they are unsure about, and every rejection, goes through
phonenumbers itself (which also supplies the error code):

- a parse shortcut for input made only of ASCII digits, spaces and ``-.()``
  with at most a leading ``+`` (canonical E.164, ``+1 415 555 0100``,
  ``(415) 555-0100``): the country code and national number are read off
  directly, unless the number starts with something phonenumbers would strip
  or reinterpret (an international prefix, the region's country code, a
  national prefix);
- a validator that runs the same metadata patterns as ``is_valid_number`` but
  precompiled and merged into one regex per region and length.

``tests/domain/test_numbers.py`` checks both against the full path with
hypothesis.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import NamedTuple

import phonenumbers
from phonenumbers import (
    NumberParseException,
    PhoneMetadata,
    PhoneNumber,
    ValidationResult,
    shortnumberinfo,
)

from stopline.domain.errors import InvalidInput

__all__ = [
    "Normalized",
    "channel_address",
    "is_e164",
    "normalize",
    "normalize_many",
    "normalize_with_warnings",
]

# Keep phonenumbers' compiled metadata regexes instead of relying on re's
# bounded cache; roughly halves the cost of its parse and validation. Older
# releases lack the switch, so it is optional.
_enable_pattern_cache = getattr(phonenumbers, "enable_pattern_cache", None)
if _enable_pattern_cache is not None:
    _enable_pattern_cache()


@dataclass(frozen=True, slots=True)
class Normalized:
    """A number in E.164 and what was dropped on the way (e.g. ``"extension 123 dropped"``)."""

    e164: str
    warnings: tuple[str, ...] = ()


class _Failure(NamedTuple):
    # A rejection as plain data: cheap to cache and to build per row in bulk,
    # turned into a fresh InvalidInput at the edge (a cached exception instance
    # would grow its traceback every time it is raised).
    code: str
    message: str
    raw: str
    region: str

    def error(self) -> InvalidInput:
        return InvalidInput(self.message, code=self.code, input=self.raw, region=self.region)


_Result = Normalized | _Failure

_CACHE_SIZE = 1 << 16
_SHOWN_MAX = 64

# ASCII only: \d would also accept other scripts' digits, which phonenumbers
# reads but the shortcuts do not handle.
_E164_SHAPE = re.compile(r"\+[1-9][0-9]{5,18}", re.ASCII)
_SIMPLE_SHAPE = re.compile(r"\+?[0-9(][0-9 ().\-]*", re.ASCII)
_SIMPLE_PUNCTUATION = str.maketrans("", "", " ().-+")
_SERVICE_ID = re.compile(r"MG[0-9a-fA-F]{32}", re.ASCII)
_SHORT_CODE = re.compile(r"[0-9]{5,6}", re.ASCII)
_SHORT_CODE_SEPARATORS = str.maketrans("", "", " -")
_COUNTRY_CODES = phonenumbers.COUNTRY_CODE_TO_REGION_CODE
# phonenumbers rejects national numbers outside 2..17 digits before validating.
_MAX_NSN = 17


def is_e164(s: str) -> bool:
    """Cheap shape test: ``+``, a non-zero digit, 5 to 18 more digits (as normalize returns)."""
    return isinstance(s, str) and _E164_SHAPE.fullmatch(s) is not None


def first_not_e164(values: Sequence[object]) -> object | None:
    """The first of `values` that fails `is_e164`, or None when all pass.

    A million numbers are checked by a few passes over their joined bytes; only when that
    fails are they looked at one by one to name the culprit.
    """
    if values and _all_e164(values):
        return None
    for value in values:
        if not is_e164(value):  # type: ignore[arg-type]
            return value
    return None


def _all_e164(values: Sequence[object]) -> bool:
    # Each value is "+", a digit 1-9, then digits, 7 to 20 characters in all (`_E164_SHAPE`).
    try:
        data = "\n".join(values).encode()  # type: ignore[arg-type]
    except (TypeError, UnicodeEncodeError):
        return False
    n = len(values)
    return (
        not data.translate(None, b"+0123456789\n")  # nothing but ASCII digits, "+" and breaks
        and data.count(b"\n") == n - 1  # no value holds a line break
        and data.startswith(b"+")
        and data.count(b"\n+") == n - 1  # every value starts with "+" ...
        and data.count(b"+") == n  # ... and has no other
        and not data.startswith(b"+0")
        and b"\n+0" not in data
        and min(map(len, values)) >= 7  # type: ignore[arg-type]
        and max(map(len, values)) <= 20  # type: ignore[arg-type]
    )


def normalize(raw: str, region: str = "US") -> str:
    """Return ``raw`` as E.164, reading national formats as numbers of ``region``.

    Raises InvalidInput with code ``number_empty``, ``number_not_a_number``,
    ``number_too_short``, ``number_too_long``, ``number_invalid_for_region``,
    ``number_short_code``, ``number_unknown_country_code`` or
    ``number_invalid_region``. An extension is dropped silently; use
    ``normalize_with_warnings`` to learn about it.
    """
    result = _normalize_any(raw, region)
    if isinstance(result, _Failure):
        raise result.error()
    return result.e164


def normalize_with_warnings(raw: str, region: str = "US") -> Normalized:
    """Like ``normalize``, also saying what was dropped (an extension)."""
    result = _normalize_any(raw, region)
    if isinstance(result, _Failure):
        raise result.error()
    return result


def normalize_many(raws: Iterable[str], region: str = "US") -> list[Normalized | InvalidInput]:
    """Normalise a batch without raising: one ``Normalized`` or (unraised) ``InvalidInput`` per row.

    A module-level function of picklable values, so an import can fan rows out
    to worker processes.
    """
    out: list[Normalized | InvalidInput] = []
    append = out.append
    # A batch (an import's chunk) is mostly numbers seen once: the bounded cache would only
    # churn, so repeats are remembered for this batch alone.
    seen: dict[str, _Result] = {}
    for raw in raws:
        if type(raw) is str and type(region) is str:
            result = seen.get(raw)
            if result is None:
                result = seen[raw] = _normalize_text(raw, region)
        else:
            result = _normalize_any(raw, region)
        append(result.error() if isinstance(result, _Failure) else result)
    return out


def channel_address(raw: str, region: str = "US") -> str:
    """Return the canonical address of a sending identity.

    A full phone number becomes E.164; a short code (5 or 6 digits, spaces or
    hyphens allowed, that phonenumbers thinks possible for ``region``) is
    returned as bare digits; a messaging service id (``MG`` + 32 hex
    characters) is returned as given. A bare 5-6 digit string is read as a
    short code, as a sending identity of that length almost always is.
    """
    if not isinstance(raw, str):
        raise InvalidInput(
            f"{raw!r} is not a channel address.", code="channel_address_invalid", input=repr(raw)
        )
    text = raw.strip()
    if _SERVICE_ID.fullmatch(text):
        return text
    if text[:2].upper() == "MG":
        raise InvalidInput(
            f"{_shown(raw)} is not a messaging service id: those are MG followed by"
            " 32 hexadecimal characters.",
            code="channel_service_id_invalid",
            input=raw,
        )
    digits = text.translate(_SHORT_CODE_SEPARATORS)
    if _SHORT_CODE.fullmatch(digits):
        region_code = _region_or_none(region)
        if region_code is None:
            raise _invalid_region(raw, region).error()
        if _is_possible_short_code(digits, region_code):
            return digits
        raise InvalidInput(
            f"{_shown(raw)} is not a short code in {region_code}.",
            code="channel_short_code_invalid",
            input=raw,
            region=region_code,
        )
    result = _normalize_any(raw, region)
    if isinstance(result, Normalized):
        return result.e164
    if result.code == "number_short_code":
        raise InvalidInput(
            f"{_shown(raw)} is not a short code a business can send from"
            " (those have 5 or 6 digits).",
            code="channel_short_code_invalid",
            input=raw,
            region=region,
        )
    if result.code in ("number_not_a_number", "number_empty"):
        raise InvalidInput(
            f"{_shown(raw)} is not a phone number, a short code (5 or 6 digits) or a"
            " messaging service id (MG followed by 32 hexadecimal characters).",
            code="channel_address_invalid",
            input=raw,
            region=region,
        )
    raise result.error()


def _normalize_any(raw: object, region: object) -> _Result:
    if isinstance(raw, str) and isinstance(region, str):
        return _normalize_cached(raw, region)
    # Rows from spreadsheets arrive untyped; say what was wrong rather than crash.
    if not isinstance(region, str):
        return _invalid_region(str(raw), region)
    if raw is None:
        return _Failure(
            "number_empty", "A phone number is required but none was given.", "", region
        )
    return _Failure(
        "number_not_a_number",
        f"{raw!r} is not a phone number (expected text, got {type(raw).__name__}).",
        repr(raw),
        region,
    )


def _normalize_text(raw: str, region: str) -> _Result:
    region_code = _region_or_none(region)
    if region_code is None:
        return _invalid_region(raw, region)
    text = raw.strip()
    if _SIMPLE_SHAPE.fullmatch(text):
        e164 = _simple_shortcut(text, region_code)
        if e164 is not None:
            return Normalized(e164)
    return _full_path(raw, text, region_code)


# One number at a time (webhooks, forms) repeats a few numbers often: a bounded cache.
_normalize_cached = lru_cache(maxsize=_CACHE_SIZE)(_normalize_text)


def _simple_shortcut(text: str, region: str) -> str | None:
    """E.164 for input of digits, spaces and ``-.()``, or None where the full path must decide.

    For such input phonenumbers' parse works on the digits alone, and in the
    cases handled here reduces to: after a ``+`` or the region's international
    prefix come country code and national number; otherwise the digits are a
    national number, possibly after the region's country code or a plain
    national prefix (``0``), which parse strips when what remains fits the
    region's general pattern and lengths. Carrier codes, prefix transforms and
    every borderline case are left to the full path. The number must then be
    valid; "+" + country code + national number is its E.164 form.
    """
    digits = text.translate(_SIMPLE_PUNCTUATION)
    if len(digits) < 4:
        return None
    if text[0] == "+":
        return _international_shortcut(digits)
    rules = _region_parse_rules(region)
    if rules is None:
        return None
    if rules.idd is not None:
        idd = rules.idd.match(digits)
        if idd is not None:
            rest = digits[idd.end() :]
            # parse keeps the prefix when a 0 follows it; leave that to the full path.
            return _international_shortcut(rest) if rest[:1] not in ("", "0") else None
    national = digits
    general = rules.general
    if general is None:
        return None
    if digits.startswith(rules.country_code_str):
        national = digits[len(rules.country_code_str) :]
        main_prefix = _country_national_prefix(rules.country_code)
        if (
            (rules.national_prefix is not None and rules.national_prefix.match(national))
            or (main_prefix is not None and main_prefix.match(national))
            or general.fullmatch(digits)
            or not general.fullmatch(national)
        ):
            return None
    elif rules.national_prefix is not None:
        prefix = rules.national_prefix.match(digits)
        if prefix is not None:
            national = digits[prefix.end() :]
            if (
                not rules.plain_prefix
                or len(national) not in rules.lengths
                or len(national) in rules.local_lengths
                or not general.fullmatch(national)
            ):
                return None
    if 2 <= len(national) <= _MAX_NSN and _fast_valid(rules.country_code, national):
        return "+" + rules.country_code_str + national
    return None


def _international_shortcut(digits: str) -> str | None:
    if len(digits) < 4 or digits[0] == "0":
        return None
    for size in (1, 2, 3):
        country_code = int(digits[:size])
        if country_code in _COUNTRY_CODES:
            break
    else:
        return None
    national = digits[size:]
    national_prefix = _country_national_prefix(country_code)
    if national_prefix is not None and national_prefix.match(national):
        return None
    if 2 <= len(national) <= _MAX_NSN and _fast_valid(country_code, national):
        return f"+{country_code}{national}"
    return None


def _full_path(raw: str, text: str, region: str) -> _Result:
    if not text:
        return _Failure("number_empty", f"No phone number was given ({raw!r}).", raw, region)
    try:
        number = phonenumbers.parse(text, region)
    except NumberParseException as exc:
        return _parse_failure(exc, raw, text, region)
    national = phonenumbers.national_significant_number(number)
    country_code = number.country_code or 0
    if _fast_valid(country_code, national) or phonenumbers.is_valid_number(number):
        e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        warnings = (f"extension {number.extension} dropped",) if number.extension else ()
        return Normalized(e164, warnings)
    return _invalid_number_failure(number, raw, text, region)


def _parse_failure(exc: NumberParseException, raw: str, text: str, region: str) -> _Failure:
    shown = _shown(raw)
    kind = exc.error_type
    if kind == NumberParseException.TOO_LONG:
        return _Failure(
            "number_too_long", f"{shown} is too long to be a phone number.", raw, region
        )
    if kind in (NumberParseException.TOO_SHORT_NSN, NumberParseException.TOO_SHORT_AFTER_IDD):
        return _Failure(
            "number_too_short", f"{shown} is too short to be a phone number.", raw, region
        )
    if kind == NumberParseException.INVALID_COUNTRY_CODE:
        return _Failure(
            "number_unknown_country_code",
            f"{shown} does not start with a known country calling code.",
            raw,
            region,
        )
    # phonenumbers calls one or two bare digits "not a number"; people call it too short.
    if _SIMPLE_SHAPE.fullmatch(text) and len(text.translate(_SIMPLE_PUNCTUATION)) < 3:
        return _Failure(
            "number_too_short", f"{shown} is too short to be a phone number.", raw, region
        )
    return _Failure("number_not_a_number", f"{shown} is not a phone number.", raw, region)


def _invalid_number_failure(number: PhoneNumber, raw: str, text: str, region: str) -> _Failure:
    shown = _shown(raw)
    written_nationally = not text.lstrip("(").startswith(("+", "\uff0b"))
    national = phonenumbers.national_significant_number(number)
    if written_nationally and (
        shortnumberinfo.is_valid_short_number_for_region(number, region)
        or (5 <= len(national) <= 6 and _is_possible_short_code(national, region))
    ):
        return _Failure(
            "number_short_code",
            f"{shown} is a short code; a full phone number is needed here.",
            raw,
            region,
        )
    reason = phonenumbers.is_possible_number_with_reason(number)
    if reason == ValidationResult.IS_POSSIBLE_LOCAL_ONLY:
        return _Failure(
            "number_too_short",
            f"{shown} is too short to be a full phone number; include the area code.",
            raw,
            region,
        )
    if reason == ValidationResult.TOO_SHORT:
        return _Failure(
            "number_too_short", f"{shown} is too short to be a phone number.", raw, region
        )
    if reason == ValidationResult.TOO_LONG:
        return _Failure(
            "number_too_long", f"{shown} is too long to be a phone number.", raw, region
        )
    if reason == ValidationResult.INVALID_COUNTRY_CODE:
        return _Failure(
            "number_unknown_country_code",
            f"{shown} does not start with a known country calling code.",
            raw,
            region,
        )
    country_code = number.country_code or 0
    where = region
    if country_code != phonenumbers.country_code_for_region(region):
        where = phonenumbers.region_code_for_country_code(country_code)
        if where == phonenumbers.REGION_CODE_FOR_NON_GEO_ENTITY:
            where = f"+{country_code}"
    return _Failure(
        "number_invalid_for_region",
        f"{shown} is not a valid phone number for {where}.",
        raw,
        region,
    )


def _invalid_region(raw: str, region: object) -> _Failure:
    return _Failure(
        "number_invalid_region",
        f"{region!r} is not a known region code, so {_shown(raw)} cannot be read as a number.",
        raw,
        str(region),
    )


def _region_or_none(region: str) -> str | None:
    code = region.upper() if isinstance(region, str) else ""
    return code if code in phonenumbers.SUPPORTED_REGIONS else None


def _is_possible_short_code(digits: str, region: str) -> bool:
    try:
        number = phonenumbers.parse(digits, region)
    except NumberParseException:
        return False
    return shortnumberinfo.is_possible_short_number_for_region(number, region)


def _shown(raw: str) -> str:
    text = raw.strip()
    if len(text) > _SHOWN_MAX:
        text = text[:_SHOWN_MAX] + "…"
    return repr(text)


# --- precompiled metadata -------------------------------------------------------------


def _compiled(pattern: str | None) -> re.Pattern[str] | None:
    return re.compile(pattern) if pattern else None


class _RegionRules(NamedTuple):
    country_code: int
    country_code_str: str
    idd: re.Pattern[str] | None
    national_prefix: re.Pattern[str] | None
    # No transform rule and no carrier-code groups: stripping is just cutting the match off.
    plain_prefix: bool
    general: re.Pattern[str] | None
    lengths: frozenset[int]
    local_lengths: frozenset[int]


@cache
def _region_parse_rules(region: str) -> _RegionRules | None:
    metadata = PhoneMetadata.metadata_for_region(region, None)
    if metadata is None or not metadata.country_code or metadata.general_desc is None:
        return None
    national_prefix = _compiled(metadata.national_prefix_for_parsing)
    general = metadata.general_desc
    return _RegionRules(
        country_code=metadata.country_code,
        country_code_str=str(metadata.country_code),
        idd=_compiled(metadata.international_prefix),
        national_prefix=national_prefix,
        plain_prefix=(
            national_prefix is not None
            and national_prefix.groups == 0
            and not metadata.national_prefix_transform_rule
        ),
        general=_compiled(general.national_number_pattern),
        lengths=frozenset(general.possible_length),
        local_lengths=frozenset(general.possible_length_local_only),
    )


@cache
def _country_national_prefix(country_code: int) -> re.Pattern[str] | None:
    # parse reads "+<cc>..." with the metadata of the calling code's main region.
    main_region = phonenumbers.region_code_for_country_code(country_code)
    metadata = PhoneMetadata.metadata_for_region_or_calling_code(country_code, main_region)
    if metadata is None:
        return re.compile("")  # unknown: matches everything, so the shortcut declines
    return _compiled(metadata.national_prefix_for_parsing)


class _TypeMatcher:
    """``_number_type_helper(nsn, metadata) != UNKNOWN`` with one merged regex per length."""

    __slots__ = ("general", "general_lengths", "by_length")

    def __init__(self, metadata: PhoneMetadata) -> None:
        general = metadata.general_desc
        self.general = _compiled(general.national_number_pattern) if general else None
        self.general_lengths = frozenset(general.possible_length) if general else frozenset()
        descs = [
            metadata.premium_rate,
            metadata.toll_free,
            metadata.shared_cost,
            metadata.voip,
            metadata.personal_number,
            metadata.pager,
            metadata.uan,
            metadata.voicemail,
            metadata.fixed_line,
        ]
        # phonenumbers only tries the mobile pattern when it differs from fixed line.
        if not metadata.same_mobile_and_fixed_line_pattern:
            descs.append(metadata.mobile)
        usable = [d for d in descs if d is not None and d.national_number_pattern]
        self.by_length: dict[int, re.Pattern[str]] = {}
        for length in range(1, _MAX_NSN + 1):
            patterns = [
                f"(?:{d.national_number_pattern})"
                for d in usable
                if not d.possible_length or length in d.possible_length
            ]
            if patterns:
                self.by_length[length] = re.compile("|".join(patterns))

    def matches(self, national: str) -> bool:
        length = len(national)
        if self.general is None:
            return False
        if self.general_lengths and length not in self.general_lengths:
            return False
        if self.general.fullmatch(national) is None:
            return False
        merged = self.by_length.get(length)
        return merged is not None and merged.fullmatch(national) is not None


class _RegionCandidate(NamedTuple):
    leading_digits: re.Pattern[str] | None
    types: _TypeMatcher
    # is_valid_number_for_region's own guard: the region must belong to the calling code.
    owns_code: bool


@cache
def _country_candidates(country_code: int) -> tuple[_RegionCandidate, ...]:
    regions = _COUNTRY_CODES.get(country_code, ())
    candidates = []
    for region in regions:
        if len(regions) == 1:
            metadata = PhoneMetadata.metadata_for_region_or_calling_code(country_code, region)
        else:
            metadata = PhoneMetadata.metadata_for_region(region, None)
        if metadata is None:
            continue
        owns = (
            region == phonenumbers.REGION_CODE_FOR_NON_GEO_ENTITY
            or phonenumbers.country_code_for_valid_region(region) == country_code
        )
        leading = _compiled(metadata.leading_digits) if len(regions) > 1 else None
        candidates.append(_RegionCandidate(leading, _TypeMatcher(metadata), owns))
    return tuple(candidates)


def _fast_valid(country_code: int, national: str) -> bool:
    """True only where ``phonenumbers.is_valid_number`` is True for this country code and NSN.

    Mirrors region_code_for_number (first region whose leading digits match, or
    whose number types accept the number) followed by is_valid_number_for_region.
    """
    for candidate in _country_candidates(country_code):
        if candidate.leading_digits is not None:
            if candidate.leading_digits.match(national):
                return candidate.owns_code and candidate.types.matches(national)
        elif candidate.types.matches(national):
            return candidate.owns_code
    return False


def _cache_clear() -> None:
    """Forget cached results (benchmarks measure numbers not seen before)."""
    _normalize_cached.cache_clear()
