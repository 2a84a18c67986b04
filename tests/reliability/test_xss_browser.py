"""Stored and reflected markup never runs in the browser: Chromium visits every page after hostile
text went in through every door (an inbound text and its sender, contact name and note, opt-out
reason, list and campaign names, workspace name, the review queue, search boxes, the keyword
tester, a flash message).

Each payload carries a `data-xss` attribute and would set `window.__xss` if it ran. A page passes
when no element has `data-xss` (escaping held, so the Content-Security-Policy never even had to
step in), nothing ran, no dialog opened, and the browser reported no CSP violation.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import sqlalchemy as sa

from stopline.providers.base import InboundMessage
from stopline.security import Keyring
from stopline.services import campaigns, contacts, inbound, optouts, queueing, workspaces
from stopline.services.inbound_context import InboundChannel
from stopline.services.workspaces import Principal
from stopline.store.db import make_engine, write
from stopline.store.migrate import upgrade
from stopline.store.tables import conversations
from tests.inbound_kit import LiveServer, make_runtime

CHROMIUM = "/usr/bin/chromium"
pytestmark = [pytest.mark.browser, pytest.mark.slow]

if not Path(CHROMIUM).exists():
    if os.environ.get("STOPLINE_REQUIRE_BROWSER") == "1":
        raise RuntimeError("STOPLINE_REQUIRE_BROWSER=1 but /usr/bin/chromium is missing")
    pytest.skip("Debian's chromium is not installed", allow_module_level=True)

from playwright.sync_api import sync_playwright  # noqa: E402

PASSWORD = "correct horse battery"
PAYLOADS = [
    '<img data-xss src=x onerror="window.__xss=1">',
    '"><svg data-xss onload="window.__xss=1"></svg>',
    "</textarea></title><script data-xss>window.__xss=1</script>",
    '\'><a data-xss href="javascript:window.__xss=1">x</a>',
    '<iframe data-xss srcdoc="<script>parent.__xss=1</script>"></iframe>',
    '<div data-xss hx-get="/sign-out" hx-trigger="load">htmx</div>',
]
P = " ".join(PAYLOADS)
WATCH = """
window.__csp = [];
document.addEventListener('securitypolicyviolation', e => window.__csp.push(e.violatedDirective));
"""


def _seed(engine: sa.Engine) -> dict[str, Any]:
    keyring = Keyring("test-secret-key")
    with write(engine) as conn:
        created = workspaces.create_workspace(
            conn,
            name=f"Shop {PAYLOADS[0]}",
            owner_email=f"xss-{uuid.uuid4().hex[:8]}@example.com",
            owner_password=PASSWORD,
        )
        ws = created.workspace
        owner = Principal(workspace_id=ws.id, role="owner", actor=f"member {PAYLOADS[1]}")
        channel = workspaces.add_channel(
            conn, ws.id, keyring, address="+14155550100", provider="console"
        )
        person = contacts.create_contact(
            conn, owner, name=f"Ann {PAYLOADS[5]}", numbers=["+14155550111"], note=f"Note {P}"
        )
        optouts.add_opt_out(conn, owner, "+14155550112", reason=f"Reason {P}")
        the_list = campaigns.create_list(conn, owner, f"List {PAYLOADS[2]}")
        campaigns.add_members(conn, owner, the_list.id, ["+14155550113"])
        campaigns.create_campaign(
            conn, owner, name=f"Campaign {PAYLOADS[3]}", body=f"Body {P}", list_ids=[the_list.id]
        )
        queueing.enqueue(conn, ws.id, channel_id=channel.id, to="+14155550111", body=f"Out {P}")
        where = InboundChannel(channel.id, ws.id, channel.address, "console", "sms")
        for sender, text in (
            ("+14155550114", f"Hello {P}"),
            ("+14155550115", f"please stop texting me {P}"),
            (f"Brand{PAYLOADS[4]}", f"From a name {P}"),
        ):
            inbound.receive_inbound(
                conn,
                where,
                InboundMessage("console", uuid.uuid4().hex, sender, channel.address, text),
            )
        conversation = conn.execute(
            sa.select(conversations.c.id).where(conversations.c.workspace_id == ws.id)
        ).first()
    return {
        "email": created.owner_email,
        "contact": person.id,
        "conversation": conversation.id if conversation else None,
    }


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, Any]]]:
    tmp = tmp_path_factory.mktemp("xss")
    engine = make_engine(f"sqlite:///{tmp / 'xss.db'}")
    upgrade(engine)
    seeded = _seed(engine)
    with LiveServer(make_runtime(engine, tmp)) as server:
        yield server.base_url, seeded
    engine.dispose()


def _pages(seeded: dict[str, Any]) -> list[str]:
    q = quote(P)
    pages = [
        "/inbox",
        "/opt-outs",
        f"/opt-outs?q={q}",
        "/contacts",
        f"/contacts?q={q}",
        f"/contacts/{seeded['contact']}",
        "/review",
        "/dashboard",
        "/audit",
        "/audit/numbers/+14155550112",
        "/audit/numbers/+14155550115",
        f"/audit/numbers/{q}",
        "/settings/messaging",
        "/settings/members",
        "/settings/api-keys",
        "/settings/lists",
        f"/settings/keyword-test?text={q}",
        f"/numbers/{q}/unsubscribe",
        f"/opt-outs/{q}/edit",
        f"/sign-in?next={q}",
    ]
    if seeded["conversation"]:
        pages.append(f"/inbox/{seeded['conversation']}")
    return pages


def test_no_hostile_text_ever_runs_in_the_browser(site: tuple[str, dict[str, Any]]) -> None:
    base, seeded = site
    problems: list[str] = []
    shown = 0
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
        )
        context = browser.new_context()
        context.add_init_script(WATCH)
        page = context.new_page()
        page.set_default_timeout(30_000)
        dialogs: list[str] = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.goto(base + "/sign-in")
        page.get_by_label("Email").fill(seeded["email"])
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(lambda url: "/sign-in" not in url)
        for path in _pages(seeded):
            page.goto(base + path)
            page.wait_for_load_state("networkidle")
            injected = page.locator("[data-xss]").count()
            ran = page.evaluate(
                "window.__xss === 1 || (window.parent && window.parent.__xss === 1)"
            )
            csp = page.evaluate("window.__csp")
            if injected or ran or csp:
                problems.append(f"{path}: elements={injected} ran={ran} csp={csp}")
            shown += page.content().count("data-xss")  # escaped text, visible as text
        # A flash message built from user input (an invalid number on the add form).
        page.goto(base + "/opt-outs/new")
        page.locator("input[name=number]").fill(PAYLOADS[0])
        page.locator("form button[type=submit]").last.click()
        page.wait_for_load_state("networkidle")
        if page.locator("[data-xss]").count() or page.evaluate("window.__xss === 1"):
            problems.append("flash after an invalid number: markup injected")
        # And we were never signed out by an injected htmx attribute.
        page.goto(base + "/inbox")
        assert "/sign-in" not in page.url
        browser.close()
    assert not dialogs, dialogs
    assert not problems, "\n".join(problems)
    assert shown > 0, "the hostile text was displayed (as text) somewhere"
