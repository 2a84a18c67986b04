"""list memberships in the ledger

Revision ID: 0002
Revises: 0008
Create Date: 2026-12-03 09:00:00

The gate reads list memberships (a campaign goes only to members), so membership changes are
now ledger events (`list_subscribe`, `list_unsubscribe`) and `ledger verify` compares the
`list_members` table with them. Existing members get one `list_subscribe` event each, appended
to their workspace's chain, so a ledger that verified before still verifies after.
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OLD = ("opt_out", "opt_in", "block", "unblock", "list_opt_out", "list_opt_in", "amend", "retract")
_NEW = (*_OLD, "list_subscribe", "list_unsubscribe")


def _check(values: tuple[str, ...]) -> str:
    return "action IN ({})".format(", ".join(f"'{v}'" for v in values))


def upgrade() -> None:
    with op.batch_alter_table("consent_events", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_consent_events_action"), type_="check")
        batch_op.create_check_constraint(op.f("ck_consent_events_action"), _check(_NEW))
    _backfill_memberships(op.get_bind())


def downgrade() -> None:
    op.execute("DELETE FROM consent_events WHERE action IN ('list_subscribe', 'list_unsubscribe')")
    with op.batch_alter_table("consent_events", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_consent_events_action"), type_="check")
        batch_op.create_check_constraint(op.f("ck_consent_events_action"), _check(_OLD))


def _backfill_memberships(conn: sa.Connection) -> None:
    from stopline.domain.consent import Action, ConsentChange, Method, make_event
    from stopline.store import ledger

    now = datetime.now(UTC)
    members = conn.execute(
        sa.text(
            "SELECT workspace_id, list_id, number, subscribed_at FROM list_members "
            "ORDER BY workspace_id, list_id, number"
        )
    ).all()
    by_workspace: dict[int, list[sa.Row[tuple[int, int, str, datetime]]]] = {}
    for row in members:
        by_workspace.setdefault(int(row[0]), []).append(row)
    for workspace_id, rows in by_workspace.items():
        seq, digest = ledger.lock_head(conn, workspace_id)
        events = []
        for _ws, list_id, number, subscribed in rows:
            if isinstance(subscribed, str):  # SQLite hands text back for a raw query
                subscribed = datetime.fromisoformat(subscribed)
            change = ConsentChange(
                number=number,
                action=Action.LIST_SUBSCRIBE,
                method=Method.IMPORT,
                list_id=int(list_id),
                actor="migration:0002",
                source="list member before memberships were recorded",
                occurred_at=subscribed if isinstance(subscribed, datetime) else None,
            )
            seq += 1
            event = make_event(workspace_id, seq, digest, change, now)
            digest = event.hash
            events.append(event)
        for start in range(0, len(events), 5000):
            ledger.append_events(conn, events[start : start + 5000])
        ledger.set_head(conn, workspace_id, seq, digest)
