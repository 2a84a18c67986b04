"""Inbound keywords: decide whether a text opts out, opts in, asks for help, or may be a revocation.

PRODUCT inbound rules 1-3. How a text is read, in order:

1. Invisible format characters (zero-width space and joiners, bidi marks, BOM,
   soft hyphen) are removed: ``ST\u200bOP`` reads as ``STOP``, as it looks.
2. Unicode NFKC, then case folding, so full-width ``ＳＴＯＰ`` and ``Stop``
   read as ``stop``. ``ſ`` (long s, and the ``ẛ``/``ﬅ`` built on it) is kept as
   itself, a letter matching no keyword, although NFKC and casefold would turn
   it into ``s``: ``ſTOP`` is not STOP. Nothing maps other scripts to Latin, so
   Cyrillic ``ЅТОР`` is not STOP either, and Turkish dotted/dotless i stay
   distinct from ``i`` (``QUİT`` is not QUIT).
3. For keyword sets that fold accents (fr, es, pt), accents are also removed:
   ``ARRÊT``, ``arrêt`` and ``ARRET`` are the same word there. The default
   (English) set does not fold: ``STÖP`` is not STOP.
4. A *leading* keyword matches the first word(s) of the text, after any
   leading punctuation, symbols or emoji, when what follows is not a letter:
   ``STOP``, ``stop please``, ``Stop.``, ``"STOP"``, ``🛑 STOP``, ``STOP2``
   match; ``stopping``, ``PleaseStop`` do not. A *whole* keyword matches only
   the entire text, punctuation, symbols, emoji and whitespace at either end
   aside: ``Cancel.``, ``cancel!!`` match; ``cancel my appointment`` does not.
   Words of a multi-word keyword may be separated by spaces, ``-`` or ``_``
   (``OPT OUT``, ``opt-out``).
5. Politeness: a *polite* keyword (every leading one, and the French, Spanish and Portuguese
   opt-out and help words) also matches as the whole message with a politeness word before or
   after it, as "STOP please" does: ``BAJA por favor``, ``ARRÊT svp``, ``PARE por favor``,
   ``Please STOP``. The words are in ``POLITENESS``. ``CANCEL``/``CANCELAR please`` stay
   unmatched (the appointment or the texts?): the revocation rules send them to review.
   A whole-message keyword inside a sentence is still no keyword: "para mañana está bien".
6. Spaced letters: ``S T O P``, ``s.t.o.p`` read as ``stop`` when nothing else matched.
7. A leading STOP used as an ordinary verb ("Stop by tomorrow?", "Stop at the front desk when
   you arrive?") or noun ("Stop light on Main is out") is no opt-out but a possible revocation
   named ``STOP used as an ordinary word`` (``STOP_AS_VERB``): it goes
   to review with the legal deadline (10 business days), where a person decides. It stays
   safe: the text is flagged, not ignored; nothing is sent to the number meanwhile unless a
   person dismisses the item; and a workspace that opts possible revocations out automatically
   (``revocation_mode``) opts it out as before. Only the verb's ordinary companions count
   (``by``, ``at``, ``in``, ``over``, ``off``, ``on your way``, ``for lunch`` ...): "Stop at
   once" and "STOP, by the way" still opt out.

When several keywords match, a workspace opt-out word beats any list keyword of
another intent (a list cannot turn ``BAJA`` into a subscription; lists are also
refused such keywords when saved, see ``shadowed_keyword``); otherwise the
longest wins (``STOP ALL`` over ``STOP``); on equal length a list's keyword
beats a global one (seed 001: ``OPTOUT`` leaves only that list where the list
defines it), then opt-out beats opt-in beats help (the safe reading), then the
earlier set: default, custom, then the optional
sets in the order they are enabled (so ``PARAR`` is Spanish when es comes
before pt). If nothing matches, a reaction (``Liked “…”``, ``domain.reactions``) is
classified as ``reaction`` (never a request), and otherwise the revocation rules
(``domain.revocation``) may flag a ``possible_opt_out``, naming the rule and its language.
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from types import MappingProxyType
from typing import Any, NamedTuple, TypeVar

from stopline.domain import reactions, revocation
from stopline.domain.errors import InvalidInput
from stopline.domain.text import FORMAT as _FORMAT
from stopline.domain.text import fold_accents as _fold_accents
from stopline.domain.text import fold_apostrophes
from stopline.domain.text import fold_case as _fold_case

__all__ = [
    "BUILTIN_SETS",
    "DEFAULT_ENABLED_SETS",
    "DEFAULT_SET",
    "Classification",
    "Intent",
    "Keyword",
    "KeywordConfig",
    "KeywordSet",
    "ListKeywords",
    "MatchMode",
    "POLITENESS",
    "STOP_AS_VERB",
    "available_sets",
    "classify",
    "shadowed_keyword",
]


class Intent(StrEnum):
    OPT_OUT = "opt_out"
    OPT_IN = "opt_in"
    HELP = "help"
    POSSIBLE_OPT_OUT = "possible_opt_out"
    REACTION = "reaction"  # a reaction to a message (Liked “…”): never a request
    NONE = "none"


class MatchMode(StrEnum):
    LEADING = "leading"
    WHOLE = "whole"


_E = TypeVar("_E", bound=StrEnum)
_KEYWORD_INTENTS = (Intent.OPT_OUT, Intent.OPT_IN, Intent.HELP)
_INTENT_PRIORITY = {Intent.OPT_OUT: 3, Intent.OPT_IN: 2, Intent.HELP: 1}
_MAX_WORD = 30  # the longest keyword providers accept (AWS End User Messaging: 1-30 characters)
_LANGUAGE = re.compile(r"[a-z]{2,3}(?:-[a-z0-9]{2,8})*", re.ASCII)


# --- reading a text -----------------------------------------------------------------

_LEADING_JUNK = re.compile(r"[\W_]+")
_SEPARATORS = re.compile(r"[\s\-_]+")
_SEPARATOR_PATTERN = r"[\s\-_]+"


def _numbers_that_are_not_digits() -> str:
    # re's \w covers every alphanumeric, including numerals such as Roman numerals or
    # Medefaidrin digits (categories Nl, No) that NFKC leaves alone; they are not letters.
    chars = (chr(c) for c in range(0x110000))
    found = (c for c in chars if c.isnumeric() and not c.isdecimal())
    return "".join(re.escape(c) for c in found if unicodedata.category(c) in ("Nl", "No"))


# "Not followed by a letter": a letter is a word character that is not a number nor "_".
_NO_LETTER_AFTER = rf"(?![^\W\d_{_numbers_that_are_not_digits()}])"


def _plain_key(word: str) -> str:
    return _SEPARATORS.sub(" ", _fold_case(word)).strip()


def _key(keyword: Keyword) -> str:
    folded = _fold_case(keyword.word)
    if keyword.fold_accents:
        folded = _fold_accents(folded)
    return _SEPARATORS.sub(" ", folded).strip()


# --- validation -----------------------------------------------------------------------


def _as_tuple(value: Any, name: str) -> tuple[Any, ...]:
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise InvalidInput(f"{name} must be a list, not {value!r}.", code="keyword_invalid")
    return tuple(value)


def _canonical_word(word: object) -> str:
    if not isinstance(word, str):
        raise InvalidInput(
            f"A keyword must be text, not {word!r}.", code="keyword_word_invalid", word=repr(word)
        )
    parts = _SEPARATORS.split(unicodedata.normalize("NFKC", _FORMAT.sub("", word)).strip())
    parts = [p for p in parts if p]
    if not parts:
        raise InvalidInput("A keyword cannot be empty.", code="keyword_word_invalid", word=word)
    canonical = " ".join(parts).upper()
    if not all(re.fullmatch(r"[^\W_]+", p) for p in parts):
        raise InvalidInput(
            f"Keyword {word!r} may contain only letters and digits, with spaces between words.",
            code="keyword_word_invalid",
            word=word,
        )
    if len(canonical) > _MAX_WORD:
        raise InvalidInput(
            f"Keyword {word!r} is longer than {_MAX_WORD} characters.",
            code="keyword_word_invalid",
            word=word,
        )
    return canonical


def _keyword_intent(intent: object, word: str) -> Intent:
    value = _enum_value(Intent, intent)
    if value not in _KEYWORD_INTENTS:
        allowed = ", ".join(i.value for i in _KEYWORD_INTENTS)
        raise InvalidInput(
            f"Keyword {word} has intent {intent!r}; it must be one of {allowed}.",
            code="keyword_intent_invalid",
            word=word,
        )
    assert value is not None
    return value


def _match_mode(mode: object, word: str) -> MatchMode:
    value = _enum_value(MatchMode, mode)
    if value is None:
        raise InvalidInput(
            f"Keyword {word} has match mode {mode!r}; it must be leading or whole.",
            code="keyword_mode_invalid",
            word=word,
        )
    return value


def _enum_value(kind: type[_E], value: object) -> _E | None:
    if isinstance(value, kind):
        return value
    if isinstance(value, str):
        try:
            return kind(value.strip().lower())
        except ValueError:
            return None
    return None


def _language(language: object, word: str) -> str:
    if isinstance(language, str) and _LANGUAGE.fullmatch(language.strip().lower()):
        return language.strip().lower()
    raise InvalidInput(
        f"Keyword {word} has language {language!r}; use a language code such as en or fr.",
        code="keyword_language_invalid",
        word=word,
    )


def _keyword_from_setting(entry: object, set_name: str) -> Keyword:
    if not isinstance(entry, Mapping):
        raise InvalidInput(
            f"A keyword setting must be an object with word and intent, not {entry!r}.",
            code="keyword_invalid",
        )
    unknown = set(entry) - {"word", "intent", "mode", "language", "fold_accents"}
    if unknown:
        raise InvalidInput(
            f"Keyword setting has unknown fields: {', '.join(sorted(map(str, unknown)))}.",
            code="keyword_invalid",
        )
    if "word" not in entry or "intent" not in entry:
        raise InvalidInput(
            f"A keyword setting needs a word and an intent: {dict(entry)!r}.",
            code="keyword_invalid",
        )
    return Keyword(
        word=entry["word"],
        intent=entry["intent"],
        mode=entry.get("mode", MatchMode.WHOLE),
        language=entry.get("language", "en"),
        set_name=set_name,
        fold_accents=_flag(entry.get("fold_accents", False), "fold_accents"),
    )


def _flag(value: object, name: str) -> bool:
    # Settings may come from forms and JSON alike: accept true/false in either form.
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0", ""):
        return value.strip().lower() in ("true", "1")
    raise InvalidInput(f"{name} must be true or false, not {value!r}.", code="keyword_invalid")


@dataclass(frozen=True, slots=True)
class Keyword:
    """One keyword: canonical word (upper case, single spaces), what it means, how it matches."""

    word: str
    intent: Intent
    mode: MatchMode = MatchMode.LEADING
    language: str = "en"
    set_name: str = "custom"
    fold_accents: bool = False
    # YES opts in only while the number is opted out (PRODUCT inbound rule 2).
    only_when_opted_out: bool = False
    # Also the whole message with a politeness word ("BAJA por favor"); leading ones always are.
    polite: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "word", _canonical_word(self.word))
        object.__setattr__(self, "intent", _keyword_intent(self.intent, self.word))
        object.__setattr__(self, "mode", _match_mode(self.mode, self.word))
        object.__setattr__(self, "language", _language(self.language, self.word))


@dataclass(frozen=True, slots=True)
class KeywordSet:
    name: str
    language: str
    keywords: tuple[Keyword, ...]


@dataclass(frozen=True, slots=True)
class Classification:
    """What an inbound text means.

    ``keyword`` is the canonical word ("STOP"); ``phrase`` names the rule that flagged a
    ``possible_opt_out`` (or the form of a ``reaction``), as a reviewer reads it.
    """

    intent: Intent
    keyword: str | None = None
    keyword_set: str | None = None
    language: str | None = None
    list_id: int | None = None
    match: MatchMode | None = None
    phrase: str | None = None

    def outcome(self, auto_opt_out: bool = False) -> str:
        """What stopline does with it: opt_out, opt_in, help, review or none.

        `auto_opt_out`: the workspace opts possible revocations out instead of reviewing them.
        """
        if self.intent is Intent.POSSIBLE_OPT_OUT:
            return "opt_out" if auto_opt_out else "review"
        if self.intent in _KEYWORD_INTENTS:
            return self.intent.value
        return "none"


def _builtin(
    name: str,
    language: str,
    fold: bool,
    entries: Iterable[tuple[str, Intent, MatchMode]],
    polite: frozenset[str] = frozenset(),
) -> KeywordSet:
    keywords = tuple(
        Keyword(
            word,
            intent,
            mode,
            language=language,
            set_name=name,
            fold_accents=fold,
            only_when_opted_out=(name == "default" and word == "YES"),
            polite=word in polite,
        )
        for word, intent, mode in entries
    )
    return KeywordSet(name, language, keywords)


_OUT, _IN, _HELP = Intent.OPT_OUT, Intent.OPT_IN, Intent.HELP
_LEAD, _WHOLE = MatchMode.LEADING, MatchMode.WHOLE

#: Always on; cannot be disabled (PRODUCT inbound rule 2; CTIA practice, Twilio's list).
#: CANCEL, END, QUIT, YES and INFO begin ordinary replies, so they count only as the whole text;
#: so do the opt-in words, where a false match is the unsafe direction.
DEFAULT_SET = _builtin(
    "default",
    "en",
    False,
    [
        ("STOP", _OUT, _LEAD),
        ("STOPALL", _OUT, _LEAD),
        ("STOP ALL", _OUT, _LEAD),
        ("UNSUBSCRIBE", _OUT, _LEAD),
        ("REVOKE", _OUT, _LEAD),
        ("OPTOUT", _OUT, _LEAD),
        ("OPT OUT", _OUT, _LEAD),
        ("CANCEL", _OUT, _WHOLE),
        ("END", _OUT, _WHOLE),
        ("QUIT", _OUT, _WHOLE),
        # Opt-in words are whole-message only: a false opt-in ("Start time is 3?") would let
        # texts reach someone who asked for none, while a false opt-out only loses a message.
        ("START", _IN, _WHOLE),
        ("UNSTOP", _IN, _WHOLE),
        ("SUBSCRIBE", _IN, _WHOLE),
        ("YES", _IN, _WHOLE),
        ("HELP", _HELP, _LEAD),
        ("INFO", _HELP, _WHOLE),
    ],
)

# Optional sets are whole-message only: their words are ordinary words in their languages.
_FRENCH = _builtin(
    "fr",
    "fr",
    True,
    [
        # ARRET and AIDE: the French keywords required for Canada (CWTA; AWS End User
        # Messaging's required opt-out list includes ARRET; dotdigital's Canada rules list
        # ARRET and AIDE). Folding accents makes ARRÊT the same word.
        ("ARRET", _OUT, _WHOLE),
        ("AIDE", _HELP, _WHOLE),
    ],
    polite=frozenset({"ARRET", "AIDE"}),
)
_SPANISH = _builtin(
    "es",
    "es",
    True,
    [
        # ALTO, PARAR, BAJA, CANCELAR: PRODUCT inbound rule 2 and common US/Mexico/Spain
        # practice ("envía BAJA"); DETENER, SALIR (opt-out) and VOLVER, RECIBIR (opt-in) are
        # Sinch Conversation API's default Spanish consent keywords.
        ("ALTO", _OUT, _WHOLE),
        ("PARAR", _OUT, _WHOLE),
        ("BAJA", _OUT, _WHOLE),
        ("CANCELAR", _OUT, _WHOLE),
        ("DETENER", _OUT, _WHOLE),
        ("SALIR", _OUT, _WHOLE),
        ("VOLVER", _IN, _WHOLE),
        ("RECIBIR", _IN, _WHOLE),
        ("AYUDA", _HELP, _WHOLE),
    ],
    # Not CANCELAR: "cancelar por favor" may be the appointment (a revocation rule reviews it).
    polite=frozenset({"ALTO", "PARAR", "BAJA", "DETENER", "SALIR", "AYUDA"}),
)
_PORTUGUESE = _builtin(
    "pt",
    "pt",
    True,
    [
        # PARAR, CANCELAR (opt-out) and VOLTAR, RECEBER (opt-in): Sinch Conversation API's
        # default Portuguese consent keywords; SAIR ("Para sair, responda SAIR") and AJUDA
        # are the usual Brazilian wording. PARE, the imperative, is what people reply ("PARE
        # por favor"; Brazilian senders' "Envie PARE para não receber").
        ("PARAR", _OUT, _WHOLE),
        ("PARE", _OUT, _WHOLE),
        ("CANCELAR", _OUT, _WHOLE),
        ("SAIR", _OUT, _WHOLE),
        ("VOLTAR", _IN, _WHOLE),
        ("RECEBER", _IN, _WHOLE),
        ("AJUDA", _HELP, _WHOLE),
    ],
    polite=frozenset({"PARAR", "PARE", "SAIR", "AJUDA"}),
)

BUILTIN_SETS: Mapping[str, KeywordSet] = MappingProxyType(
    {s.name: s for s in (DEFAULT_SET, _FRENCH, _SPANISH, _PORTUGUESE)}
)
#: Optional sets on for a new workspace (PRODUCT inbound rule 2: French and Spanish).
DEFAULT_ENABLED_SETS: tuple[str, ...] = ("fr", "es")


def available_sets() -> tuple[str, ...]:
    """Names of the keyword sets a workspace can switch on or off (the default set is always on)."""
    return tuple(name for name in BUILTIN_SETS if name != DEFAULT_SET.name)


# A list may not take over these: they must always reach the global opt-out and opt-in.
_LIST_RESERVED = frozenset(
    {"STOP", "STOPALL", "STOP ALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE"}
    | {"START", "UNSTOP"}
)


@dataclass(frozen=True, slots=True)
class KeywordConfig:
    """A workspace's keywords: optional sets switched on (in precedence order), custom words."""

    enabled_sets: tuple[str, ...] = DEFAULT_ENABLED_SETS
    custom: tuple[Keyword, ...] = ()

    def __post_init__(self) -> None:
        names = []
        for raw in _as_tuple(self.enabled_sets, "enabled_sets"):
            name = raw.strip().lower() if isinstance(raw, str) else raw
            if name == DEFAULT_SET.name:
                continue  # always on; naming it is harmless
            if not isinstance(name, str) or name not in BUILTIN_SETS:
                raise InvalidInput(
                    f"Unknown keyword set {raw!r}; available sets are"
                    f" {', '.join(available_sets())}.",
                    code="keyword_set_unknown",
                    set=str(raw),
                )
            if name not in names:
                names.append(name)
        object.__setattr__(self, "enabled_sets", tuple(names))
        custom = _as_tuple(self.custom, "custom")
        seen: dict[tuple[str, MatchMode], Keyword] = {}
        reserved = {_plain_key(k.word): k for k in DEFAULT_SET.keywords}
        for keyword in custom:
            if not isinstance(keyword, Keyword):
                raise InvalidInput(
                    f"Custom keyword {keyword!r} is not a Keyword.", code="keyword_invalid"
                )
            key = _plain_key(keyword.word)
            if key in reserved:
                raise InvalidInput(
                    f"{keyword.word} is a default keyword ({reserved[key].intent.value})"
                    " and cannot be redefined.",
                    code="keyword_reserved",
                    word=keyword.word,
                )
            if (key, keyword.mode) in seen:
                raise InvalidInput(
                    f"Custom keyword {keyword.word} is defined twice.",
                    code="keyword_duplicate",
                    word=keyword.word,
                )
            seen[(key, keyword.mode)] = keyword
        # A custom word may not begin with a word of another intent ("STOP NOW" as an opt-in
        # would outrank STOP, being longer); the same rule as for list keywords.
        enabled = (*DEFAULT_SET.keywords, *custom)
        enabled += tuple(k for name in names for k in BUILTIN_SETS[name].keywords)
        for keyword in custom:
            other = _shadowed(keyword, enabled, frozenset())
            if other is not None and _reading_key(other.word) != _reading_key(keyword.word):
                raise shadowing_error(keyword, other)  # the same word: opt-out wins the tie
        object.__setattr__(self, "custom", custom)

    @classmethod
    def from_settings(
        cls,
        enabled_sets: Iterable[str] = DEFAULT_ENABLED_SETS,
        custom: Iterable[Mapping[str, Any]] = (),
    ) -> KeywordConfig:
        """Build from stored settings; custom entries: ``{"word", "intent", "mode", "language"}``.

        ``mode`` defaults to ``whole`` and ``language`` to ``en``; ``fold_accents``
        may be given. Raises InvalidInput with a ``keyword_*`` code on bad input.
        """
        keywords = tuple(_keyword_from_setting(entry, "custom") for entry in custom)
        return cls(enabled_sets=tuple(enabled_sets), custom=keywords)


@dataclass(frozen=True, slots=True)
class ListKeywords:
    """A subscription list's own keywords (seed 001), e.g. OPTOUT leaving only that list."""

    list_id: int
    keywords: tuple[Keyword, ...]
    help_text: str | None = None

    def __post_init__(self) -> None:
        keywords = _as_tuple(self.keywords, "keywords")
        for keyword in keywords:
            if not isinstance(keyword, Keyword):
                raise InvalidInput(
                    f"List keyword {keyword!r} is not a Keyword.", code="keyword_invalid"
                )
            if keyword.word in _LIST_RESERVED:
                raise InvalidInput(
                    f"{keyword.word} always applies to every list and cannot be a list keyword.",
                    code="keyword_reserved",
                    word=keyword.word,
                )
        object.__setattr__(self, "keywords", keywords)

    @classmethod
    def from_settings(
        cls, list_id: int, keywords: Iterable[Mapping[str, Any]], help_text: str | None = None
    ) -> ListKeywords:
        """Build from stored settings; entries as for ``KeywordConfig.from_settings``."""
        return cls(
            list_id=list_id,
            keywords=tuple(_keyword_from_setting(entry, "list") for entry in keywords),
            help_text=help_text,
        )


SET_NAMES = {
    "default": "default (English)",
    "fr": "French",
    "es": "Spanish",
    "pt": "Portuguese",
    "custom": "custom",
}


def _reading_key(word: str) -> str:
    """A word as the classifier can read it with accents folded (the widest reading)."""
    return _SEPARATORS.sub(" ", _fold_accents(_fold_case(word))).strip()


def shadowed_keyword(keyword: Keyword, config: KeywordConfig) -> Keyword | None:
    """The enabled keyword a list keyword would shadow, or None (hole 1).

    A list keyword may not equal, or begin with (followed by no letter), a word that any
    enabled set (default, custom, optional) uses for another intent: texting ``BAJA`` must opt
    out even if a list made ``BAJA`` its opt-in word. The words every list must leave to the
    whole workspace (STOP, START, ...) are refused whatever the list keyword's intent. Both
    sides are compared case- and accent-folded, so ``ARRÊT`` cannot slip past ``ARRET``.
    """
    return _shadowed(
        keyword, (*DEFAULT_SET.keywords, *config.custom, *_enabled_keywords(config)), _LIST_RESERVED
    )


def _shadowed(
    keyword: Keyword, others: Iterable[Keyword], reserved: frozenset[str]
) -> Keyword | None:
    mine = _reading_key(keyword.word)
    for other in others:
        if other is keyword or (other.intent is keyword.intent and other.word not in reserved):
            continue
        theirs = _reading_key(other.word)
        if mine == theirs:
            return other
        if mine.startswith(theirs) and not mine[len(theirs)].isalpha():
            return other
    return None


def _enabled_keywords(config: KeywordConfig) -> Iterable[Keyword]:
    for name in config.enabled_sets:
        yield from BUILTIN_SETS[name].keywords


def shadowing_error(keyword: Keyword, other: Keyword, list_name: str | None = None) -> InvalidInput:
    """The refusal for a list keyword that would shadow `other` (HTTP 422 `keyword_reserved`)."""
    owner = SET_NAMES.get(other.set_name, other.set_name)
    where = f"The list {list_name!r} has the keyword" if list_name else "The keyword"
    how = "is" if _reading_key(keyword.word) == _reading_key(other.word) else "begins with"
    return InvalidInput(
        f"{where} {keyword.word}, which {how} {other.word}, the {owner} keyword set's"
        f" {other.intent.value.replace('_', '-')} word: a text of it must keep doing that.",
        code="keyword_reserved",
        word=keyword.word,
        reserved=other.word,
        keyword_set=other.set_name,
    )


DEFAULT_CONFIG = KeywordConfig()
_NONE = Classification(Intent.NONE)

#: Politeness words that may stand before or after a polite keyword (item 5 above), by
#: language: everyday SMS forms included (pls, svp/stp, porfa/xfa, pfv/obg).
POLITENESS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "en": ("please", "pls", "plz", "plse", "thanks", "thank you", "thx", "ty"),
        "fr": ("svp", "stp", "s'il vous plait", "s'il vous plaît", "s'il te plait", "merci"),
        "es": ("por favor", "porfa", "porfavor", "xfa", "x favor", "plis", "gracias"),
        "pt": ("por favor", "pfv", "pf", "pfvr", "obrigado", "obrigada", "obg", "valeu", "vlw"),
    }
)
_POLITE_PHRASES = sorted({p for words in POLITENESS.values() for p in words}, key=len, reverse=True)
_POLITE = "|".join(
    re.escape(p).replace("'", "['\u2019]").replace("\\ ", "\\s+") for p in _POLITE_PHRASES
)
_POLITE_HEAD = re.compile(rf"^(?:{_POLITE})[\s,.;:!\-]+")
_POLITE_TAIL = re.compile(rf"[\s,.;:!\-]+(?:{_POLITE})$")
_POLITE_FIRST = frozenset(p.split()[0].replace("'", "\u2019") for p in _POLITE_PHRASES) | frozenset(
    p.split()[0] for p in _POLITE_PHRASES
)
_POLITE_LAST = frozenset(p.split()[-1] for p in _POLITE_PHRASES)
# The same as str.endswith/startswith arguments: a one-call pre-check on every multi-word text.
_POLITE_ENDS = tuple(sep + w for w in _POLITE_LAST for sep in " ,.!")
_POLITE_STARTS = tuple(w + sep for w in _POLITE_FIRST for sep in " ,.!")


def _without_politeness(whole: str) -> str | None:
    """The rest of a whole message once politeness words around it are removed, or None."""
    core = whole
    for _ in range(3):  # "BAJA, por favor, gracias"
        last = core.rsplit(None, 1)[-1] if core else ""
        if last not in _POLITE_LAST:
            break
        match = _POLITE_TAIL.search(core)
        if match is None:
            break
        core = core[: match.start()]
    first = core.split(None, 1)[0] if core else ""
    if first.rstrip(",.;:!-") in _POLITE_FIRST:
        match = _POLITE_HEAD.match(core)
        if match is not None:
            core = core[match.end() :]
    core = core.strip(" ,.;:!-")
    return core if core and core != whole else None


#: The rule for a leading STOP used as an ordinary word (item 7 above), by name.
STOP_AS_VERB = revocation.STOP_AS_WORD.name
_STOP_AS_VERB = re.compile(revocation.STOP_AS_WORD.pattern)
# Letters spelt one by one: "S T O P", "s.t.o.p", "S-T-O-P".
_SPACED = re.compile(r"(?:[^\W\d_][\s.\-_*]{1,3}){2,}[^\W\d_](?![^\W\d_])")


def classify(
    text: str,
    config: KeywordConfig = DEFAULT_CONFIG,
    *,
    opted_out: bool = False,
    list_keywords: Sequence[ListKeywords] = (),
) -> Classification:
    """Classify an inbound text; never raises for any ``str``."""
    if not isinstance(text, str) or not text:
        return _NONE
    reading = _Reading(text)
    best = _keywords(reading, config, bool(opted_out), list_keywords)
    if best is None:
        spaced = _SPACED.match(reading.forms(False)[0])
        if spaced is not None:
            leading = reading.forms(False)[0]
            letters = "".join(c for c in spaced.group() if c.isalpha())
            again = _Reading(letters + leading[spaced.end() :])
            best = _keywords(again, config, bool(opted_out), list_keywords)
    if best is not None:
        found = best.classification
        if (
            found.keyword == "STOP"
            and found.keyword_set == DEFAULT_SET.name
            and _STOP_AS_VERB.match(reading.forms(False)[0])
        ):
            return Classification(Intent.POSSIBLE_OPT_OUT, language="en", phrase=STOP_AS_VERB)
        if found.keyword_set == DEFAULT_SET.name and found.match is MatchMode.LEADING:
            # "STOP svp", "Stop por favor": answered in the language of the politeness word.
            language = _politeness_language(reading.forms(True)[1], found, config)
            if language is not None:
                return dataclasses.replace(found, language=language)
        return found
    folded = reading.phrase_form()
    form = reactions.reaction_folded(folded)
    if form is not None:
        language = form.language if form.language != "und" else None
        return Classification(Intent.REACTION, language=language, phrase=form.name)
    own = reactions.unquoted(folded)
    if own != folded and own.strip():
        # A keyword above our quoted message ("BAJA\n> Responde BAJA para..."): the sender's
        # own words alone are read for keywords too (a leading one already matched above).
        best = _keywords(_Reading(own.strip()), config, bool(opted_out), list_keywords)
        if best is not None:
            return best.classification
    rule = revocation.find_unquoted(own)
    if rule is not None:
        return Classification(Intent.POSSIBLE_OPT_OUT, language=rule.language, phrase=rule.name)
    return _NONE


# A politeness phrase (accents folded) that only one of the languages uses, and its language.
_POLITE_LANGUAGE = {
    fold_apostrophes(_fold_accents(p)): language
    for language, phrases in POLITENESS.items()
    for p in phrases
    if sum(p in other for other in POLITENESS.values()) == 1
}


def _politeness_language(whole: str, found: Classification, config: KeywordConfig) -> str | None:
    """The language of the politeness words around a leading English keyword, if any."""
    key = (found.keyword or "").lower()
    if whole.startswith(key):
        rest = whole[len(key) :]
    elif whole.endswith(key):
        rest = whole[: -len(key)]
    else:
        return None
    rest = fold_apostrophes(" ".join(rest.strip(" ,.;:!-").split()))
    if not rest or rest in POLITENESS["en"]:
        return None
    if rest == "por favor":  # Spanish and Portuguese alike: the first of them switched on
        return next((n for n in config.enabled_sets if n in ("es", "pt")), "es")
    return _POLITE_LANGUAGE.get(rest)


def _keywords(
    reading: _Reading,
    config: KeywordConfig,
    opted_out: bool,
    list_keywords: Sequence[ListKeywords],
) -> _Candidate | None:
    listed: _Candidate | None = None
    for position, lists in enumerate(list_keywords):
        listed = _better(listed, _list_matcher(lists, opted_out, position).find(reading))
    best = _config_matcher(config, opted_out).find(reading)
    if (
        best is None
        or listed is None
        or best.classification.intent is not Intent.OPT_OUT
        or listed.classification.intent is Intent.OPT_OUT
    ):
        # An opt-out word beats any list keyword of another intent, however long (hole 1: a
        # list keyword saved before the check, or a set switched on later, never shadows it).
        best = _better(best, listed)
    return best


# --- reading and matching ------------------------------------------------------------


class _Reading:
    """A text read both ways (accents kept / folded), each computed on first use."""

    __slots__ = ("_folded_case", "_plain", "_folded")

    def __init__(self, text: str) -> None:
        self._folded_case = _fold_case(text)
        self._plain: tuple[str, str] | None = None
        self._folded: tuple[str, str] | None = None

    def phrase_form(self) -> str:
        """The text as phrase rules read it (``domain.text.fold``), from this reading's folding."""
        if self._folded_case.isascii():
            return self._folded_case.replace("`", "'")
        return fold_apostrophes(_fold_accents(self._folded_case))

    def forms(self, folded: bool) -> tuple[str, str]:
        """(text from its first word on, the text without surrounding punctuation and emoji)."""
        if self._plain is None:
            self._plain = _forms(self._folded_case)
        if not folded or self._folded_case.isascii():
            return self._plain
        if self._folded is None:
            self._folded = _forms(_fold_accents(self._folded_case))
        return self._folded


def _forms(normal: str) -> tuple[str, str]:
    start = 0
    if normal and not normal[0].isalnum():
        junk = _LEADING_JUNK.match(normal)
        start = junk.end() if junk else 0
    end = len(normal)
    # Trailing junk is short in practice; walking back beats a regex anchored at "$".
    while end > start and not normal[end - 1].isalnum():
        end -= 1
    whole = normal[start:end]
    if not whole.isalnum():
        whole = _SEPARATORS.sub(" ", whole)
    return normal[start:], whole


class _Candidate(NamedTuple):
    rank: tuple[int, int, int, int]
    classification: Classification


def _better(a: _Candidate | None, b: _Candidate | None) -> _Candidate | None:
    if a is None:
        return b
    if b is None:
        return a
    return b if b.rank > a.rank else a


class _Side:
    """Keywords read one way (accents kept or folded): a leading regex and a whole-text table."""

    __slots__ = ("leading", "leading_table", "whole_table", "polite_table")

    def __init__(self, entries: list[tuple[str, Keyword, _Candidate]]) -> None:
        lead: dict[str, _Candidate] = {}
        whole: dict[str, _Candidate] = {}
        polite: dict[str, _Candidate] = {}
        for key, keyword, candidate in entries:
            table = lead if keyword.mode == MatchMode.LEADING else whole
            table[key] = _better(table.get(key), candidate) or candidate
            if keyword.mode == MatchMode.LEADING or keyword.polite:
                polite[key] = _better(polite.get(key), candidate) or candidate
        self.leading_table = lead
        self.whole_table = whole
        self.polite_table = polite
        self.leading: re.Pattern[str] | None = None
        if lead:
            # Longest first, so the alternation finds "stop all" before "stop".
            alternatives = sorted(lead, key=lambda k: (-len(k), k))
            body = "|".join(
                _SEPARATOR_PATTERN.join(map(re.escape, k.split())) for k in alternatives
            )
            self.leading = re.compile(f"(?:{body}){_NO_LETTER_AFTER}")

    def find(self, leading: str, whole: str) -> _Candidate | None:
        best = self.whole_table.get(whole) if self.whole_table else None
        if (
            best is None
            and self.polite_table
            and (whole.endswith(_POLITE_ENDS) or whole.startswith(_POLITE_STARTS))
        ):
            core = _without_politeness(whole)
            if core is not None:
                best = self.polite_table.get(_SEPARATORS.sub(" ", core))
        if self.leading is not None:
            match = self.leading.match(leading)
            if match is not None:
                key = _SEPARATORS.sub(" ", match.group())
                best = _better(best, self.leading_table.get(key))
        return best


class _Matcher:
    __slots__ = ("plain", "folded")

    def __init__(self, entries: list[tuple[Keyword, _Candidate]]) -> None:
        plain = [(_key(k), k, c) for k, c in entries if not k.fold_accents]
        folded = [(_key(k), k, c) for k, c in entries if k.fold_accents]
        self.plain = _Side(plain) if plain else None
        self.folded = _Side(folded) if folded else None

    def find(self, reading: _Reading) -> _Candidate | None:
        best = None
        if self.plain is not None:
            best = self.plain.find(*reading.forms(False))
        if self.folded is not None:
            best = _better(best, self.folded.find(*reading.forms(True)))
        return best


def _candidate(
    keyword: Keyword, key: str, is_list: int, order: int, list_id: int | None = None
) -> _Candidate:
    return _Candidate(
        rank=(len(key), is_list, _INTENT_PRIORITY[keyword.intent], -order),
        classification=Classification(
            intent=keyword.intent,
            keyword=keyword.word,
            keyword_set="list" if is_list else keyword.set_name,
            language=keyword.language,
            list_id=list_id,
            match=keyword.mode,
        ),
    )


@lru_cache(maxsize=256)
def _config_matcher(config: KeywordConfig, opted_out: bool) -> _Matcher:
    sources = [DEFAULT_SET.keywords, config.custom]
    sources += [BUILTIN_SETS[name].keywords for name in config.enabled_sets]
    entries = [
        (keyword, _candidate(keyword, _key(keyword), 0, order))
        for order, keywords in enumerate(sources)
        for keyword in keywords
        if opted_out or not keyword.only_when_opted_out
    ]
    return _Matcher(entries)


@lru_cache(maxsize=1024)
def _list_matcher(lists: ListKeywords, opted_out: bool, position: int) -> _Matcher:
    entries = [
        (keyword, _candidate(keyword, _key(keyword), 1, position, lists.list_id))
        for keyword in lists.keywords
        if opted_out or not keyword.only_when_opted_out
    ]
    return _Matcher(entries)
