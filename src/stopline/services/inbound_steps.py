"""The steps that prepare an inbound message before any handler sees it: which channel, who
sent it and their consent state, the conversation, and the claim by provider id (a replay
stops there, having changed nothing).
"""

from __future__ import annotations

from stopline.domain.errors import InvalidInput
from stopline.domain.numbers import normalize
from stopline.domain.reactions import reaction
from stopline.providers.base import InboundMessage
from stopline.services import recipients
from stopline.services.inbound_context import (
    InboundChannel,
    InboundContext,
    Step,
    storable_id,
    storable_text,
)
from stopline.store import inbound as store
from stopline.store import ledger

_DIGITS_WITHOUT_PLUS = recipients.DIGITS_WITHOUT_PLUS
_ADDRESS_PREFIXES = recipients.ADDRESS_PREFIXES


# --- steps: prepare and claim ------------------------------------------------------------------


def sender_number(message: InboundMessage, region: str) -> str | None:
    """The sender in E.164, or None when it is no phone number (an alphanumeric sender)."""
    raw = (message.from_number or "").strip()
    lowered = raw.lower()
    for prefix in _ADDRESS_PREFIXES:
        if lowered.startswith(prefix):
            raw = raw[len(prefix) :].strip()
            break
    if message.provider in _DIGITS_WITHOUT_PLUS and raw.isdigit():
        raw = "+" + raw
    try:
        return normalize(raw, region)
    except InvalidInput:
        return None


def identify_sender(ctx: InboundContext) -> bool:
    ctx.number = sender_number(ctx.message, ctx.policy.default_region)
    if ctx.number is not None:
        ctx.state = ledger.load_state(ctx.conn, ctx.workspace_id, ctx.number)
    return False


def find_conversation(ctx: InboundContext) -> bool:
    if ctx.number is None:
        return False
    if ctx.state.block is not None:
        # Kept with its conversation if there is one, but never starts one (rule 9).
        ctx.conversation_id = store.conversation_for(
            ctx.conn, ctx.workspace_id, ctx.channel.id, ctx.number
        )
    else:
        ctx.conversation_id = store.open_conversation(
            ctx.conn, ctx.workspace_id, ctx.channel.id, ctx.number, ctx.now
        )
    return False


def claim(ctx: InboundContext) -> bool:
    """Store the message under its provider id; if that id is already stored, it is a replay."""
    ctx.hidden = ctx.state.block is not None
    message_id = store.claim_inbound(
        ctx.conn,
        {
            "workspace_id": ctx.workspace_id,
            "channel_id": ctx.channel.id,
            "conversation_id": ctx.conversation_id,
            "from_address": storable_text(ctx.number or ctx.message.from_number or "")[:64],
            "to_number": storable_text(ctx.message.to_address or ctx.channel.address)[:64],
            "body": ctx.text,
            # A reaction (Liked “…”) is stored and shown as one; it is never a request.
            "kind": "reaction" if reaction(ctx.text) is not None else "normal",
            "source": f"inbound:{ctx.channel.provider}",
            "status": "received",
            "provider": ctx.channel.provider,
            "provider_message_id": storable_id(ctx.message.provider_message_id),
            "hidden": ctx.hidden,
            "created_at": ctx.received_at,
            "updated_at": ctx.now,
        },
    )
    if message_id is None:
        ctx.replay = True
        ctx.action = "replay"
        return True
    ctx.message_id = message_id
    return False


def unroutable_sender(ctx: InboundContext) -> bool:
    """A sender that is no phone number cannot opt out or in: keep the message, nothing else."""
    if ctx.number is None:
        ctx.action = "unroutable_sender"
        return True
    return False


def resolve_channel(ctx: InboundContext) -> bool:
    """The receiving address names the channel: a webhook URL shared by several of the
    workspace's numbers (one provider account) still files each message under its own channel.
    The workspace never changes: it is the one whose credentials verified the webhook, and a
    message to an address that is none of its channels is refused (`recipients`)."""
    other = recipients.receiving_channel(
        ctx.conn,
        workspace_id=ctx.workspace_id,
        address=ctx.channel.address,
        provider=ctx.channel.provider,
        message=ctx.message,
        region=ctx.policy.default_region,
    )
    if other is not None:
        channel_id, address, channel_type = other
        ctx.channel = InboundChannel(
            channel_id, ctx.workspace_id, address, ctx.channel.provider, channel_type
        )
    return False


STEPS: tuple[Step, ...] = (
    resolve_channel,
    identify_sender,
    find_conversation,
    claim,
    unroutable_sender,
)
