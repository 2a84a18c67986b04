"""The send-time decision: may a message of this category reach this recipient at this
moment, and if not, when may it? Quiet hours and frequency caps, built-in and the workspace's.

A message is allowed at instant T when, in every time zone the recipient may be in, T's local
time lies inside every window that covers its category (the built-in rules in force on that
local date for the recipient's states, the workspace's own window, the workspace's holiday
closures), and fewer than the smallest cap that covers it were handed over to the number in
the 24 hours before T. Otherwise it is deferred to the earliest instant that satisfies all of
that, or refused (`frequency_cap`, when the workspace says so; `no_send_window` when no
opening exists within two weeks, e.g. a window closed every day).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from stopline.domain.recipient_location import Location, number_location
from stopline.domain.send_rules import Category, SendRule, Window, rules_for

CAP_PERIOD = timedelta(hours=24)
SEARCH_DAYS = 15  # a window that never opens within two weeks refuses instead of deferring
# From this year on, every IANA zone's UTC offset is a whole number of minutes (the last
# exception, Africa/Monrovia's -0:44:30, ended on 1972-01-07).
MINUTE_OFFSETS_SINCE = 1973


class Verdict(StrEnum):
    ALLOW = "allowed"
    DEFER = "deferred"
    REFUSE = "refused"


class HoldReason(StrEnum):
    QUIET_HOURS = "quiet_hours"
    FREQUENCY_CAP = "frequency_cap"
    NO_SEND_WINDOW = "no_send_window"


class OverCap(StrEnum):
    DEFER = "defer"
    REFUSE = "refuse"


@dataclass(frozen=True)
class Holidays:
    """A workspace's holiday closures: no messages of `categories` on those local dates."""

    country: str
    subdivision: str | None = None
    categories: frozenset[Category] = frozenset({Category.MARKETING, Category.INFORMATIONAL})

    def closed(self, on: date, cat: Category) -> str | None:
        if cat not in self.categories:
            return None
        return _holiday_calendar(self.country, self.subdivision, on.year).get(on)


@functools.cache
def _holiday_calendar(country: str, subdivision: str | None, year: int) -> Any:
    import holidays  # data, no I/O

    return holidays.country_holidays(country, subdiv=subdivision, years=year)


@dataclass(frozen=True)
class SendTimeRules:
    """Everything that decides send times for one workspace: built-ins plus its own settings.
    Hashable (tuples, not dicts), so what follows from it is computed once per location."""

    windows: tuple[tuple[Category, Window], ...] = ()
    caps: tuple[tuple[Category, int], ...] = ()
    holidays: Holidays | None = None
    exempt: frozenset[Category] = frozenset({Category.CONVERSATIONAL})
    confirmations_exempt: bool = True
    over_cap: OverCap = OverCap.DEFER
    # `number_place`'s answers for this rule set, per (category, area code): derived data, left
    # out of equality, hashing and repr.
    _places: dict[tuple[Category, str], NumberPlace] = field(
        default_factory=dict, init=False, compare=False, hash=False, repr=False
    )

    def __hash__(self) -> int:  # a cache key on the hot path: hashed once, not per lookup
        cached = self.__dict__.get("_hash")
        if cached is None:
            cached = hash(
                (self.windows, self.caps, self.holidays, self.exempt,
                 self.confirmations_exempt, self.over_cap)
            )  # fmt: skip
            object.__setattr__(self, "_hash", cached)
        return cached

    def window(self, cat: Category) -> Window | None:
        return next((w for c, w in self.windows if c is cat), None)

    def cap(self, cat: Category) -> int | None:
        return next((n for c, n in self.caps if c is cat), None)


@dataclass(frozen=True)
class _Limit:
    """One window or cap in force for a message, named for the explanation."""

    name: str
    source: str
    window: Window | None
    cap: int | None
    effective: date | None = None
    rule: SendRule | None = None


@dataclass(frozen=True)
class SendTimeDecision:
    verdict: Verdict
    category: Category
    at: datetime
    location: Location
    until: datetime | None = None  # when a deferred message may go (UTC)
    reason: HoldReason | None = None
    rule: str | None = None  # the rule that holds or refuses it
    source: str | None = None
    zone: str | None = None  # the zone whose local time the rule was read in
    covered: bool = False  # some window, cap or closure applied to it (worth recording)

    @property
    def allowed(self) -> bool:
        return self.verdict is Verdict.ALLOW

    def local_until(self) -> datetime | None:
        if self.until is None:
            return None
        return self.until.astimezone(ZoneInfo(self.zone)) if self.zone else self.until

    def explain(self) -> str:
        where = self.location.describe()
        if self.verdict is Verdict.ALLOW:
            return f"{self.category.value} message allowed at {self.at.isoformat()}; recipient in {where}"
        if self.verdict is Verdict.REFUSE:
            return (
                f"{self.category.value} message refused ({self.reason}): {self.rule}; "
                f"recipient in {where}"
            )
        local = self.local_until()
        assert local is not None
        return (
            f"{self.category.value} message deferred until {local.isoformat()} ({self.reason}): "
            f"{self.rule}; recipient in {where}"
        )

    def as_dict(self) -> dict[str, Any]:
        local = self.local_until()
        return {
            "verdict": self.verdict.value,
            "category": self.category.value,
            "at": self.at.astimezone(UTC).isoformat(),
            "until": local.isoformat() if local is not None else None,
            "until_utc": self.until.astimezone(UTC).isoformat() if self.until else None,
            "reason": self.reason.value if self.reason else None,
            "rule": self.rule,
            "source": self.source,
            "zone": self.zone,
            "location": self.location.as_dict(),
            "explanation": self.explain(),
        }


@functools.lru_cache(maxsize=4096)
def _limits(cat: Category, location: Location, rules: SendTimeRules) -> tuple[_Limit, ...]:
    """The windows and caps covering `cat` for this recipient: state rules first (they are the
    tighter ones, named first in explanations), then federal, then the workspace's."""
    builtin = sorted(
        (r for r in rules_for(location.country, location.states) if cat in r.categories),
        key=lambda r: r.state is None,
    )
    limits = [_Limit(r.name, r.source, r.window, r.cap, r.effective, r) for r in builtin]
    if cat not in rules.exempt:
        window, cap = rules.window(cat), rules.cap(cat)
        if window is not None:
            limits.append(
                _Limit(f"workspace {cat.value} window", "workspace settings", window, None)
            )
        if cap is not None:
            limits.append(_Limit(f"workspace {cat.value} cap", "workspace settings", None, cap))
    return tuple(limits)


@functools.lru_cache(maxsize=4096)
def capped_for(cat: Category, location: Location, rules: SendTimeRules) -> bool:
    """Does some cap (built-in or the workspace's) cover `cat` for this recipient? Only then
    is their history worth reading."""
    return _fewest(cat, location, rules) is not None


@functools.lru_cache(maxsize=4096)
def _fewest(cat: Category, location: Location, rules: SendTimeRules) -> int | None:
    """The smallest cap covering `cat` for this recipient, in force or not (None: no cap).
    Fewer recent hand-offs than this hold no message back: the decision is the one without
    history."""
    return min(
        (lim.cap for lim in _limits(cat, location, rules) if lim.cap is not None), default=None
    )


class NumberPlace:
    """A number's place as the gate asks about it for one rule set and category: where it is
    by its number alone, whether a cap covers it there (`capped_for`), and its last decision
    without history (`decide`)."""

    __slots__ = ("category", "location", "rules", "capped", "fewest", "_last")

    def __init__(self, cat: Category, location: Location, rules: SendTimeRules) -> None:
        self.category = cat
        self.location = location
        self.rules = rules
        # The smallest cap there (`capped`: there is one): fewer hand-offs hold nothing back.
        fewest = _fewest(cat, location, rules)
        self.fewest = 0 if fewest is None else fewest
        self.capped = fewest is not None
        self._last: tuple[datetime, SendTimeDecision] | None = None

    def decide(self, at: datetime) -> SendTimeDecision:
        """`decide_send_time(category, location, rules, at)` for a message that is not a
        confirmation, with no history to count (or fewer hand-offs than `fewest`). The answer
        for the last instant asked is kept (a batch or a burst of checks asks about one instant
        many times); one tuple, so threads read a matching pair."""
        if at.tzinfo is not UTC:
            at = at.astimezone(UTC)
        last = self._last
        if last is not None and last[0] == at:
            return last[1]
        decision = _without_history(self.category, self.location, self.rules, at)
        self._last = (at, decision)
        return decision


def number_place(cat: Category, number: str, rules: SendTimeRules) -> NumberPlace:
    """The gate asks this for every check: a NANP number's answer is kept per rule set,
    category and area code (all it depends on), in a table on `rules` (at most 3 x 800)."""
    if len(number) == 12 and number.startswith("+1"):
        key = (cat, number[2:5])
        found = rules._places.get(key)
        if found is None:
            found = rules._places[key] = NumberPlace(cat, number_location(number), rules)
        return found
    return NumberPlace(cat, number_location(number), rules)


@functools.cache
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def _closed_by(
    at: datetime, cat: Category, location: Location, limits: Sequence[_Limit], rules: SendTimeRules
) -> tuple[_Limit | str, str] | None:
    """The first window (or holiday) that is closed at `at` in some zone, with that zone."""
    for name in location.zones:
        local = at.astimezone(_zone(name))
        on = local.date()
        for limit in limits:
            if limit.window is None or (limit.effective is not None and on < limit.effective):
                continue
            if not limit.window.contains(local):
                return limit, name
        if rules.holidays is not None and cat not in rules.exempt:
            holiday = rules.holidays.closed(on, cat)
            if holiday:
                return f"workspace holiday closure ({holiday})", name
    return None


def _openings(
    after: datetime, location: Location, limits: Sequence[_Limit], days: int
) -> tuple[list[datetime], datetime]:
    """Instants after `after`, within `days` local days, at which some window opens or some
    local day starts (the only places the earliest allowed instant can be), and the instant
    before which that list is complete (later local days of some zone begin there)."""
    found: set[datetime] = set()
    starts = {time(0)}
    for limit in limits:
        if limit.window is not None:
            starts.update(h[0] for h in limit.window.days if h is not None)
    complete: datetime | None = None
    for name in location.zones:
        tz = _zone(name)
        first = after.astimezone(tz).date()
        for offset in range(days):
            day = first + timedelta(days=offset)
            for start in starts:
                # A wall time skipped by a DST change maps to an instant after the gap (fold=0
                # reads it with the offset before); every candidate is checked anyway.
                instant = datetime.combine(day, start, tzinfo=tz).astimezone(UTC)
                if instant > after:
                    found.add(instant)
        edge = datetime.combine(first + timedelta(days=days), time(0), tzinfo=tz).astimezone(UTC)
        complete = edge if complete is None else min(complete, edge)
    assert complete is not None
    return sorted(found), complete


def _first_opening(
    after: datetime,
    cat: Category,
    location: Location,
    limits: Sequence[_Limit],
    rules: SendTimeRules,
) -> datetime | None:
    """The earliest instant after `after` when every window is open, looking two days ahead
    first (almost always enough), then further."""
    for days in (2, SEARCH_DAYS + 1):
        candidates, complete = _openings(after, location, limits, days)
        for candidate in candidates:
            if candidate >= complete and days <= SEARCH_DAYS:
                break  # an earlier opening may lie on a local day not listed yet
            if _closed_by(candidate, cat, location, limits, rules) is None:
                return candidate
    return None


def cap_release(sent: Sequence[datetime], cap: int) -> datetime | None:
    """When fewer than `cap` of `sent` (hand-off times within the last 24 h) remain in the
    rolling 24 hours; None if that is already so."""
    if len(sent) < cap:
        return None
    ordered = sorted(sent)
    return ordered[len(ordered) - cap] + CAP_PERIOD


def decide_send_time(
    cat: Category,
    location: Location,
    rules: SendTimeRules,
    at: datetime,
    sent: Sequence[datetime] = (),
    *,
    confirmation: bool = False,
) -> SendTimeDecision:
    """Decide one message. `sent`: when messages of `cat` were handed over to this number in
    the 24 hours before `at` (only needed when a cap covers `cat`)."""
    if at.tzinfo is not UTC:
        at = at.astimezone(UTC)
    if confirmation and rules.confirmations_exempt:
        return SendTimeDecision(Verdict.ALLOW, cat, at, location)
    if sent:
        recent = [s for s in sent if at - CAP_PERIOD < s <= at]
        fewest = _fewest(cat, location, rules)
        if recent and fewest is not None and len(recent) >= fewest:
            return _decide(cat, location, rules, at, recent)
    return _without_history(cat, location, rules, at)


def _without_history(
    cat: Category, location: Location, rules: SendTimeRules, at: datetime
) -> SendTimeDecision:
    # No history to count: the answer is the same for the whole minute (windows open and close
    # on whole minutes, and every zone's offset is whole minutes since 1972), so it is computed
    # once per minute and place. Except at hh:mm:59.999999, the one instant a window closing
    # at 24:00 (`time.max`) excludes, and before 1972 (offsets such as -0:44:30).
    if at.microsecond == 999_999 or at.year < MINUTE_OFFSETS_SINCE:
        return _decide(cat, location, rules, at, ())
    if not (at.second or at.microsecond):
        return _decide_in_minute(cat, location, rules, at)
    minute = at.replace(second=0, microsecond=0)
    found = _decide_in_minute(cat, location, rules, minute)
    # The minute's answer, asked at this instant (a shallow copy: cheaper than replace()).
    answer = object.__new__(SendTimeDecision)
    answer.__dict__.update(found.__dict__, at=at)
    return answer


@functools.lru_cache(maxsize=65536)
def _decide_in_minute(
    cat: Category, location: Location, rules: SendTimeRules, minute: datetime
) -> SendTimeDecision:
    return _decide(cat, location, rules, minute, ())


def _decide(
    cat: Category,
    location: Location,
    rules: SendTimeRules,
    at: datetime,
    recent: Sequence[datetime],
) -> SendTimeDecision:
    limits = _limits(cat, location, rules)
    if not limits and not (rules.holidays is not None and cat not in rules.exempt):
        return SendTimeDecision(Verdict.ALLOW, cat, at, location)
    capped = [lim for lim in limits if lim.cap is not None and _cap_in_force(lim, at, location)]
    earliest = at
    held: tuple[HoldReason, str, str, str | None] | None = None
    if capped:
        tightest = min(capped, key=lambda lim: lim.cap or 0)
        release = cap_release(recent, tightest.cap or 0)
        if release is not None:
            rule = f"{tightest.name}: {tightest.cap} per 24 h"
            if rules.over_cap is OverCap.REFUSE:
                return SendTimeDecision(Verdict.REFUSE, cat, at, location,
                                        reason=HoldReason.FREQUENCY_CAP, rule=rule,
                                        source=tightest.source, covered=True)  # fmt: skip
            earliest = release
            held = (HoldReason.FREQUENCY_CAP, rule, tightest.source, None)
    closed = _closed_by(earliest, cat, location, limits, rules)
    if closed is None and held is None:
        return SendTimeDecision(Verdict.ALLOW, cat, at, location, covered=True)
    until = earliest if closed is None else None
    if until is None:
        until = _first_opening(earliest, cat, location, limits, rules)
        # Name the window that held it last (the one closed just before it opens), unless a
        # holiday closes the day it was asked for.
        if until is not None and not (closed is not None and isinstance(closed[0], str)):
            closed = (
                _closed_by(until - timedelta(seconds=1), cat, location, limits, rules) or closed
            )
    if held is None:
        assert closed is not None
        what, closed_zone = closed
        if isinstance(what, str):
            held = (HoldReason.QUIET_HOURS, what, "workspace settings", closed_zone)
        else:
            hours = what.window.describe() if what.window else ""
            held = (HoldReason.QUIET_HOURS, f"{what.name} ({hours})", what.source, closed_zone)
    reason, rule, source, held_zone = held
    zone = held_zone or (closed[1] if closed else None)
    zone = zone or (location.zones[0] if location.zones else None)
    if until is None:
        return SendTimeDecision(Verdict.REFUSE, cat, at, location, reason=HoldReason.NO_SEND_WINDOW,
                                rule=rule, source=source, zone=zone, covered=True)  # fmt: skip
    return SendTimeDecision(Verdict.DEFER, cat, at, location, until=until, reason=reason,
                            rule=rule, source=source, zone=zone, covered=True)  # fmt: skip


def _cap_in_force(limit: _Limit, at: datetime, location: Location) -> bool:
    if limit.effective is None:
        return True
    return any(at.astimezone(_zone(z)).date() >= limit.effective for z in location.zones) or (
        not location.zones and at.date() >= limit.effective
    )
