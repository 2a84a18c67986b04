"""JSON API: export the opt-out list as CSV in the background, and download it when ready."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar import Request, Router, get, post
from litestar.params import Parameter
from litestar.response import File

from stopline.domain.errors import InvalidInput
from stopline.services import exports, jobs
from stopline.services.exports import ExportFilter
from stopline.services.workspaces import Principal
from stopline.store.db import read
from stopline.web.deps import runtime_of


@dataclass
class NewExport:
    """The Opt-Outs page's filters, and `email`: send a download link there when ready."""

    search: str | None = None
    method: str | None = None
    scope: str | None = None
    email: str | None = None


def _job_dict(job: jobs.Job) -> dict[str, Any]:
    body = job.as_dict()
    if job.status == "done":
        body["download"] = f"/api/v1/exports/{job.id}/download"
    return body


@post(
    "/api/v1/exports",
    tags=["exports"],
    sync_to_thread=True,
    status_code=202,
    operation_id="exports_start_export",
)
def start_export(request: Request, principal: Principal, data: NewExport) -> dict[str, Any]:
    """Queue a CSV export (number, contact, method, reason, created_at, actor, scope, scope_key,
    blocked). With `email`, a download link is emailed when ready (422 `email_not_configured`
    if the server has no SMTP settings). Cells a spreadsheet would run as formulas are
    neutralised; E.164 numbers are left as they are."""
    rt = runtime_of(request.app.state)
    job = exports.start_export(
        rt.engine,
        principal,
        data_dir=rt.config.data_dir,
        flt=ExportFilter(search=data.search, method=data.method, scope=data.scope),
        email=data.email,
        public_url=rt.config.public_url or str(request.base_url).rstrip("/"),
        keyring=rt.keyring,
    )
    return _job_dict(job)


def _export_job(request: Request, principal: Principal, job_id: int) -> jobs.Job:
    with read(runtime_of(request.app.state).engine) as conn:
        job = jobs.get(conn, principal.workspace_id, job_id)
    if job.kind != exports.KIND:
        raise InvalidInput(f"Job {job_id} is not an export.", code="not_an_export")
    return job


@get(
    "/api/v1/exports/{job_id:int}",
    tags=["exports"],
    sync_to_thread=True,
    operation_id="exports_get_export",
)
def get_export(request: Request, principal: Principal, job_id: int) -> dict[str, Any]:
    return _job_dict(_export_job(request, principal, job_id))


@get(
    "/api/v1/exports/{job_id:int}/download",
    tags=["exports"],
    sync_to_thread=True,
    operation_id="exports_download_export",
)
def download_export(request: Request, principal: Principal, job_id: int) -> File:
    """The CSV file (only the workspace that asked for it can download it)."""
    job = _export_job(request, principal, job_id)
    path = exports.export_path(runtime_of(request.app.state).config.data_dir, job)
    return File(path, filename=path.name, media_type="text/csv")


@get("/api/v1/exports", tags=["exports"], sync_to_thread=True, operation_id="exports_list_exports")
def list_exports(
    request: Request,
    principal: Principal,
    limit: int = Parameter(default=20, query="limit", ge=1, le=200),
) -> dict[str, Any]:
    with read(runtime_of(request.app.state).engine) as conn:
        found = jobs.recent(conn, principal.workspace_id, kind=exports.KIND, limit=limit)
    return {"items": [_job_dict(j) for j in found]}


# One router per module: Litestar re-registers every handler of a path each time a handler
# joins it, which wraps sync_to_thread handlers twice when they are registered one by one.
ROUTES = [
    Router(path="/", route_handlers=[start_export, get_export, download_export, list_exports])
]
