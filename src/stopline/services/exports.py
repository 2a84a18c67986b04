"""Exporting the opt-out list as CSV: a background job, streamed in constant memory.

The export takes the Opt-Outs page's filters (number search, method, scope), reads the list in
keyset pages and writes it through `files.csv_export`, so a cell a spreadsheet would run as a
formula (a reason such as "=HYPERLINK(...)") is neutralised while E.164 numbers stay numbers.
The file is written under the data directory and replaced atomically when complete; it is
downloadable by the workspace (API key) for `KEEP_DAYS` days. Asked to, the job emails the
requester a link when it is ready (seed 003), never the file: the list is personal data and
stays behind authentication.
"""

from __future__ import annotations

import multiprocessing
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import Engine

from stopline.domain.consent import Method, Scope
from stopline.domain.errors import InvalidInput, NotFound
from stopline.files.csv_export import write_csv_text
from stopline.processes import default_workers
from stopline.security import Keyring
from stopline.services import export_parts, jobs, mail
from stopline.services.consent import now_utc
from stopline.services.workspaces import Principal
from stopline.store import optouts as store
from stopline.store.db import read, read_snapshot, write

KIND = "export"
KEEP_DAYS = 7
# Below this many opt-outs one process writes the export: starting more costs more than it saves.
PARALLEL_MIN_ROWS = 400_000
HEADER = list(store.EXPORT_COLUMNS)


@dataclass(frozen=True)
class ExportFilter:
    """The Opt-Outs page's filters: digits of a number, a method, a scope."""

    search: str | None = None
    method: str | None = None
    scope: str | None = None

    def checked(self) -> ExportFilter:
        digits = None
        if self.search and self.search.strip():
            digits = "".join(ch for ch in self.search if ch.isdigit())
            if not digits:
                raise InvalidInput("Search by number needs digits.", code="search_invalid")
        method = None
        if self.method:
            try:
                method = Method(self.method).value
            except ValueError:
                raise InvalidInput(
                    f"Unknown method {self.method!r}.", code="method_unknown"
                ) from None
        scope = None
        if self.scope:
            try:
                scope = Scope(self.scope).value
            except ValueError:
                raise InvalidInput(f"Unknown scope {self.scope!r}.", code="scope_unknown") from None
        return ExportFilter(digits, method, scope)

    def as_dict(self) -> dict[str, Any]:
        return {"search": self.search, "method": self.method, "scope": self.scope}


def exports_dir(data_dir: Path, workspace_id: int) -> Path:
    return Path(data_dir) / "exports" / str(int(workspace_id))


def _export_pages(
    engine: Engine, workspace_id: int, flt: ExportFilter
) -> Iterator[tuple[str, int]]:
    flt = flt.checked()
    with read_snapshot(engine) as conn:
        yield from store.export_csv_pages(conn, workspace_id, **_store_filters(flt))


def _store_filters(flt: ExportFilter) -> dict[str, Any]:
    return {"digits": flt.search, "method": flt.method, "scope": flt.scope}


def write_export(
    engine: Engine,
    workspace_id: int,
    flt: ExportFilter,
    out: BinaryIO,
    *,
    progress: jobs.Progress | Any | None = None,
) -> int:
    """Write the CSV (UTF-8 with a BOM, so spreadsheets read accents) and return the row count."""
    pages = _export_pages(engine, workspace_id, flt)
    if progress is not None:
        pages = export_parts.counted(pages, progress)
    return write_csv_text(pages, out, HEADER, bom=True)


def start_export(
    engine: Engine,
    principal: Principal,
    *,
    data_dir: Path,
    flt: ExportFilter | None = None,
    email: str | None = None,
    public_url: str | None = None,
    keyring: Keyring | None = None,
) -> jobs.Job:
    """Queue an export; with `email`, the job sends a download link when the file is ready
    (through the workspace's SMTP account when it has one and `keyring` can open it)."""
    principal.require("member")
    flt = flt or ExportFilter()
    flt.checked()
    if email:
        email = mail.check_address(email)
        with read(engine) as conn:
            mail.require_configured_for(conn, keyring, principal.workspace_id)
    stamp = now_utc().strftime("%Y%m%dT%H%M%SZ")
    path = exports_dir(data_dir, principal.workspace_id) / (
        f"opt-outs-{stamp}-{secrets.token_hex(6)}.csv"
    )
    with write(engine) as conn:
        return jobs.enqueue(
            conn,
            principal.workspace_id,
            KIND,
            {
                "filter": flt.as_dict(),
                "path": str(path),
                "email": email or None,
                "public_url": (public_url or "").rstrip("/") or None,
            },
            created_by=principal.actor,
        )


def run_export(
    engine: Engine,
    workspace_id: int,
    flt: ExportFilter,
    path: Path,
    progress: Any = None,
    *,
    workers: int | None = None,
) -> int:
    """Write the export file; readers never see a half-written file (atomic rename).

    A list of `PARALLEL_MIN_ROWS` or more is written by `workers` processes (default: the CPUs
    available), each a slice of the number range from one shared snapshot (`export_parts`).
    """
    flt = flt.checked()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    partial = path.with_name(f".{path.name}.partial")
    try:
        total, points = _split_points(engine, workspace_id, workers)
        if points:
            if progress is not None:
                progress(0, total)  # the whole list; a filtered export may write fewer rows
            rows = export_parts.write_parts(
                engine,
                workspace_id,
                _store_filters(flt),
                points,
                partial,
                HEADER,
                progress=progress,
            )
        else:
            fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb", buffering=1024 * 1024) as out:
                rows = write_export(engine, workspace_id, flt, out, progress=progress)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return rows


def _split_points(engine: Engine, workspace_id: int, workers: int | None) -> tuple[int, list[str]]:
    """The list's length and where to cut it for `workers` processes; no cuts when one process
    should write it."""
    count = default_workers() if workers is None else workers
    if (
        count < 2
        or multiprocessing.current_process().daemon  # a daemon may not have children
        or export_parts.shareable_url(engine) is None
    ):
        return 0, []
    with read(engine) as conn:
        total, points = store.export_split_points(conn, workspace_id, count)
    return total, points if total >= PARALLEL_MIN_ROWS else []


def download_url(public_url: str | None, job_id: int) -> str:
    return f"{public_url or ''}/api/v1/exports/{job_id}/download"


@jobs.handler(KIND)
def _export_job(engine: Engine, job: jobs.Job, progress: jobs.Progress) -> dict[str, Any]:
    payload = job.payload
    flt = ExportFilter(**payload.get("filter", {}))
    path = Path(payload["path"])
    # Old files go as new ones are made (data_dir/exports/<workspace>/<file>).
    purge_expired(path.parents[2])
    rows = run_export(engine, job.workspace_id, flt, path, progress=progress)
    progress(rows, rows)
    expires = now_utc() + timedelta(days=KEEP_DAYS)
    result: dict[str, Any] = {
        "rows": rows,
        "file": path.name,
        "bytes": path.stat().st_size,
        "filter": flt.as_dict(),
        "download": download_url(None, job.id),
        "expires_at": expires.isoformat(),
        "emailed_to": None,
        "email_error": None,
    }
    email = payload.get("email")
    if email:
        url = download_url(payload.get("public_url"), job.id)
        body = (
            f"Your opt-out list export is ready: {rows:,} row(s).\n\n"
            f"Download it with your API key or while signed in:\n{url}\n\n"
            f"The file is kept until {expires:%Y-%m-%d %H:%M} UTC.\n"
        )
        try:
            with read(engine) as conn:
                settings = mail.require_configured_for(conn, progress.keyring, job.workspace_id)
            mail.send(settings, email, "Your stopline opt-out export is ready", body)
            result["emailed_to"] = email
        except InvalidInput as exc:  # email switched off since the export was asked for
            result["email_error"] = exc.message
        except mail.MailError as exc:  # the file is ready all the same: say why no email came
            result["email_error"] = exc.message
    return result


def export_path(data_dir: Path, job: jobs.Job) -> Path:
    """The finished export's file, checked to lie in this workspace's export directory."""
    if job.kind != KIND:
        raise NotFound(f"Job {job.id} is not an export.", code="export_not_found")
    if job.status != "done":
        raise NotFound(f"The export is not ready (status {job.status}).", code="export_not_ready")
    name = (job.result or {}).get("file")
    directory = exports_dir(data_dir, job.workspace_id).resolve()
    path = (directory / str(name or "")).resolve()
    if not name or path.parent != directory or not path.is_file():
        raise NotFound("The export file has expired or is gone.", code="export_gone")
    return path


def purge_expired(data_dir: Path, *, now: datetime | None = None) -> int:
    """Delete export files older than KEEP_DAYS (and import reports); returns how many."""
    cutoff = (now or now_utc()).timestamp() - KEEP_DAYS * 86400
    removed = 0
    for sub in ("exports", "imports"):
        root = Path(data_dir) / sub
        if not root.is_dir():
            continue
        for path in root.glob("*/*.csv"):
            if path.stat().st_mtime < cutoff:
                path.unlink(missing_ok=True)
                removed += 1
    return removed
