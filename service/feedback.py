"""CDS Hooks feedback: validation of what the EHR reports and durable storage.

The EHR gets 200 only once every item of its request is committed to the database. While the database
is unreachable the answer is 503 with `Retry-After` (an OperationOutcome, `transient`), never 500, and
nothing is kept locally: a spool file in the pod would be lost with the pod (the root filesystem is
read-only and /tmp an emptyDir), and a 503 tells the EHR the truth, which it can retry. A request
whose commit outcome is unknown (the connection died during COMMIT) is answered 503 too, so a retry
may store an item twice; repeated feedback for a card is kept anyway (at least once, never lost).
"""

from __future__ import annotations

import asyncio
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
from sqlalchemy.ext.asyncio import AsyncEngine

from service.database import DatabaseStatus, is_database_unavailable
from service.database import feedback as feedback_table
from service.exceptions import StorageUnavailable
from service.metrics import count_feedback_unavailable
from service.protocol import describe_validation_error

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


# How long the EHR is asked to wait before sending feedback again while the database is away.
RETRY_AFTER_SECONDS = 30
_NOT_STORED = "feedback could not be stored now: the database is unreachable; send it again later"


async def store_feedback(
    database: AsyncEngine | DatabaseStatus, service_id: str, request: FeedbackRequest, client_iss: str | None
) -> int:
    """Commit every item, or raise StorageUnavailable (503, Retry-After) when the database is away."""
    status = database if isinstance(database, DatabaseStatus) else None
    engine = status.engine if status is not None else database
    assert isinstance(engine, AsyncEngine)
    if status is not None and not status.available:
        count_feedback_unavailable()
        raise StorageUnavailable(_NOT_STORED, retry_after_seconds=RETRY_AFTER_SECONDS)
    received_at = datetime.now(UTC)
    rows = [_row(service_id, item, received_at, client_iss) for item in request.feedback]
    timeout = status.timeout_seconds * 5 if status is not None else None
    try:
        # One transaction: the EHR gets 200 only when every item is durable.
        async with asyncio.timeout(timeout):
            async with engine.begin() as connection:
                await connection.execute(insert(feedback_table), rows)
    except Exception as error:
        if not is_database_unavailable(error):
            raise
        if status is not None:
            status.report_failure(error, during="feedback")
        count_feedback_unavailable()
        raise StorageUnavailable(_NOT_STORED, retry_after_seconds=RETRY_AFTER_SECONDS) from None
    return len(rows)


__all__ = ["parse_feedback", "store_feedback"]
