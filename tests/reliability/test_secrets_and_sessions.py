"""Secrets at rest are hashed or encrypted; sessions rotate on sign-in; sign-in is rate limited."""

from __future__ import annotations

import uuid

import sqlalchemy as sa

from stopline.services import sessions, workspaces
from stopline.store.db import read, write
from stopline.store.tables import api_keys, channels, users, web_sessions
from stopline.store.tables import workspaces as workspaces_table
from tests.conftest import unique_number
from tests.reliability.conftest import PASSWORD, session_cookie, set_session_cookie, sign_in


def _new_workspace(engine: sa.Engine) -> workspaces.CreatedWorkspace:
    with write(engine) as conn:
        return workspaces.create_workspace(
            conn,
            name=f"Secrets {uuid.uuid4().hex[:6]}",
            owner_email=f"s-{uuid.uuid4().hex[:8]}@example.com",
            owner_password=PASSWORD,
        )


def _dump(engine: sa.Engine) -> str:
    """Every text value of every row of every table: what a stolen database copy reveals."""
    from stopline.store.tables import metadata

    parts: list[str] = []
    with read(engine) as conn:
        for table in metadata.sorted_tables:
            for row in conn.execute(sa.select(table)):
                parts.extend(str(v) for v in row)
    return "\n".join(parts)


def test_api_keys_passwords_and_auth_tokens_are_stored_only_hashed(engine, keyring) -> None:
    created = _new_workspace(engine)
    secret_part = created.api_key.split("_", 2)[2]  # sl_<hex prefix>_<secret, may hold "_">
    with write(engine) as conn:
        workspaces.add_channel(
            conn,
            created.workspace.id,
            keyring,
            address=unique_number(),
            provider="twilio",
            credentials={"account_sid": "AC" + "1" * 32, "auth_token": "twilio-secret-" + "z" * 18},
        )
    dump = _dump(engine)
    for secret in (secret_part, created.auth_token, PASSWORD, "twilio-secret-" + "z" * 18):
        assert secret not in dump
    with read(engine) as conn:
        user = conn.execute(sa.select(users).where(users.c.email == created.owner_email)).one()
        key = conn.execute(
            sa.select(api_keys).where(api_keys.c.workspace_id == created.workspace.id)
        ).one()
        ws_row = conn.execute(
            sa.select(workspaces_table).where(workspaces_table.c.id == created.workspace.id)
        ).one()
        channel = conn.execute(
            sa.select(channels).where(channels.c.workspace_id == created.workspace.id)
        ).one()
    assert user.password_hash.startswith("$argon2id$")
    assert len(key.key_hash) == 64 and int(key.key_hash, 16) >= 0
    assert len(ws_row.auth_token_hash) == 64
    assert channel.credentials and "auth_token" not in channel.credentials
    # ... and the stored forms still authenticate the clear values.
    with read(engine) as conn:
        assert workspaces.authenticate_api_key(conn, created.api_key).workspace_id == ws_row.id
        assert workspaces.authenticate_account(conn, ws_row.account_sid, created.auth_token)


def test_sessions_are_stored_only_hashed(engine, client) -> None:
    created = _new_workspace(engine)
    response = sign_in(client, created.owner_email)
    assert response.status_code == 303
    token = session_cookie(client)
    assert token
    with read(engine) as conn:
        rows = conn.execute(sa.select(web_sessions.c.token_hash)).scalars().all()
    assert token not in rows and token not in _dump(engine)
    from stopline.security import hash_token

    assert hash_token(token) in rows


def test_signing_in_again_rotates_the_session_and_ends_the_old_one(engine, client) -> None:
    created = _new_workspace(engine)
    assert sign_in(client, created.owner_email).status_code == 303
    first = session_cookie(client)
    assert first
    assert sign_in(client, created.owner_email).status_code == 303
    second = session_cookie(client)
    assert second and second != first
    with read(engine) as conn:
        assert sessions.load(conn, first) is None
        assert sessions.load(conn, second) is not None
    # The old cookie, replayed by whoever copied it, is a signed-out browser.
    set_session_cookie(client, first)
    stale = client.get("/opt-outs", follow_redirects=False)
    assert stale.status_code == 303 and stale.headers["location"].startswith("/sign-in")


def test_a_planted_session_cookie_does_not_survive_sign_in(engine, client) -> None:
    """Session fixation: a cookie value set before sign-in is never the signed-in session."""
    created = _new_workspace(engine)
    set_session_cookie(client, "attacker-chosen-value")
    assert sign_in(client, created.owner_email).status_code == 303
    assert session_cookie(client) != "attacker-chosen-value"
    with read(engine) as conn:
        assert sessions.load(conn, "attacker-chosen-value") is None


def test_sign_in_is_rate_limited_per_account_after_repeated_failures(engine, client) -> None:
    victim, other = _new_workspace(engine), _new_workspace(engine)
    statuses = [
        sign_in(client, victim.owner_email, "wrong password").status_code
        for _ in range(sessions.MAX_FAILURES)
    ]
    assert statuses == [401] * sessions.MAX_FAILURES
    # Now even the right password is refused until the window has passed ...
    locked = sign_in(client, victim.owner_email, PASSWORD)
    assert locked.status_code == 429 and "Too many failed sign-in attempts" in locked.text
    assert session_cookie(client) is None
    # ... for that account only.
    assert sign_in(client, other.owner_email).status_code == 303
