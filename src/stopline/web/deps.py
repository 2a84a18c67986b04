"""Request dependencies: the runtime, and the API-key principal every JSON API route acts as."""

from __future__ import annotations

from litestar import Request
from litestar.datastructures import State

from stopline.domain.errors import Forbidden
from stopline.runtime import Runtime
from stopline.services import workspaces
from stopline.services.workspaces import Principal
from stopline.store.db import read


def runtime_of(state: State) -> Runtime:
    return state["runtime"]  # type: ignore[no-any-return]


def api_principal(request: Request) -> Principal:
    """`Authorization: Bearer sl_...` (or `X-API-Key`): the workspace every query is scoped to."""
    header = request.headers.get("authorization", "")
    key = header[7:].strip() if header.lower().startswith("bearer ") else ""
    key = key or request.headers.get("x-api-key", "").strip()
    if not key:
        raise Forbidden(
            "An API key is required (Authorization: Bearer <key>).", code="unauthorized"
        )
    rt = runtime_of(request.app.state)
    with read(rt.engine) as conn:
        return workspaces.authenticate_api_key(conn, key)
