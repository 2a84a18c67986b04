"""The consent API: bulk records answered item by item, history, and the evidence report."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from stopline.domain.consent import Action, Method, Scope
from stopline.domain.errors import InvalidInput
from stopline.services import consent_api, optouts
from stopline.store.db import read, write
from stopline.store.tables import consent_events
from tests.manage import member, national, numbers, set_policy
from tests.outbound import add_channel


def record(number: str, cid: str, status: str = "opt-out", **extra: str) -> dict[str, str]:
    return {
        "contact_id": number,
        "correlation_id": cid,
        "status": status,
        "source": "website",
        **extra,
    }


def test_records_are_answered_one_by_one_and_bad_ones_fail_alone(engine, ws) -> None:
    a, b = numbers(2, seed=90)
    when = (datetime.now(UTC) - timedelta(days=3)).isoformat()
    items = [
        record(a, "c1", date_of_consent=when),
        record(national(b), "c2", source="offline"),
        record("not-a-number", "c3"),
        record(a, "c4", status="maybe"),
        record(a, "c5", source="fax"),
        record(a, "c1"),
        {"contact_id": a, "status": "opt-out", "source": "website"},
        record(a, "c8", date_of_consent="yesterday"),
        record(a, "c9", date_of_consent=(datetime.now(UTC) + timedelta(days=1)).isoformat()),
        record(a, "c10", sender_id="+15005550006"),
        "not an object",
    ]
    with write(engine) as conn:
        results = consent_api.upsert(conn, member(ws), items)
    codes = [r.error_code for r in results]
    assert [r.success for r in results[:2]] == [True, True]
    assert codes[2:] == [
        "INVALID_CONTACT_ID",
        "INVALID_STATUS",
        "INVALID_SOURCE",
        "DUPLICATE_CORRELATION_ID",
        "INVALID_CORRELATION_ID",
        "INVALID_DATE_OF_CONSENT",
        "INVALID_DATE_OF_CONSENT",
        "INVALID_SENDER_ID",
        "INVALID_ITEM",
    ]
    assert all(r.error_messages for r in results[2:])
    with read(engine) as conn:
        _, history = consent_api.history(conn, ws.id, a)
    [event] = history
    assert (event.method, event.correlation_id, event.source) == (
        Method.API,
        "c1",
        "consent api: website",
    )
    assert event.occurred_at.isoformat()[:10] == when[:10]


def test_sending_the_same_records_again_changes_nothing(engine, ws) -> None:
    items = [record(n, f"id-{i}") for i, n in enumerate(numbers(3, seed=91))]
    with write(engine) as conn:
        first = consent_api.upsert(conn, member(ws), items)
    with write(engine) as conn:
        second = consent_api.upsert(conn, member(ws), items)
    assert [r.changed for r in first] == [True] * 3
    assert [(r.success, r.changed) for r in second] == [(True, False)] * 3


def test_opt_in_follows_the_resubscribe_policy(engine, ws) -> None:
    number = numbers(1, seed=92)[0]
    with write(engine) as conn:
        optouts.add_opt_out(conn, member(ws), number)
        [refused] = consent_api.upsert(conn, member(ws), [record(number, "in-1", "opt-in")])
    assert refused.error_code == "resubscribe_recipient_only"
    set_policy(engine, ws, resubscribe_policy="with_consent_note")
    with write(engine) as conn:
        [done] = consent_api.upsert(
            conn,
            member(ws),
            [record(number, "in-2", "re-opt-in", date_of_consent="2026-01-02T10:00:00Z")],
        )
    assert done.success and done.changed
    with read(engine) as conn:
        _, events = consent_api.history(conn, ws.id, number)
    assert events[-1].action is Action.OPT_IN
    assert "website" in (events[-1].consent_note or "") and "2026-01-02" in events[-1].consent_note


def test_a_sender_narrows_the_opt_out_when_the_workspace_scopes_by_channel(
    engine, ws, keyring
) -> None:
    number = numbers(1, seed=93)[0]
    channel = add_channel(engine, ws, keyring)
    set_policy(engine, ws, opt_out_scope="channel")
    with write(engine) as conn:
        [result] = consent_api.upsert(
            conn, member(ws), [record(number, "s-1", sender_id=channel.address)]
        )
    assert result.success
    with read(engine) as conn:
        _, state = optouts.number_state(conn, ws.id, number)
    assert set(state.opt_outs) == {(Scope.CHANNEL, str(channel.id))}


def test_request_size_is_bounded(engine, ws) -> None:
    too_many = [record("+14155550100", f"x{i}") for i in range(consent_api.MAX_ITEMS + 1)]
    for items, code in ((too_many, "too_many_items"), ([], "items_empty"), ("x", "items_invalid")):
        with pytest.raises(InvalidInput) as exc, write(engine) as conn:
            consent_api.upsert(conn, member(ws), items)  # type: ignore[arg-type]
        assert exc.value.code == code


def test_evidence_lists_every_event_with_its_hash_and_that_it_verifies(engine, ws) -> None:
    number, other = numbers(2, seed=94)
    set_policy(engine, ws, resubscribe_policy="with_consent_note")
    with write(engine) as conn:
        optouts.add_opt_out(conn, member(ws), number, reason="phone call")
        optouts.add_opt_out(conn, member(ws), other)
        optouts.remove_opt_out(conn, member(ws), number, consent_note="signed form")
        optouts.add_opt_out(conn, member(ws), number, reason="again")
    with read(engine) as conn:
        report = consent_api.evidence(conn, ws.id, national(number), full_chain=True)
    assert report["verified"] and report["chain"]["ok"]
    assert [e["action"] for e in report["events"]] == ["opt_out", "opt_in", "opt_out"]
    assert all(len(e["hash"]) == 64 and all(e["checks"].values()) for e in report["events"])
    assert report["state"]["opt_outs"][0]["reason"] == "again"
    assert report["events"][-1]["hash"] == report["head"]["hash"]


def test_evidence_shows_an_edited_event(engine, ws) -> None:
    number = numbers(1, seed=95)[0]
    with write(engine) as conn:
        optouts.add_opt_out(conn, member(ws), number, reason="original")
    with engine.begin() as conn:  # someone edits the database behind the ledger's back
        conn.execute(
            sa.update(consent_events)
            .where(consent_events.c.workspace_id == ws.id, consent_events.c.number == number)
            .values(reason="rewritten")
        )
    with read(engine) as conn:
        report = consent_api.evidence(conn, ws.id, number, full_chain=True)
    assert not report["verified"] and not report["chain"]["ok"]
    assert report["events"][0]["checks"]["hash"] is False
