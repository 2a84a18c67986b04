"""The double opt-in as a state machine: random sequences of JOIN, YES, STOP, START, other texts
and the window running out, through the real inbound pipeline. After every step the list
opt-ins recorded are exactly those a model allows: a YES to an open request (newest first), by a
number not opted out, with no STOP since the request; STOP and expiry void open requests."""

from __future__ import annotations

import os
import uuid
from datetime import timedelta

import sqlalchemy as sa
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from stopline.security import Keyring
from stopline.services import inbound, joins, lists, workspaces
from stopline.services import ledger as ledger_service
from stopline.services.consent import now_utc
from stopline.services.workspaces import Principal
from stopline.store.db import read, write
from stopline.store.tables import consent_events, list_members
from tests.inbound_kit import text_in
from tests.outbound import number

WHO = "+14155550161"


class JoinMachine(RuleBasedStateMachine):
    engine: sa.Engine

    def __init__(self) -> None:
        super().__init__()
        with write(self.engine) as conn:
            ws = workspaces.create_workspace(
                conn,
                name=f"Join {uuid.uuid4().hex[:8]}",
                owner_email=f"join-{uuid.uuid4().hex[:8]}@example.com",
                owner_password="correct horse battery",
            ).workspace
            owner = Principal(ws.id, "owner", "test")
            channel = workspaces.add_channel(
                conn, ws.id, Keyring("k"), address=number(), provider="console"
            )
            self.list_id = lists.create_list(conn, owner, name="Deals").id
            joins.save_settings(conn, owner, self.list_id, keywords=["JOIN"])
            self.channel = inbound.channel_for(conn, channel.id)[0]
        self.ws_id = ws.id
        self.open_requests = 0
        self.opted_out = False
        self.confirmed = 0

    def _text(self, body: str) -> str:
        return text_in(self.engine, self.channel, WHO, body).action

    @rule()
    def join(self) -> None:
        action = self._text("JOIN")
        assert (action == "join_requested") == (not self.opted_out)
        if not self.opted_out:
            self.open_requests += 1

    @rule(body=st.sampled_from(["YES", "yes!", "Y", "Oui"]))
    def yes(self, body: str) -> None:
        action = self._text(body)
        if self.opted_out:
            assert action in ("opt_in", "message"), action  # YES lifts an opt-out, never joins
            self.opted_out = self.opted_out and action != "opt_in"
        elif self.open_requests:
            assert action == "join_confirmed", action
            self.open_requests -= 1
            self.confirmed += 1
        else:
            assert action != "join_confirmed"

    @rule()
    def stop(self) -> None:
        assert self._text("STOP") == "opt_out"
        self.opted_out = True
        self.open_requests = 0

    @rule()
    def start(self) -> None:
        self._text("START")
        self.opted_out = False

    @rule(body=st.sampled_from(["hello", "JOINED", "join us?", "DEALS"]))
    def other(self, body: str) -> None:
        assert self._text(body) not in ("join_requested", "join_confirmed")

    @rule()
    def window_passes(self) -> None:
        joins.expire_due(self.engine, now_utc() + timedelta(hours=25))
        self.open_requests = 0

    @invariant()
    def recorded_as_the_model_says(self) -> None:
        with read(self.engine) as conn:
            events = conn.execute(
                sa.select(sa.func.count()).where(
                    consent_events.c.workspace_id == self.ws_id,
                    consent_events.c.action == "list_opt_in",
                )
            ).scalar()
            members = conn.execute(
                sa.select(sa.func.count()).where(list_members.c.list_id == self.list_id)
            ).scalar()
            assert ledger_service.verify(conn, self.ws_id).ok
        assert events == self.confirmed
        assert members == (1 if self.confirmed else 0)


def test_the_double_opt_in_machine(engine) -> None:
    JoinMachine.engine = engine
    run_state_machine_as_test(
        JoinMachine,
        settings=settings(
            max_examples=int(os.environ.get("STOPLINE_JOIN_EXAMPLES", "20")),
            stateful_step_count=12,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        ),
    )
