"""Alembic environment: migrations run on the engine handed over by `Database.upgrade`."""

from __future__ import annotations

from alembic import context

from etl.store.schema import metadata

config = context.config
engine = config.attributes["engine"]

with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=engine.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()
