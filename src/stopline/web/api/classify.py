"""JSON API: what stopline would do with up to 10,000 texts, with the workspace's settings."""

from __future__ import annotations

from typing import Any

from litestar import Request, post

from stopline.services import classification, workspaces
from stopline.services.workspaces import Principal
from stopline.store.db import read
from stopline.web.deps import runtime_of


@post("/api/v1/classify", tags=["classify"], sync_to_thread=True, status_code=200)
def classify_texts(request: Request, principal: Principal, data: dict[str, Any]) -> dict[str, Any]:
    """`{"texts": ["STOP please", ...], "opted_out": false}` -> one result per text, in order:
    intent, keyword, rule, language, outcome (opt_out, review, opt_in, help, none). More than
    10,000 texts, or a text over 10,000 characters, is refused whole with 422."""
    rt = runtime_of(request.app.state)
    with read(rt.engine) as conn:
        policy = workspaces.get_workspace(conn, principal.workspace_id).policy
    opted_out = data.get("opted_out", False)
    results = classification.classify_texts(policy, data.get("texts"), opted_out=opted_out is True)
    return {"count": len(results), "results": results}


ROUTES = [classify_texts]
