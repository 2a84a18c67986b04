"""The inbox: conversations, the thread with reply box and state footer, and the contact panel."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post
from litestar.datastructures import FormMultiDict
from litestar.params import Parameter

from stopline.domain.errors import StoplineError
from stopline.domain.policy import Policy
from stopline.services import directory, inbox, preferences, review, workspaces
from stopline.web.ui.kit import (
    Viewer,
    nav_counts_in,
    redirect,
    render,
    ui_router,
)

PAGE_SIZE = 50


def refusal_text(code: str | None, number: str, policy: Policy, detail: str | None = None) -> str:
    """The gate's refusal code, in the words a person at the front desk needs."""
    if code == "opted_out":
        who = (
            "Only they can opt back in, by texting START."
            if policy.resubscribe_policy.value == "recipient_only"
            else "They can opt back in by texting START, or a member can restore permission "
            "with a note recording their consent."
        )
        return f"Not sent: {number} has opted out of messages from this workspace. {who}"
    if code == "blocked":
        return (
            f"Not sent: {number} is blocked, so nothing can be sent to it. Unblocking does not "
            "opt the number back in."
        )
    if code == "list_opted_out":
        return f"Not sent: {number} opted out of this list."
    if code == "not_subscribed":
        return f"Not sent: {number} is not subscribed to this list."
    if code == "invalid_number":
        return f"Not sent: {detail or 'this is not a valid phone number'}."
    return f"Not sent ({code}): {detail or 'refused'}."


def _panel(viewer: Viewer, conn: Any, number: str, policy: Policy) -> dict[str, Any]:
    prefs = preferences.for_number(conn, viewer.workspace_id, number, policy)
    contact = directory.contact_for_number(conn, viewer.workspace_id, number)
    notes = directory.list_notes(conn, viewer.workspace_id, contact.id) if contact else []
    pending = review.pending_for_number(conn, viewer.workspace_id, number)
    return {
        "prefs": prefs,
        "contact": contact,
        "notes": notes,
        "notes_available": True,
        "pending_reviews": pending,
    }


def _inbox_context(
    viewer: Viewer, *, conversation_id: int | None, status: str, q: str, page: int
) -> dict[str, Any]:
    """Everything the inbox shows, for the whole page and for its live updates alike."""
    if status not in inbox.STATUSES:
        status = "open"
    if conversation_id is not None:
        with viewer.writing() as conn:  # what is on screen counts as read
            inbox.get_conversation(conn, viewer.workspace_id, conversation_id)
            inbox.mark_seen(conn, viewer.workspace_id, viewer.session.user_id, conversation_id)
    with viewer.reading() as conn:
        stamp = inbox.change_stamp(conn, viewer.workspace_id)
        policy = workspaces.get_workspace(conn, viewer.workspace_id).policy
        summaries, total = inbox.list_conversations(
            conn,
            viewer.workspace_id,
            status=status,
            search=q or None,
            limit=PAGE_SIZE,
            offset=(page - 1) * PAGE_SIZE,
        )
        counts = inbox.counts(conn, viewer.workspace_id)
        badges = preferences.statuses(conn, viewer.workspace_id, [s.number for s in summaries])
        unread = inbox.unread_ids(
            conn, viewer.workspace_id, viewer.session.user_id, [s.id for s in summaries]
        )
        under_review = review.numbers_pending(conn, viewer.workspace_id)
        nav = nav_counts_in(conn, viewer)
        conversation = None
        messages: list[Any] = []
        panel: dict[str, Any] = {}
        if conversation_id is not None:
            conversation = inbox.get_conversation(conn, viewer.workspace_id, conversation_id)
            messages = inbox.thread(conn, viewer.workspace_id, conversation_id)
            panel = _panel(viewer, conn, conversation.number, policy)
    refusals = {
        m.id: refusal_text(m.refusal_code, conversation.number, policy, m.error_message)
        for m in messages
        if m.refusal_code and conversation is not None
    }
    return {
        "stamp": stamp,
        "summaries": summaries,
        "total": total,
        "counts": counts,
        "badges": badges,
        "unread": unread,
        "under_review": under_review,
        "nav_counts": nav,
        "conv_status": status,
        "q": q,
        "page": page,
        "pages": max(1, -(-total // PAGE_SIZE)),
        "params": {"status": status, "q": q},
        "conversation": conversation,
        "messages": messages,
        "refusals": refusals,
        "policy": policy,
        **panel,
    }


def _inbox_page(
    request: Request,
    viewer: Viewer,
    *,
    conversation_id: int | None,
    status: str,
    q: str,
    page: int,
    draft: str = "",
    refusal: str | None = None,
    reply_error: str | None = None,
    status_code: int = 200,
) -> Response[Any]:
    context = _inbox_context(viewer, conversation_id=conversation_id, status=status, q=q, page=page)
    conversation = context["conversation"]
    title = "Inbox"
    if conversation is not None:
        contact = context.get("contact")
        name = contact.name if contact is not None else None
        title = f"{name or conversation.number} · Inbox"
    return render(
        request,
        viewer,
        "inbox.html",
        status=status_code,
        title=title,
        nav="inbox",
        draft=draft,
        refusal=refusal,
        reply_error=reply_error,
        **context,
    )


@get("/inbox/live", sync_to_thread=True)
def inbox_live(
    request: Request,
    viewer: Viewer,
    stamp: str = Parameter(default="", query="stamp", max_length=64),
    conversation: int | None = Parameter(default=None, query="conversation"),
    status: str = Parameter(default="open", query="status", max_length=16),
    q: str = Parameter(default="", query="q", max_length=200),
    page: int = Parameter(default=1, query="page", ge=1),
) -> Response[Any]:
    """Polled every second by an open inbox: 204 (nothing to do) unless something changed, then
    the conversation list, the thread, its consent state and the navigation counts, swapped in
    place by htmx (the reply being typed is left alone)."""
    with viewer.reading() as conn:
        if inbox.change_stamp(conn, viewer.workspace_id) == stamp:
            return Response(b"", status_code=204, headers={"Cache-Control": "no-store"})
    context = _inbox_context(viewer, conversation_id=conversation, status=status, q=q, page=page)
    return render(request, viewer, "_inbox_live.html", **context)


@get("/inbox", sync_to_thread=True)
def inbox_page(
    request: Request,
    viewer: Viewer,
    status: str = Parameter(default="open", query="status"),
    q: str = Parameter(default="", query="q"),
    page: int = Parameter(default=1, query="page", ge=1),
) -> Response[Any]:
    return _inbox_page(request, viewer, conversation_id=None, status=status, q=q, page=page)


@get("/inbox/{conversation_id:int}", sync_to_thread=True)
def conversation_page(
    request: Request,
    viewer: Viewer,
    conversation_id: int,
    status: str = Parameter(default="", query="status"),
    q: str = Parameter(default="", query="q"),
    page: int = Parameter(default=1, query="page", ge=1),
) -> Response[Any]:
    if not status:
        with viewer.reading() as conn:
            status = inbox.get_conversation(conn, viewer.workspace_id, conversation_id).status
    return _inbox_page(
        request, viewer, conversation_id=conversation_id, status=status, q=q, page=page
    )


@get("/nav/counts", sync_to_thread=True)
def nav_counts_live(request: Request, viewer: Viewer) -> Response[Any]:
    """Every other page refreshes its navigation counts now and then (the inbox does every
    second, with the rest of its live update)."""
    with viewer.reading() as conn:
        counts = nav_counts_in(conn, viewer)
    return render(request, viewer, "_nav_counts_live.html", nav_counts=counts)


@post("/inbox/{conversation_id:int}/reply", sync_to_thread=True)
def reply(
    request: Request, viewer: Viewer, form: FormMultiDict, conversation_id: int
) -> Response[Any]:
    body = form.get("body") or ""
    body = body if isinstance(body, str) else ""
    try:
        with viewer.writing() as conn:
            message = inbox.reply(conn, viewer.principal, conversation_id, body)
            policy = workspaces.get_workspace(conn, viewer.workspace_id).policy
    except StoplineError as exc:
        if exc.code == "conversation_not_found":
            raise
        return _reply_error(request, viewer, conversation_id, body, exc.message)
    if getattr(message, "refusal_code", None):
        return _inbox_page(
            request,
            viewer,
            conversation_id=conversation_id,
            status=_status_of(viewer, conversation_id),
            q="",
            page=1,
            draft=body,
            refusal=refusal_text(message.refusal_code, message.to, policy, message.error_message),
            status_code=422,
        )
    return redirect(request, f"/inbox/{conversation_id}#reply", flash="Reply queued.")


def _status_of(viewer: Viewer, conversation_id: int) -> str:
    with viewer.reading() as conn:
        return inbox.get_conversation(conn, viewer.workspace_id, conversation_id).status


def _reply_error(
    request: Request, viewer: Viewer, conversation_id: int, body: str, message: str
) -> Response[Any]:
    return _inbox_page(
        request,
        viewer,
        conversation_id=conversation_id,
        status=_status_of(viewer, conversation_id),
        q="",
        page=1,
        draft=body,
        reply_error=message,
        status_code=422,
    )


@post("/inbox/{conversation_id:int}/close", sync_to_thread=True)
def close(request: Request, viewer: Viewer, conversation_id: int) -> Response[Any]:
    with viewer.writing() as conn:
        inbox.set_status(conn, viewer.principal, conversation_id, "closed")
    return redirect(request, f"/inbox/{conversation_id}", flash="Conversation closed.")


@post("/inbox/{conversation_id:int}/reopen", sync_to_thread=True)
def reopen(request: Request, viewer: Viewer, conversation_id: int) -> Response[Any]:
    with viewer.writing() as conn:
        inbox.set_status(conn, viewer.principal, conversation_id, "open")
    return redirect(request, f"/inbox/{conversation_id}", flash="Conversation reopened.")


ROUTES = [
    ui_router(inbox_page, inbox_live, nav_counts_live, conversation_page, reply, close, reopen)
]
