"""CDS Hooks feedback: validation of what the EHR reports and durable storage."""

from __future__ import annotations

import asyncio
import weakref
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)
from sqlalchemy import insert
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from service.database import feedback as feedback_table
from service.database import issued_cards
from service.logs import get_logger
from service.protocol import describe_validation_error

log = get_logger("service.feedback")

ShortText = Annotated[str, StringConstraints(min_length=1, max_length=256)]


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class Coding(_Lenient):
    system: str | None = Field(default=None, max_length=256)
    code: ShortText
    display: str | None = Field(default=None, max_length=512)


class OverrideReason(_Lenient):
    reason: Coding | None = None
    user_comment: str | None = Field(default=None, alias="userComment", max_length=4000)


class AcceptedSuggestion(_Lenient):
    id: ShortText


class FeedbackItem(_Lenient):
    card: ShortText
    outcome: Literal["accepted", "overridden"]
    accepted_suggestions: list[AcceptedSuggestion] | None = Field(default=None, alias="acceptedSuggestions")
    override_reason: OverrideReason | None = Field(default=None, alias="overrideReason")
    outcome_timestamp: datetime = Field(alias="outcomeTimestamp")

    @model_validator(mode="after")
    def _consistent(self) -> FeedbackItem:
        if self.outcome == "accepted" and self.override_reason is not None:
            raise ValueError("overrideReason is only allowed when the outcome is overridden")
        if self.outcome == "overridden" and self.accepted_suggestions:
            raise ValueError("acceptedSuggestions is only allowed when the outcome is accepted")
        if self.outcome_timestamp.tzinfo is None:
            raise ValueError("outcomeTimestamp must carry a time zone")
        return self


class FeedbackRequest(_Lenient):
    feedback: Annotated[list[FeedbackItem], Field(min_length=1, max_length=1000)]


def parse_feedback(body: dict[str, Any]) -> FeedbackRequest:
    try:
        return FeedbackRequest.model_validate(body)
    except ValidationError as error:
        raise describe_validation_error(error, "") from None


def _row(
    service_id: str, item: FeedbackItem, received_at: datetime, client_iss: str | None
) -> dict[str, Any]:
    reason = item.override_reason.reason if item.override_reason else None
    return {
        "service_id": service_id,
        "card_uuid": item.card,
        "outcome": item.outcome,
        "accepted_suggestions": (
            [suggestion.id for suggestion in item.accepted_suggestions] if item.accepted_suggestions else None
        ),
        "override_reason_system": reason.system if reason else None,
        "override_reason_code": reason.code if reason else None,
        "override_reason_display": reason.display if reason else None,
        "user_comment": item.override_reason.user_comment if item.override_reason else None,
        # Stored in UTC: SQLite keeps the wall-clock time and drops the offset, which shifted the instant.
        "outcome_timestamp": item.outcome_timestamp.astimezone(UTC),
        "received_at": received_at,
        "client_iss": client_iss,
    }


async def store_feedback(
    engine: AsyncEngine, service_id: str, request: FeedbackRequest, client_iss: str | None
) -> int:
    received_at = datetime.now(UTC)
    rows = [_row(service_id, item, received_at, client_iss) for item in request.feedback]
    # One transaction: the EHR gets 200 only when every item is durable.
    async with engine.begin() as connection:
        await connection.execute(insert(feedback_table), rows)
    return len(rows)


class _PendingCards:
    """Issued-card rows waiting for the one writer of an engine."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []
        self.lock = asyncio.Lock()


_pending_cards: weakref.WeakKeyDictionary[AsyncEngine, _PendingCards] = weakref.WeakKeyDictionary()


async def record_issued_cards(
    engine: AsyncEngine, service_id: str, cards: list[dict[str, Any]], issued_at: datetime
) -> None:
    if not cards:
        return
    rows = [
        {
            "card_uuid": card["uuid"],
            "service_id": service_id,
            "topic": card["source"]["topic"]["code"],
            "indicator": card["indicator"],
            "issued_at": issued_at,
        }
        for card in cards
    ]
    # Group commit: while one call writes, the rows of calls arriving meanwhile gather and go in the
    # next single transaction (one commit and fsync for many hook calls, not one each). Every call
    # still returns only once its rows were written, by itself or by the call before it.
    batch = _pending_cards.get(engine)
    if batch is None:
        batch = _pending_cards[engine] = _PendingCards()
    batch.rows.extend(rows)
    async with batch.lock:
        if not batch.rows:
            return
        rows, batch.rows = batch.rows, []
        try:
            async with engine.begin() as connection:
                await connection.execute(insert(issued_cards), rows)
        except SQLAlchemyError as error:
            # Runs after the EHR has its cards: losing this analytics row must not fail the call.
            log.warning("issued_cards_not_recorded", error_type=type(error).__name__, cards=len(rows))


__all__ = ["parse_feedback", "record_issued_cards", "store_feedback"]
