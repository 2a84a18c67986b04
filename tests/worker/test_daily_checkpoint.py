"""The worker writes a signed ledger checkpoint once a day, to a file under the data directory."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from stopline.services import checkpoints
from stopline.store.db import read
from stopline.worker.runner import Worker


def test_the_job_worker_checkpoints_once_a_day(engine, ws, keyring, tmp_path) -> None:  # type: ignore[no-untyped-def]
    # Far in the future, so checkpoints other tests wrote today do not count as the last one.
    day = datetime(2099, 1, 1, 3, tzinfo=UTC)
    clock = {"now": day}
    worker = Worker(
        engine,
        keyring,
        clock=lambda: clock["now"],
        checkpoint=checkpoints.Schedule(data_dir=tmp_path),
    )
    worker.run_job()
    files = sorted((tmp_path / "checkpoints").glob("*.json"))
    assert [f.name for f in files] == ["ledger-checkpoint-20990101T030000Z.json"]
    heads = json.loads(files[0].read_text())["checkpoints"]
    assert ws.id in {h["workspace_id"] for h in heads}

    clock["now"] = day + timedelta(hours=23)
    worker._checkpoint_checked = -float("inf")  # skip the once-a-minute look
    worker.run_job()
    assert len(list((tmp_path / "checkpoints").glob("*.json"))) == 1

    clock["now"] = day + timedelta(hours=24)
    worker._checkpoint_checked = -float("inf")
    worker.run_job()
    assert len(list((tmp_path / "checkpoints").glob("*.json"))) == 2
    with read(engine) as conn:
        result = checkpoints.verify(
            conn,
            json.loads(files[0].read_text()),
            trusted_key=checkpoints.public_key(keyring).text,
            workspace_id=ws.id,
        )
    assert result.ok
