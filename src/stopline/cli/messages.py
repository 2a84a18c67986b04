"""`stopline send`, `messages`, `campaigns`, `lists`, `twilio`: outbound from the command line."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from stopline.cli.main import (
    JsonOpt,
    WorkspaceOpt,
    app,
    emit,
    operator,
    reading,
    table,
    writing,
)
from stopline.domain.errors import InvalidInput
from stopline.services import campaigns, queueing, workspaces
from stopline.services import messages as messages_service

messages_app = typer.Typer(help="Outbound and inbound messages.", no_args_is_help=True)
campaigns_app = typer.Typer(help="Campaigns to subscription lists.", no_args_is_help=True)
lists_app = typer.Typer(
    help="Subscription lists (the audiences of campaigns).", no_args_is_help=True
)
twilio_app = typer.Typer(help="The Twilio-compatible API's credentials.", no_args_is_help=True)
app.add_typer(messages_app, name="messages")
app.add_typer(campaigns_app, name="campaigns")
app.add_typer(lists_app, name="lists")
app.add_typer(twilio_app, name="twilio")

ChannelOpt = Annotated[
    int | None, typer.Option("--channel", help="Channel id to send from (default: the only one).")
]
AtOpt = Annotated[
    str | None,
    typer.Option("--at", help="Send later: ISO 8601 time, e.g. 2030-01-31T09:00:00+01:00."),
]


def parse_at(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(
            f"{value!r} is not an ISO 8601 time (e.g. 2030-01-31T09:00:00Z).", code="time_invalid"
        ) from None


def _message_line(m: messages_service.QueuedMessage) -> str:
    if m.refused:
        return f"refused: {m.refusal_code} ({m.error_message}) [{m.sid}]"
    when = (
        f" for {m.scheduled_at.isoformat()}" if m.status == "scheduled" and m.scheduled_at else ""
    )
    if m.status == "scheduled" and m.hold_reason and m.send_decision:
        when = f" until {m.send_decision.get('until')} ({m.hold_reason})"
    return f"{m.status}{when}: {m.sid} to {m.to} [{m.category}]"


@app.command()
def send(
    to: Annotated[str, typer.Option("--to", help="Recipient's number.")],
    body: Annotated[str, typer.Option("--body", help="The text.")],
    channel: ChannelOpt = None,
    source: Annotated[str, typer.Option(help="Source tag (e.g. the automation's name).")] = "cli",
    at: AtOpt = None,
    idempotency_key: Annotated[
        str | None, typer.Option(help="Retrying with the same key never sends twice.")
    ] = None,
    category: Annotated[
        str | None,
        typer.Option(help="conversational, informational (default) or marketing."),
    ] = None,
    list_id: Annotated[
        int | None,
        typer.Option(
            "--list",
            help="Send as part of this list's messages: only to its members, and past an "
            "opt-out only if the recipient kept this list when they opted out.",
        ),
    ] = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Queue one message. Exit 1 if the gate refuses it (the reason is printed); a message
    outside its recipient's window is queued `scheduled` for its next opening."""
    with writing() as conn:
        principal = operator(conn, workspace)
        channel_id = queueing.default_channel_id(conn, principal.workspace_id, channel)
        message = queueing.enqueue(
            conn,
            principal.workspace_id,
            channel_id=channel_id,
            to=to,
            body=body,
            source=source,
            sent_by=principal.actor,
            scheduled_at=parse_at(at),
            idempotency_key=idempotency_key,
            category=category,
            list_id=list_id,
        )
    emit(message.as_dict(), as_json, _message_line(message))
    if message.refused:
        raise typer.Exit(1)


@messages_app.command("list")
def messages_list(
    status: Annotated[str | None, typer.Option(help="Only this status.")] = None,
    to: Annotated[str | None, typer.Option(help="Only to this number.")] = None,
    campaign: Annotated[int | None, typer.Option(help="Only this campaign's.")] = None,
    source: Annotated[str | None, typer.Option(help="Only this source tag.")] = None,
    limit: Annotated[int, typer.Option(help="How many (newest first).")] = 50,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Messages, newest first."""
    with reading() as conn:
        ws = workspaces.resolve_workspace(conn, workspace)
        found = messages_service.list_messages(
            conn, ws.id, status=status, to=to, campaign_id=campaign, source=source, limit=limit
        )
    data = [m.as_dict() for m in found]
    emit(
        data,
        as_json,
        lambda: table(
            ["sid", "dir", "to", "status", "reason", "source", "created", "body"],
            [
                [
                    m.sid,
                    m.direction,
                    m.to,
                    m.status,
                    m.refusal_code or m.error_code,
                    m.source,
                    m.created_at.strftime("%Y-%m-%d %H:%M"),
                    m.body[:40],
                ]
                for m in found
            ],
        ),
    )


@messages_app.command("show")
def messages_show(
    ref: Annotated[str, typer.Argument(help="Message SID or id.")],
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """One message in full."""
    with reading() as conn:
        ws = workspaces.resolve_workspace(conn, workspace)
        message = messages_service.get_message(conn, ws.id, ref)
    data = message.as_dict()
    emit(data, as_json, lambda: table(["", ""], [[k, v] for k, v in data.items()]))


@messages_app.command("cancel")
def messages_cancel(
    ref: Annotated[str, typer.Argument(help="Message SID or id.")],
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Cancel a queued or scheduled message."""
    with writing() as conn:
        ws = workspaces.resolve_workspace(conn, workspace)
        message = messages_service.cancel(conn, ws.id, ref)
    emit(message.as_dict(), as_json, f"canceled {message.sid}")


def _campaign_human(c: campaigns.Campaign) -> None:
    rows: list[list[Any]] = [
        ["id", c.id],
        ["name", c.name],
        ["status", c.status],
        ["lists", ", ".join(map(str, c.list_ids))],
        ["channel", c.channel_id],
        ["scheduled", c.scheduled_at.isoformat() if c.scheduled_at else ""],
    ]
    for status, count in sorted((c.counts.get("by_status") or {}).items()):
        rows.append([f"messages {status}", count])
    for code, count in sorted((c.counts.get("by_refusal") or {}).items()):
        rows.append([f"refused {code}", count])
    table(["", ""], rows, title=f"Campaign {c.id}")


@campaigns_app.command("create")
def campaigns_create(
    name: Annotated[str, typer.Option(help="Campaign name.")],
    body: Annotated[str, typer.Option(help="The text.")],
    list_ids: Annotated[list[int], typer.Option("--list", help="List id (repeat for several).")],
    channel: ChannelOpt = None,
    at: AtOpt = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Send BODY to every subscribed member of the lists (opt-outs and blocks suppressed)."""
    with writing() as conn:
        campaign = campaigns.create_campaign(
            conn,
            operator(conn, workspace),
            name=name,
            body=body,
            list_ids=list_ids,
            channel_id=channel,
            scheduled_at=parse_at(at),
        )
    emit(
        campaign.as_dict(),
        as_json,
        f"campaign {campaign.id} queued; a worker expands and sends it "
        f"(`stopline worker`, or `stopline serve`)",
    )


@campaigns_app.command("preview")
def campaigns_preview(
    list_ids: Annotated[list[int], typer.Option("--list", help="List id (repeat for several).")],
    channel: ChannelOpt = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """How many a campaign to these lists would reach, how many would be suppressed, and how
    many go now, later (when the last goes) or are over a frequency cap."""
    with reading() as conn:
        ws = workspaces.resolve_workspace(conn, workspace)
        counts = campaigns.preview_audience(conn, ws.id, list_ids=list_ids, channel_id=channel)
    timing = counts.get("send_time", {})
    rows = [[k, v] for k, v in counts.items() if k != "send_time"]
    rows += [[f"send_time.{k}", v] for k, v in timing.items()]
    emit(counts, as_json, lambda: table(["", "count"], rows))


@campaigns_app.command("list")
def campaigns_list(workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """Campaigns, newest first."""
    with reading() as conn:
        ws = workspaces.resolve_workspace(conn, workspace)
        found = campaigns.list_campaigns(conn, ws.id)
    emit(
        [c.as_dict() for c in found],
        as_json,
        lambda: table(
            ["id", "name", "status", "lists", "recipients", "created"],
            [
                [
                    c.id,
                    c.name,
                    c.status,
                    ",".join(map(str, c.list_ids)),
                    c.counts.get("recipients", ""),
                    c.created_at.strftime("%Y-%m-%d %H:%M"),
                ]
                for c in found
            ],
        ),
    )


@campaigns_app.command("show")
def campaigns_show(
    campaign_id: int, workspace: WorkspaceOpt = None, as_json: JsonOpt = False
) -> None:
    """A campaign with its messages counted by status and refusal reason."""
    with reading() as conn:
        ws = workspaces.resolve_workspace(conn, workspace)
        campaign = campaigns.get_campaign(conn, ws.id, campaign_id)
    emit(campaign.as_dict(), as_json, lambda: _campaign_human(campaign))


@campaigns_app.command("cancel")
def campaigns_cancel(
    campaign_id: int, workspace: WorkspaceOpt = None, as_json: JsonOpt = False
) -> None:
    """Cancel the campaign's messages not yet handed over."""
    with writing() as conn:
        campaign = campaigns.cancel_campaign(conn, operator(conn, workspace), campaign_id)
    emit(campaign.as_dict(), as_json, f"campaign {campaign.id} canceled")


@lists_app.command("create")
def lists_create(name: str, workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """Create a subscription list."""
    with writing() as conn:
        created = campaigns.create_list(conn, operator(conn, workspace), name)
    emit({"id": created.id, "name": created.name}, as_json, f"list {created.id}: {created.name}")


@lists_app.command("add-members")
def lists_add_members(
    list_id: int,
    numbers: Annotated[list[str] | None, typer.Argument(help="Numbers to subscribe.")] = None,
    file: Annotated[
        Path | None, typer.Option(help="A text file with one number per line.", exists=True)
    ] = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Subscribe numbers to a list (normalised to E.164; unreadable ones are reported)."""
    raw = list(numbers or [])
    if file is not None:
        raw += file.read_text(encoding="utf-8").splitlines()
    with writing() as conn:
        result = campaigns.add_members(conn, operator(conn, workspace), list_id, raw)
    data = {"added": result.added, "already": result.already, "rejected": result.rejected}
    human = f"added {result.added}, already members {result.already}"
    if result.rejected:
        human += f", rejected {len(result.rejected)}: " + "; ".join(
            f"{r['input']!r} ({r['code']})" for r in result.rejected[:10]
        )
    emit(data, as_json, human)


@lists_app.command("list")
def lists_list(workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """Lists with their member counts."""
    with reading() as conn:
        ws = workspaces.resolve_workspace(conn, workspace)
        found = campaigns.list_lists(conn, ws.id)
    data = [{"id": x.id, "name": x.name, "members": x.members} for x in found]
    emit(data, as_json, lambda: table(["id", "name", "members"], [list(d.values()) for d in data]))


@twilio_app.command("rotate-token")
def twilio_rotate_token(workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """Issue a new auth token for the Twilio-compatible API; the old one stops working at once."""
    with writing() as conn:
        principal = operator(conn, workspace)
        token = workspaces.rotate_auth_token(conn, principal)
        ws = workspaces.get_workspace(conn, principal.workspace_id)
    data = {"account_sid": ws.account_sid, "auth_token": token}
    emit(data, as_json, f"account_sid {ws.account_sid}\nauth_token  {token}  (shown only once)")
