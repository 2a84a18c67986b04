"""Ask the gate about a number: the consent API, `stopline check`, and queue-time checks use this."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select

from stopline.domain.consent import NumberState
from stopline.domain.errors import InvalidInput
from stopline.domain.gate import Decision, MessageKind, Outbound, RefusalCode, Refuse, decide
from stopline.domain.numbers import normalize
from stopline.store import ledger
from stopline.store import workspaces as workspaces_store
from stopline.store.tables import channels, list_members, lists


def is_subscribed(conn: Connection, workspace_id: int, list_id: int, number: str) -> bool:
    return (
        conn.execute(
            select(list_members.c.number).where(
                list_members.c.workspace_id == workspace_id,
                list_members.c.list_id == list_id,
                list_members.c.number == number,
            )
        ).first()
        is not None
    )


def check_outbound(conn: Connection, workspace_id: int, message: Outbound) -> Decision:
    """The gate's decision for `message` against the number's stored state, right now."""
    state = ledger.load_state(conn, workspace_id, message.to)
    subscribed = None
    if message.list_id is not None:
        subscribed = is_subscribed(conn, workspace_id, message.list_id, message.to)
    return decide(message, state, subscribed=subscribed)


def channel_decisions(
    conn: Connection, workspace_id: int, number: str, state: NumberState
) -> list[dict[str, Any]]:
    """The gate's decision for a normal message to `number` on each channel of the workspace.

    What every page and answer that shows a number's consent displays next to its records
    (`GET /api/v1/opt-outs/{n}`, `stopline optouts show`, the evidence report), computed by
    the same `decide` the hand-off runs, so what is shown is what will happen.
    """
    out: list[dict[str, Any]] = []
    for row in workspaces_store.list_channels(conn, workspace_id):
        message = Outbound(to=number, channel_id=int(row.id), channel_type=row.type)
        decision = decide(message, state)
        out.append(
            {
                "channel_id": int(row.id),
                "type": row.type,
                "address": row.address,
                "allowed": decision.allowed,
                "code": None if decision.allowed else decision.code.value,  # type: ignore[union-attr]
            }
        )
    return out


def check_number(
    conn: Connection,
    workspace_id: int,
    raw_number: str,
    *,
    region: str,
    channel_id: int | None = None,
    list_id: int | None = None,
    kind: MessageKind = MessageKind.NORMAL,
) -> tuple[str | None, Decision]:
    """Normalise then decide; an unparseable number is refused as `invalid_number`."""
    try:
        number = normalize(raw_number, region)
    except InvalidInput as exc:
        return None, Refuse(RefusalCode.INVALID_NUMBER, exc.message)
    channel_type: str | None = None
    if channel_id is not None:
        row = conn.execute(
            select(channels.c.type).where(
                channels.c.workspace_id == workspace_id, channels.c.id == channel_id
            )
        ).first()
        if row is None:
            raise InvalidInput(
                f"No channel {channel_id} in this workspace.", code="channel_not_found"
            )
        channel_type = row.type
    if list_id is not None:
        exists = conn.execute(
            select(lists.c.id).where(lists.c.workspace_id == workspace_id, lists.c.id == list_id)
        ).first()
        if exists is None:
            raise InvalidInput(f"No list {list_id} in this workspace.", code="list_not_found")
    message = Outbound(
        to=number, channel_id=channel_id, channel_type=channel_type, list_id=list_id, kind=kind
    )
    return number, check_outbound(conn, workspace_id, message)
