"""The service's only state: feedback, the cards it issued (for feedback analytics), and the JWT
ids it has seen (replay protection). SQLite by default, PostgreSQL in production, same code."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    event,
    text,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

metadata = MetaData()

feedback = Table(
    "feedback",
    metadata,
    # SQLite only autoincrements INTEGER primary keys; PostgreSQL gets a BIGINT identity.
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("service_id", String(128), nullable=False),
    Column("card_uuid", String(64), nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("accepted_suggestions", JSON, nullable=True),
    Column("override_reason_system", String(256), nullable=True),
    Column("override_reason_code", String(128), nullable=True),
    Column("override_reason_display", String(512), nullable=True),
    Column("user_comment", Text, nullable=True),
    Column("outcome_timestamp", DateTime(timezone=True), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("client_iss", String(512), nullable=True),
    Index("ix_feedback_card_uuid", "card_uuid"),
)

issued_cards = Table(
    "issued_cards",
    metadata,
    Column("card_uuid", String(64), primary_key=True),
    Column("service_id", String(128), nullable=False),
    Column("topic", String(64), nullable=False),
    Column("indicator", String(16), nullable=False),
    Column("issued_at", DateTime(timezone=True), nullable=False),
)

seen_jtis = Table(
    "seen_jtis",
    metadata,
    Column("issuer", String(512), primary_key=True),
    Column("jti", String(256), primary_key=True),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Index("ix_seen_jtis_expires_at", "expires_at"),
)


def create_engine(database_url: str) -> AsyncEngine:
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": 15})
        # Many rows in one execute() become multi-row INSERT statements (SQLAlchemy's
        # "insertmanyvalues", compiled once and cached, split within SQLite's parameter limit), not a
        # driver executemany. aiosqlite runs an executemany in its own thread, which takes the GIL
        # back for every row; while the event loop is busy with hook calls each hand-over waits out
        # the switch interval, and under load 270 issued-card rows took over 5 s to write.
        engine.sync_engine.dialect.use_insertmanyvalues_wo_returning = True

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(connection: object, _record: object) -> None:
            # WAL lets several worker processes write the one file without blocking readers.
            cursor = connection.cursor()  # type: ignore[attr-defined]
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=15000")
            cursor.close()

        return engine
    return create_async_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5)


# Arbitrary constant naming this service's schema lock among the database's advisory locks.
_SCHEMA_LOCK_KEY = 7_311_202_611


async def create_schema(engine: AsyncEngine, attempts: int = 10) -> None:
    """Create missing tables. Several replicas or workers may start on an empty database at once."""
    for attempt in range(attempts):
        try:
            async with engine.begin() as connection:
                if connection.dialect.name == "postgresql":
                    # One creates while the others wait; they then find the tables present.
                    await connection.execute(
                        text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_LOCK_KEY}
                    )
                await connection.run_sync(metadata.create_all)
            return
        except DBAPIError:
            # SQLite has no advisory lock: a loser of the race finds "table already exists" while the
            # winner may still be creating the next table, so it waits a little and looks again.
            if attempt == attempts - 1:
                raise
            await asyncio.sleep(0.02 * (attempt + 1))


async def check_database(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1"))
