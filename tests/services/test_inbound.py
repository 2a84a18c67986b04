"""The inbound pipeline, rule by rule (PRODUCT.md inbound rules 1-9), on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, date, datetime

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stopline.domain import consent
from stopline.domain.consent import Scope
from stopline.providers.base import InboundMessage, StatusUpdate
from stopline.services import (
    delivery_status,
    inbound,
    inbound_config,
    inbox,
    optouts,
    queueing,
    workspaces,
)
from stopline.services import lists as lists_service
from stopline.services import messages as messages_service
from stopline.services.inbound_context import InboundChannel, InboundOutcome
from stopline.store import ledger
from stopline.store.db import read, write
from stopline.store.tables import conversations, lists, messages
from tests.inbound_kit import (
    events_of,
    inbound_from,
    number,
    opt_out_rows,
    outbound_to,
    review_rows,
)
from tests.outbound import owner

pytest.importorskip("stopline.domain.keywords", reason="the keyword classifier has not landed")


@pytest.fixture
def channel(engine, ws, keyring) -> InboundChannel:
    return add_channel(engine, ws, keyring, "generic")


def add_channel(engine, ws, keyring, provider: str, **kwargs) -> InboundChannel:
    with write(engine) as conn:
        ch = workspaces.add_channel(
            conn,
            ws.id,
            keyring,
            address=number(),
            provider=provider,
            credentials={"secret": "s"},
            **kwargs,
        )
        return inbound.channel_for(conn, ch.id)[0]


def receive(
    engine,
    channel: InboundChannel,
    sender: str,
    text: str,
    *,
    message_id: str | None = None,
    opt_out_type: str | None = None,
    received_at: datetime | None = None,
    now: datetime | None = None,
) -> InboundOutcome:
    message = InboundMessage(
        provider=channel.provider,
        provider_message_id=message_id or uuid.uuid4().hex,
        from_number=sender,
        to_address=channel.address,
        body=text,
        received_at=received_at,
        opt_out_type=opt_out_type,
    )
    return inbound.process_inbound(
        engine, channel, message, reply_inline=channel.provider == "twilio", now=now
    )


def set_policy(engine, ws, **changes) -> None:
    with write(engine) as conn:
        workspaces.update_settings(conn, owner(ws), changes)


def confirmations(engine, ws, to: str) -> list:
    return outbound_to(engine, ws.id, to, kind="confirmation")


# --- rule 4: opt-out keywords -------------------------------------------------------------------


def test_stop_please_opts_out_with_method_reply_and_queues_one_confirmation(engine, ws, channel):
    sender = number()
    outcome = receive(engine, channel, sender, "STOP please")
    assert outcome.action == "opt_out"
    [row] = opt_out_rows(engine, ws.id, sender)
    assert (row.method, row.reason, row.scope) == ("reply", "STOP please", "workspace")
    [event] = events_of(engine, ws.id, sender)
    assert event.inbound_text == "STOP please" and event.channel_id == channel.id
    [confirmation] = confirmations(engine, ws, sender)
    assert confirmation.status == "queued"
    assert "no more messages" in confirmation.body
    assert outcome.queued_reply_ids == (confirmation.id,)
    assert outcome.replies == ()


def test_twilio_stop_is_confirmed_inline_and_recorded_as_sent(engine, ws, keyring):
    channel = add_channel(engine, ws, keyring, "twilio")
    sender = number()
    outcome = receive(engine, channel, sender, "Stop.")
    [confirmation] = confirmations(engine, ws, sender)
    assert outcome.replies == (confirmation.body,)
    assert confirmation.status == "sent"


def test_pleasestop_does_nothing(engine, ws, channel):
    sender = number()
    outcome = receive(engine, channel, sender, "PleaseStop")
    assert outcome.action == "message"
    assert events_of(engine, ws.id, sender) == []
    assert outbound_to(engine, ws.id, sender) == []
    assert len(inbound_from(engine, ws.id, sender)) == 1


def test_a_replayed_message_changes_nothing_and_sends_nothing(engine, ws, channel):
    sender = number()
    first = receive(engine, channel, sender, "STOP", message_id="gw-1-" + sender)
    again = receive(engine, channel, sender, "STOP", message_id="gw-1-" + sender)
    assert not first.replay and again.replay
    assert again.action == "replay" and again.message_id is None
    assert again.event_seqs == () and again.queued_reply_ids == ()
    assert len(events_of(engine, ws.id, sender)) == 1
    assert len(confirmations(engine, ws, sender)) == 1
    assert len(inbound_from(engine, ws.id, sender)) == 1


def test_a_second_stop_is_kept_as_evidence_and_confirmed_again(engine, ws, channel):
    sender = number()
    receive(engine, channel, sender, "STOP")
    receive(engine, channel, sender, "STOP")
    assert len(events_of(engine, ws.id, sender)) == 2  # each request is evidence
    assert len(opt_out_rows(engine, ws.id, sender)) == 1  # the first record stands
    assert len(confirmations(engine, ws, sender)) == 2  # one per event


def test_arret_is_confirmed_in_french(engine, ws, channel):
    sender = number()
    outcome = receive(engine, channel, sender, "ARRÊT")
    assert outcome.action == "opt_out" and outcome.language == "fr"
    [confirmation] = confirmations(engine, ws, sender)
    assert "désabonné" in confirmation.body


def test_no_confirmation_when_the_setting_is_off_but_help_is_still_answered(engine, ws, channel):
    set_policy(engine, ws, send_confirmations=False)
    sender = number()
    receive(engine, channel, sender, "STOP")
    assert len(opt_out_rows(engine, ws.id, sender)) == 1
    assert confirmations(engine, ws, sender) == []
    receive(engine, channel, sender, "HELP")
    [help_reply] = confirmations(engine, ws, sender)
    assert "Msg&Data rates may apply" in help_reply.body


def test_stop_cancels_that_numbers_queued_messages(engine, ws, channel):
    sender, other = number(), number()
    with write(engine) as conn:
        queued = queueing.enqueue(conn, ws.id, channel_id=channel.id, to=sender, body="Sale!")
        kept = queueing.enqueue(conn, ws.id, channel_id=channel.id, to=other, body="Sale!")
    outcome = receive(engine, channel, sender, "stop")
    assert outcome.canceled_messages == 1
    with read(engine) as conn:
        assert messages_service.get_message(conn, ws.id, queued.id).status == "canceled"
        assert messages_service.get_message(conn, ws.id, queued.id).refusal_code == "opted_out"
        assert messages_service.get_message(conn, ws.id, kept.id).status == "queued"


@pytest.mark.parametrize(
    ("scope", "key_of"),
    [
        ("channel_type", lambda ch: "sms"),
        ("channel", lambda ch: str(ch.id)),
        ("workspace", lambda ch: ""),
    ],
)
def test_opt_out_scope_follows_the_setting(engine, ws, channel, scope, key_of):
    set_policy(engine, ws, opt_out_scope=scope)
    sender = number()
    receive(engine, channel, sender, "STOP")
    [row] = opt_out_rows(engine, ws.id, sender)
    assert (row.scope, row.scope_key) == (scope, key_of(channel))


def test_channel_scoped_stop_cancels_only_that_channels_messages(engine, ws, channel, keyring):
    set_policy(engine, ws, opt_out_scope="channel")
    other_channel = add_channel(engine, ws, keyring, "generic")
    sender = number()
    with write(engine) as conn:
        here = queueing.enqueue(conn, ws.id, channel_id=channel.id, to=sender, body="a")
        there = queueing.enqueue(conn, ws.id, channel_id=other_channel.id, to=sender, body="b")
    receive(engine, channel, sender, "STOP")
    with read(engine) as conn:
        assert messages_service.get_message(conn, ws.id, here.id).status == "canceled"
        assert messages_service.get_message(conn, ws.id, there.id).status == "queued"


# --- rules 5 and 6: opt-in and HELP --------------------------------------------------------------


def test_start_opts_back_in_and_confirms(engine, ws, channel):
    sender = number()
    receive(engine, channel, sender, "STOP")
    outcome = receive(engine, channel, sender, "START")
    assert outcome.action == "opt_in"
    assert opt_out_rows(engine, ws.id, sender) == []
    assert [c.body for c in confirmations(engine, ws, sender)][-1].count("resubscribed") == 1


def test_start_while_not_opted_out_records_and_sends_nothing(engine, ws, channel):
    sender = number()
    outcome = receive(engine, channel, sender, "START")
    assert outcome.action == "opt_in" and outcome.event_seqs == ()
    assert confirmations(engine, ws, sender) == []


def test_yes_opts_in_only_while_opted_out(engine, ws, channel):
    sender = number()
    assert receive(engine, channel, sender, "YES").action == "message"
    receive(engine, channel, sender, "STOP")
    assert receive(engine, channel, sender, "Yes!").action == "opt_in"
    assert opt_out_rows(engine, ws.id, sender) == []


def test_start_while_blocked_is_refused_and_the_number_stays_blocked(engine, ws, channel):
    sender = number()
    with write(engine) as conn:
        optouts.block(conn, owner(ws), sender, reason="abuse")
    before = len(events_of(engine, ws.id, sender))
    outcome = receive(engine, channel, sender, "START")
    assert outcome.action == "blocked" and outcome.hidden
    assert len(events_of(engine, ws.id, sender)) == before
    with read(engine) as conn:
        assert ledger.load_state(conn, ws.id, sender).block is not None
    assert outbound_to(engine, ws.id, sender) == []


def test_help_while_opted_out_is_answered_with_the_workspace_help_text(engine, ws, channel):
    set_policy(engine, ws, help_contact="help@acme.example")
    sender = number()
    receive(engine, channel, sender, "STOP")
    outcome = receive(engine, channel, sender, "help")
    assert outcome.action == "help"
    help_reply = confirmations(engine, ws, sender)[-1]
    assert "help@acme.example" in help_reply.body
    assert len(opt_out_rows(engine, ws.id, sender)) == 1  # HELP changes no consent


def test_opt_in_lifts_list_opt_outs_only_when_the_setting_says_so(engine, ws, channel):
    sender = number()
    list_id = make_list(engine, ws, "Marketing", {"opt_out": ["OPTOUTMKT"]})
    receive(engine, channel, sender, "OPTOUTMKT")
    receive(engine, channel, sender, "STOP")
    receive(engine, channel, sender, "START")
    with read(engine) as conn:
        assert list_id in ledger.load_state(conn, ws.id, sender).list_opt_outs
    set_policy(engine, ws, opt_in_clears_list_opt_outs=True)
    receive(engine, channel, sender, "STOP")
    receive(engine, channel, sender, "START")
    with read(engine) as conn:
        assert ledger.load_state(conn, ws.id, sender).is_clear


# --- list keywords (seed 001) -------------------------------------------------------------------


def make_list(engine, ws, name: str, keywords: dict, help_text: str | None = None) -> int:
    with write(engine) as conn:
        return int(
            conn.execute(
                sa.insert(lists).values(
                    workspace_id=ws.id,
                    name=name,
                    keywords=keywords,
                    help_text=help_text,
                    created_at=datetime.now(UTC),
                )
            ).inserted_primary_key[0]
        )


def test_a_list_keyword_opts_out_of_that_list_only(engine, ws, channel):
    list_id = make_list(engine, ws, "Deals", {"opt_out": ["NODEALS"], "help": ["DEALSHELP"]})
    sender = number()
    outcome = receive(engine, channel, sender, "nodeals")
    assert outcome.action == "list_opt_out"
    with read(engine) as conn:
        state = ledger.load_state(conn, ws.id, sender)
    assert list(state.list_opt_outs) == [list_id] and not state.opt_outs
    [confirmation] = confirmations(engine, ws, sender)
    assert "Deals" in confirmation.body and "no more messages from it" in confirmation.body


def test_a_list_help_keyword_answers_with_the_lists_help_text(engine, ws, channel):
    make_list(engine, ws, "Alerts", {"help": ["ALERTSHELP"]}, help_text="Alerts: call 555.")
    sender = number()
    assert receive(engine, channel, sender, "ALERTSHELP").action == "list_help"
    assert confirmations(engine, ws, sender)[0].body == "Alerts: call 555."


def test_a_changed_list_keyword_applies_to_the_very_next_message(engine, ws, channel):
    list_id = make_list(engine, ws, "Promos", {"opt_out": ["NOPROMO"]})
    assert receive(engine, channel, number(), "NOPROMO").action == "list_opt_out"
    with write(engine) as conn:
        lists_service.update_list(conn, owner(ws), list_id, keywords={"opt_out": ["ENDPROMO"]})
    assert receive(engine, channel, number(), "NOPROMO").action == "message"
    assert receive(engine, channel, number(), "ENDPROMO").action == "list_opt_out"


# --- rule 3: possible revocations ---------------------------------------------------------------


def test_please_stop_texting_me_goes_to_review_with_its_deadline(engine, ws, channel):
    sender = number()
    received = datetime(2025, 11, 20, 18, 0, tzinfo=UTC)  # a Thursday; Thanksgiving follows
    outcome = receive(engine, channel, sender, "please stop texting me", received_at=received)
    assert outcome.action == "revocation_review"
    assert outcome.deadline == date(2025, 12, 5)
    [item] = review_rows(engine, ws.id, sender)
    assert item.status == "pending" and item.deadline == date(2025, 12, 5)
    assert item.message_id == outcome.message_id and item.channel_id == channel.id
    assert events_of(engine, ws.id, sender) == [] and confirmations(engine, ws, sender) == []


def test_possible_revocation_opts_out_automatically_when_set(engine, ws, channel):
    set_policy(engine, ws, revocation_mode="auto_opt_out")
    sender = number()
    outcome = receive(engine, channel, sender, "please stop texting me")
    assert outcome.action == "revocation_opt_out"
    [row] = opt_out_rows(engine, ws.id, sender)
    assert row.method == "reply" and row.reason == "please stop texting me"
    assert review_rows(engine, ws.id, sender) == []
    assert len(confirmations(engine, ws, sender)) == 1


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("Ne m'envoyez plus de SMS", "ne m'envoyez plus"),
        ("Quiero darme de baja", "darme de baja"),
        ("Parem de me mandar mensagem", "pare de me mandar"),
        ("Lose my number", "delete my number"),
    ],
)
def test_revocations_in_four_languages_go_to_review_naming_their_rule(
    engine, ws, channel, text, rule
):
    sender = number()
    outcome = receive(engine, channel, sender, text)
    assert outcome.action == "revocation_review" and outcome.rule == rule
    [item] = review_rows(engine, ws.id, sender)
    assert item.phrase == rule and item.body == text
    assert events_of(engine, ws.id, sender) == []


@pytest.mark.parametrize("text", ["BAJA por favor", "ARRÊT svp", "Por favor, ALTO"])
def test_french_and_spanish_keywords_with_a_politeness_word_opt_out(engine, ws, channel, text):
    sender = number()
    outcome = receive(engine, channel, sender, text)
    assert outcome.action == "opt_out"
    [row] = opt_out_rows(engine, ws.id, sender)
    assert row.method == "reply" and row.reason == text
    assert len(confirmations(engine, ws, sender)) == 1


def test_stop_merci_is_confirmed_in_french(engine, ws, channel):
    sender = number()
    outcome = receive(engine, channel, sender, "STOP merci")
    assert (outcome.action, outcome.language) == ("opt_out", "fr")
    with read(engine) as conn:
        policy = inbound_config.workspace_policy(conn, ws.id)
    [reply] = confirmations(engine, ws, sender)
    assert reply.body == policy.confirmation_text("opt_out", "fr")


def test_pare_por_favor_opts_out_where_portuguese_is_on_and_is_reviewed_where_it_is_not(
    engine, ws, channel
):
    off = number()
    assert receive(engine, channel, off, "PARE por favor").action == "revocation_review"
    assert opt_out_rows(engine, ws.id, off) == []
    set_policy(engine, ws, keyword_sets=["fr", "es", "pt"])
    on = number()
    outcome = receive(engine, channel, on, "PARE por favor")
    assert (outcome.action, outcome.keyword, outcome.language) == ("opt_out", "PARE", "pt")


@pytest.mark.parametrize("text", ["Stop by tomorrow?", "Stop at the front desk when you arrive?"])
def test_stop_used_as_a_verb_goes_to_review_instead_of_opting_out(engine, ws, channel, text):
    sender = number()
    outcome = receive(engine, channel, sender, text)
    assert outcome.action == "revocation_review"
    assert opt_out_rows(engine, ws.id, sender) == [] and confirmations(engine, ws, sender) == []
    [item] = review_rows(engine, ws.id, sender)
    assert item.phrase == "STOP used as an ordinary word" and item.deadline is not None


@pytest.mark.parametrize(
    "text",
    [
        "Liked “Sale today! Reply STOP to unsubscribe.”",
        "Reacted 👍 to “See you Tuesday. Reply STOP to opt out”",
        "A aimé « Soldes ! Répondez STOP pour vous désabonner »",
        "Le gustó “Responde BAJA para no recibir más mensajes”",
    ],
)
def test_a_reaction_is_stored_as_a_reaction_and_asks_for_nothing(engine, ws, channel, text):
    sender = number()
    outcome = receive(engine, channel, sender, text)
    assert (outcome.action, outcome.intent) == ("reaction", "reaction")
    [stored] = inbound_from(engine, ws.id, sender)
    assert stored.kind == "reaction" and stored.body == text
    assert review_rows(engine, ws.id, sender) == [] and opt_out_rows(engine, ws.id, sender) == []
    with read(engine) as conn:
        [shown] = inbox.thread(conn, ws.id, stored.conversation_id)
    assert shown.kind == "reaction"


def test_a_reaction_does_not_opt_back_in_even_when_any_inbound_would(engine, ws, channel):
    set_policy(engine, ws, any_inbound_opts_in=True)
    sender = number()
    receive(engine, channel, sender, "STOP")
    outcome = receive(engine, channel, sender, "Loved “You are unsubscribed.”")
    assert outcome.action == "reaction"
    assert len(opt_out_rows(engine, ws.id, sender)) == 1


def test_thanks_above_a_quoted_footer_is_an_ordinary_message(engine, ws, channel):
    sender = number()
    outcome = receive(engine, channel, sender, "Thanks!\n> Reply STOP to unsubscribe")
    assert outcome.action == "message"
    assert review_rows(engine, ws.id, sender) == []
    [stored] = inbound_from(engine, ws.id, sender)
    assert stored.kind == "normal"


# --- rules 7, 8, 9 ------------------------------------------------------------------------------


def test_any_inbound_opts_back_in_only_when_set(engine, ws, channel):
    sender = number()
    receive(engine, channel, sender, "STOP")
    receive(engine, channel, sender, "what time is my appointment?")
    assert len(opt_out_rows(engine, ws.id, sender)) == 1
    set_policy(engine, ws, any_inbound_opts_in=True)
    outcome = receive(engine, channel, sender, "what time is my appointment?")
    assert outcome.action == "any_inbound_opt_in"
    assert opt_out_rows(engine, ws.id, sender) == []


def test_the_conversation_stays_open_after_stop(engine, ws, channel):
    sender = number()
    receive(engine, channel, sender, "hello")
    outcome = receive(engine, channel, sender, "STOP")
    with read(engine) as conn:
        convo = conn.execute(
            sa.select(conversations).where(
                conversations.c.workspace_id == ws.id, conversations.c.number == sender
            )
        ).one()
        visible = inbox.visible_messages(conn, ws.id, convo.id)
    assert convo.status == "open"
    assert [m.body for m in visible if m.direction == "in"] == ["hello", "STOP"]
    assert outcome.message_id in {m.id for m in visible}


def test_a_blocked_numbers_message_is_kept_hidden_counted_and_not_in_the_inbox(engine, ws, channel):
    sender = number()
    receive(engine, channel, sender, "hi there")
    with write(engine) as conn:
        optouts.block(conn, owner(ws), sender, reason="spam")
    outcome = receive(engine, channel, sender, "buy my stuff STOP")
    assert outcome.action == "blocked" and outcome.hidden
    [kept] = [m for m in inbound_from(engine, ws.id, sender) if m.id == outcome.message_id]
    assert kept.hidden and kept.body == "buy my stuff STOP"
    with read(engine) as conn:
        assert inbox.hidden_inbound_count(conn, ws.id, sender) == 1
        visible = inbox.visible_messages(conn, ws.id, kept.conversation_id)
    assert outcome.message_id not in {m.id for m in visible}
    assert outbound_to(engine, ws.id, sender) == []


def test_a_blocked_number_with_no_conversation_gets_none(engine, ws, channel):
    sender = number()
    with write(engine) as conn:
        optouts.block(conn, owner(ws), sender, reason="spam")
    outcome = receive(engine, channel, sender, "hello")
    [kept] = inbound_from(engine, ws.id, sender)
    assert kept.hidden and kept.conversation_id is None and outcome.action == "blocked"


def test_an_alphanumeric_sender_is_kept_and_changes_nothing(engine, ws, channel):
    outcome = receive(engine, channel, "ACME-BANK", "STOP")
    assert outcome.action == "unroutable_sender" and outcome.number is None
    assert outcome.message_id is not None and outcome.event_seqs == ()


def test_nul_bytes_and_lone_surrogates_are_stored_not_refused(engine, ws, channel):
    sender = number()
    outcome = receive(engine, channel, sender, "STOP\x00 \ud800", message_id="x\x00" * 100)
    assert outcome.action == "opt_out"
    [stored] = inbound_from(engine, ws.id, sender)
    assert stored.body == "STOP\ufffd ?"
    again = receive(engine, channel, sender, "STOP\x00 \ud800", message_id="x\x00" * 100)
    assert again.replay


def test_a_shared_webhook_files_each_message_under_the_number_it_was_sent_to(engine, ws, keyring):
    first = add_channel(engine, ws, keyring, "twilio")
    second = add_channel(engine, ws, keyring, "twilio")
    sender = number()
    message = InboundMessage("twilio", "SM" + uuid.uuid4().hex, sender, second.address, "hi")
    outcome = inbound.process_inbound(engine, first, message, reply_inline=True)
    assert outcome.channel_id == second.id
    [stored] = inbound_from(engine, ws.id, sender)
    assert stored.channel_id == second.id


def test_vonage_numbers_without_plus_are_read_as_e164(engine, ws, keyring):
    channel = add_channel(engine, ws, keyring, "vonage")
    outcome = receive(engine, channel, "447911123456", "STOP")
    assert outcome.number == "+447911123456" and outcome.action == "opt_out"


# --- carrier-reported opt-outs ------------------------------------------------------------------


def test_twilio_opt_out_type_stop_records_a_carrier_opt_out_without_our_confirmation(
    engine, ws, keyring
):
    channel = add_channel(engine, ws, keyring, "twilio")
    sender = number()
    outcome = receive(engine, channel, sender, "UNSUBSCRIBE", opt_out_type="STOP")
    assert outcome.action == "carrier_opt_out" and outcome.replies == ()
    [row] = opt_out_rows(engine, ws.id, sender)
    assert row.method == "carrier"
    assert confirmations(engine, ws, sender) == []


@pytest.mark.parametrize(
    ("provider", "code"), [("twilio", "21610"), ("telnyx", "40300"), ("generic", None)]
)
def test_a_status_callback_saying_opted_out_records_a_carrier_opt_out(
    engine, ws, keyring, provider, code
):
    channel = add_channel(engine, ws, keyring, provider)
    to = number()
    with write(engine) as conn:
        queued = queueing.enqueue(conn, ws.id, channel_id=channel.id, to=to, body="hi")
        conn.execute(  # what the hand-off records when the provider accepts it
            sa.update(messages)
            .where(messages.c.id == queued.id)
            .values(status="sent", provider_message_id=f"pm-{queued.id}")
        )
    update = StatusUpdate(
        provider=provider,
        provider_message_id=f"pm-{queued.id}",
        status="failed",
        error_code=code,
        recipient_opted_out=True,
    )
    result = delivery_status.process_status(engine, channel, update)
    assert result.message_id == queued.id and result.status == "failed"
    [row] = opt_out_rows(engine, ws.id, to)
    assert row.method == "carrier"


def test_a_status_callback_for_an_unknown_message_changes_nothing(engine, ws, channel):
    update = StatusUpdate("generic", "nope-" + uuid.uuid4().hex, "delivered")
    assert delivery_status.process_status(engine, channel, update).message_id is None


# --- concurrency: the same webhook delivered five times at once ----------------------------------


def test_five_concurrent_deliveries_make_one_event_and_one_confirmation(engine, ws, keyring):
    channel = add_channel(engine, ws, keyring, "twilio")
    sender = number()
    message = InboundMessage(
        provider="twilio",
        provider_message_id="SM" + uuid.uuid4().hex,
        from_number=sender,
        to_address=channel.address,
        body="STOP",
    )
    barrier = threading.Barrier(5)
    outcomes: list[InboundOutcome] = []
    errors: list[BaseException] = []

    def deliver() -> None:
        barrier.wait()
        try:
            outcomes.append(inbound.process_inbound(engine, channel, message, reply_inline=True))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=deliver) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(o.replay for o in outcomes) == [False, True, True, True, True]
    assert sum(len(o.replies) for o in outcomes) == 1
    assert len(events_of(engine, ws.id, sender)) == 1
    assert len(confirmations(engine, ws, sender)) == 1
    assert len(inbound_from(engine, ws.id, sender)) == 1


# --- properties -----------------------------------------------------------------------------------

SENDERS = ["+14155550101", "+14155550102", "+447911123456", "4155550103", "ACME", ""]
TEXTS = st.one_of(
    st.text(max_size=80),
    st.sampled_from(
        [
            "STOP",
            "stop please",
            "START",
            "YES",
            "HELP",
            "ARRÊT",
            "Cancel.",
            "cancel my appointment",
            "please stop texting me",
            "wrong number",
            "ＳＴＯＰ",
            "ſtop",
            "\x00STOP\x00",
            "STOP \ud800",
            "",
            "   ",
        ]
    ),
)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.lists(st.tuples(st.sampled_from(SENDERS), TEXTS), min_size=1, max_size=8))
def test_any_text_from_any_sender_never_raises_and_the_projection_stays_consistent(
    engine, ws, channel, batch
):
    for sender, text in batch:
        outcome = receive(engine, channel, sender, text)
        assert outcome.action
    with read(engine) as conn:
        stored = ledger.all_states(conn, ws.id)
        derived = consent.project(ledger.iter_events(conn, ws.id))
        report = consent.verify_chain(
            ledger.iter_events(conn, ws.id), *(ledger.read_head(conn, ws.id) or (0, ""))
        )
    assert stored == derived
    assert report.ok
    for state in stored.values():
        assert all(scope is Scope.WORKSPACE for scope, _ in state.opt_outs)
