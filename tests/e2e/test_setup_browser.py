"""Setting up and sending, in a real browser (Debian's Chromium) against `stopline serve`:
connect a Twilio channel and copy its webhook URL, text the demo as a customer, compose and
schedule, send a campaign and watch it, and read the API docs with the network blocked."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from tests.e2e import test_browser as base
from tests.e2e.test_browser import SHOTS, Server, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]

from playwright.sync_api import Browser, Page, expect  # noqa: E402

SIZES = {"desktop": (1280, 800), "phone": (390, 844)}

# The same server (the demo workspace, in a subprocess) and browser fixtures as test_browser.py.
server = base.server
browser = base.browser
page = base.page


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_connect_a_twilio_channel_and_copy_its_webhook_url(browser: Browser, server: Server):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.url)
    page = context.new_page()
    page.set_default_timeout(30_000)
    try:
        sign_in(page, server)
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Channels").click()
        page.get_by_role("link", name="Add a channel").click()
        page.get_by_label("Provider", exact=True).select_option("twilio")
        page.get_by_label("Number or sender id").fill("(415) 555-0177")
        page.get_by_label("Name").fill("Downtown")
        page.get_by_label("Account SID").fill("AC" + "7" * 32)
        page.get_by_label("Auth token").fill("browser-secret-token")
        page.get_by_role("button", name="Add channel").click()
        expect(page.locator(".flash.ok")).to_contain_text("Paste its webhook URLs into Twilio")
        inbound = page.get_by_role("textbox", name="Incoming messages")
        url = inbound.input_value()
        assert re.fullmatch(re.escape(server.url) + r"/webhooks/twilio/\d+/inbound", url), url
        assert "browser-secret-token" not in page.content()
        expect(page.get_by_text("A message comes in")).to_be_visible()
        page.get_by_role("button", name="Copy the incoming messages URL").click()
        expect(page.get_by_role("button", name="Copy the incoming messages URL")).to_have_text(
            "Copied"
        )
        assert page.evaluate("navigator.clipboard.readText()") == url
        shot(page, "setup-channel-twilio")
        # The credential fields of another provider appear when it is chosen.
        page.goto(server.url + "/channels/new")
        page.get_by_label("Provider", exact=True).select_option("vonage")
        expect(page.get_by_label("Signature secret")).to_be_visible()
    finally:
        context.close()


def test_text_the_demo_as_a_customer_and_see_the_message_and_the_stop_arrive(
    page: Page, server: Server
):
    sign_in(page, server)
    page.goto(server.url + "/channels")
    page.get_by_role("link", name="Text as a customer").first.click()
    page.get_by_label("From (the customer's number)").fill("+1 415 555 0163")
    page.get_by_label("Text", exact=True).fill("Hi! Do you have anything on Saturday?")
    page.get_by_role("button", name="Send", exact=True).click()
    expect(page.locator(".flash.ok")).to_contain_text("signed and verified: it is in the inbox")
    page.get_by_role("link", name="Open this conversation in the inbox").click()
    expect(page.locator(".msg.in")).to_contain_text("Do you have anything on Saturday?")
    page.go_back()
    page.get_by_role("button", name="STOP").click()
    expect(page.locator(".flash.ok")).to_contain_text("it opted the number out")
    # The confirmation shows on the phone once the worker has sent it (the thread refreshes).
    expect(page.locator("#phone-thread .msg.out").last).to_contain_text("unsubscribed")
    shot(page, "setup-phone")
    page.goto(server.url + "/opt-outs?q=0163")
    expect(page.locator("#opt-outs-table")).to_contain_text("+1 415-555-0163")
    expect(page.locator("#opt-outs-table tbody tr[data-method='reply']")).to_have_count(1)


def test_compose_sees_the_gate_answer_then_schedules_a_message(page: Page, server: Server):
    sign_in(page, server)
    page.goto(server.url + "/inbox")
    page.get_by_role("link", name="New message").click()
    to = page.get_by_label("To", exact=True)
    to.fill("+14155550148")  # James opted out by texting STOP
    expect(page.locator("#gate-answer")).to_contain_text("has opted out")
    to.fill("(415) 555-0123")
    expect(page.locator("#gate-answer")).to_contain_text("Can be sent")
    page.get_by_label("Message", exact=True).fill(
        "Hi Maria, a reminder of your cleaning tomorrow at 11:00."
    )
    expect(page.locator("#segment-counter")).to_contain_text("1 segment")
    page.get_by_label("Send at a set time").check()
    when = datetime.now(UTC) + timedelta(days=2)
    # Typed in the member's zone (UTC unless they or the workspace chose another).
    page.get_by_label(re.compile(r"^Date and time")).fill(when.strftime("%Y-%m-%dT18:30"))
    shot(page, "setup-compose")
    page.get_by_role("button", name="Send message").click()
    expect(page.locator(".flash.ok")).to_contain_text("Scheduled for")
    expect(page.locator("#thread-heading")).to_be_visible()
    expect(page.locator(".msg.out.scheduled").last).to_contain_text("cleaning tomorrow")


def test_create_and_send_a_campaign_with_its_preview_counts_and_progress(
    page: Page, server: Server
):
    sign_in(page, server)
    page.goto(server.url + "/campaigns")
    expect(page.locator("#campaigns-table")).to_contain_text("Flu shots are in")  # the demo's
    page.get_by_role("link", name="New campaign").click()
    page.get_by_label("Name").fill("Holiday hours")
    body = page.get_by_label("Message")
    body.fill("Demo Dental is closed Dec 24-26. Happy holidays!")
    expect(page.locator("#segment-counter")).to_contain_text("GSM-7")
    body.fill("Demo Dental is closed Dec 24-26. Happy holidays! 🎄")
    expect(page.locator("#segment-counter")).to_contain_text("UCS-2")
    page.get_by_label("Newsletter").check()
    page.get_by_role("button", name="Preview audience").click()
    allowed = int(page.locator("#aud-allowed").inner_text())
    opted_out = int(page.locator("#aud-opted_out").inner_text())
    assert allowed >= 1 and opted_out >= 3  # the demo's STOPs and imported opt-outs
    shot(page, "setup-campaign-preview")
    page.get_by_role("button", name="Send campaign now").click()
    expect(page.locator(".flash.ok")).to_contain_text("Campaign started")
    # Progress updates by itself until every message is handed over, or held for its
    # recipient's sending hours (marketing at night waits for the morning in their zone).
    expect(page.locator("#count-recipients")).to_have_text(str(allowed + opted_out))
    expect(page.locator("#campaign-progress")).to_have_attribute("data-in-flight", "0")
    sent = int(page.locator("#count-sent").inner_text())
    waiting = int(page.locator("#count-waiting").inner_text())
    assert sent + waiting == allowed
    if waiting == 0:
        expect(page.locator("#campaign-progress .badge")).to_have_text("Sent")
    expect(page.locator("#recipients-table tbody tr")).to_have_count(allowed + opted_out)
    shot(page, "setup-campaign-progress")
    page.get_by_label("Skipped because").select_option("opted_out")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("#recipients-table tbody tr")).to_have_count(opted_out)


def test_api_docs_render_with_the_network_blocked(browser: Browser, server: Server):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    outside: list[str] = []

    def only_this_server(route):
        if route.request.url.startswith(server.url):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    context.route("**/*", only_this_server)
    page = context.new_page()
    try:
        page.goto(server.url + "/api/docs")
        expect(page.get_by_text("/api/v1/campaigns/preview")).to_be_visible()
        expect(page.locator(".swagger-ui .info .title")).to_contain_text("stopline")
        shot(page, "setup-api-docs")
        assert outside == []
    finally:
        context.close()


@pytest.mark.parametrize("size", list(SIZES))
def test_setup_pages_at_desktop_and_phone_size(browser: Browser, server: Server, size: str):
    width, height = SIZES[size]
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    page.set_default_timeout(30_000)
    try:
        sign_in(page, server)
        for name, path in [
            ("channels", "/channels"),
            ("channel", "/channels/1"),
            ("channel-new", "/channels/new"),
            ("phone", "/channels/1/phone?from=%2B14155550190"),
            ("compose", "/compose"),
            ("campaigns", "/campaigns"),
            ("campaign-new", "/campaigns/new"),
            ("campaign", "/campaigns/1"),
        ]:
            response = page.goto(server.url + path)
            assert response is not None and response.status == 200, path
            expect(page.locator("h1").first).to_be_visible()
            scroll = page.evaluate("document.documentElement.scrollWidth")
            assert scroll <= width + 1, f"{path} is {scroll}px wide on a {width}px screen"
            shot(page, f"setup-{name}-{size}")
    finally:
        context.close()
