"""JSON API: background jobs (imports, exports, campaign expansion) with progress and results."""

from __future__ import annotations

from typing import Any

from litestar import Request, Router, get
from litestar.params import Parameter

from stopline.services import jobs
from stopline.services.workspaces import Principal
from stopline.store.db import read
from stopline.web.deps import runtime_of


@get("/api/v1/jobs", tags=["jobs"], sync_to_thread=True, operation_id="jobs_list_jobs")
def list_jobs(
    request: Request,
    principal: Principal,
    kind: str | None = Parameter(default=None, query="kind"),
    limit: int = Parameter(default=20, query="limit", ge=1, le=200),
) -> dict[str, Any]:
    with read(runtime_of(request.app.state).engine) as conn:
        found = jobs.recent(conn, principal.workspace_id, kind=kind, limit=limit)
    return {"items": [j.as_dict() for j in found]}


@get("/api/v1/jobs/{job_id:int}", tags=["jobs"], sync_to_thread=True, operation_id="jobs_get_job")
def get_job(request: Request, principal: Principal, job_id: int) -> dict[str, Any]:
    """A job: `status` (queued, running, done, failed), `progress` {done, total}, `result`, `error`."""
    with read(runtime_of(request.app.state).engine) as conn:
        return jobs.get(conn, principal.workspace_id, job_id).as_dict()


# One router per module: Litestar re-registers every handler of a path each time a handler
# joins it, which wraps sync_to_thread handlers twice when they are registered one by one.
ROUTES = [Router(path="/", route_handlers=[list_jobs, get_job])]
