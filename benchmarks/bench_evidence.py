"""Proof of consent on SQLite: what the join lookup adds to an inbound text, an evidence packet,
and verifying a long ledger against a signed checkpoint.

- join lookup: `services.joins.list_for_word` for a one-word text that is no join keyword (the
  cost every such inbound message now pays); baseline: `store.inbound.keyword_lists`, the list
  keyword query the pipeline already runs for every message.
- evidence packet: JSON (with and without recomputing the whole chain) and PDF of a number
  with 40 events and 80 messages, in a ledger of `events` events; baseline: the pre-existing
  evidence report (`consent_api.evidence`), which the packet extends with messages, join
  requests and checkpoints.
- checkpoint verify: `services.checkpoints.verify` of a checkpoint at the head of `events`
  events; baseline: `domain.consent.verify_chain` over the same events (`ledger verify`'s chain
  part), which the checkpoint check repeats up to its sequence.
"""

from __future__ import annotations

import tempfile
import time
import uuid
from pathlib import Path
from typing import Any


def _timed(fn: Any, repeat: int) -> float:
    start = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - start) / repeat


def run(quick: bool = False) -> list[dict[str, Any]]:
    from stopline.domain.consent import Method, verify_chain
    from stopline.files.evidence_pdf import render
    from stopline.providers.base import InboundMessage
    from stopline.security import Keyring
    from stopline.services import (
        checkpoints,
        consent,
        consent_api,
        evidence,
        inbound,
        joins,
        lists,
        workspaces,
    )
    from stopline.services.workspaces import Principal
    from stopline.store import inbound as inbound_store
    from stopline.store import ledger
    from stopline.store.db import make_engine, read, write
    from stopline.store.migrate import upgrade

    events = 20_000 if quick else 200_000
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        engine = make_engine(f"sqlite:///{tmp / 'bench.db'}")
        upgrade(engine)
        keyring = Keyring("bench")
        with write(engine) as conn:
            ws = workspaces.create_workspace(
                conn, name="Bench", owner_email="b@example.com", owner_password="correct horse 1"
            ).workspace
            owner = Principal(ws.id, "owner", "bench")
            channel = workspaces.add_channel(
                conn, ws.id, keyring, address="+14155550100", provider="console"
            )
            for i in range(3):
                made = lists.create_list(conn, owner, name=f"List {i}")
                joins.save_settings(conn, owner, made.id, keywords=[f"JOIN{i}"])
            filler = [f"+1415{2000000 + i:07d}" for i in range(events)]
            consent.bulk_opt_out(
                conn, ws.id, filler, method=Method.IMPORT, reason="bench", actor="bench"
            )
            in_channel = inbound.channel_for(conn, channel.id)[0]
        who = "+14159990000"
        for i in range(40):  # STOP / START, 40 events and their confirmations
            inbound.process_inbound(
                engine,
                in_channel,
                InboundMessage(
                    provider="console",
                    provider_message_id=uuid.uuid4().hex,
                    from_number=who,
                    to_address=channel.address,
                    body="STOP" if i % 2 == 0 else "START",
                ),
            )
        written = checkpoints.write_checkpoint(engine, keyring, data_dir=tmp)
        trusted = checkpoints.public_key(keyring).text
        content = {"checkpoints": written.checkpoints}

        with read(engine) as conn:
            n = 200 if quick else 2000
            lookup = _timed(lambda: joins.list_for_word(conn, ws.id, "ok"), n)
            base = _timed(lambda: inbound_store.keyword_lists(conn, ws.id), n)
        results.append(
            {
                "name": "join keyword lookup per one-word inbound text (3 lists with join words)",
                "value": lookup * 1e6,
                "unit": "us",
                "baseline": base * 1e6,
                "baseline_name": "the list keyword query every inbound text already runs",
                "target": "<= 2x the baseline",
            }
        )

        with read(engine) as conn:
            start = time.perf_counter()
            packet = evidence.packet(conn, ws.id, who, keyring)
            json_s = time.perf_counter() - start
            start = time.perf_counter()
            evidence.packet(conn, ws.id, who, keyring, full_chain=True)
            full_s = time.perf_counter() - start
            start = time.perf_counter()
            pdf = render(packet)
            pdf_s = time.perf_counter() - start
            start = time.perf_counter()
            consent_api.evidence(conn, ws.id, who)
            base_s = time.perf_counter() - start
        results.append(
            {
                "name": f"evidence packet JSON, 40 events and 80 messages, ledger of {events:,}",
                "value": json_s,
                "unit": "s",
                "baseline": base_s,
                "baseline_name": "the evidence report it extends (events and their checks)",
                "target": "< 0.5 s",
            }
        )
        results.append(
            {
                "name": f"the same with the whole chain recomputed (CLI default), {events:,} "
                "events",
                "value": full_s,
                "unit": "s",
                "baseline": base_s,
                "baseline_name": "the evidence report it extends (events and their checks)",
                "target": "proportional to the ledger",
            }
        )
        results.append(
            {
                "name": f"evidence packet PDF rendering ({len(pdf):,} bytes, "
                f"{len(packet['events'])} events)",
                "value": pdf_s,
                "unit": "s",
                "baseline": json_s,
                "baseline_name": "building the packet's JSON",
                "target": "< 2 s",
            }
        )

        with read(engine) as conn:
            start = time.perf_counter()
            result = checkpoints.verify(conn, content, trusted_key=trusted)
            verify_s = time.perf_counter() - start
            assert result.ok, result.as_dict()
            start = time.perf_counter()
            head = ledger.read_head(conn, ws.id)
            assert head is not None
            verify_chain(ledger.iter_events(conn, ws.id), *head)
            chain_s = time.perf_counter() - start
        results.append(
            {
                "name": f"ledger verify --checkpoint, {events + 40:,} events",
                "value": verify_s,
                "unit": "s",
                "baseline": chain_s,
                "baseline_name": "recomputing the same hash chain alone",
                "target": "<= 1.2x the baseline",
            }
        )
        engine.dispose()
    return results
