"""The `stopline` command line: each module adds its commands to the one Typer app.

The package itself imports nothing heavy, so the entry point's `main` is running (and turns
Ctrl-C into a quiet exit 130) while the command's modules are still being imported.
"""

from __future__ import annotations

from typing import Any

__all__ = ["app", "main"]


def main() -> None:
    try:
        from stopline.cli.main import main as run

        run()
    except KeyboardInterrupt:
        raise SystemExit(130) from None


def __getattr__(name: str) -> Any:
    if name == "app":
        from stopline.cli.main import app

        return app
    raise AttributeError(name)
