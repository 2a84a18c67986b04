"""Roles on pages and forms: settings and API keys are for admins; any member may opt out."""

from __future__ import annotations

import re

from stopline.services import workspaces
from stopline.services.workspaces import Principal
from stopline.store import ledger
from stopline.store.db import read, write
from tests.web import ui_helpers
from tests.web.ui_helpers import add_person, new_workspace, post, sign_in

ui_app = ui_helpers.ui_app
client = ui_helpers.client

SETTINGS = {
    "opt_out_scope": "channel",
    "resubscribe_policy": "recipient_only",
    "revocation_mode": "review",
    "brand_name": "Acme",
    "help_contact": "help@acme.test",
    "default_region": "US",
    "disclosure_text": "Reply STOP to opt out.",
    "review_deadline_business_days": "10",
    "opt_out_rate_warning": "2",
    "keyword_sets": ["fr", "es"],
    "send_confirmations": "on",
    "first_message_disclosure": "on",
}


def _policy(engine, workspace_id: int):
    with read(engine) as conn:
        return workspaces.get_workspace(conn, workspace_id).policy


def test_a_member_reads_the_messaging_settings_but_cannot_change_them(client, engine):
    created = new_workspace(engine)
    csrf = sign_in(client, add_person(engine, created.workspace.id, "member"))
    page = client.get("/settings/messaging")
    assert page.status_code == 200 and "Only admins can change these settings" in page.text
    assert re.search(r"<fieldset[^>]*disabled", page.text)
    response = post(client, "/settings/messaging", csrf, **SETTINGS)
    assert response.status_code == 403
    assert _policy(engine, created.workspace.id).opt_out_scope.value == "workspace"


def test_an_admin_changes_the_opt_out_scope(client, engine):
    created = new_workspace(engine)
    csrf = sign_in(client, add_person(engine, created.workspace.id, "admin"))
    response = post(client, "/settings/messaging", csrf, **SETTINGS)
    assert response.status_code == 303
    policy = _policy(engine, created.workspace.id)
    assert policy.opt_out_scope.value == "channel" and policy.brand_name == "Acme"


def test_a_bad_setting_is_explained_and_nothing_is_saved(client, engine):
    created = new_workspace(engine)
    csrf = sign_in(client, created.owner_email)
    response = post(
        client, "/settings/messaging", csrf, **{**SETTINGS, "custom_keywords": "STOP, opt_in"}
    )
    assert response.status_code == 422
    assert 'role="alert"' in response.text
    assert _policy(engine, created.workspace.id).opt_out_scope.value == "workspace"


def test_custom_keywords_are_saved_in_the_classifiers_shape(client, engine):
    created = new_workspace(engine)
    csrf = sign_in(client, created.owner_email)
    response = post(
        client,
        "/settings/messaging",
        csrf,
        **{
            **SETTINGS,
            "custom_keywords": "REMOVEME, opt_out, whole\nALTO AHORA, opt_out, leading, es",
        },
    )
    assert response.status_code == 303, response.text
    custom = [dict(k) for k in _policy(engine, created.workspace.id).custom_keywords]
    assert custom[0] == {"word": "REMOVEME", "intent": "opt_out", "mode": "whole"}
    assert custom[1]["language"] == "es"
    tester = client.get("/settings/keyword-test?text=removeme", headers={"HX-Request": "true"})
    assert "Opt out" in tester.text and "REMOVEME" in tester.text


def test_api_keys_are_for_admins_only(client, engine):
    created = new_workspace(engine)
    csrf = sign_in(client, add_person(engine, created.workspace.id, "member"))
    assert client.get("/settings/api-keys").status_code == 403
    assert post(client, "/settings/api-keys", csrf, name="x").status_code == 403


def test_an_admin_creates_a_key_shown_once_and_revokes_it(client, engine):
    created = new_workspace(engine)
    csrf = sign_in(client, add_person(engine, created.workspace.id, "admin"))
    page = post(client, "/settings/api-keys", csrf, name="Booking system", role="member")
    key = re.search(r'value="(sl_[0-9a-f]{12}_[^"]+)"', page.text).group(1)
    assert (
        client.get(
            "/api/v1/consent/+14155550100", headers={"Authorization": f"Bearer {key}"}
        ).status_code
        == 200
    )
    listing = client.get("/settings/api-keys").text
    assert key not in listing and "Booking system" in listing
    key_id = re.findall(r"/settings/api-keys/(\d+)/revoke", listing)[0]  # newest first
    assert post(client, f"/settings/api-keys/{key_id}/revoke", csrf).status_code == 303
    assert client.get(
        "/api/v1/consent/+14155550100", headers={"Authorization": f"Bearer {key}"}
    ).status_code in (401, 403)


def test_an_admin_cannot_make_an_owner(client, engine):
    created = new_workspace(engine)
    csrf = sign_in(client, add_person(engine, created.workspace.id, "admin"))
    response = post(
        client,
        "/settings/members",
        csrf,
        email="new@example.com",
        password="a long password",
        role="owner",
    )
    assert response.status_code == 403


def test_any_member_may_opt_a_number_out(client, engine):
    created = new_workspace(engine)
    csrf = sign_in(client, add_person(engine, created.workspace.id, "member"))
    response = post(client, "/opt-outs", csrf, number="(415) 555-0123", reason="asked")
    assert response.status_code == 303
    with read(engine) as conn:
        assert ledger.load_state(conn, created.workspace.id, "+14155550123").opt_outs


def test_re_subscribing_follows_the_workspace_policy(client, engine):
    created = new_workspace(engine)
    wid = created.workspace.id
    owner = Principal(wid, "owner", "t")
    from stopline.services import optouts

    with write(engine) as conn:
        optouts.add_opt_out(conn, owner, "+14155550124")
    csrf = sign_in(client, add_person(engine, wid, "member"))
    page = client.get("/numbers/+14155550124/opt-in")
    assert "Only the recipient" in page.text or "only the recipient" in page.text
    refused = post(client, "/numbers/+14155550124/opt-in", csrf, reason="said yes on the phone")
    assert refused.status_code == 403
    with write(engine) as conn:
        workspaces.update_settings(conn, owner, {"resubscribe_policy": "with_consent_note"})
    no_note = post(client, "/numbers/+14155550124/opt-in", csrf, reason="")
    assert no_note.status_code == 422
    done = post(client, "/numbers/+14155550124/opt-in", csrf, reason="Asked by phone on Sept 2")
    assert done.status_code == 303
    with read(engine) as conn:
        assert not ledger.load_state(conn, wid, "+14155550124").opt_outs
