"""Sample data for the demo workspace, made through the same services people and providers use.

Conversations arrive as inbound texts (so STOP is recognised and recorded with method `reply`),
replies are queued through the gate, opt-outs and blocks go through the consent door: the
ledger of the demo is a real one and verifies. A part that needs a service this build does not
have yet is skipped, never faked.
"""

from __future__ import annotations

import functools
import importlib
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from stopline.domain.consent import Method
from stopline.services import optouts
from stopline.services.consent import bulk_opt_out, now_utc
from stopline.services.workspaces import Principal
from stopline.store.workspaces import list_channels

log = logging.getLogger(__name__)

DEMO_ACTOR = "demo@example.com"

# (number, name, [(days ago, direction, text)]): a day at a dental practice.
CONVERSATIONS: list[tuple[str, str, list[tuple[float, str, str]]]] = [
    (
        "+14155550123",
        "Maria Lopez",
        [
            (
                2.2,
                "out",
                "Hi Maria, this is Demo Dental: a reminder of your cleaning on Thursday at 10:00.",
            ),
            (2.1, "in", "Thanks! Could we move it to 11?"),
            (2.0, "out", "Done: Thursday 11:00. See you then!"),
            (0.3, "in", "Great, see you Thursday"),
        ],
    ),
    (
        "+14155550148",
        "James Chen",
        [
            (5.0, "out", "Hi James, your crown is ready. Reply to book a fitting."),
            (1.2, "in", "STOP"),
        ],
    ),
    (
        "+14155550172",
        "Priya Natarajan",
        [
            (3.0, "out", "Hi Priya, it's been a year since your last check-up. Shall we book one?"),
            (0.8, "in", "please stop texting me, I moved to Denver"),
        ],
    ),
    (
        "+14155550190",
        "Tom O'Brien",
        [
            (0.5, "in", "Is it OK to eat before my filling tomorrow?"),
            (0.4, "out", "Hi Tom, yes: a light meal is fine. See you at 3:30."),
        ],
    ),
    (
        "+14155550111",
        "Ana Souza",
        [
            (6.0, "out", "Ana, your appointment is confirmed for Monday 9:00."),
            (5.9, "in", "Obrigada! Can I bring my son too?"),
            (5.8, "out", "Of course, we'll book him in right after you."),
        ],
    ),
]
SPAMMER = "+14155550166"
EXTRA_OPT_OUTS: list[tuple[str, str, str, float]] = [
    # number, method, reason, days ago
    ("+14155550133", "manual", "Asked at the front desk not to be texted", 9),
    ("+14155550134", "api", "Opted out in the booking system", 6),
    ("+14155550135", "link", "Clicked the opt-out link in a reminder", 4),
    ("+14155550136", "manual", "Called to ask us to stop", 1),
    ("+14155550137", "carrier", "Carrier reported the number opted out", 12),
]
IMPORTED = ["+14155550181", "+14155550182", "+14155550183", "+14155550184"]


def _optional(name: str) -> Any | None:
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def _step(label: str, fn: Callable[[], Any], conn: Connection) -> None:
    """Run one part of the demo in a savepoint, so a missing piece never breaks the rest."""
    try:
        with conn.begin_nested():
            fn()
    except Exception as exc:  # noqa: BLE001 - the demo is best effort, part by part
        log.warning("demo data: skipped %s (%s: %s)", label, type(exc).__name__, exc)


def populate(conn: Connection, workspace_id: int) -> None:
    now = now_utc()
    owner = Principal(workspace_id=workspace_id, role="owner", actor=DEMO_ACTOR)
    channels = list_channels(conn, workspace_id)
    if not channels:
        return
    channel = channels[0]

    _step("contacts", lambda: _contacts(conn, owner), conn)
    _step("list", lambda: _list(conn, owner), conn)
    for number, _name, script in CONVERSATIONS:
        _step(
            f"conversation with {number}",
            functools.partial(_conversation, conn, workspace_id, channel, number, script, now),
            conn,
        )
    _step("spam block", lambda: _spam(conn, workspace_id, channel, owner, now), conn)
    for number, method, reason, days in EXTRA_OPT_OUTS:
        _step(
            f"opt-out {number}",
            functools.partial(_opt_out, conn, owner, number, method, reason, now, days),
            conn,
        )
    _step("campaign", lambda: _campaign(conn, owner, channel, now), conn)
    _step(
        "imported opt-outs",
        lambda: bulk_opt_out(
            conn,
            workspace_id,
            IMPORTED,
            method=Method.IMPORT,
            reason="Imported from the old system's do-not-text list",
            actor=DEMO_ACTOR,
            source="demo import",
            now=now - timedelta(days=15),
        ),
        conn,
    )


def _contacts(conn: Connection, owner: Principal) -> None:
    from stopline.services import directory

    for number, name, _script in CONVERSATIONS:
        directory.create_contact(conn, owner, name=name, numbers=[number])
    directory.create_contact(conn, owner, name="Chris Spammy", numbers=[SPAMMER])
    directory.create_contact(
        conn, owner, name="Dana Whitfield", numbers=["+14155550133"], email="dana@example.com"
    )
    james = directory.contact_for_number(conn, owner.workspace_id, "+14155550148")
    if james is not None:
        directory.add_note(
            conn, owner, james.id, "Texted STOP after the crown reminder. Call instead."
        )


def _list(conn: Connection, owner: Principal) -> None:
    campaigns = _optional("stopline.services.campaigns")
    if campaigns is None or not hasattr(campaigns, "create_list"):
        raise LookupError("no lists service")
    marketing = campaigns.create_list(conn, owner, "Newsletter")
    campaigns.add_members(
        conn, owner, marketing.id, [n for n, _name, _s in CONVERSATIONS] + IMPORTED[:2]
    )
    reminders = campaigns.create_list(conn, owner, "Appointment reminders")
    campaigns.add_members(conn, owner, reminders.id, [n for n, _name, _s in CONVERSATIONS])


def _inbound(
    conn: Connection, workspace_id: int, channel: Any, number: str, text: str, at: datetime
) -> Any:
    from stopline.providers.base import InboundMessage
    from stopline.services import inbound

    inbound_channel = inbound.channel_for(conn, channel.id)[0]
    message = InboundMessage(
        provider=channel.provider,
        provider_message_id=f"demo-{number}-{at.timestamp():.0f}",
        from_number=number,
        to_address=channel.address,
        body=text,
        received_at=at,
    )
    return inbound.receive_inbound(conn, inbound_channel, message, now=at)


def _outbound(
    conn: Connection, workspace_id: int, channel: Any, number: str, text: str, at: datetime
) -> None:
    from stopline.services import queueing

    queueing.enqueue(
        conn,
        workspace_id,
        channel_id=channel.id,
        to=number,
        body=text,
        source="inbox",
        sent_by=DEMO_ACTOR,
        now=at,
    )


def _conversation(
    conn: Connection,
    workspace_id: int,
    channel: Any,
    number: str,
    script: list[tuple[float, str, str]],
    now: datetime,
) -> None:
    for days_ago, direction, text in script:
        at = now - timedelta(days=days_ago)
        if direction == "in":
            _inbound(conn, workspace_id, channel, number, text, at)
        else:
            _outbound(conn, workspace_id, channel, number, text, at)


def _spam(
    conn: Connection, workspace_id: int, channel: Any, owner: Principal, now: datetime
) -> None:
    _inbound(
        conn,
        workspace_id,
        channel,
        SPAMMER,
        "WIN A FREE CRUISE!!! click bit.ly/xx",
        now - timedelta(days=3),
    )
    optouts.block(conn, owner, SPAMMER, reason="Spam: prize and link messages")
    # Kept and counted, but hidden from the inbox (inbound rule 9).
    _inbound(
        conn,
        workspace_id,
        channel,
        SPAMMER,
        "Last chance to claim your prize",
        now - timedelta(days=1),
    )


def _opt_out(
    conn: Connection,
    owner: Principal,
    number: str,
    method: str,
    reason: str,
    now: datetime,
    days_ago: float,
) -> None:
    # The demo's sample history includes link and carrier opt-outs, which no person may state.
    optouts.record_opt_out(
        conn,
        owner,
        number,
        reason=reason,
        method=Method(method),
        source="demo",
        occurred_at=now - timedelta(days=days_ago),
    )


CAMPAIGN_NAME = "Flu shots are in"
CAMPAIGN_REPLY = ("+14155550190", "STOP")  # one recipient opts out after the campaign


def campaign_time(now: datetime) -> datetime:
    """When the demo's campaign went out: yesterday at 18:00 UTC, inside every US recipient's
    sending hours (10:00 in California), so the send-time rules let it go at once."""
    day = now - timedelta(days=1)
    return day.replace(hour=18, minute=0, second=0, microsecond=0)


def _campaign(conn: Connection, owner: Principal, channel: Any, now: datetime) -> None:
    """A campaign to the newsletter, stored now; `services.demo.send_demo_campaign` sends it."""
    from stopline.services import campaigns

    newsletter = next(
        x for x in campaigns.list_lists(conn, owner.workspace_id) if x.name == "Newsletter"
    )
    campaigns.create_campaign(
        conn,
        owner,
        name=CAMPAIGN_NAME,
        body="Demo Dental: flu shots are in! Book yours at the front desk or reply to this text.",
        list_ids=[newsletter.id],
        channel_id=channel.id,
        now=campaign_time(now) - timedelta(minutes=5),
    )


def campaign_reply(conn: Connection, workspace_id: int, at: datetime) -> None:
    """After the demo campaign went out: one recipient answers STOP (an opt-out rate to show)."""
    channels = list_channels(conn, workspace_id)
    if not channels:
        return
    number, text = CAMPAIGN_REPLY
    _step(
        "campaign reply",
        functools.partial(_inbound, conn, workspace_id, channels[0], number, text, at),
        conn,
    )
