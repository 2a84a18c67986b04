"""The `stopline` command line: each module adds its commands to the one Typer app."""

from stopline.cli.main import app, main

__all__ = ["app", "main"]
