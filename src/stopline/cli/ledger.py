"""`stopline ledger ...`: verify the consent ledger's hash chain and read a number's history."""

from __future__ import annotations

import typer

from stopline.cli.main import JsonOpt, WorkspaceOpt, app, emit, reading, table
from stopline.domain.numbers import normalize
from stopline.services import ledger, workspaces

ledger_app = typer.Typer(help="The append-only consent ledger.", no_args_is_help=True)
app.add_typer(ledger_app, name="ledger")


@ledger_app.command("verify")
def verify(workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """Recompute the hash chain: exit 1 if any event was edited, deleted, inserted or reordered."""
    with reading() as conn:
        ws = workspaces.resolve_workspace(conn, workspace)
        report = ledger.verify(conn, ws.id)
    data = ledger.report_dict(report)

    def human() -> None:
        if report.ok:
            emit(None, False, f"ledger OK: {report.events} events, head #{report.head_seq}")
        else:
            emit(None, False, f"LEDGER BROKEN: {len(report.problems)} problem(s)")
            table(
                ["event", "problem", "detail"], [[p.seq, p.kind, p.detail] for p in report.problems]
            )

    emit(data, as_json, human)
    if not report.ok:
        raise typer.Exit(1)


@ledger_app.command("history")
def history(number: str, workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """Every consent event of NUMBER, oldest first."""
    with reading() as conn:
        ws = workspaces.resolve_workspace(conn, workspace)
        events = ledger.history(conn, ws.id, normalize(number, ws.policy.default_region))
    data = [ledger.event_dict(e) for e in events]
    emit(
        data,
        as_json,
        lambda: table(
            ["#", "when", "action", "method", "scope", "reason", "actor"],
            [
                [
                    e.seq,
                    e.occurred_at.strftime("%Y-%m-%d %H:%M:%S"),
                    e.action.value,
                    e.method.value,
                    e.scope.value + (f":{e.scope_key}" if e.scope_key else ""),
                    e.reason,
                    e.actor,
                ]
                for e in events
            ],
            title=f"{len(events)} event(s)",
        ),
    )
