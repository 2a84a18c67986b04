"""Tampering with the consent ledger directly in the database is caught by `stopline ledger verify`.

Each test builds a short, genuine chain through the consent service, then changes the
database behind stopline's back the way an insider (or a bad restore) could: edits an event,
deletes one, inserts a forged one. The CLI must exit 1 and name the problem, and the report
the services hand to the API (`services.ledger.verify` / `report_dict`) must say the same.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa

from stopline.domain.consent import (
    HASHED_FIELDS,
    Action,
    ConsentChange,
    Method,
    event_hash,
    make_event,
)
from stopline.services import ledger as ledger_service
from stopline.services import optouts, workspaces
from stopline.services.consent import change_consent
from stopline.store.db import read, write
from stopline.store.ledger import append_events, event_from_row
from stopline.store.tables import consent_events, ledger_heads
from tests.conftest import unique_number


def _principal(ws: workspaces.Workspace) -> workspaces.Principal:
    return workspaces.Principal(workspace_id=ws.id, role="owner", actor="tester")


@pytest.fixture
def chain(engine: sa.Engine, ws: workspaces.Workspace) -> list[str]:
    """Five genuine events: three opt-outs, a block and an opt-in by reply."""
    numbers = [unique_number() for _ in range(3)]
    with write(engine) as conn:
        for n in numbers:
            optouts.add_opt_out(conn, _principal(ws), n, reason="asked by phone")
        optouts.block(conn, _principal(ws), numbers[0], reason="abuse")
        change_consent(
            conn,
            ws.id,
            ConsentChange(
                number=numbers[2],
                action=Action.OPT_IN,
                method=Method.REPLY,
                reason="START",
                inbound_text="START",
                actor="inbound:console",
            ),
            ws.policy,
            from_inbound=True,
        )
    with read(engine) as conn:
        assert ledger_service.verify(conn, ws.id).ok
        assert ledger_service.verify(conn, ws.id).events == 5
    return numbers


def _verify_cli(cli: Any, ws: workspaces.Workspace) -> tuple[int, dict[str, Any]]:
    result = cli("ledger", "verify", "-w", ws.slug, "--json")
    return result.code, json.loads(result.out)


def _report(engine: sa.Engine, ws: workspaces.Workspace) -> dict[str, Any]:
    with read(engine) as conn:
        return ledger_service.report_dict(ledger_service.verify(conn, ws.id))


def _kinds(report: dict[str, Any]) -> set[str]:
    return {p["kind"] for p in report["problems"]}


def _events(engine: sa.Engine, ws_id: int) -> list[Any]:
    with read(engine) as conn:
        return list(
            conn.execute(
                sa.select(consent_events)
                .where(consent_events.c.workspace_id == ws_id)
                .order_by(consent_events.c.seq)
            )
        )


def _assert_broken(cli: Any, engine: sa.Engine, ws: workspaces.Workspace, kinds: set[str]) -> None:
    code, data = _verify_cli(cli, ws)
    assert code == 1, data
    assert data["ok"] is False
    assert kinds <= _kinds(data), data["problems"]
    human = cli("ledger", "verify", "-w", ws.slug)
    assert human.code == 1 and "LEDGER BROKEN" in human.out
    report = _report(engine, ws)
    assert report["ok"] is False and kinds <= _kinds(report)


def test_an_untouched_ledger_verifies(cli, engine, ws, chain) -> None:
    code, data = _verify_cli(cli, ws)
    assert code == 0 and data["ok"] is True and data["events"] == 5 and data["problems"] == []


def test_an_edited_reason_is_detected(cli, engine, ws, chain) -> None:
    with write(engine) as conn:
        conn.execute(
            sa.update(consent_events)
            .where(consent_events.c.workspace_id == ws.id, consent_events.c.seq == 2)
            .values(reason="customer never asked")
        )
    _assert_broken(cli, engine, ws, {"edited"})
    assert {p["seq"] for p in _report(engine, ws)["problems"]} == {2}


def test_an_edited_method_with_its_hash_recomputed_is_detected(cli, engine, ws, chain) -> None:
    """A forger who knows the hash function re-hashes the event: the next one no longer follows."""
    event = event_from_row(_events(engine, ws.id)[1])
    values = {name: getattr(event, name) for name in HASHED_FIELDS}
    values["method"] = Method.IMPORT
    new_hash = event_hash(event.prev_hash, values)
    with write(engine) as conn:
        conn.execute(
            sa.update(consent_events)
            .where(consent_events.c.workspace_id == ws.id, consent_events.c.seq == 2)
            .values(method="import", hash=new_hash)
        )
    _assert_broken(cli, engine, ws, {"inserted"})
    assert 3 in {p["seq"] for p in _report(engine, ws)["problems"]}


def test_a_deleted_event_in_the_middle_is_detected(cli, engine, ws, chain) -> None:
    with write(engine) as conn:
        conn.execute(
            sa.delete(consent_events).where(
                consent_events.c.workspace_id == ws.id, consent_events.c.seq == 3
            )
        )
    _assert_broken(cli, engine, ws, {"missing"})


def test_a_deleted_last_event_is_detected_by_the_head(cli, engine, ws, chain) -> None:
    with write(engine) as conn:
        conn.execute(
            sa.delete(consent_events).where(
                consent_events.c.workspace_id == ws.id, consent_events.c.seq == 5
            )
        )
    _assert_broken(cli, engine, ws, {"head_mismatch"})


def test_a_forged_event_appended_at_the_end_is_detected(cli, engine, ws, chain) -> None:
    """A well-formed event with a correct hash, added without moving the ledger head."""
    last = _events(engine, ws.id)[-1]
    now = datetime.now(UTC)
    change = ConsentChange(
        number=unique_number(), action=Action.OPT_OUT, method=Method.MANUAL, actor="intruder"
    )
    event = make_event(ws.id, int(last.seq) + 1, last.hash, change, now)
    with write(engine) as conn:
        append_events(conn, [event])
    _assert_broken(cli, engine, ws, {"head_mismatch"})


def test_a_forged_event_inserted_in_the_middle_is_detected(cli, engine, ws, chain) -> None:
    """Later events are renumbered to make room; the chain of hashes no longer links up."""
    first = _events(engine, ws.id)[0]
    change = ConsentChange(
        number=unique_number(),
        action=Action.OPT_IN,
        method=Method.MANUAL,
        actor="intruder",
        consent_note="verbal",
    )
    event = make_event(ws.id, 2, first.hash, change, datetime.now(UTC))
    with write(engine) as conn:
        # Two steps, so the (workspace, seq) unique constraint never sees a duplicate.
        where = (consent_events.c.workspace_id == ws.id) & (consent_events.c.seq >= 2)
        conn.execute(sa.update(consent_events).where(where).values(seq=consent_events.c.seq + 1000))
        conn.execute(
            sa.update(consent_events)
            .where((consent_events.c.workspace_id == ws.id) & (consent_events.c.seq >= 1000))
            .values(seq=consent_events.c.seq - 999)
        )
        append_events(conn, [event])
        conn.execute(
            sa.update(ledger_heads).where(ledger_heads.c.workspace_id == ws.id).values(seq=6)
        )
    _assert_broken(cli, engine, ws, {"inserted", "edited"})


def test_reordered_events_are_detected(cli, engine, ws, chain) -> None:
    with write(engine) as conn:
        for seq, tmp in ((2, 1002), (3, 2), (1002, 3)):
            conn.execute(
                sa.update(consent_events)
                .where(consent_events.c.workspace_id == ws.id, consent_events.c.seq == seq)
                .values(seq=tmp)
            )
    _assert_broken(cli, engine, ws, {"edited"})


def test_tampering_in_one_workspace_leaves_the_others_verifying(cli, engine, ws, chain) -> None:
    with write(engine) as conn:
        other = workspaces.create_workspace(
            conn,
            name=f"Other {uuid.uuid4().hex[:6]}",
            owner_email=f"o-{uuid.uuid4().hex[:8]}@example.com",
            owner_password="correct horse battery",
        ).workspace
        optouts.add_opt_out(conn, _principal(other), unique_number(), reason="x")
        conn.execute(
            sa.update(consent_events)
            .where(consent_events.c.workspace_id == ws.id, consent_events.c.seq == 1)
            .values(actor="someone else")
        )
    assert _verify_cli(cli, ws)[0] == 1
    code, data = _verify_cli(cli, other)
    assert code == 0 and data["ok"] is True and data["events"] == 1


# --- the evidence report of the consent API says so too ------------------------------------------


def _evidence(client: Any, created: Any, number: str, full: bool = False) -> dict[str, Any]:
    response = client.get(
        f"/api/v1/consents/{number}/evidence",
        params={"full_chain": "true"} if full else {},
        headers={"Authorization": f"Bearer {created.api_key}"},
    )
    assert response.status_code == 200, response.text
    return response.json()


def _seq_of(engine: sa.Engine, ws_id: int, number: str, action: str = "opt_out") -> int:
    with read(engine) as conn:
        return int(
            conn.execute(
                sa.select(consent_events.c.seq).where(
                    consent_events.c.workspace_id == ws_id,
                    consent_events.c.number == number,
                    consent_events.c.action == action,
                )
            ).scalar_one()
        )


def test_the_evidence_of_an_untouched_number_verifies(client, created, chain) -> None:
    report = _evidence(client, created, chain[1], full=True)
    assert report["verified"] is True and report["chain"]["ok"] is True
    assert [e["action"] for e in report["events"]] == ["opt_out"]


def test_the_evidence_report_shows_an_edited_event(engine, client, created, chain) -> None:
    seq = _seq_of(engine, created.workspace.id, chain[1])
    with write(engine) as conn:
        conn.execute(
            sa.update(consent_events)
            .where(
                consent_events.c.workspace_id == created.workspace.id, consent_events.c.seq == seq
            )
            .values(reason="never asked", method="import")
        )
    report = _evidence(client, created, chain[1])
    assert report["verified"] is False
    assert report["events"][0]["checks"]["hash"] is False


def test_the_evidence_report_shows_a_forged_event(engine, client, created, chain) -> None:
    """An opt-in forged for a number, well hashed, slipped in as the next event."""
    with read(engine) as conn:
        head_seq, head_hash = conn.execute(
            sa.select(ledger_heads.c.seq, ledger_heads.c.hash).where(
                ledger_heads.c.workspace_id == created.workspace.id
            )
        ).one()
    change = ConsentChange(
        number=chain[1], action=Action.OPT_IN, method=Method.MANUAL, actor="intruder"
    )
    forged = make_event(created.workspace.id, head_seq + 1, head_hash, change, datetime.now(UTC))
    with write(engine) as conn:
        append_events(conn, [forged])
    report = _evidence(client, created, chain[1])
    assert report["verified"] is False
    assert report["events"][-1]["checks"]["linked_to_next"] is False


def test_the_evidence_report_shows_a_deleted_event(engine, client, created, chain) -> None:
    """The number's opt-out event is deleted; its opt-out still stands in the state tables."""
    seq = _seq_of(engine, created.workspace.id, chain[1])
    with write(engine) as conn:
        conn.execute(
            sa.delete(consent_events).where(
                consent_events.c.workspace_id == created.workspace.id, consent_events.c.seq == seq
            )
        )
    assert _evidence(client, created, chain[1])["verified"] is False
    full = _evidence(client, created, chain[1], full=True)
    assert full["verified"] is False and "missing" in {p["kind"] for p in full["chain"]["problems"]}


def test_a_deleted_event_and_opt_out_are_shown_by_the_full_chain(
    engine, client, created, chain
) -> None:
    """Both the event and the opt-out row gone: the number looks clean on its own, but the
    workspace's chain has a hole where its event was."""
    from stopline.store.tables import opt_outs

    seq = _seq_of(engine, created.workspace.id, chain[1])
    with write(engine) as conn:
        conn.execute(
            sa.delete(consent_events).where(
                consent_events.c.workspace_id == created.workspace.id, consent_events.c.seq == seq
            )
        )
        conn.execute(
            sa.delete(opt_outs).where(
                opt_outs.c.workspace_id == created.workspace.id, opt_outs.c.number == chain[1]
            )
        )
    full = _evidence(client, created, chain[1], full=True)
    assert full["verified"] is False and full["chain"]["ok"] is False


def test_an_opt_out_row_deleted_behind_the_ledger_is_shown(engine, client, created, chain) -> None:
    """The dangerous edit: the events are intact but the opt-out the gate reads is gone."""
    from stopline.store.tables import opt_outs

    with write(engine) as conn:
        conn.execute(
            sa.delete(opt_outs).where(
                opt_outs.c.workspace_id == created.workspace.id, opt_outs.c.number == chain[1]
            )
        )
    report = _evidence(client, created, chain[1])
    assert report["verified"] is False and report["state_matches_events"] is False
    assert all(all(e["checks"].values()) for e in report["events"])  # the events are fine


def test_ledger_verify_shows_state_tables_edited_behind_the_ledger(cli, engine, ws, chain) -> None:
    """Events intact, but an opt-out row deleted and a block invented: the gate would read a lie."""
    from stopline.store.tables import blocks, opt_outs

    with write(engine) as conn:
        conn.execute(
            sa.delete(opt_outs).where(
                opt_outs.c.workspace_id == ws.id, opt_outs.c.number == chain[1]
            )
        )
        conn.execute(
            sa.insert(blocks).values(
                workspace_id=ws.id,
                number=chain[2],
                method="manual",
                reason="invented",
                actor="intruder",
                created_at=datetime.now(UTC),
                event_seq=3,
            )
        )
    _assert_broken(cli, engine, ws, {"state_mismatch"})
    numbers = {p["detail"].split(":")[0] for p in _report(engine, ws)["problems"]}
    assert numbers == {chain[1], chain[2]}


# --- hole 8: every column the gate reads, and the rules replayed --------------------------------


def test_an_opt_out_method_changed_behind_the_ledger_is_shown_and_not_obeyed(
    cli, engine, ws
) -> None:
    """reply -> manual in the state table: verify reports it, and the number correction (which
    a `manual` opt-out would allow) still treats it as the recipient's STOP."""
    from stopline.store.tables import opt_outs
    from tests.manage import stop_reply

    number, other = unique_number(), unique_number()
    stop_reply(engine, ws, number)
    with write(engine) as conn:
        conn.execute(
            sa.update(opt_outs)
            .where(opt_outs.c.workspace_id == ws.id, opt_outs.c.number == number)
            .values(method="manual")
        )
    _assert_broken(cli, engine, ws, {"state_mismatch"})
    workspaces_policy = {"resubscribe_policy": "with_consent_note"}
    with write(engine) as conn:
        workspaces.update_settings(conn, _principal(ws), workspaces_policy)
    from stopline.domain.errors import Forbidden

    with pytest.raises(Forbidden) as refused, write(engine) as conn:
        optouts.edit_opt_out(conn, _principal(ws), number, number=other, consent_note="n")
    assert refused.value.code == "recipient_opt_out_immutable"


def _forge(engine: sa.Engine, ws: workspaces.Workspace, change: ConsentChange) -> None:
    """What the consent door writes, without its rules: a well-hashed event, head moved and
    state tables updated to match (an insider with the code and write access)."""
    from stopline.domain import consent as rules
    from stopline.store import ledger

    with write(engine) as conn:
        seq, head = ledger.lock_head(conn, ws.id)
        before = ledger.load_state(conn, ws.id, change.number)
        event = rules.make_event(ws.id, seq + 1, head, change, datetime.now(UTC))
        ledger.append_events(conn, [event])
        ledger.write_state_diff(conn, ws.id, change.number, before, rules.apply(before, event))
        ledger.set_head(conn, ws.id, event.seq, event.hash)


@pytest.mark.parametrize(
    ("before", "forged", "said"),
    [
        (
            "stop_reply",
            {
                "action": Action.RETRACT,
                "method": Method.MANUAL,
                "detail": {"target_scope": "workspace", "target_key": ""},
            },
            "retracted",
        ),
        (
            "block",
            {"action": Action.OPT_IN, "method": Method.REPLY, "inbound_text": "START"},
            "blocked",
        ),
        ("opt_out", {"action": Action.OPT_IN, "method": Method.API}, "no consent note"),
    ],
)
def test_a_well_forged_event_the_rules_forbid_is_a_rule_violation(
    cli, engine, ws, before, forged, said
) -> None:
    """A retract of a recipient's STOP, an opt-in while blocked, a member re-subscribe with no
    consent note: well hashed, head moved, state tables matching, and still reported."""
    from tests.manage import stop_reply

    number = unique_number()
    if before == "stop_reply":
        stop_reply(engine, ws, number)
    else:
        with write(engine) as conn:
            getattr(optouts, "block" if before == "block" else "add_opt_out")(
                conn, _principal(ws), number, reason="asked"
            )
    _forge(engine, ws, ConsentChange(number=number, actor="intruder", **forged))
    _assert_broken(cli, engine, ws, {"rule_violation"})
    assert said in _report(engine, ws)["problems"][0]["detail"]


def test_a_list_member_inserted_behind_the_ledger_is_shown(cli, engine, ws) -> None:
    """A campaign reaches list members: one added by SQL, with no event, is reported (and one
    removed the same way)."""
    from stopline.services import lists
    from stopline.store.tables import list_members

    kept, removed, invented = unique_number(), unique_number(), unique_number()
    with write(engine) as conn:
        offers = lists.create_list(conn, _principal(ws), name="Offers")
        lists.add_members(conn, _principal(ws), offers.id, [kept, removed])
    assert _verify_cli(cli, ws)[0] == 0
    with write(engine) as conn:
        conn.execute(
            sa.insert(list_members).values(
                list_id=offers.id,
                number=invented,
                workspace_id=ws.id,
                subscribed_at=datetime.now(UTC),
            )
        )
        conn.execute(sa.delete(list_members).where(list_members.c.number == removed))
    _assert_broken(cli, engine, ws, {"state_mismatch"})
    details = " ".join(p["detail"] for p in _report(engine, ws)["problems"])
    assert invented in details and removed in details and kept not in details
