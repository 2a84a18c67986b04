"""`stopline sync ...`: provider consent sync — what is pending, delivered or failed; retry; one
pass by hand; reconcile a channel with its provider's opt-out list."""

from __future__ import annotations

from typing import Annotated

import typer

from stopline.cli.main import JsonOpt, WorkspaceOpt, app, emit, operator, reading, runtime, table
from stopline.services import workspaces

sync_app = typer.Typer(
    help="Provider consent sync (Twilio Consent API, Telnyx and AWS opt-out lists).",
    no_args_is_help=True,
)
app.add_typer(sync_app, name="sync")


@sync_app.command("status")
def status(
    state: Annotated[
        str | None, typer.Option(help="Only items in this state: pending, delivered or failed.")
    ] = None,
    limit: Annotated[int, typer.Option(help="Items to list (failed first).", min=1)] = 50,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Counts of pending, delivered and failed reports, and the latest items."""
    from stopline.services import provider_sync

    with reading() as conn:
        ws = workspaces.resolve_workspace(conn, workspace)
        result = provider_sync.status(conn, ws.id, states=[state] if state else None, limit=limit)
    data = result.as_dict()

    def human() -> None:
        table(
            ["id", "number", "report", "channel", "state", "tries", "detail"],
            [
                [i.id, i.number, i.report, i.channel, i.state, i.attempts, i.summary()]
                for i in result.items
            ],
            title=f"pending {data['pending']} · delivered {data['delivered']} · "
            f"failed {data['failed']}",
        )

    emit(data, as_json, human)


@sync_app.command("retry")
def retry(
    item_id: Annotated[int, typer.Argument(help="Sync item id (see `sync status`).")],
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Make a failed (or waiting) report due now; the worker or `sync run` delivers it."""
    from stopline.cli.main import writing
    from stopline.services import provider_sync

    with writing() as conn:
        provider_sync.retry(conn, operator(conn, workspace), item_id)
    emit({"id": item_id, "state": "pending"}, as_json, f"sync item {item_id} is due again")


@sync_app.command("run")
def run(
    pull: Annotated[
        bool, typer.Option("--pull/--no-pull", help="Also read Telnyx's and AWS's lists.")
    ] = True,
    workspace: Annotated[
        str | None,
        typer.Option("--workspace", "-w", help="Only this workspace (default: every one)."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """One pass: deliver every due report (waiting out rate windows), read provider lists, exit."""
    import httpx

    from stopline.services import provider_pull, provider_sync

    rt = runtime()
    workspace_id = None
    if workspace is not None:
        with reading() as conn:
            workspace_id = workspaces.resolve_workspace(conn, workspace).id
    with httpx.Client(timeout=httpx.Timeout(15.0, connect=5.0)) as http:
        pushed = provider_sync.Pusher(
            rt.engine, rt.keyring, http, workspace_id=workspace_id
        ).run_pass(wait=True)
        pulled = (
            provider_pull.pull_all(rt.engine, rt.keyring, http, workspace_id=workspace_id)
            if pull
            else []
        )
    data = {"push": pushed.as_dict(), "pull": [p.as_dict() for p in pulled]}
    lines = [
        f"pushed: {pushed.delivered} delivered, {pushed.retrying} to retry, "
        f"{pushed.failed} failed ({pushed.requests} requests)"
    ]
    lines += [
        f"pulled channel {p.channel_id}: {p.read} read, {p.added} new"
        + (f", error: {p.error}" if p.error else "")
        for p in pulled
    ]
    emit(data, as_json, "\n".join(lines))


@sync_app.command("reconcile")
def reconcile(
    channel_id: Annotated[int, typer.Argument(help="A Telnyx or AWS channel id.")],
    apply: Annotated[
        bool,
        typer.Option(
            "--apply",
            help="Record provider-only opt-outs as carrier opt-outs; push stopline-only ones.",
        ),
    ] = False,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Compare stopline's opt-outs for CHANNEL with the provider's list, both ways."""
    import httpx

    from stopline.services import provider_pull

    rt = runtime()
    with reading() as conn:
        ws = workspaces.resolve_workspace(conn, workspace)
    with httpx.Client(timeout=httpx.Timeout(15.0, connect=5.0)) as http:
        result = provider_pull.reconcile(
            rt.engine, rt.keyring, http, ws.id, channel_id, apply=apply
        )
    data = result.as_dict()
    lines = [f"only at {result.provider}: {len(result.provider_only)}"]
    lines += [f"  {n}" for n in result.provider_only]
    lines.append(f"only in stopline: {len(result.stopline_only)}")
    lines += [f"  {n}" for n in result.stopline_only]
    if apply:
        lines.append(f"applied: {result.recorded} recorded, {result.pushed} pushed")
    lines += [f"error: {e}" for e in result.errors]
    emit(data, as_json, "\n".join(lines))
