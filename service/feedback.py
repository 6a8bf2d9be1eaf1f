"""CDS Hooks feedback: validation of what the EHR reports, a per-client rate limit, and durable storage.

Feedback must name cards this service issued (the `issued_cards` table, written for every card a hook
call returns): a batch naming any card that this service id never issued (a made-up id, or another of our
services' card) is refused whole with 400 and stored nowhere, so reports count only real cards.

The EHR gets 200 only once every item of its request is committed to the database. While the database
is unreachable the answer is 503 with `Retry-After` (an OperationOutcome, `transient`), never 500, and
nothing is kept locally: a spool file in the pod would be lost with the pod (the root filesystem is
read-only and /tmp an emptyDir), and a 503 tells the EHR the truth, which it can retry. A request
whose commit outcome is unknown (the connection died during COMMIT) is answered 503 too, so a retry
may store an item twice; repeated feedback for a card is kept anyway (at least once, never lost).
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from service.database import DatabaseStatus, is_database_unavailable, issued_cards
from service.database import feedback as feedback_table
from service.exceptions import InvalidRequest, StorageUnavailable
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

    @field_validator("outcome_timestamp")
    @classmethod
    def _in_utc(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("outcomeTimestamp must carry a time zone")
        try:
            # 0001-01-01T00:00:00+14:00 is a valid ISO 8601 text whose instant is before year 1.
            return value.astimezone(UTC)
        except OverflowError:
            raise ValueError("outcomeTimestamp is outside the representable range of dates") from None

    @model_validator(mode="after")
    def _consistent(self) -> FeedbackItem:
        if self.outcome == "accepted" and self.override_reason is not None:
            raise ValueError("overrideReason is only allowed when the outcome is overridden")
        if self.outcome == "overridden" and self.accepted_suggestions:
            raise ValueError("acceptedSuggestions is only allowed when the outcome is accepted")
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


@asynccontextmanager
async def _feedback_database(database: AsyncEngine | DatabaseStatus) -> AsyncIterator[AsyncEngine]:
    """The engine, for one bounded piece of feedback work; StorageUnavailable (503, Retry-After) when the
    database is away, or goes away during the work."""
    status = database if isinstance(database, DatabaseStatus) else None
    engine = status.engine if status is not None else database
    assert isinstance(engine, AsyncEngine)
    if status is not None and not status.available:
        count_feedback_unavailable()
        raise StorageUnavailable(_NOT_STORED, retry_after_seconds=RETRY_AFTER_SECONDS)
    try:
        async with asyncio.timeout(status.timeout_seconds * 5 if status is not None else None):
            yield engine
    except Exception as error:
        if not is_database_unavailable(error):
            raise
        if status is not None:
            status.report_failure(error, during="feedback")
        count_feedback_unavailable()
        raise StorageUnavailable(_NOT_STORED, retry_after_seconds=RETRY_AFTER_SECONDS) from None


async def store_feedback(
    database: AsyncEngine | DatabaseStatus, service_id: str, request: FeedbackRequest, client_iss: str | None
) -> int:
    """Commit every item, or raise StorageUnavailable (503, Retry-After) when the database is away."""
    received_at = datetime.now(UTC)
    rows = [_row(service_id, item, received_at, client_iss) for item in request.feedback]
    # One transaction: the EHR gets 200 only when every item is durable.
    async with _feedback_database(database) as engine, engine.begin() as connection:
        await connection.execute(insert(feedback_table), rows)
    return len(rows)


async def cards_not_issued(
    database: AsyncEngine | DatabaseStatus, service_id: str, request: FeedbackRequest
) -> list[int]:
    """Indexes of the items naming a card this service id did not issue. Raises StorageUnavailable
    (503, Retry-After) while the database is away: unverifiable feedback is not accepted."""
    wanted = {item.card for item in request.feedback}
    async with _feedback_database(database) as engine, engine.connect() as connection:
        result = await connection.execute(
            select(issued_cards.c.card_uuid).where(
                issued_cards.c.service_id == service_id, issued_cards.c.card_uuid.in_(wanted)
            )
        )
        issued = {row[0] for row in result}
    return [index for index, item in enumerate(request.feedback) if item.card not in issued]


def refuse_cards_not_issued(indexes: list[int]) -> None:
    if indexes:
        first = indexes[0]
        raise InvalidRequest(
            f"{len(indexes)} feedback item(s) name a card this service did not issue; nothing was stored",
            expression=f"feedback[{first}].card",
        )


@dataclass
class _Bucket:
    tokens: float
    updated: float


class FeedbackRateLimiter:
    """A token bucket per client (issuer; one shared bucket for unauthenticated development calls).

    In-process: each worker process of each replica has its own buckets, so the limit a client meets
    across the deployment is (replicas x workers) x the configured rate. Buckets of clients not seen
    for a while are dropped beyond `max_clients` (issuers are configured, so this is only a backstop).
    """

    def __init__(
        self,
        rate_per_minute: float,
        burst: int,
        *,
        max_clients: int = 1024,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._rate = rate_per_minute / 60.0
        self._burst = float(burst)
        self._max_clients = max_clients
        self._clock = clock
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def retry_after(self, client: str | None, cost: int = 1) -> float | None:
        """None when the call may go ahead (its tokens are taken), else seconds to wait."""
        now = self._clock()
        key = client or ""
        bucket = self._buckets.pop(key, None) or _Bucket(self._burst, now)
        self._buckets[key] = bucket
        if len(self._buckets) > self._max_clients:
            self._buckets.popitem(last=False)
        bucket.tokens = min(self._burst, bucket.tokens + (now - bucket.updated) * self._rate)
        bucket.updated = now
        needed = min(float(cost), self._burst)
        if bucket.tokens >= needed:
            bucket.tokens -= needed
            return None
        if self._rate <= 0:
            return 60.0
        return (needed - bucket.tokens) / self._rate


__all__ = [
    "FeedbackRateLimiter",
    "cards_not_issued",
    "parse_feedback",
    "refuse_cards_not_issued",
    "store_feedback",
]
