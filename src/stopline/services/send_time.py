"""Send-time rules as a use case: where recipients are, what they were sent lately, the
decision for a batch of messages (the hand-off) and the plan of a campaign. One message
(queueing, `stopline check --at`, the consent API, the contact page) is decided with its
consent in one round trip by `services.checks.check_outbound_at`."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection

from stopline.domain.policy import Policy
from stopline.domain.recipient_location import (
    Location,
    area_code_location,
    contact_location,
    number_location,
)
from stopline.domain.send_rules import RULES, Category, category
from stopline.domain.send_time import (
    CAP_PERIOD,
    HoldReason,
    SendTimeDecision,
    SendTimeRules,
    Verdict,
    decide_send_time,
)
from stopline.store import send_time as store

# Categories some rule may cap, per workspace policy: the only ones whose history is read.
_BUILT_IN_CAPPED = frozenset(c for r in RULES if r.cap is not None for c in r.categories)


def capped_categories(policy: Policy) -> frozenset[Category]:
    return _capped(policy.send_time_rules)


@functools.lru_cache(maxsize=256)
def _capped(rules: SendTimeRules) -> frozenset[Category]:
    return _BUILT_IN_CAPPED | {c for c, _ in rules.caps if c not in rules.exempt}


def locate(conn: Connection, workspace_id: int, numbers: Iterable[str]) -> dict[str, Location]:
    """Each number's location: its area code's, unless its contact gives a zone or ZIP code."""
    wanted = set(numbers)
    places = store.contact_places(conn, workspace_id, wanted)
    found: dict[str, Location] = {}
    for number in wanted:
        base = number_location(number)
        place = places.get(number)
        found[number] = (
            base
            if place is None
            else contact_location(base, time_zone=place[0], postal_code=place[1])
        )
    return found


@dataclass(frozen=True)
class Pending:
    """One message about to be decided."""

    key: int  # the caller's id for it
    number: str
    category: Category
    confirmation: bool = False


def decide_batch(
    conn: Connection,
    workspace_id: int,
    policy: Policy,
    pending: Sequence[Pending],
    at: datetime,
    *,
    lock: bool = False,
) -> dict[int, SendTimeDecision]:
    """Decide many messages of one workspace at `at`, in order: a message allowed here counts
    toward the caps of the ones after it. With `lock`, recipients of capped messages are
    locked first (the hand-off), so two workers cannot both send the cap's last message."""
    if not pending:
        return {}
    at = at.astimezone(UTC)
    rules = policy.send_time_rules
    capped = capped_categories(policy)
    places = locate(conn, workspace_id, {p.number for p in pending})
    capped_numbers = {p.number for p in pending if p.category in capped and not p.confirmation}
    history: dict[tuple[str, str], list[datetime]] = {}
    if capped_numbers:
        if lock:
            store.lock_recipients(conn, workspace_id, capped_numbers)
        history = store.recent_hand_offs(
            conn, workspace_id, capped_numbers, sorted(c.value for c in capped), at - CAP_PERIOD
        )
    out: dict[int, SendTimeDecision] = {}
    for item in pending:
        sent = history.get((item.number, item.category.value), [])
        decision = decide_send_time(
            item.category, places[item.number], rules, at, sent, confirmation=item.confirmation
        )
        out[item.key] = decision
        if decision.allowed and item.category in capped:
            history.setdefault((item.number, item.category.value), []).append(at)
    return out


def reply_category(conn: Connection, conversation_id: int, now: datetime) -> Category:
    """An inbox reply is conversational if the recipient wrote in the last 24 hours, else
    informational."""
    if store.wrote_since(conn, conversation_id, now - timedelta(hours=24)):
        return Category.CONVERSATIONAL
    return Category.INFORMATIONAL


def parse_category(value: str | Category | None, default: Category) -> Category:
    return default if value is None or value == "" else category(value)


# Every NANP area code's place key; planning decides each once per campaign, not per member.
AREA_CODES = tuple(str(npa) for npa in range(200, 1000))


def plan_by_area_code(policy: Policy, cat: Category, at: datetime) -> dict[str, SendTimeDecision]:
    """ "+1NPA" -> the send-time decision for a message of `cat` at `at` (caps aside: they
    depend on each recipient's history and are the hand-off's)."""
    rules = policy.send_time_rules
    return {
        f"+1{npa}": decide_send_time(cat, area_code_location(npa), rules, at) for npa in AREA_CODES
    }


def place_range(
    first: str, after: str | None, plan: Mapping[str, SendTimeDecision]
) -> tuple[str | None, str | None, str | None]:
    """The (lo, hi] number range counted together with `first` (the next number after
    `after`) and its place: a run of consecutive NANP area codes whose messages would all go
    at the same time (keyed by its first, "+1NPA"), or None for the numbers sorting before or
    after every area code (other countries), counted as one range each."""
    if first < "+1200":
        return after, "+1200", None
    if first > "+1999~":
        return after, None, None
    place = first[:5]
    when = goes_at(plan.get(place))
    npa = int(place[2:])
    while npa < 999 and goes_at(plan.get(f"+1{npa + 1}")) == when:
        npa += 1
    return place, f"+1{npa}~", place


def goes_at(decision: SendTimeDecision | None) -> datetime | None:
    """When a message so decided may go: None at once, else the deferral's end."""
    if decision is None or decision.verdict is not Verdict.DEFER:
        return None
    return decision.until


def openings(plan: Mapping[str, SendTimeDecision]) -> list[tuple[str, datetime]]:
    """The area codes whose members must wait, and until when."""
    return sorted(
        (key, d.until) for key, d in plan.items() if d.verdict is Verdict.DEFER and d.until
    )


def own_place_decisions(
    conn: Connection,
    workspace_id: int,
    policy: Policy,
    cat: Category,
    at: datetime,
    lo: str | None,
    hi: str | None,
) -> dict[str, SendTimeDecision]:
    """The send-time decision for each number in `lo < number <= hi` whose contact gives a
    zone or ZIP code (which wins over the area code's)."""
    decisions = {}
    for number, (zone, postal) in store.contact_places_between(conn, workspace_id, lo, hi).items():
        where = contact_location(number_location(number), time_zone=zone, postal_code=postal)
        decisions[number] = decide_send_time(cat, where, policy.send_time_rules, at)
    return decisions


def area_goes(plan: Mapping[str, SendTimeDecision], number: str) -> datetime | None:
    """When a number's area code plan lets a message go (None: at once; other countries too)."""
    return goes_at(plan.get(number[:5])) if number.startswith("+1") else None


def own_place_changes(
    conn: Connection,
    workspace_id: int,
    policy: Policy,
    cat: Category,
    at: datetime,
    lo: str | None,
    hi: str | None,
    *,
    scheduled: bool,
) -> list[dict[str, object]]:
    """For members in `lo < number <= hi` whose contact gives a zone or ZIP code: their own
    status and time (a campaign chunk planned by area code is corrected for them)."""
    changes: list[dict[str, object]] = []
    own = own_place_decisions(conn, workspace_id, policy, cat, at, lo, hi)
    for number, decision in own.items():
        waits = decision.verdict is Verdict.DEFER and decision.until is not None
        changes.append(
            {
                "number": number,
                "status": "scheduled" if waits or scheduled else "queued",
                "available_at": decision.until if waits else at,
                "hold_reason": decision.reason.value if waits and decision.reason else None,
            }
        )
    return changes


def capped_members(
    conn: Connection, workspace_id: int, policy: Policy, list_ids: Sequence[int], at: datetime
) -> int:
    """How many of the lists' members already had as many marketing messages in the 24 hours
    before `at` as the tightest cap on them allows (a campaign now would wait or be refused)."""
    since = at - CAP_PERIOD
    rules = policy.send_time_rules
    count = 0
    for number, sent in store.recent_counts_in_lists(
        conn, workspace_id, list_ids, Category.MARKETING.value, since
    ):
        decision = decide_send_time(
            Category.MARKETING,
            number_location(number),
            rules,
            at,
            [at - timedelta(seconds=1)] * int(sent),
        )
        if decision.reason is HoldReason.FREQUENCY_CAP:
            count += 1
    return count
