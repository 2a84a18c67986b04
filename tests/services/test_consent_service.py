"""The consent door on a real database: ledger event, projection and cancellations in one transaction."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stopline.domain.consent import Action, ConsentChange, Method, Scope, project
from stopline.domain.errors import Forbidden, InvalidInput, StoplineError
from stopline.domain.policy import Policy, ResubscribePolicy
from stopline.services import ledger as ledger_service
from stopline.services import optouts
from stopline.services.checks import check_number
from stopline.services.consent import bulk_opt_out, change_consent
from stopline.services.workspaces import Principal
from stopline.store import ledger
from stopline.store.db import read, write
from stopline.store.tables import consent_events, opt_outs
from tests.conftest import unique_number


def member(ws) -> Principal:
    return Principal(workspace_id=ws.id, role="member", actor="member:test")


def test_manual_opt_out_is_one_event_and_one_row(engine, ws) -> None:
    number = unique_number()
    with write(engine) as conn:
        result = optouts.add_opt_out(conn, member(ws), number, reason="asked by phone")
    assert result.changed and result.event is not None
    with read(engine) as conn:
        rows, total = optouts.list_opt_outs(conn, ws.id)
        events = ledger_service.history(conn, ws.id, number)
    assert total == 1 and rows[0].number == number and rows[0].method == "manual"
    assert rows[0].reason == "asked by phone" and rows[0].actor == "member:test"
    assert [e.action for e in events] == [Action.OPT_OUT]


def test_opted_out_number_is_refused_by_the_check(engine, ws) -> None:
    number = unique_number()
    with write(engine) as conn:
        optouts.add_opt_out(conn, member(ws), number)
    with read(engine) as conn:
        _, decision = check_number(conn, ws.id, number, region="US")
    assert not decision.allowed and decision.code.value == "opted_out"


def test_refused_change_writes_nothing(engine, ws) -> None:
    number = unique_number()
    with write(engine) as conn:
        optouts.add_opt_out(conn, member(ws), number)
    with pytest.raises(Forbidden):
        with write(engine) as conn:
            optouts.remove_opt_out(conn, member(ws), number, consent_note="said yes")
    with read(engine) as conn:
        assert len(ledger_service.history(conn, ws.id, number)) == 1
        assert ledger_service.verify(conn, ws.id).ok


def test_failed_transaction_leaves_no_half_written_state(engine, ws) -> None:
    number = unique_number()
    with pytest.raises(RuntimeError):
        with write(engine) as conn:
            optouts.add_opt_out(conn, member(ws), number)
            raise RuntimeError("crash after the write, before commit")
    with read(engine) as conn:
        assert ledger_service.history(conn, ws.id, number) == []
        assert optouts.list_opt_outs(conn, ws.id)[1] == 0
        assert ledger_service.verify(conn, ws.id).ok


def test_number_is_normalised_before_storage(engine, ws) -> None:
    with write(engine) as conn:
        optouts.add_opt_out(conn, member(ws), "(415) 555-2671")
    with read(engine) as conn:
        stored = conn.execute(
            sa.select(opt_outs.c.number).where(opt_outs.c.workspace_id == ws.id)
        ).scalar()
    assert stored == "+14155552671"


def test_bad_number_is_a_clear_error(engine, ws) -> None:
    with pytest.raises(InvalidInput) as exc:
        with write(engine) as conn:
            optouts.add_opt_out(conn, member(ws), "not a phone")
    assert exc.value.code.startswith("number_")


def test_bulk_opt_out_skips_existing_and_keeps_their_record(engine, ws) -> None:
    first, second, third = unique_number(), unique_number(), unique_number()
    with write(engine) as conn:
        optouts.add_opt_out(conn, member(ws), first, reason="original")
        optouts.block(conn, member(ws), second)
        result = bulk_opt_out(
            conn,
            ws.id,
            [first, second, third, third],
            method=Method.IMPORT,
            reason="import",
            actor="x",
        )
    assert result.added == [third] and sorted(result.skipped) == sorted([first, second])
    with read(engine) as conn:
        rows = {r.number: r for r in optouts.list_opt_outs(conn, ws.id)[0]}
        assert rows[first].reason == "original" and rows[third].method == "import"
        assert ledger_service.verify(conn, ws.id).ok


def test_workspaces_do_not_see_each_others_opt_outs(engine, ws, created) -> None:
    from stopline.services import workspaces

    number = unique_number()
    with write(engine) as conn:
        other = workspaces.create_workspace(
            conn, name="Other", owner_email="o@example.org", owner_password="password123"
        ).workspace
        optouts.add_opt_out(conn, member(ws), number)
    with read(engine) as conn:
        assert optouts.list_opt_outs(conn, other.id)[1] == 0
        assert check_number(conn, other.id, number, region="US")[1].allowed


def test_concurrent_opt_outs_keep_one_unbroken_chain(engine, ws) -> None:
    numbers = [unique_number() for _ in range(20)]
    errors: list[BaseException] = []

    def work(chunk: list[str]) -> None:
        try:
            for n in chunk:
                with write(engine) as conn:
                    optouts.add_opt_out(conn, member(ws), n)
        except BaseException as exc:  # pragma: no cover - surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(numbers[i::4],)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    with read(engine) as conn:
        report = ledger_service.verify(conn, ws.id)
    assert report.ok and report.events == len(set(numbers))


NUMS = ["+14155550100", "+14155550101", "+442079460958"]
change_strategy = st.builds(
    ConsentChange,
    number=st.sampled_from(NUMS),
    action=st.sampled_from(list(Action)),
    method=st.sampled_from([m for m in Method if m is not Method.REPLY]),
    scope=st.sampled_from(list(Scope)),
    scope_key=st.sampled_from(["", "sms", "1"]),
    list_id=st.sampled_from([None]),
    consent_note=st.sampled_from([None, "verbal consent"]),
    detail=st.sampled_from([None, {"target_scope": "workspace", "target_key": ""}]),
)


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(changes=st.lists(change_strategy, max_size=12))
def test_stored_state_equals_the_projection_of_the_stored_events(engine, changes) -> None:
    from stopline.services import workspaces

    policy = Policy(resubscribe_policy=ResubscribePolicy.WITH_CONSENT_NOTE)
    with write(engine) as conn:
        ws = workspaces.create_workspace(
            conn, name="Prop", owner_email="prop@example.com", owner_password="password123"
        ).workspace
    for change in changes:
        try:
            with write(engine) as conn:
                change_consent(conn, ws.id, change, policy)
        except StoplineError:
            pass
    with read(engine) as conn:
        events = list(ledger.iter_events(conn, ws.id))
        stored = ledger.all_states(conn, ws.id)
        assert ledger_service.verify(conn, ws.id).ok
    assert stored == project(events)


def test_direct_database_edit_breaks_verification(engine, ws) -> None:
    number = unique_number()
    with write(engine) as conn:
        optouts.add_opt_out(conn, member(ws), number, reason="original")
        optouts.add_opt_out(conn, member(ws), unique_number())
    with write(engine) as conn:
        conn.execute(
            sa.update(consent_events)
            .where(consent_events.c.workspace_id == ws.id, consent_events.c.number == number)
            .values(reason="rewritten")
        )
    with read(engine) as conn:
        report = ledger_service.verify(conn, ws.id)
    assert not report.ok and report.problems[0].kind == "edited"
