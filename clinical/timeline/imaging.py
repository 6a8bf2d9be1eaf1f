"""Imaging history: brain MRIs done or ordered (ImagingStudy, DiagnosticReport, Procedure,
ServiceRequest and draft orders), cross-sectional restaging (CT, MRI, PET: what confirms iRECIST
progression; a radiograph or ultrasound does not), and response assessments in reports and observations:
suspected progression (iUPD) and confirmed progression (iCPD), read with the same phrase rules as
neurological findings ("no evidence of pseudoprogression" is not a suspicion)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

from clinical.fhir_data import (
    as_list,
    as_str,
    codeable_reference_concept,
    codes_of,
    codings,
    concept_texts,
    first_date,
    status_of,
)
from clinical.knowledge import CodeIndex, CodeSystems, PhraseReader, TextMatcher, remembered
from clinical.knowledge.schema import BrainImagingFile, ProgressionTerms, TextMatchingFile
from clinical.labels import shorten
from clinical.patient_record import PatientRecord

ImagingKind = Literal["brain-mri", "cross-sectional", "other-imaging"]
ImagingState = Literal["done", "ordered"]

_STATE_BY_STATUS: dict[str, dict[str, ImagingState]] = {
    "ImagingStudy": {"available": "done", "registered": "done", "unknown": "done"},
    "DiagnosticReport": {
        "final": "done",
        "amended": "done",
        "corrected": "done",
        "appended": "done",
        "preliminary": "done",
        "partial": "done",
        "registered": "ordered",
        "unknown": "done",
    },
    "Procedure": {
        "completed": "done",
        "in-progress": "ordered",
        "preparation": "ordered",
        "unknown": "done",
    },
    "ServiceRequest": {
        "active": "ordered",
        "on-hold": "ordered",
        "draft": "ordered",
        "completed": "done",
        "unknown": "ordered",
    },
}

DATE_PATHS: dict[str, tuple[str, ...]] = {
    "ImagingStudy": ("started",),
    "DiagnosticReport": ("effectiveDateTime", "effectivePeriod.start", "issued"),
    "Procedure": ("performedDateTime", "performedPeriod.start", "occurrenceDateTime"),
    "ServiceRequest": ("occurrenceDateTime", "occurrencePeriod.start", "authoredOn"),
}
_RECORDED_PATHS = ("authoredOn", "issued")
# DiagnosticReport categories meaning radiology (HL7 v2 table 0074 "RAD", LOINC "Radiology").
_RADIOLOGY_CATEGORIES = frozenset(("RAD", "LP29684-5", "18748-4"))
# SNOMED CT 363679005 |Imaging (procedure)|: the category of imaging orders (ours included).
_IMAGING_CATEGORY = "363679005"


# suspected: iUPD; confirmed: iCPD; not-progression: a restaging response without progression (iSD,
# iPR, iCR) that closes an open confirmation.
ProgressionKind = Literal["suspected", "confirmed", "not-progression"]
_KIND_RANK: dict[str, int] = {"confirmed": 2, "suspected": 1, "not-progression": 0}


@dataclass(frozen=True)
class ImagingEvent:
    kind: ImagingKind
    state: ImagingState
    on: date | None
    resource_type: str
    label: str  # the study's own name ("MR Brain WO and W contrast IV"), for card text
    draft_order: bool = False
    recorded_on: date | None = None  # when the order or report was written (authoredOn, issued)
    brain_only: bool = False  # a study of the brain alone: restages brain disease, not body disease

    def known_on(self, day: date) -> bool:
        """Written by that day: a day-by-day replay must not see an order placed later."""
        return self.recorded_on is None or self.recorded_on <= day


@dataclass(frozen=True)
class ProgressionReport:
    kind: ProgressionKind
    on: date
    resource_type: str
    uncertain: bool = False
    brain_only: bool = False  # stated on a brain-only study: only brain imaging confirms it


class ImagingVocabulary:
    """knowledge/brain-imaging.yaml, indexed."""

    def __init__(
        self,
        data: BrainImagingFile,
        progression: ProgressionTerms,
        reader: PhraseReader,
        systems: CodeSystems,
        text_rules: TextMatchingFile | None = None,
    ) -> None:
        self._brain_mri: CodeIndex[bool] = CodeIndex(systems)
        for entry in data.brain_mri_codes:
            self._brain_mri.add(entry.system, entry.code, True)
        for entry in data.not_brain_mri_codes:
            self._brain_mri.add(entry.system, entry.code, False)
        self._mri_modality: CodeIndex[bool] = CodeIndex(systems)
        for entry in data.mri_modality_codes:
            self._mri_modality.add(entry.system, entry.code, True)
        self._restaging: CodeIndex[bool] = CodeIndex(systems)
        for entry in data.restaging_modality_codes:
            self._restaging.add(entry.system, entry.code, True)
        self._brain_site: CodeIndex[bool] = CodeIndex(systems)
        for entry in data.brain_body_site_codes:
            self._brain_site.add(entry.system, entry.code, True)
        self._mri_terms = TextMatcher((term, term) for term in data.text.mri_terms)
        self._brain_terms = TextMatcher((term, term) for term in data.text.brain_terms)
        self._body_terms = TextMatcher((term, term) for term in data.text.body_terms)
        self._cross_sectional = TextMatcher(
            [(term, True) for term in data.text.cross_sectional_terms]
            + [(term, False) for term in data.text.not_cross_sectional_terms]
        )
        self._progression: TextMatcher[ProgressionKind] = TextMatcher(
            [(name, "suspected") for name in progression.suspected]
            + [(name, "confirmed") for name in progression.confirmed]
            + [(name, "not-progression") for name in progression.not_progression]
        )
        self._reader = reader
        # "iUPD criteria not met": denials specific to response statements, read after the term with
        # the shared phrase rules.
        self._progression_denials = (
            PhraseReader(
                text_rules.model_copy(
                    update={
                        "negation_before": [],
                        "uncertainty_before": [],
                        "history_before": [],
                        "qualifier_after": list(progression.negated_after),
                        "uncertainty_after": [],
                    }
                )
            )
            if text_rules is not None and progression.negated_after
            else None
        )
        self.suggested_order: dict[str, dict[str, str]] = {
            system: {"system": systems.uri(system), "code": value.code, "display": value.display}
            for system, value in data.suggested_order.items()
        }

    def code_verdict(self, concept: Any) -> bool | None:
        """True/False when a coding says brain MRI / a look-alike that is not one; None if silent."""
        verdict = None
        for system, code in codings(concept):
            found = self._brain_mri.lookup(system, code)
            if found is True:
                return True
            if found is False:
                verdict = False
        return verdict

    def text_says_brain_mri(self, text: str) -> bool:
        return self._mri_terms.first(text) is not None and self._brain_terms.first(text) is not None

    def text_names_brain(self, text: str) -> bool:
        return self._brain_terms.first(text) is not None

    def brain_only(self, kind: ImagingKind, texts: Sequence[str]) -> bool:
        """A study of the brain alone (a brain MRI, "CT head"), not one that also covers the body."""
        names_brain = kind == "brain-mri" or any(self.text_names_brain(text) for text in texts)
        return names_brain and not any(self._body_terms.first(text) is not None for text in texts)

    def concepts_say_brain_mri(self, concepts: list[Any], extra_texts: Sequence[str] = ()) -> bool:
        verdicts = [self.code_verdict(concept) for concept in concepts]
        if True in verdicts:
            return True
        if False in verdicts:
            return False
        texts = [text for concept in concepts for text in concept_texts(concept)] + list(extra_texts)
        return any(self.text_says_brain_mri(text) for text in texts)

    def is_mri_modality(self, value: Any) -> bool:
        return any(self._mri_modality.lookup(system, code) for system, code in codings(value))

    def is_restaging_modality(self, value: Any) -> bool:
        return any(self._restaging.lookup(system, code) for system, code in codings(value))

    def is_brain_site(self, value: Any) -> bool:
        return any(self._brain_site.lookup(system, code) for system, code in codings(value))

    def text_is_cross_sectional(self, text: str) -> bool | None:
        """True for a CT / MRI / PET study name, False for a radiograph or ultrasound, None if silent."""
        verdicts = {hit.value for hit in self._cross_sectional.find(text)}
        if False in verdicts and True not in verdicts:
            return False
        return True if True in verdicts else None

    def progression_in(self, text: str) -> tuple[ProgressionKind, bool] | None:
        """The strongest affirmed or uncertain response statement in the text: (kind, uncertain)."""
        return remembered(self, text, self._progression_in)

    def _progression_in(self, text: str) -> tuple[ProgressionKind, bool] | None:
        text = self._reader.clip(text)
        hits = list(self._progression.find(text))
        if not hits:
            return None
        read = self._reader.read(text)
        denials = self._progression_denials
        read_denials = denials.read(text) if denials is not None else None
        best: tuple[ProgressionKind, bool] | None = None
        for hit in hits:
            certainty = self._reader.certainty(read, hit.start, hit.end)
            if certainty in ("negated", "history"):
                continue
            if (
                denials is not None
                and read_denials is not None
                and denials.certainty(read_denials, hit.start, hit.end) == "negated"
            ):
                continue
            found = (hit.value, certainty == "uncertain")
            if best is None or _KIND_RANK[found[0]] > _KIND_RANK[best[0]]:
                best = found
        return best


def _series(study: dict[str, Any]) -> list[dict[str, Any]]:
    return [item for item in as_list(study.get("series")) if isinstance(item, dict)]


def _modalities(study: dict[str, Any]) -> list[Any]:
    return as_list(study.get("modality")) + [item.get("modality") for item in _series(study)]


def _imaging_study_is_brain_mri(study: dict[str, Any], vocabulary: ImagingVocabulary) -> bool:
    procedures = [codeable_reference_concept(item) for item in as_list(study.get("procedureCode"))]
    procedures += [codeable_reference_concept(item) for item in as_list(study.get("procedure"))]
    descriptions = [text for text in [as_str(study.get("description"))] if text]
    series = _series(study)
    descriptions += [text for item in series if (text := as_str(item.get("description")))]
    if vocabulary.concepts_say_brain_mri(procedures, descriptions):
        return True
    if not any(vocabulary.is_mri_modality(modality) for modality in _modalities(study)):
        return False
    sites = [codeable_reference_concept(item.get("bodySite")) for item in series]
    if any(vocabulary.is_brain_site(site) for site in sites):
        return True
    return any(vocabulary.text_names_brain(text) for text in descriptions)


def _is_radiology_report(report: dict[str, Any]) -> bool:
    return any(codes_of(category) & _RADIOLOGY_CATEGORIES for category in as_list(report.get("category")))


def _is_imaging_order(request: dict[str, Any]) -> bool:
    return any(_IMAGING_CATEGORY in codes_of(category) for category in as_list(request.get("category")))


def _study_texts(resource: dict[str, Any], resource_type: str) -> list[str]:
    if resource_type == "ImagingStudy":
        texts = [text for text in [as_str(resource.get("description"))] if text]
        texts += [text for item in _series(resource) if (text := as_str(item.get("description")))]
        for item in as_list(resource.get("procedureCode")) + as_list(resource.get("procedure")):
            texts.extend(concept_texts(codeable_reference_concept(item)))
        return texts
    return list(concept_texts(codeable_reference_concept(resource.get("code"))))


def _imaging_kind(
    resource: dict[str, Any], resource_type: str, texts: list[str], vocabulary: ImagingVocabulary
) -> ImagingKind | None:
    if resource_type == "ImagingStudy":
        if _imaging_study_is_brain_mri(resource, vocabulary):
            return "brain-mri"
        modalities = [modality for modality in _modalities(resource) if modality]
        if any(vocabulary.is_restaging_modality(m) for m in modalities):
            return "cross-sectional"
        if modalities:
            return None  # plain radiographs, ultrasound: not restaging
        return _kind_from_texts(texts, vocabulary)
    if vocabulary.concepts_say_brain_mri([codeable_reference_concept(resource.get("code"))]):
        return "brain-mri"
    is_imaging = (resource_type == "DiagnosticReport" and _is_radiology_report(resource)) or (
        resource_type == "ServiceRequest" and _is_imaging_order(resource)
    )
    if resource_type == "Procedure" or is_imaging:
        kind = _kind_from_texts(texts, vocabulary)
        return kind if kind is not None or not is_imaging else "other-imaging"
    return None


def _kind_from_texts(texts: list[str], vocabulary: ImagingVocabulary) -> ImagingKind | None:
    verdicts = [vocabulary.text_is_cross_sectional(text) for text in texts]
    if True in verdicts:
        return "cross-sectional"
    if False in verdicts:
        return "other-imaging"
    return None


def _events_of(
    resource: dict[str, Any], resource_type: str, vocabulary: ImagingVocabulary, *, draft: bool, today: date
) -> Iterator[ImagingEvent]:
    state = "ordered" if draft else _STATE_BY_STATUS[resource_type].get(status_of(resource))
    if state is None:
        return
    texts = _study_texts(resource, resource_type)
    kind = _imaging_kind(resource, resource_type, texts, vocabulary)
    if kind is None:
        return
    on = first_date(resource, DATE_PATHS[resource_type]) or (today if draft else None)
    label = texts[0] if texts else ("brain MRI" if kind == "brain-mri" else "imaging study")
    recorded = today if draft else first_date(resource, _RECORDED_PATHS)
    yield ImagingEvent(
        kind,
        state,
        on,
        resource_type,
        shorten(label, 120),
        draft_order=draft,
        recorded_on=recorded,
        brain_only=vocabulary.brain_only(kind, texts),
    )


def find_imaging(
    record: PatientRecord, draft_orders: list[dict[str, Any]], vocabulary: ImagingVocabulary, today: date
) -> list[ImagingEvent]:
    events: list[ImagingEvent] = []
    for resource_type in _STATE_BY_STATUS:
        for resource in record.of_type(resource_type):
            events.extend(_events_of(resource, resource_type, vocabulary, draft=False, today=today))
    for draft in draft_orders:
        if draft.get("resourceType") == "ServiceRequest":
            events.extend(_events_of(draft, "ServiceRequest", vocabulary, draft=True, today=today))
    return events


def _progression_texts(resource: dict[str, Any]) -> Iterator[str]:
    yield from concept_texts(resource.get("valueCodeableConcept"))
    for field_name in ("valueString", "conclusion"):
        text = as_str(resource.get(field_name))
        if text:
            yield text
    for concept in as_list(resource.get("conclusionCode")):
        yield from concept_texts(codeable_reference_concept(concept))


def _on_brain_only_study(resource: dict[str, Any], vocabulary: ImagingVocabulary) -> bool:
    resource_type = resource.get("resourceType")
    if resource_type not in ("DiagnosticReport", "ImagingStudy"):
        return False
    texts = _study_texts(resource, resource_type)
    kind = _imaging_kind(resource, resource_type, texts, vocabulary)
    return kind is not None and vocabulary.brain_only(kind, texts)


_PROGRESSION_DATES: dict[str, tuple[str, ...]] = {
    "Observation": ("effectiveDateTime", "effectivePeriod.start", "issued"),
    "DiagnosticReport": ("effectiveDateTime", "effectivePeriod.start", "issued"),
    "ImagingStudy": ("started",),
}


def find_progression_reports(record: PatientRecord, vocabulary: ImagingVocabulary) -> list[ProgressionReport]:
    """Response statements in report conclusions, observation values and imaging study descriptions
    ("CT CAP - iUPD per iRECIST"): the strongest per resource (iCPD over iUPD over iSD/iPR/iCR)."""
    found: list[ProgressionReport] = []
    for resource_type, date_paths in _PROGRESSION_DATES.items():
        for resource in record.of_type(resource_type):
            if status_of(resource) in ("entered-in-error", "cancelled", "registered"):
                continue
            on = first_date(resource, date_paths)
            if on is None:
                continue
            texts = (
                _study_texts(resource, resource_type)
                if resource_type == "ImagingStudy"
                else list(_progression_texts(resource))
            )
            statements = [vocabulary.progression_in(text) for text in texts]
            readings = [statement for statement in statements if statement is not None]
            if not readings:
                continue
            kind, uncertain = max(readings, key=lambda reading: _KIND_RANK[reading[0]])
            brain_only = _on_brain_only_study(resource, vocabulary)
            found.append(ProgressionReport(kind, on, resource_type, uncertain, brain_only))
    return found
