"""Issue 11, hole 7: an admin cannot pull another tenant's user in.

Adding a member by the email of an existing account sends an invitation they accept while
signed in; their password is never changed; the form's answer does not say whether the email
has an account; a person signs in to the workspace they used last and can switch.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import sqlalchemy as sa

from stopline.services import sessions
from stopline.store.db import read
from stopline.store.tables import members
from tests.web import ui_helpers
from tests.web.ui_helpers import PASSWORD, csrf_of, new_workspace, post, sign_in

ui_app = ui_helpers.ui_app
client = ui_helpers.client
other_client = ui_helpers.other_client


def workspace_of(client: Any) -> str:
    """The name of the workspace the browser's session is in."""
    return re.search(r"<title>[^<]*· ([^<]*?) · stopline</title>", client.get("/inbox").text).group(
        1
    )  # type: ignore[union-attr]


def invite(client: Any, csrf: str, email: str, password: str = "admin chosen pw 1") -> Any:
    return post(client, "/settings/members", csrf, email=email, password=password, role="admin")


def invitation_link(html: str) -> str:
    return re.search(r'id="invite-link"[^>]*value="[^"]*(/invitations/[^"]+)"', html).group(1)  # type: ignore[union-attr]


def normalised(html: str, email: str) -> str:
    """The page with what differs between two invitations blanked out."""
    html = html.replace(email, "EMAIL")
    html = re.sub(r"/invitations/[A-Za-z0-9_-]+", "/invitations/TOKEN", html)
    html = re.sub(r'name="csrf_token" value="[^"]+"', "", html)
    html = re.sub(r"Withdraw the invitation of [^\"]+", "", html)
    return re.sub(r"/settings/invitations/\d+/", "/settings/invitations/N/", html)


def test_an_existing_account_is_invited_not_taken_over(client, other_client, engine):
    victim_ws = new_workspace(engine, "Victim")
    attacker_ws = new_workspace(engine, "Attacker")
    victim = victim_ws.owner_email

    csrf = sign_in(client, attacker_ws.owner_email)
    answer = invite(client, csrf, victim, password="attacker password")
    assert answer.status_code == 200
    assert "Invitation for" in answer.text

    # The victim is not a member, their password still works and the attacker's does not.
    with read(engine) as conn:
        people = conn.execute(
            sa.select(sa.func.count()).where(members.c.workspace_id == attacker_ws.workspace.id)
        ).scalar_one()
    assert people == 1
    sign_in(other_client, victim)
    assert workspace_of(other_client) == victim_ws.workspace.name
    other_client.cookies.clear()
    page = other_client.get("/sign-in")
    refused = other_client.post(
        "/sign-in",
        data={
            "email": victim,
            "password": "attacker password",
            "form_token": ui_helpers.form_token(page.text),
        },
        follow_redirects=False,
    )
    assert refused.status_code == 401


def test_the_answer_does_not_tell_known_emails_from_unknown(client, engine):
    known = new_workspace(engine, "Known").owner_email
    unknown = f"nobody-{uuid.uuid4().hex[:8]}@example.com"
    csrf = sign_in(client, new_workspace(engine, "Admin").owner_email)
    first = invite(client, csrf, known)
    second = invite(client, csrf, unknown)
    assert first.status_code == second.status_code == 200
    # Each page lists both open invitations, so compare only the answer box.
    box = re.compile(r'<div class="flash ok invitation".*?</div>', re.S)
    assert normalised(box.search(first.text).group(0), known) == normalised(  # type: ignore[union-attr]
        box.search(second.text).group(0),
        unknown,  # type: ignore[union-attr]
    )
    listing = client.get("/settings/members").text
    assert known in listing and unknown in listing  # both wait as invitations


def test_an_existing_account_joins_only_by_accepting(client, other_client, engine):
    home = new_workspace(engine, "Home")
    inviting = new_workspace(engine, "Inviting")
    csrf = sign_in(client, inviting.owner_email)
    link = invitation_link(invite(client, csrf, home.owner_email).text)

    other_csrf = sign_in(other_client, home.owner_email)
    offer = other_client.get(link)
    assert offer.status_code == 200
    assert inviting.workspace.name in offer.text and "Join" in offer.text
    assert workspace_of(other_client) == home.workspace.name  # looking changes nothing

    accepted = post(other_client, link, csrf_of(offer.text))
    assert accepted.status_code == 303
    assert workspace_of(other_client) == inviting.workspace.name
    assert other_csrf  # the same session moved; the switcher now offers both
    nav = other_client.get("/inbox").text
    assert home.workspace.name in nav and inviting.workspace.name in nav

    # A second use of the link adds nothing; a link is refused to a third party.
    assert post(other_client, link, csrf_of(other_client.get(link).text)).status_code in (
        303,
        403,
    )


def test_an_invitation_link_is_refused_to_another_account(client, other_client, engine):
    inviting = new_workspace(engine, "Inviting")
    csrf = sign_in(client, inviting.owner_email)
    link = invitation_link(invite(client, csrf, f"someone-{uuid.uuid4().hex[:6]}@example.com").text)
    stranger = new_workspace(engine, "Stranger")
    stranger_csrf = sign_in(other_client, stranger.owner_email)
    page = other_client.get(link)
    assert page.status_code == 403
    assert inviting.workspace.name not in page.text
    assert post(other_client, link, stranger_csrf).status_code == 403
    assert workspace_of(other_client) == stranger.workspace.name


def test_a_new_account_joins_at_its_first_sign_in(client, other_client, engine):
    inviting = new_workspace(engine, "Inviting")
    csrf = sign_in(client, inviting.owner_email)
    newcomer = f"new-{uuid.uuid4().hex[:8]}@example.com"
    invite(client, csrf, newcomer, password="chosen by admin")
    sign_in(other_client, newcomer, "chosen by admin")
    assert workspace_of(other_client) == inviting.workspace.name


def test_sign_in_lands_in_the_last_used_workspace(client, other_client, engine):
    first = new_workspace(engine, "Aardvark")  # first by name: where sign-in used to land
    second = new_workspace(engine, "Zebra")
    csrf = sign_in(client, second.owner_email)
    link = invitation_link(invite(client, csrf, first.owner_email).text)
    sign_in(other_client, first.owner_email)
    post(other_client, link, csrf_of(other_client.get(link).text))
    assert workspace_of(other_client) == second.workspace.name

    # Signed out and in again: still in Zebra, the workspace used last.
    other_client.cookies.clear()
    sign_in(other_client, first.owner_email)
    assert workspace_of(other_client) == second.workspace.name

    # Switch back with the menu, sign in again: Aardvark.
    page = other_client.get("/inbox").text
    assert 'id="workspace-switch"' in page
    post(other_client, "/workspace", csrf_of(page), workspace_id=str(first.workspace.id))
    other_client.cookies.clear()
    sign_in(other_client, first.owner_email)
    assert workspace_of(other_client) == first.workspace.name


def test_a_withdrawn_invitation_no_longer_works(client, other_client, engine):
    home = new_workspace(engine, "Home")
    inviting = new_workspace(engine, "Inviting")
    csrf = sign_in(client, inviting.owner_email)
    page = invite(client, csrf, home.owner_email).text
    link = invitation_link(page)
    withdraw = re.search(r'action="(/settings/invitations/\d+/revoke)"', page).group(1)  # type: ignore[union-attr]
    assert post(client, withdraw, csrf).status_code == 303
    sign_in(other_client, home.owner_email)
    assert other_client.get(link).status_code == 404


def test_a_member_cannot_invite(client, engine):
    created = new_workspace(engine)
    member = ui_helpers.add_person(engine, created.workspace.id, "member")
    csrf = sign_in(client, member)
    assert invite(client, csrf, "x@example.com").status_code == 403


def test_sessions_service_signs_in_where_the_person_was(engine):
    created = new_workspace(engine)
    signed = sessions.sign_in(engine, created.owner_email, PASSWORD, ip="t")
    assert signed.workspace_id == created.workspace.id


def test_the_link_can_be_emailed(client, engine, monkeypatch):
    from tests.smtp import smtp_server

    known = new_workspace(engine, "Known").owner_email
    csrf = sign_in(client, new_workspace(engine, "Admin").owner_email)
    with smtp_server() as (port, mailbox):
        monkeypatch.setenv("STOPLINE_SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("STOPLINE_SMTP_PORT", str(port))
        monkeypatch.setenv("STOPLINE_SMTP_TLS", "none")
        assert 'name="send_email"' in client.get("/settings/members").text
        answer = post(
            client,
            "/settings/members",
            csrf,
            email=known,
            password="admin chosen pw 1",
            role="member",
            send_email="on",
        )
    assert f"The link was emailed to {known}." in answer.text
    [message] = mailbox.messages
    assert mailbox.recipients == [[known]]
    assert invitation_link(answer.text) in message.get_payload(decode=True).decode()


def test_a_withdrawn_new_account_goes_and_a_later_invitation_starts_afresh(
    client, other_client, engine
):
    first_admin = new_workspace(engine, "First")
    csrf = sign_in(client, first_admin.owner_email)
    newcomer = f"new-{uuid.uuid4().hex[:8]}@example.com"
    page = invite(client, csrf, newcomer, password="first admin pw").text
    withdraw = re.search(r'action="(/settings/invitations/\d+/revoke)"', page).group(1)  # type: ignore[union-attr]
    assert post(client, withdraw, csrf).status_code == 303

    second = new_workspace(engine, "Second")
    client.cookies.clear()
    csrf = sign_in(client, second.owner_email)
    invite(client, csrf, newcomer, password="second admin pw")
    sign_in(other_client, newcomer, "second admin pw")
    assert workspace_of(other_client) == second.workspace.name
