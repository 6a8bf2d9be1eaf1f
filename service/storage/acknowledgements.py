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
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from datetime import datetime, timedelta

from sqlalchemy import select

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


__all__ = ["MAX_ACKNOWLEDGEMENTS", "PatientKeys", "read_acknowledgements"]
