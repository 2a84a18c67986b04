"""The opt-out confirmation that asks which list to keep, and the answer that keeps one.

Source: FCC Report and Order FCC 24-24 (adopted Feb. 15, 2024; 89 FR 15756, Mar. 5, 2024),
47 CFR 64.1200(a)(12), in effect since April 2024: one text confirming an opt-out, with no
marketing in it, presumed lawful when sent within five minutes, may ask a consumer who
consented to several kinds of messages which of them the opt-out covers; until they answer,
it covers every kind. stopline makes this opt-in per workspace (`Policy.keep_offer_lists`):
the STOP is recorded at once for everything, the confirmation names the offered lists the
number belongs to ("Reply ALERTS to keep getting Appointment alerts."), and only the
recipient's own answer, within `Policy.keep_offer_hours` of the STOP, keeps that one list (a
list opt-in whose evidence is the exchange). Not in the rule: how long an answer may take
(the workspace chooses; 24 hours by default).

The offer is part of the opt-out event (its `detail`), so the hash chain holds what was offered
and until when, and `ledger verify` can tell a forged keep from a real one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

MAX_LISTS = 3  # one text: each offered list adds a sentence

# One sentence per offered list, appended to the opt-out confirmation.
KEEP_SENTENCE: dict[str, str] = {
    "en": "Reply {word} to keep getting {list}.",
    "fr": "Répondez {word} pour continuer à recevoir {list}.",
    "es": "Responda {word} para seguir recibiendo {list}.",
    "pt": "Responda {word} para continuar recebendo {list}.",
}

# The answer's confirmation: what is kept, and that STOP still ends everything.
KEPT_CONFIRMATION: dict[str, str] = {
    "en": "{brand}: You will keep getting {list}. Reply STOP to stop all messages.",
    "fr": "{brand} : Vous continuerez à recevoir {list}. Répondez ARRET pour tout arrêter.",
    "es": "{brand}: Seguirá recibiendo {list}. Responda ALTO para detener todos los mensajes.",
    "pt": "{brand}: Você continuará recebendo {list}. Responda PARAR para parar tudo.",
}


@dataclass(frozen=True)
class OfferedList:
    list_id: int
    word: str  # the list's opt-in keyword, the answer that keeps it
    name: str


@dataclass(frozen=True)
class KeepOffer:
    """What one opt-out confirmation offered to keep, and until when an answer counts."""

    lists: tuple[OfferedList, ...]
    answer_by: datetime
    language: str = "en"  # the STOP's: the answer's confirmation speaks it too

    def as_detail(self) -> dict[str, Any]:
        return {
            "keep_offer": {
                "lists": [[o.list_id, o.word, o.name] for o in self.lists],
                "answer_by": self.answer_by.isoformat(),
                "language": self.language,
            }
        }

    def offered(self, list_id: int) -> OfferedList | None:
        return next((o for o in self.lists if o.list_id == list_id), None)


def make_offer(
    candidates: Sequence[OfferedList], now: datetime, hours: int, language: str = "en"
) -> KeepOffer | None:
    """The offer for a number that belongs to `candidates` (the workspace's offered lists it
    is a member of, each with its keep word), or None when there is nothing to ask about."""
    chosen = tuple(c for c in candidates if c.word)[:MAX_LISTS]
    if not chosen:
        return None
    return KeepOffer(chosen, now + timedelta(hours=hours), language)


def offer_of(detail: Mapping[str, Any] | None) -> KeepOffer | None:
    """The offer an opt-out event made, read back from its detail (None if it made none)."""
    raw = (detail or {}).get("keep_offer")
    if not isinstance(raw, Mapping):
        return None
    try:
        lists = tuple(OfferedList(int(i), str(w), str(n)) for i, w, n in raw["lists"])
        answer_by = datetime.fromisoformat(str(raw["answer_by"]))
    except (KeyError, TypeError, ValueError):
        return None
    if answer_by.tzinfo is None:
        answer_by = answer_by.replace(tzinfo=UTC)
    return KeepOffer(lists, answer_by, str(raw.get("language") or "en"))


def sentence(offered: OfferedList, language: str) -> str:
    """The offer of one list: "Reply ALERTS to keep getting Appointment alerts." """
    template = KEEP_SENTENCE.get(language) or KEEP_SENTENCE["en"]
    return template.format(word=offered.word, list=offered.name)


def offer_text(offer: KeepOffer, language: str) -> str:
    return " ".join(sentence(o, language) for o in offer.lists)


def fitted(offer: KeepOffer | None, confirmation: str, limit: int) -> KeepOffer | None:
    """The offer cut to the lists whose sentences fit after `confirmation` within `limit`
    characters (one confirmation text; a list with a long name may leave others out)."""
    if offer is None:
        return None
    kept: list[OfferedList] = []
    length = len(confirmation)
    for o in offer.lists:
        extra = 1 + len(sentence(o, offer.language))
        if length + extra <= limit:
            kept.append(o)
            length += extra
    return replace(offer, lists=tuple(kept)) if kept else None


def kept_text(brand: str, list_name: str, language: str) -> str:
    template = KEPT_CONFIRMATION.get(language) or KEPT_CONFIRMATION["en"]
    return template.replace("{brand}", brand).replace("{list}", list_name)


def answer_problem(
    offer: KeepOffer | None,
    *,
    offer_seq: int,
    latest_opt_out_seq: int | None,
    list_id: int | None,
    answered_at: datetime,
) -> str | None:
    """Why an answer cannot keep `list_id` (None when it can): the offer must be the number's
    latest opt-out (a later STOP asked again and cancels earlier offers), name the list, and
    the answer must come by its deadline. Used by the inbound handler to decide and by
    `ledger verify` to replay."""
    if offer is None or latest_opt_out_seq != offer_seq:
        return "no open offer to keep a list"
    if list_id is None or offer.offered(list_id) is None:
        return f"list {list_id} was not offered"
    if answered_at > offer.answer_by:
        return "answered after the offer's deadline"
    return None
