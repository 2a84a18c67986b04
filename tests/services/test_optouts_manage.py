"""The Opt-Outs page's actions: list, add, edit (as ledger events), remove under the policy."""

from __future__ import annotations

import pytest

from stopline.domain.consent import Action, Method, Scope, project
from stopline.domain.errors import Forbidden, InvalidInput, NotFound
from stopline.services import contacts, optouts
from stopline.services import ledger as ledger_service
from stopline.store import ledger
from stopline.store.db import read, write
from tests.manage import member, national, numbers, set_policy, stop_reply


def test_list_shows_number_contact_method_reason_when_and_who(engine, ws) -> None:
    with_contact, without = numbers(2)
    with write(engine) as conn:
        contacts.create_contact(conn, member(ws), name="Dana", numbers=[with_contact])
        optouts.add_opt_out(conn, member(ws, "bo"), with_contact, reason="asked by phone")
        optouts.add_opt_out(conn, member(ws), without)
    with read(engine) as conn:
        rows, total = optouts.list_opt_outs(conn, ws.id)
    by = {r.number: r for r in rows}
    assert total == 2
    row = by[with_contact]
    assert (row.contact_name, row.method, row.reason, row.actor) == (
        "Dana",
        "manual",
        "asked by phone",
        "member:bo",
    )
    assert by[without].contact_name is None and by[without].reason is None


def test_search_finds_a_number_by_any_part_of_it(engine, ws) -> None:
    target, other = numbers(2, seed=11)
    with write(engine) as conn:
        optouts.add_opt_out(conn, member(ws), target)
        optouts.add_opt_out(conn, member(ws), other)
    with read(engine) as conn:
        for query in (target, national(target), target[-4:], target[2:8]):
            rows, _ = optouts.list_opt_outs(conn, ws.id, search=query)
            assert target in [r.number for r in rows], query
        with pytest.raises(InvalidInput) as exc:
            optouts.list_opt_outs(conn, ws.id, search="abc")
    assert exc.value.code == "search_invalid"


def test_filter_by_method_and_scope_and_page_through(engine, ws) -> None:
    manual = numbers(5, seed=12)
    replied = numbers(1, seed=13)[0]
    with write(engine) as conn:
        for n in manual:
            optouts.add_opt_out(conn, member(ws), n)
        optouts.add_opt_out(conn, member(ws), replied, scope=Scope.CHANNEL_TYPE, scope_key="sms")
    stop_reply(engine, ws, replied)
    with read(engine) as conn:
        assert optouts.list_opt_outs(conn, ws.id, method="reply")[1] == 1
        assert optouts.list_opt_outs(conn, ws.id, scope="channel_type")[1] == 1
        pages = [
            optouts.list_opt_outs(conn, ws.id, sort="number", limit=3, offset=o) for o in (0, 3, 6)
        ]
        with pytest.raises(InvalidInput) as bad_scope:
            optouts.list_opt_outs(conn, ws.id, scope="galaxy")
        with pytest.raises(InvalidInput) as bad_method:
            optouts.list_opt_outs(conn, ws.id, method="telepathy")
    rows = [r for page, _ in pages for r in page]
    ordered = [r.number for r in rows]
    assert [total for _, total in pages] == [7, 7, 7] and [len(p) for p, _ in pages] == [3, 3, 1]
    assert ordered == sorted(ordered) and set(ordered) == set(manual) | {replied}
    assert len({(r.number, r.scope) for r in rows}) == 7
    assert bad_scope.value.code == "scope_unknown" and bad_method.value.code == "method_unknown"


def test_a_reply_opt_out_cannot_be_created_by_hand(engine, ws) -> None:
    with pytest.raises(InvalidInput) as exc, write(engine) as conn:
        optouts.add_opt_out(conn, member(ws), numbers(1)[0], method="reply")
    assert exc.value.code == "reply_method_reserved"
    assert "inbound keyword" in exc.value.message


def test_editing_the_reason_is_an_amend_event_not_an_in_place_change(engine, ws) -> None:
    number = numbers(1, seed=14)[0]
    with write(engine) as conn:
        optouts.add_opt_out(conn, member(ws), number, reason="typo reason")
        result = optouts.edit_opt_out(conn, member(ws, "cy"), number, reason="asked in store")
    assert result.changed and result.number == number
    with read(engine) as conn:
        events = ledger_service.history(conn, ws.id, number)
        row = optouts.list_opt_outs(conn, ws.id, search=number)[0][0]
        assert ledger_service.verify(conn, ws.id).ok
    assert [e.action for e in events] == [Action.OPT_OUT, Action.AMEND]
    assert events[0].reason == "typo reason"  # the first event is untouched
    assert events[1].detail == {"target_scope": "workspace", "target_key": ""}
    assert events[1].actor == "member:cy"
    assert (row.reason, row.method, row.actor) == ("asked in store", "manual", "member:ann")


def test_correcting_the_number_retracts_the_old_and_opts_out_the_new_together(engine, ws) -> None:
    wrong, right = numbers(2, seed=15)
    set_policy(engine, ws, resubscribe_policy="with_consent_note")
    with write(engine) as conn:
        first = optouts.add_opt_out(conn, member(ws), wrong, reason="from the call", method="api")
        result = optouts.edit_opt_out(
            conn, member(ws, "cy"), wrong, number=national(right), consent_note="typo, per call"
        )
    assert result.number == right and len(result.changes) == 2
    with read(engine) as conn:
        old = ledger_service.history(conn, ws.id, wrong)
        new = ledger_service.history(conn, ws.id, right)
        rows = {r.number: r for r in optouts.list_opt_outs(conn, ws.id)[0]}
        assert project(ledger.iter_events(conn, ws.id)) == ledger.all_states(conn, ws.id)
    assert [e.action for e in old] == [Action.OPT_OUT, Action.RETRACT]
    assert old[1].detail == {"target_scope": "workspace", "target_key": "", "replaced_by": right}
    assert [e.action for e in new] == [Action.OPT_OUT]
    assert wrong not in rows
    moved = rows[right]
    assert (moved.method, moved.reason) == ("api", "from the call")
    assert first.event is not None and moved.created_at == first.event.occurred_at
    assert new[0].seq == old[1].seq + 1  # both events in one transaction, one after the other


def test_a_failed_number_edit_leaves_both_numbers_as_they_were(engine, ws) -> None:
    wrong = numbers(1, seed=16)[0]
    with write(engine) as conn:
        optouts.add_opt_out(conn, member(ws), wrong)
    with pytest.raises(InvalidInput), write(engine) as conn:
        optouts.edit_opt_out(conn, member(ws), wrong, number="not a number")
    with read(engine) as conn:
        assert [e.action for e in ledger_service.history(conn, ws.id, wrong)] == [Action.OPT_OUT]


def test_an_opt_out_the_recipient_asked_for_keeps_its_number_and_reason(engine, ws) -> None:
    number, other = numbers(2, seed=17)
    stop_reply(engine, ws, number)
    with pytest.raises(Forbidden) as moved, write(engine) as conn:
        optouts.edit_opt_out(conn, member(ws), number, number=other)
    with pytest.raises(Forbidden) as reworded, write(engine) as conn:
        optouts.edit_opt_out(conn, member(ws), number, reason="something else")
    assert moved.value.code == reworded.value.code == "recipient_opt_out_immutable"


def test_editing_a_number_that_is_not_opted_out_is_not_found(engine, ws) -> None:
    with pytest.raises(NotFound) as exc, write(engine) as conn:
        optouts.edit_opt_out(conn, member(ws), numbers(1, seed=18)[0], reason="x")
    assert exc.value.code == "opt_out_not_found"


def test_remove_is_refused_under_recipient_only(engine, ws) -> None:
    number = numbers(1, seed=19)[0]
    with write(engine) as conn:
        optouts.add_opt_out(conn, member(ws), number)
    with pytest.raises(Forbidden) as exc, write(engine) as conn:
        optouts.remove_opt_out(conn, member(ws), number, consent_note="said yes")
    assert exc.value.code == "resubscribe_recipient_only"


def test_remove_with_consent_note_policy_needs_the_note_and_records_it(engine, ws) -> None:
    number = numbers(1, seed=20)[0]
    set_policy(engine, ws, resubscribe_policy="with_consent_note")
    with write(engine) as conn:
        optouts.add_opt_out(conn, member(ws), number)
    with pytest.raises(InvalidInput) as exc, write(engine) as conn:
        optouts.remove_opt_out(conn, member(ws), number, consent_note="  ")
    assert exc.value.code == "consent_note_required"
    with write(engine) as conn:
        result = optouts.remove_opt_out(
            conn, member(ws), number, consent_note="Signed the form on 2 Sept"
        )
    assert result.changed and result.event is not None
    assert result.event.consent_note == "Signed the form on 2 Sept"
    with read(engine) as conn:
        assert optouts.list_opt_outs(conn, ws.id, search=number)[1] == 0


def test_blocks_list_and_unblocking_keeps_the_opt_out(engine, ws) -> None:
    number = numbers(1, seed=21)[0]
    with write(engine) as conn:
        optouts.block(conn, member(ws), number, reason="spam")
    with read(engine) as conn:
        rows, total = optouts.list_blocks(conn, ws.id)
    assert total == 1 and rows[0].number == number and rows[0].reason == "spam"
    with write(engine) as conn:
        optouts.unblock(conn, member(ws), number)
    with read(engine) as conn:
        assert optouts.list_blocks(conn, ws.id)[1] == 0
        _, state = optouts.number_state(conn, ws.id, number)
    assert state.block is None and (Scope.WORKSPACE, "") in state.opt_outs
    assert state.opt_outs[(Scope.WORKSPACE, "")].method is Method.MANUAL


def _sendable(engine, ws, number: str) -> bool:
    from stopline.services.checks import check_number

    with read(engine) as conn:
        return check_number(conn, ws.id, number, region="US")[1].allowed


def test_a_number_correction_there_and_back_never_lifts_an_opt_out_under_recipient_only(
    engine, ws
) -> None:
    """Hole 3: PATCH X -> Y and Y -> X left X sendable although only the recipient may opt in."""
    x, y = numbers(2, seed=18)
    with write(engine) as conn:
        optouts.add_opt_out(conn, member(ws), x, reason="asked by phone")
    with pytest.raises(Forbidden) as refused, write(engine) as conn:
        optouts.edit_opt_out(conn, member(ws), x, number=y)
    assert refused.value.code == "resubscribe_recipient_only"
    assert not _sendable(engine, ws, x) and _sendable(engine, ws, y)  # nothing was written
    with write(engine) as conn:  # kept: the old number stays opted out, the new one joins it
        optouts.edit_opt_out(conn, member(ws), x, number=y, keep_old=True)
    with pytest.raises(Forbidden), write(engine) as conn:
        optouts.edit_opt_out(conn, member(ws), y, number=x)
    assert not _sendable(engine, ws, x) and not _sendable(engine, ws, y)


def test_a_number_correction_needs_the_consent_note_under_with_consent_note(engine, ws) -> None:
    x, y = numbers(2, seed=19)
    set_policy(engine, ws, resubscribe_policy="with_consent_note")
    with write(engine) as conn:
        optouts.add_opt_out(conn, member(ws), x)
    with pytest.raises(InvalidInput) as refused, write(engine) as conn:
        optouts.edit_opt_out(conn, member(ws), x, number=y)
    assert refused.value.code == "consent_note_required"
    assert not _sendable(engine, ws, x)
    with write(engine) as conn:
        optouts.edit_opt_out(conn, member(ws), x, number=y, consent_note="wrong digit, per call")
        retract = ledger_service.history(conn, ws.id, x)[-1]
    assert retract.action is Action.RETRACT and retract.consent_note == "wrong digit, per call"
    assert _sendable(engine, ws, x) and not _sendable(engine, ws, y)


def test_a_reply_opt_out_is_never_moved_nor_copied_under_any_policy(engine, ws) -> None:
    x, y = numbers(2, seed=20)
    stop_reply(engine, ws, x)
    set_policy(engine, ws, resubscribe_policy="with_consent_note")
    for keep_old in (False, True):
        with pytest.raises(Forbidden) as refused, write(engine) as conn:
            optouts.edit_opt_out(
                conn, member(ws), x, number=y, consent_note="note", keep_old=keep_old
            )
        assert refused.value.code == "recipient_opt_out_immutable"
    assert not _sendable(engine, ws, x) and _sendable(engine, ws, y)


def _channel(engine, ws, keyring, address: str, type: str = "sms") -> int:
    from stopline.services import workspaces

    with write(engine) as conn:
        return workspaces.add_channel(
            conn, ws.id, keyring, address=address, provider="console", type=type
        ).id


@pytest.mark.parametrize(
    ("scope", "key"),
    [
        (Scope.CHANNEL_TYPE, "SMS"),
        (Scope.CHANNEL_TYPE, " sms"),
        (Scope.CHANNEL_TYPE, "fax"),
        (Scope.CHANNEL, "0{id}"),
        (Scope.CHANNEL, "\u0660{id}"),  # Arabic-Indic zero
        (Scope.CHANNEL, "{fullwidth}"),
        (Scope.CHANNEL, "999999"),
        (Scope.CHANNEL, "{other}"),
        (Scope.CHANNEL, ""),
        (Scope.WORKSPACE, "{id}"),
    ],
)
def test_an_opt_out_scope_key_must_name_a_channel_or_type_of_this_workspace(
    engine, ws, keyring, scope, key, created
) -> None:
    """Hole 2: such keys were stored (201, listed as opted out) and matched no send."""
    from stopline.services import workspaces
    from tests.conftest import unique_number

    own = _channel(engine, ws, keyring, unique_number())
    with write(engine) as conn:
        other_ws = workspaces.create_workspace(
            conn, name="Other", owner_email=f"o{own}@example.com", owner_password="x" * 12
        ).workspace
    other = _channel(engine, other_ws, keyring, unique_number())
    fullwidth = "".join(chr(ord(d) - ord("0") + 0xFF10) for d in str(own))
    key = key.format(id=own, other=other, fullwidth=fullwidth)
    number = numbers(1)[0]
    with pytest.raises(InvalidInput) as refused, write(engine) as conn:
        optouts.add_opt_out(conn, member(ws), number, scope=scope, scope_key=key)
    assert refused.value.code == "scope_key_invalid"
    with read(engine) as conn:
        assert ledger_service.history(conn, ws.id, number) == []
        assert optouts.list_opt_outs(conn, ws.id, search=number)[1] == 0


def test_canonical_scope_keys_are_stored_and_refuse_exactly_their_sends(
    engine, ws, keyring
) -> None:
    from stopline.services.checks import check_number
    from tests.conftest import unique_number

    sms = _channel(engine, ws, keyring, unique_number())
    whatsapp = _channel(engine, ws, keyring, unique_number(), type="whatsapp")
    a, b = numbers(2, seed=21)
    with write(engine) as conn:
        optouts.add_opt_out(conn, member(ws), a, scope=Scope.CHANNEL, scope_key=str(sms))
        optouts.add_opt_out(conn, member(ws), b, scope=Scope.CHANNEL_TYPE, scope_key="whatsapp")
    with read(engine) as conn:
        allowed = {
            (n, ch): check_number(conn, ws.id, n, region="US", channel_id=ch)[1].allowed
            for n in (a, b)
            for ch in (sms, whatsapp)
        }
    assert allowed == {(a, sms): False, (a, whatsapp): True, (b, sms): True, (b, whatsapp): False}
