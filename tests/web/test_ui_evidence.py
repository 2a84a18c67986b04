"""The contact page shows how well each opt-in is evidenced (weak ones marked) and, with the
Opt-Outs page, links to the number's evidence packet."""

from __future__ import annotations

import io

from pypdf import PdfReader

from stopline.services import consent_api, directory, optouts
from stopline.services.workspaces import Principal
from stopline.store.db import write
from tests.web import ui_helpers
from tests.web.ui_helpers import new_workspace, sign_in

ui_app = ui_helpers.ui_app
client = ui_helpers.client


def test_contact_page_marks_a_bare_opt_in_weak_and_serves_the_packet(client, engine) -> None:
    created = new_workspace(engine)
    owner = Principal(created.workspace.id, "owner", "t")
    documented, bare = "+14155550191", "+14155550192"
    with write(engine) as conn:
        contact = directory.create_contact(conn, owner, name="Ann", numbers=[documented, bare])
        consent_api.upsert(
            conn,
            owner,
            [
                {"contact_id": documented, "correlation_id": "a", "status": "opt-in",
                 "source": "website", "evidence": {"consent_version": "v7", "consent_text": "Yes"}},
                {"contact_id": bare, "correlation_id": "b", "status": "opt-in", "source": "offline"},
            ],  # fmt: skip
        )
        optouts.add_opt_out(conn, owner, bare, reason="asked")
    sign_in(client, created.owner_email)
    page = client.get(f"/contacts/{contact.id}").text
    assert "documented: source and consent language recorded" in page and "consent text v7" in page
    assert page.count("weak-evidence") == 1 and "WEAK: recorded without any evidence" in page
    assert 'href="/audit/numbers/%2B14155550192/evidence.pdf"' in page

    listing = client.get("/opt-outs").text
    assert 'href="/audit/numbers/%2B14155550192/evidence.pdf"' in listing
    pdf = client.get("/audit/numbers/%2B14155550192/evidence.pdf")
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    text = " ".join(" ".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.content)).pages).split())
    assert "#" in text and "opt_in by api" in text and "opt_out by manual" in text
    assert created.workspace.name in text


def test_the_packet_needs_a_signed_in_member(client, engine) -> None:
    response = client.get("/audit/numbers/%2B14155550192/evidence.pdf", follow_redirects=False)
    assert response.status_code in (302, 303, 401)


def test_an_admin_sets_how_people_join_a_list(client, engine) -> None:
    from stopline.services import lists
    from tests.web.ui_helpers import post

    created = new_workspace(engine)
    owner = Principal(created.workspace.id, "owner", "t")
    with write(engine) as conn:
        deals = lists.create_list(conn, owner, name="Deals")
    csrf = sign_in(client, created.owner_email)
    refused = post(client, f"/lists/{deals.id}/join", csrf, join_keywords="STOP")
    assert refused.status_code == 422 and "may not shadow" in refused.text
    saved = post(
        client,
        f"/lists/{deals.id}/join",
        csrf,
        join_keywords="join, deals",
        request_text="Acme: Reply YES for deals. Reply STOP to cancel.",
        consent_text="Yes, text me <b>deals</b>.",
        form_enabled="on",
    )
    assert saved.status_code in (302, 303)
    page = client.get(f"/lists/{deals.id}").text
    assert 'value="JOIN, DEALS"' in page and "(version 1)" in page
    assert "Yes, text me &lt;b&gt;deals&lt;/b&gt;." in page
    path = page.split('href="/join/')[1].split('"')[0]
    form = client.get(f"/join/{path}")
    assert form.status_code == 200 and "Yes, text me &lt;b&gt;deals&lt;/b&gt;." in form.text
    assert "default-src 'none'" in form.headers["content-security-policy"]
