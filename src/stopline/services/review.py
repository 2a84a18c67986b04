"""The review queue: possible revocations (inbound rule 3) awaiting a person, with their deadline.

A reviewer either honours the request (an opt-out through the consent door, method `manual`,
the reviewer as actor and the recipient's text as reason) or dismisses it. Either way the item
records who resolved it and when; an item can be resolved once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection

from stopline.domain import limits
from stopline.domain.consent import Action, ConsentChange, Method, Scope, utc
from stopline.domain.errors import Conflict, InvalidInput, NotFound
from stopline.domain.revocation import rule_named
from stopline.services.consent import change_consent, now_utc
from stopline.services.workspaces import Principal, get_workspace
from stopline.store import inbound as store
from stopline.store.workspaces import get_channel


class Resolution(StrEnum):
    OPT_OUT = "opt_out"
    DISMISS = "dismiss"


_STATUS_OF = {Resolution.OPT_OUT: "opted_out", Resolution.DISMISS: "dismissed"}
STATUSES = ("pending", "opted_out", "dismissed")


@dataclass(frozen=True)
class ReviewItem:
    id: int
    number: str
    body: str
    phrase: str | None
    deadline: date
    status: str
    channel_id: int | None
    message_id: int | None
    created_at: datetime
    resolved_at: datetime | None
    resolved_by: str | None
    overdue: bool
    resolution_note: str | None = None

    @property
    def rule_why(self) -> str | None:
        """Why the rule that flagged this item is a rule: what a reviewer reads beside it."""
        rule = rule_named(self.phrase)
        return rule.why if rule is not None else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "number": self.number,
            "body": self.body,
            "phrase": self.phrase,
            "rule": self.phrase,  # the rule that flagged it ("stop texting me", "darme de baja")
            "rule_language": getattr(rule_named(self.phrase), "language", None),
            "rule_why": self.rule_why,
            "deadline": self.deadline.isoformat(),
            "status": self.status,
            "channel_id": self.channel_id,
            "message_id": self.message_id,
            "created_at": self.created_at.isoformat(),
            "resolved_at": self.resolved_at.isoformat() if self.resolved_at else None,
            "resolved_by": self.resolved_by,
            "overdue": self.overdue,
            "resolution_note": self.resolution_note,
        }


def _item(row: Any, today: date) -> ReviewItem:
    deadline = row.deadline
    if isinstance(deadline, str):  # raw SQLite text
        deadline = date.fromisoformat(deadline)
    return ReviewItem(
        id=int(row.id),
        number=row.number,
        body=row.body,
        phrase=row.phrase,
        deadline=deadline,
        status=row.status,
        channel_id=row.channel_id,
        message_id=row.message_id,
        created_at=utc(row.created_at),
        resolved_at=utc(row.resolved_at) if row.resolved_at else None,
        resolved_by=row.resolved_by,
        overdue=row.status == "pending" and deadline < today,
        resolution_note=getattr(row, "resolution_note", None),
    )


def list_review_items(
    conn: Connection,
    workspace_id: int,
    *,
    status: str | None = "pending",
    limit: int = 100,
    offset: int = 0,
    today: date | None = None,
) -> tuple[list[ReviewItem], int]:
    """Review items (pending by default), soonest deadline first, and the total that match."""
    if status is not None and status not in STATUSES:
        raise InvalidInput(
            f"Unknown status {status!r}; use one of {', '.join(STATUSES)}.",
            code="review_status_invalid",
        )
    if not 1 <= limit <= 1000 or offset < 0:
        raise InvalidInput("limit must be 1-1000 and offset not negative.", code="page_invalid")
    today = today or now_utc().date()
    rows, total = store.review_items_of(
        conn, workspace_id, status=status, limit=limit, offset=offset
    )
    return [_item(r, today) for r in rows], total


def get_review_item(conn: Connection, workspace_id: int, item_id: int) -> ReviewItem:
    row = store.review_item(conn, workspace_id, item_id)
    if row is None:
        raise NotFound(f"No review item {item_id}.", code="review_item_not_found")
    return _item(row, now_utc().date())


@dataclass(frozen=True)
class ResolveResult:
    item: ReviewItem
    event_seq: int | None  # the opt-out's ledger event, when one was recorded
    canceled_messages: int = 0


def resolve_review_item(
    conn: Connection,
    principal: Principal,
    item_id: int,
    resolution: Resolution | str,
    *,
    note: str | None = None,
    now: datetime | None = None,
) -> ResolveResult:
    """Honour (opt out) or dismiss a possible revocation; any member may (seed 003)."""
    principal.require("member")
    try:
        resolution = Resolution(resolution)
    except ValueError:
        raise InvalidInput(
            "Resolve as 'opt_out' or 'dismiss'.", code="review_resolution_invalid"
        ) from None
    now = now or now_utc()
    workspace_id = principal.workspace_id
    row = store.review_item(conn, workspace_id, item_id)
    if row is None:
        raise NotFound(f"No review item {item_id}.", code="review_item_not_found")
    # Claim the item first: of two reviewers acting at once, exactly one resolves it.
    if not store.resolve_review_item(
        conn,
        workspace_id,
        item_id,
        status=_STATUS_OF[resolution],
        resolved_by=principal.actor,
        now=now,
    ):
        raise Conflict(
            f"Review item {item_id} was already resolved ({row.status}).",
            code="review_item_resolved",
        )
    event_seq: int | None = None
    canceled = 0
    if resolution is Resolution.OPT_OUT:
        policy = get_workspace(conn, workspace_id).policy
        scope, scope_key = Scope(policy.opt_out_scope.value), ""
        if scope is Scope.CHANNEL and row.channel_id is not None:
            scope_key = str(row.channel_id)
        elif scope is Scope.CHANNEL_TYPE and row.channel_id is not None:
            channel = get_channel(conn, workspace_id, row.channel_id)
            scope_key = channel.type if channel is not None else ""
        if not scope_key and scope is not Scope.WORKSPACE:
            scope = Scope.WORKSPACE  # the channel is gone: the safest scope remains
        note = limits.text(note, "reason", label="note")
        # The message itself is kept whole as the event's inbound text; the reason quotes it
        # only as far as the reason's limit leaves room beside the reviewer's note.
        room = limits.limit_of("reason") - len("Review of:  ()") - len(note or "")
        body = row.body if len(row.body) <= room else row.body[: room - 1] + "…"
        reason = f"Review of: {body}" + (f" ({note})" if note else "")
        result = change_consent(
            conn,
            workspace_id,
            ConsentChange(
                number=row.number,
                action=Action.OPT_OUT,
                method=Method.MANUAL,
                scope=scope,
                scope_key=scope_key,
                reason=reason,
                inbound_text=row.body,
                actor=principal.actor,
                channel_id=row.channel_id,
                source="review",
                correlation_id=f"review:{item_id}",
            ),
            policy,
            now=now,
        )
        if result.event is not None:
            event_seq = result.event.seq
        canceled = result.canceled_messages
    item = get_review_item(conn, workspace_id, item_id)
    return ResolveResult(item, event_seq, canceled)


def pending_for_number(
    conn: Connection, workspace_id: int, number: str, today: date | None = None
) -> list[ReviewItem]:
    """The possible revocations of one number still waiting, soonest deadline first."""
    today = today or now_utc().date()
    return [_item(r, today) for r in store.pending_review_for(conn, workspace_id, number)]


def numbers_pending(conn: Connection, workspace_id: int) -> set[str]:
    return store.pending_review_numbers(conn, workspace_id)


def pending_count(conn: Connection, workspace_id: int) -> int:
    _rows, total = store.review_items_of(conn, workspace_id, status="pending", limit=1)
    return total


def overdue_count(conn: Connection, workspace_id: int, today: date | None = None) -> int:
    return store.overdue_count(conn, workspace_id, today or now_utc().date())
