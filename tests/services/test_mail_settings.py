"""A workspace's own SMTP account: stored encrypted, password write-only, used for exports."""

from __future__ import annotations

import pytest

from stopline.domain.errors import Forbidden, InvalidInput
from stopline.security import Keyring
from stopline.services import exports, jobs, mail, optouts
from stopline.store import workspaces as ws_store
from stopline.store.db import read, write
from tests.manage import admin, member, numbers
from tests.smtp import smtp_server

KEYRING = Keyring("mail-settings-test-secret")


def _save(engine, principal, **fields) -> mail.WorkspaceSmtp:
    values = {
        "host": "127.0.0.1",
        "port": 2525,
        "tls": "none",
        "username": None,
        "password": None,
        "sender": "desk@shop.example",
    }
    values.update(fields)
    with write(engine) as conn:
        return mail.save_workspace_settings(conn, KEYRING, principal, **values)


def test_the_password_is_stored_encrypted_and_never_shown_back(engine, ws) -> None:
    view = _save(engine, admin(ws), username="mailer", password="s3cret-pass")
    assert view.has_password and view.username == "mailer"
    assert not hasattr(view, "password")
    with read(engine) as conn:
        blob = ws_store.smtp_blob(conn, ws.id)
    assert blob and "s3cret-pass" not in blob and "mailer" not in blob
    # Saving the form again without a password keeps it.
    _save(engine, admin(ws), username="mailer", password=None, port=2526)
    with read(engine) as conn:
        settings = mail.workspace_settings(conn, KEYRING, ws.id)
    assert settings is not None and settings.password == "s3cret-pass" and settings.port == 2526
    # Another key cannot read it.
    with read(engine) as conn, pytest.raises(Exception):  # noqa: B017, PT011
        mail.workspace_settings(conn, Keyring("another-secret"), ws.id)


def test_only_admins_set_it_and_bad_values_write_nothing(engine, ws) -> None:
    with pytest.raises(Forbidden):
        _save(engine, member(ws))
    for bad in ({"tls": "maybe"}, {"port": "x"}, {"port": 70000}, {"host": "a b"}):
        with pytest.raises(InvalidInput):
            _save(engine, admin(ws), **bad)
    with read(engine) as conn:
        assert ws_store.smtp_blob(conn, ws.id) is None
    _save(engine, admin(ws))
    _save(engine, admin(ws), host="")  # removing the host removes the account
    with read(engine) as conn:
        assert mail.workspace_settings(conn, KEYRING, ws.id) is None


def test_an_export_emails_through_the_workspaces_account(engine, ws, tmp_path, monkeypatch):
    monkeypatch.delenv("STOPLINE_SMTP_HOST", raising=False)
    with write(engine) as conn:
        optouts.add_opt_out(conn, member(ws), numbers(1, seed=91)[0])
    with pytest.raises(InvalidInput) as off:
        exports.start_export(engine, member(ws), data_dir=tmp_path, email="me@example.com")
    assert off.value.code == "email_not_configured"
    with smtp_server() as (port, mailbox):
        _save(engine, admin(ws), port=port)
        job = exports.start_export(
            engine, member(ws), data_dir=tmp_path, email="me@example.com", keyring=KEYRING
        )
        for _ in range(50):
            with read(engine) as conn:
                done = jobs.get(conn, ws.id, job.id)
            if done.status in ("done", "failed"):
                break
            jobs.run_next(engine, "test-worker", [exports.KIND], keyring=KEYRING)
    assert done.result is not None and done.result["emailed_to"] == "me@example.com", done.result
    [message] = mailbox.messages
    assert message["From"] == "desk@shop.example"
    assert mailbox.recipients == [["me@example.com"]]
