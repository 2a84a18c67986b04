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

import hashlib
import json
import logging
import queue
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import IntegrityError

from stopline.domain import deadlines
from stopline.domain.consent import (
    EMPTY,
    Action,
    ConsentChange,
    Method,
    NumberState,
    Scope,
    ScopeKey,
)
from stopline.domain.errors import InvalidInput, NotFound, StoplineError
from stopline.domain.list_replies import list_confirmation
from stopline.domain.numbers import normalize
from stopline.domain.policy import OptOutScope, Policy, RevocationMode
from stopline.providers.base import InboundMessage, StatusUpdate
from stopline.services import recipients
from stopline.services.consent import ChangeResult, change_consent, now_utc
from stopline.store import inbound as store
from stopline.store import ledger
from stopline.store.db import driver_connection, is_sqlite, write

if TYPE_CHECKING:
    from stopline.domain.keywords import Classification, KeywordConfig, ListKeywords

log = logging.getLogger(__name__)
T = TypeVar("T")

_DIGITS_WITHOUT_PLUS = recipients.DIGITS_WITHOUT_PLUS
_ADDRESS_PREFIXES = recipients.ADDRESS_PREFIXES


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


# --- configuration caches ---------------------------------------------------------------------

_cache_lock = threading.Lock()
_policies: dict[str, Policy] = {}
_keyword_configs: dict[str, KeywordConfig] = {}


def policy_from_settings(settings: Mapping[str, Any] | str | None) -> Policy:
    """A workspace's Policy from its stored settings, parsed once per distinct settings value."""
    key = (
        settings if isinstance(settings, str) else json.dumps(settings, sort_keys=True, default=str)
    )
    policy = _policies.get(key)
    if policy is None:
        parsed = json.loads(settings) if isinstance(settings, str) else settings
        policy = Policy.from_dict(parsed)  # type: ignore[arg-type]
        with _cache_lock:
            if len(_policies) > 1024:
                _policies.clear()
            _policies[key] = policy
    return policy


_configs_by_policy: dict[int, tuple[Policy, KeywordConfig]] = {}


def keyword_config(policy: Policy) -> KeywordConfig:
    """The compiled keyword sets of a policy, built once per distinct configuration."""
    known = _configs_by_policy.get(id(policy))
    if known is not None and known[0] is policy:  # policies are cached, so usually the same one
        return known[1]
    key = json.dumps(
        [list(policy.keyword_sets), [dict(k) for k in policy.custom_keywords]],
        sort_keys=True,
        default=str,
    )
    config = _keyword_configs.get(key)
    if config is None:
        from stopline.domain.keywords import KeywordConfig

        config = KeywordConfig.from_settings(policy.keyword_sets, list(policy.custom_keywords))
    with _cache_lock:
        if len(_keyword_configs) > 1024:
            _keyword_configs.clear()
            _configs_by_policy.clear()
        _keyword_configs[key] = config
        _configs_by_policy[id(policy)] = (policy, config)
    return config


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
            "kind": "normal",
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


def blocked_sender(ctx: InboundContext) -> bool:
    """Rule 9: a blocked number's message is kept hidden and counted; nothing else happens."""
    if ctx.state.block is not None:
        ctx.action = "blocked"
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


# --- handlers: each takes the message ("mine") or passes ---------------------------------------


def carrier_report(ctx: InboundContext) -> bool:
    """The provider already handled a keyword (Twilio Advanced Opt-Out's OptOutType).

    The provider has blocked or unblocked the number at its end and sent its own reply, so we
    record the change with method `carrier` and send no second confirmation.
    """
    kind = (ctx.message.opt_out_type or "").strip().upper()
    if kind == "STOP":
        ctx.action = "carrier_opt_out"
        ctx.change(ctx.consent_change(Action.OPT_OUT, Method.CARRIER, **_scope(ctx)))
        return True
    if kind == "START":
        ctx.action = "carrier_opt_in"
        _opt_in(ctx, Method.CARRIER)
        return True
    if kind == "HELP":
        ctx.action = "carrier_help"
        return True
    return False


def classify_text(ctx: InboundContext) -> bool:
    """Rules 1-3: the lists' own keywords, then the workspace's sets, then possible revocations
    (the classifier's precedence); takes nothing itself, the handlers below act on it."""
    from stopline.domain.keywords import classify

    config = keyword_config(ctx.policy)
    rows = store.keyword_lists(ctx.conn, ctx.workspace_id)
    ctx.lists = {row.id: row for row in rows}
    list_keywords = _list_keywords(rows)
    ctx.classification = classify(
        ctx.text,
        config,
        opted_out=ctx.opted_out_here(),
        list_keywords=list_keywords,
    )
    return False


def list_keyword(ctx: InboundContext) -> bool:
    """A list's own keyword (seed 001): it acts on that list only."""
    c = ctx.classification
    if c is None or c.list_id is None or c.list_id not in ctx.lists:
        return False
    row = ctx.lists[c.list_id]
    intent = _intent(c)
    if intent == "help":
        ctx.action = "list_help"
        ctx.confirm(
            "help", list_confirmation(ctx.policy, "help", ctx.language, row.name, row.help_text)
        )
        return True
    if intent == "opt_out":
        ctx.action = "list_opt_out"
        result = ctx.change(ctx.consent_change(Action.LIST_OPT_OUT, Method.REPLY, list_id=row.id))
        if result.changed:
            ctx.confirm("opt_out", list_confirmation(ctx.policy, "opt_out", ctx.language, row.name))
        return True
    if intent == "opt_in":
        ctx.action = "list_opt_in"
        try:
            result = ctx.change(
                ctx.consent_change(Action.LIST_OPT_IN, Method.REPLY, list_id=row.id)
            )
        except StoplineError as exc:
            ctx.refused = exc.code
            return True
        if result.changed:
            ctx.confirm("opt_in", list_confirmation(ctx.policy, "opt_in", ctx.language, row.name))
        return True
    return False


def help_request(ctx: InboundContext) -> bool:
    """Rule 6: HELP is answered with the workspace's help text, even while opted out."""
    if ctx.classification is None or _intent(ctx.classification) != "help":
        return False
    ctx.action = "help"
    ctx.confirm("help")
    return True


def opt_in(ctx: InboundContext) -> bool:
    """Rule 5: START (YES only while opted out) lifts the opt-outs that cover this channel."""
    if ctx.classification is None or _intent(ctx.classification) != "opt_in":
        return False
    ctx.action = "opt_in"
    result = _opt_in(ctx, Method.REPLY)
    if result is not None and result.changed:
        ctx.confirm("opt_in")
    return True


def opt_out(ctx: InboundContext) -> bool:
    """Rule 4: an opt-out keyword records an opt-out in the workspace's scope, and confirms."""
    if ctx.classification is None or _intent(ctx.classification) != "opt_out":
        return False
    ctx.action = "opt_out"
    result = ctx.change(ctx.consent_change(Action.OPT_OUT, Method.REPLY, **_scope(ctx)))
    if result.changed:
        ctx.confirm("opt_out")
    return True


def possible_revocation(ctx: InboundContext) -> bool:
    """Rule 3: a plain-language request to stop goes to review with its deadline, or opts out."""
    c = ctx.classification
    if c is None or _intent(c) != "possible_opt_out":
        return False
    if ctx.opted_out_here():
        ctx.action = "revocation_already_opted_out"
        return True
    if ctx.policy.revocation_mode is RevocationMode.AUTO_OPT_OUT:
        ctx.action = "revocation_opt_out"
        result = ctx.change(ctx.consent_change(Action.OPT_OUT, Method.REPLY, **_scope(ctx)))
        if result.changed:
            ctx.confirm("opt_out")
        return True
    ctx.action = "revocation_review"
    assert ctx.number is not None
    ctx.deadline = deadlines.revocation_deadline(
        ctx.received_at, ctx.policy.review_deadline_business_days
    )
    ctx.review_item_id = store.insert_review_item(
        ctx.conn,
        workspace_id=ctx.workspace_id,
        number=ctx.number,
        message_id=ctx.message_id,
        channel_id=ctx.channel.id,
        body=ctx.text,
        phrase=(getattr(c, "phrase", None) or None) and str(c.phrase)[:200],
        deadline=ctx.deadline,
        status="pending",
        created_at=ctx.now,
    )
    return True


def any_inbound_opts_in(ctx: InboundContext) -> bool:
    """Rule 7 (off by default): any other message from an opted-out number opts it back in."""
    if not ctx.policy.any_inbound_opts_in or not ctx.opted_out_here():
        return False
    ctx.action = "any_inbound_opt_in"
    result = _opt_in(ctx, Method.REPLY)
    if result is not None and result.changed:
        ctx.confirm("opt_in")
    return True


HANDLERS: tuple[Step, ...] = (
    blocked_sender,
    carrier_report,
    classify_text,
    list_keyword,
    help_request,
    opt_in,
    opt_out,
    possible_revocation,
    any_inbound_opts_in,
)


def _intent(c: Classification) -> str:
    intent = c.intent
    return str(getattr(intent, "value", intent))


def _scope(ctx: InboundContext) -> dict[str, Any]:
    return scope_for(ctx.policy, ctx.channel)


def scope_for(policy: Policy, channel: InboundChannel) -> dict[str, Any]:
    """The workspace's opt-out scope for a message on this channel (outbound rule 3):
    `channel_type` is keyed by the channel's type, `channel` by its id."""
    if policy.opt_out_scope is OptOutScope.CHANNEL_TYPE:
        return {"scope": Scope.CHANNEL_TYPE, "scope_key": channel.type}
    if policy.opt_out_scope is OptOutScope.CHANNEL:
        return {"scope": Scope.CHANNEL, "scope_key": str(channel.id)}
    return {"scope": Scope.WORKSPACE, "scope_key": ""}


def _opt_in(ctx: InboundContext, method: Method) -> ChangeResult | None:
    """Lift the opt-outs covering this channel (and list opt-outs, per setting); refused if
    blocked."""
    lifts = [[s.value, k] for (s, k) in sorted(ctx.state.opt_outs) if ctx.covers_channel((s, k))]
    detail: dict[str, Any] = {"lifts": lifts}
    if ctx.policy.opt_in_clears_list_opt_outs:
        detail["lifts_lists"] = sorted(ctx.state.list_opt_outs)
    try:
        return ctx.change(ctx.consent_change(Action.OPT_IN, method, detail=detail))
    except StoplineError as exc:  # blocked: a blocked number cannot opt in (rule 5)
        ctx.refused = exc.code
        ctx.action = f"{ctx.action}_refused"
        return None


_parsed_lists: dict[tuple[int, str, str | None], ListKeywords | None] = {}


def _list_keywords(rows: Sequence[Any]) -> list[ListKeywords]:
    """The lists' keywords as the classifier takes them, parsed once per distinct stored value
    (every inbound message needs them; parsing costs ~25 us a list)."""
    out: list[ListKeywords] = []
    for row in rows:
        stored = row.keywords
        text = stored if isinstance(stored, str) else json.dumps(stored, sort_keys=True)
        key = (int(row.id), text, row.help_text)
        if key in _parsed_lists:
            parsed = _parsed_lists[key]
        else:
            parsed = _parse_list_keywords(row)
            with _cache_lock:
                if len(_parsed_lists) > 4096:
                    _parsed_lists.clear()
                _parsed_lists[key] = parsed
        if parsed is not None:
            out.append(parsed)
    return out


def _parse_list_keywords(row: Any) -> ListKeywords | None:
    """One list's stored keywords, or None if it has none.

    Stored as ``{"opt_out": [...], "opt_in": [...], "help": [...]}`` (words, or entries like
    ``{"word", "mode", "language"}``) or as a list of entries with their ``intent``. A list whose
    stored keywords are invalid is skipped, logged: the global keywords still apply to it.
    """
    from stopline.domain.keywords import ListKeywords

    stored = row.keywords or {}
    if isinstance(stored, str):
        stored = json.loads(stored)
    entries: list[Mapping[str, Any]] = []
    if isinstance(stored, Mapping):
        for intent in ("opt_out", "opt_in", "help"):
            for item in stored.get(intent) or ():
                entry = dict(item) if isinstance(item, Mapping) else {"word": item}
                entries.append({**entry, "intent": intent})
    elif isinstance(stored, list):
        entries = [dict(e) for e in stored if isinstance(e, Mapping)]
    if not entries:
        return None
    try:
        return ListKeywords.from_settings(int(row.id), entries, row.help_text)
    except StoplineError:
        log.warning("list %s has invalid keywords; only global keywords apply", row.id)
        return None


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
    from stopline.services import sending

    if ctx.reply_inline:
        recorded = sending.record_inline_reply_to(
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
    queued = sending.enqueue(
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
        intent=_intent(c) if c is not None else None,
        keyword=getattr(c, "keyword", None) if c is not None else None,
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


_pool = ThreadPoolExecutor(max_workers=32, thread_name_prefix="stopline-write")


def submit_write(engine: Engine, work: Callable[[Connection], T]) -> Future[T]:
    """Run `work(conn)` in its own write transaction, soon; a Future of its result.

    SQLite: group-committed by one writer thread (see `GroupCommit`). PostgreSQL: a thread of
    a pool, one transaction each; an IntegrityError is retried once, where a duplicate of a
    concurrent message is then seen as a replay.
    """
    if is_sqlite(engine):
        return _batcher(engine).submit(work)
    return _pool.submit(_in_transaction, engine, work)


def _in_transaction(engine: Engine, work: Callable[[Connection], T]) -> T:
    for attempt in (1, 2):
        try:
            with write(engine) as conn:
                return work(conn)
        except IntegrityError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


class GroupCommit:
    """One writer thread committing many callers' work per SQLite transaction.

    Each unit of work runs in a savepoint, so one that fails (its caller gets the exception)
    leaves the others intact; an IntegrityError is retried once in a fresh savepoint. If the
    commit itself fails, every caller of that batch gets the error and nothing was stored.
    """

    MAX_BATCH = 64

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._queue: queue.SimpleQueue[tuple[Callable[[Connection], Any], Future[Any]]] = (
            queue.SimpleQueue()
        )
        self._thread = threading.Thread(target=self._loop, name="stopline-inbound", daemon=True)
        self._thread.start()

    def submit(self, work: Callable[[Connection], T]) -> Future[T]:
        future: Future[T] = Future()
        self._queue.put((work, future))
        return future

    def _loop(self) -> None:
        while True:
            batch = [self._queue.get()]
            while len(batch) < self.MAX_BATCH:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            self._run_batch(batch)

    def _run_batch(self, batch: list[tuple[Callable[[Connection], Any], Future[Any]]]) -> None:
        done: list[tuple[Future[Any], Any, BaseException | None]] = []
        try:
            with write(self.engine) as conn:
                if len(batch) == 1:  # alone in its transaction: no savepoint needed
                    work, future = batch[0]
                    done.append((future, work(conn), None))
                else:
                    for work, future in batch:
                        done.append((future, *self._one(conn, work)))
        except IntegrityError as exc:
            if len(batch) == 1:  # retried in a savepoint-free fresh transaction
                self._retry_alone(batch[0])
                return
            self._fail(batch, exc)
            return
        except BaseException as exc:  # noqa: BLE001 - the commit failed: nothing was stored
            self._fail(batch, exc)
            return
        for future, result, error in done:
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(result)

    def _retry_alone(self, item: tuple[Callable[[Connection], Any], Future[Any]]) -> None:
        work, future = item
        try:
            with write(self.engine) as conn:
                result = work(conn)
        except BaseException as exc:  # noqa: BLE001 - the caller's error
            future.set_exception(exc)
        else:
            future.set_result(result)

    @staticmethod
    def _fail(
        batch: list[tuple[Callable[[Connection], Any], Future[Any]]], exc: BaseException
    ) -> None:
        for _, future in batch:
            if not future.done():
                future.set_exception(exc)

    @staticmethod
    def _one(
        conn: Connection, work: Callable[[Connection], Any]
    ) -> tuple[Any, BaseException | None]:
        # Driver-level savepoints: cheaper than SQLAlchemy's, and invisible to it.
        driver = driver_connection(conn)
        for attempt in (1, 2):
            driver.execute("SAVEPOINT stopline_inbound")
            try:
                result = work(conn)
            except IntegrityError as exc:
                driver.execute("ROLLBACK TO stopline_inbound")
                driver.execute("RELEASE stopline_inbound")
                if attempt == 2:
                    return None, exc
                continue
            except Exception as exc:  # noqa: BLE001 - this caller's error, not the batch's
                driver.execute("ROLLBACK TO stopline_inbound")
                driver.execute("RELEASE stopline_inbound")
                return None, exc
            driver.execute("RELEASE stopline_inbound")
            return result, None
        return None, None  # pragma: no cover


_batchers: dict[int, GroupCommit] = {}


def _batcher(engine: Engine) -> GroupCommit:
    found = _batchers.get(id(engine))
    if found is None or found.engine is not engine:
        with _cache_lock:
            found = _batchers.get(id(engine))
            if found is None or found.engine is not engine:
                found = _batchers[id(engine)] = GroupCommit(engine)
    return found


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


def workspace_policy(conn: Connection, workspace_id: int) -> Policy:
    """The workspace's current settings (parsed once per distinct value)."""
    settings = store.settings_text(conn, workspace_id)
    if settings is None:
        raise NotFound("No such workspace.", code="workspace_not_found")
    return policy_from_settings(settings)


# --- status callbacks ---------------------------------------------------------------------------


@dataclass(frozen=True)
class StatusOutcome:
    message_id: int | None  # None: not one of ours (or not recorded yet)
    status: str | None  # the message's status after the update


def receive_status(
    conn: Connection, channel: InboundChannel, update: StatusUpdate, *, now: datetime | None = None
) -> StatusOutcome:
    """A provider's report on a message we sent: its status moves forward, and a carrier-reported
    opt-out (Twilio 21610, Telnyx 40300, ...) records an opt-out with method `carrier`."""
    from stopline.services import sending

    message = sending.apply_status_update(
        conn,
        channel.workspace_id,
        provider=channel.provider,
        provider_message_id=update.provider_message_id,
        status=update.status,
        error_code=update.error_code,
        recipient_opted_out=update.recipient_opted_out,
        now=now,
    )
    if message is None:
        return StatusOutcome(None, None)
    return StatusOutcome(message.id, message.status)


def process_status(
    engine: Engine, channel: InboundChannel, update: StatusUpdate, *, now: datetime | None = None
) -> StatusOutcome:
    return submit_write(
        engine, lambda conn: receive_status(conn, channel, update, now=now)
    ).result()


# --- reading back ------------------------------------------------------------------------------


def hidden_inbound_count(conn: Connection, workspace_id: int, number: str | None = None) -> int:
    """How many messages from blocked numbers were kept out of the inbox (rule 9: counted)."""
    return store.hidden_inbound_count(conn, workspace_id, number)


def visible_messages(conn: Connection, workspace_id: int, conversation_id: int) -> list[Any]:
    return store.visible_messages(conn, workspace_id, conversation_id)
