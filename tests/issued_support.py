"""Feedback is accepted only for cards the service issued: tests that post feedback for cards they
made up record those cards as issued first, as a hook call would have."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from service.storage.database import UNAUTHENTICATED_CLIENT, create_engine, create_schema, issued_cards

ISSUED_AT = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
# The override reasons the made-up cards offer: the one tests/test_feedback.py sends, and the cards' own.
OFFERED_OVERRIDE_REASONS = [
    {"system": "https://example.org/cds/override-reasons", "code": "recent-mri"},
    {"system": "urn:immunotherapy-neuroimaging-cds:override-reason", "code": "done-elsewhere"},
    {"system": "urn:immunotherapy-neuroimaging-cds:override-reason", "code": "not-indicated"},
]


def issued_rows(
    service_id: str, cards: Iterable[str], client: str = UNAUTHENTICATED_CLIENT
) -> list[dict[str, Any]]:
    return [
        {
            "card_uuid": card,
            "service_id": service_id,
            "topic": "baseline-brain-mri",
            "indicator": "warning",
            "issued_at": ISSUED_AT,
            "client": client,
            "offered_override_reasons": OFFERED_OVERRIDE_REASONS,
        }
        for card in cards
    ]


async def record_issued(
    target: AsyncEngine | str, service_id: str, cards: Iterable[str], client: str = UNAUTHENTICATED_CLIENT
) -> None:
    """Insert issued-card rows through an engine, or a database URL (the schema is made if missing);
    issued to `client` (an issuer; default: unauthenticated development calls)."""
    engine = target if isinstance(target, AsyncEngine) else create_engine(target)
    try:
        if not isinstance(target, AsyncEngine):
            await create_schema(engine)
        async with engine.begin() as connection:
            await connection.execute(insert(issued_cards), issued_rows(service_id, cards, client))
    finally:
        if not isinstance(target, AsyncEngine):
            await engine.dispose()


def record_issued_via(client: Any, service_id: str, cards: Iterable[str]) -> None:
    """For a Starlette TestClient: insert through the app's own engine, on the app's event loop."""
    engine: AsyncEngine = client.app.state.engine
    client.portal.call(functools.partial(record_issued, engine, service_id, list(cards)))


def record_issued_now(database_url: str, service_id: str, cards: Iterable[str]) -> None:
    asyncio.run(record_issued(database_url, service_id, list(cards)))
