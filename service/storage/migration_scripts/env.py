"""Alembic environment: migrations run on the connection service/storage/migrations.py hands over (inside its
transaction, under the schema lock), never on a URL of their own."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from service.storage.database import metadata

connection: Connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    # Alembic's own table beside ours (tests use a PostgreSQL schema of their own).
    version_table_schema=context.config.attributes.get("version_table_schema"),
    # SQLite alters tables by copying them ("batch" mode); PostgreSQL alters them in place.
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
