"""More `stopline lists ...` commands: a list's keywords and HELP text, members, list opt-outs.

The `lists` group itself is created with the campaign commands (cli/messages.py); these add the
list management of the lists service to it.
"""

from __future__ import annotations

from typing import Annotated

import typer

from stopline.cli.main import JsonOpt, WorkspaceOpt, emit, operator, reading, table, writing
from stopline.cli.messages import lists_app
from stopline.services import lists, workspaces


@lists_app.command("show")
def show(list_id: int, workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """A list with its keywords, HELP text and counts."""
    with reading() as conn:
        ws = workspaces.resolve_workspace(conn, workspace)
        found = lists.get_list(conn, ws.id, list_id)
    emit(
        found.as_dict(),
        as_json,
        lambda: table(["", ""], [[k, v] for k, v in found.as_dict().items()], title=found.name),
    )


@lists_app.command("keywords")
def keywords(
    list_id: int,
    opt_out: Annotated[list[str] | None, typer.Option(help="A list opt-out keyword.")] = None,
    opt_in: Annotated[list[str] | None, typer.Option(help="A list opt-in keyword.")] = None,
    help_keyword: Annotated[
        list[str] | None, typer.Option("--help-keyword", help="A list HELP keyword.")
    ] = None,
    help_text: Annotated[str | None, typer.Option(help="The list's answer to HELP.")] = None,
    clear: Annotated[bool, typer.Option(help="Remove the list's keywords.")] = False,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Set a list's own keywords (seed 001: OPTOUT leaves this list only) and HELP text."""
    words = {"opt_out": opt_out or [], "opt_in": opt_in or [], "help": help_keyword or []}
    kwargs: dict[str, object] = {}
    if clear or any(words.values()):
        kwargs["keywords"] = {} if clear else words
    if help_text is not None:
        kwargs["help_text"] = help_text
    with writing() as conn:
        updated = lists.update_list(conn, operator(conn, workspace), list_id, **kwargs)  # type: ignore[arg-type]
    emit(updated.as_dict(), as_json, f"list {updated.id}: keywords {updated.keywords or 'none'}")


@lists_app.command("members")
def members(
    list_id: int,
    search: Annotated[str | None, typer.Option(help="Digits of a number.")] = None,
    limit: Annotated[int, typer.Option(help="Rows per page.")] = 50,
    offset: Annotated[int, typer.Option(help="Rows to skip.")] = 0,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """A list's members, with their list opt-outs."""
    with reading() as conn:
        ws = workspaces.resolve_workspace(conn, workspace)
        rows, total = lists.members(conn, ws.id, list_id, search=search, limit=limit, offset=offset)
    emit(
        {"total": total, "items": [m.as_dict() for m in rows]},
        as_json,
        lambda: table(
            ["number", "subscribed", "left the list"],
            [[m.number, m.subscribed_at.strftime("%Y-%m-%d"), m.list_opt_out or ""] for m in rows],
            title=f"{total} member(s)",
        ),
    )


@lists_app.command("remove-members")
def remove_members(
    list_id: int,
    numbers: Annotated[list[str], typer.Argument(help="Numbers to take off the list.")],
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Take numbers off a list (not an opt-out: use `lists opt-out` for that)."""
    with writing() as conn:
        result = lists.remove_members(conn, operator(conn, workspace), list_id, numbers)
    emit(result.as_dict(), as_json, f"removed {result.removed} member(s)")


@lists_app.command("opt-out")
def opt_out(
    list_id: int,
    number: str,
    reason: Annotated[str | None, typer.Option(help="Why.")] = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Opt NUMBER out of this list only."""
    with writing() as conn:
        result = lists.opt_out(conn, operator(conn, workspace), list_id, number, reason=reason)
    emit(
        {"changed": result.changed, "event_seq": result.event.seq if result.event else None},
        as_json,
        "opted out of the list" if result.changed else "already opted out of the list",
    )


@lists_app.command("opt-in")
def opt_in(
    list_id: int,
    number: str,
    consent_note: Annotated[
        str | None, typer.Option(help="How the recipient consented again (policy).")
    ] = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Lift NUMBER's opt-out of this list, under the workspace's re-subscribe policy."""
    with writing() as conn:
        result = lists.opt_in(
            conn, operator(conn, workspace), list_id, number, consent_note=consent_note
        )
    emit(
        {"changed": result.changed, "event_seq": result.event.seq if result.event else None},
        as_json,
        "back on the list" if result.changed else "was not opted out of the list",
    )
