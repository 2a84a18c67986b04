"""SQL for campaigns: their rows, their messages (expanded in bulk) and their counts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Connection,
    bindparam,
    case,
    cast,
    func,
    insert,
    literal,
    null,
    select,
    union_all,
    update,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Row

from stopline.store.audience import audience_select, place_key, plan_for_bulk
from stopline.store.db import dialect_insert, insert_id, is_sqlite
from stopline.store.messages import WAITING
from stopline.store.tables import (
    Timestamp,
    campaigns,
    messages,
    opt_outs,
)


def insert_campaign(conn: Connection, **values: Any) -> int:
    return insert_id(conn, insert(campaigns).values(**values))


def get_campaign(conn: Connection, workspace_id: int, campaign_id: int) -> Row[Any] | None:
    return conn.execute(
        select(campaigns).where(
            campaigns.c.workspace_id == workspace_id, campaigns.c.id == campaign_id
        )
    ).one_or_none()


def list_campaigns(
    conn: Connection, workspace_id: int, *, limit: int = 50, offset: int = 0
) -> list[Row[Any]]:
    return list(
        conn.execute(
            select(campaigns)
            .where(campaigns.c.workspace_id == workspace_id)
            .order_by(campaigns.c.id.desc())
            .limit(limit)
            .offset(offset)
        )
    )


def set_campaign(conn: Connection, campaign_id: int, **values: Any) -> None:
    conn.execute(update(campaigns).where(campaigns.c.id == campaign_id).values(**values))


def campaign_status_counts(conn: Connection, campaign_id: int) -> dict[str, dict[str, int]]:
    """Messages of a campaign by status, and refused ones by refusal code."""
    by_status: dict[str, int] = {}
    by_refusal: dict[str, int] = {}
    rows = conn.execute(
        select(messages.c.status, messages.c.refusal_code, func.count())
        .where(messages.c.campaign_id == campaign_id)
        .group_by(messages.c.status, messages.c.refusal_code)
    )
    for status, refusal, count in rows:
        by_status[status] = by_status.get(status, 0) + int(count)
        if refusal:
            by_refusal[refusal] = by_refusal.get(refusal, 0) + int(count)
    return {"by_status": by_status, "by_refusal": by_refusal}


def _sid_sql(conn: Connection) -> Any:
    if is_sqlite(conn):
        return literal("SM") + func.lower(func.hex(func.randomblob(16)))
    return literal("SM") + func.md5(
        func.random().cast(postgresql.TEXT) + func.clock_timestamp().cast(postgresql.TEXT)
    )


def _ts(conn: Connection, value: datetime | None) -> Any:
    """A timestamp parameter PostgreSQL can type inside a CASE (NULL included).

    Not cast on SQLite: CAST(... AS DATETIME) has numeric affinity there and would keep the year.
    """
    if is_sqlite(conn):
        return literal(value, Timestamp) if value is not None else null()
    return cast(literal(value) if value is not None else null(), Timestamp)


def expand_campaign_chunk(
    conn: Connection,
    *,
    campaign_id: int,
    workspace_id: int,
    list_ids: Sequence[int],
    channel_id: int,
    channel_type: str,
    from_address: str,
    body: str,
    created_by: str,
    lo: str | None,
    hi: str,
    send_at: datetime,
    scheduled: bool,
    now: datetime,
    openings: Sequence[tuple[str, datetime]] = (),
) -> int:
    """Store the campaign's messages for members with `lo < number <= hi`, in one statement.

    Suppressed members get a ``failed`` message with their refusal code (the record of why
    they were not sent to); the others a ``queued`` (or ``scheduled``) one. Members that
    already have a message of this campaign are skipped, so a re-run after a crash adds
    only what is missing (and the unique (campaign_id, to_number) index makes that certain).
    """
    plan_for_bulk(conn)
    audience = audience_select(
        conn,
        workspace_id=workspace_id,
        list_ids=list_ids,
        channel_id=channel_id,
        channel_type=channel_type,
        lo=lo,
        hi=hi,
    ).subquery("a")
    pending = "scheduled" if scheduled else "queued"
    already = (
        select(literal(1))
        .where(messages.c.campaign_id == campaign_id, messages.c.to_number == audience.c.number)
        .exists()
    )
    refused = audience.c.refusal_code.is_not(None)
    # Send-time rules: members in an area code whose window is closed at `send_at` wait, as
    # `scheduled`, for its opening (`openings`: "+1NPA" -> when).
    opens: Any = None
    source: Any = audience
    if openings:
        table = union_all(
            *(
                select(literal(key).label("place"), _ts(conn, at).label("opens"))
                for key, at in openings
            )
        ).subquery("o")
        source = audience.outerjoin(table, table.c.place == place_key(audience.c.number))
        opens = table.c.opens
    waits = opens.is_not(None) if opens is not None else literal(False)
    available = (
        func.coalesce(opens, _ts(conn, send_at)) if opens is not None else _ts(conn, send_at)
    )
    rows = (
        select(
            _sid_sql(conn),
            literal(workspace_id),
            literal("out"),
            literal(channel_id),
            literal(from_address),
            audience.c.number,
            literal(body),
            literal("normal"),
            literal("campaign"),
            literal(campaign_id),
            audience.c.list_id,
            case(
                (refused, literal("failed")), (waits, literal("scheduled")), else_=literal(pending)
            ),
            audience.c.refusal_code,
            literal(False),
            literal(created_by),
            literal(0),
            case((refused, _ts(conn, None)), else_=available),
            case((refused, _ts(conn, None)), else_=_ts(conn, send_at if scheduled else None)),
            _ts(conn, now),
            _ts(conn, now),
            literal("marketing"),
            case((refused, literal(None)), (waits, literal("quiet_hours")), else_=literal(None)),
        )
        .select_from(source)
        .where(~already)
    )
    columns = [
        "sid",
        "workspace_id",
        "direction",
        "channel_id",
        "from_address",
        "to_number",
        "body",
        "kind",
        "source",
        "campaign_id",
        "list_id",
        "status",
        "refusal_code",
        "hidden",
        "sent_by",
        "attempts",
        "available_at",
        "scheduled_at",
        "created_at",
        "updated_at",
        "category",
        "hold_reason",
    ]
    stmt = (
        dialect_insert(conn, messages)
        .from_select(columns, rows)
        .on_conflict_do_nothing(index_elements=["campaign_id", "to_number"])
    )
    return int(conn.execute(stmt).rowcount or 0)


def reschedule_campaign_messages(
    conn: Connection, campaign_id: int, changes: Sequence[Mapping[str, Any]], now: datetime
) -> None:
    """Move some of a campaign's waiting messages to another time (keys: number, status,
    available_at, hold_reason): recipients whose contact gives their own place."""
    if not changes:
        return
    conn.execute(
        update(messages)
        .where(
            messages.c.campaign_id == campaign_id,
            messages.c.to_number == bindparam("c_number"),
            messages.c.status.in_(WAITING),
        )
        .values(
            status=bindparam("c_status"),
            available_at=bindparam("c_available_at"),
            hold_reason=bindparam("c_hold_reason"),
            updated_at=now,
        ),
        [{f"c_{k}": v for k, v in c.items()} for c in changes],
    )


def kept_numbers_between(
    conn: Connection, workspace_id: int, lo: str | None, hi: str | None
) -> list[str]:
    """Numbers with `lo < number <= hi` that kept a list past an opt-out: the few the set-based
    suppression refuses as opted out that a send through that list may still reach (read from
    the partial index on kept opt-outs)."""
    query = select(opt_outs.c.number).where(
        opt_outs.c.workspace_id == workspace_id, opt_outs.c.kept_lists.is_not(None)
    )
    if lo is not None:
        query = query.where(opt_outs.c.number > lo)
    if hi is not None:
        query = query.where(opt_outs.c.number <= hi)
    return sorted(set(conn.execute(query).scalars()))


def refused_as_opted_out(conn: Connection, campaign_id: int, numbers: Sequence[str]) -> list[str]:
    """Which of `numbers` this campaign stored as refused for an opt-out."""
    if not numbers:
        return []
    return list(
        conn.execute(
            select(messages.c.to_number).where(
                messages.c.campaign_id == campaign_id,
                messages.c.to_number.in_(list(numbers)),
                messages.c.status == "failed",
                messages.c.refusal_code == "opted_out",
            )
        ).scalars()
    )


def release_kept(
    conn: Connection,
    campaign_id: int,
    number: str,
    list_id: int,
    *,
    status: str,
    available_at: datetime,
    scheduled_at: datetime | None,
    now: datetime,
) -> None:
    """A member refused as opted out goes after all, through the list it kept past it."""
    conn.execute(
        update(messages)
        .where(
            messages.c.campaign_id == campaign_id,
            messages.c.to_number == number,
            messages.c.status == "failed",
        )
        .values(
            status=status,
            list_id=list_id,
            refusal_code=None,
            error_message=None,
            available_at=available_at,
            scheduled_at=scheduled_at,
            updated_at=now,
        )
    )


def cancel_campaign_messages(conn: Connection, campaign_id: int, now: datetime) -> int:
    result = conn.execute(
        update(messages)
        .where(messages.c.campaign_id == campaign_id, messages.c.status.in_(WAITING))
        .values(status="canceled", updated_at=now)
    )
    return int(result.rowcount or 0)


def campaign_pending(conn: Connection, campaign_id: int) -> int:
    return int(
        conn.execute(
            select(func.count()).where(
                messages.c.campaign_id == campaign_id,
                messages.c.status.in_(("queued", "scheduled", "sending")),
            )
        ).scalar_one()
    )
