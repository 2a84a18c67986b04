"""The consent API takes opt-in evidence, and hands the evidence packet over as JSON and PDF."""

from __future__ import annotations

import io

import pytest
from litestar.testing import TestClient
from pypdf import PdfReader

from tests.manage import numbers
from tests.web import test_manage_api

api = test_manage_api.api
runtime = test_manage_api.runtime
stranger = test_manage_api.stranger


def _opt_in(client: TestClient, number: str, cid: str, **evidence: str) -> dict:
    item = {"contact_id": number, "correlation_id": cid, "status": "opt-in", "source": "website"}
    if evidence:
        item["evidence"] = evidence
    response = client.post("/api/v1/consents/bulk", json={"items": [item]})
    assert response.status_code == 200, response.text
    return response.json()["items"][0]


def test_opt_in_evidence_is_recorded_and_a_bare_opt_in_is_shown_weaker(api) -> None:
    strong, weak = numbers(2, seed=301)
    done = _opt_in(
        api,
        strong,
        "form-1",
        consent_version="2026-11",
        consent_text="Yes, text me Acme deals. Reply STOP to cancel.",
        captured_at="2026-11-30T10:00:00Z",
        ip="2001:db8::1",
        user_agent="Mozilla/5.0",
        reference_url="https://acme.example/join",
    )
    assert done["success"] and done["changed"] and done["event_seq"]
    assert _opt_in(api, weak, "crm-1")["changed"]
    # Sent again (a retry): recognised, not recorded twice.
    assert _opt_in(api, weak, "crm-1")["changed"] is False

    packet = api.get(f"/api/v1/consents/{strong}/evidence.json").json()
    [event] = packet["events"]
    assert event["evidence"]["ip"] == "2001:db8::1" and event["evidence_strength"] == "documented"
    weak_packet = api.get(f"/api/v1/consents/{weak}/evidence.json").json()
    assert [e["evidence_strength"] for e in weak_packet["events"]] == ["none"]

    pdf = api.get(f"/api/v1/consents/{weak}/evidence.pdf")
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert "attachment" in pdf.headers["content-disposition"]
    text = " ".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.content)).pages)
    assert "WEAK: recorded without any evidence of consent" in " ".join(text.split())


@pytest.mark.parametrize(
    ("evidence", "field"),
    [
        ({"ip": "not-an-ip"}, "ip"),
        ({"reference_url": "javascript:alert(1)"}, "reference_url"),
        ({"consent_text": "x" * 2001}, "consent_text"),
        ({"captured_at": "2999-01-01T00:00:00Z"}, "captured_at"),
        ({"captured_at": "2026-01-01T00:00:00"}, "captured_at"),
        ({"favourite_colour": "blue"}, "favourite_colour"),
    ],
)
def test_bad_evidence_fails_that_record_alone(api, evidence, field) -> None:
    bad, good = numbers(2, seed=302)
    items = [
        {"contact_id": bad, "correlation_id": "b", "status": "opt-in", "source": "website",
         "evidence": evidence},
        {"contact_id": good, "correlation_id": "g", "status": "opt-in", "source": "website"},
    ]  # fmt: skip
    result = api.post("/api/v1/consents/bulk", json={"items": items}).json()["items"]
    assert result[0]["error_code"] == "INVALID_EVIDENCE" and field in result[0]["error_messages"][0]
    assert result[1]["success"] and result[1]["changed"]
    assert api.get(f"/api/v1/consents/{bad}/evidence.json").json()["events"] == []


def test_another_workspace_gets_only_its_own_empty_packet(api, stranger) -> None:
    [number] = numbers(1, seed=303)
    _opt_in(api, number, "x-1", consent_version="v1")
    theirs = stranger.get(f"/api/v1/consents/{number}/evidence.json").json()
    assert theirs["events"] == [] and theirs["messages"] == []
    assert stranger.get(f"/api/v1/consents/{number}/evidence.pdf").status_code == 200


def test_a_list_member_import_records_each_opt_in_with_its_evidence(api, engine, created) -> None:
    from stopline.services import ledger

    a, b, left = numbers(3, seed=304)
    made = api.post("/api/v1/lists", json={"name": "Deals"}).json()
    assert api.post(f"/api/v1/lists/{made['id']}/opt-outs", json={"number": left}).status_code < 300
    evidence = {
        "source": "spring fair sign-up sheet",
        "consent_version": "paper-2026-03",
        "captured_at": "2026-03-14T15:00:00Z",
        "reference_url": "https://acme.example/scans/fair-2026.pdf",
    }
    body = {"numbers": [a, b, left], "evidence": evidence}
    result = api.post(f"/api/v1/lists/{made['id']}/members", json=body).json()
    assert sorted(result["added"]) == sorted([a, b, left])
    # The number that opted out of the list is added but not re-subscribed.
    assert result["consent_recorded"] == 2

    packet = api.get(f"/api/v1/consents/{a}/evidence.json").json()
    # Joining the list is in the ledger too (memberships are events); the opt-in carries the
    # evidence.
    assert [e["action"] for e in packet["events"]] == ["list_subscribe", "list_opt_in"]
    event = packet["events"][1]
    assert (event["action"], event["method"], event["list_name"]) == ("list_opt_in", "import", "Deals")
    assert event["evidence"]["consent_version"] == "paper-2026-03"
    assert event["evidence_strength"] == "documented" and packet["verification"]["verified"]
    with engine.connect() as conn:  # the bulk-hashed events chain like any other
        assert ledger.verify(conn, created.workspace.id).ok

    bad = api.post(
        f"/api/v1/lists/{made['id']}/members",
        json={"numbers": [numbers(1, seed=305)[0]], "evidence": {"ip": "nope"}},
    )
    assert bad.status_code in (400, 422) and "ip" in bad.text
    members = api.get(f"/api/v1/lists/{made['id']}/members").json()
    assert members["total"] == 3  # nothing half-written
