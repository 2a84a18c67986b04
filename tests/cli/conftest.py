"""Run the real `stopline` entry point in-process against the test database."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


CliRunner = Callable[..., Result]


@pytest.fixture
def cli(database_url: str, tmp_path, monkeypatch, capsys) -> CliRunner:
    """`cli("optouts", "add", "+1...")` -> Result(code, out, err), as a user running stopline would see."""
    import importlib

    cli_main = importlib.import_module("stopline.cli.main")

    monkeypatch.setenv("STOPLINE_DATABASE_URL", database_url)
    monkeypatch.setenv("STOPLINE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("STOPLINE_SECRET_KEY", "cli-test-secret")
    monkeypatch.setenv("COLUMNS", "200")
    # Rich reads COLUMNS once, when the consoles are made (at import): set their width too, so
    # output is the same under any runner (pytest-xdist workers have no terminal).
    monkeypatch.setattr(cli_main.console, "width", 200)
    monkeypatch.setattr(cli_main.err_console, "width", 200)

    def run(*args: str) -> Result:
        cli_main.state.runtime = None
        cli_main.state.database_url = None
        monkeypatch.setattr(sys, "argv", ["stopline", *args])
        capsys.readouterr()
        try:
            cli_main.main()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


@pytest.fixture
def workspace_slug(cli: CliRunner) -> str:
    """A fresh workspace made with `stopline init --json` (its slug, for --workspace)."""
    import uuid

    result = cli(
        "init",
        "--name",
        f"Cli {uuid.uuid4().hex[:6]}",
        "--email",
        f"c{uuid.uuid4().hex[:6]}@example.com",
        "--json",
    )
    assert result.code == 0, result.err
    return result.json()["workspace"]
