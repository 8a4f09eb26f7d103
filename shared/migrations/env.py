"""Alembic environment: runs the migrations against the engine passed in by :mod:`shared.migrate`."""

from __future__ import annotations

from alembic import context

from shared.schema import metadata

config = context.config


def run_migrations_online() -> None:
    """Run migrations on the connection given in ``config.attributes['connection']``."""
    connection = config.attributes.get("connection")
    if connection is None:
        from shared.db import make_engine

        engine = make_engine(config.get_main_option("sqlalchemy.url") or "")
        with engine.begin() as conn:
            context.configure(connection=conn, target_metadata=metadata, render_as_batch=True)
            with context.begin_transaction():
                context.run_migrations()
        return
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()
