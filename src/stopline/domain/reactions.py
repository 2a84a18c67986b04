"""Reactions and quoted text: what a phone sends when someone reacts to, or quotes, our message.

When an iPhone user reacts to an SMS ("tapback"), or an Android user reacts to a message from
a phone without RCS, the business receives a text such as ``Liked “Your order shipped. Reply
STOP to unsubscribe.”``. It quotes the business's own words, footer included, so read as
plain language it looks like a request to stop. It is not: PRODUCT "any reasonable means":
reactions and quoted text are not requests. The same goes for a reply written above a quoted
footer (``Thanks!\\n> Reply STOP to unsubscribe``).

``reaction(text)`` names the reaction form a whole message has, or None. ``unquoted(folded)``
removes from a folded text (``domain.text.fold``) what the sender quoted of the business's
message, so only the sender's own words are read for a revocation.

The forms below are the English ones iOS sends to non-iMessage phones, their French, Spanish and
Portuguese localisations and the emoji forms Android apps send, written from what these phones
are known to send. No vendor documents them and they were not checked against captured traffic
here, so other localisations or new OS versions may be missing: each entry says what it covers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from stopline.domain.text import fold

__all__ = ["REACTION_FORMS", "ReactionForm", "reaction", "reaction_folded", "unquoted"]


@dataclass(frozen=True, slots=True)
class ReactionForm:
    """One way phones write a reaction: the words before the quoted message."""

    name: str
    language: str
    pattern: str  # over folded text (lower case, no accents)
    source: str


# An emoji, with its variation selectors, skin tones and joiners (Unicode's emoji blocks).
_EMOJI = r"[\U0001f000-\U0001faff\u2600-\u27bf\u2b00-\u2bff\u2300-\u23ff\ufe0f\u200d]+"
_OPEN = "[\"\u201c\u201d\u201e\u00ab\u2039\u2018\u2019']"
_CLOSE = "[\"\u201c\u201d\u00bb\u203a\u2019\u2018'.\u2026]"

#: The reaction forms, as data.
REACTION_FORMS: tuple[ReactionForm, ...] = (
    ReactionForm(
        "iOS tapback",
        "en",
        r"(?:liked|loved|disliked|laughed at|emphasi[sz]ed|questioned)",
        "iOS Messages to SMS/RCS recipients, English (the six classic tapbacks)",
    ),
    ReactionForm(
        "emoji reaction",
        "en",
        rf"reacted(?: with)? (?:{_EMOJI}|\S{{1,16}}) to",
        "iOS 18 emoji tapbacks and Google Messages reactions sent as SMS",
    ),
    ReactionForm(
        "removed reaction",
        "en",
        r"removed (?:a |an |the )?(?:\S+ ){0,2}?(?:like|heart|dislike|laugh|exclamation(?: point| mark)?"
        r"|question(?: mark)?|emphasis|reaction|\S{1,16}) from",
        "iOS when a tapback is taken back",
    ),
    ReactionForm(
        "réaction iOS",
        "fr",
        r"(?:a aime|a adore|n'a pas aime|a ri de|a ri d'|a souligne|a mis en evidence"
        r"|a mis en doute|a interroge|a reagi (?:avec |par )?(?:\S{1,16} )?(?:a|au)"
        r"|a retire (?:\S+ ){0,3}?(?:de|a|au))",
        "iOS Messages in French (A aimé « … »)",
    ),
    ReactionForm(
        "reacción iOS",
        "es",
        r"(?:le gusto|le encanto|no le gusto|se rio de|le hizo gracia|le divirtio|enfatizo|destaco"
        r"|cuestiono|pregunto por|reacciono (?:con )?(?:\S{1,16} )?a|quito (?:\S+ ){0,3}?(?:de|a))",
        "iOS Messages in Spanish (Le gustó “…”)",
    ),
    ReactionForm(
        "reação iOS",
        "pt",
        r"(?:curtiu|amou|nao curtiu|riu de|riu da|riu do|enfatizou|destacou|questionou"
        r"|reagiu (?:com )?(?:\S{1,16} )?(?:a|ao|em)|removeu (?:\S+ ){0,3}?(?:de|da|do))",
        "iOS Messages in Portuguese (Curtiu “…”)",
    ),
    ReactionForm(
        "emoji to quote",
        "und",
        rf"{_EMOJI} ?(?:to|a|au|em|on)",
        "Android messaging apps that send a reaction as '👍 to “…”'",
    ),
)

_REACTION = re.compile(
    "^(?:"
    + "|".join(f"(?P<r{i}>{form.pattern})" for i, form in enumerate(REACTION_FORMS))
    + rf")\s*{_OPEN}(?P<quoted>.*){_CLOSE}\s*$",
    re.DOTALL,
)
# The same, followed by the sender's own words after the quote.
_REACTION_PREFIX = re.compile(
    "^(?:" + "|".join(f"(?:{form.pattern})" for form in REACTION_FORMS) + rf")\s*{_OPEN}",
)


def reaction(text: str) -> ReactionForm | None:
    """The reaction form of a whole message (a verb and a quoted message), or None."""
    return reaction_folded(fold(text)) if text else None


def reaction_folded(folded: str) -> ReactionForm | None:
    """``reaction`` for a text already folded with ``domain.text.fold``."""
    match = _REACTION.match(folded.strip())
    if match is None:
        return None
    for index, form in enumerate(REACTION_FORMS):
        if match.group(f"r{index}") is not None:
            return form
    return None  # pragma: no cover - one group always matched


# The business's own footer wording ("Reply STOP to unsubscribe", "Msg&data rates may apply"),
# in the four languages: a quote containing it is the business's message, not the sender's.
_KEYWORD_Q = r"[\"'\u201c\u201d\u00ab\u00bb]?\s*"
_FOOTER = re.compile(
    # English: CTIA-style disclosures and carriers' templates.
    rf"\b(?:reply|text|txt|send|respond|msg)\s+(?:with\s+)?{_KEYWORD_Q}"
    rf"(?:stop|end|cancel|quit|unsubscribe|stopall|optout|help|info){_KEYWORD_Q}\s*(?:to|2|for)\b"
    r"|\bmsg\s*(?:&|and|\+)\s*data\s+rates|\bmessage\s+(?:&|and)\s+data\s+rates|\bmsg\s+freq"
    # French: "Répondez STOP pour vous désabonner", "STOP SMS au 36111".
    rf"|\b(?:repondez|repondre|envoyez|envoyer|tapez|textez)\s+{_KEYWORD_Q}(?:stop|arret|aide)"
    rf"{_KEYWORD_Q}\s*(?:pour|au|afin)\b|\bstop\s+(?:sms\s+)?au\s+\d"
    # Spanish: "Responde BAJA para no recibir más mensajes".
    rf"|\b(?:responde|responda|responder|contesta|conteste|envia|envie|enviar|manda|mande|escribe"
    rf"|escriba)\s+{_KEYWORD_Q}(?:stop|baja|alto|parar|cancelar|salir|ayuda){_KEYWORD_Q}\s*"
    r"(?:para|al|y)\b"
    # Portuguese: "Responda SAIR para não receber mais".
    rf"|\b(?:responda|responde|responder|envie|envia|enviar|mande|manda|digite|escreva)\s+"
    rf"{_KEYWORD_Q}(?:stop|sair|parar|pare|cancelar|ajuda){_KEYWORD_Q}\s*(?:para|pra|p/|ao)\b"
)
_QUOTED = re.compile(
    r'"[^"\n]{0,800}"|\u201c[^\u201d]{0,800}\u201d|\u00ab[^\u00bb]{0,800}\u00bb'
    r"|\u201e[^\u201c\u201d]{0,800}[\u201c\u201d]|\u201d[^\u201d]{0,800}\u201d"
)
_QUOTE_CHARS = frozenset('"\u201c\u201d\u201e\u00ab\u00bb>')


def unquoted(folded: str) -> str:
    """The sender's own words of a folded text: without a leading reaction's quote, lines
    quoted with ">", quotes of the business's footer, or a footer pasted under the reply."""
    if _QUOTE_CHARS.isdisjoint(folded) and "\n" not in folded:
        return folded  # the common case: nothing quoted
    text = folded.strip()
    prefix = _REACTION_PREFIX.match(text)
    if prefix is not None:
        # "Liked “…” and stop texting me": what follows the quote is the sender's.
        rest = text[prefix.end() :]
        close = max(rest.rfind(c) for c in '"\u201d\u00bb\u2019')
        text = rest[close + 1 :] if close >= 0 else ""
    if "\n" in text:
        text = "\n".join(
            line
            for number, line in enumerate(text.split("\n"))
            if not line.lstrip().startswith(">")
            and not (number and _FOOTER.match(line.strip()))  # a footer pasted under the reply
        )
    if not _QUOTE_CHARS.isdisjoint(text):
        text = _QUOTED.sub(lambda m: " " if _FOOTER.search(m.group()) else m.group(), text)
    return text
