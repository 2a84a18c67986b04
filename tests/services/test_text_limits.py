"""Hole 6: every text a person or an app stores has a documented bound (`domain/limits.py`).

One character past the limit is refused with a clear error (HTTP 422, one CLI line) and
nothing is stored; exactly the limit is accepted. Before, a 140,000-character (or 5 MB) opt-out
reason was accepted and then broke every export.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa

from stopline.domain.errors import InvalidInput
from stopline.domain.limits import LIMITS
from stopline.services import consent_api, contacts, lists, optouts, workspaces
from stopline.store import ledger
from stopline.store.db import read, write
from tests.manage import admin, member, numbers, set_policy


def _head(engine: sa.Engine, ws_id: int) -> tuple[int, str] | None:
    with read(engine) as conn:
        return ledger.read_head(conn, ws_id)


def _opt_out(reason: str) -> Callable[[Any, Any], Any]:
    return lambda conn, ws: optouts.add_opt_out(conn, member(ws), numbers(1)[0], reason=reason)


def _block(reason: str) -> Callable[[Any, Any], Any]:
    return lambda conn, ws: optouts.block(conn, member(ws), numbers(1)[0], reason=reason)


def _list_opt_out(reason: str) -> Callable[[Any, Any], Any]:
    def run(conn: Any, ws: Any) -> Any:
        made = lists.create_list(conn, member(ws), name="L")
        return lists.opt_out(conn, member(ws), made.id, numbers(1)[0], reason=reason)

    return run


def _setting(key: str, value: Any) -> Callable[[Any, Any], Any]:
    return lambda conn, ws: workspaces.update_settings(conn, admin(ws), {key: value})


def _contact_name(name: str) -> Callable[[Any, Any], Any]:
    return lambda conn, ws: contacts.create_contact(conn, member(ws), name=name)


def _help(text: str) -> Callable[[Any, Any], Any]:
    return lambda conn, ws: lists.create_list(conn, member(ws), name="H", help_text=text)


CASES: dict[str, tuple[int, Callable[[str], Callable[[Any, Any], Any]]]] = {
    "opt-out reason": (LIMITS["reason"], _opt_out),
    "block reason": (LIMITS["reason"], _block),
    "list opt-out reason": (LIMITS["reason"], _list_opt_out),
    "brand name": (LIMITS["setting"], lambda t: _setting("brand_name", t)),
    "disclosure": (LIMITS["reply_text"], lambda t: _setting("disclosure_text", t)),
    "confirmation": (
        LIMITS["reply_text"],
        lambda t: _setting("confirmations", {"en": {"opt_out": t}}),
    ),
    "contact name": (LIMITS["name"], _contact_name),
    "list help text": (LIMITS["help_text"], _help),
}


@pytest.mark.parametrize("field", sorted(CASES))
def test_one_character_over_a_limit_is_refused_and_nothing_is_stored(engine, ws, field) -> None:
    limit, action = CASES[field]
    before = _head(engine, ws.id)
    with pytest.raises(InvalidInput), write(engine) as conn:
        action("y" * (limit + 1))(conn, ws)
    assert _head(engine, ws.id) == before
    with write(engine) as conn:  # exactly the limit is fine
        action("y" * limit)(conn, ws)


def test_a_consent_note_over_its_limit_is_refused(engine, ws) -> None:
    number = numbers(1)[0]
    set_policy(engine, ws, resubscribe_policy="with_consent_note")
    with write(engine) as conn:
        optouts.add_opt_out(conn, member(ws), number)
    before = _head(engine, ws.id)
    with pytest.raises(InvalidInput) as refused, write(engine) as conn:
        optouts.remove_opt_out(
            conn, admin(ws), number, consent_note="n" * (LIMITS["consent_note"] + 1)
        )
    assert refused.value.code == "text_too_long" and refused.value.detail["limit"] == 500
    assert _head(engine, ws.id) == before


def test_the_consent_api_refuses_a_long_reason_per_record(engine, ws) -> None:
    good, bad = numbers(2)
    items = [
        {"contact_id": n, "correlation_id": f"c{i}", "status": "opt-out", "source": "website"}
        for i, n in enumerate((good, bad))
    ]
    items[1]["reason"] = "r" * (LIMITS["reason"] + 1)
    with write(engine) as conn:
        results = consent_api.upsert(conn, admin(ws), items)
    assert [r.success for r in results] == [True, False]
    assert results[1].error_code == "INVALID_REASON"
