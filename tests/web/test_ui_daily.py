"""The web app as a team's daily tool: live inbox, review in the conversation, contacts and lists,
time zones, and actions shown disabled with their reason (issue 13)."""

from __future__ import annotations

import re

from stopline.security import Keyring
from stopline.services import inbox, lists, optouts, review
from stopline.services import workspaces as ws_service
from stopline.services.workspaces import Principal
from stopline.store import ledger
from stopline.store.db import read, write
from tests.web import ui_helpers
from tests.web.test_ui_pages import _conversation, _number, _shop, _text
from tests.web.ui_helpers import add_person, post, sign_in

ui_app = ui_helpers.ui_app
client = ui_helpers.client
other_client = ui_helpers.other_client


def _owner(created) -> Principal:
    return Principal(workspace_id=created.workspace.id, role="owner", actor="test-owner")


def _stamp(html: str) -> str:
    return re.search(r"stamp=([0-9a-f]+)", html).group(1)  # type: ignore[union-attr]


def _nav_count(html: str, key: str) -> str:
    found = re.search(rf'id="nav-count-{key}"[^>]*>(\d*)', html)
    assert found, html[:2000]
    return found.group(1)


# --- live inbox ---------------------------------------------------------------------------------


def test_the_live_inbox_answers_nothing_until_something_changes_then_swaps_it_in(client, engine):
    created, channel = _shop(engine)
    number = _number()
    _text(engine, channel, number, "Hello there")
    conversation = _conversation(engine, created.workspace.id, number)
    sign_in(client, created.owner_email)
    page = client.get(f"/inbox/{conversation}").text
    stamp = _stamp(page)
    live = f"/inbox/live?stamp={stamp}&conversation={conversation}&status=open"
    assert client.get(live).status_code == 204
    _text(engine, channel, number, "Is Thursday still OK?")
    changed = client.get(live)
    assert changed.status_code == 200
    assert "Is Thursday still OK?" in changed.text
    assert 'id="messages" aria-label="Messages"' in changed.text and "hx-swap-oob" in changed.text
    assert _stamp(changed.text) != stamp
    # A STOP arriving shows as the conversation's new state, without a reload.
    again = f"/inbox/live?stamp={_stamp(changed.text)}&conversation={conversation}&status=open"
    _text(engine, channel, number, "STOP")
    stopped = client.get(again).text
    assert "Opted out — this number has unsubscribed" in stopped


def test_a_status_change_moves_the_stamp(client, engine):
    from stopline.services import queueing as sending

    created, channel = _shop(engine)
    number = _number()
    _text(engine, channel, number, "hi")
    sign_in(client, created.owner_email)
    page = client.get("/inbox").text
    poll = re.search(r'hx-get="(/inbox/live[^"]*)"', page).group(1).replace("&amp;", "&")  # type: ignore[union-attr]
    assert client.get(poll).status_code == 204  # the URL the page polls is a valid one
    stamp = _stamp(page)
    with write(engine) as conn:
        sending.enqueue(conn, created.workspace.id, channel_id=channel.id, to=number, body="Yo")
    assert client.get(f"/inbox/live?stamp={stamp}").status_code == 200


def test_unread_counts_are_per_member(client, other_client, engine):
    created, channel = _shop(engine)
    colleague = add_person(engine, created.workspace.id, "member")
    first, second = _number(), _number()
    _text(engine, channel, first, "one")
    _text(engine, channel, second, "two")
    sign_in(client, created.owner_email)
    sign_in(other_client, colleague)
    assert _nav_count(client.get("/inbox").text, "inbox") == "2"
    # Reading the newest conversation leaves the older one unread.
    client.get(f"/inbox/{_conversation(engine, created.workspace.id, second)}")
    page = client.get("/inbox").text
    assert _nav_count(page, "inbox") == "1"
    assert page.count('class="unread"') == 1 and f'data-number="{first}"' in page
    assert _nav_count(other_client.get("/inbox").text, "inbox") == "2"
    client.get(f"/inbox/{_conversation(engine, created.workspace.id, first)}")
    assert _nav_count(client.get("/inbox").text, "inbox") == ""
    _text(engine, channel, first, "one more thing")
    assert _nav_count(client.get("/inbox").text, "inbox") == "1"
    # Other pages refresh their counts by themselves.
    assert 'hx-get="/nav/counts"' in client.get("/contacts").text
    _text(engine, channel, second, "and another")
    live = client.get("/nav/counts", headers={"HX-Request": "true"}).text
    assert 'id="nav-count-inbox" hx-swap-oob="true">2' in live


def test_rows_name_their_channel_and_show_failed_and_scheduled_messages(client, engine):
    from datetime import UTC, datetime, timedelta

    from stopline.services import queueing as sending

    created, channel = _shop(engine)
    with write(engine) as conn:
        other = ws_service.add_channel(
            conn,
            created.workspace.id,
            Keyring("k"),
            address=_number(),
            provider="console",
            name="Billing line",
        )
    number = _number()
    _text(engine, channel, number, "hi desk")
    _text(engine, other, number, "hi billing")
    when = datetime.now(UTC) + timedelta(days=2)
    with write(engine) as conn:
        sending.enqueue(
            conn,
            created.workspace.id,
            channel_id=other.id,
            to=number,
            body="Your invoice",
            scheduled_at=when,
        )
    sign_in(client, created.owner_email)
    page = client.get("/inbox").text
    rows = re.findall(rf'<li><a data-number="\{number}".*?</a></li>', page, re.S)
    assert len(rows) == 2
    assert any("Front desk" in r for r in rows) and any("Billing line" in r for r in rows)
    billing = next(r for r in rows if "Billing line" in r)
    assert "Scheduled" in billing and when.strftime("%b %-d, %Y") in billing


# --- review where agents work ---------------------------------------------------------------


def test_a_possible_revocation_shows_in_its_conversation_and_is_resolved_there(client, engine):
    created, channel = _shop(engine)
    number = _number()
    outcome = _text(engine, channel, number, "please don't text me anymore")
    conversation = _conversation(engine, created.workspace.id, number)
    csrf = sign_in(client, created.owner_email)
    page = client.get(f"/inbox/{conversation}").text
    assert "Possible request to stop" in page and outcome.deadline.strftime("%b %-d, %Y") in page
    assert "pending review" in page  # the footer does not just say "Can receive messages"
    assert "Possible revocation" in client.get("/inbox").text
    response = post(
        client,
        f"/review/{outcome.review_item_id}",
        csrf,
        resolution="opt_out",
        next=f"/inbox/{conversation}",
    )
    assert response.status_code == 303 and response.headers["location"] == f"/inbox/{conversation}"
    with read(engine) as conn:
        assert ledger.load_state(conn, created.workspace.id, number).opt_outs
        item = review.get_review_item(conn, created.workspace.id, outcome.review_item_id)
    assert item.status == "opted_out"
    assert "Possible request to stop" not in client.get(f"/inbox/{conversation}").text


def test_the_review_redirect_stays_on_this_site(client, engine):
    created, channel = _shop(engine)
    outcome = _text(engine, channel, _number(), "wrong number")
    csrf = sign_in(client, created.owner_email)
    response = post(
        client,
        f"/review/{outcome.review_item_id}",
        csrf,
        resolution="dismiss",
        next="https://evil.example/",
    )
    assert response.headers["location"] == "/review"


# --- contacts --------------------------------------------------------------------------------


def _contact(client, csrf, name: str, numbers: str) -> int:
    response = post(client, "/contacts", csrf, name=name, numbers=numbers)
    assert response.status_code == 303, response.text
    return int(response.headers["location"].rsplit("/", 1)[1])


def test_edit_a_contacts_name_and_numbers(client, engine):
    created, _channel = _shop(engine)
    csrf = sign_in(client, created.owner_email)
    old, new = _number(), _number()
    contact_id = _contact(client, csrf, "Ann", old)
    with write(engine) as conn:
        optouts.add_opt_out(conn, _owner(created), old, reason="asked")
    bad = post(client, f"/contacts/{contact_id}/edit", csrf, name="Ann B", numbers=f"{new}\nnope")
    assert bad.status_code == 422 and "nope" in bad.text
    page = client.get(f"/contacts/{contact_id}").text
    assert "Ann B" not in page  # nothing half-written
    ok = post(
        client,
        f"/contacts/{contact_id}/edit",
        csrf,
        name="Ann Bell",
        numbers=f"({new[2:5]}) {new[5:8]}-{new[8:]}",
        email="ann@example.com",
    )
    assert ok.status_code == 303
    page = client.get(f"/contacts/{contact_id}").text
    assert "Ann Bell" in page and "ann@example.com" in page
    assert new[-4:] in page and old[-4:] not in page.split("Notes")[0]
    with read(engine) as conn:  # the opt-out stayed with the number taken off
        assert ledger.load_state(conn, created.workspace.id, old).opt_outs


def test_merge_and_delete_work_behind_confirm_pages(client, engine):
    created, _channel = _shop(engine)
    csrf = sign_in(client, created.owner_email)
    a_number, b_number = _number(), _number()
    keep = _contact(client, csrf, "Keep", a_number)
    fold = _contact(client, csrf, "Fold", b_number)
    with write(engine) as conn:
        optouts.add_opt_out(conn, _owner(created), b_number, reason="by phone")
    merge_page = client.get(f"/contacts/{keep}/merge")
    assert merge_page.status_code == 200 and "Fold" in merge_page.text
    assert post(client, f"/contacts/{keep}/merge", csrf, source_id=str(fold)).status_code == 303
    assert client.get(f"/contacts/{fold}").status_code == 404
    page = client.get(f"/contacts/{keep}").text
    assert b_number[-4:] in page and "Opted out" in page
    assert client.get(f"/contacts/{keep}/delete").status_code == 200
    assert post(client, f"/contacts/{keep}/delete", csrf).status_code == 303
    assert client.get(f"/contacts/{keep}").status_code == 404
    with read(engine) as conn:
        assert ledger.load_state(conn, created.workspace.id, b_number).opt_outs


def test_create_a_contact_from_a_conversation_with_an_unknown_number(client, engine):
    created, channel = _shop(engine)
    number = _number()
    _text(engine, channel, number, "hi, it's Bo")
    conversation = _conversation(engine, created.workspace.id, number)
    csrf = sign_in(client, created.owner_email)
    page = client.get(f"/inbox/{conversation}").text
    link = re.search(r'href="(/contacts/new\?[^"]+)"', page).group(1).replace("&amp;", "&")  # type: ignore[union-attr]
    form = client.get(link).text
    assert number in form
    response = post(
        client, "/contacts", csrf, name="Bo", numbers=number, next=f"/inbox/{conversation}"
    )
    assert response.headers["location"] == f"/inbox/{conversation}"
    assert ">Bo<" in client.get(f"/inbox/{conversation}").text


def test_a_contacts_list_memberships_remove_opt_out_and_opt_in(client, engine):
    created, _channel = _shop(engine)
    csrf = sign_in(client, created.owner_email)
    number = _number()
    contact_id = _contact(client, csrf, "Cy", number)
    with write(engine) as conn:
        news = lists.create_list(conn, _owner(created), name="News")
        promos = lists.create_list(conn, _owner(created), name="Promos")
        lists.add_members(conn, _owner(created), news.id, [number])
        lists.add_members(conn, _owner(created), promos.id, [number])
    base = f"/contacts/{contact_id}/lists"
    assert post(client, f"{base}/{news.id}/opt-out", csrf, number=number).status_code == 303
    assert post(client, f"{base}/{promos.id}/remove", csrf, number=number).status_code == 303
    with read(engine) as conn:
        state = ledger.load_state(conn, created.workspace.id, number)
        assert news.id in state.list_opt_outs and not state.opt_outs
        assert lists.memberships(conn, created.workspace.id, [number]) == {(news.id, number)}
    page = client.get(f"/contacts/{contact_id}").text
    assert "Opted out of this list" in page
    # Under the default recipient_only policy the opt-in is shown disabled, with the reason.
    assert re.search(r"<button[^>]*disabled[^>]*>Opt in to list</button>", page)
    assert "Only the recipient can opt back in" in page
    with write(engine) as conn:
        ws_service.update_settings(
            conn, _owner(created), {"resubscribe_policy": "with_consent_note"}
        )
    refused = post(client, f"{base}/{news.id}/opt-in", csrf, number=number, note="")
    assert refused.status_code == 303
    opted = post(client, f"{base}/{news.id}/opt-in", csrf, number=number, note="Asked in store")
    assert opted.status_code == 303
    with read(engine) as conn:
        assert not ledger.load_state(conn, created.workspace.id, number).list_opt_outs


def test_opt_in_and_remove_are_disabled_with_their_reason_under_recipient_only(client, engine):
    created, channel = _shop(engine)
    number = _number()
    _text(engine, channel, number, "STOP")
    conversation = _conversation(engine, created.workspace.id, number)
    sign_in(client, created.owner_email)
    page = client.get(f"/inbox/{conversation}").text
    assert re.search(r"<button[^>]*disabled[^>]*>Opt in</button>", page)
    assert f"/numbers/{number.replace('+', '%2B')}/opt-in" not in page
    assert "Only the recipient can opt back in, by texting START" in page
    opt_outs = client.get("/opt-outs").text
    assert re.search(r'<button[^>]*disabled aria-describedby="remove-why"', opt_outs)
    assert "Remove is off" in opt_outs


# --- lists ---------------------------------------------------------------------------------


def test_manage_a_list_its_members_and_keywords(client, engine):
    created, channel = _shop(engine)
    csrf = sign_in(client, created.owner_email)
    made = post(client, "/lists", csrf, name="Deals")
    assert made.status_code == 303
    list_path = made.headers["location"]
    list_id = int(list_path.rsplit("/", 1)[1])
    assert post(client, "/lists", csrf, name="deals").status_code == 422  # names are unique
    assert post(client, f"{list_path}/rename", csrf, name="Weekly deals").status_code == 303
    good = _number()
    imported = client.post(
        f"{list_path}/members",
        data={"csrf_token": csrf, "numbers": f"{good}\nnot a phone\n{good}"},
    )
    assert imported.status_code == 200
    assert re.search(r"<dt>Added</dt><dd>1</dd>", imported.text)
    assert "Row 2" in imported.text and "not a phone" in imported.text
    saved = post(
        client,
        f"{list_path}/keywords",
        csrf,
        opt_out="DEALSOFF",
        opt_in="",
        help="",
        help_text="",
        reply_opt_out="{brand}: no more {list}. Other texts keep coming.",
        reply_opt_in="",
    )
    assert saved.status_code == 303, re.findall(r"role=\"alert\">([^<]*)", saved.text)
    page = client.get(list_path).text
    assert "Weekly deals" in page and "DEALSOFF" in page and "no more {list}" in page
    tester = client.get("/settings/keyword-test", params={"text": "dealsoff"}).text
    assert "Weekly deals" in tester and "only" in tester and "every channel" not in tester
    # The list's own reply goes to the customer.
    _text(engine, channel, good, "DEALSOFF")
    with read(engine) as conn:
        state = ledger.load_state(conn, created.workspace.id, good)
        thread = inbox.thread(
            conn, created.workspace.id, _conversation(engine, created.workspace.id, good)
        )
    assert list_id in state.list_opt_outs and not state.opt_outs
    sent = [m.body for m in thread if m.direction == "out"]
    assert sent == [f"{created.workspace.name}: no more Weekly deals. Other texts keep coming."]
    # A list numbers opted out of is kept: delete is shown disabled with the reason.
    page = client.get(list_path).text
    assert re.search(r"<button[^>]*disabled[^>]*>Delete…</button>", page)
    empty = post(client, "/lists", csrf, name="Scratch").headers["location"]
    assert client.get(f"{empty}/delete").status_code == 200
    assert post(client, f"{empty}/delete", csrf).status_code == 303
    assert client.get(empty).status_code == 404


# --- time zones and settings ------------------------------------------------------------------


def test_times_are_shown_in_the_workspace_zone_or_the_members_own(client, engine):
    created, channel = _shop(engine)
    _text(engine, channel, _number(), "what time is it?")
    csrf = sign_in(client, created.owner_email)
    assert " UTC<" in client.get("/inbox").text
    form = client.get("/settings/messaging").text
    assert 'name="time_zone"' in form
    with write(engine) as conn:
        ws_service.update_settings(conn, _owner(created), {"time_zone": "Asia/Tokyo"})
    assert " JST<" in client.get("/inbox").text
    assert post(client, "/settings/profile", csrf, time_zone="Europe/Paris").status_code == 303
    page = client.get("/inbox").text
    assert re.search(r" CES?T<", page) and " JST<" not in page
    assert post(client, "/settings/profile", csrf, time_zone="Moon/Base").status_code == 422
    assert post(client, "/settings/profile", csrf, time_zone="").status_code == 303
    assert " JST<" in client.get("/inbox").text


def test_settings_warn_until_a_real_support_contact_is_set(client, engine):
    created, _channel = _shop(engine)
    sign_in(client, created.owner_email)
    assert "No support contact is set" in client.get("/settings/messaging").text
    with write(engine) as conn:
        ws_service.update_settings(conn, _owner(created), {"help_contact": "help@shop.example"})
    assert "No support contact is set" not in client.get("/settings/messaging").text


def test_settings_offer_to_keep_only_lists_with_a_word_to_answer_with(client, engine):
    created, _channel = _shop(engine)
    with write(engine) as conn:
        alerts = lists.create_list(
            conn, _owner(created), name="Appointment alerts", keywords={"opt_in": ["ALERTS"]}
        ).id
        plain = lists.create_list(conn, _owner(created), name="Newsletter").id
    csrf = sign_in(client, created.owner_email)
    page = client.get("/settings/messaging").text
    offered = re.search(rf'<input[^>]*id="keep-{alerts}"[^>]*>', page)
    assert offered and "disabled" not in offered.group(0)
    assert re.search(rf'id="keep-{plain}"[^>]*disabled', page) and "(reply ALERTS)" in page
    saved = post(
        client,
        "/settings/messaging",
        csrf,
        send_confirmations="on",
        opt_out_rate_warning="2",
        review_deadline_business_days="10",
        keep_offer_lists=str(alerts),
        keep_offer_hours="6",
    )
    assert saved.status_code == 303, re.findall(r"role=\"alert\">([^<]*)", saved.text)
    with read(engine) as conn:
        policy = ws_service.get_workspace(conn, created.workspace.id).policy
    assert (policy.keep_offer_lists, policy.keep_offer_hours) == ((alerts,), 6)
    assert re.search(rf'id="keep-{alerts}"[^>]*checked', client.get("/settings/messaging").text)
    refused = post(
        client,
        "/settings/messaging",
        csrf,
        opt_out_rate_warning="2",
        review_deadline_business_days="10",
        keep_offer_lists=str(plain),
        keep_offer_hours="6",
    )
    assert refused.status_code == 422 and "no opt-in keyword" in refused.text
    for hostile in ("٣", "1; DROP", "-1"):
        odd = post(
            client,
            "/settings/messaging",
            csrf,
            opt_out_rate_warning="2",
            review_deadline_business_days="10",
            keep_offer_lists=hostile,
            keep_offer_hours="6",
        )
        assert odd.status_code == 422 and "given by their ids" in odd.text
    with read(engine) as conn:
        unchanged = ws_service.get_workspace(conn, created.workspace.id).policy
    assert unchanged.keep_offer_lists == (alerts,)
    bad_hours = post(
        client,
        "/settings/messaging",
        csrf,
        opt_out_rate_warning="2",
        review_deadline_business_days="10",
        keep_offer_hours="0",
    )
    assert bad_hours.status_code == 422 and "from 1 to 168" in bad_hours.text


def test_a_kept_list_shows_on_the_numbers_page_and_in_its_history(client, engine):
    created, channel = _shop(engine)
    sender = _number()
    with write(engine) as conn:
        alerts = lists.create_list(
            conn, _owner(created), name="Appointment alerts", keywords={"opt_in": ["ALERTS"]}
        ).id
        lists.add_members(conn, _owner(created), alerts, [sender])
        ws_service.update_settings(conn, _owner(created), {"keep_offer_lists": [alerts]})
    _text(engine, channel, sender, "STOP")
    _text(engine, channel, sender, "ALERTS")
    sign_in(client, created.owner_email)
    page = client.get(f"/audit/numbers/{sender.replace('+', '%2B')}").text
    assert "Kept, by their answer to the confirmation: Appointment alerts" in page
    assert "Kept past the opt-out" in page and "Opt-out, offered to keep 1 list" in page
    assert "keeps a list" in client.get("/opt-outs").text


def test_email_settings_keep_the_password_write_only_and_send_a_test(client, engine, monkeypatch):
    from tests.smtp import smtp_server

    monkeypatch.delenv("STOPLINE_SMTP_HOST", raising=False)
    created, _channel = _shop(engine)
    csrf = sign_in(client, created.owner_email)
    assert "Email me when it is ready" not in client.get("/opt-outs").text
    with smtp_server() as (port, mailbox):
        saved = post(
            client,
            "/settings/email",
            csrf,
            host="127.0.0.1",
            port=str(port),
            tls="none",
            username="",
            password="hunter2-secret",
            sender="desk@shop.example",
        )
        assert saved.status_code == 303, re.findall(r"role=\"alert\">([^<]*)", saved.text)
        page = client.get("/settings/email").text
        assert "hunter2-secret" not in page and "saved — type to replace" in page
        assert post(client, "/settings/email/test", csrf).status_code == 303
        assert "Test email sent" in client.get("/settings/email").text
    [message] = mailbox.messages
    assert mailbox.recipients == [[created.owner_email]]
    assert message["Subject"] == "stopline test email"
    assert "Email me when it is ready" in client.get("/opt-outs").text
    bad = post(client, "/settings/email", csrf, host="127.0.0.1", port="x", tls="none")
    assert bad.status_code == 422


def test_members_see_the_email_settings_disabled_with_the_reason(client, engine):
    created, _channel = _shop(engine)
    colleague = add_person(engine, created.workspace.id, "member")
    csrf = sign_in(client, colleague)
    page = client.get("/settings/email").text
    assert "Only admins can change the email settings" in page
    assert re.search(r"<fieldset disabled", page)
    assert post(client, "/settings/email", csrf, host="x.example").status_code == 403


def test_a_scheduled_time_is_read_in_the_readers_zone_and_shown_back_in_it(client, engine):
    from datetime import UTC, datetime, timedelta

    day = (datetime.now(UTC) + timedelta(days=30)).date()
    created, channel = _shop(engine)
    number = _number()
    csrf = sign_in(client, created.owner_email)
    assert post(client, "/settings/profile", csrf, time_zone="Asia/Tokyo").status_code == 303
    assert "Date and time (Asia/Tokyo)" in client.get("/compose").text
    sent = post(
        client,
        "/compose",
        csrf,
        to=number,
        channel_id=str(channel.id),
        body="See you at the clinic",
        schedule="later",
        when=f"{day.isoformat()}T09:00",
    )
    assert sent.status_code == 303, sent.text
    conversation = _conversation(engine, created.workspace.id, number)
    with read(engine) as conn:
        [message] = inbox.thread(conn, created.workspace.id, conversation)
    # 09:00 in Tokyo is midnight UTC
    assert message.scheduled_at == datetime(day.year, day.month, day.day, 0, 0, tzinfo=UTC)
    page = client.get(f"/inbox/{conversation}").text
    assert f"Scheduled for {day:%b %-d, %Y}, 09:00 JST" in page


def test_the_live_inbox_never_shows_another_workspaces_conversation(client, engine):
    created, channel = _shop(engine)
    other, other_channel = _shop(engine)
    number = _number()
    _text(engine, other_channel, number, "private to the other shop")
    theirs = _conversation(engine, other.workspace.id, number)
    sign_in(client, created.owner_email)
    response = client.get(f"/inbox/live?stamp=x&conversation={theirs}")
    assert response.status_code == 404
    assert "private to the other shop" not in response.text
    assert "private to the other shop" not in client.get("/inbox/live?stamp=x").text
