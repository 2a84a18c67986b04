"""Contacts: numbers and notes, merge and delete (consent stays with the number), preferences."""

from __future__ import annotations

import pytest

from stopline.domain.errors import Conflict, InvalidInput, NotFound
from stopline.services import contacts, lists, optouts
from stopline.services.contacts import ContactFilter
from stopline.store.db import read, write
from tests.manage import member, national, numbers, stop_reply
from tests.outbound import add_channel


def test_a_contact_has_numbers_in_e164_and_notes_as_evidence(engine, ws) -> None:
    mobile, work = numbers(2, seed=30)
    with write(engine) as conn:
        made = contacts.create_contact(
            conn,
            member(ws),
            name=" Dana Smith ",
            email="dana@example.com",
            numbers=[national(mobile), (work, "work")],
            note="Requested opt-out on Sept 2",
        )
    with read(engine) as conn:
        found = contacts.get_contact(conn, ws.id, made.id)
        notes = contacts.list_notes(conn, ws.id, made.id)
        by_number = contacts.contact_for_number(conn, ws.id, mobile)
    assert found.name == "Dana Smith"
    assert {(n.number, n.label) for n in found.numbers} == {(mobile, "mobile"), (work, "work")}
    assert [n.body for n in notes] == ["Requested opt-out on Sept 2"]
    assert notes[0].author == "member:ann"
    assert by_number is not None and by_number.id == made.id


def test_a_number_belongs_to_one_contact(engine, ws) -> None:
    shared = numbers(1, seed=31)[0]
    with write(engine) as conn:
        contacts.create_contact(conn, member(ws), name="A", numbers=[shared])
    with pytest.raises(Conflict) as exc, write(engine) as conn:
        contacts.create_contact(conn, member(ws), name="B", numbers=[shared])
    assert exc.value.code == "number_taken"


def test_bad_contact_input_is_refused_clearly(engine, ws) -> None:
    cases = [
        ({"name": "", "numbers": []}, "contact_empty"),
        ({"name": "x", "email": "not an email"}, "email_invalid"),
        ({"name": "x", "numbers": ["12"]}, "number_too_short"),
        ({"name": "x" * 201}, "name_too_long"),
    ]
    for kwargs, code in cases:
        with pytest.raises(InvalidInput) as exc, write(engine) as conn:
            contacts.create_contact(conn, member(ws), **kwargs)
        assert exc.value.code == code


def test_merge_moves_numbers_and_notes_and_records_the_merge(engine, ws) -> None:
    a, b = numbers(2, seed=32)
    with write(engine) as conn:
        target = contacts.create_contact(conn, member(ws), name="Dana", numbers=[a])
        source = contacts.create_contact(
            conn, member(ws), name="D. Smith", email="d@example.com", numbers=[b], note="VIP"
        )
        optouts.add_opt_out(conn, member(ws), b, reason="asked")
        merged = contacts.merge_contacts(conn, member(ws), target.id, source.id)
    assert {n.number for n in merged.numbers} == {a, b} and merged.email == "d@example.com"
    with read(engine) as conn:
        notes = [n.body for n in contacts.list_notes(conn, ws.id, target.id)]
        with pytest.raises(NotFound):
            contacts.get_contact(conn, ws.id, source.id)
        row = optouts.list_opt_outs(conn, ws.id, search=b)[0][0]
    assert "VIP" in notes and any(f"#{source.id}" in n for n in notes)
    assert row.contact_id == target.id and row.reason == "asked"


def test_deleting_a_contact_keeps_its_numbers_opted_out(engine, ws) -> None:
    number = numbers(1, seed=33)[0]
    with write(engine) as conn:
        made = contacts.create_contact(conn, member(ws), name="Gone", numbers=[number])
        contacts.opt_out_contact(conn, member(ws), made.id, reason="asked")
        contacts.delete_contact(conn, member(ws), made.id)
    with read(engine) as conn:
        rows, _ = optouts.list_opt_outs(conn, ws.id, search=number)
    assert rows[0].number == number and rows[0].contact_id is None


def test_contact_actions_act_on_every_number(engine, ws) -> None:
    a, b = numbers(2, seed=34)
    with write(engine) as conn:
        made = contacts.create_contact(conn, member(ws), name="Two", numbers=[a, b])
        results = contacts.block_contact(conn, member(ws), made.id, reason="abuse")
        nobody = contacts.create_contact(conn, member(ws), name="No number")
    assert [r.changed for r in results] == [True, True]
    with pytest.raises(InvalidInput) as exc, write(engine) as conn:
        contacts.opt_out_contact(conn, member(ws), nobody.id)
    assert exc.value.code == "contact_has_no_number"


def test_filter_by_search_status_and_list(engine, ws) -> None:
    a, b, c = numbers(3, seed=35)
    with write(engine) as conn:
        ann = contacts.create_contact(conn, member(ws), name="Ann Lee", numbers=[a])
        bob = contacts.create_contact(conn, member(ws), name="Bob", numbers=[b])
        cat = contacts.create_contact(conn, member(ws), name="Cat", email="cat@x.org", numbers=[c])
        empty = contacts.create_contact(conn, member(ws), name="Empty")
        optouts.add_opt_out(conn, member(ws), b)
        optouts.block(conn, member(ws), c)
        vip = lists.create_list(conn, member(ws), name="VIP")
        lists.add_members(conn, member(ws), vip.id, [a, c])

    def ids(**kw) -> set[int]:
        with read(engine) as conn:
            return {x.id for x in contacts.list_contacts(conn, ws.id, ContactFilter(**kw))[0]}

    assert ids(search="lee") == {ann.id}
    assert ids(search="cat@") == {cat.id}
    assert ids(search=b[-7:]) == {bob.id}
    assert ids(status="opted_out") == {bob.id}
    assert ids(status="blocked") == {cat.id}
    assert ids(status="subscribed") == {ann.id}
    assert ids(status="no_number") == {empty.id}
    assert ids(list_id=vip.id) == {ann.id, cat.id}
    assert ids(list_id=vip.id, status="subscribed") == {ann.id}
    with pytest.raises(InvalidInput):
        ids(status="sleeping")


def test_preferences_say_per_channel_type_and_list_whether_we_can_send(engine, ws, keyring) -> None:
    number = numbers(1, seed=36)[0]
    channel = add_channel(engine, ws, keyring)
    with write(engine) as conn:
        made = contacts.create_contact(conn, member(ws), name="Pat", numbers=[number])
        news = lists.create_list(conn, member(ws), name="News")
        offers = lists.create_list(conn, member(ws), name="Offers")
        lists.add_members(conn, member(ws), news.id, [number])
        lists.add_members(conn, member(ws), offers.id, [number])
        lists.opt_out(conn, member(ws), offers.id, number, reason="no offers please")
    with read(engine) as conn:
        [prefs] = contacts.communication_preferences(conn, ws.id, made.id)
    by = {(p.kind, p.key): p for p in prefs.permissions}
    assert by[("channel_type", "sms")].allowed
    assert by[("channel", str(channel.id))].allowed
    assert by[("list", str(news.id))].allowed and by[("list", str(news.id))].subscribed
    assert by[("list", str(offers.id))].code == "list_opted_out"
    assert prefs.status == "partly_opted_out"
    stop_reply(engine, ws, number)
    with read(engine) as conn:
        [prefs] = contacts.communication_preferences(conn, ws.id, made.id)
    assert prefs.status == "opted_out"
    assert {p.code for p in prefs.permissions} == {"opted_out"}
    assert prefs.as_dict()["opt_outs"][0]["method"] == "reply"
