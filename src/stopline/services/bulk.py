"""Bulk unsubscribe (seed 002): filter contacts, review the audience, confirm, opt them all out.

`preview` counts the audience and shows a sample, and returns a confirmation token signed with
the server's keyring. The token carries the filter and a hash of the workspace, the filter and
the exact sorted numbers it reached, and expires after `TOKEN_TTL`. `confirm` re-runs the
filter inside its write transaction and refuses the token if the audience is no longer exactly
the one reviewed (a contact or number was added, removed or moved) or the token is expired,
forged or from another workspace. Then every number gets one workspace-wide opt-out event
(method `manual`, the confirming member as actor) through `bulk_opt_out`; numbers already
opted out or blocked keep their record.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection

from stopline.domain import limits
from stopline.domain.consent import Method
from stopline.domain.errors import Conflict, Forbidden, InvalidInput
from stopline.security import Keyring
from stopline.services.consent import bulk_opt_out
from stopline.services.contacts import Contact, ContactFilter, list_contacts
from stopline.services.workspaces import Principal
from stopline.store import contacts as contact_store
from stopline.store import ledger

PURPOSE = "bulk_unsubscribe"
TOKEN_TTL = 30 * 60  # seconds: a review is acted on now, not tomorrow
SAMPLE = 10
MAX_AUDIENCE = 100_000  # numbers; larger opt-outs are an import, with a file to show for it
MAX_REASON = limits.limit_of("reason")


@dataclass(frozen=True)
class Preview:
    contacts: int
    numbers: int
    already_opted_out: int
    sample: list[Contact]
    token: str
    expires_at: datetime

    def as_dict(self) -> dict[str, Any]:
        return {
            "contacts": self.contacts,
            "numbers": self.numbers,
            "already_opted_out": self.already_opted_out,
            "to_opt_out": self.numbers - self.already_opted_out,
            "sample": [c.as_dict() for c in self.sample],
            "token": self.token,
            "expires_at": self.expires_at.isoformat(),
        }


@dataclass(frozen=True)
class Outcome:
    opted_out: list[str]
    already: list[str]

    def as_dict(self) -> dict[str, Any]:
        return {
            "opted_out": len(self.opted_out),
            "already_opted_out": len(self.already),
            "numbers": self.opted_out,
        }


def _audience(conn: Connection, workspace_id: int, flt: ContactFilter) -> list[str]:
    numbers = contact_store.matching_numbers(conn, workspace_id, flt.conditions(workspace_id))
    if len(numbers) > MAX_AUDIENCE:
        raise InvalidInput(
            f"The filter reaches {len(numbers):,} numbers; narrow it to at most "
            f"{MAX_AUDIENCE:,}, or import the numbers as a file.",
            code="audience_too_large",
        )
    return numbers


def audience_hash(workspace_id: int, flt: ContactFilter, numbers: list[str]) -> str:
    canonical = json.dumps(
        [workspace_id, flt.as_dict(), numbers], separators=(",", ":"), sort_keys=True
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def preview(
    conn: Connection, keyring: Keyring, principal: Principal, flt: ContactFilter
) -> Preview:
    """Who a bulk unsubscribe would reach, and a token bound to exactly that audience."""
    principal.require("member")
    numbers = _audience(conn, principal.workspace_id, flt)
    conditions = flt.conditions(principal.workspace_id)
    sample, contacts = contact_store.find_contacts(conn, conditions, limit=SAMPLE)
    if len(numbers) > ledger.STAGE_THRESHOLD:
        already = ledger.numbers_with_workspace_opt_out_staged(
            conn, principal.workspace_id, numbers
        )
    else:
        already = ledger.numbers_with_workspace_opt_out(conn, principal.workspace_id, numbers)
    token = keyring.sign(
        PURPOSE,
        {
            "w": principal.workspace_id,
            "f": flt.as_dict(),
            "h": audience_hash(principal.workspace_id, flt, numbers),
            "n": len(numbers),
        },
        ttl_seconds=TOKEN_TTL,
    )
    sample_contacts, _ = (
        list_contacts(
            conn, principal.workspace_id, ContactFilter(ids=tuple(int(r.id) for r in sample))
        )
        if sample
        else ([], 0)
    )
    return Preview(
        contacts=contacts,
        numbers=len(numbers),
        already_opted_out=len(already),
        sample=sample_contacts,
        token=token,
        expires_at=datetime.fromtimestamp(int(time.time()) + TOKEN_TTL, UTC),
    )


def confirm(
    conn: Connection,
    keyring: Keyring,
    principal: Principal,
    token: str,
    *,
    reason: str | None = None,
) -> Outcome:
    """Opt the reviewed audience out, if it is still exactly what was reviewed."""
    principal.require("member")
    try:
        claims = keyring.unsign(PURPOSE, token)
    except Forbidden as exc:
        code = "bulk_token_expired" if exc.code == "expired" else "bulk_token_invalid"
        message = (
            "This review has expired; review the audience again."
            if code == "bulk_token_expired"
            else "This confirmation is not valid; review the audience again."
        )
        raise Forbidden(message, code=code) from None
    if claims.get("w") != principal.workspace_id:
        raise Forbidden(
            "This confirmation belongs to another workspace.", code="bulk_token_invalid"
        )
    flt = ContactFilter.from_dict(claims.get("f"))
    numbers = _audience(conn, principal.workspace_id, flt)
    if audience_hash(principal.workspace_id, flt, numbers) != claims.get("h"):
        raise Conflict(
            "The audience changed since it was reviewed; review it again before confirming.",
            code="bulk_audience_changed",
            reviewed=claims.get("n"),
            now=len(numbers),
        )
    if not numbers:
        raise InvalidInput("No contact in the audience has a number.", code="audience_empty")
    reason = (reason or "").strip() or "Bulk unsubscribe"
    if len(reason) > MAX_REASON:
        raise InvalidInput(
            f"The reason is at most {MAX_REASON} characters.", code="reason_too_long"
        )
    result = bulk_opt_out(
        conn,
        principal.workspace_id,
        numbers,
        method=Method.MANUAL,
        reason=reason,
        actor=principal.actor,
        source="bulk unsubscribe",
    )
    return Outcome(opted_out=result.added, already=result.skipped)
