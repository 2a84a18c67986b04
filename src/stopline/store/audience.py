"""SQL for a campaign's audience: the lists' members in keyset chunks, with the set-based
suppression (blocks, opt-outs, list opt-outs) the gate would apply to each.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    Connection,
    and_,
    case,
    func,
    literal,
    or_,
    select,
)

from stopline.store.db import is_sqlite
from stopline.store.tables import (
    blocks,
    list_members,
    list_opt_outs,
    lists,
    opt_outs,
)


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
    single = len(set(list_ids)) == 1
    if single and is_sqlite(conn):
        # The list is the workspace's own, checked in `lists` (a member row always carries its
        # list's workspace): SQLite then reads the members from their (list_id, number) key
        # alone, without fetching each member's table row for its workspace_id.
        owned = select(lists.c.id).where(
            lists.c.workspace_id == workspace_id, lists.c.id.in_(list(list_ids))
        )
        member_filter: list[Any] = [lm.c.list_id.in_(owned)]
    else:
        member_filter = [lm.c.workspace_id == workspace_id, lm.c.list_id.in_(list(list_ids))]
    if hi is not None:
        member_filter.append(lm.c.number <= hi)
    if lo is not None:
        member_filter.append(lm.c.number > lo)
    if single:
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


def audience_counts(
    conn: Connection,
    *,
    workspace_id: int,
    list_ids: Sequence[int],
    channel_id: int,
    channel_type: str,
    lo: str | None = None,
    hi: str | None = None,
    by_place: bool = False,
) -> dict[tuple[str | None, str | None], int]:
    """How the suppression query splits members with `lo < number <= hi`, in one statement:
    (place key, refusal) -> count, the place None unless `by_place`. PostgreSQL counts the
    whole audience at once by place (it hashes the suppression over every member about as fast
    as the raw anti-join, where a statement per area code pays its planning each time); SQLite
    one index range of area codes at a time, where grouping by place would cost ~15%."""
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
    if not by_place:
        rows = conn.execute(
            select(audience.c.refusal_code, func.count()).group_by(audience.c.refusal_code)
        )
        return {(None, code): int(count) for code, count in rows}
    place = place_key(audience.c.number).label("place")
    grouped = conn.execute(
        select(place, audience.c.refusal_code, func.count()).group_by(
            place, audience.c.refusal_code
        )
    )
    return {(str(p), code): int(count) for p, code, count in grouped}


def place_key(column: Any) -> Any:
    """Where send-time rules differ: a NANP number's "+1" and area code (5 characters)."""
    return func.substr(column, 1, 5)


def next_member(
    conn: Connection, workspace_id: int, list_ids: Sequence[int], after: str | None
) -> str | None:
    """The lists' first member number after `after` (an index seek)."""
    query = select(func.min(list_members.c.number)).where(
        list_members.c.workspace_id == workspace_id, list_members.c.list_id.in_(list(list_ids))
    )
    if after is not None:
        query = query.where(list_members.c.number > after)
    found = conn.execute(query).scalar_one_or_none()
    return str(found) if found is not None else None
