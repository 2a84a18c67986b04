"""Run the benchmarks and print each figure beside a raw baseline measured in the same run.

python -m benchmarks                 # everything, full sizes
python -m benchmarks --quick         # 10x smaller, for a smoke run
python -m benchmarks core numbers    # only bench_core.py and bench_numbers.py
"""

from __future__ import annotations

import argparse
import importlib
import json
import pkgutil
import sys
import time
from pathlib import Path
from typing import Any


def modules() -> list[str]:
    here = Path(__file__).parent
    return sorted(
        m.name[6:] for m in pkgutil.iter_modules([str(here)]) if m.name.startswith("bench_")
    )


def fmt(value: float | None, unit: str = "") -> str:
    if value is None:
        return "-"
    text = f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.3g}"
    return f"{text} {unit}".strip()


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument("only", nargs="*", help=f"benchmarks to run (of {', '.join(modules())})")
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    parser.add_argument("--json", dest="json_out", help="also write the rows to this JSON file")
    args = parser.parse_args()
    chosen = args.only or modules()
    unknown = set(chosen) - set(modules())
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
    all_rows: list[dict[str, Any]] = []
    print(f"{'benchmark':<58} {'figure':>22} {'baseline':>22} {'ratio':>7}  target")
    for name in chosen:
        module = importlib.import_module(f"benchmarks.bench_{name}")
        started = time.perf_counter()
        try:
            rows = module.run(quick=args.quick)
        except Exception as exc:  # noqa: BLE001 - report and carry on with the others
            print(f"{name}: FAILED {type(exc).__name__}: {exc}")
            continue
        for row in rows:
            row.setdefault("module", name)
            base = row.get("baseline")
            ratio = row["value"] / base if base else None
            row["ratio"] = ratio
            all_rows.append(row)
            print(
                f"{row['name'][:58]:<58} {fmt(row['value'], row.get('unit', '')):>22} "
                f"{fmt(base, row.get('unit', '')):>22} {fmt(ratio):>7}  {row.get('target', '')}"
            )
            if row.get("baseline_name"):
                print(f"{'':<58}   baseline: {row['baseline_name']}")
        print(f"  ({name}: {time.perf_counter() - started:.1f}s)")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(all_rows, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
