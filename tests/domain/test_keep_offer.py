"""Keeping a list past an opt-out, replayed: `ledger verify` accepts only the recipient's own
answer to the offer made by their latest opt-out, for an offered list, by its deadline."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from stopline.domain.consent import (
    EMPTY,
    GENESIS_HASH,
    Action,
    ConsentChange,
    Method,
    Scope,
    apply,
    make_event,
    rule_violations,
)
from stopline.domain.gate import Outbound, decide
from stopline.domain.keep_offer import KeepOffer, OfferedList, offer_of

N = "+14155550123"
T0 = datetime(2026, 12, 3, 15, 0, tzinfo=UTC)
ALERTS, DEALS = 7, 8
OFFER = KeepOffer(
    (OfferedList(ALERTS, "ALERTS", "Appointment alerts"), OfferedList(DEALS, "DEALS", "Deals")),
    T0 + timedelta(hours=24),
)


def chain(*changes: tuple[ConsentChange, datetime]) -> list:
    events, prev = [], GENESIS_HASH
    for seq, (change, at) in enumerate(changes, 1):
        event = make_event(1, seq, prev, change, at)
        events.append(event)
        prev = event.hash
    return events


def stop(offer: KeepOffer | None = OFFER) -> ConsentChange:
    return ConsentChange(
        number=N,
        action=Action.OPT_OUT,
        method=Method.REPLY,
        inbound_text="STOP",
        detail=offer.as_detail() if offer else None,
    )


def keep(list_id: int = ALERTS, *, offer_seq: int = 1, method: Method = Method.REPLY, **kw):
    return ConsentChange(
        number=N,
        action=Action.LIST_OPT_IN,
        method=method,
        list_id=list_id,
        inbound_text=kw.pop("text", "ALERTS"),
        detail={"keeps": kw.pop("keeps", ["workspace", ""]), "offer_seq": offer_seq,
                "evidence": {"answer_text": "ALERTS"}},
        **kw,
    )  # fmt: skip


def state_of(events):
    state = EMPTY
    for event in events:
        state = apply(state, event)
    return state


def test_an_answer_in_time_keeps_that_list_and_verifies():
    events = chain((stop(), T0), (keep(), T0 + timedelta(minutes=2)))
    assert rule_violations(events) == []
    state = state_of(events)
    assert decide(Outbound(to=N, channel_id=1, list_id=ALERTS), state, subscribed=True).allowed
    assert not decide(Outbound(to=N, channel_id=1, list_id=DEALS), state, subscribed=True).allowed
    assert not decide(Outbound(to=N, channel_id=1), state).allowed


def test_forged_keeps_are_rule_violations():
    late = T0 + timedelta(hours=24, seconds=1)
    cases = {
        "no offer": chain((stop(None), T0), (keep(), T0)),
        "late": chain((stop(), T0), (keep(), late)),
        "not offered": chain((stop(), T0), (keep(99), T0)),
        "by a member": chain((stop(), T0), (keep(method=Method.MANUAL, consent_note="x"), T0)),
        "no text": chain((stop(), T0), (keep(text=None), T0)),
        "old offer": chain((stop(), T0), (stop(), T0), (keep(offer_seq=1), T0)),
        "other opt-out": chain(
            (stop(), T0), (keep(keeps=["channel_type", "sms"]), T0 + timedelta(minutes=1))
        ),
    }
    for name, events in cases.items():
        assert [p.kind for p in rule_violations(events)] == ["rule_violation"], name


@given(
    after=st.lists(
        st.sampled_from(["stop", "block", "leave_alerts", "opt_in", "leave_deals"]), max_size=4
    )
)
def test_what_ends_a_kept_list(after):
    """A later STOP or block ends every kept list; leaving a list ends keeping it; START lifts
    the opt-out itself. Nothing else (leaving another list) touches it."""
    steps = [(stop(), T0), (keep(), T0 + timedelta(minutes=1))]
    for i, what in enumerate(after):
        at = T0 + timedelta(minutes=2 + i)
        change = {
            "stop": ConsentChange(N, Action.OPT_OUT, Method.REPLY, inbound_text="STOP"),
            "block": ConsentChange(N, Action.BLOCK, Method.MANUAL),
            "leave_alerts": ConsentChange(N, Action.LIST_OPT_OUT, Method.REPLY, list_id=ALERTS),
            "leave_deals": ConsentChange(N, Action.LIST_OPT_OUT, Method.REPLY, list_id=DEALS),
            "opt_in": ConsentChange(
                N, Action.OPT_IN, Method.REPLY, inbound_text="START", detail={"lifts": []}
            ),
        }[what]
        steps.append((change, at))
    state = state_of(chain(*steps))
    record = state.opt_outs.get((Scope.WORKSPACE, ""))
    ended = {"stop", "block", "leave_alerts"} & set(after)
    if record is not None:
        assert record.keeps_list(ALERTS) == (not ended)
    through_alerts = decide(Outbound(to=N, channel_id=1, list_id=ALERTS), state, subscribed=True)
    if state.block is not None or "leave_alerts" in after:
        assert not through_alerts.allowed
    elif record is not None:
        assert through_alerts.allowed == (not ended)


def test_an_offer_reads_back_what_was_made():
    assert offer_of(OFFER.as_detail()) == OFFER
    assert offer_of({"keep_offer": {"lists": "nonsense"}}) is None
    assert offer_of(None) is None


@given(
    names=st.lists(st.text(min_size=1, max_size=200), min_size=1, max_size=3),
    confirmation=st.text(max_size=480),
    language=st.sampled_from(["en", "fr", "es", "pt"]),
)
def test_an_offer_always_fits_one_confirmation_text(names, confirmation, language):
    from stopline.domain.keep_offer import fitted, offer_text

    candidates = tuple(OfferedList(i, f"WORD{i}", n) for i, n in enumerate(names, 1))
    offer = fitted(KeepOffer(candidates, T0, language), confirmation, 480)
    if offer is None:
        return
    assert len(f"{confirmation} {offer_text(offer, language)}") <= 480
    assert [o for o in candidates if o in offer.lists] == list(offer.lists)
