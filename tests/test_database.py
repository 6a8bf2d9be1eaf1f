"""The service's storage (service.database): SQLite by default, PostgreSQL by URL, same code."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import SettingsFactory
from sqlalchemy import inspect, select, text
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.testclient import TestClient

from service.app import create_app
from service.database import check_database, create_engine, create_schema, issued_cards
from service.feedback import record_issued_cards
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


async def test_issued_cards_are_recorded(store_engine: AsyncEngine) -> None:
    issued_at = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
    card = {
        "uuid": "7d3f1c2a-9a7e-4a47-8f43-1f2d3c4b5a69",
        "indicator": "warning",
        "source": {"label": "x", "topic": {"code": "baseline-mri"}},
    }

    await record_issued_cards(store_engine, "svc", [card], issued_at)

    async with store_engine.connect() as connection:
        row = (await connection.execute(select(issued_cards))).one()
    assert (row.card_uuid, row.service_id, row.topic, row.indicator) == (
        card["uuid"],
        "svc",
        "baseline-mri",
        "warning",
    )
    assert row.issued_at.replace(tzinfo=UTC) == issued_at


async def test_no_cards_records_nothing(store_engine: AsyncEngine) -> None:
    await record_issued_cards(store_engine, "svc", [], datetime.now(UTC))

    async with store_engine.connect() as connection:
        assert (await connection.execute(select(issued_cards))).all() == []


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
