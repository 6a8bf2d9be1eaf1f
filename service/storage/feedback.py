"""CDS Hooks feedback: validation of what the EHR reports, a per-client rate limit, and durable storage.

Feedback must name cards this service issued to the same client (the `issued_cards` table, written for
every card a hook call returns, with the client it went to and the override reasons it offered): a batch
naming any card that this service id never issued to this client (a made-up id, another of our services'
card, another client's card) is refused whole with 400 and stored nowhere, so reports count only real
cards and one client cannot write on another's. An override reason must be one the card offered, and a
request holds at most MAX_FEEDBACK_ITEMS items.

Text is stored cleaned (NUL characters dropped, lone surrogates replaced) and bounded by the lengths of
the columns it goes to (service/storage/database.py): a value the database would refuse never reaches
it, and should one still be refused, the answer is 400, never an outage
(service/storage/database.py, is_value_refused).

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
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from service.exceptions import InvalidRequest, StorageUnavailable
from service.metrics import count_feedback_unavailable
from service.protocol import describe_validation_error
from service.storage.database import (
    CARD_UUID_LENGTH,
    REASON_CODE_LENGTH,
    REASON_DISPLAY_LENGTH,
    REASON_SYSTEM_LENGTH,
    UNAUTHENTICATED_CLIENT,
    USER_COMMENT_LENGTH,
    DatabaseStatus,
    clean_text,
    is_database_unavailable,
    is_value_refused,
    issued_cards,
)
from service.storage.database import feedback as feedback_table


def _cleaned(value: Any) -> Any:
    return clean_text(value) if isinstance(value, str) else value


# String fields that always fit their columns (service/storage/database.py): cleaned first (NUL characters
# dropped, lone surrogates replaced: clean_text), then bounded by the column's length.
_Cleaned = BeforeValidator(_cleaned)
CardId = Annotated[str, StringConstraints(min_length=1, max_length=CARD_UUID_LENGTH), _Cleaned]
SuggestionId = Annotated[str, StringConstraints(min_length=1, max_length=256), _Cleaned]
ReasonCode = Annotated[str, StringConstraints(min_length=1, max_length=REASON_CODE_LENGTH), _Cleaned]
ReasonSystem = Annotated[str, StringConstraints(max_length=REASON_SYSTEM_LENGTH), _Cleaned]
ReasonDisplay = Annotated[str, StringConstraints(max_length=REASON_DISPLAY_LENGTH), _Cleaned]
UserComment = Annotated[str, StringConstraints(max_length=USER_COMMENT_LENGTH), _Cleaned]

# Items in one feedback request. An EHR reports the cards of one hook call (a few) at a time; the
# bound keeps one request from writing thousands of rows (docs/reference.md, "Endpoints").
MAX_FEEDBACK_ITEMS = 100


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class Coding(_Lenient):
    system: ReasonSystem | None = None
    code: ReasonCode
    display: ReasonDisplay | None = None


class OverrideReason(_Lenient):
    reason: Coding | None = None
    user_comment: UserComment | None = Field(default=None, alias="userComment")


class AcceptedSuggestion(_Lenient):
    id: SuggestionId


class FeedbackItem(_Lenient):
    card: CardId
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
    feedback: Annotated[list[FeedbackItem], Field(min_length=1, max_length=MAX_FEEDBACK_ITEMS)]


def parse_feedback(body: dict[str, Any]) -> FeedbackRequest:
    try:
        return FeedbackRequest.model_validate(body)
    except ValidationError as error:
        raise describe_validation_error(error, "") from None


def _offered_display(reason: Coding, offered: Sequence[dict[str, Any]]) -> str | None:
    for choice in offered:
        if reason.code == choice.get("code") and reason.system in (None, choice.get("system")):
            display = choice.get("display")
            return display if isinstance(display, str) else None
    return None


def _row(
    service_id: str,
    item: FeedbackItem,
    received_at: datetime,
    client_iss: str | None,
    offered: Sequence[dict[str, Any]] = (),
) -> dict[str, Any]:
    reason = item.override_reason.reason if item.override_reason else None
    display = (reason.display or _offered_display(reason, offered)) if reason else None
    return {
        "service_id": service_id,
        "card_uuid": item.card,
        "outcome": item.outcome,
        "accepted_suggestions": (
            [suggestion.id for suggestion in item.accepted_suggestions] if item.accepted_suggestions else None
        ),
        "override_reason_system": reason.system if reason else None,
        "override_reason_code": reason.code if reason else None,
        "override_reason_display": display,
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
    database: AsyncEngine | DatabaseStatus,
    service_id: str,
    request: FeedbackRequest,
    client_iss: str | None,
    *,
    received_at: datetime | None = None,
    offered_reasons: Mapping[str, Sequence[dict[str, Any]]] | None = None,
) -> int:
    """Commit every item, or raise StorageUnavailable (503, Retry-After) when the database is away, or
    InvalidRequest (400) when the database refuses a value (the model's cleaning and limits should
    leave none: this is the backstop that keeps a refused value from reading as an outage)."""
    # The service's clock (the app passes its own): an override counts from the day it was received.
    received = received_at or datetime.now(UTC)
    offered = offered_reasons or {}
    rows = [
        _row(service_id, item, received, client_iss, offered.get(item.card, ())) for item in request.feedback
    ]
    try:
        # One transaction: the EHR gets 200 only when every item is durable.
        async with _feedback_database(database) as engine, engine.begin() as connection:
            rows = await _without_repeated_acceptances(connection, rows)
            if rows:
                await connection.execute(insert(feedback_table), rows)
    except Exception as error:
        if not is_value_refused(error):
            raise
        raise InvalidRequest(
            f"the database refused a value of this feedback ({type(error).__name__}); nothing was stored",
            expression="feedback",
        ) from None
    return len(rows)


def _acceptance_key(row: Mapping[str, Any]) -> tuple[str, str, str | None, tuple[str, ...]]:
    return (
        str(row["service_id"]),
        str(row["card_uuid"]),
        row["client_iss"],
        tuple(row["accepted_suggestions"] or ()),
    )


async def _without_repeated_acceptances(
    connection: AsyncConnection, rows: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """A clinician who clicks the same suggestion twice (the Sandbox sends each click) accepted it once:
    an acceptance already stored for the same card, client and suggestions, or repeated in this
    request, is not stored again. Overrides are kept as sent (each may carry its own comment)."""
    accepted = [row for row in rows if row["outcome"] == "accepted"]
    if not accepted:
        return rows
    result = await connection.execute(
        select(
            feedback_table.c.service_id,
            feedback_table.c.card_uuid,
            feedback_table.c.client_iss,
            feedback_table.c.accepted_suggestions,
        ).where(
            feedback_table.c.outcome == "accepted",
            feedback_table.c.card_uuid.in_({str(row["card_uuid"]) for row in accepted}),
        )
    )
    seen = {_acceptance_key(dict(row._mapping)) for row in result}
    kept = []
    for row in rows:
        if row["outcome"] == "accepted":
            key = _acceptance_key(row)
            if key in seen:
                continue
            seen.add(key)
        kept.append(row)
    return kept


@dataclass(frozen=True)
class _IssuedCard:
    client: str
    offered_override_reasons: list[dict[str, Any]]


async def _issued(
    database: AsyncEngine | DatabaseStatus, service_id: str, cards: set[str]
) -> dict[str, _IssuedCard]:
    async with _feedback_database(database) as engine, engine.connect() as connection:
        result = await connection.execute(
            select(
                issued_cards.c.card_uuid, issued_cards.c.client, issued_cards.c.offered_override_reasons
            ).where(issued_cards.c.service_id == service_id, issued_cards.c.card_uuid.in_(cards))
        )
        return {
            row.card_uuid: _IssuedCard(row.client, _reasons(row.offered_override_reasons)) for row in result
        }


def _reasons(stored: Any) -> list[dict[str, Any]]:
    return [reason for reason in stored if isinstance(reason, dict)] if isinstance(stored, list) else []


def _offered(reason: Coding, offered: list[dict[str, Any]]) -> bool:
    """The reason names one the card offered: the same code, and the same system when it gives one."""
    return any(
        reason.code == choice.get("code") and reason.system in (None, choice.get("system"))
        for choice in offered
    )


def client_key(client_iss: str | None) -> str:
    """Who a card is issued to: the verified client's issuer, or "unauthenticated" (development)."""
    return client_iss if client_iss is not None else UNAUTHENTICATED_CLIENT


async def refuse_feedback_on_cards_not_ours(
    database: AsyncEngine | DatabaseStatus, service_id: str, request: FeedbackRequest, client_iss: str | None
) -> dict[str, list[dict[str, Any]]]:
    """InvalidRequest (400) unless every item names a card this service id issued to this client, and
    every override reason is one that card offered; nothing of the request is stored then. A card
    issued to another client is answered exactly like a card never issued: the answer must not tell
    a client which card ids exist. StorageUnavailable (503, Retry-After) while the database is away:
    unverifiable feedback is not accepted. Returns the override reasons each named card offered."""
    issued = await _issued(database, service_id, {item.card for item in request.feedback})
    caller = client_key(client_iss)
    foreign = [
        index
        for index, item in enumerate(request.feedback)
        if item.card not in issued or issued[item.card].client != caller
    ]
    if foreign:
        raise InvalidRequest(
            f"{len(foreign)} feedback item(s) name a card this service did not issue; nothing was stored",
            expression=f"feedback[{foreign[0]}].card",
        )
    for index, item in enumerate(request.feedback):
        reason = item.override_reason.reason if item.override_reason else None
        if reason is not None and not _offered(reason, issued[item.card].offered_override_reasons):
            raise InvalidRequest(
                "the override reason is not one the card offered; nothing was stored",
                expression=f"feedback[{index}].overrideReason.reason",
            )
    return {card: issued[card].offered_override_reasons for card in issued}


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
    "MAX_FEEDBACK_ITEMS",
    "FeedbackRateLimiter",
    "client_key",
    "parse_feedback",
    "refuse_feedback_on_cards_not_ours",
    "store_feedback",
]
