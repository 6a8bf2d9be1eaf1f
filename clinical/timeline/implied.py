"""Diagnoses that say immune effector cell therapy was given even when no therapy record is here: a
complication of immune effector cellular therapy (ICD-10-CM T80.82-) or cytokine release syndrome
(D89.83-), coded or named (knowledge/therapies.yaml, `implied_exposure`), in a Condition or as a graded
flowsheet row ("CRS grade": 2; grade 0 or "No" is none). A neurological finding near
such a diagnosis is attributed to that therapy like one after a recorded CAR-T ("therapy not recorded
here"). A resolved diagnosis still says the therapy happened; a refuted one says nothing."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

from clinical.fhir_data import as_dict, as_str, codes_of, codings, concept_texts, first_date
from clinical.knowledge import CodeIndex, CodeSystems, PhraseReader, TextMatcher
from clinical.knowledge.schema import ConditionCertainty, ImpliedExposureEntry, TherapiesFile
from clinical.patient_record import PatientRecord
from clinical.timeline.code_certainty import coded_certainty

_EXCLUDED_VERIFICATION = frozenset(("refuted", "entered-in-error"))
_DATES = ("onsetDateTime", "onsetPeriod.start", "recordedDate")
_OBSERVATION_DATES = ("effectiveDateTime", "effectivePeriod.start", "effectiveInstant", "issued")
_OBSERVATION_EXCLUDED = frozenset(("entered-in-error", "cancelled"))
# A graded row's value: 1-5, "Grade 2", "G3"; "yes" / "present" (0, "No", "None" is no CRS).
_GRADE_VALUE = re.compile(r"^\s*(?:grade|gr\.?|g)?\s*([1-5])\s*$", re.IGNORECASE)
_PRESENT_VALUES = frozenset(("yes", "present", "positive", "true"))


@dataclass(frozen=True)
class ImpliedExposure:
    on: date | None  # the diagnosis's date; None: undated (it implies exposure for any finding)
    always: bool  # attributes a finding even when a recorded therapy explains it too
    detail: str  # "code T80.82XA (complication of immune effector cellular therapy)", for the card
    lookback_days: int

    def covers(self, finding_on: date, horizon_days: int) -> bool:
        """A finding from `lookback_days` before the diagnosis to `horizon_days` after it."""
        if self.on is None:
            return True
        return -self.lookback_days <= (finding_on - self.on).days <= horizon_days


class ImpliedExposureVocabulary:
    def __init__(
        self,
        data: TherapiesFile,
        reader: PhraseReader,
        systems: CodeSystems,
        certainty: ConditionCertainty | None = None,
    ) -> None:
        self.certainty = certainty  # ICD-10-GM Diagnosesicherheit: "A" (excluded) implies nothing
        implied = data.implied_exposure
        self.lookback_days = implied.lookback_days if implied else 0
        self._codes: CodeIndex[ImpliedExposureEntry] = CodeIndex(systems)
        names: list[tuple[str, ImpliedExposureEntry]] = []
        for entry in implied.entries if implied else []:
            for code in entry.codes:
                self._codes.add(code.system, code.code, entry, code.match)
            names.extend((name, entry) for name in entry.names)
        self._names: TextMatcher[ImpliedExposureEntry] = TextMatcher(names)
        self._reader = reader

    def in_concept(self, concept: Any) -> tuple[ImpliedExposureEntry, str] | None:
        """The first implying code of the concept, else an implying name its text affirms (a past one
        too: "history of CRS after CAR-T" still says the therapy was given)."""
        for system, code in codings(concept):
            entry = self._codes.lookup(system, code)
            if entry is not None:
                return entry, f"Diagnosis code {code} ({entry.display})"
        for text in concept_texts(concept):
            text = self._reader.clip(text)
            hits = list(self._names.find(text))
            if not hits:
                continue
            read = self._reader.read(text)
            for hit in hits:
                if self._reader.certainty(read, hit.start, hit.end) in ("affirmed", "history"):
                    return hit.value, f"'{text[hit.start : hit.end]}'"
        return None


def _of_conditions(record: PatientRecord, vocabulary: ImpliedExposureVocabulary) -> Iterator[ImpliedExposure]:
    for condition in record.of_type("Condition"):
        if codes_of(condition.get("verificationStatus")) & _EXCLUDED_VERIFICATION:
            continue
        if coded_certainty(condition.get("code"), vocabulary.certainty) == "excluded":
            continue
        found = vocabulary.in_concept(condition.get("code"))
        if found is None:
            continue
        entry, detail = found
        yield ImpliedExposure(
            first_date(condition, _DATES), entry.when == "always", detail, vocabulary.lookback_days
        )


def _graded_value(observation: dict[str, Any]) -> bool:
    """The row says the syndrome is present: a grade 1-5, a yes-answer, or a coded value."""
    if observation.get("valueBoolean") is True:
        return True
    value: Any = observation.get("valueInteger")
    quantity = as_dict(observation.get("valueQuantity"))
    if value is None and quantity is not None:
        value = quantity.get("value")
    if isinstance(value, int | float) and not isinstance(value, bool):
        return 1 <= value <= 5
    concept = as_dict(observation.get("valueCodeableConcept"))
    text = as_str(observation.get("valueString")) or next(concept_texts(concept), None)
    if text is None:
        return False
    return _GRADE_VALUE.match(text) is not None or text.strip().casefold() in _PRESENT_VALUES


def _of_observations(
    record: PatientRecord, vocabulary: ImpliedExposureVocabulary
) -> Iterator[ImpliedExposure]:
    for observation in record.of_type("Observation"):
        status = observation.get("status")
        if isinstance(status, str) and status in _OBSERVATION_EXCLUDED:
            continue
        value = as_dict(observation.get("valueCodeableConcept"))
        coded_value = vocabulary.in_concept(value) if value is not None and list(codings(value)) else None
        found = coded_value or (
            vocabulary.in_concept(observation.get("code")) if _graded_value(observation) else None
        )
        if found is None:
            continue
        entry, detail = found
        yield ImpliedExposure(
            first_date(observation, _OBSERVATION_DATES),
            entry.when == "always",
            detail,
            vocabulary.lookback_days,
        )


def find_implied_exposures(
    record: PatientRecord, vocabulary: ImpliedExposureVocabulary
) -> list[ImpliedExposure]:
    return [*_of_conditions(record, vocabulary), *_of_observations(record, vocabulary)]


__all__ = ["ImpliedExposure", "ImpliedExposureVocabulary", "find_implied_exposures"]
