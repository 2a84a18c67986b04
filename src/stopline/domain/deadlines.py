"""Legal deadlines in business days: when a possible revocation must be honoured (inbound rule 3).

The FCC's 2024 revocation rule gives a business "a reasonable time, not to exceed ten business
days from receipt" to honour a request to stop. A business day here is Monday to Friday except
a US federal holiday (and its observed weekday, from the `holidays` package's US calendar).
Counting starts the day after receipt, so the deadline is always a business day. The receipt
date is the calendar date in `tz`, by default Hawaii's (the westernmost US state): its date is
never later than the date anywhere else in the US, so the deadline is never later than any US
business would count it. Erring early is the safe side of a legal deadline.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

__all__ = ["add_business_days", "is_business_day", "receipt_date", "revocation_deadline"]

FEDERAL_CALENDAR = "US"
RECEIPT_TZ = "Pacific/Honolulu"


@lru_cache(maxsize=64)
def _holidays_of(year: int) -> frozenset[date]:
    # Federal holidays are the US calendar's default (public) category; observed days included.
    return frozenset(holidays.country_holidays(FEDERAL_CALENDAR, years=year).keys())


def is_business_day(day: date) -> bool:
    """Monday to Friday and not a US federal holiday (or the weekday one is observed on)."""
    return day.weekday() < 5 and day not in _holidays_of(day.year)


def add_business_days(start: date, days: int) -> date:
    """The `days`-th business day after `start` (`start` itself never counts)."""
    if days < 0:
        raise ValueError("days must not be negative")
    day = start
    remaining = days
    while remaining:
        day += timedelta(days=1)
        if is_business_day(day):
            remaining -= 1
    return day


def receipt_date(received_at: datetime, tz: str = RECEIPT_TZ) -> date:
    """The calendar date a message was received on, in `tz` (naive datetimes are UTC)."""
    if received_at.tzinfo is None:
        received_at = received_at.replace(tzinfo=ZoneInfo("UTC"))
    return received_at.astimezone(ZoneInfo(tz)).date()


def revocation_deadline(
    received_at: datetime, business_days: int = 10, tz: str = RECEIPT_TZ
) -> date:
    """The last day on which a revocation received at `received_at` may be honoured."""
    return add_business_days(receipt_date(received_at, tz), business_days)
