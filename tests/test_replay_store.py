"""Replay protection on the shared `seen_jtis` table: SQLite, and PostgreSQL when reachable.

PostgreSQL runs at postgresql+asyncpg://postgres@127.0.0.1:5432/test (conftest's `postgres_url`): the
tests skip with a message when it is unreachable locally and fail under CI=true. Each test uses its own
issuer and deletes its rows afterwards, so runs sharing the database do not see each other.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete, event, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine
from structlog.testing import capture_logs

from service.security.replay_store import ReplayStore, _LocalWindow
from service.storage.database import DatabaseStatus, check_database, create_engine, create_schema, seen_jtis

T0 = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


async def _postgres_unreachable(url: str) -> str | None:
    engine = create_engine(url)
    try:
        async with asyncio.timeout(5):
            await check_database(engine)
    except (TimeoutError, OSError, SQLAlchemyError) as error:
        return f"{type(error).__name__}: {error}"
    finally:
        await engine.dispose()
    return None


async def _postgres_url_or_skip() -> str:
    problem = await _postgres_unreachable(POSTGRES_URL)
    if problem is not None:
        message = f"PostgreSQL at {POSTGRES_URL} is unreachable ({problem})"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message}; CI=true requires it")
        pytest.skip(f"{message}; these tests run when it is (and fail under CI=true)")
    return POSTGRES_URL


@pytest.fixture(params=["sqlite", "postgresql"])
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'replay.sqlite3'}"
    else:
        url = await _postgres_url_or_skip()
    engine = create_engine(url)
    await create_schema(engine)
    yield engine
    await engine.dispose()


@pytest.fixture
async def issuer(engine: AsyncEngine) -> AsyncIterator[str]:
    name = f"https://replay-test-{uuid.uuid4()}.example"
    yield name
    async with engine.begin() as connection:
        await connection.execute(delete(seen_jtis).where(seen_jtis.c.issuer == name))


async def _rows(engine: AsyncEngine, issuer: str) -> set[str]:
    async with engine.connect() as connection:
        result = await connection.execute(select(seen_jtis.c.jti).where(seen_jtis.c.issuer == issuer))
        return {row[0] for row in result}


async def test_first_use_is_accepted_and_second_is_a_replay(engine: AsyncEngine, issuer: str) -> None:
    store = ReplayStore(engine)
    expires = datetime.now(UTC) + timedelta(minutes=5)
    assert await store.remember(issuer, "jti-1", expires) is True
    assert await store.remember(issuer, "jti-1", expires) is False
    assert await store.remember(issuer, "jti-2", expires) is True


async def test_the_pair_is_per_issuer(engine: AsyncEngine, issuer: str) -> None:
    store = ReplayStore(engine)
    other = f"{issuer}/other"
    expires = datetime.now(UTC) + timedelta(minutes=5)
    try:
        assert await store.remember(issuer, "shared", expires) is True
        assert await store.remember(other, "shared", expires) is True
    finally:
        async with engine.begin() as connection:
            await connection.execute(delete(seen_jtis).where(seen_jtis.c.issuer == other))


async def test_an_expired_entry_no_longer_blocks(engine: AsyncEngine, issuer: str) -> None:
    clock = Clock()
    store = ReplayStore(engine, clock=clock, purge_interval_seconds=1e9)
    assert await store.remember(issuer, "jti", T0 + timedelta(minutes=5))
    clock.now = T0 + timedelta(minutes=4)
    assert await store.remember(issuer, "jti", T0 + timedelta(minutes=9)) is False
    clock.now = T0 + timedelta(minutes=6)
    assert await store.remember(issuer, "jti", T0 + timedelta(minutes=11)) is True


async def test_purge_removes_expired_rows_only(engine: AsyncEngine, issuer: str) -> None:
    clock = Clock()
    store = ReplayStore(engine, clock=clock, purge_interval_seconds=1e9)
    await store.remember(issuer, "old", T0 + timedelta(minutes=1))
    await store.remember(issuer, "live", T0 + timedelta(hours=2))
    clock.now = T0 + timedelta(minutes=30)
    await store.purge_expired()
    assert await _rows(engine, issuer) == {"live"}


async def test_purge_runs_opportunistically(engine: AsyncEngine, issuer: str) -> None:
    clock = Clock()
    ticks = iter(float(n) for n in range(0, 10_000, 100))
    store = ReplayStore(engine, clock=clock, purge_interval_seconds=150, monotonic=lambda: next(ticks))
    # The writer purges after each batch it writes; aclose() waits for it.
    await store.remember(issuer, "a", T0 + timedelta(seconds=10))  # tick 0: first purge
    await store.aclose()
    clock.now = T0 + timedelta(minutes=1)
    await store.remember(issuer, "b", T0 + timedelta(hours=1))  # tick 100: not due yet
    await store.aclose()
    assert await _rows(engine, issuer) == {"a", "b"}
    await store.remember(issuer, "c", T0 + timedelta(hours=1))  # tick 200: due, "a" has expired
    await store.aclose()
    assert await _rows(engine, issuer) == {"b", "c"}


async def test_concurrent_replays_let_exactly_one_through(engine: AsyncEngine, issuer: str) -> None:
    """Two workers (two engines, two pools) race the same jti: one wins, the others see a replay."""
    second = create_engine(engine.url.render_as_string(hide_password=False))
    try:
        stores = [ReplayStore(engine), ReplayStore(second)]
        expires = datetime.now(UTC) + timedelta(minutes=5)
        async with asyncio.timeout(60):  # hang guard
            results = await asyncio.gather(
                *(stores[n % 2].remember(issuer, "raced", expires) for n in range(12))
            )
    finally:
        await second.dispose()
    assert results.count(True) == 1
    assert await _rows(engine, issuer) == {"raced"}


async def test_stored_expiry_round_trips(engine: AsyncEngine, issuer: str) -> None:
    expires = (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0)
    await ReplayStore(engine).remember(issuer, "jti", expires)
    async with engine.connect() as connection:
        stored = (
            await connection.execute(select(seen_jtis.c.expires_at).where(seen_jtis.c.issuer == issuer))
        ).scalar_one()
    # SQLite keeps the UTC wall time without an offset; PostgreSQL returns an aware timestamp.
    assert stored.replace(tzinfo=UTC) == expires if stored.tzinfo is None else stored == expires


def count_commits(engine: AsyncEngine) -> list[int]:
    commits: list[int] = []
    event.listen(engine.sync_engine, "commit", lambda _connection: commits.append(1))
    return commits


async def test_concurrent_checks_share_one_commit_per_batch(engine: AsyncEngine, issuer: str) -> None:
    store = ReplayStore(engine, purge_interval_seconds=1e9)
    await store.remember(issuer, "first", datetime.now(UTC) + timedelta(minutes=5))  # the purge, done once
    await store.aclose()
    commits = count_commits(engine)
    expires = datetime.now(UTC) + timedelta(minutes=5)
    results = await asyncio.gather(*(store.remember(issuer, f"jti-{n}", expires) for n in range(100)))
    assert results == [True] * 100
    assert 1 <= len(commits) < 10
    assert len(await _rows(engine, issuer)) == 101


async def test_one_jti_sent_three_times_at_once_is_accepted_once(engine: AsyncEngine, issuer: str) -> None:
    store = ReplayStore(engine)
    expires = datetime.now(UTC) + timedelta(minutes=5)
    results = await asyncio.gather(*(store.remember(issuer, "same", expires) for _ in range(3)))
    assert sorted(results) == [False, False, True]


async def test_sqlite_workers_checking_at_once_never_hit_a_locked_database(tmp_path: Path) -> None:
    """Four engines on one file, as four worker processes would have: no 'database is locked'."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'replay.sqlite3'}"
    engines = [create_engine(url) for _ in range(4)]
    try:
        await create_schema(engines[0])
        statuses = [await DatabaseStatus.ready(engine) for engine in engines]
        stores = [
            ReplayStore(engine, status=status) for engine, status in zip(engines, statuses, strict=True)
        ]
        expires = datetime.now(UTC) + timedelta(minutes=5)
        with capture_logs() as events:
            results = await asyncio.gather(
                *(stores[n % 4].remember("https://iss", f"jti-{n}", expires) for n in range(400))
            )
        assert results == [True] * 400
        assert all(status.available for status in statuses)
        assert [e for e in events if e["log_level"] != "debug"] == []
    finally:
        for engine in engines:
            await engine.dispose()


async def test_with_the_database_away_replays_to_this_worker_are_still_refused(
    engine: AsyncEngine, issuer: str
) -> None:
    status = await DatabaseStatus.ready(engine)
    store = ReplayStore(engine, status=status)
    status.report_failure(OSError("test outage"), during="test")
    expires = datetime.now(UTC) + timedelta(minutes=5)
    with capture_logs() as events:
        assert await store.remember(issuer, "during-outage", expires) is True
        assert await store.remember(issuer, "during-outage", expires) is False
    assert [event["event"] for event in events] == ["replay_protection_degraded"]
    assert await _rows(engine, issuer) == set()


async def test_pairs_accepted_during_an_outage_are_written_when_the_database_is_back(
    engine: AsyncEngine, issuer: str
) -> None:
    status = DatabaseStatus(engine, retry_max_seconds=0.2)
    store = ReplayStore(engine, status=status)
    await status.start()
    try:
        status.report_failure(OSError("test outage"), during="test")
        expires = datetime.now(UTC) + timedelta(minutes=5)
        assert await store.remember(issuer, "during-outage", expires) is True
        async with asyncio.timeout(10):
            await status.wait_available()
    finally:
        await status.aclose()
    assert await _rows(engine, issuer) == {"during-outage"}
    # Another worker (a store of its own) now refuses the pair: protection is shared again.
    assert await ReplayStore(engine).remember(issuer, "during-outage", expires) is False


async def test_a_database_slower_than_the_wait_falls_back_to_this_workers_memory(
    engine: AsyncEngine, issuer: str
) -> None:
    status = await DatabaseStatus.ready(engine)
    store = ReplayStore(engine, status=status, wait_seconds=0.0)
    expires = datetime.now(UTC) + timedelta(minutes=5)
    with capture_logs() as events:
        assert await store.remember(issuer, "slow", expires) is True
    await store.aclose()
    assert "replay_protection_degraded" in [event["event"] for event in events]
    # The write went through after all: the pair is protected everywhere.
    assert await _rows(engine, issuer) == {"slow"}


def test_the_local_window_is_bounded_and_forgets_the_soonest_to_expire_first() -> None:
    window = _LocalWindow(max_entries=2)
    with capture_logs() as events:
        window.add(("iss", "a"), T0 + timedelta(minutes=1), T0)
        window.add(("iss", "b"), T0 + timedelta(minutes=9), T0)
        window.add(("iss", "c"), T0 + timedelta(minutes=5), T0)
    assert len(window) == 2
    assert not window.seen(("iss", "a"), T0)
    assert window.seen(("iss", "b"), T0) and window.seen(("iss", "c"), T0)
    assert [event["event"] for event in events] == ["replay_window_full"]
    # Expired entries no longer count.
    assert not window.seen(("iss", "c"), T0 + timedelta(minutes=6))
