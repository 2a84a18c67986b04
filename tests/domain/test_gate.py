"""The gate: what may be sent to a number in a given consent state."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from stopline.domain.consent import Method, NumberState, Record, Scope
from stopline.domain.gate import Allow, MessageKind, Outbound, RefusalCode, Refuse, decide

N = "+14155550123"
REC = Record(Method.MANUAL, "r", "cli", datetime(2026, 1, 1, tzinfo=UTC), 1)


def test_clear_number_is_allowed() -> None:
    assert isinstance(decide(Outbound(to=N), NumberState()), Allow)


def test_opted_out_number_is_refused_with_opted_out() -> None:
    decision = decide(Outbound(to=N), NumberState(opt_outs={(Scope.WORKSPACE, ""): REC}))
    assert isinstance(decision, Refuse) and decision.code is RefusalCode.OPTED_OUT


def test_confirmation_passes_an_opt_out() -> None:
    state = NumberState(opt_outs={(Scope.WORKSPACE, ""): REC})
    assert decide(Outbound(to=N, kind=MessageKind.CONFIRMATION), state).allowed


def test_confirmation_does_not_pass_a_block() -> None:
    state = NumberState(opt_outs={(Scope.WORKSPACE, ""): REC}, block=REC)
    decision = decide(Outbound(to=N, kind=MessageKind.CONFIRMATION), state)
    assert isinstance(decision, Refuse) and decision.code is RefusalCode.BLOCKED


def test_invalid_destination_is_refused() -> None:
    decision = decide(Outbound(to="4155550123"), NumberState())
    assert isinstance(decision, Refuse) and decision.code is RefusalCode.INVALID_NUMBER


def test_list_opt_out_refuses_only_that_lists_campaigns() -> None:
    state = NumberState(list_opt_outs={3: REC})
    refused = decide(Outbound(to=N, list_id=3), state, subscribed=True)
    assert isinstance(refused, Refuse) and refused.code is RefusalCode.LIST_OPTED_OUT
    assert decide(Outbound(to=N, list_id=4), state, subscribed=True).allowed
    assert decide(Outbound(to=N), state).allowed


def test_campaign_to_a_non_member_is_refused() -> None:
    decision = decide(Outbound(to=N, list_id=4), NumberState(), subscribed=False)
    assert isinstance(decision, Refuse) and decision.code is RefusalCode.NOT_SUBSCRIBED


def test_channel_scoped_opt_out_leaves_other_channels_open() -> None:
    state = NumberState(opt_outs={(Scope.CHANNEL, "7"): REC})
    assert not decide(Outbound(to=N, channel_id=7), state).allowed
    assert decide(Outbound(to=N, channel_id=8), state).allowed


scopes = st.sampled_from([(Scope.WORKSPACE, ""), (Scope.CHANNEL_TYPE, "sms"), (Scope.CHANNEL, "7")])


@given(
    opt_outs=st.dictionaries(scopes, st.just(REC), max_size=3),
    blocked=st.booleans(),
    list_outs=st.dictionaries(st.sampled_from([1, 2]), st.just(REC), max_size=2),
    channel=st.sampled_from([7, 8, None]),
    channel_type=st.sampled_from(["sms", "whatsapp", None]),
    list_id=st.sampled_from([None, 1, 2]),
    subscribed=st.sampled_from([None, True, False]),
    kind=st.sampled_from(list(MessageKind)),
)
def test_gate_never_allows_a_number_opted_out_or_blocked_in_scope(
    opt_outs, blocked, list_outs, channel, channel_type, list_id, subscribed, kind
) -> None:
    state = NumberState(opt_outs=opt_outs, block=REC if blocked else None, list_opt_outs=list_outs)
    message = Outbound(
        to=N, channel_id=channel, channel_type=channel_type, list_id=list_id, kind=kind
    )
    decision = decide(message, state, subscribed=subscribed)
    covered = any(
        scope is Scope.WORKSPACE
        or (scope is Scope.CHANNEL_TYPE and key == channel_type)
        or (scope is Scope.CHANNEL and channel is not None and key == str(channel))
        for scope, key in opt_outs
    )
    if blocked:
        assert not decision.allowed
    elif kind is MessageKind.CONFIRMATION:
        assert decision.allowed
    elif covered or (list_id is not None and (list_id in list_outs or subscribed is False)):
        assert not decision.allowed
    else:
        assert decision.allowed
