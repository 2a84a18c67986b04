"""Lists: members, per-list opt-outs through the consent door, keywords and HELP on the list."""

from __future__ import annotations

import pytest

from stopline.domain.consent import Action
from stopline.domain.errors import Conflict, Forbidden, InvalidInput
from stopline.services import ledger as ledger_service
from stopline.services import lists
from stopline.services.checks import check_number
from stopline.store.db import read, write
from tests.manage import admin, member, numbers, set_policy


def test_list_keywords_and_help_text_are_stored_canonical(engine, ws) -> None:
    with write(engine) as conn:
        made = lists.create_list(
            conn,
            member(ws),
            name="Offers",
            keywords={"opt_out": ["optout", " Leave "], "help": ["offers"]},
            help_text="Offers: weekly deals. Reply OPTOUT to leave this list.",
        )
    assert made.keywords == {"opt_out": ["OPTOUT", "LEAVE"], "help": ["OFFERS"]}
    with read(engine) as conn:
        again = lists.get_list(conn, ws.id, made.id)
    assert again.help_text.startswith("Offers: weekly deals")


@pytest.mark.parametrize(
    ("keywords", "code"),
    [
        ({"opt_out": ["STOP"]}, "keyword_reserved"),
        ({"opt_out": ["A", "a"]}, "keyword_duplicate"),
        ({"nonsense": ["A"]}, "keyword_invalid"),
        ({"opt_out": "OPTOUT"}, "keyword_invalid"),
        ({"opt_out": [f"W{i}" for i in range(21)]}, "keyword_too_many"),
    ],
)
def test_bad_list_keywords_are_refused(engine, ws, keywords, code) -> None:
    with pytest.raises(InvalidInput) as exc, write(engine) as conn:
        lists.create_list(conn, member(ws), name="Bad", keywords=keywords)
    assert exc.value.code == code


def test_two_lists_cannot_share_a_keyword(engine, ws) -> None:
    with write(engine) as conn:
        lists.create_list(conn, member(ws), name="One", keywords={"opt_out": ["OPTOUT"]})
    with pytest.raises(Conflict) as exc, write(engine) as conn:
        lists.create_list(conn, member(ws), name="Two", keywords={"opt_out": ["optout"]})
    assert exc.value.code == "keyword_taken"


def test_help_text_is_bounded(engine, ws) -> None:
    with pytest.raises(InvalidInput) as exc, write(engine) as conn:
        lists.create_list(conn, member(ws), name="Long", help_text="x" * 481)
    assert exc.value.code == "help_text_too_long"


def test_members_and_a_list_opt_out_stop_only_that_lists_campaigns(engine, ws) -> None:
    a, b = numbers(2, seed=40)
    with write(engine) as conn:
        offers = lists.create_list(conn, member(ws), name="Offers")
        news = lists.create_list(conn, member(ws), name="News")
        added = lists.add_members(conn, member(ws), offers.id, [a, b, a])
        lists.add_members(conn, member(ws), news.id, [a])
        again = lists.add_members(conn, member(ws), offers.id, [a])
        result = lists.opt_out(conn, member(ws), offers.id, a, reason="too many offers")
    assert added.added == [a, b] and again.already == [a]
    assert result.changed and result.event is not None
    assert result.event.action is Action.LIST_OPT_OUT and result.event.list_id == offers.id
    with read(engine) as conn:
        refused = check_number(conn, ws.id, a, region="US", list_id=offers.id)[1]
        other_list = check_number(conn, ws.id, a, region="US", list_id=news.id)[1]
        one_to_one = check_number(conn, ws.id, a, region="US")[1]
        page, total = lists.members(conn, ws.id, offers.id)
        assert ledger_service.verify(conn, ws.id).ok
    assert not refused.allowed and refused.code.value == "list_opted_out"
    assert other_list.allowed and one_to_one.allowed
    assert total == 2 and {m.number: m.list_opt_out for m in page} == {a: "manual", b: None}


def test_list_opt_in_follows_the_resubscribe_policy(engine, ws) -> None:
    number = numbers(1, seed=41)[0]
    with write(engine) as conn:
        offers = lists.create_list(conn, member(ws), name="Offers")
        lists.opt_out(conn, member(ws), offers.id, number)
    with pytest.raises(Forbidden), write(engine) as conn:
        lists.opt_in(conn, member(ws), offers.id, number, consent_note="ok")
    set_policy(engine, ws, resubscribe_policy="with_consent_note")
    with pytest.raises(InvalidInput), write(engine) as conn:
        lists.opt_in(conn, member(ws), offers.id, number)
    with write(engine) as conn:
        result = lists.opt_in(conn, member(ws), offers.id, number, consent_note="Asked at the till")
    assert result.changed and result.event.action is Action.LIST_OPT_IN


def test_removing_a_member_is_not_an_opt_out(engine, ws) -> None:
    number = numbers(1, seed=42)[0]
    with write(engine) as conn:
        offers = lists.create_list(conn, member(ws), name="Offers")
        lists.add_members(conn, member(ws), offers.id, [number])
        removed = lists.remove_members(conn, member(ws), offers.id, [number])
    assert removed.removed == 1
    with read(engine) as conn:
        decision = check_number(conn, ws.id, number, region="US", list_id=offers.id)[1]
        history = [e.action for e in ledger_service.history(conn, ws.id, number)]
        assert ledger_service.verify(conn, ws.id).ok
    assert history == [Action.LIST_SUBSCRIBE, Action.LIST_UNSUBSCRIBE]  # no opt-out
    assert decision.code.value == "not_subscribed"


def test_a_list_someone_opted_out_of_is_kept(engine, ws) -> None:
    number = numbers(1, seed=43)[0]
    with write(engine) as conn:
        kept = lists.create_list(conn, member(ws), name="Kept")
        empty = lists.create_list(conn, member(ws), name="Empty")
        lists.opt_out(conn, member(ws), kept.id, number)
    with pytest.raises(Forbidden), write(engine) as conn:
        lists.delete_list(conn, member(ws), empty.id)  # admins only
    with pytest.raises(Conflict) as exc, write(engine) as conn:
        lists.delete_list(conn, admin(ws), kept.id)
    assert exc.value.code == "list_has_opt_outs"
    with write(engine) as conn:
        lists.delete_list(conn, admin(ws), empty.id)
        renamed = lists.update_list(conn, member(ws), kept.id, name="Kept (old)", keywords={})
    assert renamed.name == "Kept (old)"


# --- hole 1: list keywords never shadow an enabled opt-out word ---------------------------------


@pytest.mark.parametrize(
    ("keywords", "owner"),
    [
        ({"opt_in": ["BAJA"]}, "es"),
        ({"help": ["Arrêt"]}, "fr"),
        ({"opt_in": ["alto ya"]}, "es"),
        ({"opt_in": ["opt-out"]}, "default"),
        ({"opt_out": ["stop now"]}, "default"),
        ({"help": ["yes"]}, "default"),
    ],
)
def test_a_list_keyword_that_shadows_an_enabled_word_is_refused(engine, ws, keywords, owner):
    with pytest.raises(InvalidInput) as exc, write(engine) as conn:
        lists.create_list(conn, member(ws), name="Promos", keywords=keywords)
    assert exc.value.code == "keyword_reserved" and exc.value.detail["keyword_set"] == owner
    with write(engine) as conn:
        made = lists.create_list(conn, member(ws), name="Promos")
    with pytest.raises(InvalidInput) as again, write(engine) as conn:
        lists.update_list(conn, member(ws), made.id, keywords=keywords)
    assert again.value.code == "keyword_reserved"
    with read(engine) as conn:
        assert lists.get_list(conn, ws.id, made.id).keywords == {}


def test_switching_a_set_on_is_refused_while_a_list_keyword_would_shadow_it(engine, ws) -> None:
    from stopline.services import workspaces

    with write(engine) as conn:
        lists.create_list(conn, member(ws), name="Brasil", keywords={"opt_in": ["SAIR"]})
    with pytest.raises(InvalidInput) as exc, write(engine) as conn:
        workspaces.update_settings(conn, admin(ws), {"keyword_sets": ["fr", "es", "pt"]})
    assert exc.value.code == "keyword_reserved"
    assert "Brasil" in exc.value.message and "SAIR" in exc.value.message
    custom = [{"word": "SAIR", "intent": "opt_out"}]
    with pytest.raises(InvalidInput), write(engine) as conn:
        workspaces.update_settings(conn, admin(ws), {"custom_keywords": custom})
    with read(engine) as conn:
        assert "pt" not in workspaces.get_workspace(conn, ws.id).policy.keyword_sets


def test_an_opt_out_word_opts_out_even_where_a_stored_list_keyword_claims_it(
    engine, ws, keyring
) -> None:
    """A list saved before the check (stored directly here) cannot turn BAJA into an opt-in."""
    from stopline.providers.base import InboundMessage
    from stopline.services import inbound, workspaces
    from stopline.store import lists as list_store
    from tests.conftest import unique_number

    with write(engine) as conn:
        made = lists.create_list(conn, member(ws), name="Ofertas")
        list_store.update_list(conn, ws.id, made.id, keywords={"opt_in": ["BAJA"]})
        ch = workspaces.add_channel(
            conn, ws.id, keyring, address=unique_number(), provider="console"
        )
        channel = inbound.channel_for(conn, ch.id)[0]
    sender = numbers(1, seed=44)[0]
    message = InboundMessage(
        provider="console",
        provider_message_id="m-baja",
        from_number=sender,
        to_address=channel.address,
        body="BAJA",
    )
    outcome = inbound.process_inbound(engine, channel, message)
    assert outcome.action == "opt_out"
    with read(engine) as conn:
        assert not check_number(conn, ws.id, sender, region="US")[1].allowed


def test_a_blocked_number_cannot_opt_back_in_to_a_list(engine, ws) -> None:
    """Found by the state machine: a list opt-in (with a consent note) while blocked was
    recorded, which rule 5 forbids and `ledger verify` reports."""
    from stopline.services import optouts

    number = numbers(1, seed=45)[0]
    set_policy(engine, ws, resubscribe_policy="with_consent_note")
    with write(engine) as conn:
        offers = lists.create_list(conn, member(ws), name="Offers")
        lists.opt_out(conn, member(ws), offers.id, number)
        optouts.block(conn, member(ws), number, reason="abuse")
    with pytest.raises(Forbidden) as refused, write(engine) as conn:
        lists.opt_in(conn, admin(ws), offers.id, number, consent_note="asked at the desk")
    assert refused.value.code == "blocked"
    with read(engine) as conn:
        assert ledger_service.verify(conn, ws.id).ok
