"""Importing opt-outs: every row accounted for in the report, bad files refused whole."""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path
from typing import Any

import openpyxl
import pytest
import sqlalchemy as sa

from stopline.domain.consent import Method, Scope, project
from stopline.domain.errors import InvalidInput, NotFound
from stopline.services import exports, imports, jobs, optouts
from stopline.services import ledger as ledger_service
from stopline.store import ledger
from stopline.store.db import read, write
from tests.manage import member, national, numbers, stop_reply

REASON = "Imported from the old CRM"


def run_jobs(engine: sa.Engine, job_id: int, ws_id: int, kinds: list[str]) -> jobs.Job:
    """Run queued jobs of these kinds until this one is finished (others' jobs may be queued)."""
    for _ in range(50):
        with read(engine) as conn:
            job = jobs.get(conn, ws_id, job_id)
        if job.status in ("done", "failed"):
            return job
        jobs.run_next(engine, "test-worker", kinds)
    raise AssertionError("the job never finished")


def read_report(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8-sig") as handle:
        return list(csv.DictReader(handle))


def import_bytes(
    engine: sa.Engine,
    ws: Any,
    tmp_path: Path,
    data: bytes,
    filename: str = "numbers.csv",
    **kw: Any,
) -> imports.ImportReport:
    path = tmp_path / filename
    path.write_bytes(data)
    return imports.run_import(
        engine,
        ws.id,
        path,
        filename=filename,
        reason=kw.pop("reason", REASON),
        actor="member:ann",
        report_dir=tmp_path / "reports",
        workers=kw.pop("workers", 1),
        **kw,
    )


def opted_out(engine: sa.Engine, ws_id: int) -> dict[str, optouts.OptOutRow]:
    with read(engine) as conn:
        rows, _ = optouts.list_opt_outs(conn, ws_id, limit=1000)
    return {r.number: r for r in rows if r.scope == "workspace"}


def test_every_row_is_accounted_for_in_the_report(engine, ws, tmp_path) -> None:
    fresh = numbers(6, seed=50)
    manual, blocked, replied = numbers(3, seed=51)
    with write(engine) as conn:
        optouts.add_opt_out(conn, member(ws), manual, reason="asked on the phone")
        optouts.block(conn, member(ws), blocked, reason="spam")
    stop_reply(engine, ws, replied)
    # (cells, expected outcome, detail); row 1 is the header, blank lines keep their row number.
    rows: list[tuple[list[str], str, Any]] = [
        (["Ann", fresh[0], "a"], "added", fresh[0]),
        (["Bob", national(fresh[1]), "semi; colon"], "added", fresh[1]),
        (["", "", ""], "blank", None),
        (["Cy", "+1 " + fresh[2][2:], 'said "stop"'], "added", fresh[2]),
        (["Di", fresh[0][1:], "dup of row 2"], "duplicate", 2),
        (["Ed", "not a phone", ""], "rejected", "number_not_a_number"),
        (["Fay", '=HYPERLINK("http://x","y")', ""], "rejected", "number_not_a_number"),
        (["Gus", national(manual), ""], "already_opted_out", manual),
        (["Hal", blocked, ""], "already_opted_out", blocked),
        (["Ivy", replied, ""], "already_opted_out", replied),
        (["Jo", "", "no number"], "rejected", "number_empty"),
        (["Kim", "555", ""], "rejected", "number_too_short"),
        (
            ["Lu", "1-" + fresh[3][2:5] + "-" + fresh[3][5:8] + "-" + fresh[3][8:], ""],
            "added",
            fresh[3],
        ),
        (["Mo", fresh[3], ""], "duplicate", 14),
        (["Ned", fresh[4] + " ext. 12", "extension"], "added", fresh[4]),
        (["Oz", "9" * 5000, "huge cell"], "rejected", "number_too_long"),
        (["Pia", "(415) 555-01", ""], "rejected", None),
        (["Quin", fresh[5], "last"], "added", fresh[5]),
    ]
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow(["Name", "Mobile Phone", "Note"])
    for cells, _outcome, _detail in rows:
        if cells == ["", "", ""]:
            buffer.write("\r\n")
        else:
            writer.writerow(cells)
    data = "\ufeff".encode() + buffer.getvalue().encode("utf-8")

    report = import_bytes(engine, ws, tmp_path, data)

    expected: dict[int, tuple[str, Any]] = {
        i + 2: (outcome, detail) for i, (_c, outcome, detail) in enumerate(rows)
    }
    listed = {int(r["row"]): r for r in read_report(tmp_path / "reports" / report.report_file)}
    outcomes = [o for o, _ in expected.values()]
    assert (report.added, report.duplicates, report.already_opted_out, report.rejected) == (
        outcomes.count("added"),
        outcomes.count("duplicate"),
        outcomes.count("already_opted_out"),
        outcomes.count("rejected"),
    )
    assert report.rows == len(rows) - 1  # the blank line is not a row of data
    assert report.phone_column["name"] == "Mobile Phone" and report.warnings == 1
    stored = opted_out(engine, ws.id)
    for row, (outcome, detail) in expected.items():
        if outcome == "added":
            assert row not in listed, row
            assert stored[detail].method == "import" and stored[detail].reason == REASON
            assert stored[detail].actor == "member:ann"
        elif outcome == "blank":
            assert row not in listed
        else:
            assert listed[row]["outcome"] == outcome, row
            if outcome == "duplicate":
                assert int(listed[row]["first_row"]) == detail
            elif outcome == "already_opted_out":
                assert listed[row]["number"] == detail
            elif detail is not None:
                assert listed[row]["code"] == detail, (row, listed[row])
    assert set(listed) == {r for r, (o, _) in expected.items() if o not in ("added", "blank")}
    # Existing records keep their method and reason; the block stays.
    assert (stored[manual].method, stored[manual].reason) == ("manual", "asked on the phone")
    assert stored[replied].method == "reply"
    with read(engine) as conn:
        _, state = optouts.number_state(conn, ws.id, blocked)
        assert state.block is not None and state.block.reason == "spam"
        assert ledger_service.verify(conn, ws.id).ok
        assert project(ledger.iter_events(conn, ws.id)) == ledger.all_states(conn, ws.id)
        events = ledger_service.history(conn, ws.id, fresh[0])
    assert events[0].method is Method.IMPORT and events[0].source == "import: numbers.csv"
    # Untrusted cells are neutralised in the report; the huge cell is cut short.
    assert listed[8]["input"].startswith("'=HYPERLINK")
    assert len(listed[17]["input"]) <= imports.SHOWN_INPUT + 1


def test_an_export_of_an_imported_file_gives_back_the_same_numbers(engine, ws, tmp_path) -> None:
    wanted = numbers(300, seed=52)
    lines = ["phone"] + [national(n) if i % 2 else n for i, n in enumerate(wanted)]
    import_bytes(engine, ws, tmp_path, "\n".join(lines).encode(), workers=2, chunk_size=40)
    out = io.BytesIO()
    exports.write_export(engine, ws.id, exports.ExportFilter(), out)
    exported = list(csv.DictReader(io.StringIO(out.getvalue().decode("utf-8-sig"))))
    assert {r["number"] for r in exported} == set(wanted)
    assert {r["method"] for r in exported} == {"import"}


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("tabs.tsv", b"id\tphone\n1\t+14155550123\n2\t(415) 555-0124\n"),
        ("quoted.csv", b'name,phone\n"Lee, Ann","+1 415 555 0123"\n"multi\nline",4155550124\n'),
        ("crlf-blank.csv", b"phone\r\n\r\n+14155550123\r\n\r\n\r\n4155550124\r\n\r\n"),
        ("latin.csv", "nom;téléphone\nRené;+14155550123\nZoë;415-555-0124\n".encode("cp1252")),
        ("sep.csv", b"sep=;\nphone;x\n+14155550123;1\n415.555.0124;2\n"),
        ("noheader.csv", b"+14155550123\n(415) 555-0124\n"),
    ],
)
def test_csv_dialects_and_encodings_are_read(engine, ws, tmp_path, name, content) -> None:
    report = import_bytes(engine, ws, tmp_path, content, filename=name)
    assert (report.added, report.rejected) == (2, 0)
    assert set(opted_out(engine, ws.id)) == {"+14155550123", "+14155550124"}


def test_xlsx_with_typed_numbers_and_a_chosen_column(engine, ws, tmp_path) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["Customer", "Home", "Cell"])
    sheet.append(["Ann", "+14155550100", 14155550123])
    sheet.append(["Bob", "", "(415) 555-0124"])
    sheet.append([])
    sheet.append(["Cy", "", "=1+1"])
    path = tmp_path / "people.xlsx"
    book.save(path)
    report = import_bytes(
        engine, ws, tmp_path, path.read_bytes(), filename="people.xlsx", column="3"
    )
    assert report.format == "xlsx" and report.phone_column["letter"] == "C"
    assert (report.added, report.rejected) == (2, 1)
    assert set(opted_out(engine, ws.id)) == {"+14155550123", "+14155550124"}


def _zip_bomb(tmp_path: Path) -> bytes:
    book = openpyxl.Workbook()
    book.active.append(["phone"])
    book.active.append(["+14155550123"])
    path = tmp_path / "base.xlsx"
    book.save(path)
    out = io.BytesIO()
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            dst.writestr(item, src.read(item))
        dst.writestr("xl/media/padding.xml", b" " * (20 * 1024 * 1024))
    return out.getvalue()


@pytest.mark.parametrize(
    ("name", "make", "code"),
    [
        ("bomb.xlsx", _zip_bomb, "file_zip_bomb"),
        ("broken.xlsx", lambda t: b"PK\x03\x04" + b"\x00" * 200, "file_malformed"),
        (
            "bad.csv",
            lambda t: b"phone\n+1415\x81\x8d\x90555\n" + b"\xff\xfe\x9d" * 10,
            "file_encoding",
        ),
        ("nul.csv", lambda t: b"phone\n+14155550123\n\x00\x00\n", "file_format_unsupported"),
        (
            "late-nul.csv",
            lambda t: b"phone\n" + b"4155550123\n" * 9000 + b"\x00\n",
            "file_malformed",
        ),
        ("none.csv", lambda t: b"name,city\nAnn,Paris\nBob,Oslo\n", "phone_column_not_found"),
        ("empty.csv", lambda t: b"", "file_empty"),
        ("header.csv", lambda t: b"phone\n\n\n", "file_empty"),
        ("photo.csv", lambda t: b"\x89PNG\r\n\x1a\n" + b"\x00" * 50, "file_format_unsupported"),
    ],
)
def test_a_bad_file_is_refused_with_a_clear_error_and_nothing_imported(
    engine, ws, tmp_path, name, make, code
) -> None:
    with pytest.raises(InvalidInput) as exc:
        import_bytes(engine, ws, tmp_path, make(tmp_path), filename=name)
    assert exc.value.code == code
    assert opted_out(engine, ws.id) == {}
    assert not list((tmp_path / "reports").glob("*.csv"))


def test_a_file_that_breaks_half_way_imports_nothing(engine, ws, tmp_path) -> None:
    good = numbers(50, seed=53)
    huge = "x" * (200 * 1024)  # past the CSV field limit: the file is malformed at that row
    content = "phone,note\n" + "".join(f"{n},ok\n" for n in good) + f"+14155550100,{huge}\n"
    with pytest.raises(InvalidInput) as exc:
        import_bytes(engine, ws, tmp_path, content.encode(), workers=2, chunk_size=10)
    assert exc.value.code == "file_malformed" and exc.value.detail["row"] == 52
    with pytest.raises(InvalidInput) as too_many:
        import_bytes(engine, ws, tmp_path, content.encode(), max_rows=20)
    assert too_many.value.code == "too_many_rows"
    assert opted_out(engine, ws.id) == {}
    with read(engine) as conn:
        assert ledger_service.verify(conn, ws.id).events == 0


def test_an_oversized_upload_is_cut_off_and_removed(engine, ws, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(imports, "MAX_UPLOAD_BYTES", 1000)
    with pytest.raises(InvalidInput) as exc:
        imports.store_upload(tmp_path, ws.id, [b"phone\n", b"4155550123\n" * 200], "big.csv")
    assert exc.value.code == "file_too_large"
    assert list(imports.uploads_dir(tmp_path, ws.id).iterdir()) == []


def test_upload_names_never_reach_the_file_system(tmp_path, ws) -> None:
    upload = imports.store_upload(tmp_path, ws.id, b"phone\n4155550123\n", "../../etc/passwd.csv")
    assert upload.path.parent == imports.uploads_dir(tmp_path, ws.id)
    assert upload.filename == "passwd.csv" and upload.path.suffix == ".csv"
    assert upload.path.stat().st_mode & 0o777 == 0o600


def test_import_job_reports_progress_and_result_and_removes_the_upload(
    engine, ws, tmp_path
) -> None:
    wanted = numbers(20, seed=54)
    content = ("phone\n" + "\n".join(wanted + wanted[:3] + ["nope"]) + "\n").encode()
    upload = imports.store_upload(tmp_path, ws.id, content, "crm.csv")
    job = imports.start_import(engine, member(ws), upload, data_dir=tmp_path, reason=REASON)
    assert job.status == "queued" and job.payload["file"]["phone_column"]["name"] == "phone"
    done = run_jobs(engine, job.id, ws.id, [imports.KIND])
    assert done.status == "done", done.error
    result = done.result or {}
    assert (result["added"], result["skipped_duplicate"], result["rejected"]) == (20, 3, 1)
    assert done.progress_done == result["rows"] == 24
    assert not upload.path.exists()
    report = read_report(imports.report_path(tmp_path, done))
    assert [r["outcome"] for r in report] == ["duplicate"] * 3 + ["rejected"]
    with read(engine) as conn:
        event = ledger_service.history(conn, ws.id, wanted[0])[0]
    assert event.source == f"import job {job.id}: crm.csv"


def test_a_bad_upload_is_refused_before_any_job_exists(engine, ws, tmp_path) -> None:
    upload = imports.store_upload(tmp_path, ws.id, b"name\nAnn\nBob\n", "people.csv")
    with pytest.raises(InvalidInput) as exc:
        imports.start_import(engine, member(ws), upload, data_dir=tmp_path, column="Phone")
    assert exc.value.code == "phone_column_not_found"
    assert not upload.path.exists()
    with read(engine) as conn:
        assert jobs.recent(conn, ws.id, kind=imports.KIND) == []


def test_a_retried_job_that_already_committed_does_not_import_twice(engine, ws, tmp_path) -> None:
    upload = imports.store_upload(tmp_path, ws.id, b"phone\n4155550123\n", "one.csv")
    job = imports.start_import(engine, member(ws), upload, data_dir=tmp_path, reason=REASON)
    first = imports.run_import(
        engine,
        ws.id,
        upload.path,
        filename="one.csv",
        reason=REASON,
        actor="member:ann",
        report_dir=tmp_path / "r",
        job_id=job.id,
        workers=1,
    )
    with read(engine) as conn:
        committed = jobs.get(conn, ws.id, job.id)
    assert committed.status == "done" and committed.result == first.as_dict()
    # A worker that died after the commit: the handler returns the stored result, no re-import.
    again = imports._import_job(engine, committed, jobs.Progress(engine, job.id))
    assert again == first.as_dict()
    with read(engine) as conn:
        assert ledger_service.verify(conn, ws.id).events == 1


def test_report_download_is_limited_to_the_reports_folder(engine, ws, tmp_path) -> None:
    fake = jobs.Job(
        id=1,
        workspace_id=ws.id,
        kind=imports.KIND,
        status="done",
        payload={},
        result={"report_file": "../../secret.key"},
        error=None,
        progress_done=0,
        progress_total=None,
        attempts=1,
        created_by=None,
        created_at=imports.now_utc(),
        finished_at=None,
    )
    (tmp_path / "secret.key").write_text("x")
    with pytest.raises(NotFound):
        imports.report_path(tmp_path, fake)


def test_a_scoped_opt_out_does_not_stop_a_workspace_wide_import(engine, ws, tmp_path) -> None:
    number = numbers(1, seed=55)[0]
    with write(engine) as conn:
        optouts.add_opt_out(conn, member(ws), number, scope=Scope.CHANNEL_TYPE, scope_key="sms")
    report = import_bytes(engine, ws, tmp_path, f"phone\n{number}\n".encode())
    assert report.added == 1
    with read(engine) as conn:
        _, state = optouts.number_state(conn, ws.id, number)
    assert set(state.opt_outs) == {(Scope.CHANNEL_TYPE, "sms"), (Scope.WORKSPACE, "")}


def test_a_stop_between_reading_and_writing_is_kept_and_reported(
    engine, ws, tmp_path, monkeypatch
) -> None:
    """The import is worked out before it takes the ledger lock; a STOP that lands in between
    wins (its record is kept), and the report lists that row as already opted out."""
    wanted = numbers(4, seed=90)
    real = imports.prepare_bulk_opt_out

    def prepare_then_a_stop_arrives(*args: Any, **kw: Any) -> Any:
        prepared = real(*args, **kw)
        stop_reply(engine, ws, wanted[2])
        return prepared

    monkeypatch.setattr(imports, "prepare_bulk_opt_out", prepare_then_a_stop_arrives)
    data = ("phone\n" + "\n".join(national(n) for n in wanted) + "\n").encode()
    report = import_bytes(engine, ws, tmp_path, data)
    assert (report.added, report.already_opted_out, report.report_rows) == (3, 1, 1)
    assert report.samples["already_opted_out"] == [{"row": 4, "number": wanted[2]}]
    lines = read_report(tmp_path / "reports" / str(report.report_file))
    assert [(r["row"], r["outcome"], r["number"]) for r in lines] == [
        ("4", "already_opted_out", wanted[2])
    ]
    with read(engine) as conn:
        kept = ledger.load_state(conn, ws.id, wanted[2])
    assert kept.opt_outs[(Scope.WORKSPACE, "")].method is Method.REPLY
