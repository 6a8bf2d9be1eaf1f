"""JWT replay protection: each (issuer, jti) is accepted once while its token could still be valid.

Two layers:

- This worker's memory: the pairs it accepted, until they expire. A replay to the same worker is
  refused there, without the database. Bounded (`max_local_entries`): when full, the pairs closest to
  expiry are forgotten first (logged), and the database still has them.
- The `seen_jtis` table, shared by every worker and replica. A call waits for its pair to be written,
  but it does not pay a commit of its own: one writer per worker takes every pair waiting and writes
  them in one statement, `INSERT ... ON CONFLICT (issuer, jti) DO UPDATE ... WHERE expired RETURNING`.
  The pairs the statement returns were new (or replaced an expired row) and are accepted; the others
  were recorded by another worker or replica and are replays. The row is committed before the call
  is accepted, so there is no window in which a replay on another replica slips through while the
  database is reachable. Under load, one commit serves every call that arrived during the previous one.

When the database is unreachable (or does not answer within `wait_seconds`), the check falls back to
this worker's memory alone: the call is accepted if this worker has not seen the pair. Protection is
then per worker: a token replayed to another worker or replica during the outage is accepted there.
A log line and the `cds_replay_checks_degraded_total` metric say so. The pairs accepted meanwhile
(bounded) are written once the database is back, so replays after recovery are refused everywhere.
Expired rows are purged by the writer now and then, so the table holds about one token lifetime of ids.

A pair the database would refuse must never reach a batch: `remember` refuses (UnrecordableJti) a jti
that is not a printable string of at most JTI_LENGTH characters (a NUL, a lone surrogate), and should
the database still refuse a value, the batch is written again row by row, so that only the offending
call is refused and every other call of the batch is decided by the database as usual. A refused
value is never taken for an outage (service/storage/database.py, is_value_refused): if it were, one client's
token would switch replay protection to per-worker memory for every client. The backlog written after
an outage goes the same way: a row the database refuses is dropped (logged), the others are written.
"""

from __future__ import annotations

import asyncio
import heapq
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from service.logs import get_logger
from service.metrics import count_degraded_replay_check
from service.storage.database import (
    CLIENT_LENGTH,
    JTI_LENGTH,
    DatabaseStatus,
    is_database_unavailable,
    is_value_refused,
    seen_jtis,
)

log = get_logger("service.security.replay_store")

DEFAULT_PURGE_INTERVAL_SECONDS = 60.0
DEFAULT_MAX_LOCAL_ENTRIES = 100_000
DEFAULT_WAIT_SECONDS = 1.0
# Three parameters a row: well inside SQLite's and asyncpg's parameter limits.
MAX_BATCH_ROWS = 500

Pair = tuple[str, str]


def utc_now() -> datetime:
    return datetime.now(UTC)


def is_well_formed_jti(jti: object) -> bool:
    """A non-empty printable string (no NUL or other control character, no lone surrogate) that fits
    the column: what every backend stores as it is."""
    return isinstance(jti, str) and 0 < len(jti) <= JTI_LENGTH and jti.isprintable()


class UnrecordableJti(Exception):
    """The pair cannot be recorded (malformed, or refused by the database): the call is refused."""


@dataclass
class _Pending:
    issuer: str
    jti: str
    expires_at: datetime
    accepted: asyncio.Future[bool] = field(repr=False)


class _LocalWindow:
    """The pairs this worker accepted, with their expiry; bounded, the soonest to expire go first."""

    def __init__(self, max_entries: int) -> None:
        self._max_entries = max_entries
        self._expiry: dict[Pair, datetime] = {}
        self._by_expiry: list[tuple[datetime, Pair]] = []
        self._full_logged = False

    def __len__(self) -> int:
        return len(self._expiry)

    def seen(self, pair: Pair, now: datetime) -> bool:
        expires_at = self._expiry.get(pair)
        return expires_at is not None and expires_at >= now

    def add(self, pair: Pair, expires_at: datetime, now: datetime) -> None:
        self._expiry[pair] = expires_at
        heapq.heappush(self._by_expiry, (expires_at, pair))
        self._forget_expired(now)
        while len(self._expiry) > self._max_entries:
            if not self._full_logged:
                self._full_logged = True
                log.warning("replay_window_full", entries=self._max_entries)
            self._pop()

    def _forget_expired(self, now: datetime) -> None:
        while self._by_expiry and self._by_expiry[0][0] < now:
            self._pop()

    def _pop(self) -> None:
        expires_at, pair = heapq.heappop(self._by_expiry)
        # A pair accepted again after it expired has a newer entry further down the heap.
        if self._expiry.get(pair) == expires_at:
            del self._expiry[pair]


def _claim_statement(dialect: str, rows: list[dict[str, Any]], now: datetime) -> Any:
    """Insert the pairs; a pair already present is taken over only when its row has expired."""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(seen_jtis).values(rows)
    return statement.on_conflict_do_update(
        index_elements=[seen_jtis.c.issuer, seen_jtis.c.jti],
        set_={"expires_at": statement.excluded.expires_at},
        where=seen_jtis.c.expires_at < now,
    ).returning(seen_jtis.c.issuer, seen_jtis.c.jti)


def _keep_statement(dialect: str, rows: list[dict[str, Any]]) -> Any:
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return insert(seen_jtis).values(rows).on_conflict_do_nothing(index_elements=["issuer", "jti"])


class ReplayStore:
    def __init__(
        self,
        engine: AsyncEngine,
        *,
        status: DatabaseStatus | None = None,
        max_local_entries: int = DEFAULT_MAX_LOCAL_ENTRIES,
        wait_seconds: float = DEFAULT_WAIT_SECONDS,
        purge_interval_seconds: float = DEFAULT_PURGE_INTERVAL_SECONDS,
        clock: Callable[[], datetime] = utc_now,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._engine = engine
        self._status = status
        self._local = _LocalWindow(max_local_entries)
        self._max_backlog = max_local_entries
        self._wait_seconds = wait_seconds
        self._purge_interval = purge_interval_seconds
        self._clock = clock
        self._monotonic = monotonic
        self._last_purge: float | None = None
        self._pending: list[_Pending] = []
        # Pairs accepted while the database was away, written once it is back.
        self._backlog: dict[Pair, datetime] = {}
        self._writer: asyncio.Task[None] | None = None
        self._degraded_logged = False
        if status is not None:
            status.on_available(self.write_backlog)

    @property
    def degraded(self) -> bool:
        return self._status is not None and not self._status.available

    async def remember(self, issuer: str, jti: str, expires_at: datetime) -> bool:
        """Record the pair; False when it was already recorded and has not expired (a replay)."""
        if not is_well_formed_jti(jti) or not (0 < len(issuer) <= CLIENT_LENGTH and issuer.isprintable()):
            raise UnrecordableJti("the jti or issuer is not a printable string that fits its column")
        now = self._clock()
        pair = (issuer, jti)
        if self._local.seen(pair, now):
            return False
        self._local.add(pair, expires_at, now)
        if self.degraded:
            return self._accept_degraded(pair, expires_at, "database_unavailable")
        accepted = asyncio.get_running_loop().create_future()
        self._pending.append(_Pending(issuer, jti, expires_at, accepted))
        if self._writer is None:
            self._writer = asyncio.create_task(self._write_pending())
        try:
            async with asyncio.timeout(self._wait_seconds):
                # Shielded: a caller that gives up must not cancel the batch the others wait for.
                return await asyncio.shield(accepted)
        except TimeoutError:
            return self._accept_degraded(pair, expires_at, "timeout")
        except _DatabaseAway:
            return self._accept_degraded(pair, expires_at, "database_unavailable")
        except _Refused:
            raise UnrecordableJti("the database refused this jti") from None

    def _accept_degraded(self, pair: Pair, expires_at: datetime, reason: str) -> bool:
        count_degraded_replay_check(reason)
        if not self._degraded_logged:
            self._degraded_logged = True
            log.warning(
                "replay_protection_degraded",
                message="the database is unreachable: JWT ids are checked against this worker's memory "
                "only until it is back; a token replayed to another worker or replica would be accepted",
            )
        if len(self._backlog) < self._max_backlog:
            self._backlog[pair] = expires_at
        return True

    async def write_backlog(self) -> None:
        """Write the pairs accepted during an outage (called when the database is back). A row the
        database refuses is dropped on its own; should the database go away again, what is left is
        kept for the next time it is back."""
        self._degraded_logged = False
        now = self._clock()
        backlog, self._backlog = self._backlog, {}
        pending = [(pair, expires_at) for pair, expires_at in backlog.items() if expires_at >= now]
        rows = [
            {"issuer": issuer, "jti": jti, "expires_at": expires_at} for (issuer, jti), expires_at in pending
        ]
        written = 0
        for start in range(0, len(rows), MAX_BATCH_ROWS):
            chunk = rows[start : start + MAX_BATCH_ROWS]
            try:
                written += await self._keep(chunk)
            except Exception as error:
                if not is_database_unavailable(error):
                    raise
                for pair, expires_at in pending[start:]:
                    self._backlog.setdefault(pair, expires_at)
                if self._status is not None:
                    self._status.report_failure(error, during="replay_backlog")
                break
        if written:
            log.info("replay_backlog_written", pairs=written)

    async def _keep(self, rows: list[dict[str, Any]]) -> int:
        """Insert the rows (present ones are kept as they are); row by row when the database refuses a
        value of the batch. The rows written (or found present)."""
        dialect = self._engine.dialect.name
        try:
            async with self._engine.begin() as connection:
                await connection.execute(_keep_statement(dialect, rows))
            return len(rows)
        except Exception as error:
            if not is_value_refused(error):
                raise
            if len(rows) == 1:
                log.warning("replay_backlog_row_refused", error_type=type(error).__name__)
                return 0
        return sum([await self._keep([row]) for row in rows])

    async def purge_expired(self) -> int:
        async with self._engine.begin() as connection:
            result = await connection.execute(delete(seen_jtis).where(seen_jtis.c.expires_at < self._clock()))
        return int(result.rowcount or 0)

    async def aclose(self) -> None:
        if self._writer is not None:
            await asyncio.gather(self._writer, return_exceptions=True)

    async def _write_pending(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending[:MAX_BATCH_ROWS], self._pending[MAX_BATCH_ROWS:]
                await self._claim(batch)
                await self._purge_if_due()
        finally:
            self._writer = None

    async def _claim(self, batch: list[_Pending]) -> None:
        # One row a pair: a statement may not touch a row twice (the local window makes this rare).
        unique = {(item.issuer, item.jti): item.expires_at for item in reversed(batch)}
        rows = [
            {"issuer": issuer, "jti": jti, "expires_at": expires_at}
            for (issuer, jti), expires_at in unique.items()
        ]
        refused: set[Pair] = set()
        try:
            claimed = await self._claim_rows(rows)
        except Exception as error:
            if not is_value_refused(error):
                self._fail(batch, error)
                return
            # One poisoned row must not take the others with it: each pair on its own.
            try:
                claimed, refused = await self._claim_one_by_one(rows)
            except Exception as again:
                self._fail(batch, again)
                return
        for item in batch:
            if not item.accepted.done():
                pair = (item.issuer, item.jti)
                if pair in refused:
                    item.accepted.set_exception(_Refused())
                    item.accepted.exception()
                    continue
                item.accepted.set_result(pair in claimed)
                # A second call with the same pair in this batch is a replay of the first.
                claimed.discard(pair)

    async def _claim_rows(self, rows: list[dict[str, Any]]) -> set[Pair]:
        async with asyncio.timeout(self._status.timeout_seconds if self._status else 10.0):
            async with self._engine.begin() as connection:
                result = await connection.execute(
                    _claim_statement(self._engine.dialect.name, rows, self._clock())
                )
                return {(row.issuer, row.jti) for row in result}

    async def _claim_one_by_one(self, rows: list[dict[str, Any]]) -> tuple[set[Pair], set[Pair]]:
        """(claimed, refused). A database that goes away meanwhile fails what is left (the callers
        fall back to this worker's memory, as for any outage)."""
        claimed: set[Pair] = set()
        refused: set[Pair] = set()
        for row in rows:
            pair = (row["issuer"], row["jti"])
            try:
                claimed |= await self._claim_rows([row])
            except Exception as error:
                if not is_value_refused(error):
                    raise
                log.warning(
                    "replay_check_refused",
                    reason="the database refused the jti",
                    error_type=type(error).__name__,
                )
                refused.add(pair)
        return claimed, refused

    def _fail(self, batch: list[_Pending], error: BaseException) -> None:
        if self._status is not None and is_database_unavailable(error):
            self._status.report_failure(error, during="replay_check")
        else:
            log.warning("replay_check_failed", error_type=type(error).__name__)
        for item in batch:
            if not item.accepted.done():
                item.accepted.set_exception(_DatabaseAway())
                # Retrieved here: callers that timed out no longer await it.
                item.accepted.exception()

    async def _purge_if_due(self) -> None:
        now = self._monotonic()
        if self._last_purge is not None and now - self._last_purge < self._purge_interval:
            return
        self._last_purge = now
        try:
            purged = await self.purge_expired()
        except Exception as error:
            log.warning("seen_jtis_purge_failed", error_type=type(error).__name__)
            return
        if purged:
            log.debug("seen_jtis_purged", rows=purged)


class _DatabaseAway(Exception):
    """The batch could not be written: the callers fall back to this worker's memory."""


class _Refused(Exception):
    """The database refused this pair's values: its call is refused."""
