"""Importing opt-outs from a CSV or XLSX file, as a background job with a row-by-row report.

The upload is stored (bounded) under the data directory, checked at once (format, encoding, zip
bomb, phone column) so a bad file is refused before any job exists, then imported by the
`import` job: every row is read and normalised first (fanned out over processes), with nothing
written; only a file that reads to the end is written, in one transaction through
`services.consent.bulk_opt_out` (method `import`, one reason for every row). A malformed,
oversized or truncated file therefore imports nothing at all.

Duplicates within the file and numbers already opted out (or blocked) are skipped, never
overwritten: an existing opt-out keeps its method and reason. The report counts what was added,
skipped and rejected; every row that was not added is listed with its row number and why in a
CSV report, and the first rows of each kind are kept in the job result.
"""

from __future__ import annotations

import csv
import hashlib
import heapq
import os
import secrets
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Engine

from stopline.domain import limits
from stopline.domain.consent import Method
from stopline.domain.errors import InvalidInput, NotFound
from stopline.files import csv_export, normalize_pool, tabular
from stopline.services import jobs
from stopline.services.consent import now_utc, prepare_bulk_opt_out, write_prepared_bulk
from stopline.services.workspaces import Principal, get_workspace
from stopline.store import jobs as job_store
from stopline.store.db import bulk_write, read, write

KIND = "import"
MAX_UPLOAD_BYTES = tabular.DEFAULT_MAX_BYTES  # 100 MB
MAX_ROWS = tabular.DEFAULT_MAX_ROWS  # 2,000,000 data rows
MAX_REASON = limits.limit_of("reason")
SAMPLE = 100  # rows of each outcome kept in the job result; the CSV report has them all
SHOWN_INPUT = 200  # characters of a rejected cell kept in the report
REPORT_HEADER = ["row", "outcome", "input", "number", "code", "message", "first_row"]
Progress = Callable[[int, int | None], None]


# --- uploads ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Upload:
    """An uploaded file kept under the data directory until its import has run."""

    path: Path
    filename: str  # the name the user gave it (display and format hint only)
    size: int
    sha256: str


def uploads_dir(data_dir: Path, workspace_id: int) -> Path:
    return Path(data_dir) / "uploads" / str(int(workspace_id))


def reports_dir(data_dir: Path, workspace_id: int) -> Path:
    return Path(data_dir) / "imports" / str(int(workspace_id))


def _private_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def _display_name(filename: str | None) -> str:
    name = os.path.basename((filename or "").replace("\\", "/")).strip()
    name = "".join(ch for ch in name if ch.isprintable())
    return name[:200] or "upload.csv"


class UploadWriter:
    """Receives an upload piece by piece (a streamed request), refusing it past `max_bytes`.

    The stored name is random (never the user's), so a file name cannot reach the file system;
    the file is private to the server (0600) and removed if the upload is refused or abandoned.
    """

    def __init__(
        self,
        data_dir: Path,
        workspace_id: int,
        filename: str | None,
        *,
        max_bytes: int | None = None,
    ) -> None:
        self.filename = _display_name(filename)
        ext = os.path.splitext(self.filename)[1].lower()
        suffix = ext if ext in (".csv", ".txt", ".tsv", ".xlsx") else ".bin"
        directory = _private_dir(uploads_dir(data_dir, workspace_id))
        self.path = directory / f"{secrets.token_hex(12)}{suffix}"
        self.max_bytes = max_bytes or MAX_UPLOAD_BYTES
        self.size = 0
        self._digest = hashlib.sha256()
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        self._out: IO[bytes] | None = os.fdopen(fd, "wb")

    def write(self, block: bytes) -> None:
        assert self._out is not None, "upload already finished"
        self.size += len(block)
        if self.size > self.max_bytes:
            self.abort()
            raise InvalidInput(
                f"The file is larger than the {self.max_bytes // (1024 * 1024)} MB limit.",
                code="file_too_large",
                max_bytes=self.max_bytes,
            )
        self._digest.update(block)
        self._out.write(block)

    def finish(self) -> Upload:
        assert self._out is not None, "upload already finished"
        self._out.close()
        self._out = None
        return Upload(self.path, self.filename, self.size, self._digest.hexdigest())

    def abort(self) -> None:
        if self._out is not None:
            self._out.close()
            self._out = None
        self.path.unlink(missing_ok=True)


def store_upload(
    data_dir: Path,
    workspace_id: int,
    content: bytes | Iterable[bytes] | IO[bytes],
    filename: str | None,
    *,
    max_bytes: int | None = None,
) -> Upload:
    """Copy an upload (bytes, chunks or a file) to the data directory; see `UploadWriter`."""
    if isinstance(content, bytes | bytearray):
        blocks: Iterable[bytes] = [bytes(content)]
    elif hasattr(content, "read"):
        stream = content
        blocks = iter(lambda: stream.read(1024 * 1024), b"")  # type: ignore[union-attr]
    else:
        blocks = content  # type: ignore[assignment]
    writer = UploadWriter(data_dir, workspace_id, filename, max_bytes=max_bytes)
    try:
        for block in blocks:
            writer.write(block)
    except BaseException:
        writer.abort()
        raise
    return writer.finish()


@dataclass(frozen=True)
class FileCheck:
    """What a quick look at an upload found: its format and phone column."""

    format: str
    phone_column: dict[str, Any]
    header: list[str]
    rows_estimate: int
    encoding: str | None
    delimiter: str | None
    sheet: str | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "phone_column": self.phone_column,
            "header": self.header[:50],
            "rows_estimate": self.rows_estimate,
            "encoding": self.encoding,
            "delimiter": self.delimiter,
            "sheet": self.sheet,
        }


def _column_dict(table: tabular.Table) -> dict[str, Any]:
    col = table.phone_column
    return {"name": col.name, "number": col.number, "letter": col.letter}


def check_file(
    path: Path, filename: str, column: str | int | None = None, *, max_rows: int | None = None
) -> FileCheck:
    """Open the file as the import will (encoding, format, zip-bomb limits, phone column)."""
    with tabular.read_table(
        path,
        filename=filename,
        max_bytes=MAX_UPLOAD_BYTES,
        max_rows=max_rows or MAX_ROWS,
        phone_column=column,
    ) as table:
        return FileCheck(
            format=table.format,
            phone_column=_column_dict(table),
            header=list(table.header),
            rows_estimate=max(0, table.last_row_estimate - (table.header_row or 0)),
            encoding=table.encoding,
            delimiter=table.delimiter,
            sheet=table.sheet_name,
        )


def _column(value: str | int | None) -> str | int | None:
    """A chosen column: a header name, or a 1-based column number given as digits."""
    if isinstance(value, str):
        value = value.strip()
        if not value:
            return None
        if value.isdigit():
            return int(value)
    return value


def _reason(reason: str | None) -> str | None:
    reason = (reason or "").strip() or None
    if reason is not None and len(reason) > MAX_REASON:
        raise InvalidInput(
            f"The reason is at most {MAX_REASON} characters.", code="reason_too_long"
        )
    return reason


def start_import(
    engine: Engine,
    principal: Principal,
    upload: Upload,
    *,
    data_dir: Path,
    reason: str | None = None,
    column: str | int | None = None,
) -> jobs.Job:
    """Check the upload and queue its import; a bad file is refused now (and deleted)."""
    try:
        principal.require("member")
        reason = _reason(reason)
        column = _column(column)
        checked = check_file(upload.path, upload.filename, column)
        with write(engine) as conn:
            region = get_workspace(conn, principal.workspace_id).policy.default_region
            return jobs.enqueue(
                conn,
                principal.workspace_id,
                KIND,
                {
                    "upload_path": str(upload.path),
                    "filename": upload.filename,
                    "size": upload.size,
                    "sha256": upload.sha256,
                    "reason": reason,
                    "column": column,
                    "region": region,
                    "actor": principal.actor,
                    "report_dir": str(reports_dir(data_dir, principal.workspace_id)),
                    "file": checked.as_dict(),
                },
                created_by=principal.actor,
                total=checked.rows_estimate,
            )
    except BaseException:
        upload.path.unlink(missing_ok=True)
        raise


# --- the import itself -----------------------------------------------------------------------


@dataclass
class ImportReport:
    filename: str
    sha256: str | None
    format: str
    phone_column: dict[str, Any]
    region: str
    reason: str | None
    rows: int = 0
    added: int = 0
    duplicates: int = 0
    already_opted_out: int = 0
    rejected: int = 0
    warnings: int = 0
    samples: dict[str, list[dict[str, Any]]] = field(
        default_factory=lambda: {"rejected": [], "duplicates": [], "already_opted_out": []}
    )
    warning_samples: list[dict[str, Any]] = field(default_factory=list)
    report_file: str | None = None
    report_rows: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "filename": self.filename,
            "sha256": self.sha256,
            "format": self.format,
            "phone_column": self.phone_column,
            "region": self.region,
            "reason": self.reason,
            "rows": self.rows,
            "added": self.added,
            "skipped_duplicate": self.duplicates,
            "skipped_already_opted_out": self.already_opted_out,
            "rejected": self.rejected,
            "warnings": self.warnings,
            "samples": self.samples,
            "warning_samples": self.warning_samples,
            "report_file": self.report_file,
            "report_rows": self.report_rows,
            "seconds": round(self.seconds, 3),
        }


def _shown(raw: str) -> str:
    return raw if len(raw) <= SHOWN_INPUT else raw[:SHOWN_INPUT] + "…"


def run_import(
    engine: Engine,
    workspace_id: int,
    path: Path,
    *,
    filename: str,
    reason: str | None,
    actor: str,
    region: str | None = None,
    column: str | int | None = None,
    report_dir: Path,
    sha256: str | None = None,
    job_id: int | None = None,
    progress: Progress | None = None,
    workers: int | None = None,
    chunk_size: int = 20_000,
    max_rows: int | None = None,
) -> ImportReport:
    """Read, normalise and check every row, then write all new opt-outs in one transaction.

    With `job_id`, the job is marked done with this report in that same transaction, so a
    worker that dies after the commit cannot import the file twice.
    """
    started = time.perf_counter()
    reason = _reason(reason)
    if region is None:
        with read(engine) as conn:
            region = get_workspace(conn, workspace_id).policy.default_region
    directory = _private_dir(Path(report_dir))
    name = f"job-{job_id}" if job_id is not None else f"cli-{secrets.token_hex(6)}"
    scratch = directory / f".{name}-{secrets.token_hex(4)}.partial"
    final = directory / f"{name}-report.csv"
    try:
        with tabular.read_table(
            path,
            filename=filename,
            max_bytes=MAX_UPLOAD_BYTES,
            max_rows=max_rows or MAX_ROWS,
            phone_column=_column(column),
        ) as table:
            report = ImportReport(
                filename=filename,
                sha256=sha256,
                format=table.format,
                phone_column=_column_dict(table),
                region=region,
                reason=reason,
            )
            first_row: dict[str, int] = {}
            with open(scratch, "w", newline="", encoding="utf-8") as spill:
                _read_rows(table, region, report, first_row, csv.writer(spill), progress,
                           workers=workers, chunk_size=chunk_size)  # fmt: skip
        source = (f"import job {job_id}: " if job_id is not None else "import: ") + filename
        # Worked out before taking the ledger lock; the write transaction re-checks the head.
        with read(engine) as conn:
            prepared = prepare_bulk_opt_out(
                conn,
                workspace_id,
                list(first_row),
                method=Method.IMPORT,
                reason=reason,
                actor=actor,
                source=source[:200],
            )
        # The report of what will not be added is written while the database takes the rows
        # (a helper thread: the statements run without the GIL), not under the write lock.
        # Leaving the `with` waits for it, so a failed import's cleanup below comes after it.
        with ThreadPoolExecutor(1, thread_name_prefix="stopline-import-report") as helper:
            planned = _already(first_row, prepared.skipped)
            writing = helper.submit(_report, scratch, final, report, planned)
            with bulk_write(engine) as conn:
                result = write_prepared_bulk(conn, prepared)
                report.added = len(result.added)
                has_report = writing.result()
                if result.skipped != prepared.skipped:  # a STOP came in meanwhile: write anew
                    has_report = _report(
                        scratch, final, report, _already(first_row, result.skipped)
                    )
                report.report_file = final.name if has_report else None
                report.seconds = time.perf_counter() - started
                if job_id is not None:
                    job_store.finish_job(
                        conn, job_id, status="done", now=now_utc(), result=report.as_dict()
                    )
    except BaseException:
        final.unlink(missing_ok=True)
        raise
    finally:
        scratch.unlink(missing_ok=True)
    if progress is not None:
        progress(report.rows, report.rows)
    return report


def _read_rows(
    table: tabular.Table,
    region: str,
    report: ImportReport,
    first_row: dict[str, int],
    spill: Any,
    progress: Progress | None,
    *,
    workers: int | None,
    chunk_size: int,
) -> None:
    """Phase one, writing nothing to the database: normalise, de-duplicate, note every refusal."""
    samples = report.samples
    estimate = table.last_row_estimate
    for chunk in normalize_pool.normalize_rows(
        iter(table), region, workers=workers, chunk_size=chunk_size
    ):
        report.rows += chunk.size
        entries: list[tuple[Any, ...]] = []
        rows, found = chunk.accepted_rows, chunk.accepted_numbers
        # De-duplicate with dict and set operations (a million rows; repeats are few): `local`
        # maps each number to its first row in this chunk; a row whose number maps elsewhere
        # repeats an earlier row, and so does the first row of a number seen in an earlier chunk.
        local = dict(zip(reversed(found), reversed(rows), strict=True))
        repeats = [(r, n) for r, n in zip(rows, found, strict=True) if local[n] != r]
        for number in local.keys() & first_row.keys():
            repeats.append((local.pop(number), number))
        first_row.update(local)
        for row, number in repeats:
            first = first_row[number]
            report.duplicates += 1
            entries.append((row, "duplicate", "", number, "duplicate", "", first))
            if len(samples["duplicates"]) < SAMPLE:
                samples["duplicates"].append({"row": row, "number": number, "first_row": first})
        for row, raw, code, message in zip(
            chunk.rejected_rows,
            chunk.rejected_raw,
            chunk.rejected_codes,
            chunk.rejected_messages,
            strict=True,
        ):
            report.rejected += 1
            shown = _shown(raw)
            entries.append((row, "rejected", shown, "", code, message, ""))
            if len(samples["rejected"]) < SAMPLE:
                samples["rejected"].append(
                    {"row": row, "input": shown, "code": code, "message": message}
                )
        # Chunks arrive in row order; within one, accepted and rejected rows are apart.
        entries.sort(key=lambda e: e[0])
        spill.writerows(entries)
        report.warnings += len(chunk.warning_rows)
        for row, message in zip(chunk.warning_rows, chunk.warning_messages, strict=True):
            if len(report.warning_samples) < SAMPLE:
                report.warning_samples.append({"row": row, "message": message})
        if progress is not None:
            progress(chunk.rows_done, max(estimate - (table.header_row or 0), chunk.rows_done))


def _already(first_row: dict[str, int], skipped: list[str]) -> list[tuple[int, str]]:
    """(row, number) of the numbers skipped as already opted out, in row order."""
    return sorted((first_row[n], n) for n in skipped)


def _report(
    scratch: Path, final: Path, report: ImportReport, already: list[tuple[int, str]]
) -> bool:
    """Count the already-opted-out rows into `report` and write the CSV report if any row was
    not added; returns whether there is one."""
    report.already_opted_out = len(already)
    report.samples["already_opted_out"] = [{"row": row, "number": n} for row, n in already[:SAMPLE]]
    report.report_rows = report.rejected + report.duplicates + report.already_opted_out
    if not report.report_rows:
        final.unlink(missing_ok=True)
        return False
    _write_report(scratch, already, final)
    return True


def _write_report(scratch: Path, already: list[tuple[int, str]], final: Path) -> None:
    """Every row that was not added, in row order, formula-safe (the inputs are untrusted)."""

    def spilled() -> Iterator[tuple[Any, ...]]:
        with open(scratch, newline="", encoding="utf-8") as handle:
            for cells in csv.reader(handle):
                yield (int(cells[0]), *cells[1:])

    skipped = (
        (row, "already_opted_out", "", number, "already_opted_out", "", "")
        for row, number in already
    )
    merged = heapq.merge(spilled(), skipped, key=lambda r: r[0])
    tmp = final.with_suffix(".tmp")
    with open(tmp, "wb") as out:
        csv_export.write_csv(merged, out, REPORT_HEADER, bom=True)
    os.replace(tmp, final)


# --- the job ---------------------------------------------------------------------------------


@jobs.handler(KIND)
def _import_job(engine: Engine, job: jobs.Job, progress: jobs.Progress) -> dict[str, Any]:
    payload = job.payload
    if job.result is not None:  # finished in the import's own transaction before a crash
        return job.result
    path = Path(payload["upload_path"])
    try:
        if not path.exists():
            raise NotFound("The uploaded file is gone; upload it again.", code="upload_missing")
        report = run_import(
            engine,
            job.workspace_id,
            path,
            filename=payload["filename"],
            reason=payload.get("reason"),
            actor=payload.get("actor") or job.created_by or "import",
            region=payload.get("region"),
            column=payload.get("column"),
            report_dir=Path(payload["report_dir"]),
            sha256=payload.get("sha256"),
            job_id=job.id,
            progress=progress,
        )
    finally:
        # The ledger is the record of what was imported (each event names this job); the
        # uploaded personal data is not kept once the import has run.
        path.unlink(missing_ok=True)
    return report.as_dict()


def report_path(data_dir: Path, job: jobs.Job) -> Path:
    """The CSV report of a finished import job, checked to lie inside the data directory."""
    name = (job.result or {}).get("report_file")
    if job.kind != KIND or job.status != "done" or not name:
        raise NotFound("This import has no report file.", code="report_not_found")
    directory = reports_dir(data_dir, job.workspace_id).resolve()
    path = (directory / str(name)).resolve()
    if path.parent != directory or not path.is_file():
        raise NotFound("This import's report file is gone.", code="report_not_found")
    return path
