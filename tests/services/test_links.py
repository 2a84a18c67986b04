"""Opt-out links: signed, per recipient, valid at least 60 days, refused when tampered or expired."""

from __future__ import annotations

import time

import pytest

from stopline.domain.consent import Method, Scope
from stopline.domain.errors import Forbidden, InvalidInput
from stopline.security import Keyring
from stopline.services import ledger as ledger_service
from stopline.services import links, optouts
from stopline.store.db import read, write
from tests.manage import numbers


def test_a_link_lasts_at_least_sixty_days(keyring, ws) -> None:
    number = numbers(1, seed=80)[0]
    made = links.make_link(keyring, "https://sl.example.com/", ws.id, number)
    assert made.url.startswith("https://sl.example.com/o/")
    assert made.expires_at.timestamp() >= time.time() + 60 * 86400
    assert links.read_link(keyring, made.token).number == number
    for days in (59, 0, 5000, True):
        with pytest.raises(InvalidInput) as exc:
            links.make_link(keyring, "https://x", ws.id, number, days=days)  # type: ignore[arg-type]
        assert exc.value.code == "link_validity_invalid"


def test_confirming_a_link_opts_the_number_out_with_method_link_once(engine, ws, keyring) -> None:
    number = numbers(1, seed=81)[0]
    made = links.make_link(keyring, "https://x", ws.id, number)
    with read(engine) as conn:
        assert not links.status(conn, keyring, made.token).opted_out  # opening changes nothing
        assert ledger_service.history(conn, ws.id, number) == []
    with write(engine) as conn:
        status, result = links.opt_out(conn, keyring, made.token)
    assert status.opted_out and result is not None and result.changed
    with write(engine) as conn:
        _, again = links.opt_out(conn, keyring, made.token)
    assert again is None  # a second click records nothing more
    with read(engine) as conn:
        events = ledger_service.history(conn, ws.id, number)
        _, state = optouts.number_state(conn, ws.id, number)
    assert [(e.method, e.actor) for e in events] == [(Method.LINK, "recipient")]
    assert state.opt_outs[(Scope.WORKSPACE, "")].method is Method.LINK


def test_tampered_foreign_and_expired_links_are_refused(engine, ws, keyring) -> None:
    number, other = numbers(2, seed=82)
    token = links.make_link(keyring, "https://x", ws.id, number).token
    body, mac = token.split(".")
    forged_body = keyring.sign("something-else", {"w": ws.id, "n": other}).split(".")[0]
    expired = keyring.sign(links.PURPOSE, {"w": ws.id, "n": number}, ttl_seconds=-5)
    bad = {
        "edited payload": forged_body + "." + mac,
        "edited mac": body + "." + mac[:-3] + ("xyz" if mac[-3:] != "xyz" else "abc"),
        "other server": links.make_link(Keyring("other"), "https://x", ws.id, number).token,
        "other purpose": keyring.sign("bulk_unsubscribe", {"w": ws.id, "n": number}),
        "garbage": "not-a-token",
        "empty": "",
        "no expiry": keyring.sign(links.PURPOSE, {"w": ws.id, "n": number}),
    }
    for label, candidate in bad.items():
        with pytest.raises(Forbidden) as exc:
            links.read_link(keyring, candidate)
        assert exc.value.code == "link_invalid", label
    with pytest.raises(Forbidden) as old:
        links.read_link(keyring, expired)
    assert old.value.code == "link_expired"
    with pytest.raises(Forbidden), write(engine) as conn:
        links.opt_out(conn, keyring, forged_body + "." + mac)
    with read(engine) as conn:
        assert ledger_service.history(conn, ws.id, other) == []


def test_a_link_to_a_workspace_that_does_not_exist_is_invalid(engine, keyring) -> None:
    token = links.make_link(keyring, "https://x", 10**9, numbers(1, seed=83)[0]).token
    with pytest.raises(Forbidden) as exc, read(engine) as conn:
        links.status(conn, keyring, token)
    assert exc.value.code == "link_invalid"


def test_the_page_shows_only_part_of_the_number() -> None:
    assert links.masked("+14155550100") == "+1 ••• ••• 0100"
