"""bulk_opt_out's fast path: the same hashes, chain and projection as one change at a time."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stopline.domain import consent
from stopline.domain.consent import Action, ConsentChange, Method, project
from stopline.services import ledger as ledger_service
from stopline.services import optouts
from stopline.services.consent import bulk_hasher, bulk_opt_out
from stopline.services.workspaces import Principal
from stopline.store import ledger
from stopline.store.db import read, write
from tests.conftest import unique_number


def _numbers(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [f"+1415{rng.randint(200, 999)}{rng.randint(0, 9999):04d}" for _ in range(count)]


@settings(max_examples=200, deadline=None)
@given(
    reason=st.one_of(st.none(), st.text(max_size=40)),
    actor=st.text(min_size=1, max_size=20),
    source=st.one_of(st.none(), st.text(max_size=20)),
    seq=st.integers(min_value=1, max_value=10**12),
    method=st.sampled_from([m for m in Method if m is not Method.REPLY]),
    micros=st.integers(min_value=0, max_value=999_999),
)
def test_bulk_hash_equals_the_domain_hash(reason, actor, source, seq, method, micros) -> None:
    now = datetime(2026, 3, 1, 12, 0, 0, micros, tzinfo=UTC)
    change = ConsentChange(
        number="+14155550100",
        action=Action.OPT_OUT,
        method=method,
        reason=reason,
        actor=actor,
        source=source,
    )
    expected = consent.make_event(7, seq, "ab" * 32, change, now).hash
    template = ConsentChange(
        number="", action=Action.OPT_OUT, method=method, reason=reason, actor=actor, source=source
    )
    assert bulk_hasher(7, template, now)(seq, "+14155550100", "ab" * 32) == expected


def test_bulk_hash_uses_utc_whatever_the_clock_zone() -> None:
    local = datetime(2026, 3, 1, 14, 0, tzinfo=timezone(timedelta(hours=2)))
    change = ConsentChange(number="+14155550100", action=Action.OPT_OUT, method=Method.IMPORT)
    template = ConsentChange(number="", action=Action.OPT_OUT, method=Method.IMPORT)
    expected = consent.make_event(1, 1, "0" * 64, change, local).hash
    assert bulk_hasher(1, template, local)(1, "+14155550100", "0" * 64) == expected


def test_large_bulk_keeps_the_chain_and_the_projection(engine, ws) -> None:
    member = Principal(workspace_id=ws.id, role="member", actor="member:test")
    numbers = list(dict.fromkeys(_numbers(ledger.STAGE_THRESHOLD + 500, seed=ws.id)))
    earlier = numbers[:3] + [unique_number()]
    with write(engine) as conn:
        for n in earlier[:2]:
            optouts.add_opt_out(conn, member, n, reason="kept")
        optouts.block(conn, member, earlier[2])
    local_now = datetime.now(timezone(timedelta(hours=-5)))
    with write(engine) as conn:
        result = bulk_opt_out(
            conn,
            ws.id,
            numbers + numbers[:10],
            method=Method.IMPORT,
            reason="bulk",
            actor="member:test",
            source="import job 1: numbers.csv",
            now=local_now,
        )
    assert sorted(result.skipped) == sorted(earlier[:3])
    assert result.added == [n for n in numbers if n not in earlier[:3]]
    with read(engine) as conn:
        report = ledger_service.verify(conn, ws.id)
        assert report.ok, report.problems
        assert report.events == 3 + len(result.added)
        assert project(ledger.iter_events(conn, ws.id)) == ledger.all_states(conn, ws.id)
        rows = {
            r.number: r
            for r in optouts.list_opt_outs(conn, ws.id, limit=1000, search=earlier[0])[0]
        }
        assert rows[earlier[0]].reason == "kept" and rows[earlier[0]].method == "manual"


def test_staged_and_listed_anti_joins_agree(engine, ws) -> None:
    member = Principal(workspace_id=ws.id, role="member", actor="member:test")
    numbers = _numbers(300, seed=99 + ws.id)
    with write(engine) as conn:
        for n in numbers[::7]:
            optouts.add_opt_out(conn, member, n)
    with read(engine) as conn:
        staged = ledger.numbers_with_workspace_opt_out_staged(conn, ws.id, numbers)
        listed = ledger.numbers_with_workspace_opt_out(conn, ws.id, numbers)
    assert staged == listed == set(numbers[::7])


def test_reply_method_is_refused_in_bulk(engine, ws) -> None:
    from stopline.domain.errors import InvalidInput

    with pytest.raises(InvalidInput) as exc, write(engine) as conn:
        bulk_opt_out(conn, ws.id, [unique_number()], method=Method.REPLY, reason=None, actor="x")
    assert exc.value.code == "reply_method_reserved"


@pytest.mark.parametrize("existing_count", [5, 40])
def test_both_anti_joins_of_a_big_bulk_skip_exactly_the_opted_out(
    engine, ws, monkeypatch, existing_count
) -> None:
    """Fewer opt-outs than new numbers: read them all; more: join against a staging table."""
    monkeypatch.setattr(ledger, "STAGE_THRESHOLD", 10)
    member = Principal(workspace_id=ws.id, role="member", actor="member:test")
    pool = list(dict.fromkeys(_numbers(200, seed=7 + existing_count + ws.id)))
    existing, incoming = pool[:existing_count], pool[existing_count - 3 : existing_count + 17]
    with write(engine) as conn:
        bulk_opt_out(conn, ws.id, existing, method=Method.MANUAL, reason="old", actor="x")
        optouts.add_opt_out(
            conn, member, incoming[5], scope=consent.Scope.CHANNEL_TYPE, scope_key="sms"
        )
        result = bulk_opt_out(conn, ws.id, incoming, method=Method.IMPORT, reason="new", actor="y")
    assert sorted(result.skipped) == sorted(incoming[:3])
    assert result.added == incoming[3:]
    with read(engine) as conn:
        assert ledger_service.verify(conn, ws.id).ok


def test_a_prepared_bulk_is_worked_out_again_if_a_stop_lands_before_it_is_written(
    engine, ws
) -> None:
    from stopline.services.consent import prepare_bulk_opt_out, write_prepared_bulk
    from tests.manage import stop_reply

    wanted = _numbers(30, seed=31 + ws.id)
    with read(engine) as conn:
        prepared = prepare_bulk_opt_out(
            conn, ws.id, wanted, method=Method.IMPORT, reason="file", actor="member:test"
        )
    stop_reply(engine, ws, wanted[4])  # the head moves: the prepared hashes are stale
    with write(engine) as conn:
        result = write_prepared_bulk(conn, prepared)
    assert result.skipped == [wanted[4]] and len(result.added) == len(set(wanted)) - 1
    with read(engine) as conn:
        assert ledger_service.verify(conn, ws.id).ok
        rows = {r.number: r for r in optouts.list_opt_outs(conn, ws.id, limit=100)[0]}
    assert rows[wanted[4]].method == "reply"
    with read(engine) as conn:
        unchanged = prepare_bulk_opt_out(
            conn, ws.id, _numbers(5, seed=99), method=Method.IMPORT, reason="x", actor="y"
        )
    with write(engine) as conn:
        assert len(write_prepared_bulk(conn, unchanged).added) == 5
