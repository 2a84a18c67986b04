"""Which of the workspace's channels a verified inbound message was sent to, or a refusal.

A webhook's signature proves who sent it (a provider account, a gateway secret), not which
workspace it is for: one Telnyx account or one gateway secret may serve channels of several
workspaces. So the message's recipient must be an address of the workspace whose channel URL
received it: the channel's own, another of its channels at the same provider (one webhook URL
shared by several numbers), or, for a Twilio messaging service, the service itself. Anything
else is refused before anything is stored, so a STOP or START addressed to one workspace can
never change another's consent (issue 11).
"""

from __future__ import annotations

from sqlalchemy import Connection

from stopline.domain.errors import Forbidden, InvalidInput
from stopline.domain.numbers import channel_address
from stopline.providers.base import InboundMessage
from stopline.store import workspaces as store

# Providers that send numbers as E.164 digits without the "+" (Vonage's documented format).
DIGITS_WITHOUT_PLUS = frozenset({"vonage"})
# Message-address prefixes of chat channels (Twilio's "whatsapp:+1415...").
ADDRESS_PREFIXES = ("whatsapp:", "rcs:", "messenger:", "sms:")


class WrongRecipient(Forbidden):
    """A genuine webhook about a message to an address that is none of the workspace's."""

    code = "webhook_wrong_recipient"


def recipient_address(raw: str, provider: str, region: str) -> str | None:
    """The canonical channel address a provider's `To` names; None if it names none."""
    text = raw.strip()
    for prefix in ADDRESS_PREFIXES:
        if text.lower().startswith(prefix):
            text = text[len(prefix) :]
            break
    if provider in DIGITS_WITHOUT_PLUS and text.isdigit() and len(text) > 6:
        text = "+" + text  # Vonage's E.164 without "+"; short codes (5-6 digits) stay as they are
    try:
        return channel_address(text, region)
    except InvalidInput:
        return None


def receiving_channel(
    conn: Connection,
    *,
    workspace_id: int,
    address: str,
    provider: str,
    message: InboundMessage,
    region: str,
) -> tuple[int, str, str] | None:
    """Where the message belongs: None for the channel itself, (id, address, type) of another of
    the workspace's channels at the same provider; raises `WrongRecipient` otherwise."""
    raw = (message.to_address or "").strip()
    to = recipient_address(raw, provider, region) if raw else None
    if raw == address or to == address:
        return None
    others = [recipient_address(other, provider, region) for other in message.also_to[:20]]
    if address in others:
        return None  # a group message: the channel is one of its recipients
    for candidate in (to, *others, message.messaging_service):
        if not candidate:
            continue
        if candidate == address:
            return None  # a number of the channel's own messaging service
        row = store.workspace_channel_by_address(conn, workspace_id, candidate)
        if row is not None and row.provider == provider:
            return int(row.id), str(row.address), str(row.type)
    raise WrongRecipient(
        f"The message was sent to {raw[:40]!r}, which is not an address of this channel's "
        "workspace.",
    )
