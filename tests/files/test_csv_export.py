"""Writing export CSV: RFC 4180 output, formula neutralisation, streaming."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import tracemalloc

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from stopline.files.csv_export import neutralize_cell, write_csv, write_csv_text

HEADER = ["number", "contact", "method", "reason", "created_at", "actor"]
WS = " \t\r\n\u00a0\u3000\u200b\ufeff"
PLAIN_NUMBER = r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"


def export(rows, header=HEADER, **kw) -> bytes:
    out = io.BytesIO()
    write_csv(rows, out, header, **kw)
    return out.getvalue()


def read_back(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


# --- neutralize_cell -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "=1+1",
        '=HYPERLINK("http://evil","x")',
        "@SUM(A1)",
        "+1 415 555 0100",
        "-2+3",
        "+cmd|' /C calc'!A0",
        "\t=1",
        "\tanything",
        "\rX",
        " =1+1",
        "\n=1",
        "\u00a0@x",
        "＝1+1",
        "＋1",
        "－1",
        "-",
        "+",
    ],
)
def test_formula_cells_are_prefixed_with_a_quote(value):
    assert neutralize_cell(value) == "'" + value


@pytest.mark.parametrize(
    "value",
    ["+14155550100", "-12.5", "12", "+1e5", "-.5", " +14155550100", "", "hello", "'=1", "a=b"],
)
def test_plain_numbers_and_ordinary_text_are_unchanged(value):
    assert neutralize_cell(value) is value


@given(st.from_regex(r"\+[1-9][0-9]{5,14}", fullmatch=True))
def test_e164_numbers_are_never_changed(number):
    assert neutralize_cell(number) == number


@given(st.text())
@example("=")
@example(" \t-")
def test_neutralised_cells_never_start_a_formula_unless_a_plain_number(value):
    out = neutralize_cell(value)
    assert out in (value, "'" + value)
    if out == value:
        stripped = value.lstrip(WS)
        assert value[:1] not in ("\t", "\r")
        assert stripped[:1] not in ("=", "@", "＝", "＠", "＋", "－")
        if stripped[:1] in ("+", "-"):
            assert re.fullmatch(PLAIN_NUMBER, stripped)


@given(st.text())
def test_neutralising_is_idempotent(value):
    once = neutralize_cell(value)
    assert neutralize_cell(once) == once


@given(st.text(WS, min_size=1, max_size=4), st.sampled_from(["=", "@", "＝", "＋"]), st.text())
def test_whitespace_before_a_trigger_does_not_hide_it(ws, trigger, rest):
    assert neutralize_cell(ws + trigger + rest).startswith("'")


# --- write_csv -----------------------------------------------------------------------------


def test_export_round_trips_through_csv_reader():
    rows = [
        ("+14155550100", "Ada Lovelace", "keyword", "Replied STOP", "2024-05-01T12:00:00Z", "sys"),
        ("+442079460958", 'Bob "the" Builder', "manual", "said, politely\nno more", "", "ada"),
    ]
    data = export(rows)
    assert data.startswith(b"number,contact,method,reason,created_at,actor\r\n")
    assert read_back(data) == [HEADER] + [list(r) for r in rows]


def test_export_neutralises_formulas_and_keeps_e164():
    rows = [("+14155550100", '=HYPERLINK("http://x")', "web", "@SUM(1)", "-1", "+cmd")]
    assert read_back(export(rows))[1] == [
        "+14155550100",
        '\'=HYPERLINK("http://x")',
        "web",
        "'@SUM(1)",
        "-1",
        "'+cmd",
    ]


def test_header_cells_are_neutralised_too():
    assert read_back(export([], header=["=x", "ok"])) == [["'=x", "ok"]]


def test_other_cell_types_are_written_as_text_and_none_as_empty():
    when = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC)
    data = export([("+14155550100", None, 3, -2.5, when, True)])
    assert read_back(data)[1] == ["+14155550100", "", "3", "-2.5", str(when), "True"]


def test_bom_option_writes_a_utf8_bom_for_excel():
    data = export([("+14155550100", "Zoë", "", "", "", "")], bom=True)
    assert data.startswith(b"\xef\xbb\xbfnumber,")
    assert "Zoë" in data.decode("utf-8-sig")


def test_text_output_gets_text():
    out = io.StringIO(newline="")
    count = write_csv([("+14155550100", "=1")], out, ["number", "contact"], bom=True)
    assert count == 1
    assert out.getvalue() == "\ufeffnumber,contact\r\n+14155550100,'=1\r\n"


def test_returns_the_number_of_data_rows_and_streams_from_a_generator():
    rows = ((f"+1415555{i:04d}", "x") for i in range(5_000))
    out = io.BytesIO()
    assert write_csv(rows, out, ["number", "contact"]) == 5_000
    assert len(read_back(out.getvalue())) == 5_001


def test_a_formula_late_in_a_long_export_is_still_caught():
    rows = [(f"+1415555{i:04d}", "ok") for i in range(4_999)] + [("+14155550000", "=evil()")]
    assert read_back(export(rows, header=["n", "c"]))[-1] == ["+14155550000", "'=evil()"]


def test_ragged_rows_are_written_as_given():
    rows = [("+14155550100",), ("+14155550101", "=x", "extra")]
    assert read_back(export(rows, header=["n"])) == [
        ["n"],
        ["+14155550100"],
        ["+14155550101", "'=x", "extra"],
    ]


class CountingSink:
    def __init__(self) -> None:
        self.size = 0

    def write(self, data: bytes) -> int:
        self.size += len(data)
        return len(data)


def test_writing_many_rows_keeps_memory_constant():
    rows = (
        (f"+1415555{i % 10_000:04d}", "Ada", "keyword", "STOP", "2024-05-01T12:00:00Z", "sys")
        for i in range(300_000)
    )
    sink = CountingSink()
    tracemalloc.start()
    try:
        write_csv(rows, sink, HEADER)  # type: ignore[arg-type]
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert sink.size > 15_000_000
    assert peak < 3 * 1024 * 1024


# The batch check looks at rendered text, not at cells; this proves it never misses a cell that
# neutralize_cell would change, by writing arbitrary tricky cells and reading them back.
TRICKY = st.text(
    alphabet=st.sampled_from(list("=@+-.,\"\n\r\t 0123456789eaE'＝＋\u00a0\u3000;")), max_size=8
)
CELL = st.one_of(TRICKY, st.text(max_size=5), st.none(), st.integers(), st.floats(allow_nan=False))


@settings(max_examples=400, deadline=None)
@given(st.lists(st.lists(CELL, min_size=1, max_size=6), max_size=8))
def test_written_cells_read_back_as_their_neutralised_text(rows):
    expected = [[neutralize_cell("" if c is None else str(c)) for c in row] for row in rows]
    got = read_back(export(rows, header=["h"]))[1:]
    assert got == expected


def _rendered(rows) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue()


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.lists(st.one_of(TRICKY, st.text(max_size=5)), min_size=2, max_size=6), max_size=8)
)
def test_text_rendered_elsewhere_is_written_as_the_rows_would_be(rows):
    """Rows rendered as CSV text before they arrive (in SQL, say) come out neutralised all
    the same, byte for byte what writing the rows themselves gives."""
    out = io.BytesIO()
    count = write_csv_text([(_rendered(rows), len(rows))], out, ["h"], bom=True)
    assert count == len(rows)
    assert out.getvalue() == export(rows, header=["h"], bom=True)


@settings(max_examples=500, deadline=None)
@given(
    st.lists(
        st.lists(st.text(alphabet=st.sampled_from('ab,"\r\n =x\u00e9'), max_size=8), min_size=1),
        min_size=1,
        max_size=5,
    )
)
def test_csv_text_is_read_back_as_pythons_reader_reads_it_without_its_field_limit(rows) -> None:
    import csv
    import io

    from stopline.files.csv_export import _render, parse_csv_text

    text = _render(rows)
    assert parse_csv_text(text) == list(csv.reader(io.StringIO(text, newline="")))
    huge = [["+14155550100", "x" * 300_000, '"quoted"']]
    assert parse_csv_text(_render(huge)) == huge
