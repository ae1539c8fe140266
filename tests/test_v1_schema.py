"""Migration 0002 (sign-in throttle, idempotency keys) builds exactly what tables.py says."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from zyntro.store import Store, migrate
from zyntro.store.tables import metadata


def test_migrated_schema_matches_the_tables(store: Store) -> None:
    with store.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, metadata) == []
        names = sa.inspect(conn).get_table_names()
    assert {"sign_in_throttle", "idempotency_keys"} <= set(names)


def test_0002_downgrades_and_upgrades_on_sqlite(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'migrate.db'}")
    try:
        migrate.upgrade(store.engine)
        command.downgrade(migrate.alembic_config(store.engine), "0001")
        with store.engine.connect() as conn:
            assert "idempotency_keys" not in sa.inspect(conn).get_table_names()
        migrate.upgrade(store.engine)
        assert migrate.is_current(store.engine)
    finally:
        store.dispose()
