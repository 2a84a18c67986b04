"""Pages for setting up and sending: channels, texting as a customer, compose, campaigns, API docs."""

from __future__ import annotations

import re

import sqlalchemy as sa

from stopline.providers import generic
from stopline.services import campaigns, channels, optouts
from stopline.services import workspaces as ws_service
from stopline.services.workspaces import Principal
from stopline.store.db import read, write
from stopline.store.tables import channels as channels_table
from stopline.store.tables import messages
from tests.outbound import number
from tests.web import ui_helpers
from tests.web.ui_helpers import add_person, new_workspace, post, sign_in

ui_app = ui_helpers.ui_app
client = ui_helpers.client

TOKEN = "auth-tok-0c6b1d"


def _owner(created) -> Principal:
    return Principal(created.workspace.id, "owner", created.owner_email)


def _console(engine, ui_app, created):
    with write(engine) as conn:
        return channels.create_channel(
            conn,
            _owner(created),
            ui_app.state["runtime"].keyring,
            address=number(),
            provider="console",
            name="Front desk",
        )


# --- channels --------------------------------------------------------------------------------


def test_an_admin_connects_twilio_and_reads_the_webhook_urls_but_never_the_token(
    client, engine, ui_app
):
    created = new_workspace(engine)
    csrf = sign_in(client, created.owner_email)
    form = client.get("/channels/new?provider=twilio").text
    assert "Account SID" in form and "Auth token" in form
    address = number()
    made = post(
        client,
        "/channels",
        csrf,
        provider="twilio",
        address=address,
        name="Main line",
        type="sms",
        cred_account_sid="AC" + "3" * 32,
        cred_auth_token=TOKEN,
    )
    assert made.status_code == 303
    target = made.headers["location"]
    channel_id = int(target.rsplit("/", 1)[1])
    page = client.get(target).text
    url = f"http://testserver.local/webhooks/twilio/{channel_id}/inbound"
    assert url in page and f"/webhooks/twilio/{channel_id}/status" in page
    assert 'data-copy="' in page and "A message comes in" in page
    assert TOKEN not in page and TOKEN not in client.get("/channels").text
    with read(engine) as conn:
        blob = conn.execute(
            sa.select(channels_table.c.credentials).where(channels_table.c.id == channel_id)
        ).scalar_one()
    assert TOKEN not in blob
    assert ui_app.state["runtime"].keyring.decrypt(blob)["auth_token"] == TOKEN
    # An edit that leaves the token empty keeps it.
    post(client, f"/channels/{channel_id}", csrf, name="Main line 2", cred_auth_token="")
    with read(engine) as conn:
        blob = conn.execute(
            sa.select(channels_table.c.credentials).where(channels_table.c.id == channel_id)
        ).scalar_one()
    assert ui_app.state["runtime"].keyring.decrypt(blob)["auth_token"] == TOKEN
    assert "Main line 2" in client.get("/channels").text


def test_webhook_urls_follow_stopline_public_url_and_forwarded_hosts(client, engine, ui_app):
    created = new_workspace(engine)
    channel = _console(engine, ui_app, created)
    sign_in(client, created.owner_email)
    proxied = client.get(
        "/channels", headers={"x-forwarded-proto": "https", "x-forwarded-host": "sms.example.com"}
    ).text
    assert f"https://sms.example.com/webhooks/console/{channel.id}/inbound" in proxied


def test_a_missing_credential_is_asked_for_again_with_what_was_typed(client, engine):
    created = new_workspace(engine)
    csrf = sign_in(client, created.owner_email)
    address = number()
    refused = post(client, "/channels", csrf, provider="vonage", address=address, cred_api_key="k")
    assert refused.status_code == 422
    assert "API secret" in refused.text and address in refused.text
    huge = post(client, "/channels", csrf, provider="console", address="9" * 100_000)
    assert huge.status_code == 422 and "at most 64" in huge.text


def test_a_member_sees_channels_but_cannot_add_change_or_text_them(client, engine, ui_app):
    created = new_workspace(engine)
    channel = _console(engine, ui_app, created)
    csrf = sign_in(client, add_person(engine, created.workspace.id, "member"))
    page = client.get("/channels").text
    assert "Front desk" in page and "Add a channel" not in page
    assert post(client, "/channels", csrf, provider="console", address=number()).status_code == 403
    assert post(client, f"/channels/{channel.id}/disable", csrf).status_code == 403
    assert client.get(f"/channels/{channel.id}/phone").status_code == 403
    assert 'href="/phone"' not in client.get("/inbox").text
    assert client.get("/phone").status_code == 403
    assert post(client, f"/channels/{channel.id}/phone", csrf, text="STOP").status_code == 403


def test_disable_then_remove_a_channel(client, engine, ui_app):
    created = new_workspace(engine)
    channel = _console(engine, ui_app, created)
    csrf = sign_in(client, created.owner_email)
    post(client, f"/channels/{channel.id}/disable", csrf)
    assert "Disabled" in client.get("/channels").text
    assert "no channel to send from" in client.get("/compose").text
    confirm = client.get(f"/channels/{channel.id}/remove").text
    assert "Yes, remove" in confirm
    assert post(client, f"/channels/{channel.id}/remove", csrf).status_code == 303
    assert client.get(f"/channels/{channel.id}").status_code == 404


def test_forms_need_the_csrf_token(client, engine):
    created = new_workspace(engine)
    sign_in(client, created.owner_email)
    refused = client.post(
        "/channels", data={"provider": "console", "address": number()}, follow_redirects=False
    )
    assert refused.status_code == 403


# --- text as a customer ----------------------------------------------------------------------


def test_a_customer_text_goes_through_signature_verification_into_the_inbox(
    client, engine, ui_app, monkeypatch
):
    created = new_workspace(engine)
    channel = _console(engine, ui_app, created)
    csrf = sign_in(client, created.owner_email)
    verified: list[bytes] = []
    real_verify = generic.verify

    def spy(headers, raw_body, credentials, **kw):
        real_verify(headers, raw_body, credentials, **kw)
        verified.append(raw_body)

    monkeypatch.setattr(generic, "verify", spy)
    sent = post(
        client,
        f"/channels/{channel.id}/phone",
        csrf,
        **{"from": "(415) 555-0142", "text": "Hi, open Saturday?"},
    )
    assert sent.status_code == 303 and len(verified) == 1
    inbox = client.get("/inbox").text
    assert "Hi, open Saturday?" in inbox
    stop = post(
        client, f"/channels/{channel.id}/phone", csrf, **{"from": "+14155550142", "quick": "STOP"}
    )
    assert stop.status_code == 303 and len(verified) == 2
    with read(engine) as conn:
        rows, _ = optouts.list_opt_outs(conn, created.workspace.id, limit=10)
    assert [(r.number, r.method) for r in rows] == [("+14155550142", "reply")]
    phone = client.get(f"/channels/{channel.id}/phone?from=%2B14155550142").text
    assert "STOP" in phone and "unsubscribed" in phone  # the confirmation, seen from the phone


def test_a_console_channel_without_a_secret_gets_one_when_texted(client, engine, ui_app):
    created = new_workspace(engine)
    with write(engine) as conn:  # made as before console channels had secrets
        channel = ws_service.add_channel(
            conn,
            created.workspace.id,
            ui_app.state["runtime"].keyring,
            address=number(),
            provider="console",
        )
    csrf = sign_in(client, created.owner_email)
    sent = post(
        client, f"/channels/{channel.id}/phone", csrf, **{"from": number(), "text": "hello"}
    )
    assert sent.status_code == 303


# --- compose ---------------------------------------------------------------------------------


def test_compose_shows_the_gates_answer_and_queues_or_refuses(client, engine, ui_app):
    created = new_workspace(engine)
    channel = _console(engine, ui_app, created)
    gone = number()
    with write(engine) as conn:
        optouts.add_opt_out(conn, _owner(created), gone, reason="asked")
    csrf = sign_in(client, created.owner_email)
    assert "New message" in client.get("/inbox").text
    check = post(client, "/compose/check", csrf, to=gone, channel_id=str(channel.id), body="Hi")
    assert "has opted out" in check.text and "gate-answer refuse" in check.text
    fine = number()
    check = client.post(
        "/compose/check",
        data={"csrf_token": csrf, "to": fine, "channel_id": str(channel.id), "body": "é🎄"},
        headers={"HX-Request": "true"},
    )
    assert "Can be sent" in check.text
    assert 'id="segment-counter"' in check.text and 'hx-swap-oob="true"' in check.text
    assert "UCS-2" in check.text
    count = post(client, "/compose/count", csrf, body="a" * 161)
    assert "2</strong> segments" in count.text and "GSM-7" in count.text
    refused = post(client, "/compose", csrf, to=gone, channel_id=str(channel.id), body="Hi")
    assert refused.status_code == 422 and "Your message was not sent" in refused.text
    sent = post(client, "/compose", csrf, to=fine, channel_id=str(channel.id), body="Hello there")
    assert sent.status_code == 303 and re.match(r"/inbox/\d+", sent.headers["location"])
    assert "Hello there" in client.get(sent.headers["location"]).text


def test_compose_schedules_a_message_for_later(client, engine, ui_app):
    from datetime import timedelta

    from stopline.services.consent import now_utc

    soon = now_utc() + timedelta(days=30)
    created = new_workspace(engine)
    channel = _console(engine, ui_app, created)
    csrf = sign_in(client, created.owner_email)
    sent = post(
        client,
        "/compose",
        csrf,
        to=number(),
        channel_id=str(channel.id),
        body="See you Thursday",
        schedule="later",
        when=f"{soon:%Y-%m-%d}T09:30",
    )
    assert sent.status_code == 303
    with read(engine) as conn:
        row = conn.execute(
            sa.select(messages.c.status, messages.c.scheduled_at).where(
                messages.c.workspace_id == created.workspace.id
            )
        ).one()
    assert row.status == "scheduled" and str(row.scheduled_at).startswith(f"{soon:%Y-%m-%d} 09:30")
    past = post(
        client,
        "/compose",
        csrf,
        to=number(),
        channel_id=str(channel.id),
        body="x",
        schedule="later",
        when="2001-01-02T09:30",
    )
    assert past.status_code == 422 and "has passed" in past.text


def test_compose_from_a_contact_starts_with_its_number(client, engine, ui_app):
    from stopline.services import directory

    created = new_workspace(engine)
    _console(engine, ui_app, created)
    to = number()
    with write(engine) as conn:
        contact = directory.create_contact(conn, _owner(created), name="Maria", numbers=[to])
    sign_in(client, created.owner_email)
    assert f"/compose?contact={contact.id}" in client.get(f"/contacts/{contact.id}").text
    page = client.get(f"/compose?contact={contact.id}").text
    assert f'value="{to}"' in page and "To Maria" in page


# --- campaigns -------------------------------------------------------------------------------


def test_a_campaign_is_previewed_with_its_skips_then_sent_and_followed(client, engine, ui_app):
    created = new_workspace(engine)
    channel = _console(engine, ui_app, created)
    members = [number() for _ in range(3)]
    gone = number()
    with write(engine) as conn:
        the_list = campaigns.create_list(conn, _owner(created), "Newsletter")
        campaigns.add_members(conn, _owner(created), the_list.id, [*members, gone])
        optouts.add_opt_out(conn, _owner(created), gone, reason="asked")
    csrf = sign_in(client, created.owner_email)
    fields = {
        "name": "Spring",
        "body": "Spring sale!",
        "channel_id": str(channel.id),
        "list_ids": str(the_list.id),
        "schedule": "now",
    }
    preview = post(client, "/campaigns/preview", csrf, **fields)
    assert preview.status_code == 200
    assert re.search(r'id="aud-allowed">3<', preview.text)
    assert re.search(r'id="aud-opted_out">1<', preview.text)
    made = post(client, "/campaigns", csrf, **fields)
    assert made.status_code == 303
    campaign_id = int(made.headers["location"].rsplit("/", 1)[1])
    page = client.get(made.headers["location"]).text
    assert "Spring sale!" in page and 'id="campaign-progress"' in page
    from stopline.worker.runner import Worker

    Worker(engine, ui_app.state["runtime"].keyring).drain()
    page = client.get(f"/campaigns/{campaign_id}").text
    assert re.search(r'id="count-sent">3<', page) and re.search(r'id="count-skipped">1<', page)
    assert "hx-trigger" not in page.split('id="campaign-progress"')[1].split(">")[0]  # done
    skipped = client.get(f"/campaigns/{campaign_id}?reason=opted_out").text
    assert gone[-4:] in skipped and members[0][-4:] not in skipped
    listing = client.get("/campaigns").text
    assert "Spring" in listing and f"/campaigns/{campaign_id}" in listing


def test_a_campaign_needs_a_list_and_can_be_canceled(client, engine, ui_app):
    from datetime import timedelta

    from stopline.services.consent import now_utc

    created = new_workspace(engine)
    channel = _console(engine, ui_app, created)
    with write(engine) as conn:
        the_list = campaigns.create_list(conn, _owner(created), "VIP")
        campaigns.add_members(conn, _owner(created), the_list.id, [number(), number()])
    csrf = sign_in(client, created.owner_email)
    no_list = post(
        client, "/campaigns/preview", csrf, name="x", body="y", channel_id=str(channel.id)
    )
    assert no_list.status_code == 422 and "at least one list" in no_list.text
    made = post(
        client,
        "/campaigns",
        csrf,
        name="Later",
        body="Soon",
        channel_id=str(channel.id),
        list_ids=str(the_list.id),
        schedule="later",
        when=f"{now_utc() + timedelta(days=7):%Y-%m-%d}T10:00",
    )
    assert made.status_code == 303
    campaign_id = int(made.headers["location"].rsplit("/", 1)[1])
    canceled = post(client, f"/campaigns/{campaign_id}/cancel", csrf)
    assert canceled.status_code == 303
    assert "Canceled" in client.get(f"/campaigns/{campaign_id}").text


# --- API docs --------------------------------------------------------------------------------


def test_api_docs_load_nothing_from_another_site(client):
    page = client.get("/api/docs")
    assert page.status_code == 200
    sources = re.findall(r'(?:src|href)=["\']([^"\']+)', page.text)
    assert sources and all(s.startswith("/api/docs/assets/") for s in sources), sources
    for source in sources:
        assert client.get(source).status_code == 200, source


def test_a_channel_with_history_offers_disable_not_remove(client, engine, ui_app):
    from stopline.services import queueing

    created = new_workspace(engine)
    channel = _console(engine, ui_app, created)
    with write(engine) as conn:
        queueing.enqueue(conn, created.workspace.id, channel_id=channel.id, to=number(), body="hi")
    csrf = sign_in(client, created.owner_email)
    page = client.get(f"/channels/{channel.id}").text
    assert "It cannot be removed: it has carried messages" in page
    assert f'href="/channels/{channel.id}/remove"' not in page
    refused = post(client, f"/channels/{channel.id}/remove", csrf)
    assert refused.status_code == 409 and "disable it instead" in refused.text


def test_the_inbox_leads_admins_to_the_phone_of_a_console_channel(client, engine, ui_app):
    created = new_workspace(engine)
    sign_in(client, created.owner_email)
    assert 'href="/phone"' in client.get("/inbox").text
    none_yet = client.get("/phone", follow_redirects=False)
    assert none_yet.status_code == 303 and none_yet.headers["location"] == "/channels"
    channel = _console(engine, ui_app, created)
    found = client.get("/phone", follow_redirects=False)
    assert found.headers["location"] == f"/channels/{channel.id}/phone"


def test_a_typed_send_time_is_read_in_the_members_zone():
    from datetime import UTC, datetime

    from stopline.web.ui.compose import parse_when

    assert parse_when("2026-12-03T09:30") == datetime(2026, 12, 3, 9, 30, tzinfo=UTC)
    new_york = parse_when("2026-12-03T09:30", "America/New_York")
    assert new_york == datetime(2026, 12, 3, 14, 30, tzinfo=UTC)
    assert parse_when("") is None
