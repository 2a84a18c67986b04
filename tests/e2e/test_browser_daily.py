"""The daily tool in a real browser (Debian's Chromium): a customer's text and their STOP arrive
live, a review item is resolved from its conversation, contacts are edited, merged and deleted,
a list and its keywords are managed, times follow the chosen zone, and every main page fits a
390 px phone. Screenshots of every page at 1280x800 and 390x844 go to test-artifacts/screenshots/.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import pytest

from tests.e2e.test_browser import CHROMIUM, SHOTS, Server, browser, server, sign_in  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.slow]

from playwright.sync_api import Browser, Page, expect  # noqa: E402

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}

# Every main page, as a member reaches it from the navigation and the pages it links to.
MAIN_PAGES = [
    ("inbox", "/inbox"),
    ("campaigns", "/campaigns"),
    ("channels", "/channels"),
    ("inbox-conversation", "/inbox/1"),
    ("contacts", "/contacts"),
    ("contact", "/contacts/2"),
    ("contact-edit", "/contacts/2/edit"),
    ("contact-merge", "/contacts/2/merge"),
    ("contact-delete", "/contacts/2/delete"),
    ("contacts-new", "/contacts/new"),
    ("lists", "/lists"),
    ("list", "/lists/1"),
    ("opt-outs", "/opt-outs"),
    ("opt-outs-add", "/opt-outs/new"),
    ("opt-outs-import", "/opt-outs/import"),
    ("review", "/review"),
    ("dashboard", "/dashboard"),
    ("audit", "/audit"),
    ("audit-number", "/audit/numbers/%2B14155550148"),
    ("settings-messaging", "/settings/messaging"),
    ("settings-members", "/settings/members"),
    ("settings-api-keys", "/settings/api-keys"),
    ("settings-profile", "/settings/profile"),
    ("settings-email", "/settings/email"),
]


@pytest.fixture
def desk(browser: Browser) -> Iterator[Page]:  # noqa: F811
    context = browser.new_context(viewport=DESKTOP)
    tab = context.new_page()
    tab.set_default_timeout(30_000)
    yield tab
    context.close()


def text_in(server: Server, sender: str, body: str) -> None:  # noqa: F811
    """A customer texts the demo workspace: the inbound pipeline a webhook runs, on the
    server's own database (the test process plays the provider)."""
    from stopline.providers.base import InboundMessage
    from stopline.services import inbound
    from stopline.store.db import make_engine, write
    from stopline.store.workspaces import list_channels

    engine = make_engine(server.database_url)
    try:
        with write(engine) as conn:
            channel = list_channels(conn, 1)[0]
            in_channel = inbound.channel_for(conn, int(channel.id))[0]
            inbound.receive_inbound(
                conn,
                in_channel,
                InboundMessage("console", uuid.uuid4().hex, sender, channel.address, body),
            )
    finally:
        engine.dispose()


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    width = page.viewport_size["width"] if page.viewport_size else 0
    page.screenshot(path=str(SHOTS / f"daily-{name}-{width}.png"), full_page=True)


def test_a_customers_text_and_their_stop_arrive_without_a_reload(desk: Page, server: Server):  # noqa: F811
    sign_in(desk, server)
    desk.goto(server.url + "/inbox")
    desk.evaluate("() => { window.__noReload = 'still here' }")
    before = desk.locator("#nav-count-inbox").inner_text()
    text_in(server, "+14155550400", "Hi, can I book a cleaning next week?")
    row = desk.locator(".conv-list a[data-number='+14155550400']")
    expect(row).to_be_visible()
    expect(row).to_contain_text("can I book a cleaning")
    expect(row).to_have_class(re.compile("unread"))
    expect(row.locator(".badge.channel")).to_have_text("Front desk")
    expect(desk.locator("#nav-count-inbox")).not_to_have_text(before)
    assert desk.evaluate("() => window.__noReload") == "still here"
    shot(desk, "live-new-message")

    row.click()
    expect(desk.locator("#thread-heading")).to_be_visible()
    desk.evaluate("() => { window.__noReload = 'still here' }")
    desk.get_by_label(re.compile("Reply to")).fill("A draft I am still typing")
    text_in(server, "+14155550400", "STOP")
    expect(desk.locator("#conversation-state")).to_contain_text("Opted out")
    expect(desk.locator("#messages")).to_contain_text("STOP")
    expect(desk.locator("#prefs-card")).to_contain_text("Opted out")
    assert desk.evaluate("() => window.__noReload") == "still here"
    # The reply being typed is left alone by the live update.
    expect(desk.get_by_label(re.compile("Reply to"))).to_have_value("A draft I am still typing")
    shot(desk, "live-stop")


def test_resolve_a_possible_revocation_from_its_conversation(desk: Page, server: Server):  # noqa: F811
    text_in(server, "+14155550401", "please don't text me anymore")
    sign_in(desk, server)
    desk.goto(server.url + "/inbox")
    row = desk.locator(".conv-list a[data-number='+14155550401']")
    expect(row.locator(".badge.review")).to_have_text("Possible revocation")
    row.click()
    banner = desk.locator(".review-banner")
    expect(banner).to_contain_text("Possible request to stop")
    expect(banner).to_contain_text("decide by")
    expect(desk.locator("#prefs-card")).to_contain_text("pending review")
    shot(desk, "review-banner")
    banner.get_by_role("button", name="Opt out").click()
    expect(desk.locator(".flash.ok")).to_contain_text("Opted out +14155550401")
    expect(desk.locator(".review-banner")).to_have_count(0)
    expect(desk.locator("#conversation-state")).to_contain_text("Opted out")
    desk.goto(server.url + "/review?status=opted_out")
    expect(desk.locator("main")).to_contain_text("please don't text me anymore")


def test_edit_merge_and_delete_a_contact(desk: Page, server: Server):  # noqa: F811
    sign_in(desk, server)
    desk.goto(server.url + "/contacts/new")
    desk.get_by_label("Name").fill("Rae Twin")
    desk.get_by_label("Phone numbers").fill("(415) 555-0410")
    desk.get_by_role("button", name="Create contact").click()
    expect(desk.locator("h1")).to_have_text("Rae Twin")
    desk.get_by_role("link", name="Edit").click()
    desk.get_by_label("Name").fill("Rae Twining")
    desk.get_by_label("Phone numbers").fill("415 555 0410\nnot a number")
    desk.get_by_role("button", name="Save contact").click()
    expect(desk.locator("#form-error")).to_be_visible()
    desk.get_by_label("Phone numbers").fill("415 555 0410\n+1 415 555 0411")
    desk.get_by_role("button", name="Save contact").click()
    expect(desk.locator(".flash.ok")).to_contain_text("Contact saved")
    expect(desk.locator("h1")).to_have_text("Rae Twining")
    expect(desk.locator(".lede")).to_contain_text("+1 415-555-0411")
    keep_url = desk.url

    desk.goto(server.url + "/contacts/new")
    desk.get_by_label("Name").fill("Rae Duplicate")
    desk.get_by_label("Phone numbers").fill("415-555-0412")
    desk.get_by_role("button", name="Create contact").click()
    expect(desk.locator("h1")).to_have_text("Rae Duplicate")
    desk.goto(keep_url)
    desk.get_by_role("link", name="Merge…").click()
    choice = desk.get_by_label("Contact to merge in")
    value = choice.locator("option", has_text="Rae Duplicate").get_attribute("value")
    assert value is not None
    choice.select_option(value)
    shot(desk, "contact-merge-filled")
    desk.get_by_role("button", name="Merge contacts").click()
    expect(desk.locator(".flash.ok")).to_contain_text("Merged into Rae Twining")
    expect(desk.locator(".lede")).to_contain_text("+1 415-555-0412")

    desk.get_by_role("link", name="Delete…").click()
    expect(desk.get_by_role("heading", level=1)).to_contain_text("Delete Rae Twining")
    desk.get_by_role("button", name="Yes, delete contact").click()
    expect(desk.locator(".flash.ok")).to_contain_text("Deleted Rae Twining")
    assert desk.goto(keep_url).status == 404


def test_manage_a_list_and_its_keywords(desk: Page, server: Server):  # noqa: F811
    sign_in(desk, server)
    desk.goto(server.url + "/contacts")
    desk.goto(server.url + "/lists")
    desk.get_by_label("New list").fill("Recall reminders")
    desk.get_by_role("button", name="Create list").click()
    expect(desk.locator("h1")).to_have_text("Recall reminders")
    desk.get_by_label("List name").fill("Six-month recalls")
    desk.get_by_role("button", name="Rename").click()
    expect(desk.locator("h1")).to_have_text("Six-month recalls")
    desk.get_by_label("Numbers", exact=True).fill("(415) 555-0420\n415 555 0421\nbanana")
    desk.get_by_role("button", name="Add members").click()
    expect(desk.locator("#import-report")).to_contain_text("Rejected")
    expect(desk.locator("#import-report")).to_contain_text("banana")
    expect(desk.locator("#members-table tbody tr")).to_have_count(2)
    desk.get_by_label("Opt-out words").fill("NORECALL")
    desk.get_by_label("Reply to a list opt-out word").fill(
        "{brand}: no more {list} texts. Appointment texts still come."
    )
    desk.get_by_role("button", name="Save keywords and replies").click()
    expect(desk.locator(".flash.ok")).to_contain_text("Saved the keywords")
    expect(desk.get_by_label("Opt-out words")).to_have_value("NORECALL")
    desk.get_by_label("Inbound text").fill("norecall")
    result = desk.locator("#tester-result")
    expect(result).to_contain_text("Six-month recalls")
    expect(result).to_contain_text("only")
    expect(result).not_to_contain_text("every channel")
    shot(desk, "list-managed")
    desk.locator("#members-table").get_by_role("button", name=re.compile("Remove")).first.click()
    expect(desk.locator(".flash.ok")).to_contain_text("off the list")
    expect(desk.locator("#members-table tbody tr")).to_have_count(1)
    desk.get_by_role("link", name="Delete…").click()
    desk.get_by_role("button", name="Yes, delete the list").click()
    expect(desk.locator(".flash.ok")).to_contain_text("Deleted the list Six-month recalls")


def test_set_the_time_zone_and_see_times_change(desk: Page, server: Server):  # noqa: F811
    sign_in(desk, server)
    desk.goto(server.url + "/opt-outs")
    first = desk.locator("#opt-outs-table tbody tr time").first
    utc_text = first.inner_text()
    assert utc_text.endswith(("UTC", "JST", "CET", "CEST"))
    desk.goto(server.url + "/settings/messaging")
    desk.get_by_label("Time zone").select_option("Asia/Tokyo")
    desk.get_by_role("button", name="Save messaging settings").click()
    expect(desk.locator(".flash.ok")).to_contain_text("saved")
    desk.goto(server.url + "/opt-outs")
    expect(first).to_contain_text("JST")
    assert first.inner_text() != utc_text
    shot(desk, "times-in-tokyo")
    desk.goto(server.url + "/settings/profile")
    desk.get_by_label("My time zone").select_option("Europe/Paris")
    desk.get_by_role("button", name="Save").click()
    expect(desk.locator(".flash.ok")).to_contain_text("Europe/Paris")
    desk.goto(server.url + "/opt-outs")
    expect(first).to_contain_text(re.compile("CES?T"))
    # Back to the workspace's zone, and the workspace back to UTC for the other tests.
    desk.goto(server.url + "/settings/profile")
    desk.get_by_label("My time zone").select_option("")
    desk.get_by_role("button", name="Save").click()
    desk.goto(server.url + "/settings/messaging")
    desk.get_by_label("Time zone").select_option("UTC")
    desk.get_by_role("button", name="Save messaging settings").click()
    expect(desk.locator(".flash.ok")).to_contain_text("saved")


def test_every_main_page_at_phone_and_desktop_size(browser: Browser, server: Server):  # noqa: F811
    for viewport in (PHONE, DESKTOP):
        context = browser.new_context(viewport=viewport, is_mobile=viewport is PHONE)
        tab = context.new_page()
        tab.set_default_timeout(30_000)
        try:
            sign_in(tab, server)
            for name, path in MAIN_PAGES:
                response = tab.goto(server.url + path)
                assert response is not None and response.status == 200, path
                width = tab.evaluate("document.documentElement.scrollWidth")
                assert width <= viewport["width"], f"{path} is {width}px wide"
                if viewport is PHONE:
                    # Every navigation entry is on screen: none is cut off or scrolled away.
                    boxes = tab.locator("nav[aria-label=Main] a").evaluate_all(
                        "as => as.map(a => a.getBoundingClientRect().right)"
                    )
                    assert boxes and max(boxes) <= viewport["width"], path
                    # The navigation is only as tall as its entries (a short page used to
                    # stretch it, leaving an empty band above the page).
                    nav, entries = tab.evaluate(
                        "() => { const s = document.querySelector('nav[aria-label=Main]');"
                        " return [s.getBoundingClientRect().height,"
                        " s.querySelector('ul').getBoundingClientRect().height]; }"
                    )
                    assert nav <= entries + 24, f"{path}: navigation {nav}px for {entries}px"
                shot(tab, name)
        finally:
            context.close()
