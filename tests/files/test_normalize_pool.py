"""Bulk normalisation of imported numbers: results, order, progress, and the process pool."""

from __future__ import annotations

import multiprocessing
import threading

import pytest

from stopline.files import normalize_pool
from stopline.files.normalize_pool import Chunk, normalize_rows

MIXED = [
    "+14155550100",
    "(415) 555-0101",
    "415.555.0102",
    "1-415-555-0103",
    "hello",
    "",
    "+44 20 7946 0958",
    "123",
    "415-555-0104 ext. 12",
]


def rows(n: int) -> list[tuple[int, str]]:
    return [(i + 2, MIXED[i % len(MIXED)]) for i in range(n)]


def flatten(chunks: list[Chunk]) -> tuple[list, list, list]:
    accepted, rejected, warnings = [], [], []
    for c in chunks:
        accepted += zip(c.accepted_rows, c.accepted_numbers, strict=True)
        rejected += zip(
            c.rejected_rows, c.rejected_raw, c.rejected_codes, c.rejected_messages, strict=True
        )
        warnings += zip(c.warning_rows, c.warning_messages, strict=True)
    return accepted, rejected, warnings


def test_numbers_are_normalised_and_rejections_keep_row_raw_code_and_message():
    chunks = list(normalize_rows(rows(len(MIXED)), "US", workers=1))
    assert len(chunks) == 1
    accepted, rejected, warnings = flatten(chunks)
    assert accepted == [
        (2, "+14155550100"),
        (3, "+14155550101"),
        (4, "+14155550102"),
        (5, "+14155550103"),
        (8, "+442079460958"),
        (10, "+14155550104"),
    ]
    assert [(r, raw, code) for r, raw, code, _ in rejected] == [
        (6, "hello", "number_not_a_number"),
        (7, "", "number_empty"),
        (9, "123", "number_too_short"),
    ]
    assert all(message for *_, message in rejected)
    assert warnings == [(10, "extension 12 dropped")]


def test_chunks_carry_progress_in_input_order():
    chunks = list(normalize_rows(rows(25), "US", workers=1, chunk_size=10))
    assert [c.index for c in chunks] == [0, 1, 2]
    assert [c.rows_done for c in chunks] == [10, 20, 25]
    assert [c.last_row for c in chunks] == [11, 21, 26]
    assert [c.size for c in chunks] == [10, 10, 5]


def test_empty_input_yields_nothing():
    assert list(normalize_rows([], "US")) == []


def test_small_input_runs_without_a_pool(monkeypatch):
    def no_pool(*args, **kwargs):
        raise AssertionError("a pool was started for a small input")

    monkeypatch.setattr(normalize_pool, "ProcessPoolExecutor", no_pool)
    chunks = list(normalize_rows(rows(100), "US", workers=2, chunk_size=100))
    assert sum(c.size for c in chunks) == 100


def test_daemon_process_runs_in_process_as_it_may_not_have_children(monkeypatch):
    def no_pool(*args, **kwargs):
        raise AssertionError("a daemon process started a pool")

    monkeypatch.setattr(normalize_pool, "ProcessPoolExecutor", no_pool)
    monkeypatch.setattr(multiprocessing.current_process(), "daemon", True)
    chunks = list(normalize_rows(rows(1_000), "US", workers=2, chunk_size=100))
    assert sum(c.size for c in chunks) == 1_000


def test_chunk_size_must_be_positive():
    with pytest.raises(ValueError):
        list(normalize_rows(rows(1), "US", chunk_size=0))


@pytest.mark.parametrize("start_method", [None, "spawn", "fork"])
def test_pool_gives_the_same_results_in_the_same_order(start_method):
    data = rows(2_000)
    expected = flatten(list(normalize_rows(data, "US", workers=1, chunk_size=150)))
    chunks = list(
        normalize_rows(iter(data), "US", workers=2, chunk_size=150, start_method=start_method)
    )
    assert [c.index for c in chunks] == list(range(len(chunks)))
    assert chunks[-1].rows_done == 2_000
    assert flatten(chunks) == expected


def test_pool_works_when_called_from_a_server_thread():
    result: dict[str, object] = {}

    def job() -> None:
        try:
            result["chunks"] = list(normalize_rows(rows(1_000), "US", workers=2, chunk_size=100))
        except BaseException as exc:  # noqa: BLE001 - reported below
            result["error"] = exc

    # Another thread holding a lock while the pool starts: what makes plain fork unsafe.
    lock = threading.Lock()
    lock.acquire()
    busy = threading.Thread(target=lambda: lock.acquire(timeout=30), daemon=True)
    busy.start()
    try:
        worker = threading.Thread(target=job)
        worker.start()
        worker.join(timeout=60)
    finally:
        lock.release()
    assert not worker.is_alive()
    assert "error" not in result, result.get("error")
    assert sum(c.size for c in result["chunks"]) == 1_000  # type: ignore[union-attr]


def test_stopping_early_shuts_the_pool_down():
    chunks = normalize_rows(rows(5_000), "US", workers=2, chunk_size=100)
    first = next(chunks)
    assert first.index == 0
    chunks.close()
    assert multiprocessing.active_children() == []


def test_default_start_method_is_never_plain_fork():
    assert normalize_pool.default_start_method() in ("forkserver", "spawn")
