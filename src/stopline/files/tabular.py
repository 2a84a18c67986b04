"""Read an uploaded CSV or XLSX file safely and stream its phone-number column as (row, text)."""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import os
import re
import struct
import unicodedata
import zipfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from itertools import chain
from types import TracebackType
from typing import IO, Literal, cast

import python_calamine

from stopline.domain.errors import InvalidInput

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_ROWS",
    "MAX_LINE_BYTES",
    "PhoneColumn",
    "Table",
    "XlsxLimits",
    "read_table",
]

DEFAULT_MAX_BYTES = 100 * 1024 * 1024
DEFAULT_MAX_ROWS = 2_000_000
# A physical CSV line longer than this is refused before parsing: it bounds the memory a single
# line can take, since io.TextIOWrapper builds each line whole before csv sees it.
MAX_LINE_BYTES = 1024 * 1024

_BLOCK = 1024 * 1024
_HEAD = 64 * 1024
# Excel's own limit; a wider row is not a spreadsheet a person made.
_MAX_COLUMNS = 16_384

Source = str | os.PathLike[str] | bytes | bytearray | memoryview


@dataclass(frozen=True, slots=True)
class XlsxLimits:
    """Zip-bomb limits checked against the workbook's zip directory and its real inflated sizes."""

    max_uncompressed_bytes: int = 200 * 1024 * 1024
    # Sheet XML compresses about 5-30:1; zeros or repeated markup reach 1000:1.
    max_ratio: float = 100.0
    # Ratios are only meaningful for members big enough to matter.
    ratio_floor_bytes: int = 1024 * 1024
    max_members: int = 10_000


@dataclass(frozen=True, slots=True)
class PhoneColumn:
    """The phone-number column: `index` is 0-based; `name` is "" when the file has no header."""

    index: int
    name: str

    @property
    def number(self) -> int:
        """1-based position, as a person counts columns ("column 3")."""
        return self.index + 1

    @property
    def letter(self) -> str:
        """Spreadsheet column letter ("A", "AB")."""
        n, out = self.index + 1, ""
        while n:
            n, r = divmod(n - 1, 26)
            out = chr(65 + r) + out
        return out


@dataclass(eq=False)
class Table:
    """An opened upload: its header, the phone column, and a single-use stream of data rows.

    Iterating yields `(row_number, raw_phone)` where row_number is what a spreadsheet shows
    (the header is row 1 when it is on the first line). Blank rows are skipped but still counted;
    a row with other content but an empty phone cell yields `""` so the caller can report it.
    Errors found mid-stream (too many rows, a malformed record) raise `InvalidInput` from the
    iterator. Use as a context manager, or call `close()`, to release the file.
    """

    format: Literal["csv", "xlsx"]
    header: list[str]
    phone_column: PhoneColumn
    # Row number of the header; None when the first row was data.
    header_row: int | None
    # Estimated number of the last row (an upper bound for CSV): progress = row / this.
    last_row_estimate: int
    encoding: str | None = None
    delimiter: str | None = None
    sheet_name: str | None = None
    _rows: Iterator[tuple[int, str]] | None = field(default=None, repr=False)
    _closers: list[Callable[[], None]] = field(default_factory=list, repr=False)

    def __iter__(self) -> Iterator[tuple[int, str]]:
        rows, self._rows = self._rows, None
        if rows is None:
            raise RuntimeError("Table rows can be iterated only once")
        return rows

    def close(self) -> None:
        self._rows = None
        while self._closers:
            self._closers.pop()()

    def __enter__(self) -> Table:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def read_table(
    path_or_bytes: Source,
    *,
    filename: str,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_rows: int = DEFAULT_MAX_ROWS,
    phone_column: str | int | None = None,
    sheet: str | None = None,
    xlsx_limits: XlsxLimits | None = None,
) -> Table:
    """Open an uploaded CSV or XLSX file and find its phone column.

    The format comes from the content (a zip is XLSX; known binary signatures are refused;
    anything else is read as text), the filename only refining the message. `phone_column` is a
    header name (case-, accent- and punctuation-insensitive) or a 1-based column number; None
    finds it by common header names, else uses a lone column, else a lone number-like column of
    a headerless file. A chosen column whose first cell looks like a phone number means the file
    has no header. `sheet` names an XLSX sheet (default: the first visible worksheet).

    CSV text must be UTF-8 (BOM optional), UTF-16/32 with a BOM (or BOM-less UTF-16), or else
    Windows-1252, Excel's legacy "CSV" encoding; Latin-1 is not tried, since it accepts any bytes
    and so would turn a wrong guess into silent garbage. The whole file is checked in one
    constant-memory pass before the first row, so an encoding error never appears mid-import.

    Refusals raise `InvalidInput` with a stable code: file_too_large, file_empty,
    file_format_unsupported, file_malformed, file_encoding, file_zip_bomb,
    phone_column_not_found, sheet_not_found, too_many_rows. Only too_many_rows (CSV) and
    file_malformed (a bad CSV record) can come from the row iterator; the rest come from here.
    """
    src = _Source.of(path_or_bytes)
    if src.size > max_bytes:
        raise InvalidInput(
            f"The file is {_mib(src.size)}; the limit is {_mib(max_bytes)}.",
            code="file_too_large",
            size=src.size,
            max_bytes=max_bytes,
        )
    if src.size == 0:
        raise InvalidInput("The file is empty.", code="file_empty")
    head = src.head(_HEAD)
    kind = _sniff_format(head, filename)
    if kind == "xlsx":
        return _read_xlsx(src, phone_column, sheet, max_rows, xlsx_limits or XlsxLimits())
    return _read_csv(src, head, phone_column, max_rows)


# --- sources ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Source:
    path: str | None
    data: bytes | None
    size: int

    @classmethod
    def of(cls, value: Source) -> _Source:
        if isinstance(value, bytes | bytearray | memoryview):
            data = bytes(value)
            return cls(None, data, len(data))
        path = os.fspath(value)
        try:
            # stat, not read: an oversize upload is refused without touching its content.
            size = os.stat(path).st_size
        except OSError as exc:
            raise InvalidInput(
                "The uploaded file could not be opened.", code="file_malformed"
            ) from exc
        return cls(path, None, size)

    def open(self) -> IO[bytes]:
        if self.data is not None:
            return io.BytesIO(self.data)
        assert self.path is not None
        return open(self.path, "rb")  # noqa: SIM115 - closed by Table.close

    def head(self, n: int) -> bytes:
        if self.data is not None:
            return self.data[:n]
        with self.open() as f:
            return f.read(n)

    def blocks(self) -> Iterator[bytes]:
        if self.data is not None:
            for i in range(0, len(self.data), _BLOCK):
                yield self.data[i : i + _BLOCK]
            return
        with self.open() as f:
            while block := f.read(_BLOCK):
                yield block


def _mib(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MB" if n >= 1024 * 1024 else f"{n:,} bytes"


# --- format detection ------------------------------------------------------------------------

_BINARY_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an old Excel .xls or password-protected workbook"),
    (b"%PDF", "a PDF"),
    (b"\x89PNG", "an image"),
    (b"\xff\xd8\xff", "an image"),
    (b"GIF8", "an image"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"7z\xbc\xaf", "a 7-Zip archive"),
    (b"Rar!", "a RAR archive"),
)
_SAVE_AS = "Save it as CSV (UTF-8) or Excel Workbook (.xlsx) and upload again."


def _sniff_format(head: bytes, filename: str) -> Literal["csv", "xlsx"]:
    ext = os.path.splitext(filename)[1].lower()
    if head.startswith(b"PK\x03\x04"):
        return "xlsx"
    if head.startswith((b"PK\x05\x06", b"PK\x07\x08")):
        raise InvalidInput(
            f"The file is an empty or split zip archive. {_SAVE_AS}", code="file_format_unsupported"
        )
    for magic, what in _BINARY_MAGIC:
        if head.startswith(magic):
            raise InvalidInput(
                f"The file looks like {what}. {_SAVE_AS}", code="file_format_unsupported"
            )
    if ext in (".xlsx", ".xlsm"):
        raise InvalidInput(
            "The file is named .xlsx but is not a valid Excel workbook.", code="file_malformed"
        )
    # Everything else is judged as text: web apps often name TSV or CSV exports ".xls" or ".txt".
    return "csv"


# --- CSV -------------------------------------------------------------------------------------

_UTF16_HINT = "utf-16"


def _detect_encoding(head: bytes) -> list[str]:
    """Candidate encodings in order; the whole file is validated against them before parsing."""
    if head.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        return ["utf-32"]
    if head.startswith(codecs.BOM_UTF8):
        return ["utf-8-sig"]
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return ["utf-16"]
    if b"\x00" in head:
        sample = head[:4096]
        even, odd = sample[0::2], sample[1::2]
        # UTF-16 without a BOM: ASCII-range text has every other byte zero.
        if odd.count(0) > 0.4 * len(odd) and even.count(0) < 0.1 * len(even):
            return ["utf-16-le"]
        if even.count(0) > 0.4 * len(even) and odd.count(0) < 0.1 * len(odd):
            return ["utf-16-be"]
        raise InvalidInput(
            f"The file looks binary, not like text or CSV. {_SAVE_AS}",
            code="file_format_unsupported",
        )
    # UTF-8 first (strict, so a cp1252 file cannot pass as UTF-8 with garbled accents), then
    # Windows-1252, which Excel writes for "CSV (Comma delimited)" in Western locales. Latin-1 is
    # not a fallback because it accepts any byte and so could never report a wrong encoding.
    return ["utf-8", "cp1252"]


@dataclass(slots=True)
class _Scan:
    encoding: str
    # Physical lines; an upper bound on rows (quoted cells may span lines).
    lines: int


def _scan(src: _Source, encoding: str) -> _Scan:
    """Validate the whole file in one constant-memory pass: encoding, NULs, line lengths.

    Raises UnicodeDecodeError when `encoding` does not fit, InvalidInput for other faults.
    """
    wide = encoding.startswith(("utf-16", "utf-32"))
    decoder = codecs.getincrementaldecoder(encoding)("strict")
    run = 0  # length of the line still open at the end of the previous block
    line = 1
    newlines = 0
    limit = MAX_LINE_BYTES
    for block in src.blocks():
        if wide:
            text: str | bytes = decoder.decode(block)
        else:
            # ASCII blocks need no decoding, unless a multi-byte sequence is still pending.
            if not block.isascii() or decoder.getstate()[0]:
                decoder.decode(block)
            if b"\x00" in block:
                raise InvalidInput(
                    "The file contains NUL bytes: it is not a text file.", code="file_malformed"
                )
            text = block
        nl, cr = ("\n", "\r") if isinstance(text, str) else (b"\n", b"\r")
        n_count = text.count(nl)  # type: ignore[arg-type]
        newlines += max(n_count, text.count(cr))  # type: ignore[arg-type]
        # A block is never longer than the limit, so a too-long line always spans a block edge
        # and is caught by carrying the open line's length across blocks.
        first = _first_break(text, nl, cr)
        if first < 0:
            run += len(text)
        else:
            if run + first > limit:
                raise _line_too_long(line)
            run = len(text) - max(text.rfind(nl), text.rfind(cr)) - 1  # type: ignore[arg-type]
            line += n_count
        if run > limit:
            raise _line_too_long(line)
    decoder.decode(b"", final=True)
    return _Scan(encoding, newlines + (1 if run else 0))


def _first_break(text: str | bytes, nl: str | bytes, cr: str | bytes) -> int:
    a, b = text.find(nl), text.find(cr)  # type: ignore[arg-type]
    if a < 0:
        return b
    return a if b < 0 else min(a, b)


def _line_too_long(line: int) -> InvalidInput:
    return InvalidInput(
        f"Line {line:,} of the file is longer than {_mib(MAX_LINE_BYTES)}; "
        "the file is probably not a CSV of phone numbers.",
        code="file_malformed",
        line=line,
    )


_SEP_LINE = re.compile(r"^sep=(.)\r?\n?$")
_DELIMITERS = ("\t", ";", ",", "|")


def _sniff_delimiter(sample: str) -> str:
    """The delimiter that splits the sample's rows into the same number (>1) of fields."""
    best, best_score = ",", 0.0
    for delim in _DELIMITERS:
        try:
            reader = csv.reader(io.StringIO(sample, newline=""), delimiter=delim)
            rows = [r for r in reader if any(r)]
        except csv.Error:
            continue
        if not rows or len(rows[0]) < 2:
            continue
        width = len(rows[0])
        score = sum(1 for r in rows if len(r) == width) / len(rows)
        # Ties go to the earlier candidate: tab and ';' rarely appear inside values, ',' often does.
        if score > best_score:
            best, best_score = delim, score
    return best


def _read_csv(src: _Source, head: bytes, phone_column: str | int | None, max_rows: int) -> Table:
    scan: _Scan | None = None
    for encoding in _detect_encoding(head):
        try:
            scan = _scan(src, encoding)
            break
        except UnicodeDecodeError:
            continue
    if scan is None:
        raise InvalidInput(
            "The file's text encoding is not recognised (tried UTF-8 and Windows-1252). "
            "Save it as CSV UTF-8 and upload again.",
            code="file_encoding",
        )

    sample = codecs.getincrementaldecoder(scan.encoding)("replace").decode(head)
    sample = sample.lstrip("\ufeff")
    if len(head) < src.size:
        # The sample was cut mid-line; drop the partial last line from the sniff.
        sample = sample[: max(sample.rfind("\n"), sample.rfind("\r")) + 1]
    lowered = sample.lstrip().lower()
    if lowered.startswith(("<!doctype", "<html", "<?xml", "<table")):
        raise InvalidInput(
            f"The file looks like a web page or XML, not CSV. {_SAVE_AS}",
            code="file_format_unsupported",
        )

    raw = src.open()
    try:
        text = io.TextIOWrapper(raw, encoding=scan.encoding, newline="")
        first_line = sample.split("\n", 1)[0]
        sep = _SEP_LINE.match(first_line + "\n")
        if sep:
            # Excel's "sep=;" hint line: it is hidden when Excel opens the file, so it is not a row.
            text.readline()
            delimiter = sep.group(1)
        else:
            delimiter = _sniff_delimiter(sample)
        if delimiter == '"':
            raise InvalidInput("The file declares a quote as its delimiter.", code="file_malformed")
        reader = csv.reader(text, delimiter=delimiter)
        table = _csv_table(reader, scan, delimiter, phone_column, max_rows)
        table._closers.append(text.close)
        return table
    except BaseException:
        raw.close()
        raise


def _csv_table(
    reader: Iterator[list[str]],
    scan: _Scan,
    delimiter: str,
    phone_column: str | int | None,
    max_rows: int,
) -> Table:
    row_no = 0
    first: list[str] | None = None
    try:
        for first in reader:
            row_no += 1
            if any(c.strip() for c in first):
                break
        else:
            first = None
    except csv.Error as exc:
        raise _bad_record(row_no + 1, exc) from exc
    if first is None:
        raise InvalidInput("The file has no rows.", code="file_empty")
    if len(first) > _MAX_COLUMNS:
        raise InvalidInput(f"Row {row_no:,} has {len(first):,} columns.", code="file_malformed")
    header_row = row_no
    column, has_header = _choose_column(first, phone_column)
    header = first if has_header else []
    limit_row = header_row + max_rows - (0 if has_header else 1)
    rows = _csv_rows(
        reader, column.index, header_row, limit_row, max_rows, None if has_header else first
    )
    # Peek past blank rows so "header but no data" is reported now, not as an empty import.
    pending = next(rows, None)
    if pending is None:
        raise InvalidInput(
            "The file has a header row but no data rows.", code="file_empty", header=header
        )
    return Table(
        format="csv",
        header=header,
        phone_column=column,
        header_row=header_row if has_header else None,
        last_row_estimate=max(scan.lines, pending[0]),
        encoding=scan.encoding,
        delimiter=delimiter,
        _rows=chain((pending,), rows),
    )


def _csv_rows(
    reader: Iterator[list[str]],
    index: int,
    row_no: int,
    limit_row: int,
    max_rows: int,
    first_data: list[str] | None,
) -> Iterator[tuple[int, str]]:
    if first_data is not None:
        yield row_no, first_data[index] if index < len(first_data) else ""
    try:
        # The hot loop of every CSV import: keep it to a counter, a bounds check and a yield.
        for row in reader:
            row_no += 1
            if row_no > limit_row:
                raise InvalidInput(
                    f"The file has more than {max_rows:,} rows.",
                    code="too_many_rows",
                    max_rows=max_rows,
                )
            try:
                value = row[index]
            except IndexError:
                value = ""
            if value and not value.isspace():
                yield row_no, value
            elif row and any(c and not c.isspace() for c in row):
                # Content elsewhere but no number: yielded so the report can name the row.
                yield row_no, ""
    except csv.Error as exc:
        raise _bad_record(row_no + 1, exc) from exc


def _bad_record(row: int, exc: csv.Error) -> InvalidInput:
    if "field larger than field limit" in str(exc):
        return InvalidInput(
            f"Row {row:,} has a cell longer than {csv.field_size_limit():,} characters "
            "(or a quote that is never closed).",
            code="file_malformed",
            row=row,
        )
    return InvalidInput(f"Row {row:,} could not be read: {exc}.", code="file_malformed", row=row)


# --- choosing the phone column ---------------------------------------------------------------


def _names(text: str) -> tuple[str, ...]:
    return tuple(name.strip() for name in text.split(",") if name.strip())


# Normalised header names, most specific first: the first that matches wins.
_EXACT_NAMES: tuple[str, ...] = _names(
    """
    e164, e 164, e164 number, phone e164, msisdn, mobile, mobile number, mobile phone,
    mobile phone number, mobile no, mobile num, cell, cell phone, cellphone, cell number,
    cell phone number, sms, sms number, phone, phone number, phonenumber, phone no, phone num,
    telephone, telephone number, tel, tel no, tel number, number, numbers, numero,
    numero de telephone, numero de telefono, numero di telefono, portable, telefono, telefone,
    numero de celular, celular, movil, cellulare, telefon, telefonnummer, handy, handynummer,
    mobilnummer, rufnummer, telefoonnummer, mobiel, whatsapp
    """
)
_EXACT_RANK = {name: i for i, name in enumerate(_EXACT_NAMES)}
# Words that mark a header as a phone column when no exact name matches ("Contact Mobile").
_PHONE_WORDS: tuple[str, ...] = _names(
    """
    e164, msisdn, mobile, cell, cellphone, sms, phone, telephone, tel, telefono, telefone,
    telefon, celular, movil, handy, portable, whatsapp
    """
)
_PHONE_WORD_RANK = {w: i for i, w in enumerate(_PHONE_WORDS)}
_NOT_PHONE_WORDS = frozenset({"fax", "ext", "extension", "country", "type", "id", "verified"})
_PHONE_LIKE = re.compile(r"\s*(?:tel:)?\+?[\d\s().\-/]{6,40}\s*|\s*\d(?:\.\d+)?[eE]\+\d{1,2}\s*")


def _header_key(name: str) -> str:
    folded = unicodedata.normalize("NFKD", name.casefold())
    stripped = "".join(c for c in folded if not unicodedata.combining(c))
    return " ".join(re.split(r"[\W_]+", stripped)).strip()


def _looks_like_phone(value: str) -> bool:
    return bool(_PHONE_LIKE.fullmatch(value)) and sum(c.isdigit() for c in value) >= 6


def _headers_for_message(first: list[str]) -> str:
    shown = [h for h in first if h.strip()][:20]
    return ", ".join(f'"{h}"' for h in shown) or "(none)"


def _choose_column(first: list[str], wanted: str | int | None) -> tuple[PhoneColumn, bool]:
    """Pick the phone column from the first non-blank row; also say whether that row is a header."""
    if isinstance(wanted, bool):
        raise TypeError("phone_column must be a header name or a 1-based column number")
    if isinstance(wanted, int):
        if not 1 <= wanted <= max(len(first), 1) or wanted > _MAX_COLUMNS:
            raise InvalidInput(
                f"Column {wanted} does not exist; the file has {len(first)} column(s).",
                code="phone_column_not_found",
                headers=first,
            )
        idx = wanted - 1
        cell = first[idx] if idx < len(first) else ""
        if _looks_like_phone(cell):
            return PhoneColumn(idx, ""), False
        return PhoneColumn(idx, cell), True

    keys = [_header_key(h) for h in first]
    if wanted is not None:
        key = _header_key(wanted)
        for idx, k in enumerate(keys):
            if k == key:
                return PhoneColumn(idx, first[idx]), True
        raise InvalidInput(
            f'No column is named "{wanted}". Columns found: {_headers_for_message(first)}.',
            code="phone_column_not_found",
            headers=first,
        )

    exact = [(_EXACT_RANK[k], i) for i, k in enumerate(keys) if k in _EXACT_RANK]
    if exact:
        idx = min(exact)[1]
        return PhoneColumn(idx, first[idx]), True
    worded: list[tuple[int, int]] = []
    for i, k in enumerate(keys):
        words = set(k.split())
        if words & _NOT_PHONE_WORDS:
            continue
        ranks = [_PHONE_WORD_RANK[w] for w in words if w in _PHONE_WORD_RANK]
        if ranks:
            worded.append((min(ranks), i))
    if worded:
        idx = min(worded)[1]
        return PhoneColumn(idx, first[idx]), True

    filled = [i for i, c in enumerate(first) if c.strip()]
    phone_like = [i for i in filled if _looks_like_phone(first[i])]
    if len(filled) == 1:
        idx = filled[0]
        if phone_like:
            return PhoneColumn(idx, ""), False
        return PhoneColumn(idx, first[idx]), True
    if len(phone_like) == 1:
        # No header at all: the first row is data and exactly one of its cells is a number.
        return PhoneColumn(phone_like[0], ""), False
    raise InvalidInput(
        'Could not find the phone number column. Name it "Phone" or choose it by number. '
        f"Columns found: {_headers_for_message(first)}.",
        code="phone_column_not_found",
        headers=first,
    )


# --- XLSX ------------------------------------------------------------------------------------

_LOCAL_HEADER = struct.Struct("<4s22xHH")


def _zip_bomb(message: str, **detail: object) -> InvalidInput:
    return InvalidInput(f"The workbook was refused: {message}.", code="file_zip_bomb", **detail)


def _check_zip(zf: zipfile.ZipFile, raw: IO[bytes], limits: XlsxLimits) -> None:
    """Refuse zip bombs using the directory's declared sizes, then prove the sizes are true.

    The second step matters because the directory can lie: the XLSX reader inflates each member's
    compressed stream, so here each stream is inflated once (output discarded) and stopped as soon
    as it exceeds its declared size.
    """
    infos = zf.infolist()
    if len(infos) > limits.max_members:
        raise _zip_bomb(f"it has {len(infos):,} parts", members=len(infos))
    total = 0
    for info in infos:
        total += info.file_size
        if total > limits.max_uncompressed_bytes:
            raise _zip_bomb(
                f"it expands to more than {_mib(limits.max_uncompressed_bytes)}",
                max_uncompressed_bytes=limits.max_uncompressed_bytes,
            )
        if info.file_size > limits.ratio_floor_bytes and info.file_size > limits.max_ratio * max(
            info.compress_size, 1
        ):
            ratio = info.file_size // max(info.compress_size, 1)
            raise _zip_bomb(
                f"part {info.filename} is compressed {ratio:,} to 1", member=info.filename
            )
        if info.flag_bits & 0x1:
            raise InvalidInput(
                "The workbook is password-protected. " + _SAVE_AS, code="file_format_unsupported"
            )
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise InvalidInput(
                "The workbook uses an unsupported compression method.", code="file_malformed"
            )
    names = {i.filename for i in infos}
    if "xl/workbook.xml" not in names and "xl/workbook.bin" not in names:
        what = "an OpenDocument spreadsheet" if "content.xml" in names else "a zip archive"
        raise InvalidInput(
            f"The file is {what}, not an Excel workbook. {_SAVE_AS}", code="file_format_unsupported"
        )
    if "xl/workbook.bin" in names:
        raise InvalidInput(
            f"Binary workbooks (.xlsb) are not supported. {_SAVE_AS}",
            code="file_format_unsupported",
        )
    for info in infos:
        _verify_member(raw, info)


def _verify_member(raw: IO[bytes], info: zipfile.ZipInfo) -> None:
    raw.seek(info.header_offset)
    fixed = raw.read(_LOCAL_HEADER.size)
    if len(fixed) < _LOCAL_HEADER.size:
        raise InvalidInput("The workbook is truncated.", code="file_malformed")
    magic, name_len, extra_len = _LOCAL_HEADER.unpack(fixed)
    if magic != b"PK\x03\x04":
        raise InvalidInput("The workbook's zip structure is damaged.", code="file_malformed")
    raw.seek(info.header_offset + _LOCAL_HEADER.size + name_len + extra_len)
    left = info.compress_size
    if info.compress_type == zipfile.ZIP_STORED:
        if info.file_size != info.compress_size:
            raise InvalidInput("The workbook's zip structure is damaged.", code="file_malformed")
        return
    inflater = zlib.decompressobj(-15)
    produced = 0
    allowed = info.file_size
    while left > 0 and not inflater.eof:
        chunk = raw.read(min(left, 256 * 1024))
        if not chunk:
            raise InvalidInput("The workbook is truncated.", code="file_malformed")
        left -= len(chunk)
        data = chunk
        while data and not inflater.eof:
            try:
                out = inflater.decompress(data, 1024 * 1024)
            except zlib.error as exc:
                raise InvalidInput(
                    "The workbook's compressed data is damaged.", code="file_malformed"
                ) from exc
            produced += len(out)
            if produced > allowed:
                raise _zip_bomb(
                    f"part {info.filename} expands beyond its declared size", member=info.filename
                )
            data = inflater.unconsumed_tail
    if produced != allowed:
        raise InvalidInput("The workbook's zip structure is damaged.", code="file_malformed")


def _read_xlsx(
    src: _Source,
    phone_column: str | int | None,
    sheet: str | None,
    max_rows: int,
    limits: XlsxLimits,
) -> Table:
    raw = src.open()
    try:
        try:
            with zipfile.ZipFile(raw) as zf:
                _check_zip(zf, raw, limits)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError) as exc:
            raise InvalidInput(
                "The workbook is damaged or truncated.", code="file_malformed"
            ) from exc
        raw.seek(0)
        try:
            if src.path is not None:
                book = python_calamine.CalamineWorkbook.from_path(src.path)
            else:
                book = python_calamine.CalamineWorkbook.from_filelike(raw)
        except Exception as exc:  # noqa: BLE001 - calamine raises several unrelated error types
            raise InvalidInput(
                "The workbook could not be read; it may be damaged.", code="file_malformed"
            ) from exc
        try:
            name = sheet if sheet is not None else _first_visible_sheet(book)
            if name not in book.sheet_names:
                raise InvalidInput(
                    f'The workbook has no sheet named "{name}". Sheets: '
                    + ", ".join(f'"{s}"' for s in book.sheet_names)
                    + ".",
                    code="sheet_not_found",
                    sheets=book.sheet_names,
                )
            # Loads the whole sheet (calamine has no streaming mode); the zip limits bound it.
            ws = book.get_sheet_by_name(name)
        except InvalidInput:
            raise
        except Exception as exc:  # noqa: BLE001 - calamine raises several unrelated error types
            raise InvalidInput(
                "The workbook could not be read; it may be damaged.", code="file_malformed"
            ) from exc
        finally:
            book.close()
    finally:
        raw.close()

    start, end = ws.start, ws.end
    if start is None or end is None:
        raise InvalidInput("The sheet is empty.", code="file_empty")
    # iter_rows starts at row 1 (padding leading empty rows) but at the first used column.
    col_offset = start[1]
    rows = iter(ws.iter_rows())
    row_no = 0
    first: list[str] | None = None
    for cells in rows:
        row_no += 1
        texts = [_cell_text(c) for c in cells]
        if any(t.strip() for t in texts):
            first = [""] * col_offset + texts
            break
    if first is None:
        raise InvalidInput("The sheet is empty.", code="file_empty")
    column, has_header = _choose_column(first, phone_column)
    last_row = end[0] + 1
    data_rows = last_row - row_no + (0 if has_header else 1)
    if data_rows > max_rows:
        raise InvalidInput(
            f"The sheet has more than {max_rows:,} rows.", code="too_many_rows", max_rows=max_rows
        )
    header_row = row_no
    first_value = None if has_header else first[column.index]
    gen = _xlsx_rows(rows, column.index - col_offset, row_no, first_value)
    pending = next(gen, None)
    if pending is None:
        raise InvalidInput(
            "The sheet has a header row but no data rows.", code="file_empty", header=first
        )
    return Table(
        format="xlsx",
        header=first if has_header else [],
        phone_column=column,
        header_row=header_row if has_header else None,
        last_row_estimate=last_row,
        sheet_name=ws.name,
        _rows=chain((pending,), gen),
    )


def _first_visible_sheet(book: python_calamine.CalamineWorkbook) -> str:
    for meta in book.sheets_metadata:
        if (
            meta.visible == python_calamine.SheetVisibleEnum.Visible
            and meta.typ == python_calamine.SheetTypeEnum.WorkSheet
        ):
            return meta.name
    if not book.sheet_names:
        raise InvalidInput("The workbook has no sheets.", code="file_empty")
    return book.sheet_names[0]


def _xlsx_rows(
    rows: Iterator[Sequence[object]],
    index: int,
    row_no: int,
    first_value: str | None,
) -> Iterator[tuple[int, str]]:
    if first_value is not None:
        yield row_no, first_value
    for cells in rows:
        row_no += 1
        value = cells[index] if 0 <= index < len(cells) else ""
        text = cast(str, value) if type(value) is str else _cell_text(value)
        if text and not text.isspace():
            yield row_no, text
        elif any(c != "" and not (type(c) is str and c.isspace()) for c in cells):
            yield row_no, ""


def _cell_text(value: object) -> str:
    """Cell text as a person reads it; Excel stores typed numbers as floats (14155550100.0)."""
    if type(value) is str:
        return cast(str, value)
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        if value.is_integer():
            return str(int(value))
        text = repr(value)
        return format(Decimal(text), "f") if "e" in text or "E" in text else text
    if isinstance(value, int):
        return str(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if value is None:
        return ""
    return str(value)
