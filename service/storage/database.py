"""The service's only state: feedback, the cards it issued (for feedback analytics), and the JWT
ids it has seen (replay protection). SQLite by default, PostgreSQL in production, same code.

The database is not needed to answer hook calls, so the service starts and keeps answering without it:
`DatabaseStatus` knows whether it is reachable, prepares the schema in the background with backoff,
and tells the buffers (issued cards, JWT ids) to write what they kept once it is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
from collections.abc import Awaitable, Callable, Iterator
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
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from service.logs import get_logger
from service.metrics import set_database_available

log = get_logger("service.storage.database")

metadata = MetaData()

# Column lengths, in one place: the request models (service/storage/feedback.py, the JWT checks in
# service/security/authentication.py) take their limits from here, so a value the model accepts always fits.
SERVICE_ID_LENGTH = 128
CARD_UUID_LENGTH = 64
TOPIC_LENGTH = 64
INDICATOR_LENGTH = 16
OUTCOME_LENGTH = 16
REASON_SYSTEM_LENGTH = 256
REASON_CODE_LENGTH = 128
REASON_DISPLAY_LENGTH = 512
# user_comment is TEXT; the bound is the model's, kept here with the others.
USER_COMMENT_LENGTH = 4000
CLIENT_LENGTH = 512
JTI_LENGTH = 256
# Hex digests: an HMAC-SHA256 of the patient (64), an evidence fingerprint (32, room to grow).
PATIENT_KEY_LENGTH = 64
EVIDENCE_KEY_LENGTH = 64
# The issuing client of a card issued to an unauthenticated (development) caller.
UNAUTHENTICATED_CLIENT = "unauthenticated"

feedback = Table(
    "feedback",
    metadata,
    # SQLite only autoincrements INTEGER primary keys; PostgreSQL gets a BIGINT identity.
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("service_id", String(SERVICE_ID_LENGTH), nullable=False),
    Column("card_uuid", String(CARD_UUID_LENGTH), nullable=False),
    Column("outcome", String(OUTCOME_LENGTH), nullable=False),
    Column("accepted_suggestions", JSON, nullable=True),
    Column("override_reason_system", String(REASON_SYSTEM_LENGTH), nullable=True),
    Column("override_reason_code", String(REASON_CODE_LENGTH), nullable=True),
    Column("override_reason_display", String(REASON_DISPLAY_LENGTH), nullable=True),
    Column("user_comment", Text, nullable=True),
    Column("outcome_timestamp", DateTime(timezone=True), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("client_iss", String(CLIENT_LENGTH), nullable=True),
    Index("ix_feedback_card_uuid", "card_uuid"),
    # Revision 0004: each worker reads the overrides received since its last look (acknowledgements.py).
    Index("ix_feedback_received_at", "received_at"),
)

issued_cards = Table(
    "issued_cards",
    metadata,
    Column("card_uuid", String(CARD_UUID_LENGTH), primary_key=True),
    Column("service_id", String(SERVICE_ID_LENGTH), nullable=False),
    Column("topic", String(TOPIC_LENGTH), nullable=False),
    Column("indicator", String(INDICATOR_LENGTH), nullable=False),
    Column("issued_at", DateTime(timezone=True), nullable=False),
    # Revision 0002: who the card was issued to (feedback from another client is refused), the override
    # reasons it offered (feedback may name only those), and for feedback-aware cards a keyed hash of
    # the patient (never the id) and the card's evidence key.
    Column("client", String(CLIENT_LENGTH), nullable=False, server_default=UNAUTHENTICATED_CLIENT),
    Column("offered_override_reasons", JSON, nullable=True),
    Column("patient_key", String(PATIENT_KEY_LENGTH), nullable=True),
    Column("evidence_key", String(EVIDENCE_KEY_LENGTH), nullable=True),
    Index("ix_issued_cards_patient_key_issued_at", "patient_key", "issued_at"),
)

seen_jtis = Table(
    "seen_jtis",
    metadata,
    Column("issuer", String(CLIENT_LENGTH), primary_key=True),
    Column("jti", String(JTI_LENGTH), primary_key=True),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Index("ix_seen_jtis_expires_at", "expires_at"),
)

# Revision 0003: the SMART timeline app's server-side sessions (smart_app/sessions.py). The key is a hash
# of the cookie's value; the contents (PKCE verifier, state, access token, patient) are sealed with
# AES-GCM under CDS_SMART_SESSION_SECRET. Rows past expires_at are refused and deleted.
SMART_SESSION_KEY_LENGTH = 64
SMART_SESSION_STAGE_LENGTH = 16
smart_sessions = Table(
    "smart_sessions",
    metadata,
    Column("session_key", String(SMART_SESSION_KEY_LENGTH), primary_key=True),
    Column("stage", String(SMART_SESSION_STAGE_LENGTH), nullable=False),
    Column("sealed", Text, nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Index("ix_smart_sessions_expires_at", "expires_at"),
)


# Defaults of the pool settings (service/settings.py); see docs/deployment.md for the sizing.
DEFAULT_POOL_SIZE = 5
DEFAULT_MAX_OVERFLOW = 2
DEFAULT_TIMEOUT_SECONDS = 2.0


def create_engine(
    database_url: str,
    *,
    pool_size: int = DEFAULT_POOL_SIZE,
    max_overflow: int = DEFAULT_MAX_OVERFLOW,
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
    statement_timeout_seconds: float | None = None,
) -> AsyncEngine:
    """An engine whose waits are all bounded: connecting, taking a pooled connection, and (PostgreSQL)
    each statement (`statement_timeout_seconds`, default `timeout_seconds`). An unreachable or hung
    database then shows as an error within seconds."""
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
    return create_async_engine(
        url,
        pool_pre_ping=True,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_timeout=timeout_seconds,
        # asyncpg: `timeout` bounds connecting, `command_timeout` every statement.
        connect_args={
            "timeout": timeout_seconds,
            "command_timeout": statement_timeout_seconds or timeout_seconds,
        },
    )


async def create_schema(engine: AsyncEngine, attempts: int = 10) -> None:
    """Bring the schema to the newest migration (service/storage/migrations.py). Several replicas or workers
    may start on an empty database at once: PostgreSQL serialises them with an advisory lock."""
    from service.storage.migrations import migrate

    for attempt in range(attempts):
        try:
            await migrate(engine)
            return
        except DBAPIError:
            # SQLite has no advisory lock: a loser of the race finds a table already there while the
            # winner may still be migrating, so it waits a little and looks again.
            if attempt == attempts - 1 or engine.dialect.name != "sqlite":
                raise
            await asyncio.sleep(0.02 * (attempt + 1))


async def check_database(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1"))


# SQLSTATE classes of errors about the values sent, not the database: 22 data exception (a NUL byte,
# invalid UTF-8, a string too long for its column), 23 integrity constraint violation.
_VALUE_REFUSED_SQLSTATE_CLASSES = ("22", "23")


def is_value_refused(error: BaseException) -> bool:
    """True when the database (or the driver, before sending) refused a value of the statement: the
    request's fault, never an outage. PostgreSQL (asyncpg) reports a NUL character as 22021, a value
    longer than its column as 22001, a lone surrogate as 22000 (it cannot be encoded); SQLite's driver
    raises UnicodeEncodeError for a lone surrogate, unwrapped."""
    if isinstance(error, UnicodeError | IntegrityError | DataError):
        return True
    if isinstance(error, DBAPIError):
        sqlstate = getattr(error.orig, "sqlstate", None) or getattr(error.orig, "pgcode", None)
        if isinstance(sqlstate, str) and sqlstate[:2] in _VALUE_REFUSED_SQLSTATE_CLASSES:
            return True
        cause = error.orig.__cause__ if error.orig is not None else None
        return isinstance(cause, UnicodeError) or isinstance(error.orig, UnicodeError)
    return False


def is_database_unavailable(error: BaseException) -> bool:
    """True for errors that say the database could not be reached or did not answer in time.

    A refused value (`is_value_refused`: a duplicate key, a NUL character, a string too long for its
    column) is an answer about the request, not an outage: marking the database away for it would let
    one client's bad input turn away every other client's feedback. Everything else the driver or the
    pool raises (refused, reset, timed out, pool exhausted) is treated as the database being away.
    """
    if is_value_refused(error):
        return False
    return isinstance(error, SQLAlchemyError | OSError | TimeoutError | ConnectionError)


def clean_text(value: str) -> str:
    """`value` as every backend can store it: NUL characters dropped (PostgreSQL text cannot hold
    them) and surrogate code points replaced by U+FFFD. A Python string decoded from JSON holds a
    surrogate only when it was lone (a pair becomes one character), and a lone one cannot be encoded
    as UTF-8 (SQLite's driver raises, PostgreSQL's refuses)."""
    return _SURROGATE.sub("\ufffd", value.replace("\x00", ""))


def has_lone_surrogate(value: str) -> bool:
    return _SURROGATE.search(value) is not None


_SURROGATE = re.compile("[\ud800-\udfff]")


RETRY_FIRST_DELAY_SECONDS = 0.2


def backoff_delays(max_delay: float, first_delay: float = RETRY_FIRST_DELAY_SECONDS) -> Iterator[float]:
    """Exponential backoff with full jitter (0.2 s, 0.4 s, ... up to `max_delay`): replicas that lost
    the database together do not all come back at the same instant."""
    delay = first_delay
    while True:
        yield random.uniform(delay / 2, delay)  # noqa: S311 (jitter, not a secret)
        delay = min(delay * 2, max_delay)


Prepare = Callable[[AsyncEngine], Awaitable[None]]
OnAvailable = Callable[[], Awaitable[None]]


class DatabaseStatus:
    """Whether the database is usable, and the background task that makes it so.

    Starts unavailable. `start()` prepares the schema in the background, retrying with backoff until it
    succeeds; then the database is available and every `on_available` callback runs (the buffers write
    what they kept). Whoever meets an outage calls `report_failure`: from then on callers skip the
    database (no call waits out a timeout per request) and the task probes with backoff until it
    answers again. Per process: each worker finds out for itself.
    """

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        prepare: Prepare | None = None,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
        retry_max_seconds: float = 30.0,
    ) -> None:
        self.engine = engine
        self.timeout_seconds = timeout_seconds
        self._prepare = prepare or create_schema
        self._retry_max_seconds = retry_max_seconds
        self._available = False
        self._schema_ready = False
        self._callbacks: list[OnAvailable] = []
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @classmethod
    async def ready(
        cls, engine: AsyncEngine, timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
    ) -> DatabaseStatus:
        """A status for an engine whose schema exists (tests, tools): available at once."""
        status = cls(engine, timeout_seconds=timeout_seconds)
        status._available = status._schema_ready = True
        return status

    @property
    def available(self) -> bool:
        return self._available

    def on_available(self, callback: OnAvailable) -> None:
        self._callbacks.append(callback)

    async def start(self, first_attempt_seconds: float | None = None) -> None:
        """Try to prepare the schema once (bounded), then keep trying in the background if need be.

        A reachable database is thus in use from the first request; an unreachable one delays
        start-up by at most `first_attempt_seconds` (default: the timeout setting x 5).
        """
        bound = first_attempt_seconds if first_attempt_seconds is not None else self.timeout_seconds * 5
        try:
            async with asyncio.timeout(bound):
                await self._prepare(self.engine)
        except Exception as error:
            log.warning("database_not_ready", attempt=1, step="schema", error_type=type(error).__name__)
            set_database_available(self.engine.dialect.name, False)
        else:
            self._schema_ready = self._available = True
            set_database_available(self.engine.dialect.name, True)
        if self._task is None:
            self._task = asyncio.create_task(self._keep_available(), name="database-status")

    def report_failure(self, error: BaseException, *, during: str) -> None:
        """An operation found the database away: stop using it until the probe finds it back."""
        if not self._available:
            return
        self._available = False
        set_database_available(self.engine.dialect.name, False)
        # The type only: driver messages can carry the URL, its password, or statement parameters.
        log.warning("database_unavailable", during=during, error_type=type(error).__name__)
        self._changed.set()

    async def wait_available(self) -> None:
        """For tests and tools: return once the database is (back) in use."""
        while not self._available:
            self._changed.clear()
            await self._changed.wait()

    async def check(self) -> bool:
        """One bounded `SELECT 1` (readiness); a failure is reported like any other."""
        if not self._available:
            return False
        try:
            async with asyncio.timeout(self.timeout_seconds):
                await check_database(self.engine)
        except Exception as error:
            if not is_database_unavailable(error):
                raise
            self.report_failure(error, during="readiness")
            return False
        return True

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _keep_available(self) -> None:
        while True:
            if self._available:
                self._changed.clear()
                await self._changed.wait()
                continue
            await self._reconnect()
            self._available = True
            set_database_available(self.engine.dialect.name, True)
            log.info("database_available")
            for callback in self._callbacks:
                try:
                    await callback()
                except Exception as error:
                    log.warning("database_recovery_step_failed", error_type=type(error).__name__)
            self._changed.set()

    async def _reconnect(self) -> None:
        # Waits first: whoever reported the outage has just tried.
        delays = backoff_delays(self._retry_max_seconds)
        attempt = 1
        while True:
            await asyncio.sleep(next(delays))
            attempt += 1
            try:
                if self._schema_ready:
                    async with asyncio.timeout(self.timeout_seconds * 5):
                        await check_database(self.engine)
                else:
                    # Not bounded here: a long migration must be able to finish. The engine bounds
                    # connecting, so an unreachable database still fails fast.
                    await self._prepare(self.engine)
                    self._schema_ready = True
                return
            except Exception as error:
                if attempt % 10 == 0:
                    log.warning(
                        "database_not_ready",
                        attempt=attempt,
                        step="probe" if self._schema_ready else "schema",
                        error_type=type(error).__name__,
                    )
