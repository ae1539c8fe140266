"""Alembic environment: uses the engine handed over in `config.attributes`."""

from __future__ import annotations

from alembic import context

from zyntro.store.tables import metadata

engine = context.config.attributes["engine"]

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables in batches
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
