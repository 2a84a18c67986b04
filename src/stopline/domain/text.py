"""How free text is read: case, accents, invisible characters and apostrophes folded.

Keywords (`domain.keywords`) read a text case folded, and accent folded for the sets that say so.
Phrase rules (possible revocations, reactions, quoted footers) are written for one form, ``fold``:
lower case, without accents, with straight apostrophes, so "Arrêtez de m’envoyer", "ARRETEZ DE
M'ENVOYER" and "arretez de m'envoyer" are one text to them. Both use the same folding.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["FORMAT", "LONG_S", "fold", "fold_accents", "fold_apostrophes", "fold_case", "squash"]

_APOSTROPHES = str.maketrans(
    {"\u2019": "'", "\u2018": "'", "\u02bc": "'", "`": "'", "\u00b4": "'", "\u2032": "'"}
)

LONG_S = frozenset("\u017f\u1e9b\ufb05")
_LONG_S_SPLIT = re.compile("([\u017f\u1e9b\ufb05])")
# Unicode category Cf (format characters), as of Unicode 15; a test checks it against
# unicodedata. Scanning all code points at import would cost a quarter of a second.
FORMAT = re.compile(
    "[\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e\u200b-\u200f\u202a-\u202e"
    "\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb\U000110bd\U000110cd\U00013430-\U0001343f"
    "\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0001\U000e0020-\U000e007f]"
)


def fold_case(text: str) -> str:
    """NFKC and case folding, format characters removed; a long s (ſ) stays itself."""
    if text.isascii():
        return text.lower()
    text = FORMAT.sub("", text)
    if not LONG_S.isdisjoint(text):
        return "".join(
            part if part in LONG_S else _nfkc_casefold(part) for part in _LONG_S_SPLIT.split(text)
        )
    return _nfkc_casefold(text)


def _nfkc_casefold(text: str) -> str:
    # Casefolding can produce text that is not NFKC (e.g. "ǰ"), hence the second pass.
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())


def fold_accents(folded: str) -> str:
    """Combining marks removed from a case-folded text (é -> e); a long s stays itself."""
    if folded.isascii():
        return folded
    if not LONG_S.isdisjoint(folded):
        return "".join(
            part if part in LONG_S else _strip_marks(part) for part in _LONG_S_SPLIT.split(folded)
        )
    return _strip_marks(folded)


# The combining diacritics of Latin text (é = e + U+0301): removed by one regex pass; a text that
# is not then ASCII takes the general path, by Unicode category.
_LATIN_MARKS = re.compile("[\u0300-\u036f]")
_NON_ASCII = re.compile("[^\x00-\x7f]+")


def _strip_marks(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    quick = _LATIN_MARKS.sub("", decomposed)
    if quick.isascii():
        return quick
    # Only the non-ASCII runs are looked at character by character.
    bare = _NON_ASCII.sub(
        lambda m: "".join(c for c in m.group() if unicodedata.category(c) != "Mn"), quick
    )
    return unicodedata.normalize("NFC", bare)


def fold(text: str) -> str:
    """``fold_case``, ``fold_accents`` and ``fold_apostrophes``: the form phrase rules read.

    Line breaks are kept (quoted lines are recognised by them); see `squash`.
    """
    if text.isascii():
        return text.lower().replace("`", "'")
    return fold_apostrophes(fold_accents(fold_case(text)))


def fold_apostrophes(text: str) -> str:
    """Curly and modifier apostrophes as "'"."""
    return text.translate(_APOSTROPHES)


def squash(folded: str) -> str:
    """Runs of whitespace (line breaks included) as one space, none at either end."""
    return " ".join(folded.split())
