"""SQL over outbound messages that consent changes need: cancelling what was not yet handed over."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, select, update

from stopline.domain.consent import Scope
from stopline.store.tables import channels, messages

# Statuses of an outbound message not yet handed to a provider. 'sending' is included: the
# hand-off holds the message row's lock while it re-checks the gate and calls the provider,
# so this UPDATE waits for an in-flight hand-off and then sees it as already sent.
PENDING = ("queued", "scheduled", "sending")


def _cancel_statement(narrow: Any = None) -> Any:
    query = (
        update(messages)
        .where(
            messages.c.workspace_id == bindparam("ws"),
            messages.c.to_number == bindparam("number"),
            messages.c.direction == "out",
            messages.c.status.in_(PENDING),
            messages.c.kind == "normal",
        )
        .values(
            status="canceled",
            refusal_code=bindparam("code"),
            updated_at=bindparam("now"),
            lease_owner=None,
        )
    )
    return query if narrow is None else query.where(narrow)


# Built once: an opt-out cancels on every STOP, and building the UPDATE costs more than running it.
_CANCEL = {
    "workspace": _cancel_statement(),
    "list": _cancel_statement(messages.c.list_id == bindparam("key")),
    "channel": _cancel_statement(messages.c.channel_id == bindparam("key")),
    "channel_type": _cancel_statement(
        messages.c.channel_id.in_(
            select(channels.c.id).where(
                channels.c.workspace_id == bindparam("ws"), channels.c.type == bindparam("key")
            )
        )
    ),
}


def cancel_pending(
    conn: Connection,
    workspace_id: int,
    number: str,
    *,
    scope: Scope = Scope.WORKSPACE,
    scope_key: str = "",
    list_id: int | None = None,
    code: str,
    now: datetime,
) -> int:
    """Cancel every not-yet-handed-over normal message to `number` in the given scope."""
    params: dict[str, Any] = {"ws": workspace_id, "number": number, "code": code, "now": now}
    if list_id is not None:
        kind, params["key"] = "list", list_id
    elif scope is Scope.CHANNEL:
        kind, params["key"] = "channel", int(scope_key)
    elif scope is Scope.CHANNEL_TYPE:
        kind, params["key"] = "channel_type", scope_key
    else:
        kind = "workspace"
    return conn.execute(_CANCEL[kind], params).rowcount or 0


def cancel_pending_many(
    conn: Connection, workspace_id: int, numbers: list[str], *, now: datetime, chunk: int = 900
) -> int:
    """Bulk form of `cancel_pending` for workspace-wide opt-outs."""
    total = 0
    for start in range(0, len(numbers), chunk):
        part = numbers[start : start + chunk]
        result = conn.execute(
            update(messages)
            .where(
                messages.c.workspace_id == workspace_id,
                messages.c.to_number.in_(part),
                messages.c.direction == "out",
                messages.c.status.in_(PENDING),
                messages.c.kind == "normal",
            )
            .values(status="canceled", refusal_code="opted_out", updated_at=now, lease_owner=None)
        )
        total += result.rowcount or 0
    return total


def pending_numbers(conn: Connection, workspace_id: int) -> set[str]:
    """Numbers with a not-yet-handed-over normal message: a big bulk cancels only for these.

    Pending messages are few next to a million imported numbers, so reading them once beats
    probing the messages index for every imported number.
    """
    query = (
        select(messages.c.to_number)
        .where(
            messages.c.status.in_(PENDING),
            messages.c.workspace_id == workspace_id,
            messages.c.direction == "out",
            messages.c.kind == "normal",
        )
        .distinct()
    )
    return set(conn.execute(query).scalars())
