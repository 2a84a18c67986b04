"""JSON API: the Twilio-compatible API's credentials (the account SID, and rotating the token)."""

from __future__ import annotations

from typing import Any

from litestar import Request, get, post

from stopline.services import workspaces
from stopline.services.workspaces import Principal
from stopline.store.db import read, write
from stopline.web.deps import runtime_of


@get("/api/v1/twilio/account", tags=["twilio-compatible"], sync_to_thread=True)
def twilio_account(request: Request, principal: Principal) -> dict[str, Any]:
    """The account SID that Twilio SDKs use as their username against stopline."""
    rt = runtime_of(request.app.state)
    with read(rt.engine) as conn:
        ws = workspaces.get_workspace(conn, principal.workspace_id)
    return {"account_sid": ws.account_sid, "base_url_path": "/2010-04-01"}


@post(
    "/api/v1/twilio/auth-token/rotate",
    tags=["twilio-compatible"],
    sync_to_thread=True,
    status_code=200,
)
def rotate_auth_token(request: Request, principal: Principal) -> dict[str, Any]:
    """Admins only: issue a new auth token (shown once); the old one stops working at once."""
    rt = runtime_of(request.app.state)
    with write(rt.engine) as conn:
        token = workspaces.rotate_auth_token(conn, principal)
        ws = workspaces.get_workspace(conn, principal.workspace_id)
    return {"account_sid": ws.account_sid, "auth_token": token}


ROUTES = [twilio_account, rotate_auth_token]
