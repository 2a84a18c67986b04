"""Page behaviour: what each page shows and does, with the world made through the services."""

from __future__ import annotations

import random
import re
import uuid

from stopline.providers.base import InboundMessage
from stopline.security import Keyring
from stopline.services import directory, inbound, inbox, jobs, optouts
from stopline.services import messages as messages_service
from stopline.services import workspaces as ws_service
from stopline.services.demo import ensure_demo
from stopline.services.workspaces import Principal
from stopline.store import ledger
from stopline.store.db import read, write
from tests.web import ui_helpers
from tests.web.ui_helpers import new_workspace, post, sign_in

ui_app = ui_helpers.ui_app
client = ui_helpers.client


def _number() -> str:
    # Toronto: no built-in send-time rule holds a campaign to it at any hour the tests run.
    return f"+1416{random.randint(200, 999)}{random.randint(1000, 9999)}"


def _shop(engine):
    created = new_workspace(engine)
    wid = created.workspace.id
    with write(engine) as conn:
        channel = ws_service.add_channel(
            conn, wid, Keyring("k"), address=_number(), provider="console", name="Front desk"
        )
    return created, channel


def _text(engine, channel, number: str, body: str):
    with write(engine) as conn:
        in_channel = inbound.channel_for(conn, channel.id)[0]
        return inbound.receive_inbound(
            conn,
            in_channel,
            InboundMessage(
                provider="console",
                provider_message_id=uuid.uuid4().hex,
                from_number=number,
                to_address=channel.address,
                body=body,
            ),
        )


def _conversation(engine, workspace_id: int, number: str) -> int:
    with read(engine) as conn:
        found, _ = inbox.list_conversations(conn, workspace_id, status=None, search=number[2:])
    return found[0].id


def test_a_message_body_with_markup_is_escaped_everywhere(client, engine):
    created, channel = _shop(engine)
    number = _number()
    _text(engine, channel, number, "<script>alert(1)</script><img src=x onerror=alert(2)>")
    sign_in(client, created.owner_email)
    conv = _conversation(engine, created.workspace.id, number)
    for page in (client.get("/inbox"), client.get(f"/inbox/{conv}")):
        assert "<script>alert(1)" not in page.text and "<img src=x" not in page.text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
        assert "script-src 'self'" in page.headers["content-security-policy"]


def test_stop_opts_out_shows_the_footer_and_keeps_the_conversation_open(client, engine):
    created, channel = _shop(engine)
    number = _number()
    _text(engine, channel, number, "Can I move my appointment?")
    _text(engine, channel, number, "STOP")
    csrf = sign_in(client, created.owner_email)
    conv = _conversation(engine, created.workspace.id, number)
    page = client.get(f"/inbox/{conv}")
    assert 'id="conversation-state"' in page.text and "Opted out" in page.text
    assert "Close conversation" in page.text  # still open
    refused = post(client, f"/inbox/{conv}/reply", csrf, body="Are you sure?")
    assert refused.status_code == 422
    assert "Your reply was not sent" in refused.text and "has opted out" in refused.text
    assert "Are you sure?" in refused.text  # the draft is kept


def test_a_reply_to_a_subscribed_number_is_queued(client, engine):
    created, channel = _shop(engine)
    number = _number()
    _text(engine, channel, number, "Hello")
    csrf = sign_in(client, created.owner_email)
    conv = _conversation(engine, created.workspace.id, number)
    response = post(client, f"/inbox/{conv}/reply", csrf, body="Hi there")
    assert response.status_code == 303
    with read(engine) as conn:
        thread = inbox.thread(conn, created.workspace.id, conv)
    assert thread[-1].body == "Hi there" and thread[-1].sent_by == created.owner_email


def test_close_and_reopen_a_conversation(client, engine):
    created, channel = _shop(engine)
    number = _number()
    _text(engine, channel, number, "Thanks!")
    csrf = sign_in(client, created.owner_email)
    conv = _conversation(engine, created.workspace.id, number)
    assert post(client, f"/inbox/{conv}/close", csrf).status_code == 303
    assert f"/inbox/{conv}" in client.get("/inbox?status=closed").text
    assert f'href="/inbox/{conv}"' not in client.get("/inbox?status=open").text
    assert post(client, f"/inbox/{conv}/reopen", csrf).status_code == 303
    with read(engine) as conn:
        assert inbox.get_conversation(conn, created.workspace.id, conv).status == "open"


def test_a_blocked_numbers_new_texts_stay_out_of_the_thread(client, engine):
    created, channel = _shop(engine)
    number = _number()
    _text(engine, channel, number, "first message")
    with write(engine) as conn:
        optouts.block(conn, Principal(created.workspace.id, "owner", "t"), number)
    _text(engine, channel, number, "spam after block")
    sign_in(client, created.owner_email)
    page = client.get(f"/inbox/{_conversation(engine, created.workspace.id, number)}")
    assert "first message" in page.text and "spam after block" not in page.text
    assert "Blocked" in page.text


def test_unsubscribe_from_the_panel_confirms_then_records_a_manual_opt_out(client, engine):
    created, channel = _shop(engine)
    number = _number()
    _text(engine, channel, number, "hi")
    csrf = sign_in(client, created.owner_email)
    conv = _conversation(engine, created.workspace.id, number)
    confirm = client.get(f"/numbers/{number}/unsubscribe?next=/inbox/{conv}")
    assert "Messages already queued to this number are cancelled" in confirm.text
    with read(engine) as conn:
        assert not ledger.load_state(conn, created.workspace.id, number).opt_outs
    done = post(
        client, f"/numbers/{number}/unsubscribe", csrf, next=f"/inbox/{conv}", reason="phone"
    )
    assert done.status_code == 303 and done.headers["location"] == f"/inbox/{conv}"
    with read(engine) as conn:
        record = ledger.load_state(conn, created.workspace.id, number).opt_outs
    (only,) = record.values()
    assert only.method.value == "manual" and only.actor == created.owner_email


def test_the_opt_outs_page_searches_and_filters_by_method(client, engine):
    created, _ = _shop(engine)
    owner = Principal(created.workspace.id, "owner", "t")
    with write(engine) as conn:
        optouts.add_opt_out(conn, owner, "+14155550171", reason="by api", method="api")
        optouts.add_opt_out(conn, owner, "+14155550172", reason="by hand")
    sign_in(client, created.owner_email)
    api_only = client.get("/opt-outs?method=api").text
    assert "by api" in api_only and "by hand" not in api_only
    search = client.get("/opt-outs?q=0172").text
    assert "by hand" in search and "by api" not in search
    bad = client.get("/opt-outs?q=abc")
    assert bad.status_code == 200 and "needs digits" in bad.text


def test_a_reply_opt_out_cannot_be_added_by_hand(client, engine):
    created, _ = _shop(engine)
    csrf = sign_in(client, created.owner_email)
    response = post(client, "/opt-outs", csrf, number="not a number")
    assert response.status_code == 422 and 'role="alert"' in response.text


def test_bulk_unsubscribe_refuses_a_stale_review(client, engine):
    created, _ = _shop(engine)
    owner = Principal(created.workspace.id, "owner", "t")
    with write(engine) as conn:
        a = directory.create_contact(conn, owner, name="Ann", numbers=["+14155550181"])
        directory.create_contact(conn, owner, name="Bob", numbers=["+14155550182"])
    csrf = sign_in(client, created.owner_email)
    review = client.get("/contacts/bulk-unsubscribe?scope=all")
    assert 'id="aud-contacts">2<' in review.text
    token = re.search(r'name="token" value="([^"]+)"', review.text).group(1)
    with write(engine) as conn:  # the audience changes after the review
        directory.create_contact(conn, owner, name="Cat", numbers=["+14155550183"])
    stale = post(client, "/contacts/bulk-unsubscribe", csrf, token=token)
    assert stale.status_code == 409 and "changed since you reviewed" in stale.text
    fresh = client.get("/contacts/bulk-unsubscribe?scope=all")
    token = re.search(r'name="token" value="([^"]+)"', fresh.text).group(1)
    assert post(client, "/contacts/bulk-unsubscribe", csrf, token=token).status_code == 303
    with read(engine) as conn:
        for n in ("+14155550181", "+14155550182", "+14155550183"):
            (record,) = ledger.load_state(conn, created.workspace.id, n).opt_outs.values()
            assert record.method.value == "manual"
    assert a.id


def test_import_shows_progress_then_the_row_report(client, engine):
    created, _ = _shop(engine)
    csrf = sign_in(client, created.owner_email)
    form = client.get("/opt-outs/import")
    if form.status_code == 404:
        return  # the import service is not in this build
    started = client.post(
        "/opt-outs/import",
        data={"csrf_token": csrf, "reason": "paper forms"},
        files={"file": ("list.csv", b"phone\n(415) 555-0191\nnope\n4155550191\n", "text/csv")},
        follow_redirects=False,
    )
    assert started.status_code == 303
    job_url = started.headers["location"]
    assert "every 1s" in client.get(job_url).text  # htmx polls until it is finished
    while jobs.run_next(engine, "test", ["import"]) is not None:
        pass
    done = client.get(job_url + "/progress")
    assert 'id="report-added">1<' in done.text and 'id="report-rejected">1<' in done.text
    assert "every 1s" not in done.text
    assert "Row 3" in done.text or ">3<" in done.text


def test_the_audit_log_filters_and_the_chain_verifies(client, engine):
    created, _ = _shop(engine)
    owner = Principal(created.workspace.id, "owner", "t")
    with write(engine) as conn:
        optouts.add_opt_out(conn, owner, "+14155550161", reason="first")
        optouts.block(conn, owner, "+14155550162", reason="spam")
    sign_in(client, created.owner_email)
    blocks_only = client.get("/audit?action=block").text
    assert "spam" in blocks_only and "first" not in blocks_only
    assert "The ledger verifies" in client.get("/audit/verify").text
    history = client.get("/audit/numbers/+14155550161").text
    assert "first" in history and "The ledger verifies" in history


def test_the_dashboard_counts_opt_outs_by_method(client, engine):
    created, _ = _shop(engine)
    owner = Principal(created.workspace.id, "owner", "t")
    with write(engine) as conn:
        optouts.add_opt_out(conn, owner, "+14155550151", method="api")
        optouts.add_opt_out(conn, owner, "+14155550152")
    sign_in(client, created.owner_email)
    page = client.get("/dashboard").text
    assert "<svg" in page and "API (1)" in page and "Manual (1)" in page
    assert "2 opt-outs in all" in page


def test_the_demo_workspace_is_explorable(client, engine, tmp_path):
    # A database of its own: the demo is made only when there is no workspace at all.
    from stopline.store.db import make_engine
    from stopline.store.migrate import upgrade

    demo_engine = make_engine(f"sqlite:///{tmp_path / 'demo.db'}")
    upgrade(demo_engine)
    with write(demo_engine) as conn:
        info = ensure_demo(conn, Keyring("k"))
    assert info is not None
    with read(demo_engine) as conn:
        conversations, _ = inbox.list_conversations(conn, info.workspace_id, status=None)
        rows, _ = optouts.list_opt_outs(conn, info.workspace_id, limit=100)
        contacts, _ = directory.list_contacts(conn, info.workspace_id, directory.ContactFilter())
        messages = messages_service.list_messages(conn, info.workspace_id)
        from stopline.services import review

        pending, _ = review.list_review_items(conn, info.workspace_id)
    assert len(conversations) >= 5 and len(contacts) >= 5
    assert {"reply", "manual", "import", "api", "link"} <= {r.method for r in rows}
    assert any(r.blocked for r in rows)
    assert pending and messages is not None
    demo_engine.dispose()


def test_the_dashboard_warns_about_a_campaign_above_the_opt_out_rate_threshold(client, engine):
    from stopline.services import campaigns
    from stopline.worker.runner import Worker

    created, channel = _shop(engine)
    owner = Principal(created.workspace.id, "owner", "t")
    numbers = [_number() for _ in range(4)]
    with write(engine) as conn:
        newsletter = campaigns.create_list(conn, owner, "Newsletter")
        campaigns.add_members(conn, owner, newsletter.id, numbers)
        campaigns.create_campaign(
            conn,
            owner,
            name="Spring sale",
            body="20% off this week",
            list_ids=[newsletter.id],
            channel_id=channel.id,
        )
    Worker(engine, Keyring("test-secret-key")).drain()
    _text(engine, channel, numbers[0], "STOP")  # 1 of 4 recipients: 25%, above the 2% default
    sign_in(client, created.owner_email)
    page = client.get("/dashboard").text
    assert "Spring sale" in page and "25.0%" in page and "Above 2%" in page


def test_the_review_queue_honours_a_request_with_its_deadline_shown(client, engine):
    created, channel = _shop(engine)
    number = _number()
    outcome = _text(engine, channel, number, "please stop texting me")
    csrf = sign_in(client, created.owner_email)
    page = client.get("/review").text
    assert "please stop texting me" in page and outcome.deadline.strftime("%b %-d, %Y") in page
    response = post(client, f"/review/{outcome.review_item_id}", csrf, resolution="opt_out")
    assert response.status_code == 303
    with read(engine) as conn:
        assert ledger.load_state(conn, created.workspace.id, number).opt_outs
    assert "please stop texting me" in client.get("/review?status=opted_out").text


def test_the_review_queue_shows_which_rule_flagged_each_item(client, engine):
    created, channel = _shop(engine)
    _text(engine, channel, _number(), "Quiero darme de baja")
    _text(engine, channel, _number(), "Stop by tomorrow?")
    sign_in(client, created.owner_email)
    page = client.get("/review").text
    assert "Rule: <strong>darme de baja</strong>" in page
    assert "Rule: <strong>STOP used as an ordinary word</strong>" in page
    assert "a person decides before the legal deadline" in page


def test_the_inbox_shows_a_reaction_as_a_reaction(client, engine):
    created, channel = _shop(engine)
    number = _number()
    _text(engine, channel, number, "Liked \u201cSale today! Reply STOP to unsubscribe\u201d")
    sign_in(client, created.owner_email)
    page = client.get(f"/inbox/{_conversation(engine, created.workspace.id, number)}").text
    assert 'class="msg in reaction' in page and "They reacted" in page and ">Reaction<" in page


def test_the_keyword_tester_explains_a_reaction_and_names_a_rule(client, engine):
    created, _ = _shop(engine)
    sign_in(client, created.owner_email)
    hx = {"HX-Request": "true"}
    liked = client.get(
        "/settings/keyword-test",
        params={"text": "Liked \u201cReply STOP to opt out\u201d"},
        headers=hx,
    ).text
    assert "Reaction" in liked and "shown in the inbox as a reaction" in liked
    baja = client.get("/settings/keyword-test", params={"text": "Quiero darme de baja"}, headers=hx)
    assert "rule \u201cdarme de baja\u201d" in baja.text and "review queue" in baja.text
