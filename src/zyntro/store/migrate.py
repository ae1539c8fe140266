"""Run Alembic migrations programmatically (no alembic.ini needed)."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from zyntro.errors import ZyntroError

_SCRIPTS = Path(__file__).with_name("migrations")


def alembic_config(engine: sa.Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(_SCRIPTS))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: sa.Engine, revision: str = "head") -> None:
    """Bring the schema to `revision`; a no-op when it is there already."""
    command.upgrade(alembic_config(engine), revision)


def head_revision(engine: sa.Engine) -> str | None:
    return ScriptDirectory.from_config(alembic_config(engine)).get_current_head()


def current_revision(engine: sa.Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def is_current(engine: sa.Engine) -> bool:
    return current_revision(engine) == head_revision(engine)


def prepare(engine: sa.Engine) -> None:
    """Make the schema usable: SQLite migrates itself; PostgreSQL must already be current.

    The embedded database must work on a bare machine; a shared PostgreSQL changes only in
    a deploy step (`zyntro db upgrade`), never as a side effect of starting a node.
    """
    if engine.dialect.name == "sqlite":
        upgrade(engine)
    elif not is_current(engine):
        raise ZyntroError("The database schema is not up to date: run `zyntro db upgrade`.")
