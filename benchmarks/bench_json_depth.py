"""Benchmark: the JSON depth check every request body passes, against decoding the same body.

The check runs before a JSON body is decoded (`stopline.web.json_body`); the baseline is
msgspec decoding it, which every JSON route does anyway. Bodies: a realistic bulk request (10,000
consent records, about 1.3 MB, many brackets, so the full scan runs) and a small one (one
opt-out, answered by counting brackets).
"""

from __future__ import annotations

import json
import time
from typing import Any

import msgspec

from stopline.web.json_body import too_deep


def _per_second(fn: Any, body: bytes, rounds: int) -> float:
    started = time.perf_counter()
    for _ in range(rounds):
        fn(body)
    return rounds / (time.perf_counter() - started)


def run(quick: bool = False) -> list[dict[str, Any]]:
    rounds = 5 if quick else 30
    bulk = json.dumps(
        {
            "items": [
                {
                    "contact_id": f"+1415555{i:04d}",
                    "correlation_id": f"c-{i}",
                    "status": "opt-out",
                    "source": "website",
                    "meta": {"tags": ["a", "b"], "note": "[not a bracket]"},
                }
                for i in range(10_000)
            ]
        }
    ).encode()
    small = json.dumps({"number": "+14155550100", "reason": "asked by phone"}).encode()
    assert not too_deep(bulk) and not too_deep(small)
    rows = []
    for label, body, n in (("bulk body", bulk, rounds), ("one opt-out", small, rounds * 10_000)):
        rows.append(
            {
                "name": f"JSON depth check, {label} ({len(body):,} bytes)",
                "value": _per_second(too_deep, body, n),
                "unit": "bodies/s",
                "baseline": _per_second(msgspec.json.decode, body, n),
                "baseline_name": "msgspec decoding the same body",
                # Stripping the strings (one regex pass) is most of it; a bulk body pays tens of
                # ms, a typical body a fraction of a microsecond.
                "target": ">= 20 bodies/s (bulk), >= 1,000,000/s (small)",
            }
        )
    return rows
