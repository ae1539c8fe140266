"""What every command shares: the service, output in text or JSON, one-line errors."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, is_dataclass
from datetime import datetime
from enum import Enum
from typing import Any, ParamSpec, TypeVar

import orjson
import sqlalchemy.exc
import typer
from rich.console import Console
from rich.table import Table

from zyntro.domain import format_timestamp
from zyntro.errors import ZyntroError
from zyntro.service import Service
from zyntro.settings import Settings
from zyntro.store import Store, migrate

P = ParamSpec("P")
R = TypeVar("R")

JsonOption = typer.Option(False, "--json", help="Print JSON instead of text.")
console = Console()
error_console = Console(stderr=True)


class State:
    """Per-invocation state: settings and a lazily opened service."""

    def __init__(self, database_url: str | None) -> None:
        overrides = {"database_url": database_url} if database_url else {}
        self.settings = Settings(**overrides)  # type: ignore[arg-type]
        self._service: Service | None = None

    def service(self) -> Service:
        if self._service is None:
            store = Store(self.settings.database_url)
            try:
                migrate.prepare(store.engine)
            except BaseException:
                store.dispose()
                raise
            self._service = Service(store, max_keys_per_member=self.settings.max_keys_per_member)
        return self._service

    def close(self) -> None:
        """Close the database connections (when the command ends, also when run in-process)."""
        if self._service is not None:
            self._service.close()
            self._service = None


def state(ctx: typer.Context) -> State:
    root = ctx.find_root()
    if not isinstance(root.obj, State):
        root.obj = State(None)
    return root.obj


def service(ctx: typer.Context) -> Service:
    return state(ctx).service()


def fail(message: str) -> typer.Exit:
    error_console.print(f"error: {message}", markup=False, highlight=False, soft_wrap=True)
    return typer.Exit(1)


def handle_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Turn any failure into one line on stderr and exit code 1: never a traceback."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except (typer.Exit, typer.Abort):
            raise
        except ZyntroError as exc:
            raise fail(exc.message) from None
        except sqlalchemy.exc.OperationalError as exc:
            raise fail(f"the database cannot be reached ({type(exc.orig).__name__})") from None
        except KeyboardInterrupt:
            raise fail("interrupted; nothing was written by the unfinished step") from None
        except OSError as exc:
            raise fail(f"{exc.strerror or exc}: {exc.filename or ''}".strip(": ")) from None
        except Exception as exc:
            raise fail(f"unexpected {type(exc).__name__}: {exc}") from None

    return wrapper


def plain(value: Any) -> Any:
    """A JSON-ready version of domain objects (timestamps as the endpoint writes them)."""
    if is_dataclass(value) and not isinstance(value, type):
        return {k: plain(v) for k, v in asdict(value).items()}
    if isinstance(value, datetime):
        return format_timestamp(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def emit_json(value: Any) -> None:
    sys.stdout.write(orjson.dumps(plain(value)).decode() + "\n")


def emit(as_json: bool, value: dict[str, Any], line: str) -> None:
    """A created/changed object: one JSON object, or one human line."""
    if as_json:
        emit_json(value)
    else:
        console.print(line, markup=False, highlight=False, soft_wrap=True)


def emit_table(as_json: bool, rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> None:
    """A listing: a JSON array, or a Rich table."""
    rows = [plain(row) for row in rows]
    if as_json:
        emit_json(rows)
        return
    table = Table(*columns)
    for row in rows:
        table.add_row(*(_cell(row.get(column)) for column in columns))
    console.print(table)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)
