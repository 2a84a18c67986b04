"""How free text is read for phrase matching: one folded form that phrase rules are written for.

Phrase rules (possible revocations, reactions, quoted footers) are written in lower case,
without accents, with straight apostrophes and single spaces, so "Arrêtez de m’envoyer",
"ARRETEZ DE M'ENVOYER" and "arretez  de m'envoyer" are one text to them. Keywords are read
by their own, stricter rules (`domain.keywords`): there an accent can matter.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["fold", "fold_apostrophes", "squash"]

_APOSTROPHES = str.maketrans(
    {"\u2019": "'", "\u2018": "'", "\u02bc": "'", "`": "'", "\u00b4": "'", "\u2032": "'"}
)
# Invisible format characters (zero-width space, joiners, bidi marks, BOM, soft hyphen).
_FORMAT = re.compile(r"[\u00ad\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff]")
_LATIN_MARKS = re.compile("[\u0300-\u036f]")
_NON_ASCII = re.compile("[^\x00-\x7f]+")


def fold(text: str) -> str:
    """Lower case, NFKC, accents and invisible characters removed, apostrophes straightened.

    Line breaks are kept (quoted lines are recognised by them); see `squash`.
    """
    if text.isascii():
        return text.lower().replace("`", "'")
    folded = unicodedata.normalize("NFKC", _FORMAT.sub("", text)).casefold()
    decomposed = unicodedata.normalize("NFKD", folded)
    bare = _LATIN_MARKS.sub("", decomposed)
    if not bare.isascii():  # other scripts' marks too, by their combining class
        bare = _NON_ASCII.sub(
            lambda m: "".join(c for c in m.group() if not unicodedata.combining(c)), bare
        )
    return bare.translate(_APOSTROPHES)


def fold_apostrophes(text: str) -> str:
    """Curly and modifier apostrophes as "'" (the last step of `fold`)."""
    return text.translate(_APOSTROPHES)


def squash(folded: str) -> str:
    """Runs of whitespace (line breaks included) as one space, none at either end."""
    return " ".join(folded.split())
