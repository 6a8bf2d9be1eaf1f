"""The cancer the patient is treated for, as far as it decides the day +28 response assessment after CAR-T
(knowledge/patient-context.yaml, `diagnoses`): lymphoma (PET-CT), B-ALL (marrow and MRD), myeloma (IMWG
laboratory and marrow criteria). Read from Conditions, coded (ICD-10-CM) or named in text."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from clinical.fhir_data import codings, concept_texts, first_date
from clinical.knowledge import CodeIndex, CodeSystems, PhraseReader, TextMatcher
from clinical.knowledge.schema import ConditionCertainty, ResponseDiagnosis
from clinical.patient_record import PatientRecord
from clinical.timeline.code_certainty import coded_certainty

_EXCLUDED_VERIFICATION = frozenset(("refuted", "entered-in-error"))
_DATES = ("onsetDateTime", "onsetPeriod.start", "recordedDate")


@dataclass(frozen=True)
class DiagnosisKind:
    id: str
    display: str
    response_by_imaging: bool


@dataclass(frozen=True)
class CancerDiagnosis:
    kind: DiagnosisKind
    on: date | None  # recorded / onset; None: undated (known all along)
    # False when the record says resolved, inactive or in remission: an old lymphoma in remission does
    # not decide the response imaging of a CAR-T given now for an active B-ALL.
    active: bool = True

    def known_on(self, today: date) -> bool:
        return self.on is None or self.on <= today


class DiagnosisVocabulary:
    def __init__(
        self,
        entries: list[ResponseDiagnosis],
        reader: PhraseReader,
        systems: CodeSystems,
        certainty: ConditionCertainty | None = None,
    ) -> None:
        self.certainty = certainty  # ICD-10-GM Diagnosesicherheit: an excluded diagnosis names no disease
        self._reader = reader
        self._codes: CodeIndex[DiagnosisKind] = CodeIndex(systems)
        names: list[tuple[str, DiagnosisKind]] = []
        for entry in entries:
            kind = DiagnosisKind(entry.id, entry.display, entry.response_by_imaging)
            for code in entry.codes:
                self._codes.add(code.system, code.code, kind, code.match)
            names.extend((name, kind) for name in entry.names)
        self._names: TextMatcher[DiagnosisKind] = TextMatcher(names)

    def kinds_in(self, concept: Any) -> set[DiagnosisKind]:
        found = {kind for system, code in codings(concept) if (kind := self._codes.lookup(system, code))}
        if found:
            return found
        for text in concept_texts(concept):
            clipped = self._reader.clip(text)
            hits = list(self._names.find(clipped))
            if not hits:
                continue
            read = self._reader.read(clipped)
            found.update(
                hit.value
                for hit in hits
                if self._reader.certainty(read, hit.start, hit.end) in ("affirmed", "history")
            )
        return found


_NOT_ACTIVE = frozenset(("resolved", "inactive", "remission"))


def _status(resource: dict[str, Any], element: str) -> str:
    return next((code.lower() for _, code in codings(resource.get(element))), "")


def find_diagnoses(record: PatientRecord, vocabulary: DiagnosisVocabulary) -> list[CancerDiagnosis]:
    """Every recorded cancer diagnosis of a listed kind; resolved or in remission still names the disease
    the CAR-T treats (the patient goes to CAR-T for relapsed or refractory disease)."""
    found: list[CancerDiagnosis] = []
    for condition in record.of_type("Condition"):
        if _status(condition, "verificationStatus") in _EXCLUDED_VERIFICATION:
            continue
        if coded_certainty(condition.get("code"), vocabulary.certainty) == "excluded":
            continue
        on = first_date(condition, _DATES)
        active = _status(condition, "clinicalStatus") not in _NOT_ACTIVE
        found.extend(CancerDiagnosis(kind, on, active) for kind in vocabulary.kinds_in(condition.get("code")))
    return found


__all__ = ["CancerDiagnosis", "DiagnosisKind", "DiagnosisVocabulary", "find_diagnoses"]
