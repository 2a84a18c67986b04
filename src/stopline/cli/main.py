"""The `stopline` command: global options, output and error handling, and the core commands."""

from __future__ import annotations

import importlib
import json
import pkgutil
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import Connection

from stopline.domain.errors import InvalidInput, StoplineError
from stopline.runtime import Runtime
from stopline.services import workspaces
from stopline.services.workspaces import Principal
from stopline.store.db import read, write

app = typer.Typer(
    name="stopline",
    help="Consent and opt-out engine for business text messaging.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
# Errors are one line whatever the terminal width (scripts read them; a wrapped line is two).
err_console = Console(stderr=True, soft_wrap=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
WorkspaceOpt = Annotated[
    str | None,
    typer.Option("--workspace", "-w", help="Workspace slug or id (default: the only one)."),
]


class State:
    database_url: str | None = None
    runtime: Runtime | None = None
    json: bool = False


state = State()


@app.callback()
def _global(
    database_url: Annotated[
        str | None,
        typer.Option("--database-url", envvar="STOPLINE_DATABASE_URL", help="Database URL."),
    ] = None,
) -> None:
    state.database_url = database_url


def runtime() -> Runtime:
    if state.runtime is None:
        state.runtime = Runtime.from_env(state.database_url)
        state.runtime.migrate()
    return state.runtime


@contextmanager
def writing() -> Iterator[Connection]:
    with write(runtime().engine) as conn:
        yield conn


@contextmanager
def reading() -> Iterator[Connection]:
    with read(runtime().engine) as conn:
        yield conn


def operator(conn: Connection, workspace: str | None) -> Principal:
    """The CLI acts as the workspace's owner: whoever can run it can read the database anyway."""
    ws = workspaces.resolve_workspace(conn, workspace)
    return Principal(workspace_id=ws.id, role="owner", actor="cli")


def emit(data: Any, as_json: bool, human: Callable[[], None] | str | None = None) -> None:
    if as_json:
        sys.stdout.write(json.dumps(data, indent=2, default=str, ensure_ascii=False) + "\n")
    elif callable(human):
        human()
    elif human is not None:
        console.print(human, highlight=False, markup=False)
    else:
        console.print_json(data=data, default=str)


def read_json(path: Path, what: str, code: str) -> Any:
    """A JSON file's content, or one clear error line (`what`: "JSON", "checkpoint", ...)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"{path} is not a readable {what} file: {exc}", code=code) from None


def table(columns: list[str], rows: list[list[Any]], title: str | None = None) -> None:
    t = Table(title=title)
    for column in columns:
        t.add_column(column)
    for row in rows:
        t.add_row(*["" if v is None else str(v) for v in row])
    console.print(t)


def fail(message: str, code: str, as_json: bool, exit_code: int = 2) -> None:
    if as_json:
        sys.stdout.write(json.dumps({"error": {"code": code, "message": message}}) + "\n")
    else:
        err_console.print(f"error: {message}", highlight=False, markup=False)
    raise typer.Exit(exit_code)


def _load_command_modules() -> None:
    package = importlib.import_module("stopline.cli")
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
        if info.name != "main":
            importlib.import_module(f"stopline.cli.{info.name}")


def _is_usage_error(exc: Exception) -> bool:
    """Click's usage errors, recognised by shape: Typer 0.2x vendors Click, so not `click`'s classes."""
    return callable(getattr(exc, "show", None)) and isinstance(getattr(exc, "exit_code", None), int)


def main() -> None:
    """Entry point: domain errors become one clear line and exit code 2, never a traceback."""
    _load_command_modules()
    as_json = "--json" in sys.argv
    try:
        rc = app(standalone_mode=False)
        sys.exit(rc if isinstance(rc, int) else 0)
    except StoplineError as exc:
        if as_json:
            sys.stdout.write(json.dumps({"error": exc.as_dict()}) + "\n")
        else:
            err_console.print(f"error: {exc.message} [{exc.code}]", highlight=False, markup=False)
        sys.exit(2)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        err_console.print("aborted")
        sys.exit(130)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:  # click usage errors and the like
        if _is_usage_error(exc):
            exc.show()  # type: ignore[attr-defined]
            sys.exit(exc.exit_code)  # type: ignore[attr-defined]
        if isinstance(exc, OSError | ValueError) or type(exc).__module__.startswith("sqlalchemy"):
            err_console.print(f"error: {exc}", highlight=False, markup=False)
            sys.exit(1)
        raise
