"""Workspace settings: every setting stopline has, its safe default, and the rule or seed it comes from."""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from stopline.domain import limits as _limits
from stopline.domain.errors import InvalidInput
from stopline.domain.send_rules import RULES, Window, category
from stopline.domain.send_time import Holidays, OverCap, SendTimeRules


class OptOutScope(StrEnum):
    """How far an opt-out reaches (outbound rule 3, seed 002)."""

    CHANNEL = "channel"
    CHANNEL_TYPE = "channel_type"
    WORKSPACE = "workspace"


class ResubscribePolicy(StrEnum):
    """Who may lift an opt-out (seeds 000 warning and 004 vs seeds 000 FAQ, 001, 003)."""

    RECIPIENT_ONLY = "recipient_only"
    WITH_CONSENT_NOTE = "with_consent_note"


class RevocationMode(StrEnum):
    """What a plain-language request to stop does (inbound rule 3)."""

    REVIEW = "review"
    AUTO_OPT_OUT = "auto_opt_out"


DEFAULT_DISCLOSURE = "Reply STOP to opt out, HELP for help."

# CTIA-complete defaults: brand name, "no more messages", HELP with contact and rates.
# {brand} and {help_contact} are filled in when the text is sent.
DEFAULT_CONFIRMATIONS: dict[str, dict[str, str]] = {
    "en": {
        "opt_out": "{brand}: You are unsubscribed and will receive no more messages. "
        "Reply START to resubscribe.",
        "opt_in": "{brand}: You are resubscribed and will receive messages again. "
        "Msg&Data rates may apply. Reply HELP for help, STOP to opt out.",
        "help": "{brand}: For help, contact {help_contact}. Msg&Data rates may apply. "
        "Reply STOP to opt out.",
    },
    "fr": {
        "opt_out": "{brand} : Vous êtes désabonné(e) et ne recevrez plus de messages. "
        "Répondez START pour vous réabonner.",
        "opt_in": "{brand} : Vous êtes réabonné(e) et recevrez de nouveau des messages. "
        "Des frais de messagerie et de données peuvent s'appliquer. "
        "Répondez AIDE pour de l'aide, ARRET pour vous désabonner.",
        "help": "{brand} : Pour de l'aide, contactez {help_contact}. Des frais de messagerie "
        "et de données peuvent s'appliquer. Répondez ARRET pour vous désabonner.",
    },
    "es": {
        "opt_out": "{brand}: Se ha dado de baja y no recibirá más mensajes. "
        "Responda START para volver a suscribirse.",
        "opt_in": "{brand}: Se ha vuelto a suscribir y recibirá mensajes de nuevo. "
        "Pueden aplicarse tarifas de mensajes y datos. "
        "Responda AYUDA para ayuda, ALTO para cancelar.",
        "help": "{brand}: Para ayuda, contacte a {help_contact}. Pueden aplicarse tarifas "
        "de mensajes y datos. Responda ALTO para cancelar.",
    },
    "pt": {
        "opt_out": "{brand}: Você cancelou a inscrição e não receberá mais mensagens. "
        "Responda START para se inscrever novamente.",
        "opt_in": "{brand}: Sua inscrição foi renovada e você voltará a receber mensagens. "
        "Podem ser cobradas tarifas de mensagens e dados. "
        "Responda AJUDA para ajuda, PARAR para cancelar.",
        "help": "{brand}: Para ajuda, contate {help_contact}. Podem ser cobradas tarifas de "
        "mensagens e dados. Responda PARAR para cancelar.",
    },
}


@dataclass(frozen=True)
class Policy:
    """A workspace's messaging settings. Unset keys take these defaults."""

    brand_name: str = "stopline"
    # CTIA: HELP names a real contact; none set -> the HELP reply leaves the clause out.
    help_contact: str = ""
    default_region: str = "US"  # numbers without a country code are read in this region
    opt_out_scope: OptOutScope = OptOutScope.WORKSPACE  # outbound rule 3: safest by default
    resubscribe_policy: ResubscribePolicy = ResubscribePolicy.RECIPIENT_ONLY  # seeds 000, 004
    send_confirmations: bool = True  # inbound rule 4: one confirmation, on by default
    opt_in_clears_list_opt_outs: bool = False  # inbound rule 5: keep list choices unless asked
    any_inbound_opts_in: bool = False  # inbound rule 7, seed 001: off by default
    first_message_disclosure: bool = True  # outbound rule 4, seed 004: on by default
    disclosure_text: str = DEFAULT_DISCLOSURE
    revocation_mode: RevocationMode = RevocationMode.REVIEW  # inbound rule 3
    review_deadline_business_days: int = 10  # FCC 2024 revocation rule: honour within 10 days
    keyword_sets: tuple[str, ...] = ("fr", "es")  # inbound rule 2: French and Spanish on
    custom_keywords: tuple[Mapping[str, str], ...] = ()  # inbound rule 2: workspace additions
    confirmations: Mapping[str, Mapping[str, str]] = field(default_factory=dict)  # overrides
    opt_out_rate_warning: float = 0.02  # dashboard: warn above 2% opt-outs per campaign
    time_zone: str = "UTC"  # issue 13: the clock people read in the UI (the API keeps offsets)

    @property
    def real_help_contact(self) -> str:
        """The support contact to send customers, or "" while none is set (the placeholder
        "support" that older workspaces stored counts as none: it is never sent)."""
        contact = self.help_contact.strip()
        return "" if contact.lower() in PLACEHOLDER_CONTACTS else contact

    # Send-time rules (issue 14): the workspace's own windows, caps and holiday closures,
    # on top of the built-in rules of `domain.send_rules`, which they may tighten, never loosen.
    send_windows: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # none of its own
    send_caps: Mapping[str, int] = field(default_factory=dict)  # per category per 24 h; none
    send_holidays: Mapping[str, Any] = field(default_factory=dict)  # {country, subdivision, ...}
    send_time_exempt: tuple[str, ...] = ("conversational",)  # issue 14: replies go any time
    confirmations_exempt: bool = True  # STOP/HELP answers go at once (CTIA: immediately)
    over_cap: OverCap = OverCap.DEFER  # issue 14: defer, don't drop
    double_opt_in_hours: int = 24  # proof of consent: how long a join waits for its YES
    # FCC 24-24, 47 CFR 64.1200(a)(12) (domain/keep_offer.py): the opt-out confirmation may ask
    # which of these lists to keep; none by default (the confirmation asks nothing).
    keep_offer_lists: tuple[int, ...] = ()
    keep_offer_hours: int = 24  # how long an answer keeps a list (the rule sets no limit)

    @functools.cached_property
    def send_time_rules(self) -> SendTimeRules:
        holidays = None
        if self.send_holidays:
            raw = self.send_holidays
            holidays = Holidays(
                country=str(raw["country"]),
                subdivision=raw.get("subdivision") or None,
                categories=frozenset(
                    category(c) for c in raw.get("categories", ("marketing", "informational"))
                ),
            )
        return SendTimeRules(
            windows=tuple(
                (category(c), Window.from_dict(w)) for c, w in sorted(self.send_windows.items())
            ),
            caps=tuple((category(c), int(n)) for c, n in sorted(self.send_caps.items())),
            holidays=holidays,
            exempt=frozenset(category(c) for c in self.send_time_exempt),
            confirmations_exempt=self.confirmations_exempt,
            over_cap=self.over_cap,
        )

    def confirmation_text(self, kind: str, language: str) -> str:
        """The confirmation for `kind` (opt_out/opt_in/help) in `language`, English if absent."""
        for lang in (language, "en"):
            custom = self.confirmations.get(lang, {}).get(kind)
            if custom:
                return self._fill(custom)
            default = DEFAULT_CONFIRMATIONS.get(lang, {}).get(kind)
            if default:
                return self._fill(default)
        raise KeyError(kind)

    def _fill(self, template: str) -> str:
        contact = self.real_help_contact
        if not contact:
            template = _CONTACT_SENTENCE.sub("", template)
        return template.replace("{brand}", self.brand_name).replace("{help_contact}", contact)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            out[f.name] = _plain(value)
        return out

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any] | None) -> Policy:
        """Build a policy from stored or submitted settings, refusing unknown or bad values."""
        if not raw:
            return cls()
        known = {f.name: f for f in dataclasses.fields(cls)}
        kwargs: dict[str, Any] = {}
        for key, value in raw.items():
            if key not in known:
                raise InvalidInput(f"Unknown setting {key!r}.", code="setting_unknown", setting=key)
            kwargs[key] = _coerce(key, value)
        return cls(**kwargs)

    def updated(self, changes: Mapping[str, Any]) -> Policy:
        merged = self.to_dict()
        merged.update(changes)
        return Policy.from_dict(merged)


PLACEHOLDER_CONTACTS = frozenset({"", "support"})
# The sentence naming the contact ("For help, contact {help_contact}."), left out when none.
_CONTACT_SENTENCE = re.compile(r"\s*[^.:!?]*\{help_contact\}[^.!?]*[.!?]?")


def check_time_zone(value: Any) -> str:
    """An IANA time zone name such as Europe/Paris or America/New_York."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    if not isinstance(value, str) or not value.strip() or len(value) > 64:
        raise _bad("time_zone", value, "must be a time zone such as America/New_York")
    try:
        ZoneInfo(value.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise _bad("time_zone", value, "must be a time zone such as America/New_York") from None
    return value.strip()


def _plain(value: Any) -> Any:
    """Settings as JSON values: tuples to lists, mappings to dicts, all the way down."""
    if isinstance(value, StrEnum):
        return value
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    return value


_ENUMS: dict[str, type[StrEnum]] = {
    "opt_out_scope": OptOutScope,
    "resubscribe_policy": ResubscribePolicy,
    "revocation_mode": RevocationMode,
    "over_cap": OverCap,
}
_BOOLS = {
    "send_confirmations",
    "opt_in_clears_list_opt_outs",
    "any_inbound_opts_in",
    "first_message_disclosure",
    "confirmations_exempt",
}
_STRINGS = {"brand_name", "help_contact", "default_region", "disclosure_text"}


def _bad(key: str, value: Any, why: str) -> InvalidInput:
    return InvalidInput(
        f"Setting {key!r} {why} (got {value!r}).", code="setting_invalid", setting=key
    )


def _coerce(key: str, value: Any) -> Any:
    if key in _ENUMS:
        enum = _ENUMS[key]
        try:
            return enum(value)
        except ValueError:
            allowed = ", ".join(e.value for e in enum)
            raise _bad(key, value, f"must be one of {allowed}") from None
    if key in _BOOLS:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "on", "off", "1", "0"):
            return value.lower() in ("true", "on", "1")
        raise _bad(key, value, "must be true or false")
    if key == "time_zone":
        return check_time_zone(value)
    if key == "help_contact":
        if not isinstance(value, str) or len(value) > 200:
            raise _bad(key, value, "must be text of at most 200 characters")
        return value.strip()
    if key in _STRINGS:
        if not isinstance(value, str) or not value.strip():
            raise _bad(key, value, "must be non-empty text")
        limit = _limits.LIMITS["reply_text" if key == "disclosure_text" else "setting"]
        if len(value.strip()) > limit:
            raise _bad(key, value[:40] + "...", f"must be at most {limit} characters")
        if key == "default_region":
            import phonenumbers  # the region list is data, not I/O

            if value.upper() not in phonenumbers.SUPPORTED_REGIONS:
                raise _bad(key, value, "must be a two-letter region code such as US or GB")
            return value.upper()
        return value.strip()
    if key == "review_deadline_business_days":
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 60:
            raise _bad(key, value, "must be a whole number of days from 1 to 60")
        return value
    if key == "double_opt_in_hours":
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 720:
            raise _bad(key, value, "must be a whole number of hours from 1 to 720")
        return value
    if key == "keep_offer_hours":
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 168:
            raise _bad(key, value, "must be a whole number of hours from 1 to 168")
        return value
    if key == "keep_offer_lists":
        if not isinstance(value, list | tuple) or not all(
            isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value
        ):
            raise _bad(key, value, "must be a list of list ids")
        return tuple(dict.fromkeys(value))
    if key == "opt_out_rate_warning":
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 1:
            raise _bad(key, value, "must be a fraction between 0 and 1")
        return float(value)
    if key == "keyword_sets":
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise _bad(key, value, "must be a list of keyword set names")
        return tuple(dict.fromkeys(value))
    if key == "custom_keywords":
        if not isinstance(value, list | tuple) or not all(isinstance(v, Mapping) for v in value):
            raise _bad(key, value, "must be a list of keyword objects")
        return tuple(dict(v) for v in value)
    if key == "confirmations":
        if not isinstance(value, Mapping):
            raise _bad(key, value, "must map a language to its texts")
        out: dict[str, dict[str, str]] = {}
        for lang, texts in value.items():
            if not isinstance(texts, Mapping):
                raise _bad(key, value, "must map a language to its texts")
            for kind, text in texts.items():
                if kind not in ("opt_out", "opt_in", "help") or not isinstance(text, str):
                    raise _bad(key, value, "texts must be opt_out, opt_in or help strings")
                if len(text.strip()) > _limits.LIMITS["reply_text"]:
                    limit = _limits.LIMITS["reply_text"]
                    raise _bad(key, text[:40] + "...", f"texts must be at most {limit} characters")
            out[str(lang)] = {str(k): str(v) for k, v in texts.items() if str(v).strip()}
        return out
    if key in _SEND_TIME:
        return _SEND_TIME[key](key, value)
    return value  # pragma: no cover - every field is handled above


# Categories the built-in rules cover: a workspace cannot exempt them or widen their windows.
_BUILT_IN = {c for rule in RULES for c in rule.categories}
_FEDERAL = {c: rule.window for rule in RULES if rule.state is None for c in rule.categories}


def _send_windows(key: str, value: Any) -> dict[str, dict[str, Any]]:
    if not isinstance(value, Mapping):
        raise _bad(key, value, "must map a category to its window")
    out: dict[str, dict[str, Any]] = {}
    for name, raw in value.items():
        try:
            cat = category(name)
            window = Window.from_dict(raw)
        except InvalidInput as exc:
            raise _bad(key, value, exc.message) from None
        federal = _FEDERAL.get(cat)
        if federal is not None and not window.within(federal):
            raise _bad(
                key,
                value,
                f"may tighten the built-in {cat.value} hours ({federal.describe()}), "
                "never widen them",
            )
        out[cat.value] = window.to_dict()
    return out


def _send_caps(key: str, value: Any) -> dict[str, int]:
    if not isinstance(value, Mapping):
        raise _bad(key, value, "must map a category to a number of messages per 24 hours")
    out: dict[str, int] = {}
    for name, n in value.items():
        try:
            cat = category(name)
        except InvalidInput as exc:
            raise _bad(key, value, exc.message) from None
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 100:
            raise _bad(key, value, "caps are whole numbers from 1 to 100")
        out[cat.value] = n
    return out


def _send_time_exempt(key: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list | tuple):
        raise _bad(key, value, "must be a list of categories")
    try:
        cats = [category(v) for v in value]
    except InvalidInput as exc:
        raise _bad(key, value, exc.message) from None
    covered = [c.value for c in cats if c in _BUILT_IN]
    if covered:
        raise _bad(key, value, f"cannot exempt {covered[0]}: built-in rules cover it")
    return tuple(dict.fromkeys(c.value for c in cats))


def _send_holidays(key: str, value: Any) -> dict[str, Any]:
    if value in (None, {}, ""):
        return {}
    if not isinstance(value, Mapping) or not isinstance(value.get("country"), str):
        raise _bad(key, value, "must give a country (and optionally a subdivision)")
    import holidays  # data, no I/O

    country = value["country"].strip().upper()
    supported = holidays.list_supported_countries()
    if country not in supported:
        raise _bad(key, value, "must name a country the holidays package knows, such as US")
    subdivision = (value.get("subdivision") or "").strip().upper() or None
    if subdivision is not None and subdivision not in supported[country]:
        raise _bad(key, value, f"has no subdivision {subdivision} in {country}")
    try:
        cats = [category(c) for c in value.get("categories", ("marketing", "informational"))]
    except InvalidInput as exc:
        raise _bad(key, value, exc.message) from None
    return {
        "country": country,
        "subdivision": subdivision,
        "categories": [c.value for c in dict.fromkeys(cats)],
    }


_SEND_TIME = {
    "send_windows": _send_windows,
    "send_caps": _send_caps,
    "send_time_exempt": _send_time_exempt,
    "send_holidays": _send_holidays,
}
