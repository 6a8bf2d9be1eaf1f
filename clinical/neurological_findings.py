"""Neurological findings: Conditions and Observations coded in SNOMED CT or ICD-10-CM or named in
text (knowledge/neurological-findings.yaml), and the ICE score, which has no LOINC code and is
recognised by its name. ICE 7-9 is ICANS grade 1, 3-6 grade 2, 0-2 grade 3 (ASTCT, Lee 2019)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Literal

from clinical.fhir_data import as_dict, as_str, codes_of, codings, concept_texts, first_date, reference_label
from clinical.knowledge import CodeIndex, CodeSystems, NegationCues, TextMatcher, load_yaml, normalise_name
from clinical.patient_record import PatientRecord

Severity = Literal["warning", "critical"]
_CONDITION_EXCLUDED_VERIFICATION = frozenset(("refuted", "entered-in-error"))
_OBSERVATION_EXCLUDED_STATUS = frozenset(("entered-in-error", "cancelled"))
_CONDITION_DATES = ("onsetDateTime", "onsetPeriod.start", "recordedDate")
_OBSERVATION_DATES = ("effectiveDateTime", "effectivePeriod.start", "effectiveInstant", "issued")
_LEADING_NUMBER = re.compile(r"^\s*(\d{1,2})\b")


@dataclass(frozen=True)
class FindingKind:
    id: str
    display: str
    severity: Severity


@dataclass(frozen=True)
class CodedFinding:
    kind: FindingKind
    grade: int | None


@dataclass(frozen=True)
class NeurologicalFinding:
    kind: FindingKind
    grade: int | None  # ICANS grade, from the ICE score or a graded code
    on: date
    source: str
    detail: str  # "ICE score 5/10" or the matched code/name, for the card

    @property
    def severity(self) -> Severity:
        return self.kind.severity


@dataclass(frozen=True)
class IceGrade:
    minimum: int
    maximum: int
    grade: int


class FindingVocabulary:
    def __init__(self, path: Path, negation: NegationCues, systems: CodeSystems) -> None:
        data = load_yaml(path)
        self._codes: CodeIndex[CodedFinding] = CodeIndex(systems)
        names: list[tuple[str, FindingKind]] = []
        self.kinds: dict[str, FindingKind] = {}
        for entry in data["findings"]:
            kind = FindingKind(entry["id"], entry["display"], entry["severity"])
            self.kinds[kind.id] = kind
            for code in entry.get("codes") or []:
                self._codes.add(code["system"], str(code["code"]), CodedFinding(kind, code.get("grade")))
            names.extend((name, kind) for name in entry["names"])
        self._names = TextMatcher(names)
        ice = data["ice_score"]
        self._ice_names = TextMatcher((name, name) for name in ice["names"])
        self._ice_maximum = int(ice["maximum"])
        self._ice_grades = [IceGrade(g["min"], g["max"], g["grade"]) for g in ice["grades"]]
        self._negation = negation

    def ice_grade(self, score: int) -> int | None:
        for band in self._ice_grades:
            if band.minimum <= score <= band.maximum:
                return band.grade
        return None

    def is_ice_score(self, concept: Any) -> bool:
        return any(self._ice_names.first(text) for text in concept_texts(concept))

    @property
    def ice_maximum(self) -> int:
        return self._ice_maximum

    def coded(self, concept: Any) -> CodedFinding | None:
        for system, code in codings(concept):
            found = self._codes.lookup(system, code)
            if found is not None:
                return found
        return None

    def named(self, text: str) -> Iterator[tuple[FindingKind, str]]:
        for hit in self._names.find(text):
            if not self._negation.negates(text, hit.start, hit.end):
                yield hit.value, text[hit.start : hit.end]

    def is_absent_value(self, observation: dict[str, Any]) -> bool:
        if observation.get("valueBoolean") is False:
            return True
        values = list(concept_texts(observation.get("valueCodeableConcept")))
        text = as_str(observation.get("valueString"))
        if text:
            values.append(text)
        return any(normalise_name(value) in self._negation.absent_values for value in values)


def _concept_findings(
    concept: Any, vocabulary: FindingVocabulary
) -> Iterator[tuple[FindingKind, int | None, str]]:
    coded = vocabulary.coded(concept)
    if coded is not None:
        code = next((code for _, code in codings(concept)), "")
        yield coded.kind, coded.grade, f"code {code}"
        return
    for text in concept_texts(concept):
        for kind, name in vocabulary.named(text):
            yield kind, None, f"'{name}'"


def _ice_score_value(observation: dict[str, Any], maximum: int) -> int | None:
    value: Any = observation.get("valueInteger")
    if value is None:
        quantity = as_dict(observation.get("valueQuantity"))
        value = quantity.get("value") if quantity else None
    if value is None:
        text = as_str(observation.get("valueString"))
        match = _LEADING_NUMBER.match(text) if text else None
        value = int(match.group(1)) if match else None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if value != int(value) or not 0 <= value <= maximum:
        return None
    return int(value)


def _condition_findings(
    condition: dict[str, Any], vocabulary: FindingVocabulary
) -> Iterator[NeurologicalFinding]:
    verification = codes_of(condition.get("verificationStatus"))
    if verification & _CONDITION_EXCLUDED_VERIFICATION:
        return
    on = first_date(condition, _CONDITION_DATES)
    if on is None:
        return
    for kind, grade, detail in _concept_findings(condition.get("code"), vocabulary):
        yield NeurologicalFinding(kind, grade, on, reference_label(condition), detail)


def _observation_findings(
    observation: dict[str, Any], vocabulary: FindingVocabulary
) -> Iterator[NeurologicalFinding]:
    status = observation.get("status")
    if isinstance(status, str) and status in _OBSERVATION_EXCLUDED_STATUS:
        return
    on = first_date(observation, _OBSERVATION_DATES)
    if on is None:
        return
    code = observation.get("code")
    if vocabulary.is_ice_score(code):
        score = _ice_score_value(observation, vocabulary.ice_maximum)
        grade = vocabulary.ice_grade(score) if score is not None else None
        if grade is not None:
            kind = vocabulary.kinds["icans"]
            yield NeurologicalFinding(
                kind, grade, on, reference_label(observation), f"ICE score {score}/{vocabulary.ice_maximum}"
            )
        # An ICE entry is never read as an encephalopathy finding through its name.
        return
    if vocabulary.is_absent_value(observation):
        return
    seen: set[str] = set()
    concepts = [code, observation.get("valueCodeableConcept")]
    value_text = as_str(observation.get("valueString"))
    if value_text:
        concepts.append({"text": value_text})
    for concept in concepts:
        for kind, grade, detail in _concept_findings(concept, vocabulary):
            if kind.id not in seen:
                seen.add(kind.id)
                yield NeurologicalFinding(kind, grade, on, reference_label(observation), detail)


def find_neurological_findings(
    record: PatientRecord, vocabulary: FindingVocabulary
) -> list[NeurologicalFinding]:
    findings: list[NeurologicalFinding] = []
    for condition in record.of_type("Condition"):
        findings.extend(_condition_findings(condition, vocabulary))
    for observation in record.of_type("Observation"):
        findings.extend(_observation_findings(observation, vocabulary))
    return findings
