"""`stopline evidence NUMBER --out FILE.pdf`: a number's consent evidence packet."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from stopline.cli.main import JsonOpt, WorkspaceOpt, app, emit, reading, runtime
from stopline.domain.errors import InvalidInput
from stopline.services import evidence as evidence_service
from stopline.services import workspaces


@app.command("evidence")
def evidence(
    number: str,
    out: Annotated[
        Path | None,
        typer.Option(help="Write the packet here: a PDF, or JSON when the name ends in .json."),
    ] = None,
    full_chain: Annotated[
        bool, typer.Option(help="Also recompute the workspace's whole chain (slower).")
    ] = True,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """NUMBER's evidence packet: every consent event with its evidence, the messages around
    them, hashes, the chain's verification and the signed checkpoints, and how to re-verify
    them without stopline. Exit 1 if the ledger does not verify."""
    if out is None and not as_json:
        raise InvalidInput("Give --out FILE.pdf (or --json).", code="out_required")
    rt = runtime()
    with reading() as conn:
        ws = workspaces.resolve_workspace(conn, workspace)
        packet = evidence_service.packet(conn, ws.id, number, rt.keyring, full_chain=full_chain)
    if out is not None:
        if out.suffix.lower() == ".json":
            out.write_text(json.dumps(packet, indent=2, ensure_ascii=False) + "\n", "utf-8")
        else:
            from stopline.files.evidence_pdf import render

            out.write_bytes(render(packet))
    verified = packet["verification"]["verified"]
    emit(
        packet,
        as_json,
        f"{packet['number']}: {len(packet['events'])} event(s), "
        + ("verified" if verified else "NOT VERIFIED")
        + (f"; written to {out}" if out else ""),
    )
    if not verified:
        raise typer.Exit(1)
