"""Installing and stopping: `make run` installs only what running needs, and Ctrl-C stops
`stopline serve` quietly at any moment (while it imports, starts or serves)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _make_dry_run(target: str, tmp_path: Path) -> str:
    return subprocess.run(
        ["make", "-n", target, f"VENV={tmp_path / 'venv'}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def test_make_run_installs_only_what_running_needs_and_says_so(tmp_path):
    run = _make_dry_run("run", tmp_path)
    assert "pip install" in run and "-e ." in run and "[test]" not in run
    assert "Installing stopline and what it needs to run" in run
    test = _make_dry_run("test", tmp_path)
    assert "-e '.[test]'" in test and "test tools" in test


def _serve(tmp_path: Path) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "STOPLINE_DATABASE_URL": f"sqlite:///{tmp_path / 'stopline.db'}",
        "STOPLINE_DATA_DIR": str(tmp_path / "data"),
        "STOPLINE_SECRET_KEY": "lifecycle-" + uuid.uuid4().hex,
        "PYTHONUNBUFFERED": "1",
    }
    code = "from stopline.cli import main; main()"
    return subprocess.Popen(
        [sys.executable, "-c", code, "serve", "--port", "0", "--no-demo"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # Ctrl-C reaches the whole process group, as in a terminal
        cwd=tmp_path,
    )


@pytest.mark.slow
@pytest.mark.parametrize("moment", ["importing", "serving"])
def test_ctrl_c_stops_serve_without_a_traceback(tmp_path, moment):
    process = _serve(tmp_path)
    try:
        if moment == "importing":
            time.sleep(0.2)
        else:
            assert process.stdout is not None
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                line = process.stdout.readline()
                if "stopline on http" in line or not line:
                    break
            time.sleep(0.5)
        os.killpg(process.pid, signal.SIGINT)
        out, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert "Traceback" not in out, out
    assert process.returncode in (0, 130), (process.returncode, out)
