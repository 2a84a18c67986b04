"""A campaign as its page reports it: progress, who was skipped and why, each recipient's
status, and how many opted out after it reached them. Campaigns themselves (create, preview,
cancel, expansion) live in `services.campaigns`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from stopline.domain.consent import utc
from stopline.domain.gate import RefusalCode
from stopline.services import campaigns
from stopline.services.workspaces import get_workspace
from stopline.store import views

# Every reason a recipient is skipped, in the gate's order, with the words the page uses.
SKIP_REASONS: dict[str, str] = {
    RefusalCode.OPTED_OUT.value: "Opted out",
    RefusalCode.BLOCKED.value: "Blocked",
    RefusalCode.LIST_OPTED_OUT.value: "Opted out of the list",
    RefusalCode.NOT_SUBSCRIBED.value: "Not subscribed",
    RefusalCode.INVALID_NUMBER.value: "Invalid number",
}
RECIPIENT_STATUSES = ("queued", "scheduled", "sending", "sent", "delivered", "failed", "canceled")
LIVE = ("queued", "expanding", "sending")


def audience(
    conn: Connection, workspace_id: int, *, list_ids: list[int], channel_id: int | None
) -> dict[str, int]:
    """The preview: who would get the campaign now, and how many each reason skips (every
    reason listed, zero or not)."""
    counts = campaigns.preview_audience(
        conn, workspace_id, list_ids=list_ids, channel_id=channel_id
    )
    return {"allowed": counts.get("allowed", 0)} | {
        code: counts.get(code, 0) for code in SKIP_REASONS
    }


def is_live(campaign: campaigns.Campaign, now: datetime) -> bool:
    """Whether its page should keep refreshing: being prepared or sent, not waiting for a
    scheduled time."""
    if campaign.status not in LIVE:
        return False
    waiting_for_time = campaign.scheduled_at is not None and campaign.scheduled_at > now
    return not (waiting_for_time and campaign.status == "sending")


@dataclass(frozen=True)
class Progress:
    recipients: int  # messages stored so far (one per member reached or skipped)
    waiting: int  # queued, scheduled or being handed over
    handed: int  # sent or delivered
    delivered: int
    skipped: int  # refused by the gate, at expansion or at hand-off
    failed: int  # failed for another reason (the provider refused)
    canceled: int
    by_status: dict[str, int]
    by_refusal: dict[str, int]

    @property
    def in_flight(self) -> int:
        """Queued or being handed over now (not waiting for a time)."""
        return self.by_status.get("queued", 0) + self.by_status.get("sending", 0)

    @property
    def held(self) -> int:
        """Waiting for a time: the campaign's, or the recipient's sending hours."""
        return self.by_status.get("scheduled", 0)

    @property
    def done_fraction(self) -> float:
        if not self.recipients:
            return 0.0
        return (self.recipients - self.waiting) / self.recipients


def progress(campaign: campaigns.Campaign) -> Progress:
    by_status = {k: int(v) for k, v in (campaign.counts.get("by_status") or {}).items()}
    by_refusal = {k: int(v) for k, v in (campaign.counts.get("by_refusal") or {}).items()}
    skipped = sum(by_refusal.values())
    failed = by_status.get("failed", 0)
    return Progress(
        recipients=sum(by_status.values()),
        waiting=sum(by_status.get(s, 0) for s in ("queued", "scheduled", "sending")),
        handed=by_status.get("sent", 0) + by_status.get("delivered", 0),
        delivered=by_status.get("delivered", 0),
        skipped=skipped,
        failed=max(0, failed - skipped),
        canceled=by_status.get("canceled", 0),
        by_status=by_status,
        by_refusal=by_refusal,
    )


@dataclass(frozen=True)
class OptOutRate:
    reached: int
    opted_out: int
    threshold: float

    @property
    def rate(self) -> float:
        return self.opted_out / self.reached if self.reached else 0.0

    @property
    def warning(self) -> bool:
        return self.reached > 0 and self.rate > self.threshold


def opt_out_rate(conn: Connection, workspace_id: int, campaign_id: int) -> OptOutRate:
    """Numbers the campaign reached, and how many opted out or were blocked soon after (as the
    dashboard counts them)."""
    threshold = get_workspace(conn, workspace_id).policy.opt_out_rate_warning
    row = views.campaign_opt_out_rate(conn, workspace_id, campaign_id)
    if row is None:
        return OptOutRate(0, 0, threshold)
    return OptOutRate(row.recipients, row.opted_out, threshold)


@dataclass(frozen=True)
class Recipient:
    number: str
    status: str
    refusal_code: str | None
    error: str | None
    list_id: int | None
    handed_at: datetime | None
    updated_at: datetime


def recipients(
    conn: Connection,
    workspace_id: int,
    campaign_id: int,
    *,
    status: str | None = None,
    refusal: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[Recipient], int]:
    """The campaign's recipients with their message's status, filtered; and how many match."""
    campaigns.get_campaign(conn, workspace_id, campaign_id)  # 404 for another workspace's
    status = status if status in RECIPIENT_STATUSES else None
    refusal = refusal if refusal in SKIP_REASONS else None
    rows, total = views.campaign_recipients(
        conn,
        workspace_id,
        campaign_id,
        status=status,
        refusal=refusal,
        limit=limit,
        offset=offset,
    )
    return [_recipient(r) for r in rows], total


def _recipient(row: Any) -> Recipient:
    return Recipient(
        number=row.to_number,
        status=row.status,
        refusal_code=row.refusal_code,
        error=row.error_message or row.error_code,
        list_id=row.list_id,
        handed_at=utc(row.handed_at) if row.handed_at else None,
        updated_at=utc(row.updated_at),
    )
