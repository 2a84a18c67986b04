"""Campaigns: one message to the members of one or more lists, suppressed by set-based SQL.

Creating a campaign stores it and queues a ``campaign`` job. The job expands the audience in
chunks of members (keyset over numbers): for each chunk one INSERT ... SELECT anti-joins the
members against blocks, opt-outs in scope and list opt-outs and stores every recipient as a
message: ``queued`` (or ``scheduled``) for those the gate allows, ``failed`` with the
refusal code for the others, so the campaign report says who was not sent to and why. A
number in several of the lists gets one message (unique (campaign_id, to_number)); a re-run
after a crash only adds what is missing. The messages then go through the ordinary queue,
and `services.hand_off.hand_off` checks each one again: a STOP that lands while the campaign
is sending cancels that number's message (or the hand-off refuses it).

The audience is fixed when the job runs (at creation); a scheduled campaign's messages wait
as ``scheduled`` until its time, and are gated again when they go.

Lists: the lists service (issue 5) is not there yet; `create_list`, `add_members` and
`list_lists` here are the minimum campaigns need, over `store.lists`.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine

from stopline.domain.consent import NumberState, utc
from stopline.domain.errors import Conflict, InvalidInput, NotFound
from stopline.domain.gate import Outbound, RefusalCode, Refuse, decide
from stopline.domain.numbers import normalize
from stopline.domain.send_rules import Category
from stopline.domain.send_time import Verdict
from stopline.services import jobs, send_time
from stopline.services.checks import is_subscribed
from stopline.services.consent import change_memberships, now_utc
from stopline.services.queueing import MAX_BODY, default_channel_id
from stopline.services.workspaces import Principal, get_workspace
from stopline.store import audience, ledger
from stopline.store import campaigns as campaign_store
from stopline.store import channels as channel_store
from stopline.store import lists as list_store
from stopline.store.db import is_sqlite, write

CHUNK = 20_000


@dataclass(frozen=True)
class Campaign:
    id: int
    workspace_id: int
    name: str
    body: str
    channel_id: int
    list_ids: list[int]
    status: str  # queued | expanding | sending | done | canceled
    counts: dict[str, Any]
    created_by: str
    created_at: datetime
    scheduled_at: datetime | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "body": self.body,
            "channel_id": self.channel_id,
            "list_ids": self.list_ids,
            "status": self.status,
            "counts": self.counts,
            "created_by": self.created_by,
            "created_at": self.created_at.isoformat(),
            "scheduled_at": self.scheduled_at.isoformat() if self.scheduled_at else None,
        }


def _campaign(conn: Connection, row: Any, *, live: bool = True) -> Campaign:
    counts = dict(row.counts or {})
    status = row.status
    if live:
        counts.update(campaign_store.campaign_status_counts(conn, row.id))
        if status == "sending" and campaign_store.campaign_pending(conn, row.id) == 0:
            status = "done"
    return Campaign(
        id=int(row.id),
        workspace_id=int(row.workspace_id),
        name=row.name,
        body=row.body,
        channel_id=int(row.channel_id),
        list_ids=[int(i) for i in row.list_ids],
        status=status,
        counts=counts,
        created_by=row.created_by,
        created_at=utc(row.created_at),
        scheduled_at=utc(row.scheduled_at) if row.scheduled_at else None,
    )


def create_campaign(
    conn: Connection,
    principal: Principal,
    *,
    name: str,
    body: str,
    list_ids: Sequence[int],
    channel_id: int | None = None,
    scheduled_at: datetime | None = None,
    now: datetime | None = None,
) -> Campaign:
    """Store a campaign and queue its expansion job; the messages appear as the job runs."""
    now = now or now_utc()
    workspace_id = principal.workspace_id
    name = (name or "").strip()
    if not name or len(name) > 200:
        raise InvalidInput("A campaign needs a name (up to 200 characters).", code="name_required")
    if not isinstance(body, str) or not body.strip():
        raise InvalidInput("A campaign needs a body.", code="body_required")
    if len(body) > MAX_BODY:
        raise InvalidInput(f"A body is at most {MAX_BODY} characters.", code="body_too_long")
    wanted = sorted({int(i) for i in list_ids})
    if not wanted:
        raise InvalidInput("A campaign goes to at least one list.", code="list_required")
    missing = set(wanted) - list_store.existing_list_ids(conn, workspace_id, wanted)
    if missing:
        raise InvalidInput(
            f"No list {', '.join(map(str, sorted(missing)))} in this workspace.",
            code="list_not_found",
        )
    channel = default_channel_id(conn, workspace_id, channel_id)
    when = utc(scheduled_at) if scheduled_at is not None else None
    campaign_id = campaign_store.insert_campaign(
        conn,
        workspace_id=workspace_id,
        name=name,
        body=body,
        channel_id=channel,
        list_ids=wanted,
        status="queued",
        counts={},
        created_by=principal.actor,
        created_at=now,
        scheduled_at=when,
    )
    job = jobs.enqueue(
        conn, workspace_id, "campaign", {"campaign_id": campaign_id}, created_by=principal.actor
    )
    campaign_store.set_campaign(conn, campaign_id, counts={"job_id": job.id})
    return get_campaign(conn, workspace_id, campaign_id)


def get_campaign(conn: Connection, workspace_id: int, campaign_id: int) -> Campaign:
    row = campaign_store.get_campaign(conn, workspace_id, campaign_id)
    if row is None:
        raise NotFound(f"No campaign {campaign_id}.", code="campaign_not_found")
    return _campaign(conn, row)


def list_campaigns(
    conn: Connection, workspace_id: int, *, limit: int = 50, offset: int = 0
) -> list[Campaign]:
    return [
        _campaign(conn, r, live=False)
        for r in campaign_store.list_campaigns(conn, workspace_id, limit=limit, offset=offset)
    ]


def cancel_campaign(
    conn: Connection, principal: Principal, campaign_id: int, *, now: datetime | None = None
) -> Campaign:
    """Stop a campaign: its queued and scheduled messages are cancelled (in-flight ones finish)."""
    campaign = get_campaign(conn, principal.workspace_id, campaign_id)
    if campaign.status in ("done", "canceled"):
        raise Conflict(f"Campaign {campaign_id} is {campaign.status}.", code="campaign_finished")
    campaign_store.set_campaign(conn, campaign_id, status="canceled")
    campaign_store.cancel_campaign_messages(conn, campaign_id, now or now_utc())
    return get_campaign(conn, principal.workspace_id, campaign_id)


def expand(
    engine: Engine,
    workspace_id: int,
    campaign_id: int,
    *,
    chunk: int = CHUNK,
    progress: Any = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Store the campaign's messages, one chunk per transaction; safe to run again."""
    now = now or now_utc()
    with write(engine) as conn:
        row = campaign_store.get_campaign(conn, workspace_id, campaign_id)
        if row is None:
            raise NotFound(f"No campaign {campaign_id}.", code="campaign_not_found")
        if row.status == "canceled":
            return {"campaign_id": campaign_id, "canceled": True}
        channel = channel_store.channel_row(conn, workspace_id, row.channel_id)
        if channel is None:
            raise InvalidInput("The campaign's channel no longer exists.", code="channel_not_found")
        campaign_store.set_campaign(conn, campaign_id, status="expanding")
        policy = get_workspace(conn, workspace_id).policy
    list_ids = [int(i) for i in row.list_ids]
    scheduled_at = utc(row.scheduled_at) if row.scheduled_at else None
    scheduled = scheduled_at is not None and scheduled_at > now
    send_at = scheduled_at if scheduled and scheduled_at is not None else now
    # Each recipient goes as their window opens: planned per area code once, corrected for
    # contacts with their own zone or ZIP code; the hand-off checks every one again.
    waits = send_time.openings(send_time.plan_by_area_code(policy, Category.MARKETING, send_at))
    after: str | None = None
    stored = 0
    while True:
        with write(engine) as conn:
            current = campaign_store.get_campaign(conn, workspace_id, campaign_id)
            if current is None or current.status == "canceled":
                return {"campaign_id": campaign_id, "canceled": True, "stored": stored}
            hi = audience.audience_bounds(conn, workspace_id, list_ids, after, chunk)
            if hi is None:
                break
            stored += campaign_store.expand_campaign_chunk(
                conn,
                campaign_id=campaign_id,
                workspace_id=workspace_id,
                list_ids=list_ids,
                channel_id=channel.id,
                channel_type=channel.type,
                from_address=channel.address,
                body=row.body,
                created_by=row.created_by,
                lo=after,
                hi=hi,
                send_at=send_at,
                scheduled=scheduled,
                now=now,
                openings=waits,
            )
            own = send_time.own_place_changes(
                conn,
                workspace_id,
                policy,
                Category.MARKETING,
                send_at,
                after,
                hi,
                scheduled=scheduled,
            )
            campaign_store.reschedule_campaign_messages(conn, campaign_id, own, now)
            _release_kept_members(
                conn,
                workspace_id,
                campaign_id,
                list_ids,
                channel,
                (after, hi),
                send_at=send_at,
                scheduled=scheduled,
                now=now,
            )
        after = hi
        if progress is not None:
            progress(stored)
    with write(engine) as conn:
        counts = campaign_store.campaign_status_counts(conn, campaign_id)
        total = sum(counts["by_status"].values())
        summary = {"recipients": total, **counts}
        current = campaign_store.get_campaign(conn, workspace_id, campaign_id)
        job_id = (current.counts or {}).get("job_id") if current is not None else None
        final = "canceled" if current is not None and current.status == "canceled" else "sending"
        campaign_store.set_campaign(
            conn, campaign_id, status=final, counts={"job_id": job_id, "recipients": total}
        )
    return {"campaign_id": campaign_id, **summary}


def _release_kept_members(
    conn: Connection,
    workspace_id: int,
    campaign_id: int,
    list_ids: Sequence[int],
    channel: Any,
    bounds: tuple[str | None, str | None],
    *,
    send_at: datetime,
    scheduled: bool,
    now: datetime,
) -> None:
    """The set-based suppression refuses every opted-out member; the few who kept one of the
    campaign's lists past their opt-out (domain/keep_offer.py) go after all, through that
    list. The hand-off checks them again, send-time rules included, like every message."""
    kept = campaign_store.kept_numbers_between(conn, workspace_id, *bounds)
    for number in campaign_store.refused_as_opted_out(conn, campaign_id, kept):
        list_id = kept_list_reaching(conn, workspace_id, number, list_ids, channel)
        if list_id is not None:
            campaign_store.release_kept(
                conn,
                campaign_id,
                number,
                list_id,
                status="scheduled" if scheduled else "queued",
                available_at=send_at,
                scheduled_at=send_at if scheduled else None,
                now=now,
            )


def kept_list_reaching(
    conn: Connection, workspace_id: int, number: str, list_ids: Sequence[int], channel: Any
) -> int | None:
    """For a number the gate refuses as opted out on this channel (what the set-based
    suppression counted it as): the first of `list_ids` it kept past that opt-out and the gate
    lets a message through now (member, not blocked, not left), or None. One state read."""
    state = ledger.load_state(conn, workspace_id, number)
    plain = Outbound(to=number, channel_id=int(channel.id), channel_type=channel.type)
    refusal = decide(plain, state)
    if not isinstance(refusal, Refuse) or refusal.code is not RefusalCode.OPTED_OUT:
        return None
    kept = [i for i in list_ids if any(r.keeps_list(i) for r in state.opt_outs.values())]
    return _first_list_reaching(conn, workspace_id, state, plain, kept)


def _first_list_reaching(
    conn: Connection,
    workspace_id: int,
    state: NumberState,
    plain: Outbound,
    list_ids: Sequence[int],
) -> int | None:
    """The first of `list_ids` through which the gate lets `plain` go to its number now (a
    member of it, not blocked, not left, not opted out outside a list kept), or None."""
    for list_id in sorted(list_ids):
        subscribed = is_subscribed(conn, workspace_id, list_id, plain.to)
        if decide(replace(plain, list_id=list_id), state, subscribed=subscribed).allowed:
            return list_id
    return None


@jobs.handler("campaign")
def _expand_job(engine: Engine, job: jobs.Job, progress: jobs.Progress) -> dict[str, Any]:
    return expand(
        engine,
        job.workspace_id,
        int(job.payload["campaign_id"]),
        progress=lambda done: progress(done),
    )


def preview_audience(
    conn: Connection,
    workspace_id: int,
    *,
    list_ids: Sequence[int],
    channel_id: int | None = None,
    at: datetime | None = None,
) -> dict[str, Any]:
    """Who a campaign to these lists would reach, how many each rule would suppress, and when
    they would go: `send_time` says how many go at once, how many later (and when the last
    goes, by their area code's window) and how many are over a frequency cap now.

    The same suppression query the expansion runs, one area code at a time, counted instead
    of stored (numbers outside the NANP counted together, as going now: the hand-off decides
    them one by one), then corrected, as the expansion is, for members whose contact gives
    their own zone or ZIP code.
    """
    channel = channel_store.channel_row(
        conn, workspace_id, default_channel_id(conn, workspace_id, channel_id)
    )
    assert channel is not None
    when = utc(at) if at is not None else now_utc()
    policy = get_workspace(conn, workspace_id).policy
    plan = send_time.plan_by_area_code(policy, Category.MARKETING, when)
    wanted = sorted({int(i) for i in list_ids})
    totals: dict[str, Any] = {"allowed": 0}
    now_count = later = 0
    waiting: Counter[datetime] = Counter()  # members who go later, by when they go
    for place, counts in _counts_by_place(conn, workspace_id, wanted, channel, plan):
        decision = plan.get(place) if place is not None else None
        for code, count in counts.items():
            key = code or "allowed"
            totals[key] = totals.get(key, 0) + count
            if code is not None:
                continue
            if decision is not None and decision.verdict is Verdict.DEFER and decision.until:
                later += count
                waiting[decision.until] += count
            else:
                now_count += count
    # Opted-out members who kept one of these lists go after all (the expansion's own check).
    for number in campaign_store.kept_numbers_between(conn, workspace_id, None, None):
        if not totals.get("opted_out"):
            break
        if kept_list_reaching(conn, workspace_id, number, wanted, channel) is not None:
            totals["opted_out"] -= 1
            totals["allowed"] += 1
            goes = send_time.area_goes(plan, number)
            if goes is None:
                now_count += 1
            else:
                waiting[goes] += 1
                later += 1
    # Contacts with their own zone or ZIP code go by it, as the expansion sends them.
    for area_time, own_time in _own_place_moves(
        conn, workspace_id, policy, wanted, channel, plan, when
    ):
        if area_time is None:
            now_count -= 1
        else:
            waiting[area_time] -= 1
            later -= 1
        if own_time is None:
            now_count += 1
        else:
            waiting[own_time] += 1
            later += 1
    last = max((t for t, n in waiting.items() if n > 0), default=None)
    capped = send_time.capped_members(conn, workspace_id, policy, wanted, when)
    totals["send_time"] = {
        "at": when.isoformat(),
        "now": now_count,
        "later": later,
        "last_at": last.isoformat() if last is not None else None,
        "capped": capped,
    }
    return totals


def _counts_by_place(
    conn: Connection, workspace_id: int, list_ids: Sequence[int], channel: Any, plan: Any
) -> Iterator[tuple[str | None, dict[str | None, int]]]:
    """The suppression query's counts (refusal -> count) per place ("+1NPA"; None or another
    country's prefix: no send-time plan). PostgreSQL counts everything in one statement
    grouped by place; SQLite one run of area codes that go at the same time at once, skipping
    to the next one present (numbers sort by area code, so each is one index range)."""
    counts = functools.partial(
        audience.audience_counts,
        conn,
        workspace_id=workspace_id,
        list_ids=list_ids,
        channel_id=channel.id,
        channel_type=channel.type,
    )
    if not is_sqlite(conn):
        grouped: dict[str | None, dict[str | None, int]] = {}
        for (key, code), count in counts(by_place=True).items():
            grouped.setdefault(key, {})[code] = count
        yield from grouped.items()
        return
    after: str | None = None
    while (first := audience.next_member(conn, workspace_id, list_ids, after)) is not None:
        lo, hi, place = send_time.place_range(first, after, plan)
        yield place, {code: n for (_none, code), n in counts(lo=lo, hi=hi).items()}
        if hi is None:
            return
        after = hi


def _own_place_moves(
    conn: Connection,
    workspace_id: int,
    policy: Any,
    list_ids: Sequence[int],
    channel: Any,
    plan: Any,
    when: datetime,
) -> list[tuple[datetime | None, datetime | None]]:
    """(when its area code would send, when its own place does) for each member the campaign
    reaches whose contact gives a zone or ZIP code that changes the time."""
    own = send_time.own_place_decisions(
        conn, workspace_id, policy, Category.MARKETING, when, None, None
    )
    moves = []
    for number, decision in own.items():
        before, after = send_time.area_goes(plan, number), send_time.goes_at(decision)
        if before == after:
            continue
        state = ledger.load_state(conn, workspace_id, number)
        plain = Outbound(to=number, channel_id=int(channel.id), channel_type=channel.type)
        if _first_list_reaching(conn, workspace_id, state, plain, list_ids) is not None:
            moves.append((before, after))
    return moves


# --- lists (minimal) ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ListSummary:
    id: int
    name: str
    members: int


def create_list(conn: Connection, principal: Principal, name: str) -> ListSummary:
    name = (name or "").strip()
    if not name or len(name) > 200:
        raise InvalidInput("A list needs a name (up to 200 characters).", code="name_required")
    from sqlalchemy.exc import IntegrityError

    try:
        with conn.begin_nested():
            list_id = list_store.create_list(conn, principal.workspace_id, name, now_utc())
    except IntegrityError:
        raise Conflict(f"There is already a list named {name!r}.", code="list_exists") from None
    return ListSummary(list_id, name, 0)


@dataclass(frozen=True)
class MembersAdded:
    added: int
    already: int
    rejected: list[dict[str, str]]


def add_members(
    conn: Connection, principal: Principal, list_id: int, raw_numbers: Sequence[str]
) -> MembersAdded:
    """Subscribe numbers to a list (normalised to E.164; unreadable ones are reported)."""
    if not list_store.list_exists(conn, principal.workspace_id, list_id):
        raise NotFound(f"No list {list_id}.", code="list_not_found")
    region = get_workspace(conn, principal.workspace_id).policy.default_region
    good: list[str] = []
    rejected: list[dict[str, str]] = []
    for raw in raw_numbers:
        if not str(raw).strip():
            continue
        try:
            good.append(normalize(raw, region))
        except InvalidInput as exc:
            rejected.append({"input": str(raw), "code": exc.code, "message": exc.message})
    unique = sorted(set(good))
    added = change_memberships(
        conn, principal.workspace_id, list_id, unique, subscribe=True, actor=principal.actor
    )
    return MembersAdded(added=len(added), already=len(unique) - len(added), rejected=rejected)


def list_lists(conn: Connection, workspace_id: int) -> list[ListSummary]:
    return [
        ListSummary(int(r.id), r.name, int(r.members))
        for r in list_store.list_lists(conn, workspace_id)
    ]
