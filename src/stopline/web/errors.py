"""Domain errors to HTTP: each StoplineError becomes a JSON body with its stable code."""

from __future__ import annotations

import logging
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException
from litestar.openapi.spec import (
    OpenAPI,
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Reference,
    Schema,
)

from stopline.domain.errors import Conflict, Forbidden, InvalidInput, NotFound, StoplineError

log = logging.getLogger(__name__)


def status_for(exc: StoplineError) -> int:
    if exc.code in ("unauthorized",):
        return 401
    if isinstance(exc, Forbidden):
        return 403
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, Conflict):
        return 409
    if isinstance(exc, InvalidInput):
        return 422
    return 400


def stopline_error_handler(request: Request, exc: StoplineError) -> Response:
    return Response({"error": exc.as_dict()}, status_code=status_for(exc))


def http_error_handler(request: Request, exc: HTTPException) -> Response:
    body: dict[str, dict[str, Any]] = {"error": {"code": "http_error", "message": exc.detail}}
    if getattr(exc, "extra", None):
        body["error"]["detail"] = exc.extra
    return Response(body, status_code=exc.status_code, headers=getattr(exc, "headers", None))


def unstorable_value_handler(request: Request, exc: Exception) -> Response:
    """A value no column can hold (an id beyond 64 bits, a NUL byte for PostgreSQL, text longer
    than its column): the client's input, so 422 with the error envelope, never a 500."""
    log.warning("unstorable value in %s %s: %s", request.method, request.url.path, exc)
    body = {
        "error": {
            "code": "value_out_of_range",
            "message": "A value in the request is out of range or cannot be stored.",
        }
    }
    return Response(body, status_code=422)


ERROR_SCHEMA = Schema(
    type=OpenAPIType.OBJECT,
    required=["error"],
    properties={
        "error": Schema(
            type=OpenAPIType.OBJECT,
            required=["code", "message"],
            properties={
                "code": Schema(type=OpenAPIType.STRING, description="Stable, machine-readable."),
                "message": Schema(type=OpenAPIType.STRING, description="For people."),
            },
            additional_properties=Schema(),
        )
    },
    description="Every error of the API: a stable code and a message.",
)


TWILIO_ERROR_SCHEMA = Schema(
    type=OpenAPIType.OBJECT,
    required=["code", "message", "status"],
    properties={
        "code": Schema(type=OpenAPIType.INTEGER, description="Twilio's error code."),
        "message": Schema(type=OpenAPIType.STRING),
        "more_info": Schema(type=OpenAPIType.STRING),
        "status": Schema(type=OpenAPIType.INTEGER),
    },
    description="The Twilio-compatible API's errors, shaped like Twilio's.",
)


def document_error_envelope(openapi: OpenAPI) -> OpenAPI:
    """Make the OpenAPI document describe the errors the app really sends.

    Litestar documents its own validation-error body for 4xx answers; every error leaves
    stopline through the handlers above, in the `{"error": {"code", "message"}}` envelope
    (the Twilio-compatible API in Twilio's own error shape).
    """
    components = openapi.components
    schemas = dict(components.schemas or {})
    schemas["Error"] = ERROR_SCHEMA
    schemas["TwilioError"] = TWILIO_ERROR_SCHEMA
    components.schemas = schemas
    for path, item in (openapi.paths or {}).items():
        name = "TwilioError" if path.startswith("/2010-04-01/") else "Error"
        reference = Reference(ref=f"#/components/schemas/{name}")
        for method in ("get", "put", "post", "delete", "patch"):
            operation = getattr(item, method, None)
            if operation is None or not operation.responses:
                continue
            for status, response in operation.responses.items():
                if str(status).startswith("4") and isinstance(response, OpenAPIResponse):
                    response.content = {"application/json": OpenAPIMediaType(schema=reference)}
    return openapi
