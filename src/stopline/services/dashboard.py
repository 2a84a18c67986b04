"""The dashboard's figures: opt-outs per day by method, and each campaign's opt-out rate."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import Connection

from stopline.domain.consent import utc
from stopline.services.consent import now_utc
from stopline.services.workspaces import get_workspace
from stopline.store import views

METHODS = ("reply", "manual", "link", "import", "api", "carrier")


@dataclass(frozen=True)
class DailyOptOuts:
    days: list[date]
    by_method: dict[str, list[int]]  # method -> count per day, aligned with `days`

    @property
    def total(self) -> int:
        return sum(sum(v) for v in self.by_method.values())

    @property
    def peak(self) -> int:
        return max((sum(col) for col in zip(*self.by_method.values(), strict=True)), default=0)


@dataclass(frozen=True)
class CampaignRate:
    id: int
    name: str
    created_at: datetime
    recipients: int
    opted_out: int
    warning: bool

    @property
    def rate(self) -> float:
        return self.opted_out / self.recipients if self.recipients else 0.0


@dataclass(frozen=True)
class Dashboard:
    daily: DailyOptOuts
    campaigns: list[CampaignRate]
    threshold: float
    opted_out_now: int
    blocked_now: int


def opt_outs_per_day(
    conn: Connection, workspace_id: int, *, days: int = 30, today: date | None = None
) -> DailyOptOuts:
    today = today or now_utc().date()
    first = today - timedelta(days=days - 1)
    since = datetime(first.year, first.month, first.day, tzinfo=now_utc().tzinfo)
    span = [first + timedelta(days=i) for i in range(days)]
    index = {d: i for i, d in enumerate(span)}
    counts = {m: [0] * days for m in METHODS}
    for row in views.opt_out_events_since(conn, workspace_id, since):
        day = utc(row.occurred_at).date()
        if day in index and row.method in counts:
            counts[row.method][index[day]] += 1
    return DailyOptOuts(span, counts)


def campaign_rates(
    conn: Connection, workspace_id: int, threshold: float, *, window_days: int = 7, limit: int = 12
) -> list[CampaignRate]:
    """Opt-outs recorded within `window_days` after a campaign message reached the number."""
    out = []
    for row in views.campaign_opt_out_rates(
        conn, workspace_id, window_days=window_days, limit=limit
    ):
        recipients = int(row.recipients or 0)
        opted = int(row.opted_out or 0)
        rate = opted / recipients if recipients else 0.0
        out.append(
            CampaignRate(
                id=int(row.id),
                name=row.name,
                created_at=utc(row.created_at),
                recipients=recipients,
                opted_out=opted,
                warning=recipients > 0 and rate > threshold,
            )
        )
    return out


def dashboard(conn: Connection, workspace_id: int, *, days: int = 30) -> Dashboard:
    policy = get_workspace(conn, workspace_id).policy
    counts = views.current_counts(conn, workspace_id)
    return Dashboard(
        daily=opt_outs_per_day(conn, workspace_id, days=days),
        campaigns=campaign_rates(conn, workspace_id, policy.opt_out_rate_warning),
        threshold=policy.opt_out_rate_warning,
        opted_out_now=counts["opted_out"],
        blocked_now=counts["blocked"],
    )
