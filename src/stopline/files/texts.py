"""Read texts to classify from a file: plain text (one message per line), CSV or JSON Lines with a
text column. Streamed, so a year of replies needs no more memory than one line."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from itertools import chain
from typing import TextIO

from stopline.domain.errors import InvalidInput

__all__ = ["FORMATS", "TEXT_COLUMNS", "read_texts"]

FORMATS = ("auto", "lines", "csv", "jsonl")
#: Column names taken as the message text, in this order, unless one is named (any case).
TEXT_COLUMNS = ("text", "body", "message", "content", "sms", "reply")


def read_texts(
    stream: TextIO, fmt: str = "auto", column: str | None = None, name: str = ""
) -> Iterator[tuple[int, str]]:
    """(line or row number, text) for each message of `stream`; empty lines are skipped.

    `auto` picks by the file name (.csv, .jsonl/.ndjson), else by the first line: a JSON object
    is JSON Lines, a header naming a text column is CSV, anything else is plain lines.
    """
    if fmt not in FORMATS:
        raise InvalidInput(f"Unknown format {fmt!r}; use one of {', '.join(FORMATS)}.")
    first = stream.readline()
    if fmt == "auto":
        fmt = _guess(name, first, column)
    lines = chain([first], stream)
    if fmt == "jsonl":
        return _jsonl(lines, column)
    if fmt == "csv":
        return _csv(lines, column)
    return ((n, line.rstrip("\r\n")) for n, line in enumerate(lines, 1) if line.strip())


def _guess(name: str, first: str, column: str | None) -> str:
    lowered = name.lower()
    if lowered.endswith(".csv"):
        return "csv"
    if lowered.endswith((".jsonl", ".ndjson")):
        return "jsonl"
    if first.lstrip().startswith("{"):
        return "jsonl"
    header = next(csv.reader([first]), [])
    wanted = {column.lower()} if column else set(TEXT_COLUMNS)
    if len(header) > 1 and any(h.strip().lower() in wanted for h in header):
        return "csv"
    return "lines"


def _pick(keys: list[str], column: str | None, where: str) -> str:
    by_lower = {k.strip().lower(): k for k in keys}
    for wanted in [column] if column else TEXT_COLUMNS:
        if wanted.lower() in by_lower:
            return by_lower[wanted.lower()]
    wanted_text = repr(column) if column else "one of " + ", ".join(TEXT_COLUMNS)
    raise InvalidInput(f"{where} has no text column ({wanted_text}).", code="text_column_missing")


def _csv(lines: Iterator[str], column: str | None) -> Iterator[tuple[int, str]]:
    reader = csv.reader(lines)
    header = next(reader, None)
    if header is None:
        return
    index = header.index(_pick(header, column, "The CSV header"))
    for row in reader:
        if index < len(row) and row[index].strip():
            yield reader.line_num, row[index]


def _jsonl(lines: Iterator[str], column: str | None) -> Iterator[tuple[int, str]]:
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except ValueError as exc:
            raise InvalidInput(
                f"Line {number} is not JSON: {exc}.", code="line_invalid", line=number
            ) from None
        if isinstance(value, str):
            yield number, value
            continue
        if not isinstance(value, dict):
            raise InvalidInput(
                f"Line {number} is neither an object nor a string.",
                code="line_invalid",
                line=number,
            )
        text = value.get(_pick(list(value), column, f"Line {number}"))
        if text is None:
            continue
        if not isinstance(text, str):
            raise InvalidInput(
                f"Line {number}: the text is not a string.", code="line_invalid", line=number
            )
        yield number, text
