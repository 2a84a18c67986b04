"""Send times in the browser: the settings section and the contact page's plain answer."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from stopline.services import contacts, workspaces
from stopline.services.workspaces import Principal
from stopline.store.db import read, write
from tests.web import ui_helpers
from tests.web.ui_helpers import new_workspace, post, sign_in

ui_app = ui_helpers.ui_app
client = ui_helpers.client


def test_the_settings_page_lists_the_built_in_rules_and_saves_a_tighter_window(client, engine):  # type: ignore[no-untyped-def]
    created = new_workspace(engine)
    csrf = sign_in(client, created.owner_email)
    page = client.get("/settings/send-times")
    assert page.status_code == 200
    for text in ("Florida Telephone Solicitation Act", "Fla. Stat. 501.059", "Sun 12:00-21:00"):
        assert text in page.text
    saved = post(
        client,
        "/settings/send-times",
        csrf,
        window_marketing_on="on",
        window_marketing_start="10:00",
        window_marketing_end="19:00",
        window_marketing_days=["mon", "tue", "wed", "thu", "fri"],
        cap_marketing="2",
        over_cap="refuse",
        send_time_exempt=["conversational"],
        confirmations_exempt="on",
    )
    assert saved.status_code == 303
    with read(engine) as conn:
        policy = workspaces.get_workspace(conn, created.workspace.id).policy
    assert policy.send_caps == {"marketing": 2} and policy.over_cap.value == "refuse"
    assert policy.send_windows["marketing"]["sat"] is None
    assert policy.send_windows["marketing"]["mon"] == ["10:00", "19:00"]


def test_a_looser_window_than_the_law_is_refused_with_a_clear_message(client, engine):  # type: ignore[no-untyped-def]
    created = new_workspace(engine)
    csrf = sign_in(client, created.owner_email)
    refused = post(
        client,
        "/settings/send-times",
        csrf,
        window_marketing_on="on",
        window_marketing_start="07:00",
        window_marketing_end="22:00",
        window_marketing_days=["mon"],
        over_cap="defer",
    )
    assert refused.status_code == 422
    assert "never widen them" in refused.text


def _night_zone() -> str:
    """A zone where it is between midnight and 6:00 right now (the page uses the real clock)."""
    for name in ("Pacific/Kiritimati", "Asia/Tokyo", "Asia/Kolkata", "Europe/London",
                 "America/New_York", "America/Los_Angeles", "Pacific/Honolulu"):  # fmt: skip
        if datetime.now(UTC).astimezone(ZoneInfo(name)).hour < 6:
            return name
    return "Pacific/Pago_Pago"


def test_the_contact_page_says_when_marketing_texts_can_go(client, engine):  # type: ignore[no-untyped-def]
    created = new_workspace(engine)
    owner = Principal(created.workspace.id, "owner", "t")
    with write(engine) as conn:
        person = contacts.create_contact(conn, owner, name="Flo", numbers=["+13055550142"])
    csrf = sign_in(client, created.owner_email)
    saved = post(
        client, f"/contacts/{person.id}/place", csrf, time_zone=_night_zone(), postal_code=""
    )
    assert saved.status_code == 303
    page = client.get(f"/contacts/{person.id}").text
    assert "Marketing texts: not before 8:00" in page and "Florida time" in page
    bad = post(
        client, f"/contacts/{person.id}/place", csrf, time_zone="Mars/Olympus", postal_code=""
    )
    assert bad.status_code == 303
    assert "Unknown time zone" in client.get(f"/contacts/{person.id}").text


def test_an_inbox_reply_to_someone_who_just_wrote_is_conversational(client, engine):  # type: ignore[no-untyped-def]
    from tests.web.test_ui_pages import _conversation, _number, _shop, _text

    created, channel = _shop(engine)
    number = _number()
    _text(engine, channel, number, "Is my order ready?")
    csrf = sign_in(client, created.owner_email)
    conv = _conversation(engine, created.workspace.id, number)
    post(client, f"/inbox/{conv}/reply", csrf, body="Yes, pick it up any time")
    thread = client.get(f"/inbox/{conv}").text
    assert "conversational" in thread
