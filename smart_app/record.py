"""The signed-in patient's timeline: the record read with the session's token through the hook path's
readers and guards (service/fhir_access: the allowlist, the URL policy, the per-call byte and time
budgets, no redirects), evaluated exactly as a patient-view hook call is (the same evaluator, in the
same pool, within the same CPU budget), drawn as the shared timeline view with today's cards."""

from __future__ import annotations

import asyncio
from datetime import datetime

from starlette.requests import Request

from clinical.acknowledgements import Acknowledgement, RenderedCard
from clinical.evaluation import Evaluator
from clinical.patient_record import PatientRecord
from service.fhir_access.fhir_client import FhirEndpoint
from service.fhir_access.prefetch import FhirAccess, gather_patient_record
from service.fhir_access.url_policy import normalised_base
from service.routes import evaluate_within_budget
from service.settings import Settings
from service.storage.acknowledgements import read_acknowledgements
from smart_app.sessions import ActiveSession
from timeline_view.build import build_view
from timeline_view.model import CardDay, TimelineView

# Reading the whole record for the page: longer than a hook call may wait (CDS_HOOK_DEADLINE_SECONDS),
# the same byte budget per read (CDS_FHIR_MAX_CALL_BYTES).
READ_DEADLINE_SECONDS = 10.0


async def read_record(request: Request, session: ActiveSession) -> PatientRecord:
    settings: Settings = request.app.state.settings
    access = FhirAccess(request.app.state.fhir_client, FhirEndpoint(session.iss, session.access_token), "")
    async with asyncio.timeout(READ_DEADLINE_SECONDS):
        return await gather_patient_record(
            None, session.patient, "", access, READ_DEADLINE_SECONDS, settings.fhir_max_medication_reads
        )


def _card_day(now: datetime, item: RenderedCard) -> CardDay:
    card = item.card
    return CardDay(
        now.date(),
        item.topic,
        str(card.get("indicator", "info")),
        str(card.get("summary", "")),
        str(card.get("detail", "")),
        item.rule,
        item.evidence,
    )


def _view(
    evaluator: Evaluator,
    record: PatientRecord,
    now: datetime,
    acknowledgements: tuple[Acknowledgement, ...],
) -> TimelineView:
    timeline = evaluator.timeline_for(record, [], now.date())
    rendered = evaluator.rendered_from_timeline(
        timeline,
        now=now,
        patient_id=record.patient_id,
        user_id="",
        encounter_id=None,
        acknowledgements=acknowledgements,
    )
    today = [_card_day(now, item) for item in rendered]
    day = now.date()
    view = build_view(
        evaluator, timeline, patient_id=record.patient_id, first_day=day, last_day=day, card_days=today
    )
    view.today_cards = today
    return view


async def timeline_of(request: Request, session: ActiveSession, record: PatientRecord) -> TimelineView:
    settings: Settings = request.app.state.settings
    now: datetime = request.app.state.clock()
    patient_key = request.app.state.patient_keys.key(normalised_base(session.iss), session.patient)
    acknowledgements = await read_acknowledgements(
        request.app.state.database, patient_key, now, settings.acknowledgement_lookback_days
    )
    evaluator: Evaluator = request.app.state.evaluator
    return await evaluate_within_budget(
        request, record, [], lambda screened: _view(evaluator, screened, now, acknowledgements)
    )
