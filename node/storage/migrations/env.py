"""Alembic environment: runs on the connection handed over by Database.migrate()."""

from __future__ import annotations

from alembic import context

from node.storage.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - always called through Database.migrate()
    raise RuntimeError("run migrations through node.storage.db.Database.migrate()")
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
