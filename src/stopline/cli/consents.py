"""`stopline consents ...`: consent records in bulk, and a number's history and evidence."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from stopline.cli.main import (
    JsonOpt,
    WorkspaceOpt,
    app,
    emit,
    operator,
    read_json,
    reading,
    table,
    writing,
)
from stopline.domain.errors import InvalidInput
from stopline.services import consent_api, ledger, workspaces

consents_app = typer.Typer(help="Consent records and evidence.", no_args_is_help=True)
app.add_typer(consents_app, name="consents")


@consents_app.command("upsert")
def upsert(
    file: Annotated[Path, typer.Argument(help='JSON: a list of records, or {"items": [...]}.')],
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Record consent records (contact_id, correlation_id, status, source, date_of_consent)."""
    raw = read_json(file, "JSON", "file_malformed")
    items = raw.get("items") if isinstance(raw, dict) else raw
    if not isinstance(items, list):
        raise InvalidInput("The file must hold a list of consent records.", code="items_invalid")
    with writing() as conn:
        results = consent_api.upsert(conn, operator(conn, workspace), items)
    data = [r.as_dict() for r in results]
    failed = [r for r in results if not r.success]
    emit(
        {"items": data},
        as_json,
        lambda: table(
            ["correlation id", "ok", "number", "changed", "error"],
            [
                [
                    r.correlation_id,
                    "yes" if r.success else "no",
                    r.number,
                    r.changed,
                    "; ".join(r.error_messages),
                ]
                for r in results
            ],  # fmt: skip
            title=f"{len(results) - len(failed)} recorded, {len(failed)} failed",
        ),
    )
    if failed:
        raise typer.Exit(1)


@consents_app.command("evidence")
def evidence(
    number: str,
    full_chain: Annotated[bool, typer.Option(help="Also verify the whole ledger.")] = False,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Every consent event of NUMBER with its hash, and whether the chain verifies (exit 1 if not)."""
    with reading() as conn:
        ws = workspaces.resolve_workspace(conn, workspace)
        report = consent_api.evidence(conn, ws.id, number, full_chain=full_chain)

    def human() -> None:
        table(
            ["#", "when", "action", "method", "reason", "actor", "hash", "ok"],
            [
                [
                    e["seq"],
                    e["occurred_at"][:19],
                    e["action"],
                    e["method"],
                    e["reason"],
                    e["actor"],
                    e["hash"][:16],
                    "yes" if all(e["checks"].values()) else "NO",
                ]
                for e in report["events"]
            ],  # fmt: skip
            title=f"{report['number']}: " + ("verified" if report["verified"] else "NOT VERIFIED"),
        )

    emit(report, as_json, human)
    if not report["verified"]:
        raise typer.Exit(1)


@consents_app.command("history")
def history(number: str, workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """Every consent event of NUMBER, oldest first."""
    with reading() as conn:
        ws = workspaces.resolve_workspace(conn, workspace)
        e164, events = consent_api.history(conn, ws.id, number)
    emit(
        {"number": e164, "events": [ledger.event_dict(e) for e in events]},
        as_json,
        lambda: table(
            ["#", "when", "action", "method", "reason", "actor"],
            [
                [
                    e.seq,
                    e.occurred_at.strftime("%Y-%m-%d %H:%M"),
                    e.action.value,
                    e.method.value,
                    e.reason,
                    e.actor,
                ]
                for e in events
            ],  # fmt: skip
            title=e164,
        ),
    )
