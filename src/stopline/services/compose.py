"""Starting a conversation: a new message to a number or a contact, now or at a set time.

The gate is asked first (`check`) so the person writing sees its answer before sending; the
message is then queued with `enqueue`, which asks again, and the hand-off asks once more when
it goes (the guarantee). Nothing here sends: it only queues.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from stopline.domain.errors import InvalidInput
from stopline.domain.gate import Decision, Refuse
from stopline.domain.segments import SegmentCount, count_segments
from stopline.domain.send_rules import Category
from stopline.domain.send_time import SendTimeDecision, Verdict
from stopline.services import send_time
from stopline.services.checks import check_number
from stopline.services.consent import now_utc
from stopline.services.messages import QueuedMessage
from stopline.services.queueing import enqueue
from stopline.services.workspaces import Principal, get_workspace
from stopline.store import inbox as inbox_store
from stopline.store import workspaces as channel_store

MAX_SCHEDULE_DAYS = 400


CATEGORIES = {
    Category.INFORMATIONAL.value: "Informational (reminder, notice)",
    Category.MARKETING.value: "Marketing (offer, promotion)",
    Category.CONVERSATIONAL.value: "Conversational (answering them)",
}


@dataclass(frozen=True)
class Check:
    """What the gate would answer for this number on this channel, and when the send-time
    rules would let the message go."""

    number: str | None  # E.164, or None when the input is not a number
    decision: Decision | None  # None until there is a number to check
    segments: SegmentCount
    timing: SendTimeDecision | None = None  # None when refused (or no number yet)

    @property
    def refusal(self) -> Refuse | None:
        return self.decision if isinstance(self.decision, Refuse) else None

    @property
    def held_until(self) -> datetime | None:
        """When a deferred message may go, in the recipient's zone; None if it goes at once."""
        if self.timing is None or self.timing.verdict is not Verdict.DEFER:
            return None
        return self.timing.local_until()

    @property
    def time_refused(self) -> bool:
        return self.timing is not None and self.timing.verdict is Verdict.REFUSE


def sendable_channels(conn: Connection, workspace_id: int) -> list[Any]:
    """The channels a new message can go from: every channel not disabled."""
    return [r for r in channel_store.list_channels(conn, workspace_id) if r.disabled_at is None]


def check(
    conn: Connection,
    workspace_id: int,
    *,
    to: str,
    channel_id: int | None,
    body: str = "",
    category: str | None = None,
    at: datetime | None = None,
) -> Check:
    """The gate's answer before sending (consent, then the send-time rules at `at`, default
    now), and what the body costs in segments."""
    segments = count_segments(body or "")
    if not (to or "").strip():
        return Check(None, None, segments)
    policy = get_workspace(conn, workspace_id).policy
    number, decision = check_number(
        conn, workspace_id, to, region=policy.default_region, channel_id=channel_id
    )
    if number is None or isinstance(decision, Refuse):
        return Check(number, decision, segments)
    cat = send_time.parse_category(category, Category.INFORMATIONAL)
    pending = [send_time.Pending(0, number, cat)]
    timing = send_time.decide_batch(conn, workspace_id, policy, pending, at or now_utc())[0]
    return Check(number, decision, segments, timing)


def check_send_time(scheduled_at: datetime, now: datetime) -> None:
    """A time a member chose to send at (a message or a campaign): later than now, and not
    absurdly far (a typo in the year)."""
    if scheduled_at <= now:
        raise InvalidInput(
            "The scheduled time has passed; choose a later one or send now.",
            code="schedule_in_past",
        )
    if (scheduled_at - now).days > MAX_SCHEDULE_DAYS:
        raise InvalidInput(
            f"A time can be at most {MAX_SCHEDULE_DAYS} days ahead.", code="schedule_too_far"
        )


@dataclass(frozen=True)
class Composed:
    message: QueuedMessage
    conversation_id: int | None


def send_new(
    conn: Connection,
    principal: Principal,
    *,
    to: str,
    channel_id: int | None,
    body: str,
    scheduled_at: datetime | None = None,
    category: str | None = None,
    now: datetime | None = None,
) -> Composed:
    """Queue a new message from a member. A refusal is returned on the message (status
    ``failed`` with its ``refusal_code``), as for replies; malformed input raises."""
    now = now or now_utc()
    if channel_id is None:
        raise InvalidInput("Choose the channel to send from.", code="channel_required")
    if not (to or "").strip():
        raise InvalidInput("Say who the message is to.", code="to_required")
    if scheduled_at is not None:
        check_send_time(scheduled_at, now)
    message = enqueue(
        conn,
        principal.workspace_id,
        channel_id=channel_id,
        to=to,
        body=body,
        source="inbox",
        sent_by=principal.actor,
        scheduled_at=scheduled_at,
        category=category or Category.INFORMATIONAL.value,
        now=now,
    )
    conversation_id = None
    if message.refusal_code != "invalid_number":
        conversation_id = inbox_store.conversation_id_for(
            conn, principal.workspace_id, channel_id, message.to
        )
    return Composed(message, conversation_id)
