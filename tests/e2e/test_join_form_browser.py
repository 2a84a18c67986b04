"""The hosted opt-in form in a real browser (Debian's Chromium via Playwright, against
`stopline serve`): a visitor fills it in, gets the double opt-in text, replies YES, and the list
opt-in is recorded with the form's evidence (consent text version and hash, page URL, IP
address, user agent)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.test_browser import CHROMIUM, SHOTS, _free_port, _wait_until_up

pytestmark = [pytest.mark.browser, pytest.mark.slow]

from playwright.sync_api import Browser, expect, sync_playwright  # noqa: E402

from stopline.providers.base import InboundMessage  # noqa: E402
from stopline.services import inbound, joins, lists, workspaces  # noqa: E402
from stopline.services.workspaces import Principal  # noqa: E402
from stopline.store.db import make_engine, read, write  # noqa: E402
from stopline.store.migrate import upgrade  # noqa: E402
from stopline.store.tables import consent_events, messages  # noqa: E402

expect.set_options(timeout=20_000)
CONSENT = (
    "By signing up you agree to receive recurring marketing texts from Café Acmé at this "
    "number, up to 4 msgs/month. Consent is not a condition of purchase. Msg&data rates may "
    "apply. Reply HELP for help, STOP to cancel."
)
AGENT = "Mozilla/5.0 (iPhone; stopline-browser-test)"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    tmp = tmp_path_factory.mktemp("join")
    url = f"sqlite:///{tmp / 'stopline.db'}"
    engine = make_engine(url)
    upgrade(engine)
    with write(engine) as conn:
        created = workspaces.create_workspace(
            conn,
            name="Café Acmé",
            owner_email="join@example.com",
            owner_password="correct horse battery",
        )
        ws = created.workspace
        owner = Principal(ws.id, "owner", "test")
        from stopline.security import Keyring

        channel = workspaces.add_channel(
            conn, ws.id, Keyring("x"), address="+14155550142", provider="console"
        )
        deals = lists.create_list(conn, owner, name="Deals")
        settings = joins.save_settings(
            conn,
            owner,
            deals.id,
            request_text="Café Acmé: Reply YES to get Deals texts, up to 4 msgs/month. "
            "Msg&data rates may apply. Reply STOP to cancel.",
            form_enabled=True,
            consent_text=CONSENT,
        )
    port = _free_port()
    env = {
        **os.environ,
        "STOPLINE_DATABASE_URL": url,
        "STOPLINE_DATA_DIR": str(tmp / "data"),
        "STOPLINE_SECRET_KEY": "join-test-" + uuid.uuid4().hex,
        "PYTHONUNBUFFERED": "1",
    }
    process = subprocess.Popen(
        [sys.executable, "-c", "from stopline.cli import main; main()", "serve", "--host",
         "127.0.0.1", "--port", str(port), "--no-demo"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(base, time.monotonic() + 120)
        yield {
            "engine": engine,
            "ws": ws,
            "channel": channel,
            "list": deals,
            "url": base + settings.form_path,
        }
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
        engine.dispose()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
        )
        yield chromium
        chromium.close()


def test_a_visitor_signs_up_and_the_yes_records_the_form_evidence(browser, world) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, user_agent=AGENT)
    page = context.new_page()
    page.goto(world["url"])
    expect(page.get_by_role("heading", name="Get Deals texts")).to_be_visible()
    expect(page.locator("#terms")).to_have_text(CONSENT)
    agree = page.get_by_label("I agree to the terms above.")
    expect(agree).not_to_be_checked()
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "join-form-390.png"), full_page=True)

    page.get_by_label("Mobile number").fill("(415) 555-0177")
    page.get_by_role("button", name="Sign up").click()  # not ticked: the browser refuses
    expect(page.get_by_role("heading", name="Get Deals texts")).to_be_visible()
    agree.check()
    page.wait_for_timeout(3200)  # a person reads the terms; the form refuses faster bots
    page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_text("Reply YES within 24 hours")).to_be_visible()
    page.screenshot(path=str(SHOTS / "join-form-sent-390.png"), full_page=True)
    context.close()

    engine, ws, channel = world["engine"], world["ws"], world["channel"]
    deadline = time.monotonic() + 60  # the server's own worker hands the request over
    while True:
        with read(engine) as conn:
            texted = conn.execute(
                messages.select().where(messages.c.to_number == "+14155550177")
            ).all()
        done = texted and texted[0].status in ("sent", "delivered", "failed", "canceled")
        if done or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    [request] = texted
    assert request.status == "sent"  # the first message also carries the STOP/HELP disclosure
    assert request.body.startswith(
        "Café Acmé: Reply YES to get Deals texts, up to 4 msgs/month. Msg&data rates may "
        "apply. Reply STOP to cancel."
    )
    with read(engine) as conn:
        in_channel = inbound.channel_for(conn, channel.id)[0]
    outcome = inbound.process_inbound(
        engine,
        in_channel,
        InboundMessage(
            provider="console",
            provider_message_id=uuid.uuid4().hex,
            from_number="+14155550177",
            to_address=channel.address,
            body="Yes",
        ),
    )
    assert outcome.action == "join_confirmed"
    with read(engine) as conn:
        [event] = conn.execute(
            consent_events.select().where(
                consent_events.c.workspace_id == ws.id,
                consent_events.c.number == "+14155550177",
                consent_events.c.action == "list_opt_in",
            )
        ).all()
    evidence = event.detail["evidence"]
    assert evidence["source"] == "hosted form" and evidence["consent_version"] == "1"
    assert evidence["consent_text"] == CONSENT and len(evidence["consent_text_hash"]) == 64
    assert evidence["ip"] == "127.0.0.1" and evidence["user_agent"] == AGENT
    assert evidence["page_url"] == world["url"]
    assert evidence["reply_text"] == "Yes" and evidence["request_text"].startswith("Café Acmé")


def test_the_form_page_on_a_desktop_and_a_bot_filling_the_honeypot(browser, world) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.goto(world["url"])
    page.screenshot(path=str(SHOTS / "join-form-1280.png"), full_page=True)
    page.get_by_label("Mobile number").fill("(415) 555-0178")
    page.get_by_label("I agree to the terms above.").check()
    page.evaluate("document.getElementById('website').value = 'http://spam.example'")
    page.wait_for_timeout(3200)
    page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_role("alert")).to_contain_text("too quick")
    context.close()
    with read(world["engine"]) as conn:
        assert not conn.execute(
            messages.select().where(messages.c.to_number == "+14155550178")
        ).all()


assert Path(CHROMIUM)  # the module above skipped itself if Chromium is missing
