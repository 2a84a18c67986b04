"""Reading the consent ledger as evidence: verification of the hash chain and a number's history."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from itertools import groupby
from typing import Any

from sqlalchemy import Connection

from stopline.domain.consent import (
    EMPTY,
    ChainProblem,
    ChainReport,
    ConsentEvent,
    NumberState,
    project,
    project_memberships,
    rule_violations,
    stored_view,
    verify_chain,
)
from stopline.store import ledger
from stopline.store import lists as lists_store


def verify(conn: Connection, workspace_id: int) -> ChainReport:
    """The hash chain, and the state tables the gate reads against the events behind them."""
    head = ledger.read_head(conn, workspace_id)
    report = verify_chain(
        ledger.iter_events(conn, workspace_id),
        head[0] if head else None,
        head[1] if head else None,
    )
    problems = state_mismatches(conn, workspace_id)
    if not problems:
        return report
    problems.sort(key=lambda p: p.seq)
    return replace(report, ok=False, problems=report.problems + tuple(problems))


def state_mismatches(conn: Connection, workspace_id: int) -> list[ChainProblem]:
    """Numbers whose stored opt-outs, block or list opt-outs are not what their events add up
    to: a row deleted, invented, repointed or with any column changed (method, reason, scope,
    ...) behind the ledger's back (the gate reads these tables, and the number correction
    reads the method, so such an edit would let messages through). Streams both sides in
    number order."""
    problems: list[ChainProblem] = []
    members: set[tuple[str, int]] = set()
    events = groupby(ledger.iter_events_by_number(conn, workspace_id), key=lambda e: e.number)

    def fold() -> Iterator[tuple[str, NumberState]]:
        # One pass over each number's events: its state, the rules replayed, its memberships.
        for number, group in events:
            history = list(group)
            problems.extend(rule_violations(history))
            members.update(project_memberships(history))
            yield number, project(history).get(number, EMPTY)

    folded = fold()
    stored = ledger.iter_states(conn, workspace_id)
    left, right = next(folded, None), next(stored, None)
    while left is not None or right is not None:
        if right is None or (left is not None and left[0] < right[0]):
            number, expected, actual = left[0], left[1], EMPTY  # type: ignore[index]
            left = next(folded, None)
        elif left is None or right[0] < left[0]:
            number, expected, actual = right[0], EMPTY, right[1]
            right = next(stored, None)
        else:
            number, expected, actual = left[0], left[1], right[1]
            left, right = next(folded, None), next(stored, None)
        if stored_view(expected) != stored_view(actual):
            seqs = [
                r.event_seq for r in (*actual.opt_outs.values(), *actual.list_opt_outs.values())
            ]
            seq = max(seqs + ([actual.block.event_seq] if actual.block else []), default=0)
            problems.append(
                ChainProblem(
                    seq, "state_mismatch", f"{number}: the state tables do not match its events"
                )
            )
    return problems + membership_mismatches(conn, workspace_id, members)


def membership_mismatches(
    conn: Connection, workspace_id: int, expected: set[tuple[str, int]]
) -> list[ChainProblem]:
    """List members the events (`expected`, their projection) do not add up to: a row inserted
    into `list_members` behind the ledger (a campaign would reach that number) or deleted."""
    actual = lists_store.all_memberships(conn, workspace_id)
    problems = [
        ChainProblem(0, "state_mismatch", f"{n}: a member of list {i} with no event behind it")
        for n, i in sorted(actual - expected)
    ]
    problems += [
        ChainProblem(0, "state_mismatch", f"{n}: its events make it a member of list {i}")
        for n, i in sorted(expected - actual)
    ]
    return problems


def history(conn: Connection, workspace_id: int, number: str) -> list[ConsentEvent]:
    return list(ledger.iter_events(conn, workspace_id, number=number))


def event_dict(event: ConsentEvent) -> dict[str, Any]:
    return {
        "seq": event.seq,
        "number": event.number,
        "action": event.action.value,
        "method": event.method.value,
        "scope": event.scope.value,
        "scope_key": event.scope_key,
        "list_id": event.list_id,
        "reason": event.reason,
        "inbound_text": event.inbound_text,
        "actor": event.actor,
        "channel_id": event.channel_id,
        "source": event.source,
        "correlation_id": event.correlation_id,
        "consent_note": event.consent_note,
        "detail": event.detail,
        "occurred_at": event.occurred_at.isoformat(),
        "recorded_at": event.recorded_at.isoformat(),
        "prev_hash": event.prev_hash,
        "hash": event.hash,
    }


def report_dict(report: ChainReport) -> dict[str, Any]:
    return {
        "ok": report.ok,
        "events": report.events,
        "head_seq": report.head_seq,
        "head_hash": report.head_hash,
        "problems": [{"seq": p.seq, "kind": p.kind, "detail": p.detail} for p in report.problems],
    }
