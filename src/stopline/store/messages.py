"""SQL for outbound messaging: messages, conversations, campaigns, disclosures, console outbox.

The send queue lives in `messages`. Workers claim rows with a lease (PostgreSQL:
`FOR UPDATE SKIP LOCKED`, so workers never wait on each other; SQLite: the IMMEDIATE write
transaction is the lock) and the hand-off locks each claimed row again (`FOR UPDATE OF
messages`) while it re-checks consent and delivers, so an opt-out that cancels the row waits
for it (see `stopline.services.sending`).

Lists and list members: the lists service (issue 5) owns them; until it lands, the few
statements campaigns need live here (`create_list`, `add_list_members`, `list_lists`).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Connection,
    and_,
    any_,
    bindparam,
    case,
    cast,
    delete,
    func,
    insert,
    literal,
    null,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Row

from stopline.domain.consent import NumberState
from stopline.store.db import is_sqlite
from stopline.store.ledger import state_from_rows
from stopline.store.tables import (
    Timestamp,
    blocks,
    campaigns,
    channels,
    console_outbox,
    conversations,
    disclosures,
    list_members,
    list_opt_outs,
    lists,
    messages,
    opt_outs,
    workspaces,
)

# Not yet handed to a provider; `sending` is claimed by a worker under a lease.
WAITING = ("queued", "scheduled")
FINAL = ("sent", "delivered", "failed", "canceled")


def new_sid() -> str:
    """A Twilio-shaped message SID: "SM" and 32 hex digits."""
    return "SM" + secrets.token_hex(16)


def _among(conn: Connection, column: Any, values: Iterable[Any]) -> Any:
    """`column IN values` for a batch: on PostgreSQL `= ANY(array)`, one parameter whatever the
    batch size (a 500-placeholder IN list costs more to send and parse than to run)."""
    items = list(values)
    if is_sqlite(conn):
        return column.in_(items)
    return column == any_(cast(literal(items), ARRAY(column.type)))


def _insert(conn: Connection, table: Any) -> Any:
    """A dialect-specific INSERT that supports ON CONFLICT DO NOTHING."""
    return sqlite.insert(table) if is_sqlite(conn) else postgresql.insert(table)


# --- conversations ----------------------------------------------------------------------------


def ensure_conversation(
    conn: Connection,
    workspace_id: int,
    channel_id: int,
    number: str,
    *,
    now: datetime | None = None,
) -> int:
    """The conversation of (channel, number), created if new; concurrent callers get the same id."""
    found = conn.execute(
        select(conversations.c.id).where(
            conversations.c.workspace_id == workspace_id,
            conversations.c.channel_id == channel_id,
            conversations.c.number == number,
        )
    ).scalar_one_or_none()
    if found is not None:
        return int(found)
    from stopline.services.consent import now_utc

    stmt = (
        _insert(conn, conversations)
        .values(
            workspace_id=workspace_id,
            channel_id=channel_id,
            number=number,
            status="open",
            created_at=now or now_utc(),
        )
        .on_conflict_do_nothing(index_elements=["workspace_id", "channel_id", "number"])
    )
    conn.execute(stmt)
    return int(
        conn.execute(
            select(conversations.c.id).where(
                conversations.c.workspace_id == workspace_id,
                conversations.c.channel_id == channel_id,
                conversations.c.number == number,
            )
        ).scalar_one()
    )


_TOUCH_CONVERSATION = (
    update(conversations)
    .where(
        conversations.c.id == bindparam("conversation"),
        or_(
            conversations.c.last_message_at.is_(None),
            conversations.c.last_message_at < bindparam("at"),
        ),
    )
    .values(last_message_at=bindparam("at"))
)


def touch_conversation(conn: Connection, conversation_id: int, at: datetime) -> None:
    conn.execute(_TOUCH_CONVERSATION, {"conversation": conversation_id, "at": at})


# --- channels and settings --------------------------------------------------------------------


def channel_row(conn: Connection, workspace_id: int, channel_id: int) -> Row[Any] | None:
    return conn.execute(
        select(channels).where(channels.c.workspace_id == workspace_id, channels.c.id == channel_id)
    ).one_or_none()


def channel_by_address(conn: Connection, workspace_id: int, address: str) -> Row[Any] | None:
    return conn.execute(
        select(channels)
        .where(channels.c.workspace_id == workspace_id, channels.c.address == address)
        .order_by(channels.c.id)
        .limit(1)
    ).one_or_none()


def channel_ids(conn: Connection, workspace_id: int) -> list[int]:
    return list(
        conn.execute(
            select(channels.c.id)
            .where(channels.c.workspace_id == workspace_id)
            .order_by(channels.c.id)
        ).scalars()
    )


def workspace_settings(conn: Connection, workspace_ids: Iterable[int]) -> dict[int, Any]:
    rows = conn.execute(
        select(workspaces.c.id, workspaces.c.settings).where(
            workspaces.c.id.in_(list(workspace_ids))
        )
    )
    return {int(r.id): r.settings for r in rows}


# --- messages: write --------------------------------------------------------------------------


def _new_id(result: Any) -> int:
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


_INSERT_MESSAGE = insert(messages)  # built once: `.values(**row)` per call costs 10x the insert


def insert_message(conn: Connection, **values: Any) -> int:
    return _new_id(conn.execute(_INSERT_MESSAGE, values))


def get_message(conn: Connection, workspace_id: int, message_id: int) -> Row[Any] | None:
    return conn.execute(
        select(messages).where(messages.c.workspace_id == workspace_id, messages.c.id == message_id)
    ).one_or_none()


def message_by_sid(conn: Connection, workspace_id: int, sid: str) -> Row[Any] | None:
    return conn.execute(
        select(messages).where(messages.c.workspace_id == workspace_id, messages.c.sid == sid)
    ).one_or_none()


def message_by_idempotency_key(conn: Connection, workspace_id: int, key: str) -> Row[Any] | None:
    return conn.execute(
        select(messages).where(
            messages.c.workspace_id == workspace_id, messages.c.idempotency_key == key
        )
    ).one_or_none()


def list_messages(
    conn: Connection,
    workspace_id: int,
    *,
    direction: str | None = None,
    status: str | None = None,
    to_number: str | None = None,
    from_address: str | None = None,
    campaign_id: int | None = None,
    source: str | None = None,
    before_id: int | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[Row[Any]]:
    """Newest first. `before_id` pages by keyset (stable while new messages arrive)."""
    query = select(messages).where(messages.c.workspace_id == workspace_id)
    if direction is not None:
        query = query.where(messages.c.direction == direction)
    if status is not None:
        query = query.where(messages.c.status == status)
    if to_number is not None:
        query = query.where(messages.c.to_number == to_number)
    if from_address is not None:
        query = query.where(messages.c.from_address == from_address)
    if campaign_id is not None:
        query = query.where(messages.c.campaign_id == campaign_id)
    if source is not None:
        query = query.where(messages.c.source == source)
    if before_id is not None:
        query = query.where(messages.c.id < before_id)
    query = query.order_by(messages.c.id.desc()).limit(limit).offset(offset)
    return list(conn.execute(query))


def cancel_message(conn: Connection, workspace_id: int, message_id: int, now: datetime) -> bool:
    """Cancel one message not yet claimed by a worker (queued or scheduled)."""
    result = conn.execute(
        update(messages)
        .where(
            messages.c.workspace_id == workspace_id,
            messages.c.id == message_id,
            messages.c.status.in_(WAITING),
        )
        .values(status="canceled", updated_at=now, lease_owner=None)
    )
    return bool(result.rowcount)


# --- the queue: claim and hand-off -------------------------------------------------------------

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
        .where(_among(conn, messages.c.id, ids))
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
            select(*_CLAIM_COLUMNS).where(_among(conn, messages.c.id, ids)).order_by(messages.c.id)
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
            _among(conn, messages.c.id, ids),
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


def message_by_provider_id(
    conn: Connection, workspace_id: int, provider_message_id: str
) -> Row[Any] | None:
    return conn.execute(
        select(messages).where(
            messages.c.workspace_id == workspace_id,
            messages.c.direction == "out",
            messages.c.provider_message_id == provider_message_id,
        )
    ).one_or_none()


def set_message_status(
    conn: Connection,
    message_id: int,
    *,
    status: str,
    error_code: str | None,
    refusal_code: str | None,
    now: datetime,
) -> None:
    values: dict[str, Any] = {"status": status, "updated_at": now}
    if error_code is not None:
        values["error_code"] = error_code
    if refusal_code is not None:
        values["refusal_code"] = refusal_code
    conn.execute(update(messages).where(messages.c.id == message_id).values(**values))


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
    "lease_owner": None,
    "lease_until": None,
    "updated_at": bindparam("o_updated_at"),
}


_PG_OUTCOMES = text(
    """
UPDATE messages AS m
   SET status = v.status, refusal_code = v.refusal_code, error_code = v.error_code,
       error_message = v.error_message, provider = v.provider,
       provider_message_id = v.provider_message_id, body = v.body,
       available_at = v.available_at, handed_at = v.handed_at, updated_at = v.updated_at,
       lease_owner = NULL, lease_until = NULL
  FROM unnest(CAST(:ids AS bigint[]), CAST(:status AS text[]), CAST(:refusal_code AS text[]),
              CAST(:error_code AS text[]), CAST(:error_message AS text[]),
              CAST(:provider AS text[]), CAST(:provider_message_id AS text[]),
              CAST(:body AS text[]), CAST(:available_at AS timestamptz[]),
              CAST(:handed_at AS timestamptz[]), CAST(:updated_at AS timestamptz[]))
       AS v(id, status, refusal_code, error_code, error_message, provider,
            provider_message_id, body, available_at, handed_at, updated_at)
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
    ]
    params: dict[str, list[Any]] = {"ids": [o["o_id"] for o in outcomes]}
    for column in columns:
        params[column] = [o[f"o_{column}"] for o in outcomes]
    conn.execute(_PG_OUTCOMES, params)


_PG_CONSOLE = text(
    """
INSERT INTO console_outbox (workspace_id, message_id, idempotency_key, to_number,
                            from_address, body, created_at)
SELECT * FROM unnest(CAST(:workspace_id AS integer[]), CAST(:message_id AS bigint[]),
                     CAST(:idempotency_key AS text[]), CAST(:to_number AS text[]),
                     CAST(:from_address AS text[]), CAST(:body AS text[]),
                     CAST(:created_at AS timestamptz[]))
ON CONFLICT (idempotency_key) DO NOTHING
"""
)


def insert_console_deliveries(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    """The console provider's deliveries, in one statement. A key already present means this
    message was delivered before, and it is not delivered again."""
    if not rows:
        return
    if is_sqlite(conn):
        conn.execute(
            _insert(conn, console_outbox).on_conflict_do_nothing(
                index_elements=["idempotency_key"]
            ),
            [dict(r) for r in rows],
        )
        return
    keys = ["workspace_id", "message_id", "idempotency_key", "to_number", "from_address"]
    params = {k: [r[k] for r in rows] for k in [*keys, "body", "created_at"]}
    conn.execute(_PG_CONSOLE, params)


def console_deliveries(
    conn: Connection, workspace_id: int, *, to_number: str | None = None, limit: int = 100
) -> list[Row[Any]]:
    query = select(console_outbox).where(console_outbox.c.workspace_id == workspace_id)
    if to_number is not None:
        query = query.where(console_outbox.c.to_number == to_number)
    return list(conn.execute(query.order_by(console_outbox.c.id.desc()).limit(limit)))


# --- consent state for a batch ------------------------------------------------------------------

# Rows in `ledger.state_from_rows`'s layout (kind, scope, key, list, method, reason, actor,
# created, seq, channel), with the number appended.
_STATES_SQL = """
SELECT 'o' AS kind, scope, scope_key, CAST(NULL AS INTEGER) AS list_id, method, reason, actor,
       created_at, event_seq, channel_id, number
  FROM opt_outs WHERE workspace_id = :ws AND number IN :numbers
UNION ALL
SELECT 'b', NULL, NULL, NULL, method, reason, actor, created_at, event_seq,
       CAST(NULL AS INTEGER), number
  FROM blocks WHERE workspace_id = :ws AND number IN :numbers
UNION ALL
SELECT 'l', NULL, NULL, list_id, method, reason, actor, created_at, event_seq,
       CAST(NULL AS INTEGER), number
  FROM list_opt_outs WHERE workspace_id = :ws AND number IN :numbers
"""


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
            _among(conn, list_members.c.list_id, list_ids),
            _among(conn, list_members.c.number, nums),
        )
    )
    return {(int(r.list_id), r.number) for r in rows} & wanted


# --- disclosures ----------------------------------------------------------------------------


_PG_DISCLOSURES = text(
    """
INSERT INTO disclosures (workspace_id, number, message_id, created_at)
SELECT :workspace_id, v.number, v.message_id, :now
  FROM unnest(CAST(:numbers AS text[]), CAST(:message_ids AS bigint[])) AS v(number, message_id)
 ORDER BY v.number
ON CONFLICT (workspace_id, number) DO NOTHING
RETURNING number
"""
)


def claim_disclosures(
    conn: Connection, workspace_id: int, firsts: Mapping[str, int], now: datetime
) -> set[str]:
    """Record that each number's disclosure goes with the given message, unless some message
    already carried it; returns the numbers whose disclosure goes with our message.

    Inserted in number order with ON CONFLICT DO NOTHING: on PostgreSQL a concurrent hand-off
    to the same number waits for ours to commit or roll back, so exactly one message carries
    it. Then the rows naming our messages are the ones we won (a plain executemany and an IN
    query: both statements compile once and stay cached, unlike a multi-row RETURNING).
    """
    if not firsts:
        return set()
    rows = [
        {"workspace_id": workspace_id, "number": n, "message_id": firsts[n], "created_at": now}
        for n in sorted(firsts)
    ]
    if is_sqlite(conn):
        conn.execute(
            _insert(conn, disclosures).on_conflict_do_nothing(
                index_elements=["workspace_id", "number"]
            ),
            rows,
        )
    else:
        won = conn.execute(
            _PG_DISCLOSURES,
            {
                "workspace_id": workspace_id,
                "numbers": [r["number"] for r in rows],
                "message_ids": [r["message_id"] for r in rows],
                "now": now,
            },
        )
        return set(won.scalars())
    ours = conn.execute(
        select(disclosures.c.number).where(
            disclosures.c.workspace_id == workspace_id,
            _among(conn, disclosures.c.message_id, sorted(firsts.values())),
        )
    )
    return set(ours.scalars())


def release_disclosures(conn: Connection, workspace_id: int, message_ids: Sequence[int]) -> None:
    """Forget disclosures whose message was not delivered after all, so the next one carries it."""
    if message_ids:
        conn.execute(
            delete(disclosures).where(
                disclosures.c.workspace_id == workspace_id,
                disclosures.c.message_id.in_(list(message_ids)),
            )
        )


# --- campaigns ------------------------------------------------------------------------------


def insert_campaign(conn: Connection, **values: Any) -> int:
    return _new_id(conn.execute(insert(campaigns).values(**values)))


def get_campaign(conn: Connection, workspace_id: int, campaign_id: int) -> Row[Any] | None:
    return conn.execute(
        select(campaigns).where(
            campaigns.c.workspace_id == workspace_id, campaigns.c.id == campaign_id
        )
    ).one_or_none()


def list_campaigns(
    conn: Connection, workspace_id: int, *, limit: int = 50, offset: int = 0
) -> list[Row[Any]]:
    return list(
        conn.execute(
            select(campaigns)
            .where(campaigns.c.workspace_id == workspace_id)
            .order_by(campaigns.c.id.desc())
            .limit(limit)
            .offset(offset)
        )
    )


def set_campaign(conn: Connection, campaign_id: int, **values: Any) -> None:
    conn.execute(update(campaigns).where(campaigns.c.id == campaign_id).values(**values))


def campaign_status_counts(conn: Connection, campaign_id: int) -> dict[str, dict[str, int]]:
    """Messages of a campaign by status, and refused ones by refusal code."""
    by_status: dict[str, int] = {}
    by_refusal: dict[str, int] = {}
    rows = conn.execute(
        select(messages.c.status, messages.c.refusal_code, func.count())
        .where(messages.c.campaign_id == campaign_id)
        .group_by(messages.c.status, messages.c.refusal_code)
    )
    for status, refusal, count in rows:
        by_status[status] = by_status.get(status, 0) + int(count)
        if refusal:
            by_refusal[refusal] = by_refusal.get(refusal, 0) + int(count)
    return {"by_status": by_status, "by_refusal": by_refusal}


def audience_bounds(
    conn: Connection, workspace_id: int, list_ids: Sequence[int], after: str | None, chunk: int
) -> str | None:
    """The last number of the next chunk of the lists' members (keyset over numbers)."""
    query = (
        select(list_members.c.number)
        .where(list_members.c.workspace_id == workspace_id, list_members.c.list_id.in_(list_ids))
        .order_by(list_members.c.number)
        .offset(chunk - 1)
        .limit(1)
    )
    if after is not None:
        query = query.where(list_members.c.number > after)
    found = conn.execute(query).scalar_one_or_none()
    if found is not None:
        return str(found)
    # A short last chunk: its end is the largest number.
    last = select(func.max(list_members.c.number)).where(
        list_members.c.workspace_id == workspace_id, list_members.c.list_id.in_(list_ids)
    )
    if after is not None:
        last = last.where(list_members.c.number > after)
    end = conn.execute(last).scalar_one_or_none()
    return str(end) if end is not None else None


def _sid_sql(conn: Connection) -> Any:
    if is_sqlite(conn):
        return literal("SM") + func.lower(func.hex(func.randomblob(16)))
    return literal("SM") + func.md5(
        func.random().cast(postgresql.TEXT) + func.clock_timestamp().cast(postgresql.TEXT)
    )


def audience_select(
    conn: Connection,
    *,
    workspace_id: int,
    list_ids: Sequence[int],
    channel_id: int,
    channel_type: str,
    lo: str | None,
    hi: str | None,
) -> Any:
    """The campaign suppression query for members with `lo < number <= hi`: one row per number
    with the list it is reached through and, when it must not be sent, the refusal code.

    Set-based: the members are outer-joined to blocks, to opt-outs in each scope that covers
    the channel (workspace, channel type, channel: full primary keys, so at most one row
    each) and to list opt-outs, and the database decides for the whole chunk in one pass
    (STYLE: hot paths never go row by row). The order of the checks is the gate's
    (`domain.gate.decide`): blocked, opted out, list opted out.
    """
    lm = list_members.alias("lm")
    covering = {"workspace": "", "channel_type": channel_type, "channel": str(channel_id)}
    if is_sqlite(conn):
        # SQLite joins by nested index lookups: one probe of the opt-outs' (workspace, number)
        # key per member, whichever scopes cover the channel (a 10M-row index is deep).
        b: Any = blocks.alias("b")
        x: Any = list_opt_outs.alias("x")
        joined = lm.outerjoin(b, and_(b.c.workspace_id == workspace_id, b.c.number == lm.c.number))
        probe = opt_outs.alias("o")
        opted_now: Any = (
            select(literal(1))
            .where(
                probe.c.workspace_id == workspace_id,
                probe.c.number == lm.c.number,
                or_(
                    *(
                        and_(probe.c.scope == scope, probe.c.scope_key == key)
                        for scope, key in covering.items()
                    )
                ),
            )
            .exists()
        )
    else:
        # PostgreSQL hashes or merges: give it each table's slice of this chunk's numbers, so
        # all chunks together read each opt-out once, as one anti-join over everything would.
        def in_chunk(column: Any) -> list[Any]:
            bounds = [] if lo is None else [column > lo]
            return bounds + ([] if hi is None else [column <= hi])

        b = (
            select(blocks.c.number)
            .where(blocks.c.workspace_id == workspace_id, *in_chunk(blocks.c.number))
            .subquery("b")
        )
        o = (
            select(opt_outs.c.number)
            .where(
                opt_outs.c.workspace_id == workspace_id,
                *in_chunk(opt_outs.c.number),
                or_(
                    *(
                        and_(opt_outs.c.scope == scope, opt_outs.c.scope_key == key)
                        for scope, key in covering.items()
                    )
                ),
            )
            .group_by(opt_outs.c.number)  # one row per number, whichever scopes cover it
            .subquery("o")
        )
        x = (
            select(list_opt_outs.c.list_id, list_opt_outs.c.number)
            .where(
                list_opt_outs.c.workspace_id == workspace_id,
                list_opt_outs.c.list_id.in_(list(list_ids)),
                *in_chunk(list_opt_outs.c.number),
            )
            .subquery("x")
        )
        joined = lm.outerjoin(b, b.c.number == lm.c.number).outerjoin(o, o.c.number == lm.c.number)
        opted_now = o.c.number.is_not(None)
    joined = joined.outerjoin(x, and_(x.c.list_id == lm.c.list_id, x.c.number == lm.c.number))
    member_filter = [lm.c.workspace_id == workspace_id, lm.c.list_id.in_(list(list_ids))]
    if hi is not None:
        member_filter.append(lm.c.number <= hi)
    if lo is not None:
        member_filter.append(lm.c.number > lo)
    if len(set(list_ids)) == 1:
        refusal = case(
            (b.c.number.is_not(None), literal("blocked")),
            (opted_now, literal("opted_out")),
            (x.c.number.is_not(None), literal("list_opted_out")),
            else_=literal(None),
        )
        return (
            select(lm.c.number, lm.c.list_id.label("list_id"), refusal.label("refusal_code"))
            .select_from(joined)
            .where(*member_filter)
        )
    # Several lists: one row per number, reached through the lowest list it has not left.
    open_list = func.min(case((x.c.number.is_(None), lm.c.list_id), else_=None))
    refusal = case(
        (func.max(b.c.number).is_not(None), literal("blocked")),
        (func.max(case((opted_now, 1), else_=0)) == 1, literal("opted_out")),
        (open_list.is_(None), literal("list_opted_out")),
        else_=literal(None),
    )
    return (
        select(
            lm.c.number,
            func.coalesce(open_list, func.min(lm.c.list_id)).label("list_id"),
            refusal.label("refusal_code"),
        )
        .select_from(joined)
        .where(*member_filter)
        .group_by(lm.c.number)
    )


def plan_for_bulk(conn: Connection) -> None:
    """PostgreSQL: no JIT for this transaction's bulk statements. Each chunk's plan is cheap to
    run but costly enough to trigger JIT compilation, which takes longer than the query."""
    if not is_sqlite(conn):
        conn.exec_driver_sql("SET LOCAL jit = off")


def _ts(conn: Connection, value: datetime | None) -> Any:
    """A timestamp parameter PostgreSQL can type inside a CASE (NULL included).

    Not cast on SQLite: CAST(... AS DATETIME) has numeric affinity there and would keep the year.
    """
    if is_sqlite(conn):
        return literal(value, Timestamp) if value is not None else null()
    return cast(literal(value) if value is not None else null(), Timestamp)


def expand_campaign_chunk(
    conn: Connection,
    *,
    campaign_id: int,
    workspace_id: int,
    list_ids: Sequence[int],
    channel_id: int,
    channel_type: str,
    from_address: str,
    body: str,
    created_by: str,
    lo: str | None,
    hi: str,
    send_at: datetime,
    scheduled: bool,
    now: datetime,
) -> int:
    """Store the campaign's messages for members with `lo < number <= hi`, in one statement.

    Suppressed members get a ``failed`` message with their refusal code (the record of why
    they were not sent to); the others a ``queued`` (or ``scheduled``) one. Members that
    already have a message of this campaign are skipped, so a re-run after a crash adds
    only what is missing (and the unique (campaign_id, to_number) index makes that certain).
    """
    plan_for_bulk(conn)
    audience = audience_select(
        conn,
        workspace_id=workspace_id,
        list_ids=list_ids,
        channel_id=channel_id,
        channel_type=channel_type,
        lo=lo,
        hi=hi,
    ).subquery("a")
    pending = "scheduled" if scheduled else "queued"
    already = (
        select(literal(1))
        .where(messages.c.campaign_id == campaign_id, messages.c.to_number == audience.c.number)
        .exists()
    )
    refused = audience.c.refusal_code.is_not(None)
    rows = select(
        _sid_sql(conn),
        literal(workspace_id),
        literal("out"),
        literal(channel_id),
        literal(from_address),
        audience.c.number,
        literal(body),
        literal("normal"),
        literal("campaign"),
        literal(campaign_id),
        audience.c.list_id,
        case((refused, literal("failed")), else_=literal(pending)),
        audience.c.refusal_code,
        literal(False),
        literal(created_by),
        literal(0),
        case((refused, _ts(conn, None)), else_=_ts(conn, send_at)),
        case((refused, _ts(conn, None)), else_=_ts(conn, send_at if scheduled else None)),
        _ts(conn, now),
        _ts(conn, now),
    ).where(~already)
    columns = [
        "sid",
        "workspace_id",
        "direction",
        "channel_id",
        "from_address",
        "to_number",
        "body",
        "kind",
        "source",
        "campaign_id",
        "list_id",
        "status",
        "refusal_code",
        "hidden",
        "sent_by",
        "attempts",
        "available_at",
        "scheduled_at",
        "created_at",
        "updated_at",
    ]
    stmt = (
        _insert(conn, messages)
        .from_select(columns, rows)
        .on_conflict_do_nothing(index_elements=["campaign_id", "to_number"])
    )
    return int(conn.execute(stmt).rowcount or 0)


def audience_counts(
    conn: Connection,
    *,
    workspace_id: int,
    list_ids: Sequence[int],
    channel_id: int,
    channel_type: str,
    lo: str | None,
    hi: str | None,
) -> dict[str | None, int]:
    """How the suppression query splits members with `lo < number <= hi`: refusal -> count."""
    plan_for_bulk(conn)
    audience = audience_select(
        conn,
        workspace_id=workspace_id,
        list_ids=list_ids,
        channel_id=channel_id,
        channel_type=channel_type,
        lo=lo,
        hi=hi,
    ).subquery("a")
    rows = conn.execute(
        select(audience.c.refusal_code, func.count()).group_by(audience.c.refusal_code)
    )
    return {code: int(count) for code, count in rows}


def cancel_campaign_messages(conn: Connection, campaign_id: int, now: datetime) -> int:
    result = conn.execute(
        update(messages)
        .where(messages.c.campaign_id == campaign_id, messages.c.status.in_(WAITING))
        .values(status="canceled", updated_at=now)
    )
    return int(result.rowcount or 0)


def campaign_pending(conn: Connection, campaign_id: int) -> int:
    return int(
        conn.execute(
            select(func.count()).where(
                messages.c.campaign_id == campaign_id,
                messages.c.status.in_(("queued", "scheduled", "sending")),
            )
        ).scalar_one()
    )


# --- lists (minimal, until the lists service of issue 5 lands) ---------------------------------


def create_list(conn: Connection, workspace_id: int, name: str, now: datetime) -> int:
    return _new_id(
        conn.execute(
            insert(lists).values(workspace_id=workspace_id, name=name, keywords={}, created_at=now)
        )
    )


def list_exists(conn: Connection, workspace_id: int, list_id: int) -> bool:
    found = conn.execute(
        select(lists.c.id).where(lists.c.workspace_id == workspace_id, lists.c.id == list_id)
    ).first()
    return found is not None


def existing_list_ids(conn: Connection, workspace_id: int, list_ids: Sequence[int]) -> set[int]:
    rows = conn.execute(
        select(lists.c.id).where(
            lists.c.workspace_id == workspace_id, lists.c.id.in_(list(list_ids))
        )
    )
    return {int(i) for i in rows.scalars()}


def add_list_members(
    conn: Connection,
    workspace_id: int,
    list_id: int,
    numbers: Sequence[str],
    now: datetime,
    chunk: int = 5000,
) -> int:
    """Subscribe E.164 numbers to a list; members already there keep their subscription."""
    added = 0
    unique = sorted(set(numbers))
    for start in range(0, len(unique), chunk):
        part = unique[start : start + chunk]
        present = set(
            conn.execute(
                select(list_members.c.number).where(
                    list_members.c.list_id == list_id, list_members.c.number.in_(part)
                )
            ).scalars()
        )
        rows = [
            {"list_id": list_id, "number": n, "workspace_id": workspace_id, "subscribed_at": now}
            for n in part
            if n not in present
        ]
        if rows:
            conn.execute(insert(list_members), rows)
            added += len(rows)
    return added


def list_lists(conn: Connection, workspace_id: int) -> list[Row[Any]]:
    members = (
        select(list_members.c.list_id, func.count().label("members"))
        .where(list_members.c.workspace_id == workspace_id)
        .group_by(list_members.c.list_id)
        .subquery()
    )
    return list(
        conn.execute(
            select(
                lists.c.id,
                lists.c.name,
                lists.c.created_at,
                func.coalesce(members.c.members, 0).label("members"),
            )
            .select_from(lists.outerjoin(members, members.c.list_id == lists.c.id))
            .where(lists.c.workspace_id == workspace_id)
            .order_by(lists.c.id)
        )
    )
