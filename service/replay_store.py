"""JWT replay protection: each (issuer, jti) is accepted once while its token could still be valid.

The store is the `seen_jtis` table, shared by every worker and replica through the database. The
primary key (issuer, jti) makes the check atomic: of several concurrent inserts of one pair exactly one
commits; the others fail with an integrity error, which means a replay. Expired rows are purged now and
then by whichever worker notices first, so the table holds at most one token lifetime of ids.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import and_, delete, insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from service.database import seen_jtis
from service.logs import get_logger

log = get_logger("service.replay_store")

DEFAULT_PURGE_INTERVAL_SECONDS = 60.0


def utc_now() -> datetime:
    return datetime.now(UTC)


class ReplayStore:
    def __init__(
        self,
        engine: AsyncEngine,
        *,
        purge_interval_seconds: float = DEFAULT_PURGE_INTERVAL_SECONDS,
        clock: Callable[[], datetime] = utc_now,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._engine = engine
        self._purge_interval = purge_interval_seconds
        self._clock = clock
        self._monotonic = monotonic
        self._last_purge: float | None = None

    async def remember(self, issuer: str, jti: str, expires_at: datetime) -> bool:
        """Record the pair; False when it was already recorded and has not expired (a replay)."""
        now = self._clock()
        key = and_(seen_jtis.c.issuer == issuer, seen_jtis.c.jti == jti)
        try:
            async with self._engine.begin() as connection:
                # An expired row for the same pair no longer protects anything: let the new token in.
                await connection.execute(delete(seen_jtis).where(key, seen_jtis.c.expires_at < now))
                await connection.execute(
                    insert(seen_jtis).values(issuer=issuer, jti=jti, expires_at=expires_at)
                )
        except IntegrityError:
            return False
        await self._purge_if_due()
        return True

    async def purge_expired(self) -> int:
        async with self._engine.begin() as connection:
            result = await connection.execute(delete(seen_jtis).where(seen_jtis.c.expires_at < self._clock()))
        return int(result.rowcount or 0)

    async def _purge_if_due(self) -> None:
        now = self._monotonic()
        if self._last_purge is not None and now - self._last_purge < self._purge_interval:
            return
        self._last_purge = now
        purged = await self.purge_expired()
        if purged:
            log.debug("seen_jtis_purged", rows=purged)
