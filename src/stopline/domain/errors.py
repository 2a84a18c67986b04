"""Domain errors: each carries a stable machine-readable code, turned into HTTP/CLI/UI messages at the edge."""

from __future__ import annotations

from typing import Any


class StoplineError(Exception):
    """A refusal or bad input that a user can act on; `code` is stable, `message` is for humans."""

    code: str = "error"

    def __init__(self, message: str, *, code: str | None = None, **detail: Any) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.detail = detail

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, **self.detail}


class InvalidInput(StoplineError):
    code = "invalid_input"


class NotFound(StoplineError):
    code = "not_found"


class Forbidden(StoplineError):
    code = "forbidden"


class Conflict(StoplineError):
    code = "conflict"
