"""One export written by several processes, each a slice of the number range, from one snapshot.

One process writes about 380,000 rows/s here (fetching rows and writing text both need the GIL),
so a long list is cut into equal number ranges (`store.optouts.export_split_points`) and each
range is written by its own process to its own part file; the parts are then joined in order
(`os.copy_file_range`, inside the kernel) into the one file. Every process reads the same state
of the database: the coordinator holds it still with `store.db.shared_snapshot` until each part
has begun its `read_snapshot`, so the parts join into exactly what one reader would have seen.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
from collections.abc import Callable, Iterator, Sequence
from multiprocessing.connection import Connection as Pipe
from multiprocessing.connection import wait
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from stopline.files.csv_export import write_csv_text
from stopline.processes import default_start_method
from stopline.store import optouts as store
from stopline.store.db import make_engine, read_snapshot, shared_snapshot

READY_TIMEOUT = 120.0  # seconds for the parts to start and connect, and then to begin reading
PROGRESS_EVERY = 200_000


def shareable_url(engine: Engine) -> str | None:
    """The URL another process opens the same database with, or None (in-memory SQLite).

    A relative SQLite path is made absolute: the parts need not share this process's directory.
    """
    url = engine.url
    if url.get_backend_name() == "sqlite":
        database = url.database or ""
        if database in ("", ":memory:") or database.startswith("file:") or url.query.get("mode"):
            return None
        url = url.set(database=os.path.abspath(database))
    return url.render_as_string(hide_password=False)


class PartFailed(RuntimeError):
    """A part's process failed or died; the export is abandoned and its files removed."""


def _part_main(
    url: str,
    workspace_id: int,
    filters: dict[str, Any],
    start: str | None,
    stop: str | None,
    path: str,
    header: Sequence[str] | None,
    bom: bool,
    pipe: Pipe,
) -> None:
    """A part's process: connect, wait for the snapshot, begin reading at it, say so, write
    its slice, report."""
    try:
        engine = make_engine(url)
        try:
            engine.connect().close()  # connected before the coordinator holds the database
            pipe.send(("waiting", 0))
            kind, snapshot = pipe.recv()
            if kind != "go":
                return
            with read_snapshot(engine, snapshot) as conn:
                pipe.send(("ready", 0))
                pages = counted(
                    store.export_csv_pages(conn, workspace_id, start=start, stop=stop, **filters),
                    lambda done: pipe.send(("progress", done)),
                )
                with open(path, "ab", buffering=1024 * 1024) as out:
                    rows = write_csv_text(pages, out, header, bom=bom)
        finally:
            engine.dispose()
        pipe.send(("done", rows))
    except Exception as exc:  # noqa: BLE001 - reported to the coordinator, raised there
        pipe.send(("error", f"{type(exc).__name__}: {exc}"))
    finally:
        pipe.close()


def counted(
    pages: Iterator[tuple[str, int]], report: Callable[[int], None]
) -> Iterator[tuple[str, int]]:
    """Pass CSV pages through, calling `report(rows so far)` every `PROGRESS_EVERY` rows."""
    done = reported = 0
    for text, rows in pages:
        yield text, rows
        done += rows
        if done - reported >= PROGRESS_EVERY:
            report(done)
            reported = done


def write_parts(
    engine: Engine,
    workspace_id: int,
    filters: dict[str, Any],
    points: Sequence[str],
    out: Path,
    header: Sequence[str],
    *,
    bom: bool = True,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Write the export to `out` in `len(points) + 1` processes; returns the row count.

    `out` is created (or truncated) and, on success, holds the header then every part in number
    order. On any failure every process is stopped, the part files are removed and the error
    raised; `out` is then incomplete and the caller removes it. `progress` is called with the
    rows written so far, all parts together.
    """
    bounds: list[str | None] = [None, *points, None]
    paths = [out] + [out.with_name(f"{out.name}.part{i}") for i in range(1, len(bounds) - 1)]
    for path in paths:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.close(fd)
    context: Any = multiprocessing.get_context(default_start_method())
    url = shareable_url(engine)
    assert url is not None, "an in-memory database cannot be read by other processes"
    processes: list[Any] = []
    pipes: list[Pipe] = []
    try:
        for i, path in enumerate(paths):
            mine, theirs = context.Pipe()
            process = context.Process(
                target=_part_main,
                args=(url, workspace_id, filters, bounds[i], bounds[i + 1], str(path),
                      header if i == 0 else None, bom and i == 0, theirs),
                name=f"stopline-export-part-{i}",
                daemon=True,
            )  # fmt: skip
            process.start()
            theirs.close()
            processes.append(process)
            pipes.append(mine)
        _collect(pipes, "waiting", None)
        # Held only while the started, connected parts begin reading: writers wait that long.
        # (A part's progress comes after its "ready" and is read only once this is released:
        # on SQLite, recording progress needs the write lock held here.)
        with shared_snapshot(engine) as snapshot:
            for pipe in pipes:
                pipe.send(("go", snapshot))
            _collect(pipes, "ready", None)
        rows = _collect(pipes, "done", progress)
        for process in processes:
            process.join()
        with open(out, "r+b") as joined:
            joined.seek(0, os.SEEK_END)
            for path in paths[1:]:
                with open(path, "rb") as part:
                    _append(part, joined)
        return rows
    finally:
        for process in processes:
            if process.is_alive():
                process.kill()
                process.join()
        for pipe in pipes:
            pipe.close()
        for path in paths[1:]:
            path.unlink(missing_ok=True)


def _collect(pipes: list[Pipe], until: str, progress: Callable[[int], None] | None) -> int:
    """Read the parts' messages until each has sent `until`; returns the rows they wrote.

    A part's messages after `until` stay in its pipe for the next call.
    """
    waiting = {id(pipe): pipe for pipe in pipes}
    written: dict[int, int] = {}  # rows so far, by part
    rows = 0
    while waiting:
        found = wait(list(waiting.values()), timeout=None if until == "done" else READY_TIMEOUT)
        if not found:
            raise PartFailed("An export part did not start in time.")
        for pipe in found:
            assert isinstance(pipe, Pipe)
            try:
                kind, value = pipe.recv()
            except EOFError:
                raise PartFailed("An export part's process ended without finishing.") from None
            if kind == "error":
                raise PartFailed(f"An export part failed: {value}")
            if kind == "progress" and progress is not None:
                written[id(pipe)] = value
                progress(sum(written.values()))
            if kind == "done":
                rows += value
            if kind == until:
                del waiting[id(pipe)]
    return rows


def _append(source: Any, target: Any) -> None:
    """Copy the rest of `source` to the end of `target`, inside the kernel where it can."""
    size = os.fstat(source.fileno()).st_size
    offset = target.tell()
    copied = 0
    try:
        while copied < size:
            step = os.copy_file_range(
                source.fileno(), target.fileno(), size - copied, copied, offset + copied
            )
            if step == 0:
                break
            copied += step
        target.seek(offset + copied)
    except (AttributeError, OSError):  # no copy_file_range here: copy through this process
        source.seek(copied)
        target.seek(offset + copied)
        shutil.copyfileobj(source, target, 1024 * 1024)
