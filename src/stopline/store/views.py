"""Read-only queries behind the web pages: badges, list names, audit and dashboard figures."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import Connection, and_, exists, func, select
from sqlalchemy.engine import Row

from stopline.store.tables import (
    blocks,
    campaigns,
    consent_events,
    list_members,
    lists,
    messages,
    opt_outs,
)


def list_names(conn: Connection, workspace_id: int, list_ids: Sequence[int]) -> dict[int, str]:
    if not list_ids:
        return {}
    rows = conn.execute(
        select(lists.c.id, lists.c.name).where(
            lists.c.workspace_id == workspace_id, lists.c.id.in_(list(list_ids))
        )
    )
    return {int(r.id): str(r.name) for r in rows}


def all_lists(conn: Connection, workspace_id: int) -> list[Row[Any]]:
    members = (
        select(func.count())
        .where(list_members.c.list_id == lists.c.id)
        .scalar_subquery()
        .label("members")
    )
    return list(
        conn.execute(
            select(lists, members)
            .where(lists.c.workspace_id == workspace_id)
            .order_by(lists.c.name)
        )
    )


def opt_out_scopes(
    conn: Connection, workspace_id: int, numbers: Sequence[str]
) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for start in range(0, len(numbers), 900):
        part = list(numbers[start : start + 900])
        found.extend(
            (r.number, r.scope)
            for r in conn.execute(
                select(opt_outs.c.number, opt_outs.c.scope).where(
                    opt_outs.c.workspace_id == workspace_id, opt_outs.c.number.in_(part)
                )
            )
        )
    return found


def blocked_numbers(conn: Connection, workspace_id: int, numbers: Sequence[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(numbers), 900):
        part = list(numbers[start : start + 900])
        found.update(
            conn.execute(
                select(blocks.c.number).where(
                    blocks.c.workspace_id == workspace_id, blocks.c.number.in_(part)
                )
            ).scalars()
        )
    return found


def events_page(
    conn: Connection,
    workspace_id: int,
    *,
    number: str | None = None,
    number_contains: str | None = None,
    action: str | None = None,
    method: str | None = None,
    actor: str | None = None,
    since: datetime | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[Row[Any]], int]:
    """Ledger events newest first, filtered; with the total that matched."""
    conditions: list[Any] = [consent_events.c.workspace_id == workspace_id]
    if number:
        conditions.append(consent_events.c.number == number)
    if number_contains:
        conditions.append(consent_events.c.number.contains(number_contains, autoescape=True))
    if action:
        conditions.append(consent_events.c.action == action)
    if method:
        conditions.append(consent_events.c.method == method)
    if actor:
        conditions.append(consent_events.c.actor.contains(actor, autoescape=True))
    if since:
        conditions.append(consent_events.c.occurred_at >= since)
    total = conn.execute(select(func.count()).where(*conditions)).scalar_one()
    rows = conn.execute(
        select(consent_events)
        .where(*conditions)
        .order_by(consent_events.c.seq.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    return list(rows), int(total)


def opt_out_events_since(conn: Connection, workspace_id: int, since: datetime) -> list[Row[Any]]:
    """Opt-outs and blocks recorded since `since`: the dashboard's daily chart."""
    return list(
        conn.execute(
            select(consent_events.c.occurred_at, consent_events.c.method, consent_events.c.action)
            .where(
                consent_events.c.workspace_id == workspace_id,
                consent_events.c.action.in_(("opt_out", "block")),
                consent_events.c.occurred_at >= since,
            )
            .order_by(consent_events.c.occurred_at)
        )
    )


def current_counts(conn: Connection, workspace_id: int) -> dict[str, int]:
    opted = conn.execute(
        select(func.count(func.distinct(opt_outs.c.number))).where(
            opt_outs.c.workspace_id == workspace_id
        )
    ).scalar_one()
    blocked = conn.execute(
        select(func.count()).where(blocks.c.workspace_id == workspace_id)
    ).scalar_one()
    return {"opted_out": int(opted), "blocked": int(blocked)}


class CampaignRateRow(NamedTuple):
    id: int
    name: str
    created_at: datetime
    recipients: int
    opted_out: int


def campaign_opt_out_rates(
    conn: Connection, workspace_id: int, *, window_days: int = 7, limit: int = 12
) -> list[CampaignRateRow]:
    """Per recent campaign: numbers it reached, and how many of them opted out soon after.

    "Reached" is a message handed to the provider; "opted out" is an opt-out or block of that
    number after its message was handed over and within `window_days` of the campaign's last
    hand-off. Both are counted once per number.
    """
    recent = conn.execute(
        select(campaigns.c.id, campaigns.c.name, campaigns.c.created_at)
        .where(campaigns.c.workspace_id == workspace_id)
        .order_by(campaigns.c.created_at.desc(), campaigns.c.id.desc())
        .limit(limit)
    ).all()
    return [_opt_out_rate(conn, workspace_id, c, window_days) for c in recent]


def campaign_opt_out_rate(
    conn: Connection, workspace_id: int, campaign_id: int, *, window_days: int = 7
) -> CampaignRateRow | None:
    """One campaign's figures, counted as `campaign_opt_out_rates` counts them."""
    campaign = conn.execute(
        select(campaigns.c.id, campaigns.c.name, campaigns.c.created_at).where(
            campaigns.c.workspace_id == workspace_id, campaigns.c.id == campaign_id
        )
    ).one_or_none()
    return _opt_out_rate(conn, workspace_id, campaign, window_days) if campaign else None


def _opt_out_rate(
    conn: Connection, workspace_id: int, campaign: Any, window_days: int
) -> CampaignRateRow:
    handed = func.coalesce(messages.c.handed_at, messages.c.created_at)
    base = and_(
        messages.c.workspace_id == workspace_id,
        messages.c.campaign_id == campaign.id,
        messages.c.direction == "out",
        messages.c.status.in_(("sent", "delivered")),
    )
    recipients, last = conn.execute(
        select(func.count(func.distinct(messages.c.to_number)), func.max(handed)).where(base)
    ).one()
    opted = 0
    if recipients:
        last_at = last if isinstance(last, datetime) else datetime.fromisoformat(str(last))
        until = last_at + timedelta(days=window_days)
        opted = conn.execute(
            select(func.count(func.distinct(messages.c.to_number))).where(
                base,
                exists().where(
                    consent_events.c.workspace_id == workspace_id,
                    consent_events.c.number == messages.c.to_number,
                    consent_events.c.action.in_(("opt_out", "block")),
                    consent_events.c.occurred_at >= handed,
                    consent_events.c.occurred_at <= until,
                ),
            )
        ).scalar_one()
    return CampaignRateRow(
        int(campaign.id), campaign.name, campaign.created_at, int(recipients), int(opted)
    )


def campaign_recipients(
    conn: Connection,
    workspace_id: int,
    campaign_id: int,
    *,
    status: str | None = None,
    refusal: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[Row[Any]], int]:
    """A campaign's messages, one per recipient, filtered by status or refusal reason."""
    where = [messages.c.workspace_id == workspace_id, messages.c.campaign_id == campaign_id]
    if status:
        where.append(messages.c.status == status)
    if refusal:
        where.append(messages.c.refusal_code == refusal)
    total = conn.execute(select(func.count()).select_from(messages).where(*where)).scalar_one()
    rows = conn.execute(
        select(
            messages.c.id,
            messages.c.to_number,
            messages.c.status,
            messages.c.refusal_code,
            messages.c.error_code,
            messages.c.error_message,
            messages.c.list_id,
            messages.c.handed_at,
            messages.c.updated_at,
        )
        .where(*where)
        .order_by(messages.c.id)
        .limit(limit)
        .offset(offset)
    ).all()
    return list(rows), int(total)
