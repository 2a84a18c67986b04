"""Send-time rules as data: when, and how often, a message of each category may reach a
recipient in each jurisdiction, each rule with its effective date and its source.

Windows are in the recipient's local time, opening included and closing excluded (a rule
saying "not after 9 pm" is read as "the last minute is 20:59", the safe side). A cap counts
the messages of the rule's categories handed over to one number in any rolling 24 hours.
The built-in rules cover marketing messages; the laws' own words ("telephone solicitation",
"commercial", "on the same subject") are read broadly: every marketing message counts.
Each rule's `unconfirmed` says what could not be checked against the statute's text.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time
from enum import StrEnum

from stopline.domain.errors import InvalidInput


class Category(StrEnum):
    """What a message is, which decides the send-time rules that apply to it."""

    CONVERSATIONAL = "conversational"  # a reply in a live conversation, or a confirmation
    INFORMATIONAL = "informational"  # reminders, notices, account messages
    MARKETING = "marketing"


def category(value: str | Category) -> Category:
    try:
        return Category(str(value).strip().lower())
    except ValueError:
        raise InvalidInput(
            f"Unknown message category {value!r}; use conversational, informational or marketing.",
            code="category_invalid",
        ) from None


DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
Hours = tuple[time, time] | None  # opening, closing (exclusive); None: closed that day


@dataclass(frozen=True)
class Window:
    """Local opening hours for each weekday, Monday first."""

    days: tuple[Hours, ...]

    @classmethod
    def daily(cls, start: time, end: time) -> Window:
        return cls(((start, end),) * 7)

    def hours(self, weekday: int) -> Hours:
        return self.days[weekday]

    def contains(self, local: datetime) -> bool:
        hours = self.days[local.weekday()]
        if hours is None:
            return False
        now = local.time().replace(tzinfo=None)
        return hours[0] <= now < hours[1]

    def within(self, other: Window) -> bool:
        """True if every open minute of this window is open in `other` too."""
        for mine, theirs in zip(self.days, other.days, strict=True):
            if mine is None:
                continue
            if theirs is None or mine[0] < theirs[0] or mine[1] > theirs[1]:
                return False
        return True

    def describe(self) -> str:
        """ "Mon-Sat 9:00-21:00, Sun 12:00-21:00" """
        groups: list[tuple[list[str], Hours]] = []
        for day, hours in zip(DAYS, self.days, strict=True):
            if groups and groups[-1][1] == hours:
                groups[-1][0].append(day)
            else:
                groups.append(([day], hours))
        parts = []
        for days, hours in groups:
            label = days[0].title() if len(days) == 1 else f"{days[0].title()}-{days[-1].title()}"
            if len(groups) == 1:
                label = "daily"
            shown = "closed" if hours is None else f"{_hm(hours[0])}-{_hm(hours[1])}"
            parts.append(f"{label} {shown}")
        return ", ".join(parts)

    def to_dict(self) -> dict[str, list[str] | None]:
        return {
            day: None if h is None else [_hm(h[0]), _hm(h[1])]
            for day, h in zip(DAYS, self.days, strict=True)
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, object]) -> Window:
        """From {"mon": ["10:00", "19:00"], ..., "sun": null}; "all" sets every day not named;
        a day left out is closed."""
        if not isinstance(raw, Mapping) or not raw:
            raise InvalidInput(
                "A window maps weekdays to [opening, closing].", code="window_invalid"
            )
        unknown = set(raw) - set(DAYS) - {"all"}
        if unknown:
            raise InvalidInput(
                f"Unknown weekday {sorted(unknown)[0]!r}; use mon..sun or all.",
                code="window_invalid",
            )
        default = _hours(raw["all"]) if "all" in raw else None
        return cls(tuple(_hours(raw[d]) if d in raw else default for d in DAYS))


def _hm(value: time) -> str:
    return "24:00" if value == time.max else f"{value.hour}:{value.minute:02d}"


def parse_time(text: object) -> time:
    if not isinstance(text, str):
        raise InvalidInput(f"A time is HH:MM (got {text!r}).", code="window_invalid")
    if text.strip() == "24:00":
        return time.max
    try:
        hour, minute = text.strip().split(":")
        return time(int(hour), int(minute))
    except ValueError:
        raise InvalidInput(f"A time is HH:MM (got {text!r}).", code="window_invalid") from None


def _hours(raw: object) -> Hours:
    if raw is None:
        return None
    if not isinstance(raw, list | tuple) or len(raw) != 2:
        raise InvalidInput("A day's hours are [opening, closing].", code="window_invalid")
    start, end = parse_time(raw[0]), parse_time(raw[1])
    if not start < end:
        raise InvalidInput(
            f"A window opens before it closes (got {raw[0]}-{raw[1]}).", code="window_invalid"
        )
    return (start, end)


@dataclass(frozen=True)
class SendRule:
    """One time-of-day and/or frequency rule of one jurisdiction."""

    key: str
    jurisdiction: str  # "US" (federal) or "US-XX" (a state, by its USPS code)
    name: str
    categories: frozenset[Category]
    window: Window | None
    cap: int | None  # messages of these categories per number in any rolling 24 hours
    effective: date | None  # applies to sends on or after this local date
    source: str
    unconfirmed: str = ""  # what could not be checked against the statute's text

    @property
    def state(self) -> str | None:
        return self.jurisdiction[3:] if self.jurisdiction.startswith("US-") else None

    def in_force(self, on: date) -> bool:
        return self.effective is None or on >= self.effective

    def as_dict(self) -> dict[str, object]:
        return {
            "key": self.key,
            "jurisdiction": self.jurisdiction,
            "name": self.name,
            "categories": sorted(c.value for c in self.categories),
            "window": self.window.to_dict() if self.window else None,
            "window_text": self.window.describe() if self.window else None,
            "cap_per_24h": self.cap,
            "effective": self.effective.isoformat() if self.effective else None,
            "source": self.source,
            "unconfirmed": self.unconfirmed,
        }


_MARKETING = frozenset({Category.MARKETING})
_8_TO_9 = Window.daily(time(8), time(21))
_8_TO_8 = Window.daily(time(8), time(20))

RULES: tuple[SendRule, ...] = (
    SendRule(
        key="us_tcpa",
        jurisdiction="US",
        name="Federal TCPA calling hours",
        categories=_MARKETING,
        window=_8_TO_9,
        cap=None,
        effective=None,
        source="47 U.S.C. 227(c); 47 CFR 64.1200(c)(1): no telephone solicitation before "
        "8 a.m. or after 9 p.m. local time at the called party's location",
        unconfirmed="Whether texts count as 'telephone solicitations' for the hours rule is "
        "read from FCC practice (texts are calls under the TCPA), not a rule on this point.",
    ),
    SendRule(
        key="us_fl_ftsa",
        jurisdiction="US-FL",
        name="Florida Telephone Solicitation Act",
        categories=_MARKETING,
        window=_8_TO_8,
        cap=3,
        effective=date(2021, 7, 1),
        source="Fla. Stat. 501.059(8)(a) (as amended by SB 1120 (2021) and HB 761 (2023)): "
        "8 a.m. to 8 p.m. in the called party's time zone; no more than 3 commercial "
        "telephone solicitations from any number within 24 hours on the same subject",
        unconfirmed="Confirmed (secondary sources, 2026-12): the FTSA as amended took effect "
        "2021-07-01 (SB 1120). Not confirmed against the statute's text: the subsection number. "
        "The cap is 'on the same subject matter', counted here for all marketing (stricter).",
    ),
    SendRule(
        key="us_ok_otsa",
        jurisdiction="US-OK",
        name="Oklahoma Telephone Solicitation Act",
        categories=_MARKETING,
        window=_8_TO_8,
        cap=3,
        effective=date(2022, 11, 1),
        source="Okla. Stat. tit. 15, 775C.4 (HB 3168, 2022): 8 a.m. to 8 p.m. in the called "
        "party's time zone; no more than 3 commercial telephone solicitations within 24 hours "
        "on the same subject",
        unconfirmed="Confirmed (secondary sources, 2026-12): HB 3168, the Telephone Solicitation "
        "Act of 2022 (Okla. Stat. tit. 15, 775C.1 ff.), in force 2022-11-01, 8 a.m.-8 p.m. and "
        "3 per 24 hours. Not confirmed: that the hours and cap sit in 775C.4; the cap is 'on "
        "the same subject', counted here for all marketing (stricter).",
    ),
    SendRule(
        key="us_md_stop_spam",
        jurisdiction="US-MD",
        name="Maryland Stop the Spam Calls Act",
        categories=_MARKETING,
        window=_8_TO_8,
        cap=3,
        effective=date(2024, 1, 1),
        source="Md. Code, Com. Law 14-4501 to 14-4504 (SB 90, 2023): 8 a.m. to 8 p.m. in the "
        "called party's time zone; no more than 3 telephone solicitations within 24 hours on "
        "the same subject",
        unconfirmed="Confirmed (the General Assembly's bill page and news reports, 2026-12): "
        "SB 90 (2023), Chapter 413, in force 2024-01-01; 8 a.m.-8 p.m. in the called party's "
        "zone; 3 calls or texts per 24 hours on the same subject. Not confirmed: the section "
        "numbers. The cap is counted here for all marketing (stricter).",
    ),
    SendRule(
        key="us_tx_sb140",
        jurisdiction="US-TX",
        name="Texas telephone solicitation hours (SB 140)",
        categories=_MARKETING,
        window=Window(((time(9), time(21)),) * 6 + ((time(12), time(21)),)),
        cap=None,
        effective=date(2025, 9, 1),
        source="Tex. Bus. & Com. Code 301.051 (hours: 9 a.m.-9 p.m. weekdays and Saturday, "
        "noon-9 p.m. Sunday), extended to text messages by SB 140 (2025), effective 2025-09-01",
        unconfirmed="Confirmed (the Senate Research Center's bill analysis and law-firm "
        "summaries, 2026-12): SB 140 (2025), in force 2025-09-01, brings text messages into "
        "the telephone-solicitation chapters; the hours 9 a.m.-9 p.m. Monday-Saturday, noon-9 "
        "p.m. Sunday. Not confirmed against the statute's text: which chapter's hours reach "
        "consent-based texts after the November 2025 settlement that exempted them from "
        "chapter 302's registration; applied here to all marketing (stricter).",
    ),
    SendRule(
        key="us_or_2026",
        jurisdiction="US-OR",
        name="Oregon telephone solicitation limits",
        categories=_MARKETING,
        window=_8_TO_8,
        cap=3,
        effective=date(2026, 1, 1),
        source="Oregon HB 3865 (2025, signed 2025-07-24), amending ORS 646.561 ff.: text "
        "messages are telephone solicitations; none before 8 a.m. or after 8 p.m., nor more "
        "than 3 within 24 hours, unless there is an established business relationship (a "
        "transaction in the past 18 months); in force 2026-01-01",
        unconfirmed="Confirmed (news and law-firm summaries of the enrolled bill, 2026-12): bill, "
        "hours, cap, effective date. Not confirmed: the section numbers. The established-"
        "business-relationship exemption is not applied (stopline cannot tell purchases), so "
        "the rule is stricter than the law for such customers.",
    ),
)


# Federal rules reach US numbers, the territories' included.
US_REGIONS = frozenset({"US", "PR", "VI", "GU", "AS", "MP"})


def rules_for(country: str | None, states: Iterable[str]) -> tuple[SendRule, ...]:
    """The built-in rules that reach a recipient in `country` (a region code) and any of
    `states`."""
    if country not in US_REGIONS:
        return ()
    wanted = set(states)
    return tuple(r for r in RULES if r.state is None or r.state in wanted)
