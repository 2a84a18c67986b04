"""Reading uploaded CSV and XLSX files: formats, encodings, phone column, limits and attacks."""

from __future__ import annotations

import datetime as dt
import io
import struct
import tracemalloc
import zipfile
import zlib
from pathlib import Path

import openpyxl
import pytest

from stopline.domain.errors import InvalidInput
from stopline.files.tabular import XlsxLimits, read_table


def rows_of(table) -> list[tuple[int, str]]:
    with table:
        return list(table)


def read(data: bytes | Path, filename: str = "optouts.csv", **kw):
    return read_table(data, filename=filename, **kw)


def error_code(data: bytes | Path, filename: str = "optouts.csv", **kw) -> str:
    with pytest.raises(InvalidInput) as info:
        table = read(data, filename, **kw)
        list(table)
    assert info.value.message  # every refusal says something a person can act on
    return info.value.code


# --- CSV basics ----------------------------------------------------------------------------


def test_csv_from_path_gives_header_column_and_spreadsheet_row_numbers(tmp_path):
    path = tmp_path / "optouts.csv"
    path.write_text("Name,Phone\r\nAda,+14155550100\r\nBob,(415) 555-0101\r\n", newline="")
    table = read(path)
    assert table.format == "csv"
    assert table.header == ["Name", "Phone"]
    assert (table.phone_column.index, table.phone_column.name) == (1, "Phone")
    assert table.phone_column.number == 2 and table.phone_column.letter == "B"
    assert table.header_row == 1
    assert rows_of(table) == [(2, "+14155550100"), (3, "(415) 555-0101")]


def test_csv_from_bytes_reads_the_same_as_from_path(tmp_path):
    data = b"phone\n+14155550100\n"
    path = tmp_path / "a.csv"
    path.write_bytes(data)
    assert rows_of(read(data)) == rows_of(read(path)) == [(2, "+14155550100")]


def test_utf8_bom_does_not_hide_the_header(tmp_path):
    data = "\ufeffPhone,Note\n+14155550100,é\n".encode()
    table = read(data)
    assert table.header == ["Phone", "Note"]
    assert table.encoding == "utf-8-sig"
    assert rows_of(table) == [(2, "+14155550100")]


@pytest.mark.parametrize("delimiter", [";", "\t", ",", "|"])
def test_delimiter_is_sniffed(delimiter):
    # A comma inside a value must not win the sniff for other delimiters.
    name = '"Ada, Lovelace"' if delimiter == "," else "Ada, Lovelace"
    text = delimiter.join(["Name", "Mobile", "Note"]) + "\n"
    text += delimiter.join([name, "+44 20 7946 0958", "x"]) + "\n"
    text += delimiter.join(["Bob", "+14155550101", "y"]) + "\n"
    table = read(text.encode())
    assert table.delimiter == delimiter
    assert rows_of(table) == [(2, "+44 20 7946 0958"), (3, "+14155550101")]


def test_semicolon_file_with_decimal_commas_is_not_read_as_commas():
    data = b"Phone;Amount\n+14155550100;1,5\n+14155550101;2,5\n"
    table = read(data)
    assert table.delimiter == ";"
    assert rows_of(table) == [(2, "+14155550100"), (3, "+14155550101")]


def test_excel_sep_line_sets_the_delimiter_and_is_not_a_row():
    data = b"sep=;\r\nphone;name\r\n+14155550100;a,b\r\n"
    table = read(data)
    assert table.delimiter == ";"
    assert table.header_row == 1
    assert rows_of(table) == [(2, "+14155550100")]


def test_quoted_fields_with_embedded_newlines_count_as_one_row():
    data = (
        b'Note,Phone\r\n"line one\r\nline two, still note",+14155550100\r\n'
        b'"a ""quoted"" word",+14155550101\r\n'
    )
    assert rows_of(read(data)) == [(2, "+14155550100"), (3, "+14155550101")]


def test_blank_lines_are_skipped_but_counted_so_row_numbers_match_the_spreadsheet():
    data = b"\r\n\r\nphone,name\r\n+14155550100,a\r\n\r\n,,\r\n+14155550101,b\r\n"
    table = read(data)
    assert table.header_row == 3
    assert rows_of(table) == [(4, "+14155550100"), (7, "+14155550101")]


def test_row_with_content_but_no_number_is_reported_with_an_empty_value():
    data = b"phone,name\n+14155550100,a\n,Bob\n   ,\n"
    assert rows_of(read(data)) == [(2, "+14155550100"), (3, "")]


def test_short_rows_give_an_empty_value_rather_than_failing():
    data = b"name,note,phone\nAda,x,+14155550100\nBob\n"
    assert rows_of(read(data)) == [(2, "+14155550100"), (3, "")]


def test_cr_only_line_endings_are_read():
    data = b"phone\r+14155550100\r+14155550101\r"
    assert rows_of(read(data)) == [(2, "+14155550100"), (3, "+14155550101")]


def test_formulas_in_cells_survive_reading_as_text():
    data = b'phone,note\n"=HYPERLINK(""http://x"")",=1+2\n+14155550100,@SUM(A1)\n'
    assert rows_of(read(data)) == [(2, '=HYPERLINK("http://x")'), (3, "+14155550100")]


def test_values_are_not_trimmed_or_changed():
    data = b"phone\n  +1 (415) 555-0100  \n"
    assert rows_of(read(data)) == [(2, "  +1 (415) 555-0100  ")]


# --- encodings -----------------------------------------------------------------------------


def test_utf16_with_bom_excel_unicode_text_is_read():
    data = "Téléphone\tNom\r\n+33 6 12 34 56 78\tRené\r\n".encode("utf-16")
    table = read(data, "export.txt")
    assert table.encoding == "utf-16"
    assert table.delimiter == "\t"
    assert table.header == ["Téléphone", "Nom"]
    assert rows_of(table) == [(2, "+33 6 12 34 56 78")]


def test_utf16_big_endian_and_without_bom_are_read():
    text = "phone,name\r\n+14155550100,Zoë\r\n"
    for encoding in ("utf-16-le", "utf-16-be"):
        assert rows_of(read(text.encode(encoding))) == [(2, "+14155550100")]


def test_cp1252_file_falls_back_and_keeps_accents(tmp_path):
    path = tmp_path / "excel.csv"
    path.write_bytes("Numéro;Nom\r\n06 12 34 56 78;Hélène – “quotes”\r\n".encode("cp1252"))
    table = read(path)
    assert table.encoding == "cp1252"
    assert table.header == ["Numéro", "Nom"]
    assert table.phone_column.name == "Numéro"
    assert rows_of(table) == [(2, "06 12 34 56 78")]


def test_utf8_is_preferred_when_valid():
    table = read("Teléfono\n+34 612 34 56 78\n".encode())
    assert table.encoding == "utf-8"
    assert table.phone_column.name == "Teléfono"


def test_invalid_utf8_late_in_a_large_file_still_falls_back_before_any_row(tmp_path):
    lines = ["phone"] + [f"+1415555{i % 10000:04d}" for i in range(300_000)] + ["+14155550100 é"]
    path = tmp_path / "late.csv"
    path.write_bytes("\n".join(lines).encode("cp1252"))
    table = read(path)
    assert table.encoding == "cp1252"
    assert rows_of(table)[-1] == (300_002, "+14155550100 é")


def test_undecodable_bytes_are_a_clear_encoding_error():
    # 0x81 and 0x8D are undefined in Windows-1252 and invalid as UTF-8.
    assert error_code(b"phone\n+14155550100\x81\x8d\n") == "file_encoding"


def test_truncated_utf16_is_a_clear_encoding_error():
    data = "phone\n+14155550100\n".encode("utf-16")[:-1]
    assert error_code(data) == "file_encoding"


def test_binary_file_named_csv_is_refused():
    assert error_code(b"\x00\x01\x02\x03binary\x00\x00\xff" * 10) == "file_format_unsupported"


def test_nul_bytes_after_the_start_are_refused():
    data = b"phone\n" + b"+14155550100\n" * 10_000 + b"\x00\n"
    assert error_code(data) == "file_malformed"


# --- format detection ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "filename"),
    [
        (b"%PDF-1.7 ...", "optouts.csv"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, "old.xls"),
        (b"\x89PNG\r\n\x1a\n", "image.png"),
        (b"<!DOCTYPE html><html><body><table></table></body></html>", "export.xls"),
        (b"PK\x05\x06" + b"\x00" * 18, "empty.zip"),
    ],
)
def test_other_formats_are_refused_by_content(data, filename):
    assert error_code(data, filename) == "file_format_unsupported"


def test_text_named_xls_is_read_as_csv():
    # Web apps often export tab-separated text with an .xls name.
    table = read(b"Phone\tName\n+14155550100\tAda\n", "export.xls")
    assert rows_of(table) == [(2, "+14155550100")]


def test_text_named_xlsx_is_malformed():
    assert error_code(b"phone\n+14155550100\n", "optouts.xlsx") == "file_malformed"


def test_zip_that_is_not_a_workbook_is_refused():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("notes.txt", "hello")
    assert error_code(buf.getvalue(), "optouts.xlsx") == "file_format_unsupported"


# --- empty files ---------------------------------------------------------------------------


@pytest.mark.parametrize("data", [b"", b"\r\n\r\n", b"\xef\xbb\xbf", b" , ,\n\n"])
def test_empty_files_are_refused(data):
    assert error_code(data) == "file_empty"


def test_header_without_data_rows_is_empty():
    assert error_code(b"phone,name\n\n\n") == "file_empty"


# --- finding the phone column --------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "phone",
        "Phone Number",
        "PHONE_NUMBER",
        "Mobile #",
        "cell",
        "MSISDN",
        "E.164",
        "Tel.",
        "Numéro de téléphone",
        "Teléfono",
        "Contact Mobile",
    ],
)
def test_phone_column_is_found_by_common_header_names(name):
    data = f"First name,{name},Note\nAda,+14155550100,x\n".encode()
    table = read(data)
    assert table.phone_column.index == 1
    assert table.phone_column.name == name


def test_mobile_is_preferred_over_a_generic_phone_column():
    table = read(b"Home Phone,Mobile,Phone\n1,+14155550100,3\n")
    assert table.phone_column.name == "Mobile"


def test_fax_number_is_not_taken_for_the_phone_column():
    assert error_code(b"Name,Fax number\nAda,+14155550100\nBob,+14155550101\n") == (
        "phone_column_not_found"
    )


def test_phone_column_chosen_by_name_ignores_case_and_accents():
    table = read(b"Name,Numero,Other phone\nAda,+14155550100,x\n", phone_column="NUMÉRO")
    assert table.phone_column.index == 1


def test_phone_column_chosen_by_1_based_number():
    table = read(b"a,b,c\n1,2,+14155550100\n", phone_column=3)
    assert table.phone_column.name == "c"
    assert rows_of(table) == [(2, "+14155550100")]


def test_phone_column_chosen_by_number_in_a_headerless_file_keeps_the_first_row():
    table = read(b"Ada,+14155550100\nBob,+14155550101\n", phone_column=2)
    assert table.header == [] and table.header_row is None
    assert rows_of(table) == [(1, "+14155550100"), (2, "+14155550101")]


def test_single_column_without_header_uses_the_first_row_as_data():
    table = read(b"+14155550100\n(415) 555-0101\n")
    assert table.header == []
    assert table.phone_column.name == ""
    assert rows_of(table) == [(1, "+14155550100"), (2, "(415) 555-0101")]


def test_single_column_with_unknown_header_is_used():
    table = read(b"Unsubscribed\n+14155550100\n")
    assert table.header == ["Unsubscribed"]
    assert rows_of(table) == [(2, "+14155550100")]


def test_headerless_file_with_one_number_like_column_uses_it():
    table = read(b"Ada Lovelace,+1 415 555 0100,x\nBob,4155550101,y\n")
    assert table.phone_column.index == 1
    assert rows_of(table) == [(1, "+1 415 555 0100"), (2, "4155550101")]


def test_missing_phone_column_lists_the_headers_found():
    with pytest.raises(InvalidInput) as info:
        read(b"Name,Email\nAda,ada@example.com\n")
    assert info.value.code == "phone_column_not_found"
    assert '"Name", "Email"' in info.value.message
    assert info.value.detail["headers"] == ["Name", "Email"]


def test_unknown_chosen_column_is_a_clear_error():
    assert error_code(b"phone\n1\n", phone_column="Mobile") == "phone_column_not_found"
    assert error_code(b"phone\n1\n", phone_column=4) == "phone_column_not_found"


# --- limits --------------------------------------------------------------------------------


def test_oversized_file_is_refused_before_reading(tmp_path, monkeypatch):
    path = tmp_path / "big.csv"
    path.write_bytes(b"phone\n" + b"+14155550100\n" * 1000)
    opened: list[str] = []
    real_open = open
    monkeypatch.setattr("builtins.open", lambda *a, **k: opened.append(a[0]) or real_open(*a, **k))
    assert error_code(path, max_bytes=1000) == "file_too_large"
    assert opened == []


def test_oversized_bytes_are_refused():
    with pytest.raises(InvalidInput) as info:
        read(b"x" * 101, max_bytes=100)
    assert info.value.code == "file_too_large"
    assert info.value.detail == {"size": 101, "max_bytes": 100}


def test_too_many_rows_is_refused_with_a_clear_error():
    data = b"phone\n" + b"+14155550100\n" * 11
    assert error_code(data, max_rows=10) == "too_many_rows"
    assert len(rows_of(read(data, max_rows=11))) == 11


def test_huge_single_line_cell_is_refused_without_loading_it(tmp_path):
    path = tmp_path / "huge.csv"
    with path.open("wb") as f:
        f.write(b"phone,note\n+14155550100,")
        f.write(b"x" * (10 * 1024 * 1024))
        f.write(b"\n")
    tracemalloc.start()
    try:
        assert error_code(path) == "file_malformed"
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 * 1024 * 1024


def test_huge_quoted_multiline_cell_is_refused_by_the_field_limit(tmp_path):
    path = tmp_path / "huge.csv"
    with path.open("wb") as f:
        f.write(b'phone,note\n+14155550100,"')
        for _ in range(100_000):
            f.write(b"x" * 99 + b"\n")
        f.write(b'"\n')
    with pytest.raises(InvalidInput) as info:
        list(read(path))
    assert info.value.code == "file_malformed"
    assert info.value.detail["row"] == 2


def test_a_wide_row_file_with_huge_line_is_malformed():
    assert error_code(b"phone\n" + b"1," * 600_000 + b"\n") == "file_malformed"


def test_reading_a_large_csv_streams_in_constant_memory(tmp_path):
    path = tmp_path / "large.csv"
    with path.open("w", newline="") as f:
        f.write("name,phone\r\n")
        for i in range(200_000):
            f.write(f"Person {i},+1415555{i % 10000:04d}\r\n")
    tracemalloc.start()
    try:
        table = read(path)
        count = sum(1 for _ in table)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        table.close()
    assert count == 200_000
    assert table.last_row_estimate >= 200_001
    assert peak < 4 * 1024 * 1024


def test_rows_can_be_iterated_only_once():
    table = read(b"phone\n+14155550100\n")
    list(table)
    with pytest.raises(RuntimeError):
        list(table)


# --- XLSX ----------------------------------------------------------------------------------


def make_xlsx(path: Path, rows: list[list[object]], *, title: str = "Sheet1", start: str = "A1"):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = title
    col0 = ord(start[0]) - 64
    row0 = int(start[1:])
    for r, values in enumerate(rows):
        for c, value in enumerate(values):
            if value is not None:
                ws.cell(row=row0 + r, column=col0 + c, value=value)
    wb.save(path)
    return path


def test_xlsx_excel_float_numbers_come_out_as_digit_strings(tmp_path):
    path = make_xlsx(
        tmp_path / "o.xlsx",
        [["Phone", "Name"], [14155550100.0, "Ada"], [14155550101, "Bob"], [4.4207946095e11, "C"]],
    )
    table = read(path, "o.xlsx")
    assert table.format == "xlsx"
    assert table.header == ["Phone", "Name"]
    assert rows_of(table) == [(2, "14155550100"), (3, "14155550101"), (4, "442079460950")]


def test_xlsx_row_numbers_and_column_letters_match_the_sheet_when_data_starts_lower(tmp_path):
    rows = [["Name", "Mobile"], ["Ada", "+14155550100"], [None, None], ["Bob", "+1 415 555 0101"]]
    path = make_xlsx(tmp_path / "o.xlsx", rows, start="C3")
    table = read(path, "o.xlsx")
    assert table.header_row == 3
    assert table.phone_column.letter == "D"
    assert rows_of(table) == [(4, "+14155550100"), (6, "+1 415 555 0101")]


def test_xlsx_from_bytes(tmp_path):
    path = make_xlsx(tmp_path / "o.xlsx", [["phone"], ["+14155550100"]])
    assert rows_of(read(path.read_bytes(), "upload")) == [(2, "+14155550100")]


def test_xlsx_text_that_looks_like_a_formula_survives(tmp_path):
    path = tmp_path / "o.xlsx"
    wb = openpyxl.Workbook()
    ws = wb.active
    ws["A1"] = "phone"
    ws["A2"] = "=1+2"
    ws["A2"].data_type = "s"  # stored as text, as a user typing '=1+2 gets
    ws["A3"] = "+14155550100"
    wb.save(path)
    assert rows_of(read(path, "o.xlsx")) == [(2, "=1+2"), (3, "+14155550100")]


def test_xlsx_named_sheet_and_missing_sheet(tmp_path):
    path = tmp_path / "o.xlsx"
    wb = openpyxl.Workbook()
    wb.active["A1"] = "nothing here"
    other = wb.create_sheet("Opt-outs")
    other["A1"], other["A2"] = "phone", "+14155550100"
    wb.save(path)
    assert rows_of(read(path, "o.xlsx", sheet="Opt-outs")) == [(2, "+14155550100")]
    assert error_code(path, "o.xlsx", sheet="Nope") == "sheet_not_found"


def test_xlsx_first_visible_sheet_is_used(tmp_path):
    path = tmp_path / "o.xlsx"
    wb = openpyxl.Workbook()
    wb.active["A1"] = "hidden"
    wb.active.sheet_state = "hidden"
    visible = wb.create_sheet("Visible")
    visible["A1"], visible["A2"] = "phone", "+14155550100"
    wb.save(path)
    table = read(path, "o.xlsx")
    assert table.sheet_name == "Visible"


def test_xlsx_empty_sheet_is_empty(tmp_path):
    path = tmp_path / "o.xlsx"
    openpyxl.Workbook().save(path)
    assert error_code(path, "o.xlsx") == "file_empty"


def test_xlsx_too_many_rows_is_refused_before_iterating(tmp_path):
    path = make_xlsx(tmp_path / "o.xlsx", [["phone"]] + [[f"+1415555{i:04d}"] for i in range(20)])
    with pytest.raises(InvalidInput) as info:
        read(path, "o.xlsx", max_rows=19)
    assert info.value.code == "too_many_rows"


def test_xlsx_no_phone_column(tmp_path):
    path = make_xlsx(tmp_path / "o.xlsx", [["Name", "Email"], ["Ada", "a@example.com"]])
    assert error_code(path, "o.xlsx") == "phone_column_not_found"


def test_truncated_xlsx_is_malformed(tmp_path):
    path = make_xlsx(tmp_path / "o.xlsx", [["phone"]] + [[f"+1415555{i:04d}"] for i in range(500)])
    data = path.read_bytes()
    assert error_code(data[: len(data) // 2], "o.xlsx") == "file_malformed"


def test_corrupted_xlsx_is_malformed(tmp_path):
    path = make_xlsx(tmp_path / "o.xlsx", [["phone"]] + [[f"+1415555{i:04d}"] for i in range(500)])
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo("xl/worksheets/sheet1.xml")
    start = info.header_offset + 30 + len(info.filename) + 10
    data[start : start + 40] = b"\xff" * 40
    assert error_code(bytes(data), "o.xlsx") == "file_malformed"


def build_zip(path: Path, members: list[tuple[str, bytes, int, int]]) -> None:
    """Write a zip from already-deflated members: (name, raw deflate data, declared size, crc)."""
    out = bytearray()
    central = bytearray()
    for name, data, size, crc in members:
        encoded = name.encode()
        offset = len(out)
        fields = struct.pack(
            "<HHHHHIIIHH", 20, 0, 8, 0, 0x21, crc, len(data), size, len(encoded), 0
        )
        out += b"PK\x03\x04" + fields + encoded + data
        central += (
            b"PK\x01\x02"
            + struct.pack("<H", 20)
            + fields
            + struct.pack("<HHHII", 0, 0, 0, 0, offset)
            + encoded
        )
    end = struct.pack(
        "<4sHHHHIIH", b"PK\x05\x06", 0, 0, len(members), len(members), len(central), len(out), 0
    )
    path.write_bytes(bytes(out + central + end))


def deflate(data: bytes) -> tuple[bytes, int, int]:
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush(), len(data), zlib.crc32(data)


def deflated_zeros(mib: int) -> tuple[bytes, int, int]:
    """`mib` MiB of zeros as one deflate stream, built from one block compressed once.

    After a full flush deflate starts afresh, so every 1 MiB block compresses to the same bytes.
    """
    block = bytes(1024 * 1024)
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    one = c.compress(block) + c.flush(zlib.Z_FULL_FLUSH)
    crc = 0
    for _ in range(mib):
        crc = zlib.crc32(block, crc)
    return one * mib + c.flush(), mib * len(block), crc


def workbook_members() -> list[tuple[str, bytes, int, int]]:
    return [
        ("[Content_Types].xml", *deflate(b"<Types/>")),
        ("xl/workbook.xml", *deflate(b"<workbook/>")),
    ]


def test_deflated_zeros_helper_is_a_valid_stream():
    data, size, crc = deflated_zeros(3)
    assert zlib.decompress(data, -15) == bytes(size) and zlib.crc32(bytes(size)) == crc


def test_zip_bomb_is_refused_from_its_directory(tmp_path):
    """A workbook-shaped zip whose sheet is 1 GB of zeros, about 1 MB on disk."""
    path = tmp_path / "bomb.xlsx"
    build_zip(path, [*workbook_members(), ("xl/worksheets/sheet1.xml", *deflated_zeros(1024))])
    assert path.stat().st_size < 2 * 1024 * 1024
    with zipfile.ZipFile(path) as zf:  # a well-formed zip, as a naive reader would see it
        assert zf.getinfo("xl/worksheets/sheet1.xml").file_size == 1024**3
    assert error_code(path, "bomb.xlsx") == "file_zip_bomb"


def test_zip_bomb_is_refused_even_below_the_size_limit_by_its_ratio(tmp_path):
    path = tmp_path / "bomb.xlsx"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        zf.writestr("xl/workbook.xml", "<workbook/>")
        zf.writestr("xl/worksheets/sheet1.xml", bytes(50 * 1024 * 1024))
    assert error_code(path, "bomb.xlsx") == "file_zip_bomb"


def test_zip_with_too_many_members_is_refused(tmp_path):
    path = tmp_path / "many.xlsx"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("xl/workbook.xml", "<workbook/>")
        for i in range(20):
            zf.writestr(f"x/{i}", "")
    assert error_code(path, "many.xlsx", xlsx_limits=XlsxLimits(max_members=10)) == "file_zip_bomb"


def test_zip_whose_directory_understates_sizes_is_refused(tmp_path):
    """The directory claims a small sheet, but the compressed stream inflates to much more."""
    path = tmp_path / "liar.xlsx"
    data, _, crc = deflated_zeros(20)
    build_zip(path, [*workbook_members(), ("xl/worksheets/sheet1.xml", data, 1000, crc)])
    assert error_code(path, "liar.xlsx") == "file_zip_bomb"


def test_xlsx_import_of_many_rows_is_fast(tmp_path):
    path = tmp_path / "big.xlsx"
    wb = openpyxl.Workbook(write_only=True)
    ws = wb.create_sheet()
    ws.append(["Name", "Phone"])
    for i in range(20_000):
        ws.append([f"Person {i}", 14155550000 + i])
    wb.save(path)
    table = read(path, "big.xlsx")
    rows = rows_of(table)
    assert len(rows) == 20_000
    assert rows[0] == (2, "14155550000") and rows[-1] == (20_001, "14155569999")


def test_xlsx_column_number_counts_from_column_a_even_when_data_starts_later(tmp_path):
    rows = [["Name", "Phone", "Other"], ["Ada", "+14155550100", "x"]]
    path = make_xlsx(tmp_path / "o.xlsx", rows, start="C3")
    table = read(path, "o.xlsx", phone_column=4)
    assert (table.phone_column.letter, table.phone_column.name) == ("D", "Phone")
    assert rows_of(table) == [(4, "+14155550100")]


def test_xlsx_odd_cell_types_in_the_phone_column_become_text(tmp_path):
    rows = [
        ["phone"],
        [4155550100.5],
        [True],
        [dt.date(2024, 1, 2)],
        [1.5e20],
        [-14155550100],
    ]
    path = make_xlsx(tmp_path / "o.xlsx", rows)
    assert rows_of(read(path, "o.xlsx")) == [
        (2, "4155550100.5"),
        (3, "TRUE"),
        (4, "2024-01-02"),
        (5, "150000000000000000000"),
        (6, "-14155550100"),
    ]
