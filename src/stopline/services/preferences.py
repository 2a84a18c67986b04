"""A number's communication preferences as the team reads them, for the inbox and contact cards.

Per channel, the gate's own answer (seed 002: "whether a contact can receive messages through
available channels and locations"), plus the opt-outs, block and list opt-outs behind it.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection

from stopline.domain.consent import NumberState, Record, Scope
from stopline.domain.policy import Policy
from stopline.services.checks import decisions_by_channel
from stopline.services.workspaces import Channel, channel_from_row
from stopline.store import ledger, views


@dataclass(frozen=True)
class ChannelPermission:
    channel: Channel
    allowed: bool
    reason: str | None  # refusal code when not allowed


@dataclass(frozen=True)
class ScopedOptOut:
    scope: str
    scope_label: str
    record: Record
    kept_lists: tuple[str, ...] = ()  # names of the lists the recipient kept past it


@dataclass(frozen=True)
class ListOptOut:
    list_id: int
    list_name: str
    record: Record


@dataclass(frozen=True)
class Preferences:
    number: str
    state: NumberState
    channels: tuple[ChannelPermission, ...]
    opt_outs: tuple[ScopedOptOut, ...]
    list_opt_outs: tuple[ListOptOut, ...]
    can_self_resubscribe_only: bool

    @property
    def blocked(self) -> bool:
        return self.state.block is not None

    @property
    def opted_out(self) -> bool:
        return bool(self.state.opt_outs)

    @property
    def opted_out_everywhere(self) -> bool:
        return (Scope.WORKSPACE, "") in self.state.opt_outs

    @property
    def status(self) -> str:
        """One word for badges and footers: blocked, opted_out, partly_opted_out or subscribed."""
        if self.blocked:
            return "blocked"
        if self.opted_out_everywhere:
            return "opted_out"
        if self.opted_out or self.list_opt_outs:
            return "partly_opted_out"
        return "subscribed"


def _scope_label(scope: Scope, key: str, channels: dict[int, Channel]) -> str:
    if scope is Scope.WORKSPACE:
        return "Every channel"
    if scope is Scope.CHANNEL_TYPE:
        return f"All {key.upper()} channels"
    channel = channels.get(int(key)) if key.isdigit() else None
    return f"Channel {channel.name or channel.address}" if channel else f"Channel {key}"


def for_number(conn: Connection, workspace_id: int, number: str, policy: Policy) -> Preferences:
    state = ledger.load_state(conn, workspace_id, number)
    decisions = decisions_by_channel(conn, workspace_id, number, state)
    permissions = [
        ChannelPermission(channel_from_row(d.channel), d.decision.allowed, d.code)
        for d in decisions
    ]
    by_id = {p.channel.id: p.channel for p in permissions}
    kept_ids = [i for record in state.opt_outs.values() for i, _seq in record.keeps]
    names = views.list_names(conn, workspace_id, [*state.list_opt_outs, *kept_ids])
    scoped = tuple(
        ScopedOptOut(
            scope.value,
            _scope_label(scope, key, by_id),
            record,
            tuple(names.get(i, f"List {i}") for i, _seq in record.keeps),
        )
        for (scope, key), record in sorted(state.opt_outs.items())
    )
    list_outs = tuple(
        ListOptOut(list_id, names.get(list_id, f"List {list_id}"), record)
        for list_id, record in sorted(state.list_opt_outs.items())
    )
    return Preferences(
        number=number,
        state=state,
        channels=tuple(permissions),
        opt_outs=scoped,
        list_opt_outs=list_outs,
        can_self_resubscribe_only=policy.resubscribe_policy.value == "recipient_only",
    )


def statuses(conn: Connection, workspace_id: int, numbers: list[str]) -> dict[str, str]:
    """The badge word for many numbers at once (conversation lists, contact tables)."""
    out = {n: "subscribed" for n in numbers}
    if not numbers:
        return out
    for number, scope in views.opt_out_scopes(conn, workspace_id, numbers):
        if scope == Scope.WORKSPACE.value:
            out[number] = "opted_out"
        elif out[number] == "subscribed":
            out[number] = "partly_opted_out"
    for number in views.blocked_numbers(conn, workspace_id, numbers):
        out[number] = "blocked"
    return out
