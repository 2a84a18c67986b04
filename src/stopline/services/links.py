"""Opt-out links: a signed per-recipient link to a page that opts the number out (method `link`).

CASL requires an unsubscribe mechanism that works for at least 60 days after the message is
sent, so a link lives `DEFAULT_DAYS` (and never less than `MIN_DAYS`). The token is signed
with a key derived from the server secret for this purpose only: it names the workspace and
the number, cannot be altered to name another, and is refused once expired. Opening the link
only shows a confirmation page (link scanners in mail and SMS apps fetch links); the opt-out
happens when the recipient confirms (POST). The opt-out is workspace-wide: a recipient who asks
to stop means every message from this business.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection

from stopline.domain.consent import Action, ConsentChange, Method, Scope
from stopline.domain.errors import Forbidden, InvalidInput, NotFound
from stopline.domain.numbers import is_e164, normalize
from stopline.security import Keyring
from stopline.services.consent import ChangeResult, change_consent
from stopline.services.workspaces import Workspace, get_workspace
from stopline.store import ledger

PURPOSE = "optout_link"
MIN_DAYS = 60  # CASL: the unsubscribe mechanism must work for 60 days after sending
DEFAULT_DAYS = 90
MAX_DAYS = 3650
PATH = "/o/"


@dataclass(frozen=True)
class OptOutLink:
    url: str
    token: str
    number: str
    expires_at: datetime


@dataclass(frozen=True)
class LinkTarget:
    workspace_id: int
    number: str
    expires_at: datetime


def make_link(
    keyring: Keyring,
    base_url: str,
    workspace_id: int,
    number: str,
    *,
    days: int = DEFAULT_DAYS,
) -> OptOutLink:
    """A link for one recipient (E.164 `number`) to put in a message."""
    if not is_e164(number):
        raise InvalidInput(f"{number!r} is not an E.164 number.", code="number_not_e164")
    if isinstance(days, bool) or not isinstance(days, int) or not MIN_DAYS <= days <= MAX_DAYS:
        raise InvalidInput(
            f"An opt-out link must stay valid {MIN_DAYS} to {MAX_DAYS} days "
            f"({MIN_DAYS} is the legal minimum in Canada).",
            code="link_validity_invalid",
        )
    ttl = days * 86400
    token = keyring.sign(PURPOSE, {"w": workspace_id, "n": number}, ttl_seconds=ttl)
    expires = datetime.fromtimestamp(int(time.time()) + ttl, UTC)
    return OptOutLink(f"{base_url.rstrip('/')}{PATH}{token}", token, number, expires)


def link_for(
    conn: Connection,
    keyring: Keyring,
    base_url: str,
    workspace_id: int,
    raw_number: str,
    *,
    days: int = DEFAULT_DAYS,
) -> OptOutLink:
    region = get_workspace(conn, workspace_id).policy.default_region
    return make_link(keyring, base_url, workspace_id, normalize(raw_number, region), days=days)


def read_link(keyring: Keyring, token: str) -> LinkTarget:
    """What a link names; Forbidden (`link_invalid` or `link_expired`) for anything else."""
    if not token or len(token) > 1000:
        raise Forbidden("This opt-out link is not valid.", code="link_invalid")
    try:
        claims = keyring.unsign(PURPOSE, token)
    except Forbidden as exc:
        if exc.code == "expired":
            raise Forbidden("This opt-out link has expired.", code="link_expired") from None
        raise Forbidden("This opt-out link is not valid.", code="link_invalid") from None
    workspace_id, number, exp = claims.get("w"), claims.get("n"), claims.get("exp")
    if not isinstance(workspace_id, int) or not isinstance(number, str) or not is_e164(number):
        raise Forbidden("This opt-out link is not valid.", code="link_invalid")
    if not isinstance(exp, int):
        raise Forbidden("This opt-out link is not valid.", code="link_invalid")
    return LinkTarget(workspace_id, number, datetime.fromtimestamp(exp, UTC))


def masked(number: str) -> str:
    """The number as the page shows it: enough to recognise, not to harvest (+1 ••• ••• 0100)."""
    return f"{number[:2]} ••• ••• {number[-4:]}"


@dataclass(frozen=True)
class LinkStatus:
    target: LinkTarget
    workspace: Workspace
    opted_out: bool


def status(conn: Connection, keyring: Keyring, token: str) -> LinkStatus:
    target = read_link(keyring, token)
    try:
        workspace = get_workspace(conn, target.workspace_id)
    except NotFound:  # a deleted workspace's links are simply invalid
        raise Forbidden("This opt-out link is not valid.", code="link_invalid") from None
    state = ledger.load_state(conn, target.workspace_id, target.number)
    return LinkStatus(target, workspace, (Scope.WORKSPACE, "") in state.opt_outs)


def opt_out(
    conn: Connection, keyring: Keyring, token: str
) -> tuple[LinkStatus, ChangeResult | None]:
    """The recipient confirmed: record a workspace-wide opt-out with method `link`.

    A number already opted out workspace-wide is left as it is (no repeat event each time a
    page is submitted again).
    """
    current = status(conn, keyring, token)
    if current.opted_out:
        return current, None
    change = ConsentChange(
        number=current.target.number,
        action=Action.OPT_OUT,
        method=Method.LINK,
        scope=Scope.WORKSPACE,
        reason="Opted out with the link in a message",
        actor="recipient",
        source="opt-out link",
    )
    result = change_consent(conn, current.target.workspace_id, change, current.workspace.policy)
    return LinkStatus(current.target, current.workspace, True), result
