"""The workbench's one door into the clinical core.

Everything the command line and the workbench need from `clinical/` goes through these functions, so
that a change of the core's API is a change here only:

    load_evaluator(knowledge_dir, cards_dir)               the evaluator, loaded once
    build_record(patient_id, resources, medications)       the service's PatientRecord for one patient
    patient_facts(evaluator, record, draft_orders, today)  facts, once per patient (date-independent
                                                           except draft orders)
    cards_on_day(evaluator, facts, now=..., hook=..., ...) the rules and cards for one day
    rendered_on_day(evaluator, facts, now=..., ...)        the same with each card's topic and rule
    medication_codes(evaluator, resource, record)          a medication record the catalog does not know
    cards_for(evaluator, record, draft_orders, ...)        the service path: facts, rules and cards
    timeline_view(evaluator, facts, ...)                   timeline_view.build.build_view: the view model
    one_patients_texts()                                   a block whose timeline builds share one
                                                           memo of text matches (one patient's days)

The core's own split is used: `Evaluator.timeline_for` reads the record once per patient, and
`Evaluator.cards_from_timeline` applies the rules for one day, exactly as the service's `cards_for` does.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from contextlib import AbstractContextManager
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

from clinical.acknowledgements import RenderedCard
from clinical.evaluation import Evaluator
from clinical.knowledge import remembering_texts
from clinical.patient_record import PatientRecord
from clinical.timeline import PatientTimeline
from clinical.timeline.exposures import medication_concepts
from timeline_view.build import THERAPY_LABELS
from timeline_view.build import build_view as timeline_view

Facts = PatientTimeline
__all__ = ["Evaluator", "Facts", "PatientRecord", "RenderedCard", "timeline_view"]
Card = dict[str, Any]


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


def one_patients_texts() -> AbstractContextManager[None]:
    """Every timeline built within this block (one patient's chart on each day it changed) scans a
    given text once: the memo lives for the block, so no patient's text outlives the patient."""
    return remembering_texts()


def day_noon(day: date) -> datetime:
    """The moment a day is evaluated at when only the date is given."""
    return datetime.combine(day, time(12, 0), tzinfo=UTC)


def patient_facts(
    evaluator: Evaluator, record: PatientRecord, draft_orders: list[dict[str, Any]], today: date
) -> Facts:
    return evaluator.timeline_for(record, draft_orders, today)


def cards_on_day(
    evaluator: Evaluator,
    facts: Facts,
    *,
    now: datetime,
    hook: str,
    patient_id: str,
    user_id: str,
    encounter_id: str | None,
    language: str = "en",
) -> list[Card]:
    """The cards `cards_for` would answer on `now`'s day, from the timeline built once. The hook is
    implied by the draft orders the timeline was built with (patient-view has none)."""
    del hook
    return evaluator.cards_from_timeline(
        facts,
        now=now,
        patient_id=patient_id,
        user_id=user_id,
        encounter_id=encounter_id,
        language=language,
    )


def rendered_on_day(
    evaluator: Evaluator,
    facts: Facts,
    *,
    now: datetime,
    patient_id: str,
    user_id: str,
    encounter_id: str | None,
    language: str = "en",
) -> list[RenderedCard]:
    """`cards_on_day` with each card's topic, rule (`clinical.acknowledgements.rule_of`) and evidence."""
    return evaluator.rendered_from_timeline(
        facts,
        now=now,
        patient_id=patient_id,
        user_id=user_id,
        encounter_id=encounter_id,
        language=language,
    )


MEDICATION_USE_TYPES = ("MedicationRequest", "MedicationAdministration", "MedicationStatement")


def medication_codes(
    evaluator: Evaluator, resource: dict[str, Any], record: PatientRecord
) -> list[tuple[str, str, str]] | None:
    """None when the catalog recognises the medication record (it names a therapy the rules know);
    otherwise its (system, code, display) triples, a text-only concept as ("", "", text), an empty
    record as one ("", "", "")."""
    concepts, texts = medication_concepts(resource, record)
    if evaluator.vocabularies.catalog.match(concepts, texts):
        return None
    found: list[tuple[str, str, str]] = []
    for concept in concepts:
        if not isinstance(concept, dict):
            continue
        for coding in concept.get("coding") or []:
            if isinstance(coding, dict):
                found.append(
                    (
                        str(coding.get("system") or ""),
                        str(coding.get("code") or ""),
                        str(coding.get("display") or ""),
                    )
                )
        if not concept.get("coding") and isinstance(concept.get("text"), str):
            found.append(("", "", concept["text"]))
    found.extend(("", "", text) for text in texts if not found)
    return found or [("", "", "")]


def therapy_classes(facts: Facts) -> list[str]:
    """The therapy classes the patient's chart names (given, ordered or planned), labelled."""
    classes = dict.fromkeys(event.agent.therapy_class for event in facts.therapy)
    return [THERAPY_LABELS.get(name, name) for name in classes]


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
    language: str = "en",
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
        language=language,
    )
    return cards


def card_topic(card: Card) -> str:
    source = card.get("source")
    topic = source.get("topic") if isinstance(source, dict) else None
    code = topic.get("code") if isinstance(topic, dict) else None
    return code if isinstance(code, str) else "unknown"
