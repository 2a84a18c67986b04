"""Channels as admins manage them: write-only credentials, webhook URLs, disable, remove, and
console channels' secrets for texts simulated as a customer."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from stopline.domain.errors import Conflict, Forbidden, InvalidInput
from stopline.providers import generic
from stopline.services import channels, queueing, workspaces
from stopline.services.workspaces import Principal
from stopline.store.db import read, write
from stopline.store.tables import channels as channels_table
from tests.outbound import add_channel, number, owner

TWILIO = {"account_sid": "AC" + "1" * 32, "auth_token": "tok-very-secret"}


def create(engine, ws, keyring, provider="twilio", credentials=None, **kw):
    with write(engine) as conn:
        return channels.create_channel(
            conn,
            owner(ws),
            keyring,
            address=kw.pop("address", number()),
            provider=provider,
            credentials=credentials if credentials is not None else TWILIO,
            **kw,
        )


def stored_credentials(engine, keyring, channel_id):
    with read(engine) as conn:
        blob = conn.execute(
            sa.select(channels_table.c.credentials).where(channels_table.c.id == channel_id)
        ).scalar_one()
    return blob, keyring.decrypt(blob)


def test_a_twilio_channel_keeps_its_credentials_encrypted_and_never_shows_them(engine, ws, keyring):
    channel = create(engine, ws, keyring, name="Front desk")
    blob, clear = stored_credentials(engine, keyring, channel.id)
    assert "tok-very-secret" not in blob and clear == TWILIO
    assert channel.credentials_set == ("account_sid", "auth_token")
    assert "tok-very-secret" not in repr(channel)
    assert "tok-very-secret" not in json.dumps(channel.as_dict("https://sms.example.com"))


def test_webhook_urls_name_the_channels_provider_and_id(engine, ws, keyring):
    channel = create(engine, ws, keyring)
    urls = channels.webhook_urls("https://sms.example.com/", channel)
    assert [u.url for u in urls] == [
        f"https://sms.example.com/webhooks/twilio/{channel.id}/inbound",
        f"https://sms.example.com/webhooks/twilio/{channel.id}/status",
    ]
    data = channel.as_dict("https://sms.example.com")
    assert data["webhooks"]["inbound"].endswith(f"/twilio/{channel.id}/inbound")
    assert "Twilio Console" in data["instruction"]


def test_each_provider_needs_its_credentials(engine, ws, keyring):
    with pytest.raises(InvalidInput) as refused:
        create(engine, ws, keyring, credentials={"account_sid": "AC123"})
    assert refused.value.code == "credentials_missing" and "Auth token" in refused.value.message
    with pytest.raises(InvalidInput):
        create(engine, ws, keyring, provider="vonage", credentials={"api_key": "k"})
    assert create(
        engine, ws, keyring, provider="telnyx", credentials={"api_key": "k", "public_key": "p"}
    )


def test_only_admins_add_or_change_channels(engine, ws, keyring):
    member = Principal(workspace_id=ws.id, role="member", actor="m")
    with write(engine) as conn, pytest.raises(Forbidden):
        channels.create_channel(
            conn, member, keyring, address=number(), provider="twilio", credentials=TWILIO
        )
    channel = create(engine, ws, keyring)
    with write(engine) as conn, pytest.raises(Forbidden):
        channels.set_disabled(conn, member, keyring, channel.id, True)


def test_an_edit_replaces_only_the_credentials_given(engine, ws, keyring):
    channel = create(engine, ws, keyring)
    with write(engine) as conn:
        edited = channels.update_channel(
            conn,
            owner(ws),
            keyring,
            channel.id,
            name="Billing line",
            credentials={"account_sid": "", "auth_token": "rotated-token"},
        )
    assert edited.name == "Billing line"
    _blob, clear = stored_credentials(engine, keyring, channel.id)
    assert clear == {"account_sid": TWILIO["account_sid"], "auth_token": "rotated-token"}


def test_a_disabled_channel_takes_no_new_message_and_is_not_the_default(engine, ws, keyring):
    channel = create(engine, ws, keyring, provider="console", credentials={})
    with write(engine) as conn:
        channels.set_disabled(conn, owner(ws), keyring, channel.id, True)
    with write(engine) as conn, pytest.raises(InvalidInput) as refused:
        queueing.enqueue(conn, ws.id, channel_id=channel.id, to=number(), body="hi")
    assert refused.value.code == "channel_disabled"
    with read(engine) as conn, pytest.raises(InvalidInput) as no_default:
        queueing.default_channel_id(conn, ws.id, None)
    assert no_default.value.code == "channel_required"
    with write(engine) as conn:
        channels.set_disabled(conn, owner(ws), keyring, channel.id, False)
        queued = queueing.enqueue(conn, ws.id, channel_id=channel.id, to=number(), body="hi")
    assert queued.status == "queued"


def test_a_channel_with_history_is_disabled_not_removed(engine, ws, keyring):
    used = create(engine, ws, keyring, provider="console", credentials={})
    unused = create(engine, ws, keyring)
    with write(engine) as conn:
        queueing.enqueue(conn, ws.id, channel_id=used.id, to=number(), body="hi")
    with write(engine) as conn, pytest.raises(Conflict) as refused:
        channels.remove_channel(conn, owner(ws), used.id)
    assert refused.value.code == "channel_in_use"
    with write(engine) as conn:
        channels.remove_channel(conn, owner(ws), unused.id)
    with read(engine) as conn:
        assert [c.id for c in channels.list_channels(conn, ws.id, keyring)] == [used.id]


def test_a_new_console_channel_has_a_secret_and_old_ones_get_one_at_start(engine, ws, keyring):
    made = create(engine, ws, keyring, provider="console", credentials={})
    assert stored_credentials(engine, keyring, made.id)[1]["secret"]
    old = add_channel(engine, ws, keyring)  # as channels were made before they had secrets
    assert stored_credentials(engine, keyring, old.id)[0] is None
    with write(engine) as conn:
        assert channels.ensure_console_secrets(conn, keyring) >= 1
    first = stored_credentials(engine, keyring, old.id)[1]["secret"]
    with write(engine) as conn:
        channels.ensure_console_secrets(conn, keyring)
    assert stored_credentials(engine, keyring, old.id)[1]["secret"] == first  # kept, not rotated


def test_a_customer_text_is_signed_so_that_the_console_webhook_verifies_it(engine, ws, keyring):
    channel = add_channel(engine, ws, keyring)
    with write(engine) as conn:
        signed = channels.customer_text(
            conn, ws.id, keyring, channel.id, from_number="(415) 555-0142", text="STOP"
        )
    assert signed.path == f"/webhooks/console/{channel.id}/inbound"
    secret = stored_credentials(engine, keyring, channel.id)[1]
    generic.verify(signed.headers, signed.body, secret, provider="console")
    body = json.loads(signed.body)
    assert body["from"] == "+14155550142" and body["text"] == "STOP"
    with pytest.raises(generic.WebhookRejected):
        generic.verify(signed.headers, signed.body + b" ", secret, provider="console")


def test_only_console_channels_can_be_texted_as_a_customer(engine, ws, keyring):
    channel = create(engine, ws, keyring)
    with write(engine) as conn, pytest.raises(InvalidInput):
        channels.customer_text(conn, ws.id, keyring, channel.id, from_number=number(), text="hi")


def test_channels_of_another_workspace_are_not_found(engine, ws, keyring, created):
    channel = create(engine, ws, keyring)
    with write(engine) as conn:
        other = workspaces.create_workspace(
            conn,
            name="Other",
            owner_email="o-" + number()[2:] + "@example.com",
            owner_password="correct horse battery",
        ).workspace
    intruder = owner(other)
    for attempt in (
        lambda c: channels.update_channel(c, intruder, keyring, channel.id, name="x"),
        lambda c: channels.set_disabled(c, intruder, keyring, channel.id, True),
        lambda c: channels.remove_channel(c, intruder, channel.id),
        lambda c: channels.customer_text(
            c, other.id, keyring, channel.id, from_number=number(), text="x"
        ),
    ):
        with write(engine) as conn, pytest.raises(Exception) as missing:
            attempt(conn)
        assert getattr(missing.value, "code", "") == "channel_not_found"


def test_credentials_from_another_secret_key_are_replaced_whole(engine, ws, keyring):
    from stopline.security import Keyring

    channel = create(engine, ws, keyring)
    other = Keyring("another-secret-key")
    with read(engine) as conn:
        assert channels.get_channel(conn, ws.id, other, channel.id).credentials_set == ()
    with write(engine) as conn, pytest.raises(InvalidInput) as partial:
        channels.update_channel(
            conn, owner(ws), other, channel.id, credentials={"auth_token": "new"}
        )
    assert partial.value.code == "credentials_undecryptable"
    with write(engine) as conn:
        channels.update_channel(
            conn,
            owner(ws),
            other,
            channel.id,
            credentials={"account_sid": TWILIO["account_sid"], "auth_token": "new"},
        )
    assert stored_credentials(engine, other, channel.id)[1]["auth_token"] == "new"
