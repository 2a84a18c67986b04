"""Import and export of opt-outs from the Opt-Outs page, with live progress (htmx polls the job)."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post
from litestar.datastructures import FormMultiDict, UploadFile
from litestar.response import File

from stopline.domain.errors import InvalidInput, NotFound, StoplineError
from stopline.services import jobs
from stopline.web.ui.kit import (
    Viewer,
    form_str,
    optional_service,
    redirect,
    render,
    ui_router,
)


def _service(name: str) -> Any:
    module = optional_service(f"stopline.services.{name}")
    if module is None:
        raise NotFound(
            f"{name.capitalize()} is not available in this version.", code="not_available"
        )
    return module


def _import_form(
    request: Request,
    viewer: Viewer,
    *,
    error: str | None = None,
    reason: str = "",
    column: str = "",
    status: int = 200,
) -> Response[Any]:
    return render(
        request,
        viewer,
        "import.html",
        status=status,
        title="Import opt-outs",
        nav="optouts",
        error=error,
        reason=reason,
        column=column,
    )


@get("/opt-outs/import", sync_to_thread=True)
def import_form(request: Request, viewer: Viewer) -> Response[Any]:
    _service("imports")
    return _import_form(request, viewer)


@post("/opt-outs/import", sync_to_thread=True)
def start_import(request: Request, viewer: Viewer, form: FormMultiDict) -> Response[Any]:
    imports = _service("imports")
    upload = form.get("file")
    reason = form_str(form, "reason")
    column = form_str(form, "column")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return _import_form(
            request,
            viewer,
            error="Choose a CSV or XLSX file to import.",
            reason=reason,
            column=column,
            status=422,
        )
    data_dir = viewer.rt.config.data_dir
    try:
        stored = imports.store_upload(data_dir, viewer.workspace_id, upload.file, upload.filename)
        job = imports.start_import(
            viewer.rt.engine,
            viewer.principal,
            stored,
            data_dir=data_dir,
            reason=reason or None,
            column=column or None,
        )
    except InvalidInput as exc:
        return _import_form(
            request, viewer, error=exc.message, reason=reason, column=column, status=422
        )
    return redirect(request, f"/jobs/{job.id}")


@post("/opt-outs/export", sync_to_thread=True)
def start_export(request: Request, viewer: Viewer, form: FormMultiDict) -> Response[Any]:
    exports = _service("exports")
    flt = exports.ExportFilter(
        search=form_str(form, "q") or None, method=form_str(form, "method") or None
    )
    try:
        job = exports.start_export(
            viewer.rt.engine,
            viewer.principal,
            data_dir=viewer.rt.config.data_dir,
            flt=flt,
            email=(form_str(form, "email") or None) if form_str(form, "notify") else None,
            public_url=viewer.rt.config.public_url or str(request.base_url).rstrip("/"),
            keyring=viewer.rt.keyring,
        )
    except StoplineError as exc:
        return redirect(request, "/opt-outs", flash=exc.message, kind="error")
    return redirect(request, f"/jobs/{job.id}")


def _job(viewer: Viewer, job_id: int) -> jobs.Job:
    with viewer.reading() as conn:
        job = jobs.get(conn, viewer.workspace_id, job_id)
    if job.kind not in ("import", "export"):
        raise NotFound(f"No job {job_id}.", code="job_not_found")
    return job


def _context(job: jobs.Job) -> dict[str, Any]:
    total = job.progress_total or 0
    percent = min(100, round(100 * job.progress_done / total)) if total else None
    return {
        "job": job,
        "percent": percent,
        "finished": job.status in ("done", "failed", "canceled"),
        "result": job.result or {},
    }


@get("/jobs/{job_id:int}", sync_to_thread=True)
def job_page(request: Request, viewer: Viewer, job_id: int) -> Response[Any]:
    job = _job(viewer, job_id)
    title = "Import" if job.kind == "import" else "Export"
    return render(
        request, viewer, "job.html", title=f"{title} #{job.id}", nav="optouts", **_context(job)
    )


@get("/jobs/{job_id:int}/progress", sync_to_thread=True)
def job_progress(request: Request, viewer: Viewer, job_id: int) -> Response[Any]:
    """The progress block alone: htmx swaps it in every second until the job is finished."""
    job = _job(viewer, job_id)
    return render(request, viewer, "_job_progress.html", **_context(job))


@get("/jobs/{job_id:int}/download", sync_to_thread=True)
def download(viewer: Viewer, job_id: int) -> File:
    job = _job(viewer, job_id)
    if job.kind == "export":
        path = _service("exports").export_path(viewer.rt.config.data_dir, job)
        name = path.name
    else:
        path = _service("imports").report_path(viewer.rt.config.data_dir, job)
        name = f"import-{job.id}-report.csv"
    return File(path=path, filename=name, media_type="text/csv; charset=utf-8")


ROUTES = [ui_router(import_form, start_import, start_export, job_page, job_progress, download)]
