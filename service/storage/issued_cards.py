"""The cards each hook call issued, kept so that feedback can be reported per card topic.

A hook call hands its rows over and goes on; one writer per engine takes every row waiting, writes
them in one transaction, then does the same for the rows that arrived meanwhile. Under load, one
commit (and one fsync on SQLite) serves many hook calls, and no call holds its request's memory
while the database works. Should the database fall behind by more than `max_waiting_rows`, calls wait
for the next write instead (back-pressure: rows are never dropped to make room). At shutdown the
writer finishes what is waiting.

While the database is unreachable, calls neither wait nor fail: rows are kept in memory, at most
`max_buffered_rows` (the oldest are dropped beyond that, counted in `cds_issued_cards_dropped_total`),
and written when the database is back.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from clinical.acknowledgements import RenderedCard
from service.logs import get_logger
from service.metrics import count_dropped_issued_cards
from service.storage.database import (
    UNAUTHENTICATED_CLIENT,
    DatabaseStatus,
    clean_text,
    is_database_unavailable,
    is_value_refused,
    issued_cards,
)

log = get_logger("service.storage.issued_cards")


IssuedCard = RenderedCard | dict[str, Any]


def _offered_override_reasons(card: dict[str, Any]) -> list[dict[str, str]] | None:
    reasons = card.get("overrideReasons")
    if not reasons:
        return None
    # The display too: feedback that names a reason by code alone (the CDS Hooks Sandbox sends no
    # display) is stored with the card's own wording, for feedback-report.
    return [
        {"system": reason.get("system"), "code": reason["code"], "display": reason.get("display")}
        for reason in reasons
    ]


def issued_card_rows(
    service_id: str,
    cards: Sequence[IssuedCard],
    issued_at: datetime,
    *,
    client: str = UNAUTHENTICATED_CLIENT,
    patient_key: str | None = None,
) -> list[dict[str, Any]]:
    """One row a card: who it was issued to, the override reasons it offered, and (for a rendered card,
    which has one) its evidence key, with the patient key it was issued for."""
    rows = []
    for issued in cards:
        card = issued.card if isinstance(issued, RenderedCard) else issued
        rows.append(
            {
                "card_uuid": card["uuid"],
                "service_id": service_id,
                "topic": card["source"]["topic"]["code"],
                "indicator": card["indicator"],
                "issued_at": issued_at,
                "client": clean_text(client),
                "offered_override_reasons": _offered_override_reasons(card),
                "patient_key": patient_key,
                "evidence_key": issued.evidence_key if isinstance(issued, RenderedCard) else None,
            }
        )
    return rows


class IssuedCardsRecorder:
    """Records issued cards for one engine; created at start-up, closed at shutdown."""

    def __init__(
        self,
        engine: AsyncEngine,
        max_waiting_rows: int = 1000,
        *,
        status: DatabaseStatus | None = None,
        max_buffered_rows: int = 10_000,
    ) -> None:
        self._engine = engine
        self._max_waiting_rows = max_waiting_rows
        self._status = status
        self._max_buffered_rows = max_buffered_rows
        if status is not None:
            status.on_available(self.flush)
        self._waiting_rows: list[dict[str, Any]] = []
        self._waiting_rows_written: asyncio.Future[None] | None = None
        self._writer: asyncio.Task[None] | None = None

    @property
    def waiting_rows(self) -> int:
        """Rows handed over and not yet taken by the writer."""
        return len(self._waiting_rows)

    async def record(
        self,
        service_id: str,
        cards: Sequence[IssuedCard],
        issued_at: datetime,
        *,
        client: str = UNAUTHENTICATED_CLIENT,
        patient_key: str | None = None,
    ) -> None:
        """Queue these cards for the writer; wait for it only when too many rows are waiting."""
        if not cards:
            return
        self._waiting_rows.extend(
            issued_card_rows(service_id, cards, issued_at, client=client, patient_key=patient_key)
        )
        if self._database_away:
            self._bound_buffer()
            return
        if self._waiting_rows_written is None:
            self._waiting_rows_written = asyncio.get_running_loop().create_future()
        written = self._waiting_rows_written
        if self._writer is None:
            self._writer = asyncio.create_task(self._write_waiting_rows())
        if len(self._waiting_rows) > self._max_waiting_rows:
            # Shielded: one caller going away must not cancel the batch the others wait for.
            await asyncio.shield(written)

    @property
    def _database_away(self) -> bool:
        return self._status is not None and not self._status.available

    def _bound_buffer(self) -> None:
        excess = len(self._waiting_rows) - self._max_buffered_rows
        if excess > 0:
            del self._waiting_rows[:excess]
            count_dropped_issued_cards(excess)
            log.warning("issued_cards_dropped", cards=excess, reason="buffer_full")

    async def flush(self) -> None:
        """Start writing the rows kept during an outage (called when the database is back)."""
        if self._waiting_rows and self._writer is None:
            if self._waiting_rows_written is None:
                self._waiting_rows_written = asyncio.get_running_loop().create_future()
            self._writer = asyncio.create_task(self._write_waiting_rows())

    async def settle(self) -> None:
        """Wait until every row recorded so far is written (or kept, while the database is away): feedback
        is checked against the issued cards, and the cards of the call just answered may be in flight."""
        await self.flush()
        if self._writer is not None:
            await self._writer

    async def aclose(self) -> None:
        """Wait until every row recorded so far is written (or kept, while the database is away)."""
        if self._writer is not None:
            await self._writer
        if self._waiting_rows:
            log.warning("issued_cards_not_recorded", cards=len(self._waiting_rows), reason="shutdown")

    async def _write_waiting_rows(self) -> None:
        try:
            while self._waiting_rows and not self._database_away:
                rows, self._waiting_rows = self._waiting_rows, []
                written, self._waiting_rows_written = self._waiting_rows_written, None
                try:
                    if not await self._write(rows):
                        # Kept for when the database is back, before the rows that came meanwhile.
                        self._waiting_rows[:0] = rows
                        self._bound_buffer()
                finally:
                    if written is not None and not written.done():
                        written.set_result(None)
        finally:
            self._writer = None
            if self._database_away and self._waiting_rows_written is not None:
                # Nobody waits for a database that is away: the rows stay buffered instead.
                self._waiting_rows_written.set_result(None)
                self._waiting_rows_written = None

    def _insert(self) -> Any:
        # A batch whose COMMIT was cut off may have been written: writing it again must not fail.
        insert = postgresql.insert if self._engine.dialect.name == "postgresql" else sqlite.insert
        return insert(issued_cards).on_conflict_do_nothing(index_elements=["card_uuid"])

    async def _write(self, rows: list[dict[str, Any]]) -> bool:
        """Write the rows; False when the database is away and they should be kept for later."""
        try:
            await self._execute(rows)
        except Exception as error:
            if self._status is not None and is_database_unavailable(error):
                self._status.report_failure(error, during="issued_cards")
                return False
            if len(rows) > 1 and is_value_refused(error):
                # One row the database refuses must not take the others with it: each on its own.
                return await self._write_one_by_one(rows)
            # The EHR already has its cards: losing analytics rows must not fail calls or stop the
            # writer. Logged by type only; the message could quote the statement's parameters.
            log.warning("issued_cards_not_recorded", error_type=type(error).__name__, cards=len(rows))
            count_dropped_issued_cards(len(rows), reason="value_refused")
        return True

    async def _execute(self, rows: list[dict[str, Any]]) -> None:
        async with asyncio.timeout(self._status.timeout_seconds * 5 if self._status else 60.0):
            async with self._engine.begin() as connection:
                await connection.execute(self._insert(), rows)

    async def _write_one_by_one(self, rows: list[dict[str, Any]]) -> bool:
        for row in rows:
            try:
                await self._execute([row])
            except Exception as error:
                if self._status is not None and is_database_unavailable(error):
                    self._status.report_failure(error, during="issued_cards")
                    # All kept for when the database is back: those written already are skipped then.
                    return False
                log.warning("issued_cards_not_recorded", error_type=type(error).__name__, cards=1)
                count_dropped_issued_cards(1, reason="value_refused")
        return True


__all__ = ["IssuedCard", "IssuedCardsRecorder", "issued_card_rows"]
