"""The evidence packet of a number with an opt-in, a STOP and a re-subscribe: its JSON and its PDF
(text extracted with pypdf) show each event, the messages around it, and the verification."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from pypdf import PdfReader

from stopline.files.evidence_pdf import render
from stopline.services import checkpoints, consent_api, inbound, queueing
from stopline.services import evidence as evidence_service
from stopline.store.db import read, write
from stopline.store.tables import consent_events
from stopline.worker.runner import Worker
from tests.inbound_kit import text_in as receive
from tests.outbound import add_channel, number, owner


@pytest.fixture
def story(engine, ws, keyring, tmp_path):
    """An opt-in with evidence through the API, a French STOP (answered), a send refused while
    opted out, a START, and a checkpoint after the STOP."""
    channel = add_channel(engine, ws, keyring)
    with read(engine) as conn:
        inbound_channel = inbound.channel_for(conn, channel.id)[0]
    who = number()
    signed_up = (datetime.now(UTC) - timedelta(days=30)).isoformat()
    with write(engine) as conn:
        [result] = consent_api.upsert(
            conn,
            owner(ws),
            [
                {
                    "contact_id": who,
                    "correlation_id": "signup-1",
                    "status": "opt-in",
                    "source": "website",
                    "date_of_consent": signed_up,
                    "evidence": {
                        "consent_text": "Oui, envoyez-moi les offres d'Acmé 🎉 (4 msgs/mois)",
                        "consent_version": "v3",
                        "ip": "203.0.113.7",
                        "user_agent": "Mozilla/5.0 (iPhone)",
                        "reference_url": "https://acme.example/inscription",
                    },
                }
            ],
        )
    assert result.success and result.changed, result
    receive(engine, inbound_channel, who, "ARRÊT")
    Worker(engine, keyring).drain()  # hands the confirmation to the (console) provider
    with write(engine) as conn:
        refused = queueing.enqueue(conn, ws.id, channel_id=channel.id, to=who, body="Promo!")
    Worker(engine, keyring).drain()
    checkpoints.write_checkpoint(engine, keyring, data_dir=tmp_path, workspace_id=ws.id)
    receive(engine, inbound_channel, who, "START")
    Worker(engine, keyring).drain()
    return who, refused.id


def test_packet_json_has_each_event_its_evidence_and_messages(engine, ws, keyring, story) -> None:
    who, _refused = story
    with read(engine) as conn:
        packet = evidence_service.packet(conn, ws.id, who, keyring, full_chain=True)
    assert packet["verification"]["verified"] is True
    assert packet["verification"]["chain_checked"] and packet["verification"]["chain_ok"]
    assert packet["workspace"]["id"] == ws.id and packet["number"] == who
    events = packet["events"]
    assert [(e["action"], e["method"]) for e in events] == [
        ("opt_in", "api"),
        ("opt_out", "reply"),
        ("opt_in", "reply"),
    ]
    signup, stop, start = events
    assert signup["evidence"]["consent_version"] == "v3"
    assert signup["evidence"]["ip"] == "203.0.113.7"
    assert len(signup["evidence"]["consent_text_hash"]) == 64
    assert signup["evidence_strength"] == "documented"
    assert stop["inbound_message"]["body"] == "ARRÊT"
    confirmation = stop["confirmation"]
    assert confirmation["kind"] == "confirmation" and confirmation["handed_at"]
    assert stop["inbound_message"]["created_at"] <= confirmation["handed_at"]
    # The STOP and the opt-in before it are covered by the checkpoint; the START is not yet.
    assert signup["checkpoint"]["signature_valid"] and stop["checkpoint"]["seq"] >= stop["seq"]
    assert start["checkpoint"] is None
    assert packet["verification"]["events_without_checkpoint"] == [start["seq"]]
    by_body = {m["body"]: m for m in packet["messages"]}
    assert by_body["Promo!"]["status"] == "failed" and by_body["Promo!"]["refusal_code"]
    sent_while_out = [m for m in packet["messages"] if m["while_opted_out"]]
    assert sent_while_out and all(m["kind"] == "confirmation" for m in sent_while_out)
    assert "passes an opt-out" in sent_while_out[0]["why_allowed"]
    assert packet["public_key"]["public_key"] == checkpoints.public_key(keyring).text


def test_packet_pdf_text_shows_each_event_and_the_verification(engine, ws, keyring, story) -> None:
    who, _ = story
    with read(engine) as conn:
        packet = evidence_service.packet(conn, ws.id, who, keyring)
    pdf = render(packet)
    assert pdf.startswith(b"%PDF")
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    flat = " ".join(text.split())
    assert f"Consent evidence packet: {who}" in flat
    for event in packet["events"]:
        assert f"#{event['seq']} {event['action']} by {event['method']}" in flat
        assert event["hash"] in text.replace("\n", "")
    assert "ARRÊT" in flat and "Acmé" in flat  # accents (and an emoji) print
    assert "documented: source and consent language recorded" in flat
    assert "VERIFIED: every event's hash and links check out" in flat
    assert "sent while opted out; allowed because" in flat
    assert "How to re-verify this packet independently" in flat
    assert packet["public_key"]["public_key"] in flat


def test_a_deleted_event_shows_as_not_verified(engine, ws, keyring, story) -> None:
    who, _ = story
    with engine.begin() as conn:
        seq = conn.execute(
            sa.select(sa.func.min(consent_events.c.seq)).where(
                consent_events.c.workspace_id == ws.id, consent_events.c.number == who
            )
        ).scalar()
        conn.execute(
            sa.delete(consent_events).where(
                consent_events.c.workspace_id == ws.id, consent_events.c.seq == seq
            )
        )
    with read(engine) as conn:
        quick = evidence_service.packet(conn, ws.id, who, keyring)
        packet = evidence_service.packet(conn, ws.id, who, keyring, full_chain=True)
    assert quick["verification"]["verified"] is False  # the neighbour checks catch it too
    assert packet["verification"]["verified"] is False
    flat = " ".join(
        " ".join(p.extract_text() for p in PdfReader(io.BytesIO(render(packet))).pages).split()
    )
    assert "NOT VERIFIED" in flat and "missing" in flat
