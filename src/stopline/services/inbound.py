"""Every inbound text, from every provider, through one ordered chain of small handlers (rules 1-9).

The shape follows CommCare's inbound handlers: a few *steps* prepare the message (who sent it,
their consent state, the conversation) and claim it by its provider id, so a replayed webhook
stops there having changed nothing; then each *handler* in `HANDLERS` looks at the message and
either takes it ("mine": the chain stops) or passes. Whatever happened, a message that was not
a replay and not from a blocked number is appended to its conversation, which stays open.

Everything runs inside the caller's one write transaction, so a message is processed wholly or
not at all, and the provider's retry of a failed webhook starts from a clean slate.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, Engine

from stopline.domain.errors import NotFound
from stopline.domain.policy import Policy
from stopline.providers.base import InboundMessage
from stopline.services.consent import now_utc
from stopline.services.group_commit import submit_write
from stopline.services.inbound_config import workspace_policy
from stopline.services.inbound_context import InboundChannel, InboundContext, InboundOutcome
from stopline.services.inbound_handlers import HANDLERS, intent_of
from stopline.services.inbound_steps import STEPS
from stopline.store import inbound as store

# --- finish: the conversation and the confirmation ---------------------------------------------


def _append_to_conversation(ctx: InboundContext) -> None:
    """Rule 8: the message joins its conversation, which stays open whatever it said."""
    if ctx.conversation_id is not None and not ctx.hidden:
        store.append_to_conversation(ctx.conn, ctx.conversation_id, ctx.received_at)


def _send_reply(ctx: InboundContext) -> tuple[tuple[str, ...], tuple[int, ...]]:
    """The one confirmation: inline in the webhook response where possible, else queued now.

    Both paths pass the gate (a confirmation passes an opt-out but never a block).
    """
    if ctx.reply is None or ctx.number is None:
        return (), ()
    from stopline.services import queueing

    if ctx.reply_inline:
        recorded = queueing.record_inline_reply_to(
            ctx.conn,
            ctx.workspace_id,
            ctx.channel,
            ctx.policy,
            ctx.number,
            ctx.reply.body,
            kind="confirmation",
            provider=ctx.channel.provider,
            conversation_id=ctx.conversation_id,
            now=ctx.now,
        )
        return ((ctx.reply.body,) if recorded is not None else ()), ()
    queued = queueing.enqueue(
        ctx.conn,
        ctx.workspace_id,
        channel_id=ctx.channel.id,
        to=ctx.number,
        body=ctx.reply.body,
        kind="confirmation",
        source=f"confirmation:{ctx.reply.kind}",
    )
    message_id = getattr(queued, "id", None)
    return (), ((int(message_id),) if message_id is not None else ())


# --- the entry points ----------------------------------------------------------------------------


def receive_inbound(
    conn: Connection,
    channel: InboundChannel,
    message: InboundMessage,
    *,
    reply_inline: bool = False,
    policy: Policy | None = None,
    now: datetime | None = None,
) -> InboundOutcome:
    """Process one inbound message inside the caller's write transaction.

    `channel` is the channel the provider delivered to (from the webhook URL, whose
    credentials verified it); `reply_inline` says the caller can carry the confirmation in
    its webhook response (Twilio's TwiML), otherwise it is queued for immediate send.
    The workspace's settings are read in the same transaction unless `policy` is given.
    """
    if policy is None:
        policy = workspace_policy(conn, channel.workspace_id)
    ctx = InboundContext(
        conn=conn,
        channel=channel,
        policy=policy,
        message=message,
        now=now or now_utc(),
        reply_inline=reply_inline,
    )
    finished = any(step(ctx) for step in STEPS)
    if not ctx.replay:
        if not finished:
            for handler in HANDLERS:
                if handler(ctx):
                    break
        _append_to_conversation(ctx)
    replies, queued = _send_reply(ctx) if not ctx.replay else ((), ())
    c = ctx.classification
    return InboundOutcome(
        action=ctx.action,
        workspace_id=ctx.workspace_id,
        channel_id=ctx.channel.id,
        number=ctx.number,
        message_id=ctx.message_id,
        replay=ctx.replay,
        hidden=ctx.hidden,
        intent=intent_of(c) if c is not None else None,
        keyword=getattr(c, "keyword", None) if c is not None else None,
        rule=getattr(c, "phrase", None) if c is not None else None,
        language=ctx.language if c is not None else None,
        event_seqs=tuple(ctx.events),
        canceled_messages=ctx.canceled,
        review_item_id=ctx.review_item_id,
        deadline=ctx.deadline,
        replies=replies,
        queued_reply_ids=queued,
        refused=ctx.refused,
    )


def process_inbound(
    engine: Engine,
    channel: InboundChannel,
    message: InboundMessage,
    *,
    reply_inline: bool = False,
    now: datetime | None = None,
) -> InboundOutcome:
    """`receive_inbound` in its own write transaction: what the webhooks call.

    The claim's `ON CONFLICT DO NOTHING` makes concurrent duplicates wait and then do nothing.
    Should a unique constraint still fire (a race on another key), the message's work is
    rolled back and it is tried once more, where it is then seen as a replay.

    On SQLite, where writers take turns anyway, concurrent webhooks are group-committed: one
    writer thread runs whatever has queued up in one transaction, each message in its own
    savepoint, and every caller gets its answer only after that transaction has committed.
    """

    def work(conn: Connection) -> InboundOutcome:
        return receive_inbound(conn, channel, message, reply_inline=reply_inline, now=now)

    return submit_write(engine, work).result()


def channel_for(conn: Connection, channel_id: int) -> tuple[InboundChannel, str | None]:
    """A channel by id (webhook URLs carry it) and its encrypted credentials."""
    row = store.channel_row(conn, channel_id)
    if row is None:
        raise NotFound(f"No channel {channel_id}.", code="channel_not_found")
    channel = InboundChannel(
        id=row.id,
        workspace_id=row.workspace_id,
        address=row.address,
        provider=row.provider,
        type=row.type,
    )
    return channel, row.credentials
