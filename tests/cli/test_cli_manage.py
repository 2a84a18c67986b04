"""Managing opt-outs from the command line: import, export, edit, links, contacts, lists, consents."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import openpyxl

from tests.manage import national, numbers


def test_import_reports_every_row_and_export_gives_the_numbers_back(
    cli, workspace_slug, tmp_path
) -> None:
    wanted = numbers(5, seed=120)
    path = tmp_path / "optouts.csv"
    path.write_bytes(
        "\ufeffname;cell phone\n".encode()
        + "".join(f"P{i};{national(n)}\n" for i, n in enumerate(wanted)).encode()
        + b"\nBad;hello\nDup;"
        + wanted[0].encode()
        + b"\n"
    )
    report_path = tmp_path / "report.csv"
    result = cli(
        "optouts", "import", str(path), "--reason", "Old CRM", "--report", str(report_path),
        "-w", workspace_slug, "--json",
    )  # fmt: skip
    assert result.code == 0, result.err
    data = result.json()
    assert (data["added"], data["rejected"], data["skipped_duplicate"]) == (5, 1, 1)
    assert data["report_file"] == str(report_path)
    rows = list(csv.DictReader(io.StringIO(report_path.read_text(encoding="utf-8-sig"))))
    assert [(r["row"], r["outcome"]) for r in rows] == [("8", "rejected"), ("9", "duplicate")]
    out = tmp_path / "export.csv"
    exported = cli(
        "optouts", "export", "--out", str(out), "--method", "import", "-w", workspace_slug
    )
    assert exported.code == 0 and "5 opt-out(s)" in exported.out
    with open(out, newline="", encoding="utf-8-sig") as handle:
        listed = list(csv.DictReader(handle))
    assert {r["number"] for r in listed} == set(wanted)
    assert {r["reason"] for r in listed} == {"Old CRM"}
    human = cli("optouts", "import", str(path), "--reason", "again", "-w", workspace_slug)
    assert human.code == 0 and "already opted out" in human.out


def test_export_to_stdout(cli, workspace_slug) -> None:
    number = numbers(1, seed=121)[0]
    cli("optouts", "add", number, "--reason", "=2+2", "-w", workspace_slug)
    result = cli("optouts", "export", "-w", workspace_slug)
    assert result.code == 0 and "1 opt-out(s) exported" in result.err
    rows = list(csv.DictReader(io.StringIO(result.out.lstrip("\ufeff"))))
    assert [(r["number"], r["reason"]) for r in rows] == [(number, "'=2+2")]


def test_a_bad_import_file_is_one_clear_line_and_nothing_imported(
    cli, workspace_slug, tmp_path
) -> None:
    path = tmp_path / "people.csv"
    path.write_text("name,city\nAnn,Oslo\nBob,Rome\n")
    result = cli("optouts", "import", str(path), "--reason", "x", "-w", workspace_slug)
    assert result.code == 2 and "phone_column_not_found" in result.err
    assert "Traceback" not in result.err and len(result.err.strip().splitlines()) == 1
    assert cli("optouts", "list", "-w", workspace_slug, "--json").json()["total"] == 0
    missing = cli(
        "optouts", "import", str(tmp_path / "nope.csv"), "--reason", "x", "-w", workspace_slug
    )
    assert missing.code == 2


def test_import_an_xlsx_choosing_the_column(cli, workspace_slug, tmp_path) -> None:
    wanted = numbers(2, seed=122)
    book = openpyxl.Workbook()
    book.active.append(["Home", "Mobile"])
    for n in wanted:
        book.active.append(["+14155550100", n])
    path = tmp_path / "book.xlsx"
    book.save(path)
    result = cli(
        "optouts",
        "import",
        str(path),
        "--reason",
        "sheet",
        "--column",
        "2",
        "-w",
        workspace_slug,
        "--json",
    )
    assert result.code == 0, result.err
    assert result.json()["added"] == 2 and result.json()["format"] == "xlsx"


def _with_consent_note(database_url: str, slug: str) -> None:
    from stopline.services import workspaces
    from stopline.store.db import make_engine, write

    engine = make_engine(database_url)
    with write(engine) as conn:
        ws = workspaces.resolve_workspace(conn, slug)
        owner = workspaces.Principal(workspace_id=ws.id, role="owner", actor="test")
        workspaces.update_settings(conn, owner, {"resubscribe_policy": "with_consent_note"})
    engine.dispose()


def test_edit_show_and_reply_method_refusal(cli, workspace_slug, database_url) -> None:
    wrong, right = numbers(2, seed=123)
    cli("optouts", "add", wrong, "--reason", "first", "-w", workspace_slug)
    edited = cli("optouts", "edit", wrong, "--reason", "better", "-w", workspace_slug, "--json")
    assert edited.code == 0 and edited.json()["events"][0]["action"] == "amend"
    refused = cli("optouts", "edit", wrong, "--number", right, "-w", workspace_slug)
    assert refused.code != 0 and "recipient" in refused.err  # recipient_only: no release
    _with_consent_note(database_url, workspace_slug)
    moved = cli(
        "optouts", "edit", wrong, "--number", right, "--consent-note", "typo",
        "-w", workspace_slug, "--json",
    )  # fmt: skip
    assert [e["action"] for e in moved.json()["events"]] == ["retract", "opt_out"]
    shown = cli("optouts", "show", right, "-w", workspace_slug, "--json").json()
    assert shown["opt_outs"][0]["reason"] == "better"
    assert (
        cli("optouts", "show", wrong, "-w", workspace_slug, "--json").json()["opted_out"] is False
    )
    nothing = cli("optouts", "edit", right, "-w", workspace_slug)
    assert nothing.code == 2 and "nothing_to_edit" in nothing.err


def test_opt_out_link(cli, workspace_slug, monkeypatch) -> None:
    number = numbers(1, seed=124)[0]
    no_url = cli("optouts", "link", number, "-w", workspace_slug)
    assert no_url.code == 2 and "STOPLINE_PUBLIC_URL" in no_url.err
    monkeypatch.setenv("STOPLINE_PUBLIC_URL", "https://sl.example.com")
    made = cli("optouts", "link", national(number), "-w", workspace_slug, "--json")
    assert made.code == 0 and made.json()["url"].startswith("https://sl.example.com/o/")
    short = cli("optouts", "link", number, "--days", "30", "-w", workspace_slug)
    assert short.code == 2 and "link_validity_invalid" in short.err


def test_contacts_notes_merge_and_bulk_unsubscribe(cli, workspace_slug) -> None:
    a, b, c = numbers(3, seed=125)
    first = cli(
        "contacts", "add", "--name", "Fan One", "--number", a, "-w", workspace_slug, "--json"
    ).json()
    second = cli(
        "contacts", "add", "--name", "Fan Two", "--number", b, "--note", "met at fair",
        "-w", workspace_slug, "--json",
    ).json()  # fmt: skip
    cli("contacts", "add", "--name", "Staff", "--number", c, "-w", workspace_slug)
    assert (
        cli(
            "contacts",
            "note",
            str(first["id"]),
            "Requested opt-out on Sept 2",
            "-w",
            workspace_slug,
        ).code
        == 0
    )
    listed = cli("contacts", "list", "--search", "fan", "-w", workspace_slug, "--json").json()
    assert listed["total"] == 2
    bulk = cli(
        "contacts",
        "bulk-unsubscribe",
        "--search",
        "fan",
        "--yes",
        "--reason",
        "season over",
        "-w",
        workspace_slug,
        "--json",
    )
    assert bulk.code == 0, bulk.err
    assert bulk.json()["opted_out"] == 2 and bulk.json()["reviewed"]["contacts"] == 2
    shown = cli("contacts", "show", str(first["id"]), "-w", workspace_slug, "--json").json()
    assert shown["preferences"][0]["status"] == "opted_out"
    assert shown["notes"][0]["body"] == "Requested opt-out on Sept 2"
    merged = cli(
        "contacts", "merge", str(first["id"]), str(second["id"]), "-w", workspace_slug, "--json"
    )
    assert {n["number"] for n in merged.json()["numbers"]} == {a, b}
    assert cli("contacts", "delete", str(first["id"]), "-w", workspace_slug).code == 0
    assert cli("check", a, "-w", workspace_slug, "--json").json()["code"] == "opted_out"
    assert cli("check", c, "-w", workspace_slug, "--json").json()["allowed"] is True


def test_bulk_unsubscribe_asks_before_acting(cli, workspace_slug, monkeypatch) -> None:
    number = numbers(1, seed=126)[0]
    cli("contacts", "add", "--name", "Maybe", "--number", number, "-w", workspace_slug)
    monkeypatch.setattr("sys.stdin", io.StringIO("n\n"))
    result = cli("contacts", "bulk-unsubscribe", "--search", "maybe", "-w", workspace_slug)
    assert result.code != 0
    assert cli("check", number, "-w", workspace_slug, "--json").json()["allowed"] is True


def test_list_keywords_members_and_list_opt_out(cli, workspace_slug) -> None:
    number = numbers(1, seed=127)[0]
    made = cli("lists", "create", "Offers", "-w", workspace_slug, "--json").json()
    list_id = str(made["id"])
    set_kw = cli(
        "lists", "keywords", list_id, "--opt-out", "optout", "--help-text", "Weekly deals.",
        "-w", workspace_slug, "--json",
    )  # fmt: skip
    assert set_kw.code == 0 and set_kw.json()["keywords"] == {"opt_out": ["OPTOUT"]}
    reserved = cli("lists", "keywords", list_id, "--opt-out", "STOP", "-w", workspace_slug)
    assert reserved.code == 2 and "keyword_reserved" in reserved.err
    cli("lists", "add-members", list_id, number, "-w", workspace_slug)
    assert cli("lists", "opt-out", list_id, number, "-w", workspace_slug, "--json").json()[
        "changed"
    ]
    members = cli("lists", "members", list_id, "-w", workspace_slug, "--json").json()
    assert members["items"][0]["list_opted_out"] is True
    assert (
        cli("lists", "show", list_id, "-w", workspace_slug, "--json").json()["help_text"]
        == "Weekly deals."
    )
    refused = cli("lists", "opt-in", list_id, number, "--consent-note", "ok", "-w", workspace_slug)
    assert refused.code == 2 and "resubscribe_recipient_only" in refused.err


def test_consents_upsert_history_and_evidence(cli, workspace_slug, tmp_path: Path) -> None:
    number = numbers(1, seed=128)[0]
    path = tmp_path / "consents.json"
    path.write_text(
        json.dumps(
            {
                "items": [
                    {
                        "contact_id": number,
                        "correlation_id": "a1",
                        "status": "opt-out",
                        "source": "website",
                    },
                    {
                        "contact_id": "x",
                        "correlation_id": "a2",
                        "status": "opt-out",
                        "source": "website",
                    },
                ]
            }
        )
    )
    result = cli("consents", "upsert", str(path), "-w", workspace_slug, "--json")
    assert result.code == 1  # one record failed
    items = result.json()["items"]
    assert [i["success"] for i in items] == [True, False]
    history = cli("consents", "history", number, "-w", workspace_slug, "--json").json()
    assert history["events"][0]["correlation_id"] == "a1"
    evidence = cli("consents", "evidence", number, "--full-chain", "-w", workspace_slug, "--json")
    assert evidence.code == 0 and evidence.json()["verified"] is True


def test_a_reason_over_its_limit_is_one_line_of_error(cli, workspace_slug) -> None:
    result = cli("optouts", "add", numbers(1)[0], "--reason", "z" * 600, "-w", workspace_slug)
    assert result.code != 0
    assert "at most 500" in result.err and len(result.err.strip().splitlines()) == 1
