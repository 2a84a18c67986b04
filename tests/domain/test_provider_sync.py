"""Provider sync rules: what each consent change is called at Twilio, and the rate window."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from stopline.domain.consent import Action, Method, Scope
from stopline.domain.provider_sync import (
    RateWindow,
    correlation_id,
    reaches,
    report_for,
    twilio_source,
    twilio_status,
)


def test_twilio_hears_opt_outs_blocks_opt_ins_and_retractions_only() -> None:
    assert {a: report_for(a) for a in Action if report_for(a)} == {
        Action.OPT_OUT: "opt_out",
        Action.BLOCK: "opt_out",
        Action.OPT_IN: "opt_in",
        Action.RETRACT: "opt_in",
    }
    assert twilio_status("opt_out") == "opt-out" and twilio_status("opt_in") == "opt-in"


def test_sources_follow_the_method() -> None:
    assert twilio_source("opt_out", Method.REPLY) == "opt-out-message"
    assert twilio_source("opt_in", Method.REPLY) == "opt-in-message"
    assert twilio_source("opt_out", Method.LINK) == "website"
    assert twilio_source("opt_in", Method.MANUAL) == "offline"
    assert {twilio_source("opt_out", m) for m in (Method.IMPORT, Method.API, Method.CARRIER)} == {
        "others"
    }


@given(st.integers(1, 2**31), st.integers(1, 2**31), st.integers(1, 2**62))
def test_correlation_ids_are_32_hex_and_distinct_per_event_and_channel(ws, channel, seq) -> None:
    cid = correlation_id(ws, channel, seq)
    assert len(cid) == 32 and int(cid, 16) >= 0
    assert cid != correlation_id(ws, channel + 1, seq) and cid != correlation_id(
        ws, channel, seq + 1
    )


def test_scope_decides_which_channels_hear_of_it() -> None:
    assert reaches(Scope.WORKSPACE, "", 7, "sms")
    assert reaches(Scope.CHANNEL_TYPE, "sms", 7, "sms") and not reaches(
        Scope.CHANNEL_TYPE, "mms", 7, "sms"
    )
    assert reaches(Scope.CHANNEL, "7", 7, "sms") and not reaches(Scope.CHANNEL, "8", 7, "sms")


@given(
    limit=st.integers(1, 10),
    period=st.floats(1, 120),
    steps=st.lists(st.tuples(st.floats(0, 200), st.booleans()), max_size=200),
)
def test_a_window_never_lets_more_than_limit_start_within_a_period(limit, period, steps) -> None:
    """Whatever the pattern of attempts (including waiting exactly as told, and 429 holds), no
    `period` ever sees more than `limit` starts."""
    window, now, starts = RateWindow(limit, period), 0.0, []
    for gap, held in steps:
        now += gap
        if held:
            window.hold_until(now + period / 2)
        pause = window.wait(now)
        if pause > 0:
            now += pause  # wait exactly as long as told, then it must be free
            assert window.wait(now) == 0
        window.take(now)
        starts.append(now)
    for end in starts:  # counted as a server counts: the starts in (end - period, end]
        assert sum(1 for s in starts if end - period < s <= end) <= limit
