"""Send-time rules: windows in the recipient's zones, next openings, rolling caps."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from stopline.domain.errors import InvalidInput
from stopline.domain.policy import Policy
from stopline.domain.recipient_location import (
    Location,
    contact_location,
    number_location,
)
from stopline.domain.send_rules import RULES, Category
from stopline.domain.send_time import (
    HoldReason,
    SendTimeRules,
    Verdict,
    _decide,
    capped_for,
    decide_send_time,
    number_place,
)
from tests.send_time_oracle import open_by_table

DEFAULTS = SendTimeRules()
# Single- and multi-zone area codes in every state with a rule, and others.
NUMBERS = [
    "+13055550100",  # Miami, FL (Eastern)
    "+18505550100",  # Florida panhandle: Central and Eastern
    "+14055550100",  # Oklahoma City (Central)
    "+14105550100",  # Baltimore, MD (Eastern)
    "+19155550100",  # El Paso, TX (Mountain)
    "+12145550100",  # Dallas, TX (Central)
    "+15415550100",  # Oregon: Pacific and Mountain
    "+12125550100",  # New York (federal rule only)
    "+12085550100",  # Idaho: Mountain and Pacific
    "+19075550100",  # Alaska
    "+18085550100",  # Hawaii
]
ZONES = ["America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles"]


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_the_issue_example_waits_for_eight_in_florida() -> None:
    decision = decide_send_time(
        Category.MARKETING, number_location("+13055550100"), DEFAULTS, at("2026-12-05T02:30:00Z")
    )
    assert decision.verdict is Verdict.DEFER
    assert decision.reason is HoldReason.QUIET_HOURS
    assert decision.local_until() == datetime(
        2026, 12, 5, 8, 0, tzinfo=ZoneInfo("America/New_York")
    )
    assert decision.as_dict()["until"] == "2026-12-05T08:00:00-05:00"
    assert "Florida Telephone Solicitation Act" in (decision.rule or "")
    assert decision.location.found_by == "area code 305"


def test_florida_closes_at_eight_pm_and_new_york_at_nine() -> None:
    evening = at("2026-12-04T01:30:00Z")  # 20:30 Eastern
    florida = decide_send_time(
        Category.MARKETING, number_location("+13055550100"), DEFAULTS, evening
    )
    new_york = decide_send_time(
        Category.MARKETING, number_location("+12125550100"), DEFAULTS, evening
    )
    assert florida.verdict is Verdict.DEFER and new_york.allowed


def test_texas_sunday_opens_at_noon_from_september_2025() -> None:
    sunday_ten = at("2026-12-06T16:00:00Z")  # 10:00 Central, a Sunday
    decision = decide_send_time(
        Category.MARKETING, number_location("+12145550100"), DEFAULTS, sunday_ten
    )
    assert decision.local_until() == datetime(
        2026, 12, 6, 12, 0, tzinfo=ZoneInfo("America/Chicago")
    )
    before = at("2025-08-31T16:00:00Z")  # also a Sunday, 11:00 Central: before SB 140
    assert decide_send_time(
        Category.MARKETING, number_location("+12145550100"), DEFAULTS, before
    ).allowed


def test_oregon_rule_starts_in_2026() -> None:
    evening = datetime(2025, 12, 3, 20, 30, tzinfo=ZoneInfo("America/Los_Angeles"))
    where = number_location("+15035550100")  # Portland (Pacific only)
    assert decide_send_time(Category.MARKETING, where, DEFAULTS, evening).allowed
    assert not decide_send_time(
        Category.MARKETING, where, DEFAULTS, evening.replace(year=2026)
    ).allowed


def test_a_multi_zone_area_code_waits_for_the_later_zone() -> None:
    where = number_location("+18505550100")
    assert set(where.zones) == {"America/Chicago", "America/New_York"}
    # 8:30 Eastern is 7:30 Central: Florida's 8:00 has not come in Pensacola yet.
    decision = decide_send_time(Category.MARKETING, where, DEFAULTS, at("2026-12-04T13:30:00Z"))
    assert decision.verdict is Verdict.DEFER
    assert decision.until == at("2026-12-04T14:00:00Z")


def test_dst_changes_move_the_opening_in_utc() -> None:
    miami = number_location("+13055550100")
    # 2026-03-08: clocks go forward; 12:30Z is 8:30 EDT (it was 7:30 EST the day before).
    assert decide_send_time(Category.MARKETING, miami, DEFAULTS, at("2026-03-08T12:30:00Z")).allowed
    assert not decide_send_time(
        Category.MARKETING, miami, DEFAULTS, at("2026-03-07T12:30:00Z")
    ).allowed
    # 2026-11-01: clocks go back; 12:30Z is 7:30 EST, the window opens at 13:00Z.
    fall = decide_send_time(Category.MARKETING, miami, DEFAULTS, at("2026-11-01T12:30:00Z"))
    assert fall.until == at("2026-11-01T13:00:00Z")


def test_a_contacts_own_zone_wins_and_the_area_codes_state_still_applies() -> None:
    where = contact_location(
        number_location("+13055550100"), time_zone="America/Los_Angeles", postal_code=None
    )
    assert where.zones == ("America/Los_Angeles",) and where.states == ("FL",)
    assert "contact's time zone" in where.found_by
    decision = decide_send_time(Category.MARKETING, where, DEFAULTS, at("2026-12-04T15:30:00Z"))
    assert decision.until == datetime(2026, 12, 4, 8, 0, tzinfo=ZoneInfo("America/Los_Angeles"))


def test_a_postal_code_gives_state_and_zone() -> None:
    where = contact_location(number_location("+12125550100"), time_zone=None, postal_code="73102")
    assert where.states == ("OK", "NY") and where.zones == ("America/Chicago",)


def test_informational_and_conversational_messages_have_no_built_in_window() -> None:
    night = at("2026-12-05T07:00:00Z")
    for cat in (Category.INFORMATIONAL, Category.CONVERSATIONAL):
        assert decide_send_time(cat, number_location("+13055550100"), DEFAULTS, night).allowed


def test_the_third_marketing_text_in_24_hours_is_the_last_in_florida() -> None:
    miami = number_location("+13055550100")
    noon = at("2026-12-04T17:00:00Z")
    sent = [noon - timedelta(hours=h) for h in (1, 2, 20)]
    decision = decide_send_time(Category.MARKETING, miami, DEFAULTS, noon, sent)
    assert decision.reason is HoldReason.FREQUENCY_CAP
    assert decision.until == noon - timedelta(hours=20) + timedelta(hours=24)
    refusing = SendTimeRules(over_cap=Policy.from_dict({"over_cap": "refuse"}).over_cap)
    assert (
        decide_send_time(Category.MARKETING, miami, refusing, noon, sent).verdict is Verdict.REFUSE
    )
    new_york = number_location("+12125550100")  # no cap there
    assert decide_send_time(Category.MARKETING, new_york, DEFAULTS, noon, sent).allowed


def test_workspace_windows_tighten_and_holidays_close() -> None:
    policy = Policy.from_dict(
        {
            "send_windows": {"informational": {"all": ["9:00", "17:00"], "sun": None}},
            "send_holidays": {"country": "US"},
        }
    )
    rules = policy.send_time_rules
    ny = number_location("+12125550100")
    evening = at("2026-12-04T23:00:00Z")  # 18:00 Eastern, Friday
    decision = decide_send_time(Category.INFORMATIONAL, ny, rules, evening)
    # Saturday 9:00 Eastern: Sunday is closed but Saturday is not.
    assert decision.until == datetime(2026, 12, 5, 9, 0, tzinfo=ZoneInfo("America/New_York"))
    christmas = datetime(2026, 12, 25, 12, 0, tzinfo=ZoneInfo("America/New_York"))
    closed = decide_send_time(Category.INFORMATIONAL, ny, rules, christmas)
    assert "holiday" in (closed.rule or "")
    assert closed.local_until() == datetime(2026, 12, 26, 9, 0, tzinfo=ZoneInfo("America/New_York"))


@pytest.mark.parametrize(
    "settings_",
    [
        {"send_windows": {"marketing": {"all": ["7:00", "20:00"]}}},
        {"send_time_exempt": ["marketing"]},
        {"send_caps": {"marketing": 0}},
        {"send_holidays": {"country": "XX"}},
        {"send_windows": {"newsletters": {"all": ["9:00", "17:00"]}}},
    ],
)
def test_a_workspace_cannot_loosen_the_built_in_rules(settings_: dict[str, object]) -> None:
    with pytest.raises(InvalidInput):
        Policy.from_dict(settings_)


instants = st.datetimes(
    min_value=datetime(2025, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)
)
# Instants near the US DST changes of 2026 weigh more.
near_dst = st.sampled_from(
    [datetime(2026, 3, 8, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC)]
).flatmap(lambda day: st.integers(-36 * 60, 36 * 60).map(lambda m: day + timedelta(minutes=m)))
locations = st.one_of(
    st.sampled_from(NUMBERS).map(number_location),
    st.tuples(st.sampled_from(NUMBERS), st.sampled_from(ZONES)).map(
        lambda p: contact_location(number_location(p[0]), time_zone=p[1], postal_code=None)
    ),
)


@settings(max_examples=400, deadline=None)
@given(moment=st.one_of(instants, near_dst), where=locations)
def test_allowed_means_inside_every_window_and_a_deferral_ends_at_the_first_opening(
    moment: datetime, where: Location
) -> None:
    decision = decide_send_time(Category.MARKETING, where, DEFAULTS, moment)
    assert decision.verdict is not Verdict.REFUSE
    if decision.allowed:
        assert open_by_table(moment, where, Category.MARKETING)
        return
    assert not open_by_table(moment, where, Category.MARKETING)
    assert decision.until is not None and decision.until > moment
    assert open_by_table(decision.until, where, Category.MARKETING)
    # Nothing earlier was open: every minute before it, back to the question, was closed.
    step = decision.until - timedelta(minutes=1)
    while step > moment:
        assert not open_by_table(step, where, Category.MARKETING), step
        step -= timedelta(minutes=1)


@settings(max_examples=100, deadline=None)
@given(
    start=instants,
    gaps=st.lists(st.integers(0, 12 * 60), min_size=1, max_size=12),
    number=st.sampled_from(["+13055550100", "+14055550100", "+14105550100", "+15035550100"]),
)
def test_caps_hold_in_every_rolling_24_hours(start: datetime, gaps: list[int], number: str) -> None:
    """Messages asked for at random moments and sent when the decision says: never more than
    three in any 24 hours in a capped state (once its rule is in force)."""
    where = number_location(number)
    handed: list[datetime] = []
    asked = start
    for gap in gaps:
        asked += timedelta(minutes=gap)
        when = asked
        for _ in range(10):
            recent = [h for h in handed if when - timedelta(hours=24) < h <= when]
            decision = decide_send_time(Category.MARKETING, where, DEFAULTS, when, recent)
            if decision.allowed:
                handed.append(when)
                break
            assert decision.until is not None and decision.until > when
            when = decision.until
        asked = max(asked, when)
    state = where.states[0]
    cap = next(r for r in RULES if r.state == state)
    for i, first in enumerate(handed):
        if cap.effective and first.astimezone(ZoneInfo(where.zones[0])).date() < cap.effective:
            continue
        within = [h for h in handed[i:] if h < first + timedelta(hours=24)]
        assert len(within) <= 3, handed


def test_every_rule_names_its_source_and_a_window_or_cap() -> None:
    assert {r.jurisdiction for r in RULES} >= {"US", "US-FL", "US-OK", "US-MD", "US-TX", "US-OR"}
    for rule in RULES:
        assert rule.source and (rule.window is not None or rule.cap is not None)
        assert rule.window is None or rule.window.days[0] is not None
    assert next(r for r in RULES if r.state == "MD").effective == date(2024, 1, 1)
    assert next(r for r in RULES if r.state == "TX").window.days[6] == (time(12), time(21))  # type: ignore[union-attr]


# A workspace window closing at 24:00 (read as 23:59:59.999999) and one opening mid-evening.
LATE = Policy.from_dict(
    {
        "send_windows": {
            "informational": {"all": ["10:00", "24:00"], "sun": ["0:00", "19:30"]},
            "marketing": {"all": ["9:30", "20:00"]},
        },
        "send_holidays": {"country": "US"},
    }
).send_time_rules
exact_instants = st.one_of(
    instants,
    near_dst,
    # The last microsecond of a minute, and whole minutes.
    instants.map(lambda t: t.replace(second=59, microsecond=999_999)),
    instants.map(lambda t: t.replace(second=0, microsecond=0)),
)


@settings(max_examples=300, deadline=None)
@given(
    moment=exact_instants,
    where=locations,
    rules=st.sampled_from([DEFAULTS, LATE]),
    cat=st.sampled_from([Category.MARKETING, Category.INFORMATIONAL]),
)
@example(  # 23:59:59.999999 on a Friday in New York: the window closing at 24:00 is shut
    moment=datetime(2026, 12, 5, 4, 59, 59, 999_999, tzinfo=UTC),
    where=number_location("+12125550100"),
    rules=LATE,
    cat=Category.INFORMATIONAL,
)
def test_the_decision_kept_per_minute_is_the_one_computed_at_that_instant(
    moment: datetime, where: Location, rules: SendTimeRules, cat: Category
) -> None:
    """Decisions without history are kept per minute and place: asked at any instant, the
    answer (verdict, next opening, rule) is the one worked out for that very instant."""
    kept = decide_send_time(cat, where, rules, moment)
    assert kept == _decide(cat, where, rules, moment, ())


CAPPED_MARKETING = Policy.from_dict({"send_caps": {"marketing": 5}}).send_time_rules


@settings(max_examples=200, deadline=None)
@given(
    moments=st.lists(exact_instants, min_size=1, max_size=6).flatmap(
        # Asked again at the same instants, in another order: the kept answer must still fit.
        lambda ms: st.permutations(ms + ms[: len(ms) // 2])
    ),
    number=st.sampled_from(NUMBERS),
    rules=st.sampled_from([DEFAULTS, LATE, CAPPED_MARKETING]),
    cat=st.sampled_from(list(Category)),
)
def test_the_gates_place_of_a_number_answers_as_the_rules_do_at_each_instant(
    moments: list[datetime], number: str, rules: SendTimeRules, cat: Category
) -> None:
    """`number_place` (what the gate asks per check) is kept per area code, rule set and
    category, with its last answer: whatever the order of the questions, each answer is the
    one worked out for that instant, and `capped` is `capped_for` there."""
    spot = number_place(cat, number, rules)
    assert spot is number_place(cat, number[:5] + "9990199", rules)
    assert spot.location == number_location(number)
    assert spot.capped == capped_for(cat, spot.location, rules)
    for moment in moments:
        assert spot.decide(moment) == _decide(cat, spot.location, rules, moment, ())
        assert spot.decide(moment) == decide_send_time(cat, spot.location, rules, moment)


@settings(max_examples=300, deadline=None)
@given(
    moment=exact_instants,
    ago=st.lists(st.integers(-60, 26 * 60), max_size=6),
    number=st.sampled_from(NUMBERS),
    rules=st.sampled_from([DEFAULTS, LATE, CAPPED_MARKETING]),
    cat=st.sampled_from([Category.MARKETING, Category.INFORMATIONAL]),
)
def test_a_history_under_every_cap_decides_as_no_history_does(
    moment: datetime, ago: list[int], number: str, rules: SendTimeRules, cat: Category
) -> None:
    """Hand-offs (some outside the 24 h, some after the instant asked about) are counted only
    when they reach the smallest cap: whatever the history, the answer is the one worked out
    from the hand-offs in the 24 h before that instant."""
    where = number_location(number)
    sent = [moment - timedelta(minutes=m) for m in ago]
    recent = [s for s in sent if moment - timedelta(hours=24) < s <= moment]
    assert decide_send_time(cat, where, rules, moment, sent) == _decide(
        cat, where, rules, moment, recent
    )
    spot = number_place(cat, number, rules)
    if len(sent) < spot.fewest:
        assert spot.decide(moment) == _decide(cat, where, rules, moment, recent)
