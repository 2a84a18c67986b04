"""SQL over the provider-sync outbox (`sync_items`) and the channels that take part in sync."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Connection,
    Row,
    String,
    and_,
    bindparam,
    case,
    cast,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)

from stopline.domain.consent import Scope
from stopline.domain.provider_sync import PUSH_PROVIDERS
from stopline.store.tables import blocks, channels, consent_events, opt_outs, sync_items

_PUSHING = and_(
    channels.c.consent_sync.is_(True),
    channels.c.provider.in_(PUSH_PROVIDERS),
)

_ITEM_COLUMNS = [
    "workspace_id",
    "channel_id",
    "event_seq",
    "number",
    "report",
    "method",
    "occurred_at",
    "state",
    "attempts",
    "available_at",
    "created_at",
]


def _enqueue_statement(skip: bool) -> Any:
    """One event's reports, one per pushing channel its scope reaches, chosen inside the database
    (no channel with sync on: inserts nothing, at the cost of one indexed lookup)."""
    scope = bindparam("scope", type_=String)
    key = bindparam("scope_key", type_=String)
    reaches = or_(
        scope == Scope.WORKSPACE.value,
        and_(scope == Scope.CHANNEL_TYPE.value, channels.c.type == key),
        and_(
            scope == Scope.CHANNEL.value,
            cast(channels.c.id, String) == key,
        ),
    )
    chosen = select(
        channels.c.workspace_id,
        channels.c.id,
        bindparam("seq", type_=sync_items.c.event_seq.type),
        bindparam("number", type_=String),
        bindparam("report", type_=String),
        bindparam("method", type_=String),
        bindparam("occurred_at", type_=sync_items.c.occurred_at.type),
        literal("pending"),
        literal(0),
        bindparam("now", type_=sync_items.c.available_at.type),
        bindparam("now2", type_=sync_items.c.created_at.type),
    ).where(channels.c.workspace_id == bindparam("ws"), _PUSHING, reaches)
    if skip:  # the provider that reported the change already knows it
        chosen = chosen.where(channels.c.id != bindparam("skip", type_=channels.c.id.type))
    return insert(sync_items).from_select(_ITEM_COLUMNS, chosen)


_ENQUEUE = _enqueue_statement(False)
_ENQUEUE_SKIPPING = _enqueue_statement(True)


def enqueue_event(
    conn: Connection,
    workspace_id: int,
    *,
    seq: int,
    number: str,
    report: str,
    method: str,
    scope: str,
    scope_key: str,
    occurred_at: datetime,
    now: datetime,
    skip_channel: int | None = None,
) -> int:
    """Queue one consent event's report for every pushing channel it reaches."""
    params: dict[str, Any] = {"skip": skip_channel} if skip_channel is not None else {}
    result = conn.execute(
        _ENQUEUE if skip_channel is None else _ENQUEUE_SKIPPING,
        {
            **params,
            "ws": workspace_id,
            "seq": seq,
            "number": number,
            "report": report,
            "method": method,
            "scope": scope,
            "scope_key": scope_key,
            "occurred_at": occurred_at,
            "now": now,
            "now2": now,
        },
    )
    return result.rowcount or 0


def pushing_channel_ids(conn: Connection, workspace_id: int) -> list[int]:
    """Channels of the workspace that push consent changes (sync on, a provider that takes them)."""
    query = select(channels.c.id).where(channels.c.workspace_id == workspace_id, _PUSHING)
    return list(conn.execute(query).scalars())


def enqueue_workspace_range(
    conn: Connection, workspace_id: int, first_seq: int, last_seq: int, now: datetime
) -> int:
    """Bulk form for imports: every workspace-wide opt-out event with seq in the range, times
    every pushing channel, copied by one INSERT ... SELECT inside the database."""
    e = consent_events.c
    chosen = (
        select(
            e.workspace_id,
            channels.c.id,
            e.seq,
            e.number,
            literal("opt_out"),
            e.method,
            e.occurred_at,
            literal("pending"),
            literal(0),
            bindparam("now", now, type_=sync_items.c.available_at.type),
            bindparam("now2", now, type_=sync_items.c.created_at.type),
        )
        .select_from(consent_events.join(channels, channels.c.workspace_id == e.workspace_id))
        .where(
            e.workspace_id == workspace_id,
            e.seq.between(first_seq, last_seq),
            e.action == "opt_out",
            _PUSHING,
        )
    )
    return conn.execute(insert(sync_items).from_select(_ITEM_COLUMNS, chosen)).rowcount or 0


# --- the worker's side ----------------------------------------------------------------------


def due_channels(conn: Connection, now: datetime, workspace_id: int | None = None) -> list[int]:
    """Channels with reports due now (pending, available, not leased by a live worker).

    Asked channel by channel (few) with EXISTS, so each answer stops at its first due report
    instead of reading every pending one."""
    due = (
        select(sync_items.c.id)
        .where(
            sync_items.c.channel_id == channels.c.id,
            sync_items.c.state == "pending",
            sync_items.c.available_at <= now,
            or_(sync_items.c.lease_until.is_(None), sync_items.c.lease_until <= now),
        )
        .exists()
    )
    query = select(channels.c.id).where(due).order_by(channels.c.id)
    if workspace_id is not None:
        query = query.where(channels.c.workspace_id == workspace_id)
    return list(conn.execute(query).scalars())


def claim(
    conn: Connection, channel_id: int, *, limit: int, now: datetime, lease_until: datetime
) -> list[Row[Any]]:
    """Lease up to `limit` due reports of one channel, oldest first.

    A worker that dies mid-push leaves them leased; when the lease runs out they are due again,
    and the provider recognises the repeat by its correlation id.
    """
    ids = list(
        conn.execute(
            select(sync_items.c.id)
            .where(
                sync_items.c.channel_id == channel_id,
                sync_items.c.state == "pending",
                sync_items.c.available_at <= now,
                or_(sync_items.c.lease_until.is_(None), sync_items.c.lease_until <= now),
            )
            .order_by(sync_items.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).scalars()
    )
    if not ids:
        return []
    conn.execute(update(sync_items).where(sync_items.c.id.in_(ids)).values(lease_until=lease_until))
    return list(
        conn.execute(select(sync_items).where(sync_items.c.id.in_(ids)).order_by(sync_items.c.id))
    )


def mark_delivered(conn: Connection, ids: Sequence[int], now: datetime) -> None:
    if ids:
        conn.execute(
            update(sync_items)
            .where(sync_items.c.id.in_(list(ids)))
            .values(
                state="delivered",
                delivered_at=now,
                lease_until=None,
                error=None,
                error_code=None,
                attempts=sync_items.c.attempts + 1,
            )
        )


def mark_failed(
    conn: Connection,
    item_id: int,
    *,
    error_code: str | None,
    error: str,
    retry_at: datetime | None,
) -> None:
    """Record a failed try: pending again at `retry_at`, or `failed` for good when None."""
    conn.execute(
        update(sync_items)
        .where(sync_items.c.id == item_id)
        .values(
            state="pending" if retry_at is not None else "failed",
            available_at=retry_at if retry_at is not None else sync_items.c.available_at,
            lease_until=None,
            error_code=(error_code or "")[:64] or None,
            error=error[:2000],
            attempts=sync_items.c.attempts + 1,
        )
    )


def release(conn: Connection, ids: Sequence[int], available_at: datetime) -> None:
    """Hand claimed reports back untried (the account's rate window is full)."""
    if ids:
        conn.execute(
            update(sync_items)
            .where(sync_items.c.id.in_(list(ids)))
            .values(lease_until=None, available_at=available_at)
        )


def retry(conn: Connection, workspace_id: int, item_id: int, now: datetime) -> bool:
    """Make a failed (or waiting) report due now; False if there is no such undelivered one."""
    result = conn.execute(
        update(sync_items)
        .where(
            sync_items.c.workspace_id == workspace_id,
            sync_items.c.id == item_id,
            sync_items.c.state != "delivered",
        )
        .values(state="pending", available_at=now, lease_until=None)
    )
    return bool(result.rowcount)


# --- reading --------------------------------------------------------------------------------


def counts(conn: Connection, workspace_id: int) -> dict[str, int]:
    query = (
        select(sync_items.c.state, func.count())
        .where(sync_items.c.workspace_id == workspace_id)
        .group_by(sync_items.c.state)
    )
    return {state: int(n) for state, n in conn.execute(query)}


def list_items(
    conn: Connection,
    workspace_id: int,
    *,
    states: Sequence[str] | None = None,
    number: str | None = None,
    limit: int = 100,
) -> list[Row[Any]]:
    """Newest first; failed ones before the rest when all states are asked for."""
    query = (
        select(sync_items, channels.c.provider, channels.c.address, channels.c.name)
        .join(channels, channels.c.id == sync_items.c.channel_id)
        .where(sync_items.c.workspace_id == workspace_id)
    )
    if states:
        query = query.where(sync_items.c.state.in_(list(states)))
    if number is not None:
        query = query.where(sync_items.c.number == number)
    failed_first = case((sync_items.c.state == "failed", 0), else_=1)
    return list(conn.execute(query.order_by(failed_first, sync_items.c.id.desc()).limit(limit)))


def get_item(conn: Connection, workspace_id: int, item_id: int) -> Row[Any] | None:
    return conn.execute(
        select(sync_items).where(
            sync_items.c.workspace_id == workspace_id, sync_items.c.id == item_id
        )
    ).one_or_none()


# --- channels ---------------------------------------------------------------------------------


def sync_channels(conn: Connection, providers: Sequence[str]) -> list[Row[Any]]:
    """Every channel, of every workspace, with sync on at one of `providers` (worker passes)."""
    query = select(channels).where(
        channels.c.consent_sync.is_(True), channels.c.provider.in_(list(providers))
    )
    return list(conn.execute(query.order_by(channels.c.id)))


def channel_row(conn: Connection, channel_id: int) -> Row[Any] | None:
    return conn.execute(select(channels).where(channels.c.id == channel_id)).one_or_none()


def set_pulled_until(conn: Connection, channel_id: int, until: datetime) -> None:
    conn.execute(
        update(channels).where(channels.c.id == channel_id).values(sync_pulled_until=until)
    )


def opted_out_numbers_for_channel(
    conn: Connection, workspace_id: int, channel_id: int, channel_type: str
) -> set[str]:
    """Numbers stopline will not text from this channel: an opt-out whose scope covers it, or a
    block (reconcile compares them with the provider's list)."""
    covers = or_(
        opt_outs.c.scope == Scope.WORKSPACE.value,
        and_(opt_outs.c.scope == Scope.CHANNEL_TYPE.value, opt_outs.c.scope_key == channel_type),
        and_(opt_outs.c.scope == Scope.CHANNEL.value, opt_outs.c.scope_key == str(channel_id)),
    )
    numbers = set(
        conn.execute(
            select(opt_outs.c.number).where(opt_outs.c.workspace_id == workspace_id, covers)
        ).scalars()
    )
    numbers.update(
        conn.execute(select(blocks.c.number).where(blocks.c.workspace_id == workspace_id)).scalars()
    )
    return numbers
