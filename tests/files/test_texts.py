"""Reading texts to classify: plain lines, CSV and JSON Lines, with a text column."""

from __future__ import annotations

import io

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stopline.domain.errors import InvalidInput
from stopline.files.texts import read_texts


def read(data: str, fmt: str = "auto", column: str | None = None, name: str = "") -> list:
    return list(read_texts(io.StringIO(data), fmt, column, name))


def test_plain_text_is_one_message_a_line_and_empty_lines_are_skipped() -> None:
    assert read("STOP\n\nsee you, at 3\n") == [(1, "STOP"), (3, "see you, at 3")]


def test_csv_with_a_text_column_is_recognised_by_its_header() -> None:
    data = 'id,Body,when\n1,"Stop, please",x\n2,"Line one\nline two",y\n'
    assert read(data) == [(2, "Stop, please"), (4, "Line one\nline two")]


def test_a_named_column_is_used_and_a_missing_one_is_a_clear_error() -> None:
    assert read("a,b\nSTOP,ok\n", column="b") == [(2, "ok")]
    with pytest.raises(InvalidInput) as caught:
        read("a,b\nSTOP,ok\n", fmt="csv")
    assert caught.value.code == "text_column_missing"


def test_json_lines_take_objects_with_a_text_field_or_strings() -> None:
    data = '{"text": "BAJA por favor", "id": 1}\n"Arrêt"\n{"message": "hi"}\n'
    assert read(data) == [(1, "BAJA por favor"), (2, "Arrêt"), (3, "hi")]


def test_a_bad_json_line_names_its_line() -> None:
    with pytest.raises(InvalidInput) as caught:
        read('{"text": "ok"}\n{nope\n')
    assert caught.value.code == "line_invalid" and caught.value.detail["line"] == 2


def test_the_file_name_decides_the_format() -> None:
    assert read("text\nSTOP\n", name="replies.csv") == [(2, "STOP")]
    assert read("text\nSTOP\n", name="replies.txt") == [(1, "text"), (2, "STOP")]


@given(
    st.lists(
        st.text(
            alphabet=st.characters(blacklist_characters="\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"),
            min_size=1,
        ).filter(str.strip),
        max_size=20,
    )
)
def test_plain_lines_come_back_as_written(lines: list[str]) -> None:
    got = [text for _, text in read_texts(io.StringIO("\n".join(lines) + "\n"), "lines")]
    assert got == lines
