"""JSON API: upload a CSV or XLSX of opt-outs, follow the import job, download its report.

The upload is parsed as it streams in (multipart/form-data, or the raw file as the body) and
written straight to disk, so a 100 MB file never sits in memory, and an oversized one is cut
off at the limit (413 for the request, 422 `file_too_large` for the file part).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio.to_thread
from litestar import Request, Router, get, post
from litestar.params import Parameter
from litestar.response import File
from python_multipart.multipart import MultipartParser, parse_options_header

from stopline.domain.errors import InvalidInput
from stopline.services import imports, jobs
from stopline.services.workspaces import Principal
from stopline.store.db import read
from stopline.web.deps import runtime_of

# The file limit plus room for the form's other fields and multipart framing.
MAX_REQUEST = imports.MAX_UPLOAD_BYTES + 1024 * 1024
MAX_FIELD = 4096
FIELDS = ("reason", "column")  # other form fields are ignored, not kept
FLUSH = 1024 * 1024


class _Form:
    """A streaming multipart/form-data reader: the `file` part goes to an UploadWriter, the
    small text fields (`reason`, `column`) are kept in memory, bounded."""

    def __init__(self, boundary: bytes, start_file: Any) -> None:
        self.fields: dict[str, str] = {}
        self.writer: imports.UploadWriter | None = None
        self._start_file = start_file
        self._header_field = b""
        self._header_value = b""
        self._headers: dict[bytes, bytes] = {}
        self._name: str | None = None
        self._value = bytearray()
        self._buffer = bytearray()
        self._file_seen = False
        self.parser = MultipartParser(
            boundary,
            {
                "on_part_begin": self._part_begin,
                "on_header_field": self._on_header_field,
                "on_header_value": self._on_header_value,
                "on_header_end": self._header_end,
                "on_headers_finished": self._headers_finished,
                "on_part_data": self._part_data,
                "on_part_end": self._part_end,
            },
        )

    def _part_begin(self) -> None:
        self._headers = {}
        self._name = None
        self._value = bytearray()

    def _on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_field += data[start:end]

    def _on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _header_end(self) -> None:
        self._headers[self._header_field.lower()] = self._header_value
        self._header_field = b""
        self._header_value = b""

    def _headers_finished(self) -> None:
        _kind, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        self._name = options.get(b"name", b"").decode("utf-8", "replace")
        if self._name == "file":
            if self._file_seen:
                raise InvalidInput("Upload one file at a time.", code="upload_invalid")
            self._file_seen = True
            filename = options.get(b"filename", b"upload.csv").decode("utf-8", "replace")
            self.writer = self._start_file(filename)

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._name == "file":
            self._buffer += data[start:end]
            if len(self._buffer) >= FLUSH:
                self.flush()
        elif self._name in FIELDS:
            self._value += data[start:end]
            if len(self._value) > MAX_FIELD:
                raise InvalidInput(f"The field {self._name!r} is too long.", code="upload_invalid")

    def _part_end(self) -> None:
        if self._name == "file":
            self.flush()
        elif self._name in FIELDS:
            self.fields[self._name] = self._value.decode("utf-8", "replace")

    def flush(self) -> None:
        if self._buffer and self.writer is not None:
            self.writer.write(bytes(self._buffer))
        self._buffer.clear()


async def _receive(request: Request, principal: Principal) -> tuple[imports.Upload, dict[str, str]]:
    rt = runtime_of(request.app.state)
    kind, options = parse_options_header(request.headers.get("content-type", ""))

    def start_file(name: str) -> imports.UploadWriter:
        return imports.UploadWriter(rt.config.data_dir, principal.workspace_id, name)

    if kind == b"multipart/form-data":
        boundary = options.get(b"boundary")
        if not boundary:
            raise InvalidInput("The multipart body has no boundary.", code="upload_invalid")
        form = _Form(boundary, start_file)
        try:
            async for chunk in request.stream():
                if chunk:
                    form.parser.write(chunk)
            form.parser.finalize()
            form.flush()
        except BaseException:
            if form.writer is not None:
                form.writer.abort()
            raise
        if form.writer is None:
            raise InvalidInput("Attach the file as the form field `file`.", code="file_required")
        return form.writer.finish(), form.fields
    # The raw file as the body; the form's fields come as query parameters.
    writer = start_file(request.query_params.get("filename") or "upload.csv")
    buffer = bytearray()
    try:
        async for chunk in request.stream():
            buffer += chunk
            if len(buffer) >= FLUSH:
                writer.write(bytes(buffer))
                buffer.clear()
        writer.write(bytes(buffer))
    except BaseException:
        writer.abort()
        raise
    upload = writer.finish()
    if upload.size == 0:
        upload.path.unlink(missing_ok=True)
        raise InvalidInput("The file is empty.", code="file_empty")
    return upload, {
        k: request.query_params[k] for k in ("reason", "column") if k in request.query_params
    }


@post(
    "/api/v1/imports",
    tags=["imports"],
    status_code=202,
    request_max_body_size=MAX_REQUEST,
    operation_id="imports_upload_import",
)
async def upload_import(request: Request, principal: Principal) -> dict[str, Any]:
    """Import opt-outs from a CSV or XLSX file (at most 100 MB and 2,000,000 rows).

    Send `multipart/form-data` with the file as `file`, and optional `reason` (one reason for
    every row) and `column` (the phone column's header, or its 1-based number; found by its
    header otherwise). Or send the file itself as the body with `?filename=...&reason=...`.
    A file that cannot be read (format, encoding, zip bomb, no phone column) is refused now
    with 422 and its `code`; otherwise `202` with the queued job. Follow it at
    `/api/v1/imports/{id}`: the result counts `added`, `skipped_duplicate`,
    `skipped_already_opted_out` and `rejected`, with row numbers in the CSV report.
    """
    upload, fields = await _receive(request, principal)
    rt = runtime_of(request.app.state)
    job = await anyio.to_thread.run_sync(
        lambda: imports.start_import(
            rt.engine,
            principal,
            upload,
            data_dir=rt.config.data_dir,
            reason=fields.get("reason"),
            column=fields.get("column"),
        )
    )
    return _job_dict(job)


def _job_dict(job: jobs.Job) -> dict[str, Any]:
    body = job.as_dict()
    body["file"] = (job.payload or {}).get("file")
    if job.kind == imports.KIND and (job.result or {}).get("report_file"):
        body["report"] = f"/api/v1/imports/{job.id}/report.csv"
    return body


def _import_job(request: Request, principal: Principal, job_id: int) -> jobs.Job:
    with read(runtime_of(request.app.state).engine) as conn:
        job = jobs.get(conn, principal.workspace_id, job_id)
    if job.kind != imports.KIND:
        raise InvalidInput(f"Job {job_id} is not an import.", code="not_an_import")
    return job


@get(
    "/api/v1/imports/{job_id:int}",
    tags=["imports"],
    sync_to_thread=True,
    operation_id="imports_get_import",
)
def get_import(request: Request, principal: Principal, job_id: int) -> dict[str, Any]:
    """The import job: status, progress, and when done its report."""
    return _job_dict(_import_job(request, principal, job_id))


@get(
    "/api/v1/imports/{job_id:int}/report.csv",
    tags=["imports"],
    sync_to_thread=True,
    operation_id="imports_import_report",
)
def import_report(request: Request, principal: Principal, job_id: int) -> File:
    """Every row that was not added, with its row number, outcome and reason (CSV)."""
    job = _import_job(request, principal, job_id)
    path: Path = imports.report_path(runtime_of(request.app.state).config.data_dir, job)
    return File(path, filename=f"import-{job_id}-report.csv", media_type="text/csv")


@get("/api/v1/imports", tags=["imports"], sync_to_thread=True, operation_id="imports_list_imports")
def list_imports(
    request: Request,
    principal: Principal,
    limit: int = Parameter(default=20, query="limit", ge=1, le=200),
) -> dict[str, Any]:
    with read(runtime_of(request.app.state).engine) as conn:
        found = jobs.recent(conn, principal.workspace_id, kind=imports.KIND, limit=limit)
    return {"items": [_job_dict(j) for j in found]}


# One router per module: Litestar re-registers every handler of a path each time a handler
# joins it, which wraps sync_to_thread handlers twice when they are registered one by one.
ROUTES = [Router(path="/", route_handlers=[upload_import, get_import, import_report, list_imports])]
