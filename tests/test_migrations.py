"""Alembic migrations: they end at the tables service/storage/database.py declares, adopt a database made
before migrations existed, run once however many start together, and `immuno-cds migrate` applies them."""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import func, insert, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from service.cli import main
from service.storage.database import create_engine, create_schema, feedback, metadata
from service.storage.migrations import database_revision, head_revision, migrate


def _differences(connection: Connection) -> list[object]:
    schema = (connection.get_execution_options().get("schema_translate_map") or {}).get(None)
    if schema is not None:
        # Reflection does not follow schema_translate_map: look at the test's schema by default.
        connection.exec_driver_sql(f'SET search_path TO "{schema}"')
    context = MigrationContext.configure(
        connection,
        opts={
            "include_name": lambda name, kind, _parent: not (kind == "table" and name == "alembic_version")
        },
    )
    differences: list[object] = compare_metadata(context, metadata)
    return differences


async def test_the_migrations_end_at_the_declared_tables(store_engine: AsyncEngine) -> None:
    async with store_engine.connect() as connection:
        assert await connection.run_sync(_differences) == []
    assert await database_revision(store_engine) == head_revision()


async def test_migrating_again_changes_nothing(store_engine: AsyncEngine) -> None:
    await migrate(store_engine)
    await migrate(store_engine)
    assert await database_revision(store_engine) == head_revision()


async def test_a_database_made_before_migrations_is_adopted_with_its_rows(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'old.sqlite3'}")
    try:
        async with engine.begin() as connection:
            await connection.run_sync(metadata.create_all)  # what the service did before migrations
            await connection.execute(
                insert(feedback).values(
                    service_id="svc",
                    card_uuid="kept",
                    outcome="accepted",
                    outcome_timestamp=datetime(2026, 11, 1, tzinfo=UTC),
                    received_at=datetime(2026, 11, 1, tzinfo=UTC),
                )
            )
        await migrate(engine)
        assert await database_revision(engine) == head_revision()
        async with engine.connect() as connection:
            assert (await connection.execute(select(func.count()).select_from(feedback))).scalar_one() == 1
    finally:
        await engine.dispose()


async def test_replicas_migrating_one_postgresql_database_at_once_end_with_one_schema(
    postgres_url: str,
) -> None:
    base = create_engine(postgres_url)
    schema = f"cds_migrate_{uuid.uuid4().hex[:12]}"
    try:
        async with base.begin() as connection:
            await connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        replicas = [
            create_engine(postgres_url).execution_options(schema_translate_map={None: schema})
            for _ in range(3)
        ]
        try:
            await asyncio.gather(*(create_schema(replica) for replica in replicas))
            assert await database_revision(replicas[0]) == head_revision()
        finally:
            for replica in replicas:
                await replica.dispose()
    finally:
        async with base.begin() as connection:
            await connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        await base.dispose()


def test_the_migrate_command_brings_an_empty_database_to_the_newest_revision(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    database = tmp_path / "cds.sqlite3"
    monkeypatch.setenv("CDS_SQLITE_PATH", str(database))
    assert main(["migrate"]) == 0
    assert capsys.readouterr().out.strip() == f"database schema at revision {head_revision()}"
    with sqlite3.connect(database) as connection:
        (revision,) = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    assert revision == head_revision()


def test_the_migrate_command_reports_an_unreachable_database_without_its_url(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from ops_support import free_port

    monkeypatch.setenv("CDS_DATABASE_URL", f"postgresql+asyncpg://cds:s3cret-pw@127.0.0.1:{free_port()}/cds")
    assert main(["migrate"]) == 1
    err = capsys.readouterr().err
    assert "the migration failed" in err
    assert "s3cret-pw" not in err
