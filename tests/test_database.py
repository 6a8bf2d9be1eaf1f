"""The service's storage (service.database): SQLite by default, PostgreSQL by URL, same code."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import SettingsFactory
from sqlalchemy import event, func, inspect, select, text
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.testclient import TestClient

from service.app import create_app
from service.database import check_database, create_engine, create_schema, feedback, insert_rows
from service.settings import Settings

TABLES = {"feedback", "issued_cards", "seen_jtis"}


async def _tables(engine: AsyncEngine) -> set[str]:
    # The PostgreSQL store fixture works in a schema of its own (a schema_translate_map).
    schema = engine.get_execution_options().get("schema_translate_map", {}).get(None)
    async with engine.connect() as connection:
        names: list[str] = await connection.run_sync(
            lambda sync: inspect(sync).get_table_names(schema=schema)
        )
    return set(names)


async def test_schema_has_every_table(store_engine: AsyncEngine) -> None:
    assert await _tables(store_engine) >= TABLES


async def test_creating_the_schema_again_keeps_it(store_engine: AsyncEngine) -> None:
    await create_schema(store_engine)

    assert await _tables(store_engine) >= TABLES


async def test_database_check_passes(store_engine: AsyncEngine) -> None:
    await check_database(store_engine)


@pytest.mark.parametrize("row_count", [1, 83, 84, 1000])
async def test_insert_rows_writes_every_row_within_the_parameter_limit(
    store_engine: AsyncEngine, row_count: int
) -> None:
    # feedback has 12 columns: 83 rows fill one statement's 999 parameters, 84 need a second.
    received = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
    rows = [
        {
            "service_id": "svc",
            "card_uuid": f"card-{number}",
            "outcome": "accepted",
            "accepted_suggestions": ["s1"],
            "outcome_timestamp": received,
            "received_at": received,
        }
        for number in range(row_count)
    ]
    statements: list[int] = []

    def count_parameters(*args: Any) -> None:
        statements.append(len(args[4]) if isinstance(args[4], (dict, tuple, list)) else 0)

    event.listen(store_engine.sync_engine, "before_cursor_execute", count_parameters)
    try:
        async with store_engine.begin() as connection:
            await insert_rows(connection, feedback, rows)
    finally:
        event.remove(store_engine.sync_engine, "before_cursor_execute", count_parameters)

    async with store_engine.connect() as connection:
        stored = (await connection.execute(select(func.count()).select_from(feedback))).scalar_one()
        suggestions = (await connection.execute(select(feedback.c.accepted_suggestions))).scalars().first()
    assert stored == row_count
    assert suggestions == ["s1"]
    assert len(statements) == -(-row_count // 83)
    assert max(statements) <= 999


async def test_sqlite_file_and_its_directories_are_created(tmp_path: Path) -> None:
    path = tmp_path / "var" / "nested" / "feedback.sqlite3"
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    try:
        await create_schema(engine)
    finally:
        await engine.dispose()

    assert path.is_file()


async def test_sqlite_uses_write_ahead_logging(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'wal.sqlite3'}")
    try:
        async with engine.connect() as connection:
            mode = (await connection.execute(text("PRAGMA journal_mode"))).scalar_one()
    finally:
        await engine.dispose()

    assert mode == "wal"


def test_app_start_creates_the_sqlite_file(make_settings: SettingsFactory, tmp_path: Path) -> None:
    settings = make_settings(sqlite_path=tmp_path / "state" / "cds.sqlite3")
    assert not settings.sqlite_path.exists()

    with TestClient(create_app(settings)):
        assert settings.sqlite_path.is_file()


def test_sqlite_is_the_default_store(tmp_path: Path) -> None:
    settings = Settings(sqlite_path=tmp_path / "f.sqlite3")

    assert settings.effective_database_url == f"sqlite+aiosqlite:///{tmp_path / 'f.sqlite3'}"


def test_database_url_setting_wins_over_the_sqlite_path(tmp_path: Path) -> None:
    url = "postgresql+asyncpg://cds@db.internal:5432/cds"

    assert Settings(database_url=url, sqlite_path=tmp_path / "x").effective_database_url == url


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        pytest.param(
            "CDS_DATABASE_URL",
            "postgresql+asyncpg://postgres@127.0.0.1:5432/test",
            "postgresql+asyncpg://postgres@127.0.0.1:5432/test",
            id="database-url",
        ),
        pytest.param(
            "CDS_SQLITE_PATH",
            "/srv/cds/feedback.sqlite3",
            "sqlite+aiosqlite:////srv/cds/feedback.sqlite3",
            id="path",
        ),
    ],
)
def test_storage_is_configured_by_environment(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(variable, value)

    assert Settings().effective_database_url == expected


async def test_schema_creation_races_between_processes_end_with_one_schema(tmp_path: Path) -> None:
    engines = [create_engine(f"sqlite+aiosqlite:///{tmp_path / 'race.sqlite3'}") for _ in range(4)]
    try:
        await asyncio.gather(*(create_schema(engine) for engine in engines))
        await check_database(engines[0])
    finally:
        for engine in engines:
            await engine.dispose()
