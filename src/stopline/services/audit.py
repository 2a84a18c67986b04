"""The audit log as the team reads it: ledger events filtered and paged, newest first."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection

from stopline.domain.consent import ConsentEvent
from stopline.domain.errors import InvalidInput
from stopline.store import ledger, views
from stopline.store.tables import ACTIONS, METHODS


@dataclass(frozen=True)
class EventPage:
    events: list[ConsentEvent]
    total: int


def events(
    conn: Connection,
    workspace_id: int,
    *,
    number: str | None = None,
    action: str | None = None,
    method: str | None = None,
    actor: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> EventPage:
    """Ledger events matching the filters. `number` matches any part of the number's digits."""
    if action and action not in ACTIONS:
        raise InvalidInput(f"Unknown action {action!r}.", code="action_unknown")
    if method and method not in METHODS:
        raise InvalidInput(f"Unknown method {method!r}.", code="method_unknown")
    digits = "".join(ch for ch in number or "" if ch.isdigit())
    if number and not digits:
        raise InvalidInput("Search by number needs digits.", code="search_invalid")
    rows, total = views.events_page(
        conn,
        workspace_id,
        number_contains=digits or None,
        action=action or None,
        method=method or None,
        actor=actor or None,
        limit=limit,
        offset=offset,
    )
    return EventPage([ledger.event_from_row(r) for r in rows], total)
