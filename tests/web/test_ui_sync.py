"""The Provider sync page (admins) and the consent-sync switch on the channel form."""

from __future__ import annotations

from stopline.services import optouts, provider_sync
from stopline.services.workspaces import Principal
from stopline.store.db import read, write
from stopline.store.tables import channels as channels_table
from tests.outbound import number
from tests.web import ui_helpers
from tests.web.ui_helpers import add_person, new_workspace, post, sign_in

ui_app = ui_helpers.ui_app
client = ui_helpers.client


def test_an_admin_switches_sync_on_sees_a_failure_and_retries_it(client, engine, ui_app):
    created = new_workspace(engine)
    csrf = sign_in(client, created.owner_email)
    form = client.get("/channels/new?provider=twilio").text
    assert 'name="consent_sync"' in form and "Consent API" in form
    made = post(
        client,
        "/channels",
        csrf,
        provider="twilio",
        address=number(),
        type="sms",
        cred_account_sid="AC" + "4" * 32,
        cred_auth_token="tok",
        consent_sync="1",
        accounts_base_url="http://127.0.0.1:9",  # nothing listens: the push fails
    )
    assert made.status_code == 303
    channel_id = int(made.headers["location"].rsplit("/", 1)[1])
    assert "checked" in client.get(f"/channels/{channel_id}").text
    with read(engine) as conn:
        row = conn.execute(channels_table.select().where(channels_table.c.id == channel_id)).one()
    assert row.consent_sync and row.accounts_base_url == "http://127.0.0.1:9"
    owner = Principal(created.workspace.id, "owner", created.owner_email)
    opted = number()
    with write(engine) as conn:
        optouts.add_opt_out(conn, owner, opted)
    page = client.get("/sync").text
    assert "1</strong> pending" in page and "waiting to be reported to Twilio" in page
    import httpx

    rt = ui_app.state["runtime"]
    with httpx.Client(timeout=1.0) as http:
        provider_sync.Pusher(
            rt.engine, rt.keyring, http, workspace_id=created.workspace.id
        ).run_pass(wait=False)
    page = client.get("/sync?state=pending").text
    assert "not yet reported to Twilio" in page and "Retry now" in page
    history = client.get(f"/audit/numbers/{opted}").text
    assert "Told to providers" in history and "not yet reported to Twilio" in history
    with read(engine) as conn:
        [item] = provider_sync.status(conn, created.workspace.id).items
    refused = client.post(f"/sync/{item.id}/retry", data={}, follow_redirects=False)
    assert refused.status_code in (400, 403)
    retried = post(client, f"/sync/{item.id}/retry", csrf)
    assert retried.status_code == 303
    with read(engine) as conn:
        [after] = provider_sync.status(conn, created.workspace.id).items
    assert after.state == "pending"
    # Switched off from the same form (an unticked checkbox is absent from the form).
    post(client, f"/channels/{channel_id}", csrf, name="Main", type="sms")
    with read(engine) as conn:
        assert (
            not conn.execute(channels_table.select().where(channels_table.c.id == channel_id))
            .one()
            .consent_sync
        )


def test_members_do_not_see_the_sync_page(client, engine):
    created = new_workspace(engine)
    email = add_person(engine, created.workspace.id, "member")
    sign_in(client, email)
    assert "/sync" not in client.get("/inbox").text
    assert client.get("/sync").status_code == 403


def test_vonage_says_it_has_no_consent_api(client, engine):
    created = new_workspace(engine)
    sign_in(client, created.owner_email)
    page = client.get("/channels/new?provider=vonage").text
    assert "Vonage has no consent API" in page and 'name="consent_sync"' not in page
