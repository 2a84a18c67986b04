"""JSON request bodies, refused with 400 `json_too_deep` when nested deeper than any route needs.

A parser recursing through `[[[[...` runs out of stack (Python's and msgspec's decoders raise
RecursionError near 1,000 levels), which would surface as a 500 on every JSON route, before any
authentication. Every request of the app is a `StoplineRequest`, whose `json()` checks the depth
first, so no route can forget.
"""

from __future__ import annotations

import operator
import re
from itertools import accumulate, count
from typing import Any

from litestar import Request

from stopline.domain.errors import StoplineError

MAX_JSON_DEPTH = 64  # the API's deepest body is 3 levels; 64 leaves room and stays far from 1,000

_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_MARKS = bytes.maketrans(b"[{]}", b"\x02\x02\x00\x00")
_NOT_BRACKETS = bytes(sorted(set(range(256)) - set(b"[]{}")))


class JsonTooDeep(StoplineError):
    code = "json_too_deep"  # a plain StoplineError: answered 400


def too_deep(body: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether the JSON text `body` opens more than `limit` arrays or objects inside each other.

    Brackets inside strings do not count. A body with at most `limit` opening brackets cannot be
    too deep, which answers almost every request without scanning it. Otherwise the brackets
    become 2 (open) and 0 (close), so their running sum minus their count is the depth after
    each one: computed with C-level iterators, about 40 ns a bracket.
    """
    if body.count(b"[") + body.count(b"{") <= limit:
        return False
    marks = _STRING.sub(b"", body).translate(_MARKS, _NOT_BRACKETS)
    return max(map(operator.sub, accumulate(marks), count(1)), default=0) > limit


def refuse_deep_json(body: bytes) -> None:
    if too_deep(body):
        raise JsonTooDeep(
            f"The JSON body is nested more than {MAX_JSON_DEPTH} levels deep.",
            max_depth=MAX_JSON_DEPTH,
        )


class StoplineRequest(Request[Any, Any, Any]):
    """Litestar's request, whose JSON body is depth-checked before it is decoded."""

    async def json(self) -> Any:
        refuse_deep_json(await self.body())
        try:
            return await super().json()
        except RecursionError as exc:  # belt and braces: the check above should stop it first
            raise JsonTooDeep("The JSON body is nested too deeply.") from exc
