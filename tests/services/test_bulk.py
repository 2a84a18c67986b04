"""Bulk unsubscribe: preview, then confirm with a token bound to exactly that audience."""

from __future__ import annotations

import time

import pytest

from stopline.domain.consent import Method
from stopline.domain.errors import Conflict, Forbidden, InvalidInput
from stopline.security import Keyring
from stopline.services import bulk, contacts, lists, optouts
from stopline.services import ledger as ledger_service
from stopline.services.contacts import ContactFilter
from stopline.store.db import read, write
from tests.manage import member, numbers


def _people(engine, ws, count: int, seed: int, name: str = "Fan") -> list[str]:
    got = numbers(count, seed=seed)
    with write(engine) as conn:
        for i, n in enumerate(got):
            contacts.create_contact(conn, member(ws), name=f"{name} {i}", numbers=[n])
    return got


def test_preview_counts_the_audience_and_confirm_opts_each_number_out(engine, ws, keyring) -> None:
    fans = _people(engine, ws, 12, seed=70)
    others = _people(engine, ws, 3, seed=71, name="Staff")
    with write(engine) as conn:
        optouts.add_opt_out(conn, member(ws), fans[0], reason="earlier")
    with read(engine) as conn:
        review = bulk.preview(conn, keyring, member(ws), ContactFilter(search="fan"))
    assert (review.contacts, review.numbers, review.already_opted_out) == (12, 12, 1)
    assert len(review.sample) == bulk.SAMPLE and all(
        c.name.startswith("Fan") for c in review.sample
    )
    with write(engine) as conn:
        outcome = bulk.confirm(conn, keyring, member(ws, "cy"), review.token, reason="Event ended")
    assert sorted(outcome.opted_out) == sorted(fans[1:]) and outcome.already == [fans[0]]
    with read(engine) as conn:
        rows = {r.number: r for r in optouts.list_opt_outs(conn, ws.id, limit=100)[0]}
        events = [ledger_service.history(conn, ws.id, n) for n in fans[1:]]
        assert ledger_service.verify(conn, ws.id).ok
    assert all(len(e) == 1 and e[0].method is Method.MANUAL for e in events)
    assert {rows[n].actor for n in fans[1:]} == {"member:cy"}
    assert {rows[n].reason for n in fans[1:]} == {"Event ended"}
    assert rows[fans[0]].reason == "earlier"
    assert not set(others) & set(rows)


def test_a_token_is_stale_when_the_audience_changed(engine, ws, keyring) -> None:
    _people(engine, ws, 3, seed=72)
    with read(engine) as conn:
        review = bulk.preview(conn, keyring, member(ws), ContactFilter(search="fan"))
    _people(engine, ws, 1, seed=73, name="Fan late")  # one more contact matches now
    with pytest.raises(Conflict) as exc, write(engine) as conn:
        bulk.confirm(conn, keyring, member(ws), review.token)
    assert exc.value.code == "bulk_audience_changed"
    with read(engine) as conn:
        assert optouts.list_opt_outs(conn, ws.id)[1] == 0


def test_a_number_moving_between_contacts_makes_the_token_stale(engine, ws, keyring) -> None:
    fans = _people(engine, ws, 2, seed=74)
    with write(engine) as conn:
        vip = lists.create_list(conn, member(ws), name="VIP")
        lists.add_members(conn, member(ws), vip.id, fans)
        review = bulk.preview(conn, keyring, member(ws), ContactFilter(list_id=vip.id))
        lists.remove_members(conn, member(ws), vip.id, fans[:1])
    with pytest.raises(Conflict), write(engine) as conn:
        bulk.confirm(conn, keyring, member(ws), review.token)


def test_tampered_expired_and_foreign_tokens_are_refused(engine, ws, keyring, created) -> None:
    _people(engine, ws, 2, seed=75)
    with read(engine) as conn:
        review = bulk.preview(conn, keyring, member(ws), ContactFilter(search="fan"))
    body, mac = review.token.split(".")
    cases = {
        "tampered": body[:-2] + ("AA" if body[-2:] != "AA" else "BB") + "." + mac,
        "other key": Keyring("another-secret").sign(bulk.PURPOSE, {"w": ws.id}),
        "expired": keyring.sign(
            bulk.PURPOSE, {"w": ws.id, "f": {}, "h": "x", "n": 2}, ttl_seconds=-1
        ),
    }
    for label, token in cases.items():
        with pytest.raises(Forbidden) as exc, write(engine) as conn:
            bulk.confirm(conn, keyring, member(ws), token)
        expected = "bulk_token_expired" if label == "expired" else "bulk_token_invalid"
        assert exc.value.code == expected, label
    from tests.manage import member as someone

    other = type(ws)(ws.id + 10_000, "x", "x", "x", ws.policy)
    with pytest.raises(Forbidden), write(engine) as conn:
        bulk.confirm(conn, keyring, someone(other), review.token)


def test_an_empty_or_huge_audience_is_refused(engine, ws, keyring, monkeypatch) -> None:
    with read(engine) as conn:
        empty = bulk.preview(conn, keyring, member(ws), ContactFilter(search="nobody-here"))
    assert empty.numbers == 0
    with pytest.raises(InvalidInput) as exc, write(engine) as conn:
        bulk.confirm(conn, keyring, member(ws), empty.token)
    assert exc.value.code == "audience_empty"
    _people(engine, ws, 3, seed=76)
    monkeypatch.setattr(bulk, "MAX_AUDIENCE", 2)
    with pytest.raises(InvalidInput) as big, read(engine) as conn:
        bulk.preview(conn, keyring, member(ws), ContactFilter())
    assert big.value.code == "audience_too_large"


def test_the_token_carries_its_filter_so_it_cannot_be_reused_for_another(
    engine, ws, keyring
) -> None:
    fans = _people(engine, ws, 2, seed=77)
    staff = _people(engine, ws, 2, seed=78, name="Staff")
    with read(engine) as conn:
        review = bulk.preview(conn, keyring, member(ws), ContactFilter(search="fan"))
    with write(engine) as conn:
        outcome = bulk.confirm(conn, keyring, member(ws), review.token)
    assert sorted(outcome.opted_out) == sorted(fans)
    with read(engine) as conn:
        assert not {r.number for r in optouts.list_opt_outs(conn, ws.id)[0]} & set(staff)
    assert time.time() < review.expires_at.timestamp() <= time.time() + bulk.TOKEN_TTL + 1
