"""`stopline review list|opt-out|dismiss`: the review queue from the command line."""

from __future__ import annotations

import uuid

import pytest

from stopline.providers.base import InboundMessage
from stopline.services import inbound, workspaces
from stopline.store.db import write
from tests.inbound_kit import number, opt_out_rows

pytest.importorskip("stopline.domain.keywords", reason="the keyword classifier has not landed")


def flag(engine, ws, keyring, sender: str) -> int:
    with write(engine) as conn:
        ch = workspaces.add_channel(
            conn, ws.id, keyring, address=number(), provider="generic", credentials={"secret": "s"}
        )
        channel = inbound.channel_for(conn, ch.id)[0]
    outcome = inbound.process_inbound(
        engine,
        channel,
        InboundMessage(
            "generic", uuid.uuid4().hex, sender, channel.address, "remove me from your list"
        ),
    )
    assert outcome.review_item_id is not None
    return outcome.review_item_id


def test_review_list_then_opt_out(cli, engine, ws, keyring):
    sender = number()
    item_id = flag(engine, ws, keyring, sender)
    listed = cli("review", "list", "--workspace", ws.slug, "--json")
    assert listed.code == 0
    [item] = listed.json()["items"]
    assert item["id"] == item_id and item["deadline"]
    assert item["rule"] == "remove me from your list"
    table = cli("review", "list", "--workspace", ws.slug)
    assert "rule" in table.out and "remove me from your" in table.out
    done = cli("review", "opt-out", str(item_id), "--workspace", ws.slug, "--json")
    assert done.code == 0 and done.json()["status"] == "opted_out"
    assert done.json()["resolved_by"] == "cli"
    assert opt_out_rows(engine, ws.id, sender)[0].method == "manual"
    again = cli("review", "dismiss", str(item_id), "--workspace", ws.slug)
    assert again.code == 2 and "already resolved" in again.err


def test_review_dismiss_in_human_output(cli, engine, ws, keyring):
    item_id = flag(engine, ws, keyring, number())
    done = cli("review", "dismiss", str(item_id), "--workspace", ws.slug)
    assert done.code == 0 and "dismissed" in done.out
    assert "0 review item(s)" in cli("review", "list", "--workspace", ws.slug).out
