"""No page of stopline may be framed by another site: every HTML answer says so.

Pages set their own Content-Security-Policy; this hook, run after every request, adds
``frame-ancestors 'none'`` to a policy that lacks it (or sends that policy alone) and
``X-Frame-Options: DENY`` for older browsers, so a page added later (or rendered by a library,
such as the API docs) cannot be put in a frame to trick a click on its buttons.
"""

from __future__ import annotations

from typing import Any

from litestar import Response

FRAME_ANCESTORS = "frame-ancestors 'none'"


def forbid_framing(response: Response[Any]) -> Response[Any]:
    media_type = str(getattr(response, "media_type", "") or "")
    content_type = str(response.headers.get("content-type", "") or media_type)
    if "html" not in content_type.lower() and "html" not in media_type.lower():
        return response
    policy = response.headers.get("Content-Security-Policy")
    if not policy:
        response.headers["Content-Security-Policy"] = FRAME_ANCESTORS
    elif "frame-ancestors" not in policy:
        response.headers["Content-Security-Policy"] = f"{policy}; {FRAME_ANCESTORS}"
    response.headers["X-Frame-Options"] = "DENY"
    return response
