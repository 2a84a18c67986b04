"""Normalise imported phone numbers to E.164 in chunks, across worker processes when it pays."""

from __future__ import annotations

import multiprocessing
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from itertools import islice

from stopline.domain import numbers
from stopline.domain.errors import InvalidInput
from stopline.processes import default_start_method, default_workers

__all__ = ["Chunk", "default_start_method", "default_workers", "normalize_rows"]

# A pool costs 50-250 ms to start (see benchmarks/bench_files.py), about what one process
# spends on 10-40k rows; below three chunks' worth of rows the calling process does the work.
_MIN_CHUNKS_FOR_POOL = 3


@dataclass(slots=True)
class Chunk:
    """One chunk's outcome, as parallel lists; chunks arrive in input order.

    `rows_done` counts the input rows of this and all earlier chunks, so a caller can report
    progress (with `Table.last_row_estimate` and `last_row`) as each chunk arrives.
    """

    index: int
    rows_done: int
    last_row: int
    accepted_rows: list[int] = field(default_factory=list)
    accepted_numbers: list[str] = field(default_factory=list)
    rejected_rows: list[int] = field(default_factory=list)
    rejected_raw: list[str] = field(default_factory=list)
    rejected_codes: list[str] = field(default_factory=list)
    rejected_messages: list[str] = field(default_factory=list)
    # Accepted numbers that lost something on the way (an extension): row and message.
    warning_rows: list[int] = field(default_factory=list)
    warning_messages: list[str] = field(default_factory=list)

    @property
    def size(self) -> int:
        return len(self.accepted_rows) + len(self.rejected_rows)


_Result = tuple[
    list[int], list[str], list[int], list[str], list[str], list[str], list[int], list[str]
]


def _normalize_chunk(row_numbers: list[int], raws: list[str], region: str) -> _Result:
    """Worker entry point: plain lists in and out, so pickling between processes stays cheap."""
    ok_rows: list[int] = []
    ok_numbers: list[str] = []
    bad_rows: list[int] = []
    bad_raw: list[str] = []
    bad_codes: list[str] = []
    bad_messages: list[str] = []
    warn_rows: list[int] = []
    warn_messages: list[str] = []
    results = numbers.normalize_many(raws, region)
    for row, raw, result in zip(row_numbers, raws, results, strict=True):
        if type(result) is numbers.Normalized:
            ok_rows.append(row)
            ok_numbers.append(result.e164)
            if result.warnings:
                warn_rows.append(row)
                warn_messages.append("; ".join(result.warnings))
        else:
            assert isinstance(result, InvalidInput)
            bad_rows.append(row)
            bad_raw.append(raw)
            bad_codes.append(result.code)
            bad_messages.append(result.message)
    return ok_rows, ok_numbers, bad_rows, bad_raw, bad_codes, bad_messages, warn_rows, warn_messages


def _warm_up(region: str) -> None:
    # Each worker compiles the region's metadata once, before its first real chunk.
    numbers.normalize_many(["+14155550100", "0"], region)


def _take(it: Iterator[tuple[int, str]], n: int) -> tuple[list[int], list[str]]:
    batch = list(islice(it, n))
    return [r for r, _ in batch], [s for _, s in batch]


def _chunk(index: int, rows_done: int, last_row: int, result: _Result) -> Chunk:
    return Chunk(index, rows_done, last_row, *result)


def normalize_rows(
    rows: Iterable[tuple[int, str]],
    region: str,
    *,
    workers: int | None = None,
    chunk_size: int = 20_000,
    start_method: str | None = None,
) -> Iterator[Chunk]:
    """Normalise `(row_number, raw)` pairs to E.164, yielding one `Chunk` per `chunk_size` rows.

    `workers` defaults to the CPUs available. With 1, when the input is under three chunks, or
    inside a daemon process (which may not have children), everything runs in this process.
    Otherwise a process pool (started with `start_method`, default `default_start_method()`)
    normalises chunks while this process reads input and the caller consumes results; at most
    `2 * workers` chunks are in flight, so memory stays bounded. Chunks are yielded in input
    order. Closing the iterator early stops the pool. Blocking: call it from a worker thread,
    not an event loop. With "forkserver" or "spawn" the program's main module must be safe to
    import (the usual `if __name__ == "__main__":` guard).
    """
    if chunk_size < 1:
        raise ValueError("chunk_size must be positive")
    n_workers = default_workers() if workers is None else workers
    if multiprocessing.current_process().daemon:
        n_workers = 1
    it = iter(rows)
    done = 0
    index = 0

    buffered: deque[tuple[list[int], list[str]]] = deque()
    if n_workers > 1:
        for _ in range(_MIN_CHUNKS_FOR_POOL):
            batch = _take(it, chunk_size)
            if not batch[0]:
                break
            buffered.append(batch)
    if n_workers <= 1 or len(buffered) < _MIN_CHUNKS_FOR_POOL:
        while True:
            batch = buffered.popleft() if buffered else _take(it, chunk_size)
            if not batch[0]:
                return
            done += len(batch[0])
            yield _chunk(index, done, batch[0][-1], _normalize_chunk(*batch, region))
            index += 1

    method = start_method or default_start_method()
    context = multiprocessing.get_context(method)
    if method == "forkserver":
        # Only takes effect if the fork server is not running yet; harmless otherwise.
        context.set_forkserver_preload(["stopline.files.normalize_pool"])
    executor = ProcessPoolExecutor(
        max_workers=n_workers, mp_context=context, initializer=_warm_up, initargs=(region,)
    )
    in_flight: deque[tuple[Future[_Result], int, int]] = deque()
    try:
        exhausted = False
        while True:
            while not exhausted and len(in_flight) < 2 * n_workers:
                batch = buffered.popleft() if buffered else _take(it, chunk_size)
                if not batch[0]:
                    exhausted = True
                    break
                future = executor.submit(_normalize_chunk, batch[0], batch[1], region)
                in_flight.append((future, len(batch[0]), batch[0][-1]))
            if not in_flight:
                return
            future, size, last_row = in_flight.popleft()
            result = future.result()
            done += size
            yield _chunk(index, done, last_row, result)
            index += 1
    finally:
        executor.shutdown(wait=True, cancel_futures=True)
