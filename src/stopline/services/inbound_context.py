"""One inbound message on its way through the chain: the channel, the context handlers share,
and what the message did.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection

from stopline.domain.consent import (
    EMPTY,
    Action,
    ConsentChange,
    Method,
    NumberState,
    Scope,
    ScopeKey,
)
from stopline.domain.policy import Policy
from stopline.providers.base import InboundMessage
from stopline.services.consent import ChangeResult, change_consent

if TYPE_CHECKING:
    from stopline.domain.keywords import Classification


@dataclass(frozen=True)
class InboundChannel:
    """The receiving channel: its workspace is where the message belongs."""

    id: int
    workspace_id: int
    address: str
    provider: str
    type: str


@dataclass(frozen=True)
class Reply:
    """A confirmation owed for this message: kind opt_out, opt_in or help."""

    kind: str
    language: str
    body: str


@dataclass(frozen=True)
class InboundOutcome:
    """What one inbound message did; `replies` are the texts to answer inline (TwiML)."""

    action: str  # which handler took it: opt_out, opt_in, help, revocation_review, message, ...
    workspace_id: int
    channel_id: int
    number: str | None  # the sender in E.164; None if the sender is not a phone number
    message_id: int | None  # None for a replay
    replay: bool = False
    hidden: bool = False  # stored but kept out of the inbox (blocked sender, rule 9)
    intent: str | None = None
    keyword: str | None = None
    rule: str | None = None  # the revocation rule (or reaction form) that named the intent
    language: str | None = None
    event_seqs: tuple[int, ...] = ()
    canceled_messages: int = 0
    review_item_id: int | None = None
    deadline: date | None = None
    replies: tuple[str, ...] = ()  # confirmation texts to put in the webhook response
    queued_reply_ids: tuple[int, ...] = ()  # confirmations queued for immediate send
    refused: str | None = None  # a refused request's code (e.g. "blocked" for START)


@dataclass
class InboundContext:
    """One message on its way through the chain; handlers read it and record what they did."""

    conn: Connection
    channel: InboundChannel
    policy: Policy
    message: InboundMessage
    now: datetime
    reply_inline: bool
    number: str | None = None
    state: NumberState = EMPTY
    conversation_id: int | None = None
    message_id: int | None = None
    classification: Classification | None = None
    lists: Mapping[int, Any] = field(default_factory=dict)
    # results
    action: str = "message"
    replay: bool = False
    hidden: bool = False
    events: list[int] = field(default_factory=list)
    canceled: int = 0
    review_item_id: int | None = None
    deadline: date | None = None
    reply: Reply | None = None
    refused: str | None = None
    _text: str = field(default="", init=False, repr=False)

    @property
    def workspace_id(self) -> int:
        return self.channel.workspace_id

    @property
    def text(self) -> str:
        return self._text

    def __post_init__(self) -> None:
        self._text = storable_text(self.message.body or "")

    @property
    def received_at(self) -> datetime:
        return self.message.received_at or self.now

    @property
    def language(self) -> str:
        lang = self.classification.language if self.classification else None
        return lang or "en"

    def confirm(self, kind: str, body: str | None = None) -> None:
        """Owe one confirmation: at most one per message, so a handler sets it once."""
        if kind != "help" and not self.policy.send_confirmations:
            return  # inbound rule 4: configurable; HELP is always answered (rule 6)
        text = body if body is not None else self.policy.confirmation_text(kind, self.language)
        self.reply = Reply(kind, self.language, text)

    def change(self, change: ConsentChange) -> ChangeResult:
        result = change_consent(
            self.conn, self.workspace_id, change, self.policy, from_inbound=True, now=self.now
        )
        if result.event is not None:
            self.events.append(result.event.seq)
        self.canceled += result.canceled_messages
        return result

    def consent_change(self, action: Action, method: Method, **kwargs: Any) -> ConsentChange:
        assert self.number is not None
        return ConsentChange(
            number=self.number,
            action=action,
            method=method,
            reason=kwargs.pop("reason", self.text),
            inbound_text=self.text,
            actor=f"inbound:{self.channel.provider}",
            channel_id=self.channel.id,
            source=f"inbound:{self.channel.provider}",
            correlation_id=storable_id(self.message.provider_message_id)[:200],
            occurred_at=self.received_at,
            **kwargs,
        )

    def covers_channel(self, key: ScopeKey) -> bool:
        """Does the opt-out `key` cover messages on this channel?"""
        scope, value = key
        return (
            scope is Scope.WORKSPACE
            or (scope is Scope.CHANNEL_TYPE and value == self.channel.type)
            or (scope is Scope.CHANNEL and value == str(self.channel.id))
        )

    def opted_out_here(self) -> bool:
        return any(self.covers_channel(key) for key in self.state.opt_outs)


Step = Callable[[InboundContext], bool]


def storable_text(value: str) -> str:
    """Text both databases can store as evidence: NUL (which PostgreSQL refuses) becomes U+FFFD
    and a lone surrogate (possible from a JSON escape) becomes "?"."""
    if "\x00" in value:
        value = value.replace("\x00", "\ufffd")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        value = value.encode("utf-8", "replace").decode("utf-8")
    return value


def storable_id(value: str) -> str:
    """A provider message id that fits its column: long or odd ids are kept as their digest,
    which stays unique and stable, so replays are still recognised."""
    clean = storable_text(value)
    if len(clean) <= 128 and clean == value:
        return value
    return "sha256:" + hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()
