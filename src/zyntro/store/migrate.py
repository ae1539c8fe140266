"""Run Alembic migrations programmatically (no alembic.ini needed).

Alembic is imported only to migrate: telling whether a schema is current reads the version
table and the revision lines of the migration files, which costs no Alembic import (about a
tenth of a second on every CLI command).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa

from zyntro.errors import ZyntroError

if TYPE_CHECKING:
    from alembic.config import Config

_SCRIPTS = Path(__file__).with_name("migrations")
VERSION_TABLE = "alembic_version"  # Alembic's default
# `revision = "0003"` and `down_revision = "0002"` as script.py.mako writes them.
_REVISION_LINE = re.compile(r"^(revision|down_revision)\s*(?::[^=\n]*)?=\s*(.+?)\s*$", re.M)


def alembic_config(engine: sa.Engine) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(_SCRIPTS))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: sa.Engine, revision: str = "head") -> None:
    """Bring the schema to `revision`; a no-op when it is there already."""
    from alembic import command

    command.upgrade(alembic_config(engine), revision)


def head_revision(engine: sa.Engine) -> str | None:
    """The head revision, as Alembic reads it from the migration scripts."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config(engine)).get_current_head()


def script_head() -> str | None:
    """The head revision from the migration files' revision lines, without importing them.

    None when the files do not show exactly one head in the simple form this project writes;
    then the caller asks Alembic (`head_revision`).
    """
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (_SCRIPTS / "versions").glob("*.py"):
        lines = dict(_REVISION_LINE.findall(path.read_text(encoding="utf-8")))
        if "revision" not in lines:
            continue  # __init__.py
        try:
            revision = ast.literal_eval(lines["revision"])
            parent = ast.literal_eval(lines.get("down_revision", "None"))
        except (ValueError, SyntaxError):
            return None
        if not isinstance(revision, str):
            return None
        revisions.add(revision)
        if isinstance(parent, str):
            parents.add(parent)
        elif isinstance(parent, tuple | list) and all(isinstance(p, str) for p in parent):
            parents.update(parent)
        elif parent is not None:
            return None
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


def known_revision(revision: str) -> bool:
    """Whether one of this version's migration files is `revision` (a database migrated by a
    newer version is at a revision it does not know)."""
    for path in (_SCRIPTS / "versions").glob("*.py"):
        lines = dict(_REVISION_LINE.findall(path.read_text(encoding="utf-8")))
        try:
            if "revision" in lines and ast.literal_eval(lines["revision"]) == revision:
                return True
        except (ValueError, SyntaxError):
            continue
    return False


def current_revision(engine: sa.Engine) -> str | None:
    """The revision the database is at (None: not migrated yet)."""
    with engine.connect() as conn:
        if not sa.inspect(conn).has_table(VERSION_TABLE):
            return None
        versions = conn.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}")).all()
    if len(versions) > 1:
        raise ZyntroError("The database has more than one schema revision: migrate it by hand.")
    return versions[0][0] if versions else None


def is_current(engine: sa.Engine) -> bool:
    return current_revision(engine) == (script_head() or head_revision(engine))


def prepare(engine: sa.Engine) -> None:
    """Make the schema usable: SQLite migrates itself; PostgreSQL must already be current.

    The embedded database must work on a bare machine; a shared PostgreSQL changes only in
    a deploy step (`zyntro db upgrade`), never as a side effect of starting a node.
    """
    if engine.dialect.name == "sqlite":
        if not is_current(engine):
            upgrade(engine)
    elif not is_current(engine):
        raise ZyntroError("The database schema is not up to date: run `zyntro db upgrade`.")
