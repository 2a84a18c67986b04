"""Confirmation texts for a list's own keywords (seed 001), which must not claim more than they did.

A list opt-out stops only that list's messages, so the workspace's "you will receive no more
messages" would be untrue; these texts name the list instead. A list's HELP is its own help
text when it has one, else the workspace's.
"""

from __future__ import annotations

import json
from typing import Any

from stopline.domain.policy import Policy

REPLY_KINDS = ("opt_out", "opt_in")

LIST_CONFIRMATIONS: dict[str, dict[str, str]] = {
    "en": {
        "opt_out": "{brand}: You are unsubscribed from {list} and will receive no more messages "
        "from it. Reply HELP for help.",
        "opt_in": "{brand}: You are subscribed to {list} again. Msg&Data rates may apply. "
        "Reply HELP for help, STOP to opt out.",
    },
    "fr": {
        "opt_out": "{brand} : Vous êtes désabonné(e) de {list} et n'en recevrez plus de messages. "
        "Répondez AIDE pour de l'aide.",
        "opt_in": "{brand} : Vous êtes de nouveau abonné(e) à {list}. Des frais de messagerie et "
        "de données peuvent s'appliquer. Répondez AIDE pour de l'aide, ARRET pour vous "
        "désabonner.",
    },
    "es": {
        "opt_out": "{brand}: Se ha dado de baja de {list} y no recibirá más mensajes de esta "
        "lista. Responda AYUDA para ayuda.",
        "opt_in": "{brand}: Se ha vuelto a suscribir a {list}. Pueden aplicarse tarifas de "
        "mensajes y datos. Responda AYUDA para ayuda, ALTO para cancelar.",
    },
    "pt": {
        "opt_out": "{brand}: Você cancelou a inscrição em {list} e não receberá mais mensagens "
        "dela. Responda AJUDA para ajuda.",
        "opt_in": "{brand}: Sua inscrição em {list} foi renovada. Podem ser cobradas tarifas de "
        "mensagens e dados. Responda AJUDA para ajuda, PARAR para cancelar.",
    },
}


def list_confirmation(
    policy: Policy,
    kind: str,
    language: str,
    list_name: str,
    help_text: str | None = None,
    replies: Any = None,
) -> str:
    """The confirmation of a list keyword: `kind` is opt_out, opt_in or help.

    `replies` are the list's own texts (`{"opt_out": ..., "opt_in": ...}`, set on the Lists
    page); {brand} and {list} are filled in, as in the defaults.
    """
    if kind == "help":
        if help_text and help_text.strip():
            return help_text.strip()
        return policy.confirmation_text("help", language)
    own = stored_replies(replies).get(kind)
    texts = LIST_CONFIRMATIONS.get(language) or LIST_CONFIRMATIONS["en"]
    template = own or texts[kind]
    return template.replace("{brand}", policy.brand_name).replace("{list}", list_name)


def stored_replies(raw: Any) -> dict[str, str]:
    """A list's own confirmation texts as stored (a dict, or its JSON text on SQLite)."""
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            return {}
    if not isinstance(raw, dict):
        return {}
    return {k: str(v) for k, v in raw.items() if k in REPLY_KINDS and str(v or "").strip()}
