"""`stopline optouts ...`: the opt-out list from the command line."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from stopline.cli.main import (
    JsonOpt,
    WorkspaceOpt,
    app,
    emit,
    err_console,
    operator,
    reading,
    runtime,
    table,
    writing,
)
from stopline.domain.errors import InvalidInput
from stopline.services import exports, imports, links, optouts, workspaces
from stopline.store.db import wait_for_checkpoints

optouts_app = typer.Typer(help="The opt-out list.", no_args_is_help=True)
app.add_typer(optouts_app, name="optouts")


@optouts_app.command("add")
def add(
    number: str,
    reason: Annotated[str | None, typer.Option(help="Why (shown on the Opt-Outs page).")] = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Opt NUMBER out by hand (method manual)."""
    with writing() as conn:
        result = optouts.add_opt_out(conn, operator(conn, workspace), number, reason=reason)
    number_e164 = result.event.number if result.event else number
    data = {
        "number": number_e164,
        "changed": result.changed,
        "event_seq": result.event.seq if result.event else None,
        "canceled_messages": result.canceled_messages,
    }
    emit(
        data,
        as_json,
        f"opted out {number_e164}" if result.changed else f"{number} was already opted out",
    )


@optouts_app.command("remove")
def remove(
    number: str,
    consent_note: Annotated[
        str | None,
        typer.Option(help="How the recipient gave consent again (needed by the policy)."),
    ] = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Re-subscribe NUMBER, if the workspace's re-subscribe policy allows it."""
    with writing() as conn:
        result = optouts.remove_opt_out(
            conn, operator(conn, workspace), number, consent_note=consent_note
        )
    data = {
        "number": result.event.number if result.event else number,
        "changed": result.changed,
        "event_seq": result.event.seq if result.event else None,
    }
    emit(
        data,
        as_json,
        f"re-subscribed {data['number']}" if result.changed else f"{number} was not opted out",
    )


@optouts_app.command("list")
def list_(
    search: Annotated[str | None, typer.Option(help="Digits to search numbers for.")] = None,
    method: Annotated[str | None, typer.Option(help="Only this method.")] = None,
    limit: Annotated[int, typer.Option(help="Rows per page.")] = 50,
    offset: Annotated[int, typer.Option(help="Rows to skip.")] = 0,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List opt-outs, newest first."""
    with reading() as conn:
        ws = workspaces.resolve_workspace(conn, workspace)
        rows, total = optouts.list_opt_outs(
            conn, ws.id, search=search, method=method, limit=limit, offset=offset
        )
    data = {"total": total, "items": [r.as_dict() for r in rows]}
    emit(
        data,
        as_json,
        lambda: table(
            ["number", "contact", "method", "reason", "when", "who", "scope"],
            [
                [
                    r.number + (" (blocked)" if r.blocked else ""),
                    r.contact_name,
                    r.method,
                    r.reason,
                    r.created_at.strftime("%Y-%m-%d %H:%M"),
                    r.actor,
                    r.scope if not r.scope_key else f"{r.scope}:{r.scope_key}",
                ]
                for r in rows
            ],
            title=f"{total} opt-out(s)",
        ),
    )


@optouts_app.command("show")
def show(number: str, workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """A number's opt-outs, block and list opt-outs."""
    with reading() as conn:
        ws = workspaces.resolve_workspace(conn, workspace)
        data = optouts.number_view(conn, ws.id, number)
    e164 = data["number"]

    def human() -> None:
        if not data["opt_outs"] and data["block"] is None and not data["list_opt_outs"]:
            emit(None, False, f"{e164} is not opted out")
            return
        rows = [
            [o["scope"] + (f":{o['scope_key']}" if o["scope_key"] else ""), o["method"],
             o["reason"], o["created_at"][:16], o["actor"]]
            for o in data["opt_outs"]
        ]  # fmt: skip
        if data["block"]:
            b = data["block"]
            rows.append(["BLOCKED", b["method"], b["reason"], b["created_at"][:16], b["actor"]])
        rows += [
            [f"list {x['list_id']}", x["method"], x["reason"], x["created_at"][:16], x["actor"]]
            for x in data["list_opt_outs"]
        ]
        table(["scope", "method", "reason", "when", "who"], rows, title=e164)
        gate = [
            [str(c["channel_id"]), c["type"], c["address"], "yes" if c["allowed"] else c["code"]]
            for c in data["channels"]
        ]
        if gate:
            table(["channel", "type", "address", "may send"], gate, title="the gate, now")

    emit(data, as_json, human)


@optouts_app.command("edit")
def edit(
    number: str,
    new_number: Annotated[
        str | None, typer.Option("--number", help="The corrected number.")
    ] = None,
    reason: Annotated[str | None, typer.Option(help="The new reason.")] = None,
    scope: Annotated[str, typer.Option(help="Which opt-out: its scope.")] = "workspace",
    scope_key: Annotated[str, typer.Option(help="Channel id or type, for scoped ones.")] = "",
    consent_note: Annotated[
        str | None,
        typer.Option(help="How the old number's owner consented (policy with_consent_note)."),
    ] = None,
    keep_old: Annotated[
        bool, typer.Option(help="Keep the old number opted out too (policy recipient_only).")
    ] = False,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Correct an opt-out's number or reason (recorded as ledger events, never edited in place).

    A corrected number releases the old one, which follows the re-subscribe policy."""
    if new_number is None and reason is None:
        raise InvalidInput("Give --number and/or --reason.", code="nothing_to_edit")
    with writing() as conn:
        result = optouts.edit_opt_out(
            conn,
            operator(conn, workspace),
            number,
            number=new_number,
            reason=reason,
            scope=scope,
            scope_key=scope_key,
            consent_note=consent_note,
            keep_old=keep_old,
        )
    emit(
        result.as_dict(),
        as_json,
        f"updated the opt-out of {result.number}" if result.changed else "nothing changed",
    )


@optouts_app.command("link")
def link(
    number: str,
    days: Annotated[int, typer.Option(help="Days the link stays valid (60 or more).")] = (
        links.DEFAULT_DAYS
    ),
    base_url: Annotated[
        str | None, typer.Option(help="Public URL of this server (default STOPLINE_PUBLIC_URL).")
    ] = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """A signed opt-out link for NUMBER to put in a message (method link when used)."""
    rt = runtime()
    base = base_url or rt.config.public_url
    if not base:
        raise InvalidInput(
            "Set STOPLINE_PUBLIC_URL (or --base-url) to the address recipients can reach.",
            code="public_url_required",
        )
    with reading() as conn:
        ws = workspaces.resolve_workspace(conn, workspace)
        made = links.link_for(conn, rt.keyring, base, ws.id, number, days=days)
    data = {"url": made.url, "number": made.number, "expires_at": made.expires_at.isoformat()}
    emit(data, as_json, made.url)


def _progress_bar(as_json: bool) -> Any:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    return Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
        disable=as_json or not err_console.is_terminal,
    )


@optouts_app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(help="A CSV or XLSX file with a phone number column.")],
    reason: Annotated[str, typer.Option(help="One reason for every imported row.")],
    column: Annotated[
        str | None, typer.Option(help="The phone column's header, or its number (1 = first).")
    ] = None,
    report: Annotated[
        Path | None, typer.Option(help="Write every row not added (with why) to this CSV.")
    ] = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Import opt-outs (method import). Duplicates and numbers already opted out are skipped;
    rejected rows are listed with their row number. Nothing is written unless the whole file
    reads: a malformed or oversized file imports nothing."""
    rt = runtime()
    if not file.is_file():
        raise InvalidInput(f"{file} is not a file.", code="file_not_found")
    with reading() as conn:
        principal = operator(conn, workspace)
    with _progress_bar(as_json) as bar:
        task = bar.add_task(f"importing {file.name}", total=None)

        def progress(done: int, total: int | None) -> None:
            bar.update(task, completed=done, total=total)

        result = imports.run_import(
            rt.engine,
            principal.workspace_id,
            file,
            filename=file.name,
            reason=reason,
            actor=principal.actor,
            column=column,
            report_dir=imports.reports_dir(rt.config.data_dir, principal.workspace_id),
            progress=progress,
        )
    data = result.as_dict()
    directory = imports.reports_dir(rt.config.data_dir, principal.workspace_id)
    if result.report_file:
        source = directory / result.report_file
        if report is not None:
            source.replace(report)
            data["report_file"] = str(report)
        else:
            data["report_file"] = str(source)

    def human() -> None:
        table(
            ["", ""],
            [
                ["rows", f"{result.rows:,}"],
                ["added", f"{result.added:,}"],
                ["skipped: duplicate in file", f"{result.duplicates:,}"],
                ["skipped: already opted out", f"{result.already_opted_out:,}"],
                ["rejected", f"{result.rejected:,}"],
            ],
            title=f"Imported {file.name} ({result.seconds:.1f}s)",
        )
        if result.samples["rejected"]:
            table(
                ["row", "input", "why"],
                [[r["row"], r["input"], r["message"]] for r in result.samples["rejected"][:20]],
                title="Rejected rows" + (" (first 20)" if result.rejected > 20 else ""),
            )
        if data.get("report_file"):
            emit(None, False, f"report of every row not added: {data['report_file']}")

    emit(data, as_json, human)
    wait_for_checkpoints()  # the rows are committed; let SQLite copy them home before exiting


@optouts_app.command("export")
def export(
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write the CSV here (default: stdout).")
    ] = None,
    method: Annotated[str | None, typer.Option(help="Only this method.")] = None,
    scope: Annotated[str | None, typer.Option(help="Only this scope.")] = None,
    search: Annotated[str | None, typer.Option(help="Digits to search numbers for.")] = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Export the opt-out list as CSV (formula-safe cells), streamed in constant memory."""
    rt = runtime()
    with reading() as conn:
        ws = workspaces.resolve_workspace(conn, workspace)
    flt = exports.ExportFilter(search=search, method=method, scope=scope)
    flt.checked()
    if out is None:
        rows = exports.write_export(rt.engine, ws.id, flt, sys.stdout.buffer)
        sys.stdout.flush()
        err_console.print(f"{rows:,} opt-out(s) exported", highlight=False)
        return
    rows = exports.run_export(rt.engine, ws.id, flt, out.resolve())
    emit({"rows": rows, "file": str(out)}, as_json, f"{rows:,} opt-out(s) written to {out}")
