"""The JSON API for managing opt-outs, through HTTP: every resource, its errors and its scoping."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from litestar.testing import TestClient

from stopline.config import Config
from stopline.runtime import Runtime
from stopline.services import exports, imports, workspaces
from stopline.store.db import write
from stopline.web.app import create_app
from tests.manage import national, numbers, set_policy
from tests.services.test_imports import run_jobs
from tests.web.outbound_server import SECRET


@pytest.fixture
def runtime(engine: sa.Engine, tmp_path: Path) -> Runtime:
    rt = Runtime(
        Config(
            str(engine.url.render_as_string(hide_password=False)),
            tmp_path,
            SECRET,
            "https://sl.example.com",
        )
    )
    rt.__dict__["engine"] = engine  # share the session's engine (cached_property slot)
    return rt


@pytest.fixture
def api(runtime: Runtime, created: workspaces.CreatedWorkspace) -> Iterator[TestClient]:
    with TestClient(create_app(runtime)) as client:
        client.headers["Authorization"] = f"Bearer {created.api_key}"
        yield client


@pytest.fixture
def stranger(runtime: Runtime, engine: sa.Engine) -> Iterator[TestClient]:
    """A client of another workspace."""
    with write(engine) as conn:
        other = workspaces.create_workspace(
            conn,
            name=f"Other {uuid.uuid4().hex[:6]}",
            owner_email=f"o-{uuid.uuid4().hex[:6]}@example.com",
            owner_password="password123",
        )
    with TestClient(create_app(runtime)) as client:
        client.headers["Authorization"] = f"Bearer {other.api_key}"
        yield client


def test_every_route_needs_an_api_key(runtime) -> None:
    with TestClient(create_app(runtime)) as client:
        for path in ("/api/v1/opt-outs", "/api/v1/contacts", "/api/v1/lists", "/api/v1/jobs"):
            response = client.get(path)
            assert response.status_code == 401, path
            assert response.json()["error"]["code"] == "unauthorized"


def test_opt_outs_add_list_read_edit_and_resubscribe(api, engine, ws) -> None:
    number, moved = numbers(2, seed=100)
    added = api.post("/api/v1/opt-outs", json={"number": national(number), "reason": "phone"})
    assert added.status_code == 201 and added.json()["changed"] and added.json()["number"] == number
    again = api.post("/api/v1/opt-outs", json={"number": number, "reason": "other"})
    assert again.status_code == 201 and not again.json()["changed"]
    page = api.get("/api/v1/opt-outs", params={"search": number[-4:], "method": "api"}).json()
    assert page["total"] == 1 and page["items"][0]["reason"] == "phone"
    assert api.get(f"/api/v1/opt-outs/{number}").json()["opt_outs"][0]["method"] == "api"
    edited = api.patch(f"/api/v1/opt-outs/{number}", json={"reason": "asked twice"})
    assert edited.status_code == 200 and edited.json()["events"][0]["action"] == "amend"
    lifted = api.patch(f"/api/v1/opt-outs/{number}", json={"number": moved})
    assert lifted.status_code == 403  # recipient_only: a correction may not release the old one
    assert lifted.json()["error"]["code"] == "resubscribe_recipient_only"
    moved_resp = api.patch(
        f"/api/v1/opt-outs/{number}", json={"number": moved, "keep_old_number": True}
    )
    assert [e["action"] for e in moved_resp.json()["events"]] == ["opt_out"]
    assert api.get(f"/api/v1/consent/{number}").json()["allowed"] is False
    refused = api.post(f"/api/v1/opt-outs/{moved}/resubscribe", json={"consent_note": "yes"})
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "resubscribe_recipient_only"
    set_policy(engine, ws, resubscribe_policy="with_consent_note")
    missing = api.post(f"/api/v1/opt-outs/{moved}/resubscribe", json={})
    assert missing.status_code == 422 and missing.json()["error"]["code"] == "consent_note_required"
    done = api.post(f"/api/v1/opt-outs/{moved}/resubscribe", json={"consent_note": "signed"})
    assert done.status_code == 200 and done.json()["changed"]


def test_bad_opt_out_input_gets_a_clear_error(api) -> None:
    number = numbers(1, seed=101)[0]
    cases = [
        ({"number": number, "method": "reply"}, 422, "reply_method_reserved"),
        ({"number": "hello"}, 422, "number_not_a_number"),
        ({"number": number, "method": "pigeon"}, 422, "method_unknown"),
        ({"number": number, "scope": "galaxy"}, 422, "scope_unknown"),
        ({"number": number, "scope": "channel_type", "scope_key": "SMS"}, 422, "scope_key_invalid"),
        ({"number": number, "scope": "channel", "scope_key": "08"}, 422, "scope_key_invalid"),
        ({"number": number, "scope": "channel", "scope_key": "999"}, 422, "scope_key_invalid"),
        ({"number": number, "reason": "x" * 1001}, 422, "text_too_long"),
    ]
    for body, status, code in cases:
        response = api.post("/api/v1/opt-outs", json=body)
        assert response.status_code == status, body
        assert response.json()["error"]["code"] == code
    assert api.post("/api/v1/opt-outs", json={"reason": "no number"}).status_code == 400
    assert api.patch(f"/api/v1/opt-outs/{number}", json={"reason": "x"}).status_code == 404
    assert api.get("/api/v1/opt-outs", params={"limit": 5000}).status_code == 400


@pytest.mark.parametrize("method", ["link", "carrier", "reply"])
def test_the_api_cannot_claim_the_recipient_asked(api, engine, created, method) -> None:
    """Issue 11, hole 9: `link` and `carrier` say the recipient asked (the link page, the
    provider's report); an app may not record that for them. Refused, and nothing stored."""
    from tests.inbound_kit import events_of, opt_out_rows

    number = numbers(1, seed=140)[0]
    response = api.post("/api/v1/opt-outs", json={"number": number, "method": method})
    assert response.status_code == 422
    assert response.json()["error"]["code"] in ("method_reserved", "reply_method_reserved")
    assert opt_out_rows(engine, created.workspace.id, number) == []
    assert events_of(engine, created.workspace.id, number) == []


@pytest.mark.parametrize("method", ["manual", "api", "import"])
def test_the_api_may_state_the_methods_of_people_and_apps(api, method) -> None:
    number = numbers(1, seed=141)[0]
    response = api.post("/api/v1/opt-outs", json={"number": number, "method": method})
    assert response.status_code == 201
    assert api.get(f"/api/v1/opt-outs/{number}").json()["opted_out"] is True


def test_blocks(api) -> None:
    number = numbers(1, seed=102)[0]
    assert api.post("/api/v1/blocks", json={"number": number, "reason": "spam"}).status_code == 201
    assert api.get("/api/v1/blocks").json()["items"][0]["number"] == number
    assert api.delete(f"/api/v1/blocks/{number}").json()["changed"]
    state = api.get(f"/api/v1/opt-outs/{number}").json()
    assert state["blocked"] is False and state["opted_out"] is True


def test_contacts_notes_merge_preferences_and_actions(api, stranger) -> None:
    a, b = numbers(2, seed=103)
    first = api.post(
        "/api/v1/contacts",
        json={"name": "Dana", "numbers": [{"number": a}], "note": "Met at the fair"},
    ).json()
    second = api.post(
        "/api/v1/contacts", json={"name": "D.", "numbers": [{"number": b, "label": "work"}]}
    ).json()
    taken = api.post("/api/v1/contacts", json={"name": "X", "numbers": [{"number": a}]})
    assert taken.status_code == 409 and taken.json()["error"]["code"] == "number_taken"
    assert (
        api.post(
            f"/api/v1/contacts/{first['id']}/notes", json={"body": "Requested opt-out on Sept 2"}
        ).status_code
        == 201
    )
    merged = api.post(f"/api/v1/contacts/{first['id']}/merge", json={"source_id": second["id"]})
    assert {n["number"] for n in merged.json()["numbers"]} == {a, b}
    assert api.get(f"/api/v1/contacts/{second['id']}").status_code == 404
    detail = api.get(f"/api/v1/contacts/{first['id']}").json()
    assert {n["body"] for n in detail["notes"]} >= {
        "Met at the fair",
        "Requested opt-out on Sept 2",
    }
    assert (
        api.patch(f"/api/v1/contacts/{first['id']}", json={"email": "d@example.com"}).json()[
            "email"
        ]
        == "d@example.com"
    )
    acted = api.post(f"/api/v1/contacts/{first['id']}/opt-out", json={"reason": "asked"}).json()
    assert acted["changed"] == 2
    prefs = api.get(f"/api/v1/contacts/{first['id']}/preferences").json()
    assert {p["status"] for p in prefs["numbers"]} == {"opted_out"}
    assert api.get("/api/v1/contacts", params={"status": "opted_out"}).json()["total"] == 1
    assert stranger.get(f"/api/v1/contacts/{first['id']}").status_code == 404
    assert api.delete(f"/api/v1/contacts/{first['id']}").status_code == 200
    assert api.get(f"/api/v1/opt-outs/{a}").json()["opted_out"]


def test_lists_keywords_members_and_list_opt_outs(api) -> None:
    a, b = numbers(2, seed=104)
    made = api.post(
        "/api/v1/lists",
        json={"name": "Offers", "keywords": {"opt_out": ["optout"]}, "help_text": "Deals weekly."},
    )
    assert made.status_code == 201 and made.json()["keywords"] == {"opt_out": ["OPTOUT"]}
    list_id = made.json()["id"]
    reserved = api.post("/api/v1/lists", json={"name": "Bad", "keywords": {"opt_out": ["STOP"]}})
    assert reserved.status_code == 422 and reserved.json()["error"]["code"] == "keyword_reserved"
    # Hole 1: an opt-in word that Spanish uses to opt out, refused naming the set.
    baja = api.post("/api/v1/lists", json={"name": "Ofertas", "keywords": {"opt_in": ["baja"]}})
    assert baja.status_code == 422 and baja.json()["error"]["keyword_set"] == "es"
    assert "Spanish" in baja.json()["error"]["message"]
    assert api.post(f"/api/v1/lists/{list_id}/members", json={"numbers": [a, national(b)]}).json()[
        "added"
    ] == [a, b]
    assert api.post(f"/api/v1/lists/{list_id}/opt-outs", json={"number": a}).json()["changed"]
    members = api.get(f"/api/v1/lists/{list_id}/members").json()
    assert {m["number"]: m["list_opted_out"] for m in members["items"]} == {a: True, b: False}
    assert api.post(f"/api/v1/lists/{list_id}/opt-ins", json={"number": a}).status_code == 403
    assert (
        api.get(f"/api/v1/consent/{a}", params={"list": list_id}).json()["code"] == "list_opted_out"
    )
    patched = api.patch(f"/api/v1/lists/{list_id}", json={"help_text": "New help"}).json()
    assert patched["help_text"] == "New help" and patched["keywords"] == {"opt_out": ["OPTOUT"]}
    assert api.delete(f"/api/v1/lists/{list_id}").json()["error"]["code"] == "list_has_opt_outs"


def test_import_by_multipart_upload_then_job_then_report(api, runtime, stranger, ws) -> None:
    wanted = numbers(4, seed=105)
    content = (
        "Name,Phone\n"
        + "".join(f"P{i},{n}\n" for i, n in enumerate(wanted))
        + "Bad,12\n"
        + f"Dup,{wanted[0]}\n"
    )
    response = api.post(
        "/api/v1/imports",
        files={"file": ("crm export.csv", content.encode(), "text/csv")},
        data={"reason": "From the CRM", "column": "Phone"},
    )
    assert response.status_code == 202, response.text
    job = response.json()
    assert job["status"] == "queued" and job["file"]["phone_column"]["name"] == "Phone"
    run_jobs(runtime.engine, job["id"], ws.id, [imports.KIND])
    done = api.get(f"/api/v1/imports/{job['id']}").json()
    assert done["status"] == "done", done
    result = done["result"]
    assert (result["added"], result["rejected"], result["skipped_duplicate"]) == (4, 1, 1)
    assert result["samples"]["rejected"][0]["row"] == 6
    report = api.get(done["report"])
    assert report.status_code == 200 and report.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(report.content.decode("utf-8-sig"))))
    assert [(r["row"], r["outcome"]) for r in rows] == [("6", "rejected"), ("7", "duplicate")]
    assert stranger.get(f"/api/v1/imports/{job['id']}").status_code == 404
    assert stranger.get(f"/api/v1/imports/{job['id']}/report.csv").status_code == 404
    listed = api.get("/api/v1/opt-outs", params={"method": "import"}).json()
    assert listed["total"] == 4 and listed["items"][0]["reason"] == "From the CRM"


def test_import_by_raw_body(api, runtime, ws) -> None:
    number = numbers(1, seed=106)[0]
    response = api.post(
        "/api/v1/imports?filename=list.tsv&reason=raw",
        content=f"phone\tname\n{number}\tAnn\n".encode(),
        headers={"content-type": "text/tab-separated-values"},
    )
    assert response.status_code == 202, response.text
    run_jobs(runtime.engine, response.json()["id"], ws.id, [imports.KIND])
    assert api.get(f"/api/v1/opt-outs/{number}").json()["opt_outs"][0]["method"] == "import"


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (b"name,city\nAnn,Oslo\nBo,Rome\n", "phone_column_not_found"),
        (b"", "file_empty"),
        (b"PK\x03\x04" + b"\x00" * 64, "file_malformed"),
        (b"phone\n\x81\x8d\x90\x9d\n", "file_encoding"),
    ],
)
def test_a_bad_upload_is_refused_at_once(api, runtime, ws, content, code) -> None:
    response = api.post("/api/v1/imports", files={"file": ("x.csv", content, "text/csv")})
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == code
    assert list(imports.uploads_dir(runtime.config.data_dir, ws.id).glob("*")) == []


def test_an_oversized_upload_is_cut_off(api, runtime, ws, monkeypatch) -> None:
    monkeypatch.setattr(imports, "MAX_UPLOAD_BYTES", 2048)
    body = b"phone\n" + b"+14155550123\n" * 1000
    response = api.post("/api/v1/imports", files={"file": ("big.csv", body, "text/csv")})
    assert response.status_code == 422 and response.json()["error"]["code"] == "file_too_large"
    assert list(imports.uploads_dir(runtime.config.data_dir, ws.id).glob("*")) == []
    missing = api.post("/api/v1/imports", files={"other": ("x.csv", b"phone\n1\n", "text/csv")})
    assert missing.status_code == 422 and missing.json()["error"]["code"] == "file_required"


def test_export_job_and_download(api, runtime, stranger, ws) -> None:
    wanted = numbers(3, seed=107)
    for n in wanted:
        api.post("/api/v1/opt-outs", json={"number": n, "reason": "=1+1"})
    started = api.post("/api/v1/exports", json={"method": "api"})
    assert started.status_code == 202
    job_id = started.json()["id"]
    early = api.get(f"/api/v1/exports/{job_id}/download")
    assert early.status_code == 404 and early.json()["error"]["code"] == "export_not_ready"
    run_jobs(runtime.engine, job_id, ws.id, [exports.KIND])
    job = api.get(f"/api/v1/exports/{job_id}").json()
    assert job["status"] == "done" and job["result"]["rows"] == 3
    download = api.get(job["download"])
    assert download.status_code == 200
    rows = list(csv.DictReader(io.StringIO(download.content.decode("utf-8-sig"))))
    assert {r["number"] for r in rows} == set(wanted) and {r["reason"] for r in rows} == {"'=1+1"}
    assert stranger.get(f"/api/v1/exports/{job_id}/download").status_code == 404
    assert api.get("/api/v1/jobs", params={"kind": "export"}).json()["items"][0]["id"] == job_id
    assert api.get(f"/api/v1/jobs/{job_id}").json()["progress"]["done"] == 3
    no_mail = api.post("/api/v1/exports", json={"email": "me@example.com"})
    assert no_mail.status_code == 422 and no_mail.json()["error"]["code"] == "email_not_configured"


def test_bulk_unsubscribe_preview_confirm_and_stale(api) -> None:
    fans = numbers(3, seed=108)
    for i, n in enumerate(fans):
        api.post("/api/v1/contacts", json={"name": f"Fan {i}", "numbers": [{"number": n}]})
    preview = api.post("/api/v1/bulk-unsubscribe/preview", json={"search": "fan"}).json()
    assert (preview["contacts"], preview["numbers"], preview["to_opt_out"]) == (3, 3, 3)
    api.post(
        "/api/v1/contacts",
        json={"name": "Fan late", "numbers": [{"number": numbers(1, seed=109)[0]}]},
    )
    stale = api.post("/api/v1/bulk-unsubscribe/confirm", json={"token": preview["token"]})
    assert stale.status_code == 409 and stale.json()["error"]["code"] == "bulk_audience_changed"
    fresh = api.post("/api/v1/bulk-unsubscribe/preview", json={"search": "fan"}).json()
    done = api.post(
        "/api/v1/bulk-unsubscribe/confirm", json={"token": fresh["token"], "reason": "Season over"}
    )
    assert done.status_code == 200 and done.json()["opted_out"] == 4
    forged = api.post(
        "/api/v1/bulk-unsubscribe/confirm", json={"token": fresh["token"][:-4] + "AAAA"}
    )
    assert forged.status_code == 403


def test_consent_records_history_and_evidence(api) -> None:
    a, b = numbers(2, seed=110)
    items = [
        {"contact_id": a, "correlation_id": "c-1", "status": "opt-out", "source": "website"},
        {"contact_id": "nope", "correlation_id": "c-2", "status": "opt-out", "source": "website"},
        {"contact_id": b, "correlation_id": "c-3", "status": "opt-in", "source": "offline"},
    ]
    response = api.post("/api/v1/consents/bulk", json={"items": items})
    assert response.status_code == 200
    body = response.json()
    # The opt-in of a number that never opted out is recorded too: proving it is the point.
    assert body["summary"] == {"received": 3, "succeeded": 2, "failed": 1, "changed": 2}
    assert body["items"][1]["error_code"] == "INVALID_CONTACT_ID"
    history = api.get(f"/api/v1/consents/{a}").json()
    assert [e["correlation_id"] for e in history["events"]] == ["c-1"]
    evidence = api.get(f"/api/v1/consents/{a}/evidence", params={"full_chain": "true"}).json()
    assert (
        evidence["verified"]
        and evidence["chain"]["ok"]
        and len(evidence["events"][0]["hash"]) == 64
    )
    assert api.post("/api/v1/consents/bulk", json={"items": []}).status_code == 422


def test_opt_out_link_page(api, runtime, ws) -> None:
    number = numbers(1, seed=111)[0]
    made = api.post("/api/v1/opt-out-links", json={"number": national(number)})
    assert made.status_code == 201
    url = made.json()["url"]
    assert url.startswith("https://sl.example.com/o/")
    path = url.removeprefix("https://sl.example.com")
    assert api.post("/api/v1/opt-out-links", json={"number": number, "days": 30}).status_code == 422
    with TestClient(create_app(runtime)) as public:  # no API key: the link is the credential
        page = public.get(path)
        assert page.status_code == 200 and "Stop messages" in page.text
        assert number not in page.text and number[-4:] in page.text
        assert page.headers["referrer-policy"] == "no-referrer"
        assert api.get(f"/api/v1/opt-outs/{number}").json()["opted_out"] is False
        done = public.post(path)
        assert done.status_code == 200 and "no more messages" in done.text
        again = public.get(path)
        assert "already unsubscribed" in again.text
        token = path.removeprefix("/o/")
        body, mac = token.split(".")
        tampered = public.post("/o/" + body[:-1] + ("A" if body[-1] != "A" else "B") + "." + mac)
        assert tampered.status_code == 400 and "not valid" in tampered.text
        expired = runtime.keyring.sign("optout_link", {"w": ws.id, "n": number}, ttl_seconds=-1)
        assert public.get("/o/" + expired).status_code == 410
    state = api.get(f"/api/v1/opt-outs/{number}").json()
    assert state["opt_outs"][0]["method"] == "link" and state["opt_outs"][0]["actor"] == "recipient"


def test_the_api_is_documented(api) -> None:
    paths = api.get("/api/docs/openapi.json").json()["paths"]
    for path in (
        "/api/v1/opt-outs",
        "/api/v1/opt-outs/{number}",
        "/api/v1/blocks",
        "/api/v1/contacts/{contact_id}/preferences",
        "/api/v1/lists/{list_id}/members",
        "/api/v1/imports",
        "/api/v1/exports/{job_id}/download",
        "/api/v1/jobs/{job_id}",
        "/api/v1/bulk-unsubscribe/confirm",
        "/api/v1/consents/bulk",
        "/api/v1/consents/{number}/evidence",
        "/api/v1/opt-out-links",
    ):
        assert path in paths, path
