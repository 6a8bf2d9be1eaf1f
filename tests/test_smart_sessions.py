"""The SMART app's session store on SQLite and PostgreSQL: a launch becomes a signed-in session under a
new id once, rows expire, the table holds no cookie and no token in the clear, and an unreachable
database is reported, not raised as a crash."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from service.storage.database import DatabaseStatus, create_engine, smart_sessions
from smart_app.session_crypto import SessionCipher
from smart_app.sessions import (
    ActiveSession,
    LaunchSession,
    SessionExpired,
    SessionMissing,
    SessionStore,
    SessionsUnavailable,
)

NOW = datetime(2026, 4, 2, 8, 45, tzinfo=UTC)
LAUNCH = LaunchSession(
    iss="https://ehr.example/fhir",
    state="state-value",
    verifier="verifier-value",
    token_endpoint="https://ehr.example/token",
    redirect_uri="https://cds.example/smart/callback",
    scope="launch openid fhirUser patient/*.rs",
)
SIGNED_IN = ActiveSession(iss="https://ehr.example/fhir", access_token="secret-token-123", patient="pt-1")


async def store_for(engine: AsyncEngine, lifetime: int = 900) -> SessionStore:
    cipher = SessionCipher.from_secret("a-session-secret-of-at-least-32-chars")
    return SessionStore(await DatabaseStatus.ready(engine), cipher, lifetime)


async def test_a_launch_becomes_a_signed_in_session_under_a_new_id_once(store_engine: AsyncEngine) -> None:
    store = await store_for(store_engine)
    launch_id = await store.begin(LAUNCH, NOW)
    assert await store.launch(launch_id, NOW) == LAUNCH

    active_id = await store.activate(launch_id, SIGNED_IN)

    assert active_id is not None and active_id != launch_id
    assert await store.active(active_id, NOW) == SIGNED_IN
    assert await store.activate(launch_id, SIGNED_IN) is None
    with pytest.raises(SessionMissing):
        await store.launch(launch_id, NOW)
    with pytest.raises(SessionMissing):
        await store.active(launch_id, NOW)


async def test_the_table_holds_neither_the_cookie_nor_the_token(store_engine: AsyncEngine) -> None:
    store = await store_for(store_engine)
    active_id = await store.activate(await store.begin(LAUNCH, NOW), SIGNED_IN)
    assert active_id is not None

    async with store_engine.connect() as connection:
        rows = (await connection.execute(select(smart_sessions))).all()

    stored = repr(rows)
    for secret in (active_id, "secret-token-123", "pt-1", "state-value", "verifier-value"):
        assert secret not in stored


async def test_a_session_past_its_lifetime_is_refused_and_deleted(store_engine: AsyncEngine) -> None:
    store = await store_for(store_engine, lifetime=60)
    active_id = await store.activate(await store.begin(LAUNCH, NOW), SIGNED_IN)
    assert active_id is not None
    later = NOW + timedelta(seconds=61)

    with pytest.raises(SessionExpired):
        await store.active(active_id, later)
    with pytest.raises(SessionMissing):
        await store.active(active_id, later)


async def test_a_new_launch_deletes_expired_rows(store_engine: AsyncEngine) -> None:
    store = await store_for(store_engine, lifetime=60)
    await store.begin(LAUNCH, NOW)
    await store.begin(LAUNCH, NOW + timedelta(seconds=120))

    async with store_engine.connect() as connection:
        rows = (await connection.execute(select(smart_sessions.c.session_key))).all()

    assert len(rows) == 1


async def test_an_unreachable_database_is_reported_as_sessions_unavailable() -> None:
    engine = create_engine("postgresql+asyncpg://nobody@127.0.0.1:9/none", timeout_seconds=0.5)
    store = await store_for(engine)
    try:
        with pytest.raises(SessionsUnavailable):
            await store.begin(LAUNCH, NOW)
        with pytest.raises(SessionsUnavailable):  # and after the report, without trying again
            await store.active("any", NOW)
    finally:
        await engine.dispose()


async def test_a_session_ends_with_its_access_token_when_that_comes_first(store_engine: AsyncEngine) -> None:
    store = await store_for(store_engine, lifetime=900)
    active_id = await store.activate(await store.begin(LAUNCH, NOW), SIGNED_IN, NOW + timedelta(seconds=30))
    assert active_id is not None

    assert await store.active(active_id, NOW + timedelta(seconds=29)) == SIGNED_IN
    with pytest.raises(SessionExpired):
        await store.active(active_id, NOW + timedelta(seconds=31))
