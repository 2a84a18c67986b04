"""Write export rows as RFC 4180 CSV, streaming, with spreadsheet formula injection neutralised.

Neutralisation (OWASP "CSV injection"): a cell a spreadsheet could run as a formula gets a
leading `'`, which spreadsheets display as text. A cell is neutralised when

- it starts with a tab or carriage return, or
- after leading whitespace (space, tab, CR, LF, no-break, ideographic and zero-width spaces, BOM)
  it starts with `=` or `@`, or with `+` or `-` and is not a plain number, or with a full-width
  `＝ ＠ ＋ －` (some spreadsheets fold full-width characters to ASCII when reading).

A plain number is an optional sign, digits with an optional decimal part, and an optional
exponent (`+14155550100`, `-12.5`, `1e5`): spreadsheets read it as a number, never a formula, so
E.164 phone numbers pass unchanged. Leading whitespace is looked through because some importers
trim it before deciding what a cell is.

Neutralising is idempotent (the `'` is not a trigger) and always exactly `"'" + value`, but not
reversible: a cell that really began with `'=` reads back the same as a neutralised `=`.
Header cells are treated like any other; there is no switch to turn neutralisation off.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from itertools import islice
from typing import BinaryIO, TextIO, cast

__all__ = [
    "csv_field",
    "neutralize_cell",
    "sql_csv_field",
    "write_csv",
    "write_csv_batches",
    "write_csv_text",
]

_WS = " \t\r\n\u00a0\u3000\u200b\ufeff"
_ALWAYS = "=@\uff1d\uff20\uff0b\uff0d"  # = @ and full-width ＝ ＠ ＋ －
_SIGNS = "+-"
# Any character a neutralised cell can start with; the fast path of neutralize_cell.
_FIRST = frozenset(_WS + _ALWAYS + _SIGNS)
_NUMBER_REST = r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
_PLAIN_NUMBER = re.compile(r"[+-]?" + _NUMBER_REST)


def _class(chars: str) -> str:
    return "[" + "".join(re.escape(c) for c in chars) + "]"


# Does a rendered batch possibly contain a cell that neutralize_cell would change? Only cell
# starts are examined: the batch start, and each delimiter and line break. Searching for a literal
# "," or "\n" lets the regex engine skip ahead at C speed, and the guard rejects most cell starts
# in one step (including the common E.164 cell "+digits" followed by "," or the row's "\r").
# It may say yes wrongly (a comma or line break inside a quoted cell), never no wrongly: a cell is
# rendered either as itself, containing no comma, quote or line break, or quoted, and a quoted
# cell is suspect on any trigger character.
_WS_CLASS = _class(_WS)
_GUARD = "(?=" + _class('"' + _WS + _ALWAYS + _SIGNS) + r")(?!\+[0-9]+[,\r])"
_CELL_SUSPECT = (
    _GUARD
    + "(?:"
    + ('"' + _WS_CLASS + "*" + _class(_ALWAYS + _SIGNS + "\t\r"))  # quoted: any trigger
    + "|[\t\r]"
    + ("|" + _WS_CLASS + "*(?:" + _class(_ALWAYS))
    + ("|[+\\-](?!" + _NUMBER_REST + r"(?:,|\r?$))))")  # unquoted: not a plain number
)
_SUSPECT_AT_START = re.compile(_CELL_SUSPECT, re.MULTILINE)
_SUSPECT_AFTER_COMMA = re.compile("," + _CELL_SUSPECT, re.MULTILINE)
_SUSPECT_AFTER_BREAK = re.compile("\n" + _CELL_SUSPECT, re.MULTILINE)


def _suspect(text: str) -> bool:
    return bool(
        _SUSPECT_AT_START.match(text)
        or _SUSPECT_AFTER_COMMA.search(text)
        or _SUSPECT_AFTER_BREAK.search(text)
    )


_BATCH_ROWS = 2_000


def neutralize_cell(value: str) -> str:
    """Return `value`, or `"'" + value` when a spreadsheet could read it as a formula."""
    if not value or value[0] not in _FIRST:
        return value
    if value[0] in "\t\r":
        return "'" + value
    stripped = value.lstrip(_WS)
    if not stripped:
        return value
    first = stripped[0]
    if first in _ALWAYS:
        return "'" + value
    if first in _SIGNS and _PLAIN_NUMBER.fullmatch(stripped) is None:
        return "'" + value
    return value


def _cell_text(cell: object) -> str:
    # What csv.writer would write for the cell.
    if cell is None:
        return ""
    return cell if isinstance(cell, str) else str(cell)


def parse_csv_text(text: str) -> list[list[str]]:
    """Rows of CSV text as `_render` writes it (RFC 4180: quoted cells with doubled quotes,
    CRLF or LF line ends), with no limit on a cell's length: Python's csv reader refuses cells
    over `csv.field_size_limit()` (128 KiB), and one long opt-out reason must not break an
    export."""
    rows: list[list[str]] = []
    row: list[str] = []
    i, n = 0, len(text)
    while i < n:
        if text[i] == '"':
            parts = []
            i += 1
            while True:
                j = text.find('"', i)
                if j < 0:  # unterminated: the rest is the cell
                    parts.append(text[i:])
                    i = n
                    break
                parts.append(text[i:j])
                if j + 1 < n and text[j + 1] == '"':
                    parts.append('"')
                    i = j + 2
                    continue
                i = j + 1
                break
            cell = "".join(parts)
        else:
            j = i
            while j < n and text[j] not in ",\r\n":
                j += 1
            cell, i = text[i:j], j
        row.append(cell)
        if i < n and text[i] == ",":
            i += 1
            if i == n:
                row.append("")
            continue
        if i < n and text[i] == "\r":
            i += 1
        if i < n and text[i] == "\n":
            i += 1
        rows.append(row)
        row = []
    if row:
        rows.append(row)
    return rows


def _render(rows: Iterable[Sequence[object]]) -> str:
    # A fresh StringIO per batch: one that has been truncated and reused switches to a slower
    # internal representation, which costs about a third of the writing speed.
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue()


def _neutralized(rows: Iterable[Sequence[object]]) -> list[list[str]]:
    return [[neutralize_cell(_cell_text(c)) for c in row] for row in rows]


def write_csv(
    rows: Iterable[Sequence[object]],
    out: BinaryIO | TextIO,
    header: Sequence[str] | None,
    *,
    bom: bool = False,
) -> int:
    """Stream `header` then `rows` to `out` as CSV; return the number of data rows written.

    Binary outputs get UTF-8 (with a BOM first if `bom`, which Excel needs to read UTF-8);
    text outputs get str and should be opened with `newline=""` and a UTF-8 encoding. Cells are
    written as `str(cell)` (`None` as empty), quoted only when needed, lines end in CRLF.
    With `header` None, no header line (a later part of a file written in parts).
    Memory stays constant: rows are rendered `_BATCH_ROWS` at a time.
    """
    it = iter(rows)
    return write_csv_batches(iter(lambda: list(islice(it, _BATCH_ROWS)), []), out, header, bom=bom)


def write_csv_batches(
    batches: Iterable[Sequence[Sequence[object]]],
    out: BinaryIO | TextIO,
    header: Sequence[str] | None,
    *,
    bom: bool = False,
) -> int:
    """`write_csv` for rows that already come in lists (database pages): one render per list."""
    return _write_chunks(((_render(b), len(b), b) for b in batches), out, header, bom=bom)


def write_csv_text(
    chunks: Iterable[tuple[str, int]],
    out: BinaryIO | TextIO,
    header: Sequence[str] | None,
    *,
    bom: bool = False,
) -> int:
    """`write_csv` for rows already rendered as CSV text: (text, row count) chunks whose lines
    are exactly what csv.writer writes (minimal quoting, CRLF), e.g. by `sql_csv_field`.

    A chunk that may hold a cell a spreadsheet would run is read back, neutralised cell by cell
    and rendered again, so rendering elsewhere never bypasses neutralisation.
    """
    return _write_chunks(((text, n, None) for text, n in chunks), out, header, bom=bom)


def _write_chunks(
    chunks: Iterable[tuple[str, int, Iterable[Sequence[object]] | None]],
    out: BinaryIO | TextIO,
    header: Sequence[str] | None,
    *,
    bom: bool,
) -> int:
    """Write (text, row count, the rows' cells or None) chunks, neutralising suspect ones."""
    binary = not (isinstance(out, io.TextIOBase) or hasattr(out, "encoding"))

    def put(text: str) -> None:
        if binary:
            cast(BinaryIO, out).write(text.encode("utf-8"))
        else:
            cast(TextIO, out).write(text)

    def emit(text: str, cells: Iterable[Sequence[object]] | None) -> None:
        if _suspect(text):  # rare: redo this chunk cell by cell
            if cells is None:
                cells = parse_csv_text(text)
            text = _render(_neutralized(cells))
        put(text)

    if bom:
        put("\ufeff")
    if header is not None:
        emit(_render([header]), [header])
    written = 0
    for text, count, cells in chunks:
        if count:
            emit(text, cells)
            written += count
    return written


_NEEDS_QUOTES = re.compile('[,"\r\n]')


def csv_field(value: str | None) -> str:
    """A text cell as csv.writer writes it within a row of several cells (None as empty)."""
    if not value:
        return ""
    if _NEEDS_QUOTES.search(value) is None:
        return value
    return '"' + value.replace('"', '""') + '"'


def sql_csv_field(expr: str, dialect: str) -> str:
    """SQL rendering the text `expr` exactly as `csv_field` does, for SQLite or PostgreSQL.

    Rendering text in the database costs less than fetching each cell and writing it with
    csv.writer, which checks every character against the line terminator.
    """
    find, char = ("instr", "char") if dialect == "sqlite" else ("strpos", "chr")
    needs = " OR ".join(
        f"{find}({expr}, {needle}) > 0" for needle in ("','", "'\"'", f"{char}(10)", f"{char}(13)")
    )
    return (
        f"CASE WHEN {expr} IS NULL THEN '' WHEN {needs}"
        f" THEN '\"' || replace({expr}, '\"', '\"\"') || '\"' ELSE {expr} END"
    )
