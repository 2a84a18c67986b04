"""The consent rules: what each change does to a number's state, and what the hash chain catches."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stopline.domain.consent import (
    EMPTY,
    GENESIS_HASH,
    Action,
    ConsentChange,
    Method,
    NumberState,
    Scope,
    apply,
    check_change,
    make_event,
    project,
    verify_chain,
)
from stopline.domain.errors import Forbidden, InvalidInput
from stopline.domain.policy import Policy, ResubscribePolicy

N = "+14155550123"
T0 = datetime(2026, 1, 1, tzinfo=UTC)
LENIENT = Policy(resubscribe_policy=ResubscribePolicy.WITH_CONSENT_NOTE)


def run(changes: list[ConsentChange], policy: Policy = Policy()) -> tuple[NumberState, list]:
    state, events, head = EMPTY, [], GENESIS_HASH
    for i, change in enumerate(changes):
        if not check_change(state, change, policy, from_inbound=change.method is Method.REPLY):
            continue
        event = make_event(1, len(events) + 1, head, change, T0 + timedelta(seconds=i))
        head = event.hash
        events.append(event)
        state = apply(state, event)
    return state, events


def opt_out(method: Method = Method.MANUAL, **kw: object) -> ConsentChange:
    return ConsentChange(number=N, action=Action.OPT_OUT, method=method, **kw)  # type: ignore[arg-type]


def test_opt_out_records_method_and_reason() -> None:
    state, events = run([opt_out(reason="asked on the phone")])
    record = state.opt_outs[(Scope.WORKSPACE, "")]
    assert (record.method, record.reason, record.event_seq) == (
        Method.MANUAL,
        "asked on the phone",
        1,
    )
    assert len(events) == 1


def test_reply_method_cannot_be_created_by_hand() -> None:
    with pytest.raises(InvalidInput) as exc:
        check_change(EMPTY, opt_out(Method.REPLY), Policy(), from_inbound=False)
    assert exc.value.code == "reply_method_reserved"


def test_second_manual_opt_out_changes_nothing_but_second_stop_is_kept_as_evidence() -> None:
    state, events = run(
        [opt_out(Method.REPLY, reason="STOP"), opt_out(), opt_out(Method.REPLY, reason="stop!!")]
    )
    assert [e.method for e in events] == [Method.REPLY, Method.REPLY]
    assert (
        state.opt_outs[(Scope.WORKSPACE, "")].reason == "STOP"
    )  # the first request keeps its record


def test_block_implies_opt_out_and_unblock_does_not_opt_in() -> None:
    block = ConsentChange(number=N, action=Action.BLOCK, method=Method.MANUAL, reason="spam")
    unblock = ConsentChange(number=N, action=Action.UNBLOCK, method=Method.MANUAL)
    state, _ = run([block])
    assert state.block is not None and (Scope.WORKSPACE, "") in state.opt_outs
    state, _ = run([block, unblock])
    assert state.block is None and (Scope.WORKSPACE, "") in state.opt_outs


def test_blocked_number_cannot_opt_in_even_by_keyword() -> None:
    state, _ = run([ConsentChange(number=N, action=Action.BLOCK, method=Method.MANUAL)])
    start = ConsentChange(number=N, action=Action.OPT_IN, method=Method.REPLY)
    with pytest.raises(Forbidden) as exc:
        check_change(state, start, Policy(), from_inbound=True)
    assert exc.value.code == "blocked"


def test_recipient_only_policy_refuses_a_member_resubscribe() -> None:
    state, _ = run([opt_out()])
    restore = ConsentChange(
        number=N, action=Action.OPT_IN, method=Method.MANUAL, consent_note="said yes"
    )
    with pytest.raises(Forbidden) as exc:
        check_change(state, restore, Policy())
    assert exc.value.code == "resubscribe_recipient_only"


def test_consent_note_policy_needs_the_note() -> None:
    state, _ = run([opt_out()])
    bare = ConsentChange(number=N, action=Action.OPT_IN, method=Method.MANUAL)
    with pytest.raises(InvalidInput) as exc:
        check_change(state, bare, LENIENT)
    assert exc.value.code == "consent_note_required"
    noted = replace(bare, consent_note="Customer asked in store on Sept 2")
    assert check_change(state, noted, LENIENT)


def test_keyword_opt_in_lifts_every_opt_out_and_keeps_list_opt_outs() -> None:
    state, _ = run(
        [
            opt_out(scope=Scope.CHANNEL, scope_key="7"),
            opt_out(),
            ConsentChange(number=N, action=Action.LIST_OPT_OUT, method=Method.MANUAL, list_id=3),
            ConsentChange(number=N, action=Action.OPT_IN, method=Method.REPLY, reason="START"),
        ]
    )
    assert state.opt_outs == {} and 3 in state.list_opt_outs


def test_channel_scope_only_covers_its_channel() -> None:
    state, _ = run([opt_out(scope=Scope.CHANNEL, scope_key="7")])
    assert state.opted_out_for(7, "sms") is not None
    assert state.opted_out_for(8, "sms") is None


def test_channel_type_scope_covers_every_channel_of_the_type() -> None:
    state, _ = run([opt_out(scope=Scope.CHANNEL_TYPE, scope_key="sms")])
    assert state.opted_out_for(1, "sms") is not None
    assert state.opted_out_for(1, "whatsapp") is None


def test_amend_changes_reason_without_touching_the_original_event() -> None:
    amend = ConsentChange(number=N, action=Action.AMEND, method=Method.MANUAL, reason="typo fixed")
    state, events = run([opt_out(reason="tpyo"), amend])
    assert state.opt_outs[(Scope.WORKSPACE, "")].reason == "typo fixed"
    assert events[0].reason == "tpyo"


def test_recipient_opt_out_cannot_be_retracted() -> None:
    state, _ = run([opt_out(Method.REPLY, reason="STOP")])
    retract = ConsentChange(number=N, action=Action.RETRACT, method=Method.MANUAL)
    with pytest.raises(Forbidden):
        check_change(state, retract, Policy())


# --- hash chain -----------------------------------------------------------------------------


def chain(n: int = 5) -> list:
    changes = []
    for i in range(n):
        num = f"+1415555{i:04d}"
        changes.append(ConsentChange(number=num, action=Action.OPT_OUT, method=Method.MANUAL))
    _, events = apply_all(changes, Policy())
    return events


def test_intact_chain_verifies() -> None:
    events = chain()
    report = verify_chain(events, events[-1].seq, events[-1].hash)
    assert report.ok and report.events == 5


def test_edited_event_is_detected() -> None:
    events = chain()
    events[2] = replace(events[2], reason="edited later")
    report = verify_chain(events, events[-1].seq, events[-1].hash)
    assert not report.ok and [(p.seq, p.kind) for p in report.problems] == [(3, "edited")]


def test_deleted_event_is_detected() -> None:
    events = chain()
    del events[1]
    kinds = {p.kind for p in verify_chain(events, 5, events[-1].hash).problems}
    assert {"missing", "inserted"} <= kinds


def test_deleted_last_event_is_detected_by_the_head() -> None:
    events = chain()
    report = verify_chain(events[:-1], 5, events[-1].hash)
    assert [p.kind for p in report.problems] == ["head_mismatch"]


def test_reordered_events_are_detected() -> None:
    events = chain()
    events[1], events[2] = events[2], events[1]
    assert not verify_chain(events, 5, events[-1].hash).ok


# --- properties -----------------------------------------------------------------------------

NUMBERS = ["+14155550100", "+14155550101", "+442079460958"]
changes_strategy = st.lists(
    st.builds(
        ConsentChange,
        number=st.sampled_from(NUMBERS),
        action=st.sampled_from(list(Action)),
        method=st.sampled_from(list(Method)),
        scope=st.sampled_from(list(Scope)),
        scope_key=st.sampled_from(["", "sms", "1"]),
        list_id=st.sampled_from([None, 1, 2]),
        consent_note=st.sampled_from([None, "verbal consent"]),
        detail=st.sampled_from([None, {"target_scope": "workspace", "target_key": ""}]),
    ),
    max_size=40,
)


def apply_all(changes: list[ConsentChange], policy: Policy) -> tuple[dict, list]:
    states: dict[str, NumberState] = {}
    events: list = []
    head = GENESIS_HASH
    for i, change in enumerate(changes):
        state = states.get(change.number, EMPTY)
        try:
            if not check_change(state, change, policy, from_inbound=change.method is Method.REPLY):
                continue
        except (InvalidInput, Forbidden):
            continue  # refused changes record nothing
        event = make_event(1, len(events) + 1, head, change, T0 + timedelta(seconds=i))
        head = event.hash
        events.append(event)
        states[change.number] = apply(state, event)
    return {n: s for n, s in states.items() if not s.is_clear}, events


@settings(max_examples=300)
@given(changes_strategy, st.sampled_from([Policy(), LENIENT]))
def test_projection_of_the_events_equals_the_incremental_state(changes, policy) -> None:
    states, events = apply_all(changes, policy)
    assert project(events) == states
    if events:
        assert verify_chain(events, events[-1].seq, events[-1].hash).ok


@settings(max_examples=300)
@given(changes_strategy)
def test_a_blocked_number_always_stays_opted_out(changes) -> None:
    states, _ = apply_all(changes, LENIENT)
    for state in states.values():
        if state.block is not None:
            assert state.opted_out_for(None, None) is not None
