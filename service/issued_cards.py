"""The cards each hook call issued, kept so that feedback can be reported per card topic.

A hook call hands its rows over and goes on; one writer per engine takes every row waiting, writes
them in one transaction, then does the same for the rows that arrived meanwhile. Under load, one
commit (and one fsync on SQLite) serves many hook calls, and no call holds its request's memory
while the database works. Should the database fall behind by more than `max_waiting_rows`, calls wait
for the next write instead (back-pressure: rows are never dropped to make room). At shutdown the
writer finishes what is waiting.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from service.database import issued_cards
from service.logs import get_logger

log = get_logger("service.issued_cards")


def issued_card_rows(
    service_id: str, cards: list[dict[str, Any]], issued_at: datetime
) -> list[dict[str, Any]]:
    return [
        {
            "card_uuid": card["uuid"],
            "service_id": service_id,
            "topic": card["source"]["topic"]["code"],
            "indicator": card["indicator"],
            "issued_at": issued_at,
        }
        for card in cards
    ]


class IssuedCardsRecorder:
    """Records issued cards for one engine; created at start-up, closed at shutdown."""

    def __init__(self, engine: AsyncEngine, max_waiting_rows: int = 1000) -> None:
        self._engine = engine
        self._max_waiting_rows = max_waiting_rows
        self._waiting_rows: list[dict[str, Any]] = []
        self._waiting_rows_written: asyncio.Future[None] | None = None
        self._writer: asyncio.Task[None] | None = None

    @property
    def waiting_rows(self) -> int:
        """Rows handed over and not yet taken by the writer."""
        return len(self._waiting_rows)

    async def record(self, service_id: str, cards: list[dict[str, Any]], issued_at: datetime) -> None:
        """Queue these cards for the writer; wait for it only when too many rows are waiting."""
        if not cards:
            return
        self._waiting_rows.extend(issued_card_rows(service_id, cards, issued_at))
        if self._waiting_rows_written is None:
            self._waiting_rows_written = asyncio.get_running_loop().create_future()
        written = self._waiting_rows_written
        if self._writer is None:
            self._writer = asyncio.create_task(self._write_waiting_rows())
        if len(self._waiting_rows) > self._max_waiting_rows:
            # Shielded: one caller going away must not cancel the batch the others wait for.
            await asyncio.shield(written)

    async def aclose(self) -> None:
        """Wait until every row recorded so far is written."""
        if self._writer is not None:
            await self._writer

    async def _write_waiting_rows(self) -> None:
        try:
            while self._waiting_rows:
                rows, self._waiting_rows = self._waiting_rows, []
                written, self._waiting_rows_written = self._waiting_rows_written, None
                try:
                    await self._write(rows)
                finally:
                    if written is not None and not written.done():
                        written.set_result(None)
        finally:
            self._writer = None

    async def _write(self, rows: list[dict[str, Any]]) -> None:
        try:
            async with self._engine.begin() as connection:
                await connection.execute(insert(issued_cards), rows)
        except Exception as error:
            # The EHR already has its cards: losing analytics rows must not fail calls or stop the
            # writer. Logged by type only; the message could quote the statement's parameters.
            log.warning("issued_cards_not_recorded", error_type=type(error).__name__, cards=len(rows))


__all__ = ["IssuedCardsRecorder", "issued_card_rows"]
