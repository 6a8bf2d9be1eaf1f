"""The service's storage (service.storage.database): SQLite by default, PostgreSQL by URL, same code."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import SettingsFactory
from sqlalchemy import event, func, insert, inspect, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.testclient import TestClient
from structlog.testing import capture_logs
from tcp_proxy import TcpProxy

from service.app import create_app
from service.settings import Settings
from service.storage.database import (
    DatabaseStatus,
    backoff_delays,
    check_database,
    create_engine,
    create_schema,
    feedback,
    is_database_unavailable,
)

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


def feedback_rows(count: int) -> list[dict[str, Any]]:
    received = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
    return [
        {
            "service_id": "svc",
            "card_uuid": f"card-{number}",
            "outcome": "accepted",
            "accepted_suggestions": ["s1"],
            "outcome_timestamp": received,
            "received_at": received,
        }
        for number in range(count)
    ]


@pytest.mark.parametrize("row_count", [1, 2, 500])
async def test_many_rows_in_one_execute_are_all_written(store_engine: AsyncEngine, row_count: int) -> None:
    async with store_engine.begin() as connection:
        await connection.execute(insert(feedback), feedback_rows(row_count))

    async with store_engine.connect() as connection:
        stored = (await connection.execute(select(func.count()).select_from(feedback))).scalar_one()
        suggestions = (await connection.execute(select(feedback.c.accepted_suggestions))).scalars().first()
    assert stored == row_count
    assert suggestions == ["s1"]


async def test_sqlite_writes_many_rows_as_multi_row_statements(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'rows.sqlite3'}")
    executions: list[Any] = []

    def note(_conn: Any, _cursor: Any, _statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        executions.append(parameters)

    try:
        await create_schema(engine)
        event.listen(engine.sync_engine, "before_cursor_execute", note)
        async with engine.begin() as connection:
            await connection.execute(insert(feedback), feedback_rows(500))
    finally:
        await engine.dispose()

    # Not a driver executemany (a sequence of rows, one GIL hand-over per row in aiosqlite's thread):
    # a few statements with one flat parameter list each, within the build's parameter limit.
    assert 1 <= len(executions) <= 10
    assert all(not isinstance(parameters[0], (tuple, list, dict)) for parameters in executions)
    assert sum(len(parameters) for parameters in executions) == 500 * 6
    assert all(len(parameters) <= engine.dialect.insertmanyvalues_max_parameters for parameters in executions)


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


# --- DatabaseStatus: running without the database, and finding it back ---------------------------------


def test_backoff_delays_double_up_to_the_cap_with_jitter() -> None:
    delays = list(itertools.islice(backoff_delays(max_delay=1.0, first_delay=0.2), 6))
    ceilings = [0.2, 0.4, 0.8, 1.0, 1.0, 1.0]
    for delay, ceiling in zip(delays, ceilings, strict=True):
        assert ceiling / 2 <= delay <= ceiling


@pytest.mark.parametrize(
    ("error", "unavailable"),
    [
        (OSError("connection refused"), True),
        (TimeoutError(), True),
        (OperationalError("SELECT 1", {}, Exception("server closed the connection")), True),
        (IntegrityError("INSERT", {}, Exception("duplicate key")), False),
        (ValueError("a bug"), False),
    ],
)
def test_which_errors_mean_the_database_is_away(error: BaseException, unavailable: bool) -> None:
    assert is_database_unavailable(error) is unavailable


async def test_a_failure_is_logged_once_and_the_status_comes_back_with_the_database(
    store_engine: AsyncEngine,
) -> None:
    status = DatabaseStatus(store_engine, retry_max_seconds=0.2)
    recoveries: list[int] = []

    async def recovered() -> None:
        recoveries.append(1)

    status.on_available(recovered)
    await status.start()
    try:
        assert status.available
        with capture_logs() as events:
            status.report_failure(OSError("test outage"), during="test")
            status.report_failure(OSError("test outage"), during="test")
            assert not status.available
            async with asyncio.timeout(10):
                await status.wait_available()
        # Logged once however many report it (the recovery line is at INFO, filtered here by level).
        assert [event["event"] for event in events if event["log_level"] == "warning"] == [
            "database_unavailable"
        ]
        assert recoveries == [1]
        assert await status.check()
    finally:
        await status.aclose()


async def test_start_does_not_need_the_database_and_later_finds_it(postgres_url: str) -> None:
    url = make_url(postgres_url)
    with TcpProxy((url.host or "127.0.0.1", url.port or 5432)).running() as proxy:
        proxy.cut()
        engine = create_engine(
            url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
        )
        status = DatabaseStatus(engine, timeout_seconds=0.5, retry_max_seconds=0.2)
        try:
            async with asyncio.timeout(10):
                await status.start()
            assert not status.available
            assert not await status.check()
            proxy.restore()
            async with asyncio.timeout(20):
                await status.wait_available()
            assert await status.check()
        finally:
            await status.aclose()
            await engine.dispose()
