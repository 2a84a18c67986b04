"""`stopline ledger ...`: verify the consent ledger's hash chain and read a number's history."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from stopline.cli.main import (
    JsonOpt,
    WorkspaceOpt,
    app,
    emit,
    read_json,
    reading,
    runtime,
    table,
)
from stopline.domain.errors import InvalidInput
from stopline.domain.numbers import normalize
from stopline.services import checkpoints, ledger, workspaces

ledger_app = typer.Typer(help="The append-only consent ledger.", no_args_is_help=True)
app.add_typer(ledger_app, name="ledger")


@ledger_app.command("verify")
def verify(
    checkpoint: Annotated[
        Path | None,
        typer.Option(
            "--checkpoint",
            help="A checkpoint file: prove the ledger still holds exactly what it covered.",
        ),
    ] = None,
    public_key: Annotated[
        str | None,
        typer.Option(help="Trust this key (base64) instead of this deployment's own."),
    ] = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Recompute the hash chain: exit 1 if any event was edited, deleted, inserted or reordered.

    With --checkpoint FILE: exit 1 if the ledger no longer holds exactly what the checkpoint
    covered (restored from an older backup, or a rewritten tail)."""
    if checkpoint is not None:
        _verify_checkpoint(checkpoint, public_key, workspace, as_json)
        return
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


def _verify_checkpoint(
    path: Path, public_key: str | None, workspace: str | None, as_json: bool
) -> None:
    content = read_json(path, "checkpoint", "checkpoint_invalid")
    trusted = public_key or checkpoints.public_key(runtime().keyring).text
    with reading() as conn:
        ws_id = workspaces.resolve_workspace(conn, workspace).id if workspace else None
        result = checkpoints.verify(conn, content, trusted_key=trusted, workspace_id=ws_id)
    if not result.findings:
        raise InvalidInput("The checkpoint covers no such workspace.", code="checkpoint_invalid")

    def human() -> None:
        for finding in result.findings:
            emit(None, False, ("ok: " if finding.ok else "CHECKPOINT FAILED: ") + finding.detail)

    emit(result.as_dict(), as_json, human)
    if not result.ok:
        raise typer.Exit(1)


@ledger_app.command("checkpoint")
def checkpoint(
    out: Annotated[
        Path | None,
        typer.Option(help="Write it here (default: STOPLINE_DATA_DIR/checkpoints/...)."),
    ] = None,
    url: Annotated[
        str | None,
        typer.Option(help="Also POST it here (default: STOPLINE_CHECKPOINT_URL)."),
    ] = None,
    email: Annotated[
        str | None,
        typer.Option(help="Also email it here (default: STOPLINE_CHECKPOINT_EMAIL)."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Sign every workspace's chain head (sequence, hash, time) with this deployment's key.

    Keep the file somewhere the database's administrators cannot rewrite: `ledger verify
    --checkpoint FILE` later proves the ledger still holds exactly what it covered. Exit 1 if
    the POST or the email failed (the file is written anyway)."""
    rt = runtime()
    written = checkpoints.write_checkpoint(
        rt.engine,
        rt.keyring,
        data_dir=rt.config.data_dir,
        out=out,
        url=url or rt.config.checkpoint_url,
        token=rt.config.checkpoint_token,
        email=email or rt.config.checkpoint_email,
    )

    def human() -> None:
        emit(None, False, f"checkpoint of {len(written.checkpoints)} workspace(s): {written.path}")
        if written.published_to:
            emit(None, False, f"posted to {written.published_to}")
        if written.publish_error:
            emit(None, False, f"POST FAILED: {written.publish_error}")
        if written.emailed_to:
            emit(None, False, f"emailed to {written.emailed_to}")
        if written.email_error:
            emit(None, False, f"EMAIL FAILED: {written.email_error}")

    emit(written.as_dict(), as_json, human)
    if written.failed:
        raise typer.Exit(1)


@ledger_app.command("public-key")
def public_key(as_json: JsonOpt = False) -> None:
    """The public key that verifies this deployment's checkpoints (give it to third parties)."""
    key = checkpoints.public_key(runtime().keyring)
    emit(
        key.as_dict(),
        as_json,
        f"Ed25519 public key {key.key_id} (base64, raw 32 bytes):\n{key.text}\n\n{key.pem}",
    )


@ledger_app.command("history")
def history(number: str, workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """Every consent event of NUMBER, oldest first."""
    from stopline.services import provider_sync

    with reading() as conn:
        ws = workspaces.resolve_workspace(conn, workspace)
        e164 = normalize(number, ws.policy.default_region)
        events = ledger.history(conn, ws.id, e164)
        data = provider_sync.with_reports(conn, ws.id, e164, [ledger.event_dict(e) for e in events])
    emit(
        data,
        as_json,
        lambda: table(
            ["#", "when", "action", "method", "scope", "reason", "actor", "provider"],
            [
                [
                    e.seq,
                    e.occurred_at.strftime("%Y-%m-%d %H:%M:%S"),
                    e.action.value,
                    e.method.value,
                    e.scope.value + (f":{e.scope_key}" if e.scope_key else ""),
                    e.reason,
                    e.actor,
                    "\n".join(r["summary"] for r in d["provider_reports"]),
                ]
                for e, d in zip(events, data, strict=True)
            ],
            title=f"{len(events)} event(s)",
        ),
    )
