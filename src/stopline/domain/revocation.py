"""Possible revocations: plain-language requests to stop texting, in English, French, Spanish
and Portuguese, that are not keyword messages.

PRODUCT inbound rule 3 and "any reasonable means" (FCC, in force 2025-04-11; CASL in Canada):
a message like "please stop texting me", "Ne m'envoyez plus de SMS", "Quiero darme de baja" or
"Parem de me mandar mensagem" is flagged for review with its legal deadline (or opted out
automatically, per setting). Keyword classification calls ``find`` only when no keyword
matched.

How a text is read:

1. Reactions and quotes first (``domain.reactions``): a reaction (``Liked “…”``) is no
   request, and what the sender quoted of the business's message (a footer "Reply STOP to
   unsubscribe", lines quoted with ">") is removed before anything else is read.
2. The rest is folded (``domain.text.fold``: lower case, no accents, straight apostrophes,
   single spaces), so accents, capitals and curly apostrophes never hide a request. SMS
   spellings (u, ur, pls, txt, msg; svp, stp, pu; porfa, xfa, msj; pfv, vc, msg, naum) are in
   the patterns.
3. The rules below are tried in order; the first that matches names the result. Each rule is
   data: a name a reviewer reads in the queue ("why was this flagged?"), its language, its
   pattern, and why it is there.
4. Negation: a rule marked ``negatable`` does not count when the words just before it negate
   it in the same clause ("don't stop texting me", "I don't want to unsubscribe", "no dejes de
   escribirme", "je ne veux pas me désabonner", "não quero sair da lista"). Rules that are
   themselves negative ("don't text me", "no me manden más", "ne m'envoyez plus") are not
   negatable. "Why don't you stop texting me" is not a negation.

Not flagged: "stop" in other senses ("I'll stop by", "the bus stop", "non-stop flight",
"please stop the delivery"), "cancel my appointment", "take me off the waitlist", "para
mañana está bien", "arrêt de bus", "no me llegó el mensaje", "não recebi a mensagem".

Measured on the evaluation corpus (tests/data/replies.tsv) by ``python -m benchmarks classify``;
see the README for the latest figures. The corpus and the rules share authors, so the figures
are an optimistic estimate for unseen traffic.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from stopline.domain.reactions import unquoted
from stopline.domain.text import fold, squash

__all__ = ["PHRASES", "RULES", "STOP_AS_WORD", "Rule", "detect", "find", "rule_named"]


@dataclass(frozen=True, slots=True)
class Rule:
    """One way people ask to stop: its name, language, pattern and why it is here."""

    name: str
    language: str
    pattern: str  # over folded text, with <PARTS> spliced in
    anchors: tuple[str, ...]  # every match contains one of these (a cheap pre-check)
    why: str
    negatable: bool = True


# Building blocks, spliced into the patterns below as <NAME>.
_PARTS = {
    "PLEASE": r"(?:please|pls|plz|plse|plez|kindly)",
    "YOU": r"(?:you|u|ya|yall|y'all)",
    "THE": r"(?:the|these|those|this|your|ur|yr|all|all the|all of the|all these|all your|any)",
    "ME": (
        r"(?:me|us|this (?:phone |cell )?(?:number|#|phone)"
        r"|my (?:phone |cell )?(?:number|#|phone|cell))"
    ),
    "TEXTS": (
        r"(?:texts?|txts?|text messages?|messages?|msgs?|mssgs?|messeges|sms|smss"
        r"|notifications?|alerts?|reminders?|promos?|promotions?|ads|offers"
        r"|marketing|spam)"
    ),
    # Narrower: what "cancel" may take without meaning a booking or a reminder.
    "MESSAGES": r"(?:texts?|txts?|text messages?|messages?|msgs?|sms|text alerts?|alerts)",
    "TEXTING": (
        r"(?:text(?:ing|in)?|txt(?:ing|in)?|texing|textng|messag(?:ing|in)|msg(?:ing|in)|msging"
        r"|contact(?:ing|in)|spamm(?:ing|in)|bother(?:ing|in)|harass(?:ing|in)|hitting me up)"
    ),
    "END": r"(?=\s*(?:[.!?]|$))",
    "STUFF": r"(?:stuff|crap|junk|garbage|nonsense)",
    # "the reminder calls" is about calls, not texts.
    "NOT_CALLS": r"(?!\s+(?:calls?|emails?|letters?|mail|cards?|visits?))",
    # French, Spanish, Portuguese messages and politeness, SMS spellings included.
    "FR_MSG": (
        r"(?:sms|textos?|messages?|msgs?|mess|pubs?|publicites?|promos?|promotions?"
        r"|notifications?|relances?|rappels?|offres?|courriels?)"
    ),
    "ES_MSG": (
        r"(?:mensajes?|mensajitos?|msjs?|msgs?|mjs?|sms|textos?|promociones|promos?|publicidad"
        r"|ofertas|notificaciones|alertas|recordatorios|spam|correos)"
    ),
    "PT_MSG": (
        r"(?:mensage(?:m|ns)|msgs?|msg|sms|torpedos?|promocoes|promo(?:s)?|propagandas?"
        r"|ofertas|notificacoes|lembretes|spam|textos?)"
    ),
    "FR_POLITE": r"(?:svp|stp|s'il vous plait|s'il te plait|merci|svp merci)",
    "ES_POLITE": r"(?:por favor|porfa|porfavor|xfa|x favor|plis|gracias)",
    "PT_POLITE": r"(?:por favor|pfv|pf|pfvr|porfavor|obrigad[oa]|obg|brigad[oa]|vlw|valeu)",
    "PT_NOT": r"(?:nao|n|naum|nn|ñ)",
}

_RULES_EN: tuple[Rule, ...] = (
    Rule(
        "stop texting me",
        "en",
        r"\b(?:stop|quit|cease)\s+<TEXTING>(?:\s+<ME>\b|<END>)",
        ("stop", "quit", "cease"),
        "The plainest request: stop/quit texting, messaging, contacting, bothering me.",
    ),
    Rule(
        "stop sending messages",
        "en",
        r"\b(?:stop|quit|cease)\s+send(?:ing)?\s+(?:(?:me|us)\s+)?"
        r"(?:these|them|those|any\s*more|<TEXTS>|<THE>\s+(?:[\w-]+\s+)?(?:<TEXTS>|<STUFF>))\b"
        r"|\b(?:stop|quit)\s+sending\s+(?:me|us)<END>",
        ("stop", "quit", "cease"),
        "Stop sending (me) texts, these, this stuff.",
    ),
    Rule(
        "stop receiving messages",
        "en",
        r"\bstop\s+(?:receiving|getting)\s+(?:these|them|those|<TEXTS>|<THE>\s+(?:[\w-]+\s+)?<TEXTS>)\b",
        ("stop",),
        "I'd like to stop receiving these: asks for the texts to end.",
    ),
    Rule(
        "stop the texts",
        "en",
        r"\bstop\s+(?:with\s+)?<THE>\s+(?:[\w-]+\s+)?<TEXTS>\b<NOT_CALLS>",
        ("stop",),
        "Stop the/these/your texts, alerts, reminders (not 'the reminder calls').",
    ),
    Rule(
        "please stop",
        "en",
        r"(?:^|[\s,.!?])(?:<PLEASE>|(?:can|could|would|will)\s+<YOU>(?:\s+<PLEASE>)?|just|i said"
        r"|ok|okay|omg|seriously|so|no|nope|thanks|thx|enough)\s+stop"
        r"(?:\s+(?:it|already|immediately|asap|now|<PLEASE>))*(?=\s*(?:[.!?,;]|$))",
        ("stop",),
        "'Please stop', 'I said stop', 'no thanks stop': stop as the request itself.",
    ),
    Rule(
        "stop it",
        "en",
        r"^stop\s+it(?:\s+(?:now|already|<PLEASE>))*\s*[.!?]*$",
        ("stop",),
        "A message that is only 'stop it (please)'.",
    ),
    Rule(
        "stop",
        "en",
        r"[.!?,;:]\s*stop\s*[.!?]*$",
        ("stop",),
        "STOP as the last sentence of a longer message ('who gave you my number? stop').",
    ),
    Rule(
        "remove me from your list",
        "en",
        r"\bremove\s+<ME>(?:\s+(?:from|off)\s+(?:of\s+)?(?:<THE>\s+)?(?:[\w-]+\s+){0,2}?"
        r"(?:lists?|database|system|records?|contacts?|texts?|messages?|texting|sms|mailing"
        r"|subscribers?)\b|(?:\s+(?:now|asap|immediately|already|<PLEASE>))*<END>|\s+<PLEASE>\b)"
        r"|^(?:<PLEASE>\s+)?remove(?:\s+(?:now|<PLEASE>))*\s*[.!]*$"
        r"|\bremove\s+(?:her|his|their)\s+(?:phone\s+|cell\s+)?(?:number|#)\b"
        r"|\b(?:delete|erase|drop)\s+<ME>\s+(?:from|off)\s+(?:of\s+)?(?:<THE>\s+)?(?:[\w-]+\s+)?"
        r"(?:lists?|database|system|contacts?)\b"
        r"|\b(?:remove|be\s+removed|get\s+removed|been\s+removed|be\s+taken\s+off)\s+(?:from|off)\s+"
        r"(?:of\s+)?(?:<THE>\s+)?(?:[\w-]+\s+)?(?:lists?|database|texts?|messages?|texting)\b",
        ("remov", "taken off", "delete", "erase", "drop"),
        "Remove me / my number (from your list); not 'remove me from the carpool'.",
    ),
    Rule(
        "take me off your list",
        "en",
        r"\b(?:take|get|keep|put)\s+<ME>\s+off(?:\s+of)?(?:\s+<THE>\s+(?:[\w-]+\s+){0,2}?"
        r"(?:lists?|database|system|texts?|messages?|texting|sms|contacts?)\b|<END>)",
        ("off",),
        "Take/get me off (your list); not 'take me off the waitlist'.",
    ),
    Rule(
        "get off this list",
        "en",
        r"\b(?:want|get|be|wanna|like|taken|removed)\s+(?:(?:to\s+)?(?:be|get)\s+)?(?:taken\s+|removed\s+)?"
        r"off\s+(?:of\s+)?<THE>\s+(?:[\w-]+\s+)?(?:lists?|texts?|messages?)\b"
        r"|\b(?:want|wanna|get\s+me)\s+out\s+of\s+(?:<THE>\s+)?(?:[\w-]+\s+)?(?:lists?|<TEXTS>)\b",
        ("off", "out of"),
        "I want off this list / out of these texts.",
    ),
    Rule(
        "unsubscribe",
        "en",
        r"\b(?:un-?\s?subscribe[sd]?|unsubcribe|unsuscribe|unsubscibe|unsubsribe|unsubscrib"
        r"|unsubscirbe|unsubscribing|unsub)\b",
        ("unsu", "un-", "un s"),
        "Unsubscribe anywhere in the message (keyword only when it leads), misspellings too.",
    ),
    Rule(
        "opt out",
        "en",
        r"\bopt(?:ing|ed)?[\s-]*(?:me\s+|us\s+)?out\b|\boptout\b",
        ("opt",),
        "Opt (me) out anywhere in the message.",
    ),
    Rule(
        "wrong number",
        "en",
        r"\bwrong\s+(?:number|phone(?:\s+number)?|#|person|cell)(?!\w)"
        r"|\bnot\s+the\s+right\s+(?:number|person)\b"
        r"|\b(?:doesn'?t|does not|no longer)\s+(?:have|use|own)\s+this\s+(?:number|phone|#)\b"
        r"|\bnew\s+owner\s+of\s+this\s+(?:number|phone)\b"
        r"|\bthis\s+(?:is\s+)?(?:not|isn'?t|is\s+no\s+longer|no\s+longer)\s+(?:\w+'?s\s+)(?:number|phone|cell)\b"
        r"|\b(?:just|recently)\s+got\s+this\s+(?:number|phone\s+number)\b"
        r"|\bthis\s+(?:number|phone)\s+(?:belongs|is)\s+(?:to\s+)?(?:someone|somebody)\s+else\b"
        r"|\bthis\s+(?:is\s+not|isn'?t|is\s+no\s+longer)\s+(?:my|his|her|their)\s+(?:number|phone)\b"
        r"|\bgot\s+this\s+(?:number|phone\s+number)\s+(?:recently|last\s+\w+|a\s+(?:few|couple))",
        (
            "wrong",
            "right",
            "this number",
            "this phone",
            "this #",
            "new owner",
            "this is",
            "this isn",
            "got this",
        ),
        "Wrong number: the person who consented is not the one reading (FCC reassigned numbers).",
    ),
    Rule(
        "no more texts",
        "en",
        r"\bno\s+more\s+(?:<TEXTS>|texting|messaging|contact|of\s+(?:these|this|your|ur|the)\b)"
        r"|^no\s+more(?:\s+<PLEASE>)?\s*[.!]*$",
        ("no more",),
        "No more texts/messages.",
        negatable=False,
    ),
    Rule(
        "don't text me",
        "en",
        r"\b(?:don'?t|dont|do not|don t|never|pls don'?t|(?:you|u)\s+(?:please\s+)?not|no\s+need\s+to)"
        r"\s+(?:ever\s+)?"
        r"(?:text|txt|message|msg|contact|sms|email|spam|bother)\s+<ME>\b"
        r"(?!\s+(?:back|before|after|at|until|till|between|during|on|tomorrow|today|tonight"
        r"|later|when|if|while|first|unless|instead|here|there)\b)"
        r"|\b(?:don'?t|dont|do not|never)\s+send\s+(?:me|us)\s+(?:anything|any\s*more|more|these|this\s+stuff"
        r"|<TEXTS>)\b(?!\s+(?:before|until|till|after|to|about))"
        r"|\brather\s+not\s+(?:get|receive|be\s+sent)\s+(?:any\s+)?(?:more\s+)?<TEXTS>",
        ("don", "do not", "never", "not", "no need", "rather"),
        "Don't text me (again), no need to text us; not 'don't text me back, I'll call'.",
        negatable=False,
    ),
    Rule(
        "leave me alone",
        "en",
        r"\bleave\s+(?:me|us)\s+alone\b|^(?:please\s+|pls\s+|just\s+)?go\s+away\b",
        ("alone", "go away"),
        "Leave me alone / go away.",
    ),
    Rule(
        "didn't sign up",
        "en",
        r"\b(?:didn'?t|didnt|did not|never|have not|haven'?t|havent)\s+(?:ever\s+)?"
        r"(?:sign(?:ed)?\s*up|subscribed?|opt(?:ed)?\s*-?in)\b"
        r"|\b(?:didn'?t|didnt|did not|never)\s+(?:agree|agreed|consent|consented|ask|asked)\s+"
        r"(?:to\s+(?:get|receive|be\s+sent)\s+|for\s+|to\s+)(?:this|these|them|<TEXTS>|<THE>\s+<TEXTS>)\b"
        r"|\b(?:didn'?t|didnt|did not|never)\s+(?:give|gave|given)\s+(?:you|u|ya)\s+"
        r"(?:my\s+)?(?:permission|consent|my number)\b",
        ("didn", "did not", "never", "have"),
        "Denies consent: 'I never signed up for this' asks, in effect, for the texts to stop.",
        negatable=False,
    ),
    Rule(
        "how do I stop these",
        "en",
        r"\bhow\s+(?:do|can|would|could|should|to)\s+(?:i\s+|we\s+|u\s+|you\s+)?"
        r"(?:stop|end|block|cancel|turn\s+off|get\s+rid\s+of)\s+"
        r"(?:these|them|those|this<END>|receiving|getting|<THE>\s+(?:[\w-]+\s+)?<TEXTS>\b)"
        r"|\bhow\s+(?:do|can)\s+(?:i|we|u)\s+(?:stop|opt\s+out)<END>"
        r"|\bhow\s+(?:do|can)\s+(?:i|we|u)\s+(?:make|get)\s+(?:these|them|this|it|<THE>\s+<TEXTS>)\s+"
        r"(?:to\s+)?stop\b",
        ("how",),
        "Asking how to stop the texts is a request to stop them.",
    ),
    Rule(
        "don't want these texts",
        "en",
        r"\b(?:don'?t|dont|do not|no longer|never)\s+(?:want|wish|need)\s+"
        r"(?:to\s+(?:receive|get|be\s+sent)\s+)?(?:(?:any\s*more|these|this|your|ur|the|any|more)\s+)*"
        r"(?:[\w-]+\s+)?<TEXTS>\b"
        r"|\b(?:don'?t|dont|do not|no longer)\s+(?:want|wish)\s+to\s+be\s+(?:contacted|texted|messaged"
        r"|bothered|reminded)\b",
        ("want", "wish", "need"),
        "I don't want (to receive) these texts.",
        negatable=False,
    ),
    Rule(
        "not interested",
        "en",
        r"^(?:(?:no|nope|nah)(?:\s+thanks?|\s+thank\s+you)?[,.!]*\s+)?"
        r"(?:i'?m\s+|i am\s+|we'?re\s+|we are\s+|im\s+)?(?:not|no longer|not really)"
        r"\s+interested(?:\s+(?:anymore|any more|in\s+(?:these|this|your|ur)\s*(?:texts?|messages?"
        r"|offers?|promos?|deals?)?))?(?:\s*[,.!]*\s*(?:thanks?|thank you|thx|ty|sorry))?\s*[.!]*$",
        ("interested",),
        "A message that is only '(I'm) not interested (thanks)'.",
        negatable=False,
    ),
    Rule(
        "delete my number",
        "en",
        r"\b(?:delete|erase|lose|forget)\s+(?:my|this)\s+(?:phone\s+|cell\s+)?"
        r"(?:number|#|info|information|contact|data|details)\b",
        ("delete", "erase", "lose", "forget"),
        "Delete / lose my number.",
    ),
    Rule(
        "cancel these texts",
        "en",
        r"\bcancel\s+(?:(?:the|these|those|all|my|your|ur|this)\s+)*<MESSAGES>\b",
        ("cancel",),
        "Cancel the texts (not appointments, bookings, reminders or subscriptions).",
    ),
    Rule(
        "do not call list",
        "en",
        r"\bdo[\s-]*not[\s-]*(?:call|contact|text|disturb)\s+list\b|\bdnc\b"
        r"|\bcease\s+and\s+desist\b",
        ("do not", "donot", "do-not", "dnc", "desist"),
        "'Put me on your do not call list', 'cease and desist'.",
    ),
    Rule(
        "reporting as spam",
        "en",
        r"\b(?:report(?:ing|ed)?|block(?:ing|ed)?)\s+(?:you|u|this|your|ur)\b[^.!?]{0,40}?"
        r"\b(?:spam|fcc|ftc|harass\w*|attorney)\b|\bthis\s+is\s+(?:spam|harassment)\b"
        r"|\b(?:i'?m|i am|gonna|going to|will)\s+(?:report|block)(?:ing)?\s+(?:you|u|this|ur|your)\b",
        ("report", "block", "spam", "harass"),
        "Threatening to report or block the sender is a request to stop.",
    ),
    Rule(
        "asked before",
        "en",
        r"\b(?:asked|told|requested|begged)\s+(?:you\s+|u\s+)?(?:guys\s+)?(?:to\s+|for\s+)?"
        r"(?:be\s+|get\s+)?(?:removed|taken\s+off|unsubscribed|stop|opted\s+out|an\s+opt[\s-]?out)\b"
        r"|\b(?:say|said|saying|tell\s+you|told\s+you)\s+(?:to\s+)?stop\b",
        ("asked", "told", "request", "begged", "say", "said", "tell"),
        "A complaint that an earlier request was ignored is itself a request.",
    ),
    Rule(
        "enough texts",
        "en",
        r"\benough\s+(?:with\s+)?(?:the\s+|these\s+|your\s+|of\s+(?:the|these|your)\s+)?<TEXTS>\b"
        r"|\b(?:i'?m|im|i\s+am|we'?re|we\s+are)\s+(?:so\s+)?done\s+with\s+(?:<THE>\s+)?(?:[\w-]+\s+)?<TEXTS>\b",
        ("enough", "done"),
        "Enough with the texts / I'm done with these texts.",
    ),
    Rule(
        "cancel please",
        "en",
        r"^(?:<PLEASE>\s+)?cancel(?:\s+(?:<PLEASE>|thanks|thank you|thx))+\s*[.!]*$"
        r"|^<PLEASE>\s+cancel\s*[.!]*$",
        ("cancel",),
        "Ambiguous: CANCEL is a keyword only alone; 'cancel please' may mean the appointment, so "
        "a person decides.",
    ),
)

_RULES_FR: tuple[Rule, ...] = (
    Rule(
        "arrêtez de m'envoyer",
        "fr",
        r"\b(?:arr?et(?:ez|er|e|es|ons)?|cess(?:ez|er|e)|stopp?(?:ez|er|e)?)\s+(?:de\s+|d')\s*"
        r"(?:m'|me\s+|nous\s+|m\s+|m)?\s*(?:envoyer|ecrire|contacter|texter|deranger|harceler"
        r"|spammer|relancer|solliciter)\b",
        ("ret", "cess", "stop"),
        "Arrêtez de m'envoyer / cessez de m'écrire (arrête, arête: informal spellings).",
    ),
    Rule(
        "arrêtez les messages",
        "fr",
        r"\b(?:arr?et(?:ez|er|e)|cessez|stopp?(?:ez|er)?)\s+(?:les|ces|vos|tes|tous\s+les)\s+"
        r"(?:\w+\s+)?<FR_MSG>\b",
        ("ret", "cess", "stop"),
        "Arrêtez les SMS / vos messages.",
    ),
    Rule(
        "ne m'envoyez plus",
        "fr",
        r"\bn(?:e\s+|')\s*(?:m'\s*|m\s+|me\s+|nous\s+|m)?(?:envoy|ecri|contact|text|derang|relanc|sollicit)\w*"
        r"(?:[\s-]+(?:moi|nous))?\s+(?:plus|pu|jamais)\b"
        r"|\bne\s+plus\s+(?:m'|me\s+|nous\s+)?(?:envoyer|ecrire|contacter|texter|deranger)\b"
        r"|\b(?:m'|me\s+)(?:envoy|ecri|contact|text)\w*\s+(?:pu|plus\s+jamais)\b",
        ("ne ", " n'", " pu", "plus jamais"),
        "Ne m'envoyez plus de SMS / ne m'écrivez plus (Québec 'pu' for 'plus').",
        negatable=False,
    ),
    Rule(
        "je ne veux plus recevoir",
        "fr",
        r"\b(?:ne\s+)?(?:veux|voudrais|souhaite|souhaiterais|desire|veut)\s+(?:plus|pu)\s+"
        r"(?:recevoir|de\s+|d'|vos|tes|ces|les|rien)"
        r"|\bj'?\s*veux\s+pu\b|\bne\s+(?:plus|pas|pu)\s+(?:vouloir\s+)?recevoir\b"
        r"|\b(?:veux|voudrais|souhaite|desire)\s+(?:plus|pu)\s+(?:etre\s+)?(?:contacte|sollicite|derange"
        r"|appele|relance)",
        ("veu", "voudrais", "souhait", "desire", "recevoir"),
        "Je ne veux plus recevoir vos messages / je souhaite ne plus recevoir.",
        negatable=False,
    ),
    Rule(
        "plus de SMS",
        "fr",
        r"(?:^|[,.!?]\s*|(?:merci|svp|stp|non)\s+)(?:plus|pu)\s+(?:de|d')\s*<FR_MSG>\b",
        ("plus", " pu"),
        "'Plus de SMS svp' at the start of a sentence ('no more texts').",
        negatable=False,
    ),
    Rule(
        "désabonnez-moi",
        "fr",
        r"\bdes?abonn\w*|\bdesinscri\w*|\bdesincri\w*",
        ("abonn", "desinscri", "desincri"),
        "Désabonner / désinscrire in any form.",
    ),
    Rule(
        "retirez-moi de la liste",
        "fr",
        r"\b(?:retire[rz]?|enleve[rz]?|supprime[rz]?|efface[rz]?|ote[rz]?|sorte[zr]?|raye[rz]?)"
        r"[\s-]*(?:moi|nous)\s+(?:de|d'|du|des)\s*(?:la\s+|vos\s+|votre\s+|cette\s+|ta\s+|ces\s+)?"
        r"(?:liste|fichier|base|contacts?|envois?|messages?|sms)"
        r"|\b(?:retire[rz]?|enleve[rz]?|supprime[rz]?|efface[rz]?|ote[rz]?|raye[rz]?)[\s-]*moi\s*"
        r"(?:<FR_POLITE>)?\s*[.!]*$"
        r"|\b(?:me|m')\s*(?:retirer|enlever|supprimer|effacer|sortir|rayer)\s+(?:de|d'|du|des)\s*"
        r"(?:la\s+|vos\s+|votre\s+|cette\s+|ta\s+|ces\s+)?(?:liste|fichier|base|contacts?|envois?"
        r"|messages?|sms)",
        ("moi", "retir", "enlev", "suppr", "effac", "ote", "sort", "ray"),
        "Retirez-moi de votre liste / pouvez-vous me retirer de la liste.",
    ),
    Rule(
        "supprimez mon numéro",
        "fr",
        r"\b(?:retire[rz]?|enleve[rz]?|supprime[rz]?|efface[rz]?|oubliez|oublie[rz]?)\s+"
        r"(?:mon|ce)\s+(?:numero|num|no|telephone|tel|contact|coordonnees)\b"
        r"|\b(?:supprime[rz]?|efface[rz]?)\s+(?:mes|toutes\s+mes)\s+(?:donnees|coordonnees|infos)",
        ("retir", "enlev", "suppr", "effac", "oubli"),
        "Supprimez / oubliez mon numéro, effacez mes données.",
    ),
    Rule(
        "laissez-moi tranquille",
        "fr",
        r"\b(?:laisse[zr]?|lache[zr]?|fiche[zr]?|foute[zr]?)[\s-]*(?:moi|nous)[\s-]+"
        r"(?:tranquilles?|en\s+paix|la\s+paix)\b",
        ("moi", "nous"),
        "Laissez-moi tranquille / foutez-moi la paix.",
    ),
    Rule(
        "mauvais numéro",
        "fr",
        r"\b(?:mauvais|faux)\s+(?:numero|num|no|#|destinataire)\b"
        r"|\berreur\s+de\s+(?:numero|destinataire|personne)\b"
        r"|\bpas\s+(?:le\s+)?bon\s+(?:numero|num|destinataire)\b"
        r"|\btrompes?\s+de\s+(?:numero|personne)\b"
        r"|\bce\s+n'?\s*est\s+(?:pas|plus)\s+(?:mon\s+numero|le\s+numero\s+de|son\s+numero)",
        ("mauvais", "faux", "erreur", "bon ", "trompe", "numero"),
        "Mauvais numéro / vous vous êtes trompés de numéro.",
    ),
    Rule(
        "pas intéressé",
        "fr",
        r"^(?:non[,.!]?\s+)?(?:merci[,.!]?\s+)?(?:je\s+ne\s+suis\s+|j'?\s*suis\s+|je\s+suis\s+)?"
        r"(?:pas|plus)\s+interesse(?:e|s|es)?(?:[\s,.!]+(?:merci|desole|desolee|du\s+tout))*\s*[.!]*$"
        r"|\bca\s+(?:ne\s+)?m'?\s*interesse\s+(?:pas|plus)\b"
        r"|(?:^|[,.!?]\s*|\s)(?:je\s+ne\s+suis\s+|j'?\s*suis\s+)(?:pas|plus)\s+interesse(?:e|s|es)?\s*[.!]*$",
        ("interesse",),
        "A message that is only 'pas intéressé (merci)', or 'ça ne m'intéresse pas'.",
        negatable=False,
    ),
    Rule(
        "je ne me suis jamais inscrit",
        "fr",
        r"\b(?:jamais|pas)\s+(?:ete\s+)?(?:inscrit|abonne|accepte|consenti)e?s?\b"
        r"|\bn'?\s*ai\s+(?:jamais|rien)\s+demande\b|\bj'?\s*ai\s+(?:jamais|rien)\s+demande\b"
        r"|\bjamais\s+donne\s+(?:mon\s+)?(?:accord|consentement|numero)",
        ("jamais", "pas", "rien"),
        "Denies consent: 'je ne me suis jamais inscrit', 'j'ai rien demandé'.",
        negatable=False,
    ),
    Rule(
        "comment arrêter ces messages",
        "fr",
        r"\bcomment\s+(?:faire\s+pour\s+|je\s+fais\s+pour\s+|puis-je\s+|on\s+fait\s+pour\s+"
        r"|je\s+peux\s+|est-ce\s+que\s+je\s+peux\s+)?(?:(?:arreter|stopper|bloquer)(?:\s+(?:de\s+recevoir\s+)?"
        r"(?:ces|les|vos|tes|ca|cela)\s+(?:\w+\s+)?<FR_MSG>\b|\s*[?.!]*$|\s+(?:ca|cela)\b)"
        r"|ne\s+plus\s+recevoir|me\s+desabonner|me\s+desinscrire|se\s+desabonner|se\s+desinscrire)",
        ("comment",),
        "Asking how to stop the messages is a request to stop them.",
    ),
    Rule(
        "arrêtez",
        "fr",
        r"^(?:<FR_POLITE>\s+)?(?:arr?etez|arr?ete|cessez|stoppez)(?:[\s,.!]+(?:<FR_POLITE>|maintenant"
        r"|tout|ca|immediatement|s'il\s+vous\s+plait|svp|merci))*\s*[.!]*$"
        r"|[.!?,;:]\s*(?:arr?etez|cessez|stoppez)(?:\s+<FR_POLITE>)?\s*[.!]*$"
        r"|^(?:arr?etez|cessez)[\s,.!]+<FR_POLITE>\b",
        ("ret", "cess", "stop"),
        "'Arrêtez svp' alone: only ARRET is a keyword, its imperative is plainly a request.",
    ),
    Rule(
        "ARRET + politesse",
        "fr",
        r"^(?:<FR_POLITE>[\s,.!]+)?arret(?:[\s,.!]+<FR_POLITE>)+\s*[.!]*$"
        r"|^<FR_POLITE>[\s,.!]+arret\s*[.!]*$",
        ("arret",),
        "The French keyword with svp/merci when the French keyword set is switched off.",
    ),
)

_RULES_ES: tuple[Rule, ...] = (
    Rule(
        "dejen de enviarme",
        "es",
        r"\b(?:dej(?:e|en|a|ar|ad|es|enme)|par(?:en|e|a|ar))\s+de\s+(?:enviar|mandar|escribir|textear"
        r"|molestar|contactar|spamear|llamar)(?:me|nos)?\b",
        ("dej", "par"),
        "Dejen de enviarme / paren de mandarme mensajes.",
    ),
    Rule(
        "no me manden más",
        "es",
        r"\b(?:ya\s+)?no\s+(?:me|nos)\s+(?:envi|mand|escrib|contact|molest|llam|text)\w*\s*"
        r"(?:\w+\s+)?(?:mas|ningun|nada|otra\s+vez|nunca)\b"
        r"|\bya\s+no\s+(?:me|nos)\s+(?:envi|mand|escrib|contact|molest|text)\w*"
        r"|\bno\s+(?:(?:me|nos)\s+)?(?:vuelvan|vuelva|vuelvas)\s+a\s+(?:enviar|mandar|escribir|contactar"
        r"|molestar|llamar)"
        r"|\bno\s+(?:me|nos)\s+(?:manden|mande|mandes|envien|envie|envies|escriban|escriba|escribas)\s+"
        r"(?:<ES_MSG>|nada)\b",
        ("no me", "no nos", "vuelva"),
        "No me manden más mensajes / ya no me escriban.",
        negatable=False,
    ),
    Rule(
        "ya no quiero recibir",
        "es",
        r"\b(?:no|ya\s+no)\s+(?:quiero|deseo|quisiera|queremos)\s+(?:seguir\s+)?(?:recibir\s+)?"
        r"(?:mas\s+)?(?:sus\s+|tus\s+|estos\s+|esos\s+|los\s+|ningun\s+|ninguna\s+)?<ES_MSG>\b"
        r"|\b(?:no|ya\s+no)\s+(?:quiero|deseo)\s+recibir\s+(?:mas|nada)\b"
        r"|\bya\s+no\s+quiero\s*[.!]*$",
        ("quiero", "deseo", "quisiera", "queremos"),
        "(Ya) no quiero recibir más mensajes.",
        negatable=False,
    ),
    Rule(
        "darme de baja",
        "es",
        r"\bdar(?:me|nos|le)?\s+de\s+baja\b|\b(?:denme|deme|dame|den|da|de)\s+de\s+baja\b"
        r"|\bme\s+(?:doy|quiero\s+dar|pueden\s+dar|puede\s+dar)\s+de\s+baja\b"
        r"|\bbaja\s+(?:de\s+)?(?:mi\s+numero|este\s+numero|de\s+la\s+lista)\b|\bbajenme\b"
        r"|\bbaj(?:a|e|en)(?:me|nos)\s+de\s+(?:la\s+|su\s+|tu\s+|esta\s+)?(?:lista|base|sistema)\b",
        ("baja", "bajenme", "bajame", "bajeme", "bajanos"),
        "Quiero darme de baja / denme de baja.",
    ),
    Rule(
        "sáquenme de la lista",
        "es",
        r"\b(?:saqu|quit|borr|elimin|remuev|retir)(?:en|e|a|ar)(?:me|nos)?\s+(?:de|del)\s+"
        r"(?:la\s+|su\s+|tu\s+|esta\s+|sus\s+|tus\s+|las\s+|los\s+)?(?:lista|listas|base|sistema"
        r"|contactos|envios|mensajes|grupo\s+de\s+difusion)"
        r"|\bme\s+(?:saquen|quiten|borren|eliminen|remuevan|retiren)\s+de\b"
        r"|^(?:por\s+favor\s+)?(?:borrenme|sacenme|saquenme|quitenme|eliminenme)\b"
        r"|\b(?:saquen|quiten|borren|eliminen|remuevan|retiren|saque|quite|borre|elimine)\s+"
        r"(?:mi|este)\s+(?:numero|telefono|celular|contacto|cel)\b",
        ("saqu", "sacen", "quit", "borr", "elimin", "remuev", "retir"),
        "Sáquenme de la lista / borren mi número (not 'quítame el cargo').",
    ),
    Rule(
        "número equivocado",
        "es",
        r"\bnumero\s+(?:equivocado|incorrecto|erroneo)\b|\bequivocad[oa]s?\s+de\s+(?:numero|persona)\b"
        r"|\bse\s+equivoc\w*\s+de\s+(?:numero|persona)\b|\bno\s+es\s+(?:el\s+)?numero\s+correcto\b"
        r"|\b(?:este|ese)\s+numero\s+ya\s+no\s+es\s+de\b|\bya\s+no\s+es\s+(?:el\s+)?numero\s+de\b",
        ("equivoc", "incorrecto", "erroneo", "correcto", "ya no es"),
        "Número equivocado: the person who consented is not the one reading.",
    ),
    Rule(
        "no me interesa",
        "es",
        r"^(?:no[,.!]?\s+)?(?:gracias[,.!]?\s+)?(?:ya\s+)?no\s+(?:me\s+interesa|estoy\s+interesad[oa])"
        r"(?:[\s,.!]+(?:gracias|mas|nada|ya|por\s+ahora))*\s*[.!]*$",
        ("interesa",),
        "A message that is only 'no me interesa (gracias)'.",
        negatable=False,
    ),
    Rule(
        "déjenme en paz",
        "es",
        r"\bdej(?:e|en|a|ad)(?:me|nos)\s+en\s+paz\b|\bno\s+(?:me\s+)?molest(?:en|e|es)\s+mas\b",
        ("paz", "molest"),
        "Déjenme en paz / no molesten más.",
        negatable=False,
    ),
    Rule(
        "no más mensajes",
        "es",
        r"\bno\s+mas\s+<ES_MSG>\b|\bbasta\s+(?:de\s+|ya\s+(?:de\s+)?)?<ES_MSG>\b"
        r"|^(?:ya\s+)?basta(?:\s+ya)?\s*[.!]*$",
        ("no mas", "basta"),
        "No más mensajes / basta de mensajes / ¡Basta!",
        negatable=False,
    ),
    Rule(
        "nunca me suscribí",
        "es",
        r"\b(?:nunca|jamas)\s+(?:me\s+)?(?:suscrib|inscrib|registr|apunt)\w*"
        r"|\bno\s+me\s+(?:suscribi|inscribi|registre|apunte)\s+(?:a|en|para)\s+(?:esto|esta|estos"
        r"|nada|sus|ningun)"
        r"|\b(?:nunca|jamas)\s+(?:les\s+|le\s+)?(?:pedi|solicite|autorice|di\s+(?:mi\s+)?"
        r"(?:permiso|autorizacion|consentimiento|numero))\b"
        r"|\byo\s+no\s+(?:pedi|solicite|autorice)\s+(?:esto|estos|nada|mensajes)",
        ("nunca", "jamas", "no me", "yo no"),
        "Denies consent: 'nunca me suscribí', 'yo no pedí estos mensajes'.",
        negatable=False,
    ),
    Rule(
        "cómo dejo de recibir",
        "es",
        r"\bcomo\s+(?:puedo\s+|hago\s+para\s+|le\s+hago\s+para\s+|se\s+hace\s+para\s+)?"
        r"(?:dejo\s+de\s+recibir|dejar\s+de\s+recibir|me\s+doy\s+de\s+baja|darme\s+de\s+baja"
        r"|me\s+desuscribo|desuscribirme|me\s+salgo\s+de|salirme\s+de|cancelo\s+(?:los|estos|sus)\s+"
        r"mensajes)",
        ("como",),
        "Asking how to stop the messages is a request to stop them.",
    ),
    Rule(
        "desuscribirme",
        "es",
        r"\bdesu(?:b|)s?cri\w*|\bdes(?:u|)inscrib\w*|\bdesafili\w*"
        r"|^(?:quiero\s+)?(?:cancelar|anular)\s+(?:la\s+|mi\s+)?suscripcion(?:\s+<ES_POLITE>)?\s*[.!]*$"
        r"|\b(?:cancelar|anular)\s+(?:la\s+|mi\s+)?suscripcion\s+a\s+(?:los|estos|sus)\s+<ES_MSG>",
        ("desu", "desins", "desafili", "suscripcion"),
        "Desuscribir(me) / desafiliar in any form.",
    ),
    Rule(
        "paren ya",
        "es",
        r"^(?:ya\s+)?(?:paren|detenganse|deténganse|alto\s+ya)(?:[\s,.!]+(?:ya|<ES_POLITE>|de\s+una\s+vez))*"
        r"\s*[.!]*$",
        ("paren", "detengan", "alto"),
        "'¡Paren ya!' alone: plainly a request to stop.",
    ),
    Rule(
        "BAJA + por favor",
        "es",
        r"^(?:<ES_POLITE>[\s,.!]+)?(?:baja|alto|parar|detener|salir)(?:[\s,.!]+<ES_POLITE>)+\s*[.!]*$"
        r"|^<ES_POLITE>[\s,.!]+(?:baja|alto|parar|detener|salir)\s*[.!]*$",
        ("baja", "alto", "parar", "detener", "salir"),
        "The Spanish keywords with 'por favor' when the Spanish keyword set is switched off.",
    ),
    Rule(
        "CANCELAR + por favor",
        "es",
        r"^(?:<ES_POLITE>[\s,.!]+)?cancelar(?:[\s,.!]+<ES_POLITE>)+\s*[.!]*$"
        r"|^<ES_POLITE>[\s,.!]+cancelar\s*[.!]*$",
        ("cancelar",),
        "Ambiguous like 'cancel please': the appointment or the texts, so a person decides.",
    ),
)

_RULES_PT: tuple[Rule, ...] = (
    Rule(
        "pare de me mandar",
        "pt",
        r"\b(?:par(?:e|em|a|ar)|deix(?:e|em|a|ar)\s+de|chega\s+de)\s+(?:de\s+)?(?:me\s+|nos\s+)?"
        r"(?:mandar|enviar|escrever|mandando|enviando|contatar|contactar|incomodar|ligar|perturbar"
        r"|encher)\b",
        ("par", "deix", "chega"),
        "Pare de me mandar mensagem / parem de enviar / deixem de me incomodar.",
    ),
    Rule(
        "não quero mais receber",
        "pt",
        r"\b<PT_NOT>\s+(?:quero|desejo|gostaria\s+de)\s+(?:mais\s+)?receber\s+(?:mais\s+)?"
        r"(?:esses?\s+|essas?\s+|estas?\s+|estes?\s+|suas\s+|seus\s+|as\s+|os\s+)?(?:<PT_MSG>|nada)\b"
        r"|\b<PT_NOT>\s+(?:quero|desejo)\s+mais\s+(?:receber|<PT_MSG>|nada)\b"
        r"|\b<PT_NOT>\s+quero\s+mais\s*[.!]*$",
        ("quero", "desejo", "gostaria"),
        "Não quero mais receber mensagens.",
        negatable=False,
    ),
    Rule(
        "não me mande mais",
        "pt",
        r"\b<PT_NOT>\s+(?:me\s+|nos\s+)?(?:mand|envi|escrev|contat|lig|perturb|incomod)\w*\s+"
        r"(?:\w+\s+)?mais\b"
        r"|\bnunca\s+mais\s+(?:me\s+)?(?:mand|envi|escrev|contat|lig)\w*"
        r"|\b<PT_NOT>\s+(?:me|nos)\s+(?:mandem|mande|envie|enviem|escrevam|escreva)\s+(?:<PT_MSG>|nada)\b",
        ("mais", "mande", "envie", "escrev"),
        "Não me mande mais mensagem / nunca mais me liguem / não me enviem mensagens.",
        negatable=False,
    ),
    Rule(
        "me tirem da lista",
        "pt",
        r"\b(?:me\s+)?(?:tir|remov|exclu|retir|apag|delet|descadastr)\w*(?:-me)?\s+(?:da|de|do|dessa"
        r"|desta|dessas|desse)\s+(?:sua\s+|essa\s+|esta\s+)?(?:lista|cadastro|base|sistema|contatos"
        r"|envios|mailing|grupo\s+de\s+transmissao)"
        r"|\b(?:tir|remov|exclu|apag|delet)\w*\s+(?:o\s+)?(?:meu|esse|este)\s+(?:numero|telefone"
        r"|celular|contato|cel|n[uo]mero)\b",
        ("tir", "remov", "exclu", "apag", "delet", "descadastr"),
        "Me tirem da lista / removam meu número / apaguem meu contato.",
    ),
    Rule(
        "descadastrar",
        "pt",
        r"\bdescadastr\w*|\bdesinscrev\w*|\bcancelar\s+(?:a\s+|minha\s+)?inscricao\b"
        r"|\bsair\s+(?:da|dessa|desta)\s+lista\b|\bquero\s+sair\b",
        ("descadastr", "desinscrev", "inscricao", "sair"),
        "Descadastrar / quero sair da lista.",
    ),
    Rule(
        "número errado",
        "pt",
        r"\bnumero\s+(?:errado|incorreto|trocado)\b|^(?:e\s+|eh\s+|foi\s+)?engano\b"
        r"|\b(?:e|eh)\s+engano\b|\bnao\s+e\s+(?:o\s+)?(?:meu\s+numero|o\s+numero\s+certo)\b"
        r"|\b(?:esse|este)\s+numero\s+(?:nao\s+e\s+mais|agora\s+e)\s+d",
        ("errado", "incorreto", "trocado", "engano", "certo", "meu numero", "numero"),
        "Número errado / é engano: the person who consented is not the one reading.",
    ),
    Rule(
        "não tenho interesse",
        "pt",
        r"^(?:nao[,.!]?\s+)?(?:obrigad[oa][,.!]?\s+)?<PT_NOT>\s+(?:tenho\s+(?:mais\s+)?interesse"
        r"|estou\s+interessad[oa]|me\s+interessa)(?:[\s,.!]+(?:obrigad[oa]|mais|valeu|obg|vlw))*"
        r"\s*[.!]*$|\bsem\s+interesse\s*[.!]*$",
        ("interess",),
        "A message that is only 'não tenho interesse (obrigado)'.",
        negatable=False,
    ),
    Rule(
        "me deixem em paz",
        "pt",
        r"\bme\s+deix(?:a|e|em)\s+em\s+paz\b|\bdeix(?:a|e|em)[\s-]*me\s+em\s+paz\b"
        r"|^(?:sai|saia|vaza)\s+(?:fora|daqui)\b",
        ("paz", "fora", "daqui"),
        "Me deixem em paz.",
        negatable=False,
    ),
    Rule(
        "chega de mensagens",
        "pt",
        r"\bchega\s+de\s+<PT_MSG>\b|^(?:ja\s+)?chega(?:\s+ja)?\s*[!.]*$",
        ("chega",),
        "Chega de mensagens / Chega!",
        negatable=False,
    ),
    Rule(
        "nunca me cadastrei",
        "pt",
        r"\b(?:nunca|jamais)\s+(?:me\s+)?(?:cadastrei|inscrevi|assinei|autorizei|pedi|solicitei)\b"
        r"|\b<PT_NOT>\s+(?:me\s+)?(?:cadastrei|inscrevi|autorizei)\b"
        r"|\b<PT_NOT>\s+(?:pedi|solicitei)\s+(?:isso|essas?|esses?|nada|mensage(?:m|ns)|para\s+receber)",
        ("nunca", "jamais", "cadastrei", "inscrevi", "autorizei", "pedi", "solicitei"),
        "Denies consent: 'nunca me cadastrei', 'não pedi isso'.",
        negatable=False,
    ),
    Rule(
        "como faço para parar",
        "pt",
        r"\bcomo\s+(?:eu\s+)?(?:faco|faz|posso|consigo)\s+(?:para\s+|pra\s+|p/\s*)?"
        r"(?:parar\s+de\s+receber|sair\s+d|me\s+descadastrar|descadastrar|cancelar\s+(?:essas|as|estas)"
        r"\s+mensage|nao\s+receber)",
        ("como",),
        "Asking how to stop the messages is a request to stop them.",
    ),
    Rule(
        "pare",
        "pt",
        r"^(?:<PT_POLITE>[\s,.!]+)?(?:pare|parem|para\s+(?:ja|com\s+isso)|parar|sair|cancelar\s+tudo)"
        r"(?:[\s,.!]+(?:ja|agora|<PT_POLITE>|de\s+vez|com\s+isso))*\s*[.!]*$",
        ("par", "sair", "cancelar"),
        "'Pare por favor' alone, or the Portuguese keywords while that set is switched off.",
    ),
)

#: Every rule, in the order tried: English, French, Spanish, Portuguese.
RULES: tuple[Rule, ...] = _RULES_EN + _RULES_FR + _RULES_ES + _RULES_PT

#: Tried by keyword classification (``domain.keywords``), not here: a leading STOP keyword whose
#: next words make it an ordinary verb or noun goes to review instead of opting out. The pattern
#: is matched at the start of the case-folded text, from STOP on.
STOP_AS_WORD = Rule(
    "STOP used as an ordinary word",
    "en",
    r"stop\s+(?:by|at(?!\s+(?:once|all|last)\b)|in(?!\s+(?:the\s+name|caps)\b)|into|over|off"
    r"|past|around|round|on\s+(?:your|the|my|ur)\s+way|for\s+(?:a|an|the|some|lunch|coffee|gas"
    r"|dinner|breakfast|drinks?|groceries|a\s+bit)"
    r"|signs?|lights?|lamps?)\b",
    ("stop",),
    "A leading STOP followed by by/at/in/over/on your way (a verb: 'Stop by tomorrow?') or "
    "sign/light (a noun) is not sure to be a request: a person decides before the legal "
    "deadline, instead of an automatic opt-out. 'STOP at once' and 'STOP, by the way' still opt "
    "out.",
)

_BY_NAME = {rule.name: rule for rule in (*RULES, STOP_AS_WORD)}


def rule_named(name: str | None) -> Rule | None:
    """The rule with this name (as stored on a review item), or None if there is none now."""
    return _BY_NAME.get(name) if name else None


#: The rule names ``detect`` can return, in the order they are tried.
PHRASES: tuple[str, ...] = tuple(rule.name for rule in RULES)


def _splice(pattern: str) -> str:
    for name, part in _PARTS.items():
        pattern = pattern.replace(f"<{name}>", part)
    return pattern


_PATTERNS: tuple[re.Pattern[str], ...] = tuple(re.compile(_splice(r.pattern)) for r in RULES)
# Anchors (substrings every match of a rule contains) are a cheap pre-check: most texts contain
# none of a rule's, so most rules are never tried. They are found through their first three
# characters: the text's three-character pieces, intersected with the anchors' (one set
# operation), name the few anchors worth an `in` test.
_ANCHOR_RULES: dict[str, tuple[int, ...]] = {
    anchor: tuple(i for i, rule in enumerate(RULES) if anchor in rule.anchors)
    for anchor in sorted({a for rule in RULES for a in rule.anchors})
}
_BY_PREFIX: dict[str, tuple[str, ...]] = {}
for _anchor in _ANCHOR_RULES:
    if len(_anchor) < 3:
        raise ValueError(f"anchor {_anchor!r} is shorter than three characters")
    _BY_PREFIX[_anchor[:3]] = (*_BY_PREFIX.get(_anchor[:3], ()), _anchor)
_PREFIXES = frozenset(_BY_PREFIX)


def _rules_worth_trying(padded: str) -> list[int]:
    tried: set[int] = set()
    pieces = {padded[i : i + 3] for i in range(len(padded) - 2)}
    for prefix in pieces & _PREFIXES:
        for anchor in _BY_PREFIX[prefix]:
            if anchor in padded:
                tried.update(_ANCHOR_RULES[anchor])
    return sorted(tried)


# Negation just before a rule's match, in the same clause, in the rule's language: the negating
# word, then only words that can sit between it and the verb ("don't ever", "I don't want you
# to", "ne veux pas me", "no quiero", "não quero").
_NEGATION_EN = (
    r"(?<!why )(?:don'?t|dont|do not|didn'?t|did not|never|won'?t|will not|wouldn'?t|shouldn'?t"
    r"|not)(?:\s+(?:ever|even|please|pls|you|u|ya|want|wanna|need|needs|to|have|has|asking|ask"
    r"|asked|say|said|tell|told|i|me|us|going|gonna|mean|meant|would|like|wish|be|get|for|them))*"
)
_NEGATION_FR = (
    r"(?:ne|n')\s*(?:[\w']+\s+){0,2}?(?:pas|jamais|point)"
    r"(?:\s+(?:me|m'|etre|vous|te|nous|de|d'|du|tout|vouloir|veux))*"
)
_NEGATION_ES = (
    r"(?<!por que )(?:no|nunca|jamas)(?:\s+(?:me|te|nos|lo|la|les|quiero|queremos|quiere|voy|vas"
    r"|van|a|pienso|necesito|hace|falta|dejes|dejen|deje|tienes|tienen|que|por|favor))*"
)
_NEGATION_PT = (
    r"(?<!por que )(?:nao|naum|nunca|jamais)(?:\s+(?:me|te|nos|quero|queremos|vou|vai|precisa"
    r"|precisam|pode|podem|preciso|deixe|deixem|tem|que|para|pra|por|favor))*"
)
_NEGATION: dict[str, re.Pattern[str]] = {
    language: re.compile(rf"(?:^|[^\w'])(?:{pattern})\s*$")
    for language, pattern in (
        ("en", _NEGATION_EN),
        ("fr", _NEGATION_FR),
        ("es", _NEGATION_ES),
        ("pt", _NEGATION_PT),
    )
}


def find(text: str) -> Rule | None:
    """The first rule (in ``RULES`` order) that the sender's own words in ``text`` match, or None.

    Quoted business text and reactions' quotes are not the sender's words (``unquoted``).
    """
    if not isinstance(text, str) or not text:
        return None
    return find_folded(fold(text))


def find_folded(folded: str) -> Rule | None:
    """``find`` for a text already folded with ``domain.text.fold``."""
    return find_unquoted(unquoted(folded))


def find_unquoted(own: str) -> Rule | None:
    """``find`` for the sender's own words of a folded text (``reactions.unquoted``)."""
    normal = squash(own).lstrip("\u00a1\u00bf")  # ¡Basta! ¿Cómo...?
    if not normal:
        return None
    for index in _rules_worth_trying(f" {normal} "):
        rule = RULES[index]
        for match in _PATTERNS[index].finditer(normal):
            if rule.negatable and _negated(normal, match.start(), rule.language):
                continue
            return rule
    return None


def _negated(normal: str, start: int, language: str) -> bool:
    # The clause before the match: back to the last sentence or clause mark, at most 60 chars.
    before = normal[max(0, start - 60) : start]
    for mark in ".!?,;:":
        cut = before.rfind(mark)
        if cut >= 0:
            before = before[cut + 1 :]
    return bool(before.strip()) and _NEGATION[language].search(before) is not None


def detect(text: str) -> str | None:
    """Name of the first rule that ``text`` matches, or None (``find`` for those who need only
    the name)."""
    rule = find(text)
    return rule.name if rule is not None else None
