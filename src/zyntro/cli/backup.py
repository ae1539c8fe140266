"""`zyntro db backup`, `zyntro db restore` and `zyntro db copy` (store/backup.py, store/copy.py)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from zyntro.cli.common import check_database_url, handle_errors, state
from zyntro.cli.output import byte_size, error_console, show

if TYPE_CHECKING:
    from zyntro.store.copy import Report

_LABELS = {"pages": "copying pages", "rows": "copying rows"}


@contextmanager
def progress_bar() -> Iterator[Report]:
    """A `Report` drawing one bar per kind of work on stderr (on a terminal only)."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    bars = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=error_console,
        transient=True,
        disable=not error_console.is_terminal,
    )
    tasks: dict[str, object] = {}

    def report(what: str, done: int, total: int) -> None:
        if what not in tasks:
            tasks[what] = bars.add_task(_LABELS.get(what, what), total=total)
        bars.update(tasks[what], completed=done, total=total)  # type: ignore[arg-type]

    with bars:
        yield report


@handle_errors
def db_backup(
    ctx: typer.Context,
    file: Path = typer.Argument(..., help="The backup file to write (replaced if it exists)."),
) -> None:
    """Back up the database while it serves: SQLite's online backup, or pg_dump -Fc."""
    from zyntro.store.backup import backup, manifest_path

    check_database_url(state(ctx).database_url)  # a missing SQLite file: said, not made
    started = time.perf_counter()
    with progress_bar() as report:
        done = backup(state(ctx).database_url, file, report)
    kind = "SQLite database" if done.format == "sqlite" else "pg_dump custom archive"
    show(
        f"Backup written to {done.file} ({kind}, {byte_size(done.bytes)}, schema revision "
        f"{done.revision}) in {time.perf_counter() - started:.1f} s; "
        f"manifest {manifest_path(done.file)}"
    )


@handle_errors
def db_restore(
    ctx: typer.Context,
    file: Path = typer.Argument(..., help="A file written by `zyntro db backup`."),
    force: bool = typer.Option(
        False, "--force", help="Replace a database that holds data (backed up first)."
    ),
) -> None:
    """Restore a backup into an empty database, then migrate it to the current revision."""
    from zyntro.store.backup import restore
    from zyntro.store.copy import display_url

    url = state(ctx).database_url
    started = time.perf_counter()
    with progress_bar() as report:
        done = restore(file, url, report, force=force)
    if done.replaced is not None:
        show(f"The data it replaced was backed up to {done.replaced.file}")
    show(
        f"Restored {file} into {display_url(url)} in {time.perf_counter() - started:.1f} s "
        f"(schema revision {done.from_revision} -> {done.revision})"
    )


@handle_errors
def db_copy(
    source_url: str = typer.Argument(..., help="The database to copy from (read only)."),
    target_url: str = typer.Argument(..., help="An empty database to copy into."),
    force: bool = typer.Option(
        False, "--force", help="Replace a target that holds data (backed up first)."
    ),
) -> None:
    """Copy every row between databases (SQLite <-> PostgreSQL), ids and timestamps kept."""
    from zyntro.store.backup import backup_before_replacing
    from zyntro.store.copy import copy_database, display_url

    started = time.perf_counter()
    with progress_bar() as report:
        replaced = backup_before_replacing(target_url, Path.cwd(), report) if force else None
        copied = copy_database(source_url, target_url, report, replace=force)
    if replaced is not None:
        show(f"The data it replaced was backed up to {replaced.file}")
    show(
        f"Copied {sum(copied.values())} rows from {display_url(source_url)} to "
        f"{display_url(target_url)} in {time.perf_counter() - started:.1f} s"
    )
