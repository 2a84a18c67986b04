"""The export's SQL: CSV rendered in the database exactly as csv.writer renders it, and the
number ranges that let several processes share one export."""

from __future__ import annotations

import csv
import io

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stopline.domain.consent import Method
from stopline.files.csv_export import csv_field, sql_csv_field
from stopline.services.consent import bulk_opt_out
from stopline.store import optouts as store
from stopline.store.db import is_sqlite, read, read_snapshot, write
from tests.manage import numbers

# Text as people type it into a reason, plus every character CSV treats specially.
TEXT = st.text(
    alphabet=st.one_of(
        st.sampled_from(list(',"\r\n\t =@+-\'; ')), st.characters(blacklist_categories=("Cs",))
    ).filter(lambda c: c != "\x00"),
    max_size=12,
)


def written_by_csv_module(value: str | None) -> str:
    """The cell as csv.writer writes it between two other cells."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow(["a", value, "b"])
    return buffer.getvalue()[2:-4]


@given(value=st.one_of(st.none(), TEXT))
def test_csv_field_writes_a_cell_as_the_csv_module_does(value) -> None:
    assert csv_field(value) == written_by_csv_module(value)


@settings(
    max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None
)
@given(value=st.one_of(st.none(), TEXT))
def test_the_database_renders_a_cell_as_the_csv_module_does(engine, value) -> None:
    dialect = "sqlite" if is_sqlite(engine) else "postgresql"
    mark = "?" if dialect == "sqlite" else "%s"
    cast = "" if dialect == "sqlite" else "::text"
    with read(engine) as conn:
        rendered = conn.exec_driver_sql(
            f"SELECT {sql_csv_field(f'v.x{cast}', dialect)} FROM (SELECT {mark} AS x) v",
            (value,),
        ).scalar_one()
    assert rendered == written_by_csv_module(value)


def test_pages_cover_a_number_range_and_split_points_halve_the_list(engine, ws) -> None:
    wanted = sorted(numbers(101, seed=80))
    with write(engine) as conn:
        bulk_opt_out(conn, ws.id, wanted, method=Method.IMPORT, reason='say "no"', actor="x")
    with read(engine) as conn:
        total, points = store.export_split_points(conn, ws.id, 2)
        assert total == 101 and points == [wanted[50]]
        assert store.export_split_points(conn, ws.id, 4)[1] == [wanted[25], wanted[50], wanted[75]]
    with read_snapshot(engine) as conn:
        halves = [
            list(store.export_csv_pages(conn, ws.id, stop=points[0], page=7)),
            list(store.export_csv_pages(conn, ws.id, start=points[0], page=7)),
        ]
    lines = ["".join(text for text, _ in half) for half in halves]
    rows = [list(csv.reader(io.StringIO(text, newline=""))) for text in lines]
    assert [r[0] for r in rows[0]] == wanted[:50]
    assert [r[0] for r in rows[1]] == wanted[50:]
    assert {r[3] for r in rows[0] + rows[1]} == {'say "no"'}
    assert [sum(n for _, n in half) for half in halves] == [50, 51]
