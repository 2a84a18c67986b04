"""Joining a list by double opt-in (domain/join.py): a list's join settings, starting a request
(a join keyword or the hosted form), confirming it on YES, and expiring unanswered ones.

A confirmed join is a list opt-in through the consent door (method `reply`: the number's own
YES), carrying the evidence of the whole exchange, and adds the number to the list.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine

from stopline.domain import join
from stopline.domain.consent import Action, Method, utc
from stopline.domain.optin_evidence import text_hash
from stopline.domain.policy import Policy
from stopline.services.consent import change_memberships, now_utc
from stopline.services.lists import get_list
from stopline.services.workspaces import Principal, get_workspace
from stopline.store import joins as store
from stopline.store import ledger
from stopline.store.db import write


@dataclass(frozen=True)
class JoinSettings:
    list_id: int
    list_name: str
    slug: str
    keywords: list[str]
    request_text: str
    form_enabled: bool
    consent_text: str | None
    consent_version: int | None

    @property
    def form_path(self) -> str:
        return f"/join/{self.slug}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "list_id": self.list_id,
            "list_name": self.list_name,
            "keywords": self.keywords,
            "request_text": self.request_text,
            "form_enabled": self.form_enabled,
            "form_path": self.form_path,
            "consent_text": self.consent_text,
            "consent_version": self.consent_version,
        }


def _settings(conn: Connection, row: Any) -> JoinSettings:
    text = store.latest_text(conn, int(row.workspace_id), int(row.list_id))
    keywords = row.keywords
    if isinstance(keywords, str):
        keywords = json.loads(keywords)
    return JoinSettings(
        list_id=int(row.list_id),
        list_name=row.list_name,
        slug=row.slug,
        keywords=list(keywords or []),
        request_text=row.request_text,
        form_enabled=bool(row.form_enabled),
        consent_text=text.text if text is not None else None,
        consent_version=int(text.version) if text is not None else None,
    )


def get_settings(conn: Connection, workspace_id: int, list_id: int) -> JoinSettings | None:
    get_list(conn, workspace_id, list_id)
    row = store.get_join(conn, workspace_id, list_id)
    return _settings(conn, row) if row is not None else None


def by_slug(conn: Connection, slug: str) -> tuple[int, JoinSettings] | None:
    """The hosted form's list (its workspace id and settings), if the form is on."""
    row = store.join_by_slug(conn, slug) if 8 <= len(slug) <= 32 else None
    if row is None or not row.form_enabled:
        return None
    return int(row.workspace_id), _settings(conn, row)


def _meaning(conn: Connection, workspace_id: int, policy: Policy) -> Any:
    """What the inbound classifier already reads a word as: trust-core's list-keyword rule
    first (a word an enabled set uses, folded, or begins), then the classifier itself with every
    list's keywords, opted out or not (same-intent words, YES, revocation phrases)."""
    from stopline.domain.keywords import Intent, Keyword, classify, shadowed_keyword
    from stopline.services.inbound_config import keyword_config, keywords_of_lists
    from stopline.store import inbound as inbound_store

    config = keyword_config(policy)
    others = keywords_of_lists(inbound_store.keyword_lists(conn, workspace_id))

    def means(word: str) -> str | None:
        shadowed = shadowed_keyword(Keyword(word, Intent.OPT_IN, set_name="list"), config)
        if shadowed is not None:
            return f"{shadowed.intent.value.replace('_', '-')} ({shadowed.word})"
        for opted_out in (False, True):
            found = classify(word, config, opted_out=opted_out, list_keywords=others)
            intent = str(getattr(found.intent, "value", found.intent))
            if intent != "none":
                return intent.replace("_", "-") + (" (a list keyword)" if found.list_id else "")
        return None

    return means


def save_settings(
    conn: Connection,
    principal: Principal,
    list_id: int,
    *,
    keywords: Any = None,
    request_text: str | None = None,
    form_enabled: bool = False,
    consent_text: str | None = None,
) -> JoinSettings:
    """Set a list's join keywords, double opt-in request, and hosted form (its consent language
    is versioned: a changed text becomes a new version, the old ones are kept)."""
    principal.require("admin")
    the_list = get_list(conn, principal.workspace_id, list_id)
    policy = get_workspace(conn, principal.workspace_id).policy
    taken = {
        word: row.list_name
        for row in store.joins_of(conn, principal.workspace_id)
        if int(row.list_id) != list_id
        for word in (row.keywords or [])
    }
    words = join.check_words(keywords, _meaning(conn, principal.workspace_id, policy), taken)
    request = join.check_text(
        request_text or join.default_request(policy.brand_name, the_list.name),
        field="request_text",
        limit=join.MAX_REQUEST_TEXT,
    )
    now = now_utc()
    if consent_text is not None and consent_text.strip():
        text = join.check_text(consent_text, field="consent_text", limit=join.MAX_CONSENT_TEXT)
        latest = store.latest_text(conn, principal.workspace_id, list_id)
        if latest is None or latest.text != text:
            store.insert_text(
                conn,
                workspace_id=principal.workspace_id,
                list_id=list_id,
                version=(int(latest.version) + 1) if latest is not None else 1,
                text=text,
                hash=text_hash(text),
                created_at=now,
            )
    if form_enabled and store.latest_text(conn, principal.workspace_id, list_id) is None:
        raise join_error("The hosted form needs its consent language.", "consent_text_required")
    store.save_join(
        conn,
        principal.workspace_id,
        list_id,
        slug=secrets.token_urlsafe(12),
        keywords=words,
        request_text=request,
        form_enabled=bool(form_enabled),
        updated_at=now,
    )
    settings = get_settings(conn, principal.workspace_id, list_id)
    assert settings is not None
    return settings


def join_error(message: str, code: str) -> Exception:
    from stopline.domain.errors import InvalidInput

    return InvalidInput(message, code=code)


_parsed: dict[Any, frozenset[str]] = {}


def _words(stored: Any) -> frozenset[str]:
    """A stored keyword list as a set, parsed once per distinct stored value."""
    key = stored if isinstance(stored, str) else json.dumps(stored)
    found = _parsed.get(key)
    if found is None:
        raw = json.loads(stored) if isinstance(stored, str) else stored
        found = frozenset(str(w) for w in raw or ())
        if len(_parsed) > 10_000:
            _parsed.clear()
        _parsed[key] = found
    return found


def list_for_word(
    conn: Connection, workspace_id: int, text: str
) -> tuple[str, JoinSettings] | None:
    """The list a whole-message join keyword names, if any."""
    word = join.reading(text)
    if not word or len(word) > 20 or " " in word:
        return None  # cheap: most texts are not one short word
    for list_id, stored in store.join_words(conn, workspace_id):
        if word in _words(stored):
            row = store.get_join(conn, workspace_id, list_id)
            return (word, _settings(conn, row)) if row is not None else None
    return None


def start(
    conn: Connection,
    workspace_id: int,
    settings: JoinSettings,
    number: str,
    *,
    via: str,
    channel_id: int | None,
    evidence: dict[str, Any],
    policy: Policy,
    now: datetime,
) -> int:
    """Open a double opt-in request (the caller sends `settings.request_text`)."""
    return store.insert_request(
        conn,
        workspace_id=workspace_id,
        list_id=settings.list_id,
        number=number,
        channel_id=channel_id,
        via=via,
        status="pending",
        request_text=settings.request_text,
        requested_at=now,
        expires_at=join.expires_at(now, policy.double_opt_in_hours),
        evidence=evidence,
    )


def pending(conn: Connection, workspace_id: int, number: str, now: datetime) -> Any:
    """The request a YES from `number` answers now, or None. A request is void once the number
    opted out (of everything or of that list) after it was made: STOP always wins."""
    request = store.pending_request(conn, workspace_id, number, now)
    if request is None:
        return None
    since = utc(request.requested_at)
    for event in ledger.iter_events(conn, workspace_id, number=number):
        if event.recorded_at < since:
            continue
        if event.action in (Action.OPT_OUT, Action.BLOCK) or (
            event.action is Action.LIST_OPT_OUT and event.list_id == request.list_id
        ):
            store.cancel_pending(conn, workspace_id, number, now)
            return None
    return request


def confirmed(
    conn: Connection, request: Any, event_seq: int | None, number: str, now: datetime
) -> None:
    """Mark the request answered and put the number on the list."""
    store.set_request(
        conn, int(request.id), status="confirmed", answered_at=now, event_seq=event_seq
    )
    workspace_id, list_id = int(request.workspace_id), int(request.list_id)
    # Through the membership door: the ledger records who a campaign may reach.
    change_memberships(
        conn,
        workspace_id,
        list_id,
        [number],
        subscribe=True,
        actor="recipient",
        method=Method.REPLY,
        source=f"double opt-in request {int(request.id)}",
        now=now,
    )


def request_dict(row: Any) -> dict[str, Any]:
    return {
        "id": int(row.id),
        "list_id": int(row.list_id),
        "via": row.via,
        "status": row.status,
        "request_text": row.request_text,
        "requested_at": utc(row.requested_at).isoformat(),
        "expires_at": utc(row.expires_at).isoformat(),
        "answered_at": utc(row.answered_at).isoformat() if row.answered_at else None,
        "event_seq": row.event_seq,
        "evidence": row.evidence,
    }


def requests_of(conn: Connection, workspace_id: int, number: str) -> list[dict[str, Any]]:
    return [request_dict(r) for r in store.requests_of(conn, workspace_id, number)]


def expire_due(engine: Engine, now: datetime | None = None) -> int:
    """Expire every unanswered request past its window (the worker runs this each minute)."""
    with write(engine) as conn:
        return store.expire_due(conn, now or now_utc())
