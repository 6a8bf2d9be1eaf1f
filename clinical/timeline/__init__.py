"""The patient timeline: everything the rules reason about, read once from the record and the draft
orders with the reviewed vocabularies. It holds dated events (therapy, imaging, findings, scores,
response assessments) and no judgement of "today": the rules decide, per day, what was visible then."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Protocol, TypeVar

from clinical.knowledge import Knowledge, PhraseReader, remembering_texts
from clinical.patient_record import PatientRecord
from clinical.timeline import contraindications as contraindications_module
from clinical.timeline import exposures as exposures_module
from clinical.timeline import findings as findings_module
from clinical.timeline import imaging as imaging_module
from clinical.timeline.contraindications import (
    EgfrReading,
    MriContraindication,
    MriSafetyFacts,
    MriSafetyVocabulary,
    deceased_on,
    find_mri_safety,
)
from clinical.timeline.diagnoses import CancerDiagnosis, DiagnosisVocabulary, find_diagnoses
from clinical.timeline.exposures import TherapyEvent, find_therapy_events
from clinical.timeline.findings import (
    FindingVocabulary,
    NeurologicalFinding,
    ScoreReading,
    birth_date,
    find_neurological_facts,
)
from clinical.timeline.imaging import (
    ImagingEvent,
    ImagingVocabulary,
    ProgressionReport,
    find_imaging,
    find_progression_reports,
)
from clinical.timeline.therapies import TherapyCatalog


def _date_elements() -> dict[str, tuple[str, ...]]:
    merged: dict[str, tuple[str, ...]] = {
        "Condition": findings_module.CONDITION_DATES,
        "Observation": findings_module.OBSERVATION_DATES,
    }
    for paths in (
        exposures_module.DATE_PATHS,
        imaging_module.DATE_PATHS,
        contraindications_module.DATE_PATHS,
    ):
        for resource_type, elements in paths.items():
            merged[resource_type] = tuple(dict.fromkeys((*merged.get(resource_type, ()), *elements)))
    return merged


# The date elements the timeline reads, by resource type: for data-quality reports on exports.
DATE_ELEMENTS = _date_elements()


@dataclass(frozen=True)
class PatientTimeline:
    therapy: tuple[TherapyEvent, ...]
    imaging: tuple[ImagingEvent, ...]
    findings: tuple[NeurologicalFinding, ...]
    scores: tuple[ScoreReading, ...]
    progression: tuple[ProgressionReport, ...]
    birth_date: date | None
    # Issue 16 section 4: what makes an MRI order wrong, the cancer treated (day +28 response by
    # diagnosis), and the day the patient died (date.min: deceased, date unknown).
    mri_safety: MriSafetyFacts = field(default_factory=lambda: MriSafetyFacts((), (), ()))
    diagnoses: tuple[CancerDiagnosis, ...] = ()
    deceased_on: date | None = None


@dataclass(frozen=True)
class Vocabularies:
    catalog: TherapyCatalog
    imaging: ImagingVocabulary
    findings: FindingVocabulary
    mri_safety: MriSafetyVocabulary
    diagnoses: DiagnosisVocabulary

    @classmethod
    def from_knowledge(cls, knowledge: Knowledge) -> Vocabularies:
        reader = PhraseReader(knowledge.text)
        return cls(
            catalog=TherapyCatalog(knowledge.therapies, knowledge.systems, knowledge.text),
            imaging=ImagingVocabulary(
                knowledge.imaging, knowledge.text.progression, reader, knowledge.systems, knowledge.text
            ),
            findings=FindingVocabulary(knowledge.findings, reader, knowledge.systems),
            mri_safety=MriSafetyVocabulary(knowledge.context.mri_safety, reader, knowledge.systems),
            diagnoses=DiagnosisVocabulary(knowledge.context.diagnoses, reader, knowledge.systems),
        )


class _Dated(Protocol):
    @property
    def on(self) -> date | None: ...


_Event = TypeVar("_Event", bound=_Dated)


def _in_order(events: Iterable[_Event]) -> tuple[_Event, ...]:
    """By date (unreadable dates last), then by content: the timeline, and every card line listed from
    it, is the same whatever order the record's resources arrived in."""
    return tuple(sorted(events, key=lambda event: (event.on is None, event.on or date.min, repr(event))))


def build_timeline(
    record: PatientRecord, draft_orders: list[dict[str, Any]], vocabularies: Vocabularies, today: date
) -> PatientTimeline:
    """`today` only dates draft orders that carry no date of their own (they are being ordered now)."""
    with remembering_texts():
        findings, scores = find_neurological_facts(record, vocabularies.findings)
        orders = record.without(draft_orders)
        return PatientTimeline(
            therapy=_in_order(find_therapy_events(orders, draft_orders, vocabularies.catalog, today)),
            imaging=_in_order(find_imaging(orders, draft_orders, vocabularies.imaging, today)),
            findings=_in_order(findings),
            scores=_in_order(scores),
            progression=_in_order(find_progression_reports(record, vocabularies.imaging)),
            birth_date=birth_date(record),
            mri_safety=find_mri_safety(record, vocabularies.mri_safety),
            diagnoses=_in_order(find_diagnoses(record, vocabularies.diagnoses)),
            deceased_on=deceased_on(record),
        )


__all__ = [
    "DATE_ELEMENTS",
    "CancerDiagnosis",
    "EgfrReading",
    "ImagingEvent",
    "MriContraindication",
    "MriSafetyFacts",
    "NeurologicalFinding",
    "PatientTimeline",
    "ProgressionReport",
    "ScoreReading",
    "TherapyEvent",
    "Vocabularies",
    "build_timeline",
]
