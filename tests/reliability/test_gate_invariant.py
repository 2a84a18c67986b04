"""The invariant stopline exists for, as a state machine: what is shown is what the gate decides.

Random sequences of what the API, UI and CLI let people (and recipients, and hostile callers)
do — opt-outs with any scope and key, edits and number corrections, removals under both
re-subscribe policies, blocks, imports, keyword sets and list keywords, list subscriptions and
list opt-outs, inbound texts, consent API records, sends — are run through the services those
doors call. After every step, for every number touched:

- what is displayed (`GET /api/v1/opt-outs/{n}` = `optouts.number_view`; the Opt-Outs page's
  rows; `GET /api/v1/consent/{n}` and `stopline check` = `checks.check_number`) agrees with
  itself and with the gate, on every channel and list;
- a send goes exactly when the gate said it would (a real send: queued, claimed, handed to the
  console provider);
- a refusal (opt-out, block, list opt-out) is lifted only by the recipient's own text, or by a
  member with a consent note where the policy allows it (hole 3 was a lift by no one);
- an enabled opt-out word texted in opts out (hole 1 was a list keyword winning);
- every displayed opt-out row refuses some channel (hole 2 was rows that matched none);
- `ledger verify` passes.

Runs on SQLite and PostgreSQL, 50 examples of up to 30 steps (`STOPLINE_INVARIANT_EXAMPLES`
and `STOPLINE_INVARIANT_STEPS` for a longer hunt): enough to find a two-step bypass such as
hole 3, as `test_the_machine_finds_a_two_step_bypass` shows against a planted one.
"""

from __future__ import annotations

import os
import unicodedata
import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from stopline.domain.consent import Method, Scope
from stopline.domain.errors import StoplineError
from stopline.domain.keywords import Intent
from stopline.providers.base import InboundMessage
from stopline.security import Keyring
from stopline.services import (
    consent,
    consent_api,
    hand_off,
    inbound,
    inbound_config,
    lists,
    messages,
    optouts,
    preferences,
    queueing,
    workspaces,
)
from stopline.services import ledger as ledger_service
from stopline.services.checks import check_number
from stopline.services.workspaces import Principal
from stopline.store.db import read, write

EXAMPLES = int(os.environ.get("STOPLINE_INVARIANT_EXAMPLES") or 50)
STEPS = int(os.environ.get("STOPLINE_INVARIANT_STEPS") or 30)

NUMBERS = ("+14155550101", "+14155550102", "+14155550103")
# How people and programs type a number: national, with spaces, or not a number at all.
NUMBER_INPUTS = st.one_of(
    st.sampled_from(NUMBERS),
    st.sampled_from(NUMBERS).map(lambda n: f"({n[2:5]}) {n[5:8]}-{n[8:]}"),
    st.sampled_from(["hello", "+1", ""]),
)
REFUSALS = {"blocked", "opted_out", "list_opted_out"}
KEYWORD_WORDS = [
    "JOIN", "LEAVE", "OFFERS", "BAJA", "ARRET", "ARRÊT", "SAIR", "OPTOUT", "OPT OUT NOW",
    "STOP2", "ALTO YA", "VOLVER", "YES", "INFO",
]  # fmt: skip
TEXTS = [
    "STOP", "stop please", "Stop.", "BAJA", "arrêt", "SAIR", "PARAR", "START", "YES", "UNSTOP",
    "VOLVER", "HELP", "hello", "please stop texting me", "STOP NOW", "opt out", "JOIN",
    "LEAVE", "OFFERS", "OPTOUT", "STOP2", "alto ya", "INFO",
]  # fmt: skip


def _fullwidth(text: str) -> str:
    return "".join(chr(ord(c) - ord("0") + 0xFF10) for c in text)


class GateInvariant(RuleBasedStateMachine):
    engine: sa.Engine
    keyring = Keyring("invariant-secret")
    other_channel: int

    def __init__(self) -> None:
        super().__init__()
        tag = uuid.uuid4().hex[:8]
        with write(self.engine) as conn:
            self.ws = workspaces.create_workspace(
                conn,
                name=f"Invariant {tag}",
                owner_email="invariant-owner@example.com",
                owner_password="correct horse battery",
            ).workspace
            owner = Principal(workspace_id=self.ws.id, role="owner", actor="member:owner")
            self.owner = owner
            self.member = Principal(workspace_id=self.ws.id, role="member", actor="member:ann")
            self.channels = [self._console_channel(conn, t) for t in ("sms", "whatsapp")]
            self.lists = [lists.create_list(conn, owner, name=f"List {i}").id for i in range(2)]
        self.inbound_channels = {}
        with read(self.engine) as conn:
            for ch in self.channels:
                self.inbound_channels[ch.id] = inbound.channel_for(conn, ch.id)[0]
        self.touched: set[str] = set()
        self.refused: dict[str, set[tuple[int, int | None]]] = {}
        self.release: set[str] = set()
        self.policy = "recipient_only"
        self.sent = 0
        self.pending: list[tuple[int, str, int, int | None]] = []

    def _console_channel(self, conn: sa.Connection, kind: str) -> workspaces.Channel:
        """Console addresses are unique across workspaces, and this machine makes hundreds of
        workspaces a run: a random address that is taken is drawn again."""
        for _ in range(20):
            try:
                return workspaces.add_channel(
                    conn,
                    self.ws.id,
                    self.keyring,
                    address=_address(),
                    provider="console",
                    type=kind,
                )
            except StoplineError as exc:
                if exc.code != "channel_exists":
                    raise
        raise AssertionError("no free console address in 20 draws")

    # --- what a step may lift ---------------------------------------------------------------

    def _may_release(self, number: str | None, note: str | None) -> None:
        if number and self.policy == "with_consent_note" and (note or "").strip():
            self.release.add(number)

    def _e164(self, raw: str) -> str | None:
        return raw if raw in NUMBERS else next((n for n in NUMBERS if n[2:] in _digits(raw)), None)

    def _try(self, work: Any) -> Any:
        try:
            with write(self.engine) as conn:
                return work(conn)
        except StoplineError:
            return None

    # --- rules: what members, admins, apps and recipients do --------------------------------

    @initialize(
        how=st.lists(
            st.sampled_from(["none", "none", "none", "manual", "api", "import", "reply"]),
            min_size=3,
            max_size=3,
        )
    )
    def some_numbers_start_opted_out(self, how: list[str]) -> None:
        """Most bypasses need an opt-out to bypass: start with some, of any method."""
        for number, method in zip(NUMBERS, how, strict=True):
            self.touched.add(number)
            if method == "reply":
                self.recipient_texts(number, 0, "STOP")
            elif method != "none":
                self._try(
                    lambda conn, n=number, m=method: optouts.add_opt_out(
                        conn, self.member, n, reason="start", method=m
                    )
                )

    @rule(
        raw=NUMBER_INPUTS,
        key=st.sampled_from(
            [
                ("workspace", ""),
                ("workspace", "1"),
                ("channel_type", "sms"),
                ("channel_type", "whatsapp"),
                ("channel_type", "SMS"),
                ("channel_type", "fax"),
                ("channel", "{0}"),
                ("channel", "{1}"),
                ("channel", "0{0}"),
                ("channel", "{fw0}"),
                ("channel", "\u0668"),
                ("channel", "999999"),
                ("channel", "{other}"),
            ]
        ),
        method=st.sampled_from(["manual", "api", "import", "link", "carrier", "reply"]),
        long_reason=st.booleans(),
    )
    def opt_out(self, raw: str, key: tuple[str, str], method: str, long_reason: bool) -> None:
        scope, template = key
        ids = [str(c.id) for c in self.channels]
        scope_key = template.format(*ids, fw0=_fullwidth(ids[0]), other=self.other_channel)
        self._touch(raw)
        self._try(
            lambda conn: optouts.add_opt_out(
                conn,
                self.member,
                raw,
                reason="x" * 5000 if long_reason else "asked",
                method=method,
                scope=optouts.parse_scope(scope),
                scope_key=scope_key,
            )
        )

    @rule(
        old=st.sampled_from(NUMBERS),
        new=NUMBER_INPUTS,
        keep_old=st.booleans(),
        note=st.sampled_from([None, "", "typo, confirmed by phone"]),
        scoped=st.booleans(),
    )
    def correct_number(
        self, old: str, new: str, keep_old: bool, note: str | None, scoped: bool
    ) -> None:
        self._touch(old)
        self._touch(new)
        if not keep_old:
            self._may_release(old, note)
        scope, key = (Scope.CHANNEL, str(self.channels[0].id)) if scoped else (Scope.WORKSPACE, "")
        self._try(
            lambda conn: optouts.edit_opt_out(
                conn,
                self.member,
                old,
                number=new,
                scope=scope,
                scope_key=key,
                consent_note=note,
                keep_old=keep_old,
            )
        )

    @rule(number=st.sampled_from(NUMBERS), reason=st.sampled_from(["better", "", "y" * 2000]))
    def edit_reason(self, number: str, reason: str) -> None:
        self._touch(number)
        self._try(lambda conn: optouts.edit_opt_out(conn, self.member, number, reason=reason))

    @rule(number=NUMBER_INPUTS, note=st.sampled_from([None, "", "signed form #12"]))
    def remove(self, number: str, note: str | None) -> None:
        self._touch(number)
        self._may_release(self._e164(number), note)
        self._try(lambda conn: optouts.remove_opt_out(conn, self.owner, number, consent_note=note))

    @rule(policy=st.sampled_from(["recipient_only", "with_consent_note"]))
    def set_resubscribe_policy(self, policy: str) -> None:
        if self._try(
            lambda conn: workspaces.update_settings(
                conn, self.owner, {"resubscribe_policy": policy}
            )
        ):
            self.policy = policy

    @rule(scope=st.sampled_from(["workspace", "channel_type", "channel"]))
    def set_opt_out_scope(self, scope: str) -> None:
        self._try(
            lambda conn: workspaces.update_settings(conn, self.owner, {"opt_out_scope": scope})
        )

    @rule(
        sets=st.lists(st.sampled_from(["fr", "es", "pt"]), unique=True),
        custom=st.sampled_from([[], [{"word": "ENOUGH", "intent": "opt_out"}]]),
    )
    def set_keyword_sets(self, sets: list[str], custom: list[dict[str, str]]) -> None:
        self._try(
            lambda conn: workspaces.update_settings(
                conn, self.owner, {"keyword_sets": sets, "custom_keywords": custom}
            )
        )

    @rule(
        which=st.integers(0, 1),
        intent=st.sampled_from(["opt_out", "opt_in", "help"]),
        word=st.sampled_from(KEYWORD_WORDS),
    )
    def set_list_keyword(self, which: int, intent: str, word: str) -> None:
        list_id = self.lists[which]
        self._try(
            lambda conn: lists.update_list(conn, self.member, list_id, keywords={intent: [word]})
        )

    @rule(which=st.sampled_from([(), (0,), (1,), (0, 1)]))
    def offer_to_keep(self, which: tuple[int, ...]) -> None:
        """The opt-out confirmation asks which lists to keep (refused for a list with no
        opt-in word); a recipient's answer in `recipient_texts` may then keep one."""
        chosen = [self.lists[i] for i in which]
        self._try(
            lambda conn: workspaces.update_settings(conn, self.owner, {"keep_offer_lists": chosen})
        )

    @rule(number=st.sampled_from(NUMBERS), which=st.integers(0, 1), channel=st.integers(0, 1))
    def recipient_keeps_a_list(self, number: str, which: int, channel: int) -> None:
        """The whole exchange in one step (random steps rarely line up five in a row): the
        list has a word to answer with and is offered, the number belongs to it, texts STOP,
        then answers with the list's word."""
        list_id, word = self.lists[which], ("KEEPA", "KEEPB")[which]
        self._try(
            lambda conn: lists.update_list(conn, self.member, list_id, keywords={"opt_in": [word]})
        )
        self._try(lambda conn: lists.add_members(conn, self.member, list_id, [number]))
        self.offer_to_keep((which,))
        self.recipient_texts(number, channel, "STOP")
        self.recipient_texts(number, channel, word)

    @rule(number=st.sampled_from(NUMBERS))
    def block(self, number: str) -> None:
        self._touch(number)
        self._try(lambda conn: optouts.block(conn, self.member, number, reason="abuse"))

    @rule(number=st.sampled_from(NUMBERS))
    def unblock(self, number: str) -> None:
        self._touch(number)
        self._try(lambda conn: optouts.unblock(conn, self.owner, number))

    @rule(chosen=st.lists(st.sampled_from(NUMBERS), min_size=1, unique=True))
    def import_opt_outs(self, chosen: list[str]) -> None:
        """What an import writes: prepared in a read, written under the ledger lock."""
        for n in chosen:
            self._touch(n)
        with read(self.engine) as conn:
            prepared = consent.prepare_bulk_opt_out(
                conn, self.ws.id, chosen, method=Method.IMPORT, reason="sheet", actor="import"
            )
        with write(self.engine) as conn:
            consent.write_prepared_bulk(conn, prepared)

    @rule(which=st.integers(0, 1), number=st.sampled_from(NUMBERS), add=st.booleans())
    def membership(self, which: int, number: str, add: bool) -> None:
        self._touch(number)
        change = lists.add_members if add else lists.remove_members
        self._try(lambda conn: change(conn, self.member, self.lists[which], [number]))

    @rule(
        which=st.integers(0, 1),
        number=st.sampled_from(NUMBERS),
        note=st.sampled_from([None, "asked at the desk"]),
        leave=st.booleans(),
    )
    def list_opt_change(self, which: int, number: str, note: str | None, leave: bool) -> None:
        self._touch(number)
        list_id = self.lists[which]
        if leave:
            self._try(lambda conn: lists.opt_out(conn, self.member, list_id, number))
        else:
            self._may_release(number, note)
            self._try(
                lambda conn: lists.opt_in(conn, self.owner, list_id, number, consent_note=note)
            )

    @rule(number=st.sampled_from(NUMBERS), channel=st.integers(0, 1), text=st.sampled_from(TEXTS))
    def recipient_texts(self, number: str, channel: int, text: str) -> None:
        self._touch(number)
        self.release.add(number)  # the recipient's own words may opt them back in
        ch = self.inbound_channels[self.channels[channel].id]
        with read(self.engine) as conn:
            policy = workspaces.get_workspace(conn, self.ws.id).policy
        config = inbound_config.keyword_config(policy)
        message = InboundMessage(
            provider="console",
            provider_message_id=uuid.uuid4().hex,
            from_number=number,
            to_address=ch.address,
            body=text,
        )
        outcome = inbound.process_inbound(self.engine, ch, message)
        word = " ".join(unicodedata.normalize("NFKC", text).strip(" .").upper().split())
        opt_out_words = {k.word for k in _enabled(config) if k.intent is Intent.OPT_OUT}
        if outcome.action == "blocked":
            return  # kept, hidden, nothing changes: a blocked number gets nothing anyway
        if word in opt_out_words or word in {w.replace("Ê", "E") for w in opt_out_words}:
            # Hole 1: an enabled opt-out word opts out (or, seed 001, leaves the list that
            # made that very word its own opt-out word).
            with read(self.engine) as conn:
                decision = check_number(conn, self.ws.id, number, region="US", channel_id=ch.id)[1]
                own = _list_opt_out_words(conn, self.ws.id)
            assert outcome.intent == "opt_out", (text, outcome)
            if word not in own:
                assert not decision.allowed, (text, outcome, decision)

    @rule(
        number=NUMBER_INPUTS,
        status=st.sampled_from(["opt-out", "opt-in"]),
        sender=st.integers(-1, 1),
    )
    def consent_api_record(self, number: str, status: str, sender: int) -> None:
        self._touch(number)
        if status == "opt-in":
            self._may_release(self._e164(number), "auto note")
        item: dict[str, Any] = {
            "contact_id": number,
            "correlation_id": uuid.uuid4().hex,
            "status": status,
            "source": "website",
        }
        if sender >= 0:
            item["sender_id"] = self.channels[sender].address
        self._try(lambda conn: consent_api.upsert(conn, self.owner, [item]))

    @rule(
        number=st.sampled_from(NUMBERS),
        channel=st.integers(0, 1),
        which=st.sampled_from([None, 0, 1]),
    )
    def send(self, number: str, channel: int, which: int | None) -> None:
        """A real send's fate is the gate's decision, at the moment of the send."""
        self._touch(number)
        self.deliver()  # what is pending goes first, each checked at its own hand-off
        channel_id = self.channels[channel].id
        list_id = None if which is None else self.lists[which]
        with read(self.engine) as conn:
            decision = check_number(
                conn, self.ws.id, number, region="US", channel_id=channel_id, list_id=list_id
            )[1]
        with write(self.engine) as conn:
            queued = queueing.enqueue(
                conn,
                self.ws.id,
                channel_id=channel_id,
                to=number,
                body="Your appointment is tomorrow",
                list_id=list_id,
            )
        status, code = queued.status, queued.refusal_code
        if status == "queued":
            owner = f"invariant-{uuid.uuid4().hex[:6]}"
            ids = hand_off.claim(self.engine, owner, limit=1000)
            assert queued.id in ids
            results = hand_off.hand_off(self.engine, ids, owner=owner, keyring=self.keyring)
            [mine] = [r for r in results if r.message_id == queued.id]
            status, code = mine.status, mine.refusal_code
        assert (status == "sent") == decision.allowed, (status, code, decision)
        if not decision.allowed:
            assert code == decision.code.value  # type: ignore[union-attr]
        self.sent += status == "sent"

    @rule(
        number=st.sampled_from(NUMBERS),
        channel=st.integers(0, 1),
        which=st.sampled_from([None, 0, 1]),
    )
    def queue(self, number: str, channel: int, which: int | None) -> None:
        """Queued now, handed over later (`deliver`): the gate at the hand-off decides."""
        list_id = None if which is None else self.lists[which]
        with write(self.engine) as conn:
            queued = queueing.enqueue(
                conn,
                self.ws.id,
                channel_id=self.channels[channel].id,
                to=number,
                body="Sale on now",
                list_id=list_id,
            )
        if queued.status == "queued":
            self.pending.append((queued.id, number, self.channels[channel].id, list_id))

    @rule()
    def deliver(self) -> None:
        """Every pending message's fate is the gate's decision at the moment of the hand-off
        (a message cancelled by a STOP on the way is not delivered, which is all it may be)."""
        if not self.pending:
            return
        with read(self.engine) as conn:
            decisions = {
                mid: check_number(conn, self.ws.id, n, region="US", channel_id=ch, list_id=li)[1]
                for mid, n, ch, li in self.pending
            }
        owner = f"invariant-{uuid.uuid4().hex[:6]}"
        ids = hand_off.claim(self.engine, owner, limit=1000)
        hand_off.hand_off(self.engine, ids, owner=owner, keyring=self.keyring)
        with read(self.engine) as conn:
            for mid, number, _c, _l in self.pending:
                message = messages.get_message(conn, self.ws.id, mid)
                decision = decisions[mid]
                if message.status == "canceled":
                    continue
                assert (message.status == "sent") == decision.allowed, (number, message, decision)
                if not decision.allowed:
                    assert message.refusal_code == decision.code.value  # type: ignore[union-attr]
                self.sent += message.status == "sent"
        self.pending = []

    def teardown(self) -> None:
        """Leave no message due: other tests' workers claim whatever is due in the database."""
        self.deliver()
        from stopline.store.tables import messages as messages_table

        with write(self.engine) as conn:
            conn.execute(
                sa.update(messages_table)
                .where(
                    messages_table.c.workspace_id == self.ws.id,
                    messages_table.c.status.in_(("queued", "scheduled", "sending")),
                )
                .values(status="canceled")
            )

    # --- the invariant -----------------------------------------------------------------------

    def _touch(self, raw: str) -> None:
        number = self._e164(raw)
        if number is not None:
            self.touched.add(number)

    @invariant()
    def shown_equals_gate_equals_ledger(self) -> None:
        # The numbers this step touched: no step changes another number's consent (the ledger
        # verification below would see a change it did not expect in any case).
        with read(self.engine) as conn:
            for number in sorted(self.touched):
                self._check_number(conn, number)
            report = ledger_service.verify(conn, self.ws.id)
        assert report.ok, report.problems
        self.release = set()
        self.touched = set()

    def _check_number(self, conn: sa.Connection, number: str) -> None:
        view = optouts.number_view(conn, self.ws.id, number)
        rows = [r for r in optouts.list_opt_outs(conn, self.ws.id, search=number)[0]]
        rows = [r for r in rows if r.number == number]
        # The Opt-Outs page lists exactly the records the API shows.
        assert sorted((r.scope, r.scope_key) for r in rows) == sorted(
            (o["scope"], o["scope_key"]) for o in view["opt_outs"]
        )
        shown = {c["channel_id"]: c for c in view["channels"]}
        # The contact card and inbox footer (`services.preferences`) show the same answers.
        policy = workspaces.get_workspace(conn, self.ws.id).policy
        card = preferences.for_number(conn, self.ws.id, number, policy)
        assert {p.channel.id: (p.allowed, p.reason) for p in card.channels} == {
            i: (c["allowed"], c["code"]) for i, c in shown.items()
        }
        refused: set[tuple[int, int | None]] = set()
        for ch in self.channels:
            # What a person reads on the page: this row covers this channel.
            covered = any(_covers(r.scope, r.scope_key, ch) for r in rows)
            # List decisions differ by channel only through the opt-out, checked with None.
            for list_id in (None, *self.lists) if ch is self.channels[0] else (None,):
                decision = check_number(
                    conn, self.ws.id, number, region="US", channel_id=ch.id, list_id=list_id
                )[1]
                code = None if decision.allowed else decision.code.value  # type: ignore[union-attr]
                if list_id is None:
                    assert (shown[ch.id]["allowed"], shown[ch.id]["code"]) == (
                        decision.allowed,
                        code,
                    ), (number, ch.id, view)
                    gate_says_opted_out = code in ("opted_out", "blocked")
                    assert covered or view["blocked"] or not gate_says_opted_out, (number, ch.id)
                    assert gate_says_opted_out or not covered, (number, ch.id, rows)
                elif decision.allowed and covered:
                    # Past an opt-out only through a list the recipient kept on every opt-out
                    # that covers this channel, as the Opt-Outs API shows it.
                    for o in view["opt_outs"]:
                        if _covers(o["scope"], o["scope_key"], ch):
                            assert list_id in {k["list_id"] for k in o["kept_lists"]}, (
                                number,
                                list_id,
                                view,
                            )
                if code in REFUSALS:
                    refused.add((ch.id, list_id))
        # Hole 2: every opt-out row shown refuses at least one channel or names a known type.
        for r in rows:
            assert r.scope != "channel" or any(str(c.id) == r.scope_key for c in self.channels)
            assert r.scope != "channel_type" or r.scope_key in ("sms", "mms", "whatsapp", "rcs")
        # Hole 3: a refusal is lifted only by the recipient or a member's recorded consent.
        before = self.refused.get(number, set())
        lifted = before - refused
        assert not lifted or number in self.release, (
            f"lifted without the recipient or a consent note: {number} on (channel, list) "
            f"{sorted(lifted, key=str)}"
        )
        self.refused[number] = refused


def _address() -> str:
    """A channel address unique to this run (console addresses are unique across workspaces)."""
    r = uuid.uuid4().int
    return f"+1628{200 + r % 800}{(r // 800) % 10_000:04d}"


def _digits(raw: str) -> str:
    return "".join(c for c in raw if c.isdigit())


def _covers(scope: str, key: str, channel: workspaces.Channel) -> bool:
    """A person's reading of an opt-out row: `SMS` means SMS, `08` means channel 8."""
    folded = unicodedata.normalize("NFKC", key).strip()
    if scope == "workspace":
        return True
    if scope == "channel_type":
        return folded.casefold() == channel.type
    return folded.isdecimal() and int(folded) == channel.id


def _enabled(config: Any) -> list[Any]:
    from stopline.domain.keywords import BUILTIN_SETS, DEFAULT_SET

    words = [*DEFAULT_SET.keywords, *config.custom]
    return words + [k for name in config.enabled_sets for k in BUILTIN_SETS[name].keywords]


def _list_opt_out_words(conn: sa.Connection, workspace_id: int) -> set[str]:
    return {
        w for row in lists.all_lists(conn, workspace_id) for w in row.keywords.get("opt_out", [])
    }


@pytest.fixture
def other_channel(engine: sa.Engine, created: workspaces.CreatedWorkspace) -> int:
    """A channel of another workspace: its id must never scope this workspace's opt-outs."""
    with write(engine) as conn:
        return workspaces.add_channel(
            conn,
            created.workspace.id,
            Keyring("invariant-secret"),
            address=_address(),
            provider="console",
        ).id


def test_shown_consent_is_the_gates_decision_and_a_sends_fate(engine, other_channel) -> None:
    GateInvariant.engine = engine
    GateInvariant.other_channel = other_channel
    run_state_machine_as_test(
        GateInvariant,
        settings=settings(
            max_examples=EXAMPLES,
            stateful_step_count=STEPS,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            print_blob=True,
        ),
    )


def test_the_machine_finds_a_two_step_bypass(engine, other_channel, monkeypatch) -> None:
    """Hole 3 planted back (a number correction that ignores the re-subscribe policy): the
    machine finds a sequence that lifts an opt-out (derandomized, so it is the same sequence
    every run; typically within the first few dozen examples)."""
    from dataclasses import replace

    from hypothesis import Phase

    from stopline.domain import consent as rules
    from stopline.domain.consent import Action
    from stopline.domain.policy import ResubscribePolicy

    if engine.dialect.name != "sqlite":
        pytest.skip("the machine's power is shown on SQLite; the same rules run on PostgreSQL")

    original = rules.check_change

    def planted(state: Any, change: Any, policy: Any, **kwargs: Any) -> bool:
        if change.action is Action.RETRACT:  # the old code: a correction ignored the policy
            policy = replace(policy, resubscribe_policy=ResubscribePolicy.WITH_CONSENT_NOTE)
            change = replace(change, consent_note=change.consent_note or "(none asked)")
        return original(state, change, policy, **kwargs)

    monkeypatch.setattr(rules, "check_change", planted)
    GateInvariant.engine = engine
    GateInvariant.other_channel = other_channel
    with pytest.raises(AssertionError, match="lifted without"):
        run_state_machine_as_test(
            GateInvariant,
            settings=settings(
                # It stops at the first find (usually within a few dozen examples); the margin
                # keeps it found when the session's database makes the early examples differ.
                max_examples=max(EXAMPLES, 400),
                stateful_step_count=STEPS,
                deadline=None,
                suppress_health_check=list(HealthCheck),
                phases=[Phase.generate],  # finding it is the point; no shrinking
                database=None,
                derandomize=True,  # the same sequences every run: found every time
            ),
        )
