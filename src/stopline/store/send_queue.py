"""SQL of the send queue: workers claim due messages, the hand-off locks them, reads the
numbers' consent in one batch and records each outcome.

Workers claim rows with a lease (PostgreSQL: `FOR UPDATE SKIP LOCKED`, so workers never wait
on each other; SQLite: the IMMEDIATE write transaction is the lock) and the hand-off locks
each claimed row again (`FOR UPDATE OF messages`) while it re-checks consent and delivers, so
an opt-out that cancels the row waits for it (see `stopline.services.hand_off`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Connection,
    Integer,
    String,
    bindparam,
    func,
    select,
    text,
    update,
)
from sqlalchemy.engine import Row

from stopline.domain.consent import NumberState
from stopline.store.db import among, is_sqlite
from stopline.store.ledger import STATE_SQL, state_from_rows
from stopline.store.tables import (
    channels,
    list_members,
    messages,
    workspaces,
)

_CLAIM_COLUMNS = (
    messages.c.id,
    messages.c.workspace_id,
    messages.c.channel_id,
    messages.c.attempts,
)


def claim_messages(
    conn: Connection, owner: str, now: datetime, lease: timedelta, limit: int
) -> list[Row[Any]]:
    """Claim up to `limit` due messages for `owner`: set `sending` with a lease.

    Due: queued or scheduled with `available_at <= now`, or `sending` whose lease expired
    (its worker died). Each kind is its own indexed query so a million queued rows are never
    sorted. PostgreSQL: one statement with SKIP LOCKED (`_PG_CLAIM`); SQLite: the IMMEDIATE
    transaction already makes this exclusive.
    """
    if not is_sqlite(conn):
        rows = conn.execute(
            _PG_CLAIM,
            {"now": now, "n": limit, "owner": owner, "until": now + lease},
        ).all()
        return sorted(rows, key=lambda r: r.id)
    ids: list[int] = []
    # Dead workers' claims first, then due scheduled sends, then the queue: a flood of queued
    # messages never starves the other two.
    candidates = [
        (messages.c.status == "sending") & (messages.c.lease_until < now),
        (messages.c.status == "scheduled") & (messages.c.available_at <= now),
        (messages.c.status == "queued") & (messages.c.available_at <= now),
    ]
    for condition in candidates:
        want = limit - len(ids)
        if want <= 0:
            break
        query = (
            select(messages.c.id)
            .where(condition, messages.c.direction == "out")
            .order_by(messages.c.status, messages.c.available_at)
            .limit(want)
        )
        ids.extend(int(i) for i in conn.execute(query).scalars())
    if not ids:
        return []
    conn.execute(
        update(messages)
        .where(among(conn, messages.c.id, ids))
        .values(
            status="sending",
            lease_owner=owner,
            lease_until=now + lease,
            attempts=messages.c.attempts + 1,
            updated_at=now,
        )
    )
    return list(
        conn.execute(
            select(*_CLAIM_COLUMNS).where(among(conn, messages.c.id, ids)).order_by(messages.c.id)
        )
    )


# The same claim on PostgreSQL in one statement: SKIP LOCKED, so concurrent workers take
# disjoint rows without waiting for each other.
_PG_CLAIM = text(
    """
WITH expired AS (
    SELECT id FROM messages
     WHERE status = 'sending' AND lease_until < :now AND direction = 'out'
     ORDER BY status, available_at LIMIT :n FOR UPDATE SKIP LOCKED
), due AS (
    SELECT id FROM messages
     WHERE status = 'scheduled' AND available_at <= :now AND direction = 'out'
     ORDER BY status, available_at LIMIT :n FOR UPDATE SKIP LOCKED
), queued AS (
    SELECT id FROM messages
     WHERE status = 'queued' AND available_at <= :now AND direction = 'out'
     ORDER BY status, available_at LIMIT :n FOR UPDATE SKIP LOCKED
), picked AS (
    SELECT id FROM (
        SELECT id, 0 AS k FROM expired
        UNION ALL SELECT id, 1 FROM due
        UNION ALL SELECT id, 2 FROM queued
    ) AS c ORDER BY k LIMIT :n
)
UPDATE messages AS m
   SET status = 'sending', lease_owner = :owner, lease_until = :until,
       attempts = m.attempts + 1, updated_at = :now
  FROM picked WHERE m.id = picked.id
RETURNING m.id, m.workspace_id, m.channel_id, m.attempts
"""
)


def lock_for_hand_off(
    conn: Connection, ids: Sequence[int], owner: str, *, provider: str | None = None
) -> list[Row[Any]]:
    """Lock the claimed messages still owned by `owner`, with their channel, in id order
    (only those of channels of `provider`, if given).

    PostgreSQL: `FOR UPDATE OF messages` (channels stay unlocked); a row an opt-out already
    cancelled, or another worker reclaimed after our lease expired, is not returned.
    """
    query = (
        select(
            messages,
            channels.c.provider.label("channel_provider"),
            channels.c.address.label("channel_address"),
            channels.c.type.label("channel_type"),
            channels.c.credentials.label("channel_credentials"),
            channels.c.base_url.label("channel_base_url"),
            workspaces.c.settings.label("workspace_settings"),
        )
        .select_from(
            messages.outerjoin(channels, channels.c.id == messages.c.channel_id).join(
                workspaces, workspaces.c.id == messages.c.workspace_id
            )
        )
        .where(
            among(conn, messages.c.id, ids),
            messages.c.status == "sending",
            messages.c.lease_owner == owner,
        )
        .order_by(messages.c.id)
    )
    if provider is not None:
        query = query.where(channels.c.provider == provider)
    if not is_sqlite(conn):
        query = query.with_for_update(of=messages)
    return list(conn.execute(query))


_OUTCOME: dict[str, Any] = {
    "status": bindparam("o_status"),
    "refusal_code": bindparam("o_refusal_code"),
    "error_code": bindparam("o_error_code"),
    "error_message": bindparam("o_error_message"),
    "provider": bindparam("o_provider"),
    "provider_message_id": bindparam("o_provider_message_id"),
    "body": bindparam("o_body"),
    "available_at": bindparam("o_available_at"),
    "handed_at": bindparam("o_handed_at"),
    # Kept as they were unless given: why a message waited, its decision, its attempt count.
    "hold_reason": func.coalesce(bindparam("o_hold_reason", type_=String), messages.c.hold_reason),
    "send_decision": func.coalesce(
        bindparam("o_send_decision", type_=String), messages.c.send_decision
    ),
    "attempts": func.coalesce(bindparam("o_attempts", type_=Integer), messages.c.attempts),
    "lease_owner": None,
    "lease_until": None,
    "updated_at": bindparam("o_updated_at"),
}


def outcome(
    message_id: int,
    status: str,
    now: datetime,
    *,
    body: str,
    refusal_code: str | None = None,
    error_code: str | None = None,
    error_message: str | None = None,
    provider: str | None = None,
    provider_message_id: str | None = None,
    available_at: datetime | None = None,
    handed_at: datetime | None = None,
    hold_reason: str | None = None,
    send_decision: Mapping[str, Any] | None = None,
    attempts: int | None = None,
) -> dict[str, Any]:
    """One message's outcome for `record_outcomes`; None leaves hold_reason, send_decision and
    attempts as they are."""
    return {
        "o_id": message_id,
        "o_status": status,
        "o_refusal_code": refusal_code,
        "o_error_code": error_code,
        "o_error_message": error_message,
        "o_provider": provider,
        "o_provider_message_id": provider_message_id,
        "o_body": body,
        "o_available_at": available_at,
        "o_handed_at": handed_at,
        "o_updated_at": now,
        "o_hold_reason": hold_reason,
        "o_send_decision": json.dumps(send_decision) if send_decision is not None else None,
        "o_attempts": attempts,
    }


def with_decision(values: dict[str, Any], decision: Mapping[str, Any]) -> dict[str, Any]:
    """An outcome that also records the send-time decision it was handed over under."""
    values["o_send_decision"] = json.dumps(decision)
    return values


_PG_OUTCOMES = text(
    """
UPDATE messages AS m
   SET status = v.status, refusal_code = v.refusal_code, error_code = v.error_code,
       error_message = v.error_message, provider = v.provider,
       provider_message_id = v.provider_message_id, body = v.body,
       available_at = v.available_at, handed_at = v.handed_at, updated_at = v.updated_at,
       hold_reason = COALESCE(v.hold_reason, m.hold_reason),
       send_decision = COALESCE(CAST(v.send_decision AS json), m.send_decision),
       attempts = COALESCE(v.attempts, m.attempts),
       lease_owner = NULL, lease_until = NULL
  FROM unnest(CAST(:ids AS bigint[]), CAST(:status AS text[]), CAST(:refusal_code AS text[]),
              CAST(:error_code AS text[]), CAST(:error_message AS text[]),
              CAST(:provider AS text[]), CAST(:provider_message_id AS text[]),
              CAST(:body AS text[]), CAST(:available_at AS timestamptz[]),
              CAST(:handed_at AS timestamptz[]), CAST(:updated_at AS timestamptz[]),
              CAST(:hold_reason AS text[]), CAST(:send_decision AS text[]),
              CAST(:attempts AS integer[]))
       AS v(id, status, refusal_code, error_code, error_message, provider,
            provider_message_id, body, available_at, handed_at, updated_at,
            hold_reason, send_decision, attempts)
 WHERE m.id = v.id
"""
)


def record_outcomes(conn: Connection, outcomes: Sequence[Mapping[str, Any]]) -> None:
    """Write each hand-off's result (keys: id and the `o_` fields above).

    PostgreSQL: one UPDATE joined to arrays (one statement for the batch, not one per row);
    SQLite: an executemany, which costs no round trips in-process.
    """
    if not outcomes:
        return
    if is_sqlite(conn):
        stmt = update(messages).where(messages.c.id == bindparam("o_id")).values(**_OUTCOME)
        conn.execute(stmt, [dict(o) for o in outcomes])
        return
    columns = [
        "status",
        "refusal_code",
        "error_code",
        "error_message",
        "provider",
        "provider_message_id",
        "body",
        "available_at",
        "handed_at",
        "updated_at",
        "hold_reason",
        "send_decision",
        "attempts",
    ]
    params: dict[str, list[Any]] = {"ids": [o["o_id"] for o in outcomes]}
    for column in columns:
        params[column] = [o[f"o_{column}"] for o in outcomes]
    conn.execute(_PG_OUTCOMES, params)


# --- consent state for a batch ------------------------------------------------------------------

# Rows in `ledger.state_from_rows`'s layout (kind, scope, key, list, method, reason, actor,
# created, seq, channel), with the number appended.
_STATES_SQL = STATE_SQL.replace("\n  FROM ", ", number\n  FROM ").replace(
    "AND number = :n", "AND number IN :numbers"
)


def consent_states(
    conn: Connection, workspace_id: int, numbers: Sequence[str]
) -> dict[str, NumberState]:
    """Many numbers' current consent in one round trip (numbers with no record are absent)."""
    if not numbers:
        return {}
    if is_sqlite(conn):
        query = text(_STATES_SQL).bindparams(bindparam("numbers", expanding=True))
    else:
        query = text(_STATES_SQL.replace("IN :numbers", "= ANY(CAST(:numbers AS text[]))"))
    grouped: dict[str, list[Any]] = {}
    for row in conn.execute(query, {"ws": workspace_id, "numbers": sorted(set(numbers))}):
        grouped.setdefault(row[10], []).append(tuple(row[:10]))
    return {number: state_from_rows(rows) for number, rows in grouped.items()}


def subscriptions(
    conn: Connection, workspace_id: int, pairs: Iterable[tuple[int, str]]
) -> set[tuple[int, str]]:
    """Which (list_id, number) pairs are current list members."""
    wanted = set(pairs)
    if not wanted:
        return set()
    list_ids = sorted({p[0] for p in wanted})
    nums = sorted({p[1] for p in wanted})
    rows = conn.execute(
        select(list_members.c.list_id, list_members.c.number).where(
            list_members.c.workspace_id == workspace_id,
            among(conn, list_members.c.list_id, list_ids),
            among(conn, list_members.c.number, nums),
        )
    )
    return {(int(r.list_id), r.number) for r in rows} & wanted
