"""Schema migrations with Alembic (service/storage/migration_scripts/), run at start-up and by
`immuno-cds migrate`.

`migrate(engine)` brings the schema to the newest revision inside one transaction. On PostgreSQL it
holds the schema advisory lock meanwhile, so of several replicas or workers starting together one
migrates and the others then find nothing to do. A database made by the service before migrations
existed (the tables present, no `alembic_version`) is stamped with the initial revision, whose tables
are exactly those, and then upgraded like any other.

Adding a migration: change the tables in service/storage/database.py, then write the next revision in
service/storage/migration_scripts/versions/ (by hand, or `alembic -c <ini naming script_location> revision
--autogenerate` against a database at head); tests/test_migrations.py checks that the migrations
end at the tables service/storage/database.py declares.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import weakref
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

SCRIPTS = Path(__file__).resolve().parent / "migration_scripts"
INITIAL_REVISION = "0001_initial"
# Arbitrary constant naming this service's schema lock among the database's advisory locks.
SCHEMA_LOCK_KEY = 7_311_202_611


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(SCRIPTS))
    if connection is not None:
        config.attributes["connection"] = connection
        config.attributes["version_table_schema"] = _schema(connection)
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def _schema(connection: Connection) -> str | None:
    # Tests run each in a PostgreSQL schema of their own through schema_translate_map.
    translate = connection.get_execution_options().get("schema_translate_map") or {}
    schema: str | None = translate.get(None)
    return schema


def current_revision(connection: Connection) -> str | None:
    options = {"version_table_schema": _schema(connection)}
    return MigrationContext.configure(connection, opts=options).get_current_revision()


def _upgrade(connection: Connection) -> None:
    config = alembic_config(connection)
    if current_revision(connection) is None and inspect(connection).has_table(
        "feedback", schema=_schema(connection)
    ):
        command.stamp(config, INITIAL_REVISION)
    command.upgrade(config, "head")


# Alembic keeps the running migration in module globals (alembic.context, alembic.op), so two
# migrations interleaving on one event loop (two engines, as in tests) would trip over each other:
# one at a time per loop. Across processes the database's own locking applies.
_MIGRATION_LOCKS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
    weakref.WeakKeyDictionary()
)


def _migration_lock() -> asyncio.Lock:
    loop = asyncio.get_running_loop()
    lock = _MIGRATION_LOCKS.get(loop)
    if lock is None:
        lock = _MIGRATION_LOCKS[loop] = asyncio.Lock()
    return lock


async def migrate(engine: AsyncEngine) -> None:
    """Upgrade the schema to the newest revision (a no-op when it is there)."""
    async with _migration_lock(), engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            await connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SCHEMA_LOCK_KEY})
        await connection.run_sync(_upgrade)


async def database_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as connection:
        return await connection.run_sync(current_revision)


# --- immuno-cds migrate -----------------------------------------------------------------------------


def migrate_command(_args: argparse.Namespace) -> int:
    from service.settings import Settings
    from service.storage.database import create_engine

    settings = Settings()

    async def run() -> str | None:
        engine = create_engine(settings.effective_database_url, timeout_seconds=30.0)
        try:
            await migrate(engine)
            return await database_revision(engine)
        finally:
            await engine.dispose()

    try:
        revision = asyncio.run(run())
    except (OSError, TimeoutError, SQLAlchemyError) as error:
        # The type only: driver messages can carry the database URL and its password.
        print(f"immuno-cds: error: the migration failed ({type(error).__name__})", file=sys.stderr)
        return 1
    print(f"database schema at revision {revision}")
    return 0
