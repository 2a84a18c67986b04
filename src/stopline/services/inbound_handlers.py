"""The inbound handlers, in order (CommCare-style): each looks at the message and either takes it
("mine": the chain stops) or passes it on (inbound rules 3-9).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from stopline.domain import deadlines
from stopline.domain.consent import (
    Action,
    Method,
    Scope,
)
from stopline.domain.errors import StoplineError
from stopline.domain.list_replies import list_confirmation
from stopline.domain.policy import OptOutScope, Policy, RevocationMode
from stopline.services.consent import ChangeResult
from stopline.services.inbound_config import keyword_config, keywords_of_lists
from stopline.services.inbound_context import InboundChannel, InboundContext, Step
from stopline.store import inbound as store

if TYPE_CHECKING:
    from stopline.domain.keywords import Classification


# --- handlers: each takes the message ("mine") or passes ---------------------------------------


def blocked_sender(ctx: InboundContext) -> bool:
    """Rule 9: a blocked number's message is kept hidden and counted; nothing else happens."""
    if ctx.state.block is not None:
        ctx.action = "blocked"
        return True
    return False


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
    list_keywords = keywords_of_lists(rows)
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
    intent = intent_of(c)
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
            ctx.confirm(
                "opt_out",
                list_confirmation(
                    ctx.policy, "opt_out", ctx.language, row.name, replies=row.replies
                ),
            )
        return True
    if intent == "opt_in":
        if keep_list(ctx, row):
            return True
        ctx.action = "list_opt_in"
        try:
            result = ctx.change(
                ctx.consent_change(Action.LIST_OPT_IN, Method.REPLY, list_id=row.id)
            )
        except StoplineError as exc:
            ctx.refused = exc.code
            return True
        if result.changed:
            ctx.confirm(
                "opt_in",
                list_confirmation(
                    ctx.policy, "opt_in", ctx.language, row.name, replies=row.replies
                ),
            )
        return True
    return False


def help_request(ctx: InboundContext) -> bool:
    """Rule 6: HELP is answered with the workspace's help text, even while opted out."""
    if ctx.classification is None or intent_of(ctx.classification) != "help":
        return False
    ctx.action = "help"
    ctx.confirm("help")
    return True


def opt_in(ctx: InboundContext) -> bool:
    """Rule 5: START (YES only while opted out) lifts the opt-outs that cover this channel."""
    if ctx.classification is None or intent_of(ctx.classification) != "opt_in":
        return False
    ctx.action = "opt_in"
    result = _opt_in(ctx, Method.REPLY)
    if result is not None and result.changed:
        ctx.confirm("opt_in")
    return True


def opt_out(ctx: InboundContext) -> bool:
    """Rule 4: an opt-out keyword records an opt-out in the workspace's scope, and confirms."""
    if ctx.classification is None or intent_of(ctx.classification) != "opt_out":
        return False
    ctx.action = "opt_out"
    _opt_out_offering(ctx)
    return True


def _opt_out_offering(ctx: InboundContext) -> None:
    """Record the opt-out (for everything) and confirm it; where the workspace offers it, the
    confirmation also asks which of the number's lists to keep, and the offer is part of the
    opt-out event (domain/keep_offer.py)."""
    from stopline.domain.keep_offer import fitted, offer_text
    from stopline.domain.limits import LIMITS
    from stopline.services.keep_offers import offer_for

    assert ctx.number is not None
    plain = ctx.policy.confirmation_text("opt_out", ctx.language)
    offer = offer_for(
        ctx.conn,
        ctx.workspace_id,
        ctx.policy,
        ctx.number,
        ctx.state,
        list(ctx.lists.values()),
        ctx.now,
        ctx.language,
    )
    offer = fitted(offer, plain, LIMITS["reply_text"])
    detail = offer.as_detail() if offer is not None else None
    result = ctx.change(
        ctx.consent_change(Action.OPT_OUT, Method.REPLY, detail=detail, **_scope(ctx))
    )
    if not result.changed:
        return
    ctx.confirm("opt_out", plain if offer is None else f"{plain} {offer_text(offer, ctx.language)}")


def keep_list(ctx: InboundContext, row: Any) -> bool:
    """The answer to an opt-out confirmation's offer (the list's opt-in word, in time): keep
    that list past the opt-out, recorded as a list opt-in with the exchange as its evidence.
    Anything else (no offer, too late, another list) is an ordinary list keyword."""
    from stopline.domain.keep_offer import kept_text, sentence
    from stopline.services.keep_offers import answer_keeps

    if ctx.number is None or not ctx.state.opt_outs:
        return False
    found = answer_keeps(ctx.conn, ctx.workspace_id, ctx.number, ctx.state, int(row.id), ctx.now)
    if found is None:
        return False
    offer_event, offer = found
    offered = offer.offered(int(row.id))
    assert offered is not None
    evidence = {
        "source": "answer to the opt-out confirmation's offer to keep a list",
        "offer": sentence(offered, offer.language),
        "opt_out_text": offer_event.inbound_text,
        "opt_out_at": offer_event.recorded_at.isoformat(),
        "answer_by": offer.answer_by.isoformat(),
        "answer_text": ctx.text,
        "answered_at": ctx.now.isoformat(),
    }
    change = ctx.consent_change(
        Action.LIST_OPT_IN,
        Method.REPLY,
        list_id=int(row.id),
        detail={
            "keeps": [offer_event.scope.value, offer_event.scope_key],
            "offer_seq": offer_event.seq,
            "evidence": evidence,
        },
    )
    try:
        result = ctx.change(change)
    except StoplineError as exc:
        ctx.refused = exc.code
        ctx.action = "list_kept_refused"
        return True
    ctx.action = "list_kept"
    if result.changed:
        ctx.confirm("opt_in", kept_text(ctx.policy.brand_name, row.name, offer.language))
    return True


def join_reply(ctx: InboundContext) -> bool:
    """YES to a pending double opt-in (domain/join.py): record the list opt-in with the whole
    exchange as evidence, and subscribe. Runs after the keyword handlers: STOP always wins."""
    from stopline.domain import join
    from stopline.services import joins

    if ctx.number is None or not join.is_yes(ctx.text):
        return False
    request = joins.pending(ctx.conn, ctx.workspace_id, ctx.number, ctx.now)
    if request is None or ctx.opted_out_here():
        return False
    evidence = join.confirmed_evidence(request._mapping, ctx.text, ctx.received_at)
    change = ctx.consent_change(
        Action.LIST_OPT_IN,
        Method.REPLY,
        list_id=int(request.list_id),
        detail={"evidence": evidence},
    )
    result = ctx.change(change)
    joins.confirmed(
        ctx.conn, request, result.event.seq if result.event else None, ctx.number, ctx.now
    )
    ctx.action = "join_confirmed"
    row = ctx.lists.get(int(request.list_id))
    name = row.name if row is not None else "our list"
    ctx.confirm(
        "opt_in",
        f"{ctx.policy.brand_name}: You are subscribed to {name}. Msg&data rates may apply. "
        "Reply HELP for help, STOP to cancel.",
    )
    return True


def join_keyword(ctx: InboundContext) -> bool:
    """A list's join keyword (JOIN, DEALS): answer with the list's double opt-in request; the
    number joins only when it answers YES in time. A number opted out here must text START
    first (the request is never sent past an opt-out)."""
    from stopline.services import joins
    from stopline.services.inbound_context import Reply

    if ctx.number is None or ctx.opted_out_here():
        return False
    found = joins.list_for_word(ctx.conn, ctx.workspace_id, ctx.text)
    if found is None:
        return False
    word, settings = found
    joins.start(
        ctx.conn,
        ctx.workspace_id,
        settings,
        ctx.number,
        via="keyword",
        channel_id=ctx.channel.id,
        evidence={
            "source": f"join keyword {word} texted to {ctx.channel.address}",
            "join_text": ctx.text,
            "join_received_at": ctx.received_at.isoformat(),
        },
        policy=ctx.policy,
        now=ctx.now,
    )
    ctx.action = "join_requested"
    # Always sent (unlike confirmations, which a workspace may turn off): no request, no join.
    ctx.reply = Reply("join", ctx.language, settings.request_text)
    return True


def reaction(ctx: InboundContext) -> bool:
    """A reaction to our message (Liked “… Reply STOP to unsubscribe”) asks for nothing: it is
    kept (stored with kind `reaction`) and nothing else happens, not even rule 7's opt-in."""
    if ctx.classification is None or intent_of(ctx.classification) != "reaction":
        return False
    ctx.action = "reaction"
    return True


def possible_revocation(ctx: InboundContext) -> bool:
    """Rule 3: a plain-language request to stop goes to review with its deadline, or opts out."""
    c = ctx.classification
    if c is None or intent_of(c) != "possible_opt_out":
        return False
    if ctx.opted_out_here():
        ctx.action = "revocation_already_opted_out"
        return True
    if ctx.policy.revocation_mode is RevocationMode.AUTO_OPT_OUT:
        ctx.action = "revocation_opt_out"
        _opt_out_offering(ctx)
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
    reaction,
    join_reply,
    join_keyword,
    possible_revocation,
    any_inbound_opts_in,
)


def intent_of(c: Classification) -> str:
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
