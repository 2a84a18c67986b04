"""The send-time rule table read directly, as the tests' oracle: is this instant inside every
window that covers the category, in every zone the recipient may be in?"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from stopline.domain.recipient_location import Location
from stopline.domain.send_rules import RULES, US_REGIONS, Category


def open_by_table(at: datetime, where: Location, cat: Category) -> bool:
    for name in where.zones:
        local = at.astimezone(ZoneInfo(name))
        for rule in RULES:
            reaches = where.country in US_REGIONS and (
                rule.state is None or rule.state in where.states
            )
            if not reaches or cat not in rule.categories or rule.window is None:
                continue
            if rule.effective is not None and local.date() < rule.effective:
                continue
            hours = rule.window.days[local.weekday()]
            if hours is None or not hours[0] <= local.time() < hours[1]:
                return False
    return True


def cap_for(where: Location, at: datetime) -> int | None:
    """The tightest built-in cap in force for a recipient at `at`."""
    caps = [
        r.cap
        for r in RULES
        if r.cap is not None
        and r.state in where.states
        and (r.effective is None or at.astimezone(ZoneInfo(where.zones[0])).date() >= r.effective)
    ]
    return min(caps) if caps else None
