"""The patient timeline: everything the rules reason about, read once from the record and the draft
orders with the reviewed vocabularies. It holds dated events (therapy, imaging, findings, scores,
response assessments) and no judgement of "today": the rules decide, per day, what was visible then."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any, Protocol, TypeVar

from clinical.knowledge import Knowledge, PhraseReader, remembering_texts
from clinical.knowledge.catalog import TermCatalog
from clinical.patient_record import PatientRecord
from clinical.timeline import contraindications as contraindications_module
from clinical.timeline import exposures as exposures_module
from clinical.timeline import finding_sources as finding_sources_module
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
from clinical.timeline.finding_sources import TreatmentVocabulary, find_report_facts, find_treatment_findings
from clinical.timeline.findings import (
    FindingVocabulary,
    NeurologicalFinding,
    ScoreReading,
    birth_date,
    end_by_normal_readings,
    find_neurological_facts,
)
from clinical.timeline.imaging import (
    ImagingEvent,
    ImagingVocabulary,
    ProgressionReport,
    find_imaging,
    find_progression_reports,
)
from clinical.timeline.implied import ImpliedExposure, ImpliedExposureVocabulary, find_implied_exposures
from clinical.timeline.per_resource import remembering_resources
from clinical.timeline.relevance import ScreenedRecord, Screening, screen
from clinical.timeline.therapies import TherapyCatalog
from clinical.timeline.treatment_changes import (
    IciStop,
    OtherAnticancerTherapy,
    TreatmentChangeVocabulary,
    find_treatment_changes,
)


def _date_elements() -> dict[str, tuple[str, ...]]:
    merged: dict[str, tuple[str, ...]] = {
        "Condition": findings_module.CONDITION_DATES,
        "Observation": findings_module.OBSERVATION_DATES,
    }
    report_paths = {"DiagnosticReport": finding_sources_module.REPORT_DATES}
    treatment_paths = finding_sources_module.TREATMENT_DATES
    for paths in (
        exposures_module.DATE_PATHS,
        imaging_module.DATE_PATHS,
        report_paths,
        treatment_paths,
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
    # v3: diagnoses that say immune effector cell therapy was given (T80.82-, D89.83-)
    implied_exposures: tuple[ImpliedExposure, ...] = ()
    # iRECIST context (issue 16 section 6): checkpoint inhibitor stops and their reasons, and systemic
    # anticancer therapy other than a checkpoint inhibitor (a possible new line).
    ici_stops: tuple[IciStop, ...] = ()
    other_anticancer_therapy: tuple[OtherAnticancerTherapy, ...] = ()
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
    treatments: TreatmentVocabulary
    mri_safety: MriSafetyVocabulary
    diagnoses: DiagnosisVocabulary
    implied: ImpliedExposureVocabulary | None = None
    treatment_changes: TreatmentChangeVocabulary | None = None
    # Every code and name of the vocabularies above, for the fast reject (relevance.py); None: no reject.
    terms: TermCatalog | None = None
    text_cap: int = 20_000

    @classmethod
    def from_knowledge(cls, knowledge: Knowledge) -> Vocabularies:
        reader = PhraseReader(knowledge.text)
        vocabularies = cls(
            catalog=TherapyCatalog(knowledge.therapies, knowledge.systems, knowledge.text),
            imaging=ImagingVocabulary(
                knowledge.imaging, knowledge.text.progression, reader, knowledge.systems, knowledge.text
            ),
            findings=FindingVocabulary(knowledge.findings, reader, knowledge.systems),
            treatments=TreatmentVocabulary(
                knowledge.findings.treatment_evidence, knowledge.findings.treatment_conditional_words
            ),
            implied=ImpliedExposureVocabulary(
                knowledge.therapies, reader, knowledge.systems, knowledge.findings.condition_certainty
            ),
            treatment_changes=TreatmentChangeVocabulary(
                knowledge.imaging, knowledge.text.progression, reader, knowledge.systems
            ),
            mri_safety=MriSafetyVocabulary(
                knowledge.context.mri_safety,
                reader,
                knowledge.systems,
                knowledge.findings.condition_certainty,
            ),
            diagnoses=DiagnosisVocabulary(
                knowledge.context.diagnoses, reader, knowledge.systems, knowledge.findings.condition_certainty
            ),
        )
        return replace(
            vocabularies,
            terms=TermCatalog.gathered_from(vocabularies),
            text_cap=knowledge.text.max_text_chars,
        )

    def screen(
        self, record: PatientRecord, draft_orders: list[dict[str, Any]], stop_above: int | None = None
    ) -> Screening:
        """The record less the resources no vocabulary can read anything in, and the call's text volume
        (relevance.py); without a catalog nothing is left out."""
        if self.terms is None:
            return Screening(record, 0, 0)
        return screen(record, draft_orders, self.terms, element_cap=self.text_cap, stop_above=stop_above)


class _Dated(Protocol):
    @property
    def on(self) -> date | None: ...


_Event = TypeVar("_Event", bound=_Dated)


def _in_order(events: Iterable[_Event]) -> tuple[_Event, ...]:
    """By date (unreadable dates last), then by content: the timeline, and every card line listed from
    it, is the same whatever order the record's resources arrived in."""
    return tuple(sorted(events, key=lambda event: (event.on is None, event.on or date.min, repr(event))))


# The fast reject pays for itself on records with history (hundreds of resources, most unrelated); on a
# record smaller than this its walk costs about what it saves. The hook path screens every record: it
# walks every record for the evaluation budget anyway (relevance.py).
SCREEN_FROM_RESOURCES = 100


def build_timeline(
    record: PatientRecord, draft_orders: list[dict[str, Any]], vocabularies: Vocabularies, today: date
) -> PatientTimeline:
    """`today` only dates draft orders that carry no date of their own (they are being ordered now), and
    stands in for the date of an undated active Condition (the rules read it as current on any day)."""
    if not isinstance(record, ScreenedRecord) and record.resource_count() >= SCREEN_FROM_RESOURCES:
        record = vocabularies.screen(record, draft_orders).record
    with remembering_texts(), remembering_resources():
        findings, scores, normals = find_neurological_facts(record, vocabularies.findings, today)
        report_findings, report_scores, report_normals = find_report_facts(record, vocabularies.findings)
        findings += report_findings + find_treatment_findings(
            record, vocabularies.findings, vocabularies.treatments
        )
        scores += report_scores
        findings = end_by_normal_readings(findings, normals + report_normals, vocabularies.findings)
        orders = record.without(draft_orders)
        stops, others = (
            find_treatment_changes(
                orders, draft_orders, vocabularies.catalog, vocabularies.treatment_changes, today
            )
            if vocabularies.treatment_changes is not None
            else ([], [])
        )
        return PatientTimeline(
            therapy=_in_order(find_therapy_events(orders, draft_orders, vocabularies.catalog, today)),
            imaging=_in_order(find_imaging(orders, draft_orders, vocabularies.imaging, today)),
            findings=_in_order(findings),
            scores=_in_order(scores),
            progression=_in_order(find_progression_reports(record, vocabularies.imaging)),
            birth_date=birth_date(record),
            implied_exposures=_in_order(
                find_implied_exposures(record, vocabularies.implied) if vocabularies.implied else []
            ),
            ici_stops=_in_order_of_start(stops),
            other_anticancer_therapy=_in_order(others),
            mri_safety=find_mri_safety(record, vocabularies.mri_safety),
            diagnoses=_in_order(find_diagnoses(record, vocabularies.diagnoses)),
            deceased_on=deceased_on(record),
        )


def _in_order_of_start(stops: list[IciStop]) -> tuple[IciStop, ...]:
    return tuple(
        sorted(stops, key=lambda stop: (stop.started or date.min, stop.ended or date.min, repr(stop)))
    )


__all__ = [
    "DATE_ELEMENTS",
    "CancerDiagnosis",
    "EgfrReading",
    "IciStop",
    "ImagingEvent",
    "ImpliedExposure",
    "MriContraindication",
    "MriSafetyFacts",
    "NeurologicalFinding",
    "OtherAnticancerTherapy",
    "PatientTimeline",
    "ProgressionReport",
    "ScoreReading",
    "TherapyEvent",
    "Vocabularies",
    "build_timeline",
]
