"""`zyntro db backup` and `zyntro db restore` (docs/operations.md, "Backup and restore").

A backup is one file, and a manifest next to it (`FILE.json`) naming its format and the schema
revision it was taken at:

- SQLite: a SQLite database, copied with SQLite's online backup API inside one read
  transaction, so it is the database as it was at one moment while the server goes on serving
  and writing (WAL lets readers and the writer pass each other). The copy is then switched to a
  rollback journal: one self-contained file, which `sqlite3 FILE` opens as it is.
- PostgreSQL: `pg_dump` in its custom format (`pg_dump -Fc`), itself one consistent snapshot.

Both also hold their revision inside (Alembic's version table), so a backup without its manifest
still restores. A restore goes into an empty database only (or one replaced with `force`, after
a backup of it is taken), then migrates it to the current revision. Across backends the rows go
through `store/copy.py`; a pg_dump file restores into PostgreSQL only (docs/decisions.md).
"""

from __future__ import annotations

import json
import os
import sqlite3
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from zyntro.errors import ZyntroError
from zyntro.store import migrate, pgtools
from zyntro.store.copy import Report, copy_rows, display_url, drop_schema, has_rows, no_report
from zyntro.store.engine import SQLITE_BUSY_TIMEOUT_MS, create_engine, normalise_url

Format = Literal["sqlite", "pg_dump"]

STEP_PAGES = 1024  # pages the SQLite backup API copies per step (4 MiB at the default size)
MANIFEST_VERSION = 1
_MAGIC: dict[bytes, Format] = {b"SQLite format 3\x00": "sqlite", b"PGDMP": "pg_dump"}


@dataclass(frozen=True)
class Backup:
    """What `backup` wrote."""

    file: Path
    format: Format
    revision: str | None
    bytes: int


@dataclass(frozen=True)
class Restored:
    """What `restore` did: the backup's revision, the database's now, and what it replaced."""

    format: Format
    from_revision: str | None
    revision: str | None
    replaced: Backup | None


def manifest_path(file: Path) -> Path:
    return file.with_name(file.name + ".json")


def sqlite_path(url: str) -> Path:
    """The file a `sqlite:///` URL names (an in-memory database cannot be backed up)."""
    database = make_url(normalise_url(url)).database
    if not database or database == ":memory:" or database.startswith("file:"):
        raise ZyntroError(f"{display_url(url)} does not name a SQLite file")
    return Path(database)


def backup(url: str, file: Path, report: Report = no_report) -> Backup:
    """Write a backup of the database at `url` to `file` (replaced atomically if it exists)."""
    engine = create_engine(url)
    try:
        dialect = engine.dialect.name
        if dialect == "sqlite":
            engine.dispose()
            source = sqlite_path(url)
            if file.exists() and file.resolve() == source.resolve():
                raise ZyntroError("the backup file cannot be the database file itself")
            fmt: Format = "sqlite"
            revision = _sqlite_backup(source, file, report)
        else:
            server = pgtools.server_major(engine)
            revision = migrate.current_revision(engine)
            fmt = "pg_dump"
            partial = _partial(file)
            try:
                pgtools.dump(url, partial, server)
                os.replace(partial, file)
            finally:
                partial.unlink(missing_ok=True)
    finally:
        engine.dispose()
    done = Backup(file=file, format=fmt, revision=revision, bytes=file.stat().st_size)
    _write_manifest(done, dialect)
    return done


def _partial(file: Path) -> Path:
    partial = file.with_name(file.name + ".partial")
    partial.unlink(missing_ok=True)
    return partial


def _sqlite_backup(source: Path, file: Path, report: Report) -> str | None:
    if not source.is_file():
        raise ZyntroError(f"no SQLite database at {source}")
    partial = _partial(file)
    src = sqlite3.connect(source, isolation_level=None, timeout=SQLITE_BUSY_TIMEOUT_MS / 1000)
    try:
        # A read transaction held across every step: each step reads the same snapshot, so
        # commits by other processes neither tear the copy nor restart it.
        src.execute("BEGIN")
        revision = _revision(src)  # the first read: the snapshot starts here
        dst = sqlite3.connect(partial, isolation_level=None)
        try:
            src.backup(
                dst,
                pages=STEP_PAGES,
                progress=lambda _status, remaining, total: report(
                    "pages", total - remaining, total
                ),
            )
            src.execute("COMMIT")
            dst.execute("PRAGMA journal_mode=DELETE")  # one file, no -wal beside it
        finally:
            dst.close()
        os.replace(partial, file)
    finally:
        src.close()
        partial.unlink(missing_ok=True)
    return revision


def _revision(conn: sqlite3.Connection) -> str | None:
    found = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (migrate.VERSION_TABLE,)
    ).fetchone()
    if found is None:
        return None
    row = conn.execute(f"SELECT version_num FROM {migrate.VERSION_TABLE}").fetchone()
    return str(row[0]) if row else None


def _write_manifest(done: Backup, source: str) -> None:
    from zyntro import __version__

    manifest = {
        "zyntro_backup": MANIFEST_VERSION,
        "format": done.format,
        "schema_revision": done.revision,
        "taken_at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "source": source,
        "bytes": done.bytes,
        "zyntro_version": __version__,
    }
    manifest_path(done.file).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")


def backup_format(file: Path) -> Format:
    """What the file holds, told by its first bytes (the manifest is not needed)."""
    try:
        with file.open("rb") as handle:
            head = handle.read(16)
    except FileNotFoundError:
        raise ZyntroError(f"no backup file at {file}") from None
    for magic, fmt in _MAGIC.items():
        if head.startswith(magic):
            return fmt
    raise ZyntroError(
        f"{file} is not a Zyntro backup (neither a SQLite database nor a pg_dump custom archive)"
    )


def backup_revision(file: Path, fmt: Format) -> str | None:
    """The schema revision the backup was taken at: in the file (SQLite) or its manifest."""
    if fmt == "sqlite":
        conn = sqlite3.connect(f"{file.resolve().as_uri()}?mode=ro", uri=True)
        try:
            return _revision(conn)
        except sqlite3.DatabaseError as exc:
            raise ZyntroError(f"{file} cannot be read as a SQLite database: {exc}") from None
        finally:
            conn.close()
    try:
        manifest = json.loads(manifest_path(file).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    revision = manifest.get("schema_revision") if isinstance(manifest, dict) else None
    return revision if isinstance(revision, str) else None


def restore(file: Path, url: str, report: Report = no_report, *, force: bool = False) -> Restored:
    """Restore `file` into the database at `url`, then migrate it to the current revision.

    The database must hold no rows; with `force` a backup of it is taken first (next to
    `file`, named `replaced-<UTC time>`), and its tables are replaced.
    """
    fmt = backup_format(file)
    from_revision = backup_revision(file, fmt)
    if fmt == "sqlite" and from_revision is None:
        raise ZyntroError(f"{file} is a SQLite database without a Zyntro schema")
    engine = create_engine(url)
    try:
        dialect = engine.dialect.name
        if fmt == "pg_dump" and dialect != "postgresql":
            raise ZyntroError(
                "a pg_dump backup restores into PostgreSQL only: restore it into a PostgreSQL "
                "database, then `zyntro db copy POSTGRESQL_URL sqlite:///FILE`"
            )
        if has_rows(engine) and not force:
            raise ZyntroError(
                f"the database ({display_url(url)}) is not empty: give --force to replace "
                "it (a backup of it is taken first)"
            )
        replaced = backup_before_replacing(url, file.parent, report)
        if dialect == "sqlite":
            engine.dispose()
            _sqlite_restore(file, sqlite_path(url), report)
        elif fmt == "pg_dump":
            drop_schema(engine)
            pgtools.restore(file, url, pgtools.server_major(engine))
        else:
            drop_schema(engine)
            _copy_sqlite_file(file, from_revision, engine, report)
        migrate.upgrade(engine)
        revision = migrate.current_revision(engine)
    finally:
        engine.dispose()
    return Restored(format=fmt, from_revision=from_revision, revision=revision, replaced=replaced)


def backup_before_replacing(url: str, directory: Path, report: Report = no_report) -> Backup | None:
    """A backup of the database about to be replaced, into `directory`; None when it is empty."""
    engine = create_engine(url)
    try:
        if not has_rows(engine):
            return None
        suffix = ".db" if engine.dialect.name == "sqlite" else ".dump"
    finally:
        engine.dispose()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return backup(url, directory / f"replaced-{stamp}{suffix}", report)


def _sqlite_restore(file: Path, target: Path, report: Report) -> None:
    """The backup's pages into the target file, through the same backup API."""
    if file.resolve() == target.resolve():
        raise ZyntroError("the backup file cannot be restored onto itself")
    src = sqlite3.connect(f"{file.resolve().as_uri()}?mode=ro", uri=True)
    dst = sqlite3.connect(target, isolation_level=None, timeout=SQLITE_BUSY_TIMEOUT_MS / 1000)
    try:
        # Written straight into the file, not through a WAL the size of the database that
        # would then be copied again; no server may hold the file while it is replaced.
        dst.execute("PRAGMA journal_mode=DELETE")
        src.backup(
            dst,
            pages=STEP_PAGES,
            progress=lambda _status, remaining, total: report("pages", total - remaining, total),
        )
        dst.execute("PRAGMA journal_mode=WAL")  # what the server runs with
    finally:
        src.close()
        dst.close()


def _copy_sqlite_file(file: Path, revision: str | None, target: sa.Engine, report: Report) -> None:
    """A SQLite backup into PostgreSQL: its rows copied from a scratch copy at the current revision.

    The copy is what gets opened (the server's pragmas switch a file to WAL) and migrated when
    the backup is older: the backup file itself is only ever read.
    """
    head = migrate.script_head() or migrate.head_revision(target)
    migrate.upgrade(target)
    with tempfile.TemporaryDirectory(prefix="zyntro-restore-") as scratch:
        source_file = Path(scratch) / "backup.db"
        _sqlite_restore(file, source_file, no_report)
        source = create_engine(f"sqlite:///{source_file}")
        try:
            if revision != head:
                migrate.upgrade(source)
            copy_rows(source, target, report)
        finally:
            source.dispose()
