"""Feedback-aware cards, the service's side: which cards a clinician already answered for this patient.

Each issued card is stored with a patient key and its evidence key (clinical/acknowledgements.py). The
patient key is an HMAC-SHA256 of the FHIR server base and the patient id under a server secret
(`CDS_PATIENT_KEY_SECRET`; unset, derived from the database URL): the database never holds a patient
id, and without the secret a key cannot be tested against guessed ids. The FHIR server is part of the
key because a patient id is unique only within its server.

On each hook call the service reads the patient's acknowledgements: feedback `overridden` with an
override reason, on cards issued for this patient key within the last `acknowledgement_lookback_days`
(an indexed, bounded query), and passes them to the evaluator, which keeps an overridden card quiet
while nothing new is charted. Reading them never stops a call: with the database away, slow or
failing, the call goes on without them (every card is shown) and `cds_acknowledgements_unread_total`
counts it.

Most patients have no override on record, and for them that read (a database round trip, about a
quarter of a typical call's time) finds nothing. Each worker therefore keeps the set of patient keys
that have any override with a reason (`OverriddenPatients`), refreshed every
`acknowledgement_refresh_seconds` and at once after this worker stores feedback; a patient outside the
set is answered without the read. An override stored through another worker or replica reaches this
worker's set at its next refresh: until then its card may be shown once more, never hidden wrongly.
While the set cannot be refreshed, every call reads as before.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import Select, select

from clinical.acknowledgements import Acknowledgement
from service.logs import get_logger
from service.metrics import count_acknowledgements_unread
from service.settings import Settings
from service.storage.database import DatabaseStatus, feedback, is_database_unavailable, issued_cards

log = get_logger("service.storage.acknowledgements")

# The most acknowledgements read for one patient: far more than one patient's overrides in a month.
MAX_ACKNOWLEDGEMENTS = 200
_KEY_CONTEXT = b"immuno-cds patient key v1"


class PatientKeys:
    """Keyed hashes of (FHIR server, patient id): the same on every replica sharing the secret."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    @classmethod
    def from_settings(cls, settings: Settings) -> PatientKeys:
        if settings.patient_key_secret is not None:
            secret = settings.patient_key_secret.get_secret_value().encode("utf-8", "surrogatepass")
        else:
            if not settings.is_development:
                log.warning(
                    "patient_key_secret_unset",
                    message="CDS_PATIENT_KEY_SECRET is not set: patient keys are derived from the database "
                    "URL; set a secret shared by every replica (docs/security.md)",
                )
            secret = settings.effective_database_url.encode("utf-8", "surrogatepass")
        return cls(hmac.new(secret, _KEY_CONTEXT, hashlib.sha256).digest())

    def key(self, fhir_server: str | None, patient_id: str) -> str:
        message = f"{fhir_server or ''}\x1f{patient_id}".encode("utf-8", "surrogatepass")
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()


# Feedback is read again from this long before the newest received time seen: a transaction that
# commits late, or a replica whose clock is behind, still has its overrides found.
_REFRESH_OVERLAP = timedelta(minutes=10)
# Every so many refreshes the whole set is read again, which lets keys whose overrides aged out go.
_REFRESHES_PER_FULL_READ = 60


def _overridden(since: datetime) -> Select[tuple[str, datetime]]:
    """Patient keys with an override with a reason received since `since`: what can make
    `read_acknowledgements` find anything (it asks the same of the same rows, and more)."""
    return (
        select(issued_cards.c.patient_key, feedback.c.received_at)
        .join(feedback, feedback.c.card_uuid == issued_cards.c.card_uuid)
        .where(
            feedback.c.received_at >= since,
            feedback.c.outcome == "overridden",
            feedback.c.override_reason_code.is_not(None),
            feedback.c.service_id == issued_cards.c.service_id,
            issued_cards.c.patient_key.is_not(None),
        )
    )


def _aware(moment: datetime) -> datetime:
    # SQLite hands back the stored UTC time without its zone.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


class OverriddenPatients:
    """This worker's set of patient keys with an override on record, so that a hook call for anyone else
    skips the acknowledgements read. The set holds every key with an override received in the lookback
    as of its last refresh (and some older ones, until the next full read); an override stored since,
    through another worker, is missed until the next refresh, so its card may be shown once more. A set
    not refreshed within two intervals (the database away) is not trusted at all: every call reads."""

    def __init__(
        self,
        database: DatabaseStatus,
        *,
        lookback_days: int,
        refresh_seconds: float,
        clock: Callable[[], datetime],
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._database = database
        self._lookback = timedelta(days=lookback_days)
        self._refresh_seconds = refresh_seconds
        self._clock = clock
        self._monotonic = monotonic
        self._keys: set[str] = set()
        self._newest: datetime | None = None
        self._refreshed_at: float | None = None
        self._refreshes = 0
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    def may_have_overrides(self, patient_key: str) -> bool:
        """False only when a fresh set says this patient has no override: the read would find nothing.
        With the database away, True: the read then answers at once and counts the call as unread."""
        if not self._database.available or self._refreshed_at is None:
            return True
        if self._monotonic() - self._refreshed_at > 2 * self._refresh_seconds:
            return True
        return patient_key in self._keys

    async def refresh(self) -> bool:
        """Read the overrides received since the last look (all of the lookback now and then). False, and
        the set left as it was, when the database cannot answer now."""
        if not self._database.available:
            return False
        async with self._lock:
            full = self._newest is None or self._refreshes % _REFRESHES_PER_FULL_READ == 0
            since = self._clock() - self._lookback
            if not full and self._newest is not None:
                since = max(since, self._newest - _REFRESH_OVERLAP)
            started = self._monotonic()
            try:
                async with (
                    asyncio.timeout(self._database.timeout_seconds),
                    self._database.engine.connect() as connection,
                ):
                    rows = (await connection.execute(_overridden(since))).all()
            except Exception as error:
                if is_database_unavailable(error):
                    self._database.report_failure(error, during="overridden_patients")
                else:
                    log.warning("overridden_patients_not_read", error_type=type(error).__name__)
                return False
            keys = {row.patient_key for row in rows}
            newest = max((_aware(row.received_at) for row in rows), default=self._newest)
            self._keys = keys if full else self._keys | keys
            self._newest = newest
            self._refreshes += 1
            # Fresh as of when the query started: what committed after it is the next refresh's.
            self._refreshed_at = started
            return True

    def start(self) -> None:
        """Refresh in the background every `refresh_seconds` until `aclose`."""
        self._task = asyncio.create_task(self._refresh_forever())

    async def _refresh_forever(self) -> None:
        while True:
            await self._database.wait_available()
            await self.refresh()
            await asyncio.sleep(self._refresh_seconds)

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None


async def read_acknowledgements(
    database: DatabaseStatus, patient_key: str, now: datetime, lookback_days: int
) -> tuple[Acknowledgement, ...]:
    """This patient's overridden cards of the last `lookback_days`; empty (counted) when they cannot be
    read now. Bounded in time by the database timeout, in rows by MAX_ACKNOWLEDGEMENTS."""
    if not database.available:
        count_acknowledgements_unread("database_unavailable")
        return ()
    since = now - timedelta(days=lookback_days)
    statement = (
        select(issued_cards.c.topic, issued_cards.c.evidence_key, feedback.c.received_at)
        .join(feedback, feedback.c.card_uuid == issued_cards.c.card_uuid)
        .where(
            issued_cards.c.patient_key == patient_key,
            issued_cards.c.issued_at >= since,
            issued_cards.c.evidence_key.is_not(None),
            feedback.c.service_id == issued_cards.c.service_id,
            feedback.c.outcome == "overridden",
            feedback.c.override_reason_code.is_not(None),
            feedback.c.received_at >= since,
        )
        .order_by(feedback.c.received_at.desc())
        .limit(MAX_ACKNOWLEDGEMENTS)
    )
    try:
        async with asyncio.timeout(database.timeout_seconds), database.engine.connect() as connection:
            rows = (await connection.execute(statement)).all()
    except Exception as error:
        if is_database_unavailable(error):
            database.report_failure(error, during="acknowledgements")
            count_acknowledgements_unread("database_unavailable")
        else:
            log.warning("acknowledgements_not_read", error_type=type(error).__name__)
            count_acknowledgements_unread("error")
        return ()
    return tuple(Acknowledgement(row.topic, row.evidence_key, row.received_at.date()) for row in rows)


__all__ = ["MAX_ACKNOWLEDGEMENTS", "OverriddenPatients", "PatientKeys", "read_acknowledgements"]
