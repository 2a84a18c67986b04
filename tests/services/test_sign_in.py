"""Issue 11, hole 9: the password check holds no transaction, and the attempt limit is atomic."""

from __future__ import annotations

import sqlite3
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import event

from stopline import security
from stopline.domain.errors import Forbidden
from stopline.services import sessions, workspaces
from stopline.services.sessions import MAX_FAILURES, TooManyAttempts
from stopline.store.db import write

PASSWORD = "correct horse battery"


def new_owner(engine) -> str:
    email = f"owner-{uuid.uuid4().hex[:8]}@example.com"
    with write(engine) as conn:
        workspaces.create_workspace(
            conn, name=f"Acme {uuid.uuid4().hex[:6]}", owner_email=email, owner_password=PASSWORD
        )
    return email


@contextmanager
def open_transactions(engine) -> Iterator[set[int]]:
    """The ids of the engine's connections that are inside a transaction right now."""
    inside: set[int] = set()

    def begin(conn):
        inside.add(id(conn))

    def end(conn):
        inside.discard(id(conn))

    event.listen(engine, "begin", begin)
    event.listen(engine, "commit", end)
    event.listen(engine, "rollback", end)
    try:
        yield inside
    finally:
        event.remove(engine, "begin", begin)
        event.remove(engine, "commit", end)
        event.remove(engine, "rollback", end)


@pytest.mark.parametrize("right_password", [True, False])
def test_the_password_is_checked_outside_any_transaction(engine, monkeypatch, right_password):
    """A sign-in flood must not hold the write lock that STOP webhooks need (SQLite)."""
    email = new_owner(engine)
    seen: list[tuple[int, bool]] = []
    real = security.password_matches

    def checking(password: str, digest: str) -> bool:
        free = True
        if engine.dialect.name == "sqlite":  # could a webhook write right now?
            other = sqlite3.connect(engine.url.database, timeout=0)
            try:
                other.execute("BEGIN IMMEDIATE")
                other.rollback()
            except sqlite3.OperationalError:
                free = False
            finally:
                other.close()
        seen.append((len(inside), free))
        return real(password, digest)

    monkeypatch.setattr(security, "password_matches", checking)
    with open_transactions(engine) as inside:
        if right_password:
            assert sessions.sign_in(engine, email, PASSWORD, ip="9b").token
        else:
            with pytest.raises(Forbidden):
                sessions.sign_in(engine, email, "wrong password", ip="9b")
    assert seen == [(0, True)]


def test_a_concurrent_burst_checks_no_more_passwords_than_the_limit(engine, monkeypatch):
    """60 wrong passwords at once: exactly MAX_FAILURES are checked, the rest refused unchecked."""
    email = new_owner(engine)
    checked = []
    real = security.password_matches

    def counting(password: str, digest: str) -> bool:
        checked.append(1)
        return real(password, digest)

    monkeypatch.setattr(security, "password_matches", counting)
    start = threading.Barrier(60)
    outcomes: list[str] = []
    lock = threading.Lock()

    def attempt(i: int) -> None:
        start.wait()
        try:
            sessions.sign_in(engine, email, f"wrong {i}", ip="burst")
            result = "signed_in"
        except TooManyAttempts:
            result = "too_many"
        except Forbidden as exc:
            result = exc.code
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(60)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert outcomes.count("sign_in_failed") == MAX_FAILURES
    assert outcomes.count("too_many") == 60 - MAX_FAILURES
    assert len(checked) == MAX_FAILURES
    # And the right password is refused too until the window has passed.
    with pytest.raises(TooManyAttempts):
        sessions.sign_in(engine, email, PASSWORD, ip="burst")


def test_a_right_password_clears_the_failures(engine):
    email = new_owner(engine)
    for _ in range(MAX_FAILURES - 1):
        with pytest.raises(Forbidden):
            sessions.sign_in(engine, email, "wrong password", ip="clear")
    assert sessions.sign_in(engine, email, PASSWORD, ip="clear").token
    for _ in range(MAX_FAILURES):
        with pytest.raises(Forbidden) as failed:
            sessions.sign_in(engine, email, "wrong password", ip="clear")
        assert failed.value.code == "sign_in_failed"


def test_a_password_reset_during_the_check_wins(engine, monkeypatch):
    email = new_owner(engine)
    real = security.password_matches

    def reset_meanwhile(password: str, digest: str) -> bool:
        with write(engine) as conn:
            sessions.reset_password(conn, email, "a brand new password")
        return real(password, digest)

    monkeypatch.setattr(security, "password_matches", reset_meanwhile)
    with pytest.raises(Forbidden):
        sessions.sign_in(engine, email, PASSWORD, ip="reset")
