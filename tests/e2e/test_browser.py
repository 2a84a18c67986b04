"""The web app in a real browser: Debian's Chromium driven by Playwright against `stopline serve`.

The server runs as a real subprocess on a free loopback port with a temporary SQLite database
and the demo workspace. Screenshots of every page go to test-artifacts/screenshots/.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "test-artifacts" / "screenshots"

pytestmark = [pytest.mark.browser, pytest.mark.slow]

if not Path(CHROMIUM).exists():
    if os.environ.get("STOPLINE_REQUIRE_BROWSER") == "1":
        raise RuntimeError("STOPLINE_REQUIRE_BROWSER=1 but /usr/bin/chromium is missing")
    pytest.skip("Debian's chromium is not installed", allow_module_level=True)

from playwright.sync_api import Browser, Page, expect, sync_playwright  # noqa: E402

# A 2-core CI machine under load signs in (argon2) slowly: generous waits, no timed assertions.
expect.set_options(timeout=20_000)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    def __init__(
        self,
        url: str,
        email: str,
        password: str,
        process: subprocess.Popen[str],
        database_url: str = "",
    ):
        self.url = url
        self.email = email
        self.password = password
        self.process = process
        self.database_url = database_url  # tests that play a customer write through services


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("serve")
    port = _free_port()
    database_url = f"sqlite:///{tmp / 'stopline.db'}"
    env = {
        **os.environ,
        "STOPLINE_DATABASE_URL": database_url,
        "STOPLINE_DATA_DIR": str(tmp / "data"),
        "STOPLINE_SECRET_KEY": "browser-test-secret-" + uuid.uuid4().hex,
        "COLUMNS": "300",  # one line per message from the CLI's console
        "PYTHONUNBUFFERED": "1",
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from stopline.cli import main; main()",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=tmp,
    )
    url = f"http://127.0.0.1:{port}"
    lines: list[str] = []
    email = password = ""
    deadline = time.monotonic() + 120
    try:
        assert process.stdout is not None
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                if process.poll() is not None:
                    break
                continue
            lines.append(line)
            found = re.search(r"as (\S+@\S+) / (\S+)", line)
            if found:
                email, password = found.group(1), found.group(2)
            if "stopline on http" in line:
                break
        assert email and password, "serve did not print the demo sign-in:\n" + "".join(lines)
        _wait_until_up(url, deadline)
        yield Server(url, email, password, process, database_url)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


def _wait_until_up(url: str, deadline: float) -> None:
    import httpx

    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError("server did not come up")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1360, "height": 900})
    tab = context.new_page()
    tab.set_default_timeout(30_000)
    yield tab
    context.close()


def shot(page: Page, name: str, *, full: bool = True) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=full)


def sign_in(
    page: Page, server: Server, email: str | None = None, password: str | None = None
) -> None:
    page.goto(server.url + "/")
    expect(page).to_have_url(re.compile(r"/sign-in"))
    page.get_by_label("Email").fill(email or server.email)
    page.get_by_label("Password").fill(password or server.password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("navigation", name="Main")).to_be_visible()


def open_conversation(page: Page, server: Server, who: str) -> None:
    page.goto(server.url + "/inbox")
    page.locator(f".conv-list a[data-number='+1{who}']").first.click()
    expect(page.locator("#thread-heading")).to_be_visible()


PAGES = [
    ("inbox", "/inbox"),
    ("opt-outs", "/opt-outs"),
    ("opt-outs-add", "/opt-outs/new"),
    ("contacts", "/contacts"),
    ("contact", "/contacts/2"),
    ("contacts-new", "/contacts/new"),
    ("opt-outs-import", "/opt-outs/import"),
    ("review", "/review"),
    ("dashboard", "/dashboard"),
    ("audit", "/audit"),
    ("audit-verify", "/audit/verify"),
    ("settings-messaging", "/settings/messaging"),
    ("settings-members", "/settings/members"),
    ("settings-api-keys", "/settings/api-keys"),
    ("lists", "/lists"),
    ("list", "/lists/1"),
    ("settings-profile", "/settings/profile"),
    ("channels", "/channels"),
    ("channel", "/channels/1"),
    ("channel-phone", "/channels/1/phone"),
    ("compose", "/compose"),
    ("campaigns", "/campaigns"),
    ("campaign", "/campaigns/1"),
    ("campaign-new", "/campaigns/new"),
]


def test_sign_in_and_see_every_page(page: Page, server: Server) -> None:
    page.goto(server.url + "/sign-in")
    shot(page, "sign-in")
    sign_in(page, server)
    for name, path in PAGES:
        response = page.goto(server.url + path)
        assert response is not None and response.status == 200, path
        expect(page.locator("h1").first).to_be_visible()
        shot(page, name)
    open_conversation(page, server, "4155550111")
    shot(page, "inbox-conversation")
    page.locator("#prefs-heading ~ dl, .prefs").first.wait_for()
    page.goto(server.url + "/audit/numbers/%2B14155550148")
    shot(page, "audit-number-history")


def test_phone_sized_screen(browser: Browser, server: Server) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    tab = context.new_page()
    tab.set_default_timeout(30_000)
    try:
        sign_in(tab, server)
        open_conversation(tab, server, "4155550123")
        # The thread fills the screen; nothing overflows sideways.
        width = tab.evaluate("document.documentElement.scrollWidth")
        assert width <= 390 + 1
        shot(tab, "phone-conversation")
        tab.goto(server.url + "/opt-outs")
        shot(tab, "phone-opt-outs")
    finally:
        context.close()


def test_unsubscribe_from_a_conversation_updates_the_footer_and_refuses_a_reply(
    page: Page, server: Server
) -> None:
    sign_in(page, server)
    open_conversation(page, server, "4155550123")
    expect(page.locator("#conversation-state")).to_have_count(0)
    page.get_by_role("link", name="Unsubscribe", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Unsubscribe")
    expect(
        page.get_by_text("Messages already queued to this number are cancelled.")
    ).to_be_visible()
    shot(page, "confirm-unsubscribe")
    page.get_by_label("Reason (optional, kept in the audit log)").fill("Asked by phone")
    page.get_by_role("button", name="Yes, unsubscribe").click()
    expect(page.locator(".flash.ok")).to_contain_text("Unsubscribed +14155550123")
    footer = page.locator("#conversation-state")
    expect(footer).to_contain_text("Opted out")
    # The conversation stays open: an opt-out never closes it.
    expect(page.get_by_role("button", name="Close conversation")).to_be_visible()
    page.get_by_label(re.compile("Reply to")).fill("Just checking in about Thursday")
    page.get_by_role("button", name="Send reply").click()
    refusal = page.locator("#reply-refusal")
    expect(refusal).to_contain_text("Your reply was not sent")
    expect(refusal).to_contain_text("has opted out")
    shot(page, "reply-refused")


def test_a_message_body_with_markup_is_shown_as_text(page: Page, server: Server) -> None:
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    sign_in(page, server)
    # A customer texts markup (the demo data has none): through the signed console webhook.
    page.goto(server.url + "/channels/1/phone")
    page.get_by_label("From (the customer's number)").fill("+14155550190")
    page.get_by_label("Text", exact=True).fill("Is <b>this</b> safe? <script>alert('hi')</script>")
    page.get_by_role("button", name="Send", exact=True).click()
    expect(page.locator(".flash.ok")).to_contain_text("signed and verified")
    expect(page.locator("#phone-thread .msg.in").last).to_contain_text("<script>")
    assert dialogs == []
    open_conversation(page, server, "4155550190")
    message = page.locator(".msg.in", has_text="<script>")
    expect(message).to_contain_text("Is <b>this</b> safe? <script>alert('hi')</script>")
    assert message.locator("b").count() == 0 and message.locator("script").count() == 0
    page.wait_for_timeout(300)
    assert dialogs == []
    shot(page, "script-as-text")


def test_filter_the_opt_outs_page_by_method(page: Page, server: Server) -> None:
    sign_in(page, server)
    page.goto(server.url + "/opt-outs")
    page.get_by_label("Method").select_option("import")
    page.get_by_role("button", name="Filter", exact=True).click()
    rows = page.locator("#opt-outs-table tbody tr")
    expect(rows).to_have_count(4)
    for method in rows.evaluate_all("rows => rows.map(r => r.dataset.method)"):
        assert method == "import"
    page.get_by_label("Method").select_option("reply")
    page.get_by_role("button", name="Filter", exact=True).click()
    expect(page.locator("#opt-outs-table tbody tr[data-method='reply']")).not_to_have_count(0)
    assert set(
        page.locator("#opt-outs-table tbody tr").evaluate_all("r => r.map(x => x.dataset.method)")
    ) == {"reply"}
    shot(page, "opt-outs-filtered")


def test_bulk_unsubscribe_reviews_the_audience_first(page: Page, server: Server) -> None:
    sign_in(page, server)
    page.goto(server.url + "/contacts?status=subscribed")
    boxes = page.locator("#contacts-table tbody input[name=ids]")
    assert boxes.count() >= 2
    boxes.nth(0).check()
    boxes.nth(1).check()
    page.get_by_role("button", name="Unsubscribe selected…").click()
    expect(page.locator("#aud-contacts")).to_have_text("2")
    shot(page, "bulk-review")
    page.get_by_role("button", name=re.compile("Yes, unsubscribe")).click()
    expect(page.locator(".flash.ok")).to_contain_text("Unsubscribed 2 numbers")


def test_add_an_opt_out_by_hand(page: Page, server: Server) -> None:
    sign_in(page, server)
    page.goto(server.url + "/opt-outs")
    page.get_by_role("link", name="Add Opt-Out").click()
    page.get_by_label("Phone number").fill("(415) 555-0222")
    page.get_by_label("Reason (optional)").fill("Asked at reception")
    page.get_by_role("button", name="Add opt-out").click()
    expect(page.locator(".flash.ok")).to_contain_text("+14155550222")
    expect(page.locator("#opt-outs-table")).to_contain_text("Asked at reception")


def test_import_a_csv_and_watch_it_finish(page: Page, server: Server, tmp_path: Path) -> None:
    sign_in(page, server)
    page.goto(server.url + "/opt-outs")
    if page.get_by_role("link", name="Import").count() == 0:
        pytest.skip("the import service is not part of this build yet")
    csv = tmp_path / "optouts.csv"
    csv.write_text("phone,name\n(415) 555-0301,A\n415-555-0302,B\nnot a number,C\n4155550301,A\n")
    page.get_by_role("link", name="Import").click()
    page.get_by_label(re.compile("File")).set_input_files(str(csv))
    page.get_by_label(re.compile("Reason")).fill("Paper forms from the front desk")
    page.get_by_role("button", name=re.compile("Import")).click()
    expect(page.locator("progress, .report")).not_to_have_count(0)
    expect(page.locator(".report")).to_contain_text("Added", timeout=60_000)
    shot(page, "import-finished")
    expect(page.locator(".report")).to_contain_text("2")


def test_change_the_opt_out_scope_as_admin_and_be_refused_as_member(
    browser: Browser, page: Page, server: Server
) -> None:
    sign_in(page, server)
    page.goto(server.url + "/settings/messaging")
    page.get_by_label(re.compile("Only the channel messaged")).check()
    page.get_by_role("button", name="Save messaging settings").click()
    expect(page.locator(".flash.ok")).to_contain_text("saved")
    expect(page.get_by_label(re.compile("Only the channel messaged"))).to_be_checked()
    # Add a member, then act as them.
    member_email = f"member-{uuid.uuid4().hex[:6]}@example.com"
    page.goto(server.url + "/settings/members")
    page.get_by_label("Email").fill(member_email)
    page.get_by_label(re.compile("Initial password")).fill("member password 1")
    page.get_by_role("button", name="Add member").click()
    expect(page.locator(".flash.ok")).to_contain_text(member_email)

    context = browser.new_context()
    member = context.new_page()
    member.set_default_timeout(30_000)
    try:
        sign_in(member, server, member_email, "member password 1")
        member.goto(server.url + "/settings/messaging")
        expect(member.locator("#member-notice")).to_contain_text("Only admins can change")
        expect(member.get_by_label(re.compile("Every channel"))).to_be_disabled()
        expect(member.get_by_role("button", name="Save messaging settings")).to_have_count(0)
        shot(member, "settings-as-member")
        # Even a hand-made request with a valid CSRF token is refused.
        status = member.evaluate(
            """async () => {
                const csrf = document.querySelector("input[name=csrf_token]").value;
                const body = new URLSearchParams({csrf_token: csrf, opt_out_scope: "workspace"});
                const r = await fetch("/settings/messaging", {method: "POST", body});
                return r.status;
            }"""
        )
        assert status == 403
        member.goto(server.url + "/settings/api-keys")
        expect(member.get_by_role("heading", name="Not allowed")).to_be_visible()
    finally:
        context.close()
    page.goto(server.url + "/settings/messaging")
    expect(page.get_by_label(re.compile("Only the channel messaged"))).to_be_checked()


def _focusables(page: Page) -> list[str]:
    return page.evaluate(
        """() => {
          const sel = 'a[href], button, input, select, textarea, [tabindex]:not([tabindex="-1"])';
          let i = 0;
          return [...document.querySelectorAll(sel)].filter(el => {
            if (el.disabled || el.type === 'hidden') return false;
            // A radio group is one Tab stop (its checked radio); arrow keys move within it.
            if (el.type === 'radio') {
              const group = [...document.getElementsByName(el.name)];
              const stop = group.find(r => r.checked) || group[0];
              if (stop !== el) return false;
            }
            if (el.closest('fieldset[disabled]')) return false;
            const style = getComputedStyle(el);
            if (style.visibility === 'hidden' || style.display === 'none') return false;
            const r = el.getBoundingClientRect();
            if (el.classList.contains('skip-link')) return true;
            return r.width > 0 && r.height > 0;
          }).map(el => { if (!el.dataset.kb) el.dataset.kb = 'k' + (i++); return el.dataset.kb; });
        }"""
    )


def _tab_through(page: Page, expected: int) -> set[str]:
    """Press Tab from the top of the page and note every control that takes the focus."""
    has_autofocus = page.evaluate("() => !!document.querySelector('[autofocus]')")
    reached: set[str] = set()
    if has_autofocus:
        # The page put the focus on its main control; start over from the skip link.
        page.evaluate("() => document.querySelector('.skip-link').focus()")
        reached.add(page.evaluate("() => document.activeElement.dataset.kb || ''"))
    else:
        page.evaluate("() => document.activeElement && document.activeElement.blur()")
        page.keyboard.press("Tab")
        first = page.evaluate("() => document.activeElement.className")
        assert "skip-link" in first, "the first Tab reaches the skip link"
        reached.add(page.evaluate("() => document.activeElement.dataset.kb || ''"))
    for _ in range(expected * 2 + 10):
        page.keyboard.press("Tab")
        key = page.evaluate(
            "() => (document.activeElement && document.activeElement.dataset.kb) || ''"
        )
        if key:
            if key in reached and len(reached) >= expected:
                break
            reached.add(key)
    return reached


@pytest.mark.parametrize(
    "path",
    [
        "/inbox",
        "/inbox/1",
        "/opt-outs",
        "/opt-outs/new",
        "/opt-outs/import",
        "/contacts",
        "/contacts/1",
        "/contacts/bulk-unsubscribe?scope=all&status=subscribed",
        "/numbers/%2B14155550111/block?next=/inbox",
        "/review",
        "/dashboard",
        "/audit",
        "/audit/numbers/%2B14155550148",
        "/settings/messaging",
        "/settings/members",
        "/settings/api-keys",
        "/lists",
        "/lists/1",
        "/contacts/1/edit",
        "/settings/profile",
        "/settings/email",
        "/channels",
        "/channels/1",
        "/channels/new",
        "/channels/1/phone",
        "/compose",
        "/campaigns",
        "/campaigns/new",
        "/campaigns/1",
    ],
)
def test_keyboard_reaches_every_control(page: Page, server: Server, path: str) -> None:
    sign_in(page, server)
    page.goto(server.url + path)
    page.mouse.move(0, 0)
    # <details> hide their fields until opened: open them so their fields count too.
    page.evaluate("() => document.querySelectorAll('details').forEach(d => d.open = true)")
    wanted = _focusables(page)
    page.evaluate("() => document.querySelectorAll('details').forEach(d => d.open = true)")
    reached = _tab_through(page, len(wanted))
    missed = set(wanted) - reached
    assert not missed, page.evaluate(
        "ks => ks.map(k => document.querySelector(`[data-kb='${k}']`).outerHTML.slice(0, 120))",
        sorted(missed),
    )


def test_a_confirmation_can_be_done_with_the_keyboard_alone(page: Page, server: Server) -> None:
    sign_in(page, server)
    page.goto(server.url + "/numbers/%2B14155550111/block?next=/opt-outs")
    # The confirm button has focus; Enter confirms.
    focused = page.evaluate("() => document.activeElement.textContent")
    assert "Yes, block" in focused
    page.keyboard.press("Enter")
    expect(page.locator(".flash.ok")).to_contain_text("Blocked +14155550111")
