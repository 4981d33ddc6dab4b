"""Alembic environment: migrations run on the connection ``Store.open`` hands over."""

from __future__ import annotations

from alembic import context

from propscan.batch.store.tables import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError(
        "propscan migrations run through propscan.batch.store.Store.open(url), which passes a connection"
    )

context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
