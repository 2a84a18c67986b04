"""The hosted opt-in form of a list (/join/{slug}): show it, and take a submission as the start of
a double opt-in whose evidence is the form itself.

Each submission records the consent language's version and hash, the time, the page URL, the
IP address and the user agent with the request; the list opt-in is recorded only when the
number answers the texted request with YES (`services.joins`). Bots are kept out without third
parties: a signed timestamp token (too fast or too old is refused), a honeypot field, and rate
limits per IP address and per number. Whether a number had opted out is never revealed: the
page answers the same, and nothing is texted to it.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from stopline.domain.errors import Forbidden, InvalidInput, NotFound
from stopline.domain.numbers import normalize
from stopline.domain.optin_evidence import text_hash
from stopline.security import Keyring
from stopline.services import joins, queueing
from stopline.services.consent import now_utc
from stopline.services.joins import JoinSettings
from stopline.services.links import masked
from stopline.services.workspaces import Workspace, get_workspace
from stopline.store import joins as join_store
from stopline.store import ledger
from stopline.store import sessions as attempts
from stopline.store.workspaces import list_channels

MIN_SECONDS = 3  # a person needs longer than this to read the consent text and type a number
MAX_SECONDS = 2 * 3600
PER_IP = (10, timedelta(hours=1))  # submissions per IP address
PER_NUMBER = (3, timedelta(days=1))  # requests texted to one number
_PURPOSE = "join-form"
MAX_USER_AGENT = 500


@dataclass(frozen=True)
class Form:
    workspace: Workspace
    settings: JoinSettings
    token: str  # signed: slug, consent version, issue time, and the CSRF nonce
    csrf: str  # also set as a SameSite=Strict cookie: a cross-site POST cannot carry it


def open_form(
    conn: Connection,
    keyring: Keyring,
    slug: str,
    csrf: str | None = None,
    now: datetime | None = None,
) -> Form:
    found = joins.by_slug(conn, slug)
    if found is None or found[1].consent_version is None:
        raise NotFound("No such sign-up form.", code="form_not_found")
    workspace_id, settings = found
    nonce = csrf or secrets.token_urlsafe(16)
    token = keyring.sign(
        _PURPOSE,
        {"s": slug, "v": settings.consent_version, "t": (now or now_utc()).timestamp(), "c": nonce},
    )
    return Form(get_workspace(conn, workspace_id), settings, token, nonce)


@dataclass(frozen=True)
class Submission:
    phone: str
    agreed: bool
    token: str
    csrf_form: str
    csrf_cookie: str | None
    honeypot: str
    ip: str
    user_agent: str
    page_url: str


@dataclass(frozen=True)
class Outcome:
    masked_number: str
    hours: int
    brand: str
    list_name: str
    texted: bool  # False for an opted-out or blocked number (never shown to the visitor)


class TooMany(Forbidden):
    pass


def submit(
    conn: Connection, keyring: Keyring, slug: str, form: Submission, now: datetime | None = None
) -> Outcome:
    """Check a submission and, if it stands, text the double opt-in request.

    Raises Forbidden (`form_expired`, `form_too_fast`, `form_rejected`), TooMany (rate limits)
    or InvalidInput (`consent_required`, a bad number) with a message for the visitor.
    """
    now = now or now_utc()
    ip_key = f"join-ip:{form.ip}"
    if attempts.count_attempts(conn, ip_key, now - PER_IP[1]) >= PER_IP[0]:
        raise TooMany("Too many sign-ups from here; try again later.", code="rate_limited")
    attempts.record_attempt(conn, ip_key, now)
    body = _unsigned(keyring, form.token)
    if body.get("s") != slug or not form.csrf_cookie or form.csrf_cookie != form.csrf_form:
        raise Forbidden("This form is out of date; reload the page.", code="form_rejected")
    if body.get("c") != form.csrf_form:
        raise Forbidden("This form is out of date; reload the page.", code="form_rejected")
    age = now.timestamp() - float(body.get("t", 0))
    if age > MAX_SECONDS:
        raise Forbidden("This form is out of date; reload the page.", code="form_expired")
    if age < MIN_SECONDS or form.honeypot.strip():
        raise Forbidden("That was too quick; please try again.", code="form_too_fast")
    found = joins.by_slug(conn, slug)
    if found is None:
        raise NotFound("No such sign-up form.", code="form_not_found")
    workspace_id, settings = found
    policy = get_workspace(conn, workspace_id).policy
    if not form.agreed:
        raise InvalidInput("Tick the box to agree to the terms.", code="consent_required")
    number = normalize(form.phone, policy.default_region)
    number_key = f"join-number:{workspace_id}:{number}"
    if attempts.count_attempts(conn, number_key, now - PER_NUMBER[1]) >= PER_NUMBER[0]:
        raise TooMany("This number was sent several requests today already.", code="rate_limited")
    attempts.record_attempt(conn, number_key, now)
    version = join_store.latest_text(conn, workspace_id, settings.list_id)
    shown_version = int(body.get("v", 0))
    if version is None or int(version.version) != shown_version:
        raise Forbidden(
            "The terms changed while the page was open; reload it.", code="form_expired"
        )
    outcome = Outcome(
        masked(number), policy.double_opt_in_hours, policy.brand_name, settings.list_name, False
    )
    state = ledger.load_state(conn, workspace_id, number)
    channels = list_channels(conn, workspace_id)
    if state.opted_out_for(None, None) is not None or state.block is not None or not channels:
        return outcome  # the same page: who opted out is nobody's business here
    joins.start(
        conn,
        workspace_id,
        settings,
        number,
        via="form",
        channel_id=int(channels[0].id),
        evidence={
            "source": "hosted form",
            "consent_text": version.text,
            "consent_version": str(version.version),
            "consent_text_hash": text_hash(version.text),
            "form_submitted_at": now.isoformat(),
            "page_url": form.page_url[:1000],
            "reference_url": form.page_url[:1000],
            "ip": form.ip[:45],
            "user_agent": form.user_agent[:MAX_USER_AGENT],
        },
        policy=policy,
        now=now,
    )
    queueing.enqueue(
        conn,
        workspace_id,
        channel_id=int(channels[0].id),
        to=number,
        body=settings.request_text,
        source="join-form",
        # No list: the request answers the visitor's own sign-up, and the number is not on the
        # list yet (the gate would refuse a list message to a non-member). Conversational: it
        # answers them now, as a confirmation does, not at the next send window.
        category="conversational",
        now=now,
    )
    return replace(outcome, texted=True)


def _unsigned(keyring: Keyring, token: str) -> dict[str, Any]:
    try:
        return keyring.unsign(_PURPOSE, token)
    except Forbidden:
        raise Forbidden(
            "This form is out of date; reload the page.", code="form_rejected"
        ) from None
