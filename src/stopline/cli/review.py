"""`stopline review ...`: the queue of possible revocations, listed and resolved."""

from __future__ import annotations

from typing import Annotated

import typer

from stopline.cli.main import JsonOpt, WorkspaceOpt, app, emit, operator, reading, table, writing
from stopline.services import review, workspaces

review_app = typer.Typer(help="Possible revocations waiting for review.", no_args_is_help=True)
app.add_typer(review_app, name="review")


@review_app.command("list")
def list_(
    status: Annotated[str, typer.Option(help="pending, opted_out, dismissed or all.")] = "pending",
    limit: Annotated[int, typer.Option(help="Rows per page.")] = 50,
    offset: Annotated[int, typer.Option(help="Rows to skip.")] = 0,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List review items, soonest deadline first."""
    with reading() as conn:
        ws = workspaces.resolve_workspace(conn, workspace)
        items, total = review.list_review_items(
            conn, ws.id, status=None if status == "all" else status, limit=limit, offset=offset
        )
    data = {"total": total, "items": [i.as_dict() for i in items]}
    emit(
        data,
        as_json,
        lambda: table(
            ["id", "number", "deadline", "status", "message", "rule", "resolved by"],
            [
                [
                    i.id,
                    i.number,
                    i.deadline.isoformat() + (" OVERDUE" if i.overdue else ""),
                    i.status,
                    i.body if len(i.body) <= 60 else i.body[:57] + "...",
                    i.phrase or "",
                    i.resolved_by,
                ]
                for i in items
            ],
            title=f"{total} review item(s)",
        ),
    )


def _resolve(
    item_id: int, resolution: str, note: str | None, workspace: str | None, as_json: bool
) -> None:
    with writing() as conn:
        result = review.resolve_review_item(
            conn, operator(conn, workspace), item_id, resolution, note=note
        )
    data = {
        **result.item.as_dict(),
        "event_seq": result.event_seq,
        "canceled_messages": result.canceled_messages,
    }
    emit(data, as_json, f"review item {item_id}: {result.item.status} {result.item.number}")


@review_app.command("opt-out")
def opt_out(
    item_id: int,
    note: Annotated[str | None, typer.Option(help="Added to the opt-out's reason.")] = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Honour the request: opt the number out (method manual)."""
    _resolve(item_id, "opt_out", note, workspace, as_json)


@review_app.command("dismiss")
def dismiss(
    item_id: int,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Dismiss: the message was not a request to stop."""
    _resolve(item_id, "dismiss", None, workspace, as_json)
