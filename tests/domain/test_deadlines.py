"""Business-day deadlines for possible revocations: weekends and US federal holidays skipped."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stopline.domain.deadlines import (
    add_business_days,
    is_business_day,
    receipt_date,
    revocation_deadline,
)


def test_ten_business_days_from_a_plain_monday_is_two_weeks_later():
    # 2025-03-03 is a Monday with no holiday in the following two weeks.
    assert add_business_days(date(2025, 3, 3), 10) == date(2025, 3, 17)


def test_a_request_on_saturday_counts_from_monday():
    assert add_business_days(date(2025, 3, 8), 1) == date(2025, 3, 10)
    assert add_business_days(date(2025, 3, 8), 10) == date(2025, 3, 21)


def test_thanksgiving_and_christmas_are_skipped():
    # Thu 2025-11-27 is Thanksgiving; Thu 2025-12-25 is Christmas.
    assert not is_business_day(date(2025, 11, 27))
    assert add_business_days(date(2025, 11, 20), 10) == date(2025, 12, 5)
    assert add_business_days(date(2025, 12, 19), 10) == date(2026, 1, 6)  # 12-25 and 01-01 skipped


def test_an_observed_holiday_is_skipped():
    # Independence Day 2026 falls on a Saturday and is observed on Friday 2026-07-03.
    assert not is_business_day(date(2026, 7, 3))
    assert add_business_days(date(2026, 7, 2), 1) == date(2026, 7, 6)


def test_juneteenth_is_a_federal_holiday():
    assert not is_business_day(date(2025, 6, 19))


def test_zero_days_is_the_start_and_negative_is_refused():
    assert add_business_days(date(2025, 3, 3), 0) == date(2025, 3, 3)
    with pytest.raises(ValueError):
        add_business_days(date(2025, 3, 3), -1)


def test_receipt_date_is_never_later_than_any_us_date():
    just_after_midnight_new_york = datetime(2025, 3, 4, 5, 30, tzinfo=UTC)
    assert receipt_date(just_after_midnight_new_york, "America/New_York") == date(2025, 3, 4)
    assert receipt_date(just_after_midnight_new_york) == date(2025, 3, 3)  # Hawaii's date
    assert receipt_date(datetime(2025, 3, 4, 5, 30)) == date(2025, 3, 3)  # naive is UTC
    assert receipt_date(datetime(2025, 3, 4, 12, 0, tzinfo=UTC), "UTC") == date(2025, 3, 4)


def test_revocation_deadline_defaults_to_ten_business_days():
    assert revocation_deadline(datetime(2025, 3, 3, 15, 0, tzinfo=UTC)) == date(2025, 3, 17)


@given(st.dates(min_value=date(2000, 1, 1), max_value=date(2090, 12, 31)), st.integers(1, 30))
def test_deadline_is_a_business_day_with_exactly_n_business_days_after_start(start, n):
    end = add_business_days(start, n)
    assert is_business_day(end)
    days = [start + timedelta(days=i) for i in range(1, (end - start).days + 1)]
    assert sum(is_business_day(d) for d in days) == n
    # Never shorter than n weekdays would allow, and holidays only ever extend it.
    assert (end - start).days >= n
