"""The outbound gate: may this message go to this number now? One decision, used by every send path."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from stopline.domain.consent import NumberState
from stopline.domain.numbers import is_e164


class MessageKind(StrEnum):
    NORMAL = "normal"
    # STOP/START/HELP confirmations: the only messages that pass an opt-out (outbound rule 2).
    CONFIRMATION = "confirmation"


class RefusalCode(StrEnum):
    INVALID_NUMBER = "invalid_number"
    BLOCKED = "blocked"
    OPTED_OUT = "opted_out"
    LIST_OPTED_OUT = "list_opted_out"
    NOT_SUBSCRIBED = "not_subscribed"
    # Send-time rules (domain.send_time): over a cap when the workspace refuses rather than
    # defers, or no opening of the recipient's window within two weeks.
    FREQUENCY_CAP = "frequency_cap"
    NO_SEND_WINDOW = "no_send_window"


@dataclass(frozen=True)
class Outbound:
    """What the gate needs to know about a message about to be handed to a provider."""

    to: str  # must already be E.164; anything else is refused
    channel_id: int | None = None
    channel_type: str | None = "sms"
    list_id: int | None = None  # campaign sends: the list the recipient is reached through
    kind: MessageKind = MessageKind.NORMAL


@dataclass(frozen=True)
class Allow:
    allowed: bool = True


@dataclass(frozen=True)
class Refuse:
    code: RefusalCode
    detail: str
    allowed: bool = False


Decision = Allow | Refuse

ALLOW = Allow()


def decide(message: Outbound, state: NumberState, *, subscribed: bool | None = None) -> Decision:
    """Decide one send. `subscribed` is the list membership for campaign sends (None otherwise).

    Order matters: a block refuses even confirmations (no messages either way); an opt-out in
    scope refuses everything but confirmations (a message sent through a list the recipient
    kept past it excepted); list rules apply to list sends only.
    """
    if not is_e164(message.to):
        return Refuse(RefusalCode.INVALID_NUMBER, f"{message.to!r} is not a valid E.164 number")
    if state.block is not None:
        return Refuse(RefusalCode.BLOCKED, f"{message.to} is blocked")
    if message.kind is MessageKind.CONFIRMATION:
        return ALLOW
    record = state.opted_out_for(message.channel_id, message.channel_type, message.list_id)
    if record is not None:
        how = f" by {record.method.value}" if record.method else ""
        return Refuse(RefusalCode.OPTED_OUT, f"{message.to} opted out{how}")
    if message.list_id is not None:
        if message.list_id in state.list_opt_outs:
            return Refuse(
                RefusalCode.LIST_OPTED_OUT, f"{message.to} opted out of list {message.list_id}"
            )
        if subscribed is False:
            return Refuse(
                RefusalCode.NOT_SUBSCRIBED,
                f"{message.to} is not subscribed to list {message.list_id}",
            )
    return ALLOW
