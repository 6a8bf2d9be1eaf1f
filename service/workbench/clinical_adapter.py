"""The workbench's one door into the clinical core.

Everything the command line and the workbench need from `clinical/` goes through these functions, so
that a change of the core's API is a change here only:

    load_evaluator(knowledge_dir, cards_dir)               the evaluator, loaded once
    build_record(patient_id, resources, medications)       the service's PatientRecord for one patient
    patient_facts(evaluator, record, draft_orders, today)  facts, once per patient (date-independent
                                                           except draft orders)
    cards_on_day(evaluator, facts, now=..., hook=..., ...) the rules and cards for one day
    cards_for(evaluator, record, draft_orders, ...)        the service path: facts, rules and cards
    timeline_view(evaluator, facts, ...)                   facts as the plain view model of `view.py`

Today's core (Evaluator.facts_for / cards_for) is used; the planned `timeline_for` and
`cards_from_timeline` replace `patient_facts` and the body of `cards_on_day`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from clinical.cards import CardContext
from clinical.evaluation import Evaluator
from clinical.facts import PatientFacts
from clinical.patient_record import PatientRecord
from clinical.rules import BaselineAdvice, IntervalAdvice, NeurotoxicityAdvice, evaluate, therapy_courses
from service.workbench.view import BrainMri, CardDay, Dose, Finding, ImagingWindow, Therapy, TimelineView

Facts = PatientFacts
__all__ = ["Evaluator", "Facts", "PatientRecord"]
Card = dict[str, Any]
THERAPY_LABELS = {
    "ici": "Immune checkpoint inhibitor",
    "car_t": "CAR-T cell therapy",
    "t_cell_engager": "T-cell engager",
}


def load_evaluator(knowledge_dir: Path, cards_dir: Path) -> Evaluator:
    return Evaluator.load(knowledge_dir, cards_dir)


def build_record(
    patient_id: str, resources: Iterable[object], medications: Mapping[str, dict[str, Any]] = {}
) -> PatientRecord:
    """`medications`: Medication resources shared by every patient of an export, by "Medication/id"."""
    record = PatientRecord(patient_id=patient_id)
    record.add_all(resources)
    for reference, medication in medications.items():
        record.medications.setdefault(reference, medication)
    return record


def day_noon(day: date) -> datetime:
    """The moment a day is evaluated at when only the date is given."""
    return datetime.combine(day, time(12, 0), tzinfo=UTC)


def patient_facts(
    evaluator: Evaluator, record: PatientRecord, draft_orders: list[dict[str, Any]], today: date
) -> Facts:
    return evaluator.facts_for(record, draft_orders, day_noon(today))


def cards_on_day(
    evaluator: Evaluator,
    facts: Facts,
    *,
    now: datetime,
    hook: str,
    patient_id: str,
    user_id: str,
    encounter_id: str | None,
) -> list[Card]:
    """The cards `cards_for` would answer on `now`'s day, from facts computed once. `hook` is for the
    coming core API (today the rules do not depend on it)."""
    del hook
    context = CardContext(patient_id, user_id, encounter_id, now)
    cards: list[Card] = []
    for advice in evaluate(facts, now.date(), evaluator.timing):
        if isinstance(advice, NeurotoxicityAdvice):
            cards.append(evaluator.templates.neurotoxicity_card(advice, context))
        elif isinstance(advice, BaselineAdvice):
            cards.append(evaluator.templates.baseline_card(advice, context, evaluator.timing.recent_mri_days))
        elif isinstance(advice, IntervalAdvice):
            cards.append(evaluator.templates.interval_card(advice))
    return cards


def cards_for(
    evaluator: Evaluator,
    record: PatientRecord,
    draft_orders: list[dict[str, Any]],
    *,
    now: datetime,
    hook: str,
    patient_id: str,
    user_id: str,
    encounter_id: str | None,
) -> list[Card]:
    """Exactly what the service answers (routes.invoke calls the same evaluator method)."""
    del hook
    cards: list[Card] = evaluator.cards_for(
        record,
        draft_orders,
        now=now,
        patient_id=patient_id,
        user_id=user_id,
        encounter_id=encounter_id,
    )
    return cards


def card_topic(card: Card) -> str:
    source = card.get("source")
    topic = source.get("topic") if isinstance(source, dict) else None
    code = topic.get("code") if isinstance(topic, dict) else None
    return code if isinstance(code, str) else "unknown"


def timeline_view(
    evaluator: Evaluator,
    facts: Facts,
    *,
    patient_id: str,
    first_day: date,
    last_day: date,
    card_days: Iterable[CardDay] = (),
) -> TimelineView:
    """The patient's therapies, imaging windows, findings and brain MRIs as of `last_day`."""
    timing = evaluator.timing
    view = TimelineView(patient_id, first_day, last_day, card_days=list(card_days))
    for therapy_class, course in therapy_courses(facts, last_day).items():
        doses = tuple(
            sorted(
                (Dose(e.on, e.stage, e.agent.display, e.source) for e in course.exposures),
                key=lambda dose: (dose.on or date.min, dose.source),
            )
        )
        horizon = timedelta(days=timing.horizon_days[therapy_class])
        view.therapies.append(
            Therapy(
                therapy_class=therapy_class,
                label=THERAPY_LABELS.get(therapy_class, therapy_class),
                agents=tuple(course.agents()),
                doses=doses,
                started=course.started,
                last=course.last,
                day_zero=course.day_zero,
                day_zero_source=course.day_zero_source,
                planned=any(dose.stage == "planned" for dose in doses),
                ongoing=course.last is not None and last_day - course.last <= horizon,
            )
        )
        if course.day_zero is None:
            continue
        for window in timing.windows:
            if window.therapy_class != therapy_class:
                continue
            view.windows.append(
                ImagingWindow(
                    therapy_class,
                    window.id,
                    course.day_zero + timedelta(days=window.from_day),
                    course.day_zero + timedelta(days=window.to_day),
                    course.day_zero + timedelta(days=window.target_day)
                    if window.target_day is not None
                    else None,
                    window.indicator,
                )
            )
    view.findings = sorted(
        (Finding(f.on, f.kind.display, f.grade, f.severity, f.source, f.detail) for f in facts.findings),
        key=lambda finding: finding.on,
    )
    view.brain_mris = sorted(
        (BrainMri(e.on, e.state, e.source) for e in facts.imaging if e.kind == "brain-mri"),
        key=lambda mri: (mri.on or date.min, mri.source),
    )
    return view
