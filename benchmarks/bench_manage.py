"""Managing opt-outs at scale on SQLite: CSV and XLSX imports end to end, and a 10M-row export.

- import: a 1M-row CSV of numbers in the formats people type (about 2% unreadable, 5% repeats
  of earlier rows in another format) through `services.imports.run_import` (read, normalise
  across processes, de-duplicate, one transaction of ledger events and opt-outs, report; the
  SQLite checkpoint that follows runs in the background, as in the product, and is waited for
  before the baseline);
  baseline: one raw sqlite3 executemany of the same numbers, already normalised, into opt_outs.
- XLSX: a 100k-row workbook through the same path; baseline: calamine reading the sheet alone.
- export: 10M opt-outs (1% with a contact, some blocked) to CSV through `services.exports` (one
  process per CPU for a list this long), in a subprocess whose peak memory (PSS summed over
  every exporting process) is measured; baseline: a raw cursor and csv.writer over opt_outs.

quick=True makes every size 10x smaller.
"""

from __future__ import annotations

import csv
import json
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

_AREAS = ("212", "213", "305", "312", "404", "415", "512", "617", "646", "702", "718", "917")


def _valid_local(rng: random.Random) -> tuple[str, str, str]:
    # NXX exchanges 200-999 (not x11), so almost every generated number is valid.
    while True:
        exchange = rng.randint(200, 999)
        if exchange % 100 != 11:
            return rng.choice(_AREAS), str(exchange), f"{rng.randint(0, 9999):04d}"


def _formatted(rng: random.Random, area: str, exchange: str, line: str) -> str:
    kind = rng.randrange(10)
    if kind == 0:
        return f"+1{area}{exchange}{line}"
    if kind == 1:
        return f"({area}) {exchange}-{line}"
    if kind == 2:
        return f"{area}-{exchange}-{line}"
    if kind == 3:
        return f"{area}.{exchange}.{line}"
    if kind == 4:
        return f"1{area}{exchange}{line}"
    if kind == 5:
        return f"+1 {area} {exchange} {line}"
    if kind == 6:
        return f"{area}{exchange}{line}"
    if kind == 7:
        return f"1 ({area}) {exchange}-{line}"
    if kind == 8:
        return f"+1-{area}-{exchange}-{line}"
    return f"{area} {exchange} {line}"


def make_csv(path: Path, rows: int, seed: int = 5) -> int:
    """Write a mixed-format CSV; returns how many distinct valid-looking numbers it holds."""
    rng = random.Random(seed)
    seen: list[tuple[str, str, str]] = []
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Name", "Phone", "Note"])
        for i in range(rows):
            roll = rng.random()
            if roll < 0.05 and seen:
                phone = _formatted(rng, *rng.choice(seen))  # a repeat, typed differently
            elif roll < 0.07:
                phone = rng.choice(("n/a", "call me", "555-01", "12345", ""))
            elif roll < 0.09:
                phone = f"+44 7{rng.randint(400, 999)} {rng.randint(0, 999999):06d}"
            else:
                parts = _valid_local(rng)
                seen.append(parts)
                phone = _formatted(rng, *parts)
            writer.writerow([f"Customer {i}", phone, "imported"])
    return len(set(seen))


def _engine_and_workspace(path: Path) -> tuple[Any, int]:
    from stopline.services import workspaces
    from stopline.store.db import make_engine, write
    from stopline.store.migrate import upgrade

    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    with write(engine) as conn:
        ws = workspaces.create_workspace(
            conn, name="Bench", owner_email="bench@example.com", owner_password="benchmark1"
        ).workspace
    return engine, ws.id


def _import(engine: Any, ws_id: int, path: Path, reports: Path) -> Any:
    from stopline.services import imports

    return imports.run_import(
        engine,
        ws_id,
        path,
        filename=path.name,
        reason="Imported from the old CRM",
        actor="bench",
        report_dir=reports,
    )


def _settle(engine: Any) -> None:
    """After the timed import: let its background WAL checkpoint finish (it copies the
    committed rows into the database file) before anything else is measured."""
    from stopline.store.db import wait_for_checkpoints

    wait_for_checkpoints()
    engine.dispose()


def bench_csv_import(tmp: Path, rows: int) -> dict[str, Any]:
    source = tmp / "optouts.csv"
    make_csv(source, rows)
    engine, ws_id = _engine_and_workspace(tmp / "import.db")
    started = time.perf_counter()
    report = _import(engine, ws_id, source, tmp / "reports")
    seconds = time.perf_counter() - started
    _settle(engine)
    assert report.rows == rows and report.added > 0.85 * rows, report.as_dict()
    # Baseline: the same numbers, already normalised, in one executemany.
    from stopline.services.consent import now_utc
    from stopline.store.db import make_engine, read

    check = make_engine(f"sqlite:///{tmp / 'import.db'}")
    with read(check) as conn:
        from stopline.services import ledger as ledger_service

        assert ledger_service.verify(conn, ws_id).events == report.added
    check.dispose()
    numbers = _read_numbers(tmp / "import.db", ws_id)
    raw_db = tmp / "raw.db"
    _engine_and_workspace(raw_db)[0].dispose()
    stamp = now_utc().isoformat(sep=" ")
    raw = sqlite3.connect(raw_db)
    raw.execute("PRAGMA journal_mode=WAL")
    raw.execute("PRAGMA synchronous=NORMAL")
    started = time.perf_counter()
    raw.executemany(
        "INSERT INTO opt_outs (workspace_id, number, scope, scope_key, method, reason, actor,"
        " created_at, event_seq) VALUES (1, ?, 'workspace', '', 'import', 'r', 'bench', ?, ?)",
        ((n, stamp, i) for i, n in enumerate(numbers, 1)),
    )
    raw.commit()
    baseline_seconds = time.perf_counter() - started
    raw.close()
    return {
        "name": f"import {rows:,}-row mixed-format CSV (5% repeats) into SQLite, end to end",
        "value": rows / seconds,
        "unit": "rows/s",
        "baseline": len(numbers) / baseline_seconds,
        "baseline_name": "raw sqlite3 executemany of the pre-normalised numbers into opt_outs",
        "target": ">= 70,000 rows/s",
        "seconds": seconds,
        "added": report.added,
        "skipped": report.duplicates,
        "rejected": report.rejected,
    }


def _read_numbers(db: Path, ws_id: int) -> list[str]:
    conn = sqlite3.connect(db)
    try:
        return [
            r[0]
            for r in conn.execute("SELECT number FROM opt_outs WHERE workspace_id = ?", (ws_id,))
        ]
    finally:
        conn.close()


def bench_xlsx_import(tmp: Path, rows: int) -> dict[str, Any]:
    import openpyxl
    import python_calamine

    rng = random.Random(9)
    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet("Opt-outs")
    sheet.append(["Name", "Mobile", "Note"])
    for i in range(rows):
        area, exchange, line = _valid_local(rng)
        # Half typed as numbers (as Excel stores them), half as text in people's formats.
        cell: Any = (
            int(f"1{area}{exchange}{line}") if i % 2 else _formatted(rng, area, exchange, line)
        )
        sheet.append([f"Customer {i}", cell, "x"])
    source = tmp / "optouts.xlsx"
    book.save(source)
    engine, ws_id = _engine_and_workspace(tmp / "xlsx.db")
    started = time.perf_counter()
    report = _import(engine, ws_id, source, tmp / "reports")
    seconds = time.perf_counter() - started
    _settle(engine)
    assert report.rows == rows and report.added > 0.95 * rows, report.as_dict()
    started = time.perf_counter()
    workbook = python_calamine.CalamineWorkbook.from_path(str(source))
    values = [r[1] for r in workbook.get_sheet_by_name("Opt-outs").iter_rows()]
    baseline = time.perf_counter() - started
    assert len(values) == rows + 1
    return {
        "name": f"import {rows:,}-row XLSX into SQLite, end to end",
        "value": seconds,
        "unit": "s",
        "baseline": baseline,
        "baseline_name": "python-calamine reading the sheet alone",
        "target": "< 3 s" if rows >= 100_000 else "< 0.3 s",
    }


# --- export ----------------------------------------------------------------------------------


def _seed_export(db: Path, ws_id: int, count: int) -> None:
    """Projection rows only (this measures reading and writing the list, not the ledger)."""
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    stamp = datetime.now(UTC).isoformat(sep=" ")[:26]
    areas = sorted(_AREAS)
    per_area = count // len(areas) + 1

    def rows() -> Any:
        made = 0
        for area in areas:
            for local in range(per_area):
                if made == count:
                    return
                made += 1
                yield (ws_id, f"+1{area}{2000000 + local:07d}", made, stamp)

    conn.executemany(
        "INSERT INTO opt_outs (workspace_id, number, event_seq, created_at, scope, scope_key,"
        " method, reason, actor) VALUES (?, ?, ?, ?, 'workspace', '', 'import',"
        " 'Imported from the old CRM', 'member:bench')",
        rows(),
    )
    numbers = [
        r[0] for r in conn.execute("SELECT number FROM opt_outs WHERE workspace_id = ?", (ws_id,))
    ]
    rng = random.Random(3)
    with_contact = sorted(rng.sample(numbers, len(numbers) // 100))
    conn.executemany(
        "INSERT INTO contacts (id, workspace_id, name, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
        ((i, ws_id, f"Customer {i}", stamp, stamp) for i in range(1, len(with_contact) + 1)),
    )
    conn.executemany(
        "INSERT INTO contact_numbers (workspace_id, number, contact_id, label) VALUES (?, ?, ?, 'mobile')",
        ((ws_id, n, i) for i, n in enumerate(with_contact, 1)),
    )
    conn.executemany(
        "INSERT INTO blocks (workspace_id, number, method, reason, actor, created_at, event_seq)"
        " VALUES (?, ?, 'manual', 'spam', 'bench', ?, 0)",
        ((ws_id, n, stamp) for n in sorted(rng.sample(numbers, len(numbers) // 1000))),
    )
    conn.commit()
    conn.close()


def export_child(db: str, ws_id: int, out: str, raw: bool) -> None:
    """Run in a subprocess: export, then print rows, seconds and the peak memory of this process
    and the processes it starts (an export of a long list is written by several), as their
    summed proportional set size: pages they share (libraries, copy-on-write) count once."""
    sampler = _TreeMemory()
    sampler.start()
    started = time.perf_counter()
    if raw:
        conn = sqlite3.connect(db)
        with open(out, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["number", "method", "reason", "created_at", "actor"])
            cursor = conn.execute(
                "SELECT number, method, reason, created_at, actor FROM opt_outs WHERE workspace_id = ?",
                (ws_id,),
            )
            rows = 0
            while batch := cursor.fetchmany(10_000):
                writer.writerows(batch)
                rows += len(batch)
        conn.close()
    else:
        from stopline.services import exports
        from stopline.store.db import make_engine

        engine = make_engine(f"sqlite:///{db}")
        rows = exports.run_export(engine, ws_id, exports.ExportFilter(), Path(out))
        engine.dispose()
    seconds = time.perf_counter() - started
    sampler.stop()
    print(json.dumps({"rows": rows, "seconds": seconds, "peak_mb": sampler.peak_kb / 1024}))


class _TreeMemory:
    """Samples the summed PSS of this process and all its descendants every 20 ms (Linux)."""

    def __init__(self) -> None:
        import threading

        self.peak_kb = 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._done.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._done.wait(0.02):
            self.peak_kb = max(self.peak_kb, _tree_memory_kb(os.getpid()))


def _tree_memory_kb(root: int) -> int:
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    parents[int(entry)] = int(stat.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    tree = {root}
    grew = True
    while grew:
        grew = False
        for pid, parent in parents.items():
            if parent in tree and pid not in tree:
                tree.add(pid)
                grew = True
    return sum(_pss_kb(pid) for pid in tree)


def _pss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as rollup:
            for line in rollup:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _run_child(db: Path, ws_id: int, out: Path, raw: bool) -> dict[str, Any]:
    root = Path(__file__).resolve().parent.parent
    code = (
        f"import sys; sys.path.insert(0, {str(root)!r}); "
        "from benchmarks.bench_manage import export_child; "
        f"export_child({str(db)!r}, {ws_id}, {str(out)!r}, {raw!r})"
    )
    env = {**os.environ, "PYTHONPATH": str(root / "src")}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def _workers() -> int:
    from stopline.processes import default_workers

    return default_workers()


def bench_export(tmp: Path, count: int) -> list[dict[str, Any]]:
    engine, ws_id = _engine_and_workspace(tmp / "export.db")
    engine.dispose()
    _seed_export(tmp / "export.db", ws_id, count)
    ours = _run_child(tmp / "export.db", ws_id, tmp / "export.csv", raw=False)
    base = _run_child(tmp / "export.db", ws_id, tmp / "raw.csv", raw=True)
    assert ours["rows"] == count == base["rows"]
    return [
        {
            "name": f"export {count:,} opt-outs to CSV (contacts, blocks, formula-safe),"
            f" {_workers()} process(es)",
            "value": count / ours["seconds"],
            "unit": "rows/s",
            "baseline": count / base["seconds"],
            "baseline_name": "raw sqlite3 cursor + csv.writer, opt_outs columns only",
            "target": ">= 500,000 rows/s",
        },
        {
            "name": f"export {count:,} opt-outs: peak memory (PSS) of every exporting process",
            "value": ours["peak_mb"],
            "unit": "MB",
            "baseline": base["peak_mb"],
            "baseline_name": "the raw cursor + csv.writer process",
            "target": "< 200 MB",
        },
    ]


def run(quick: bool = False) -> list[dict[str, Any]]:
    scale = 10 if quick else 1
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        results.append(bench_csv_import(tmp, 1_000_000 // scale))
        results.append(bench_xlsx_import(tmp, 100_000 // scale))
        results.extend(bench_export(tmp, 10_000_000 // scale))
    return results
