"""`stopline evidence NUMBER --out FILE.pdf|.json` and `--json`, as an operator runs it."""

from __future__ import annotations

import json

from pypdf import PdfReader

from tests.conftest import unique_number


def test_evidence_writes_a_pdf_and_json_that_agree(cli, workspace_slug, tmp_path) -> None:
    number = unique_number()
    assert cli("optouts", "add", number, "--reason", "asked by phone", "-w", workspace_slug).code == 0
    assert cli("ledger", "checkpoint", "--out", str(tmp_path / "cp.json")).code == 0
    pdf_path, json_path = tmp_path / "packet.pdf", tmp_path / "packet.json"
    made = cli("evidence", number, "--out", str(pdf_path), "-w", workspace_slug)
    assert made.code == 0, made.err
    assert "1 event(s), verified" in made.out
    text = " ".join(" ".join(p.extract_text() for p in PdfReader(pdf_path).pages).split())
    assert f"Consent evidence packet: {number}" in text and "asked by phone" in text
    assert "the whole chain verifies" in text  # the CLI recomputes the whole chain
    assert cli("evidence", number, "--out", str(json_path), "-w", workspace_slug).code == 0
    packet = json.loads(json_path.read_text())
    [event] = packet["events"]
    assert event["hash"] in text.replace(" ", "") and event["checkpoint"]["signature_valid"]
    printed = cli("evidence", number, "--json", "-w", workspace_slug).json()
    assert printed["events"][0]["hash"] == event["hash"]


def test_evidence_needs_somewhere_to_write(cli, workspace_slug) -> None:
    result = cli("evidence", unique_number(), "-w", workspace_slug)
    assert result.code == 2 and "--out" in result.err
