"""Neurological findings: Conditions and Observations coded in SNOMED CT or ICD-10-CM or named in text
(knowledge/neurological-findings.yaml), and the two ICANS assessment scores, which have no LOINC code and
are recognised by name: the ICE score (10 = normal) and, for children under 12, the CAPD (0 = no
delirium). Each finding keeps what the rules need: its kind (severity, syndrome class, the ICANS grade it
implies), a coded ICANS grade, whether the text asserted it or only suspected it, and when it resolved."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

from clinical.fhir_data import (
    as_dict,
    as_str,
    codes_of,
    codings,
    concept_texts,
    first_date,
    get_path,
    parse_date,
)
from clinical.knowledge import CodeIndex, CodeSystems, PhraseReader, TextMatcher, normalise_name
from clinical.knowledge.schema import FindingsFile, ScoreBand, Severity, Syndrome
from clinical.patient_record import PatientRecord

ScoreKind = Literal["ice", "capd"]
_CONDITION_EXCLUDED_VERIFICATION = frozenset(("refuted", "entered-in-error"))
_CONDITION_UNCERTAIN_VERIFICATION = frozenset(("provisional", "differential", "unconfirmed"))
_CONDITION_RESOLVED = frozenset(("resolved", "inactive", "remission"))
_OBSERVATION_EXCLUDED_STATUS = frozenset(("entered-in-error", "cancelled"))
CONDITION_DATES = ("onsetDateTime", "onsetPeriod.start", "recordedDate")
OBSERVATION_DATES = ("effectiveDateTime", "effectivePeriod.start", "effectiveInstant", "issued")
_ABATEMENT_DATES = ("abatementDateTime", "abatementPeriod.end", "abatementPeriod.start")
# Any abatement[x] says the condition has abated (FHIR R4: a date, period, age, range or string).
_ABATEMENT_ELEMENTS = ("abatementAge", "abatementRange", "abatementString")
# A score written as text: "5/10", "Score: 5", "ICE 4", "5 of 10" (the first number that is not the
# tool's own maximum after a slash).
_SCORE_FRACTION = re.compile(r"(?<![\w.])(\d{1,2})\s*(?:/|out of|of)\s*\d{1,2}(?![\w.])", re.IGNORECASE)
_SCORE_NUMBER = re.compile(r"(?<![\w.\-])(\d{1,2})(?![\w.])")
# A score right after its name in free text: "ICE 6", "ICE score: 6", "ICE = 6/10", "ICE score of 6".
_SCORE_AFTER_NAME = re.compile(
    r"(?:\s*score)?\s*(?:[:=]|of|is|was)?\s*(\d{1,2})(?:\s*(?:/|out of)\s*\d{1,2})?(?![\w.])",
    re.IGNORECASE,
)
# A grade given as an observation's value: "2", "Grade 2", "G2", "grade 0".
_VALUE_GRADE = re.compile(r"^\s*(?:grade|gr\.?|g)?\s*([0-5])\s*$", re.IGNORECASE)
# A seizure with its duration: "seizure lasting 10 minutes", "seizure (>5 min)", "seizure for 7 min".
_SEIZURE_DURATION = re.compile(
    r"^[^.;\n]{0,24}?(?:lasting|for|of|over|>|more than|longer than|greater than)\s*(?:>\s*)?"
    r"(\d{1,3})\s*(?:-\s*\d{1,3}\s*)?(?:min|mins|minutes)\b",
    re.IGNORECASE,
)
# "ICANS grade 2", "ICANS, grade 3", "ICANS (grade 1)", "ICANS G2": the grade a text states after the
# name; "grade 3 ICANS", "G3 ICANS" before it.
_STATED_GRADE = re.compile(r"\W{0,3}(?:grade|gr\.?|g)\s*([1-5])\b", re.IGNORECASE)
_GRADE_BEFORE = re.compile(r"\b(?:grade|gr\.?|g)\s*([1-5])\W{0,3}$", re.IGNORECASE)
ICANS = "icans"


@dataclass(frozen=True)
class FindingKind:
    id: str
    display: str
    severity: Severity
    syndrome: Syndrome
    icans_grade: int | None
    also_work_up: tuple[Syndrome, ...] = ()  # encephalomyelitis: the spine as well as the brain


@dataclass(frozen=True)
class NeurologicalFinding:
    kind: FindingKind
    coded_grade: int | None  # an ICANS grade the code itself carries (G92.01-G92.05)
    on: date
    resource_type: str
    detail: str  # "code G92.02", "'generalized seizure'", for the card
    uncertain: bool = False
    resolved_on: date | None = None  # resolved / inactive, from this date (date.min: date unknown)
    recorded_on: date | None = None  # when it was written (recordedDate, issued), if later than `on`

    @property
    def documents_icans(self) -> bool:
        return self.kind.id == ICANS and not self.uncertain

    def active_on(self, today: date) -> bool:
        """Known by that day (a replay must not see a diagnosis recorded later) and not resolved."""
        known = self.recorded_on is None or self.recorded_on <= today
        return known and (self.resolved_on is None or self.resolved_on > today)


@dataclass(frozen=True)
class ScoreReading:
    kind: ScoreKind
    score: int
    maximum: int
    on: date
    grade: int | None  # the ASTCT band of the score alone (None: a normal score)
    instant: float = 0.0  # seconds since the epoch when the time of day is charted (orders a day's scores)


@dataclass(frozen=True)
class _Coded:
    kind: FindingKind | None  # None: a listed alternative cause or non-finding
    grade: int | None


class _Score:
    def __init__(self, kind: ScoreKind, maximum: int, bands: list[ScoreBand]) -> None:
        self.kind = kind
        self.maximum = maximum
        self.bands = bands

    def grade(self, score: int) -> int | None:
        for band in self.bands:
            if band.min <= score <= band.max:
                return band.grade
        return None


class FindingVocabulary:
    def __init__(self, data: FindingsFile, reader: PhraseReader, systems: CodeSystems) -> None:
        self._codes: CodeIndex[_Coded] = CodeIndex(systems)
        names: list[tuple[str, FindingKind | None]] = []
        self.kinds: dict[str, FindingKind] = {}
        for entry in data.findings:
            kind = FindingKind(
                entry.id,
                entry.display,
                entry.severity,
                entry.syndrome,
                entry.icans_grade,
                tuple(entry.also_work_up),
            )
            self.kinds[kind.id] = kind
            for code in entry.codes:
                self._codes.add(code.system, code.code, _Coded(kind, code.grade), code.match)
            names.extend((name, kind) for name in entry.names)
        # Non-findings are matched together with the findings so that the longer name wins: "hepatic
        # encephalopathy" is an alternative cause, not "encephalopathy".
        for excluded in data.not_findings:
            for not_code in excluded.codes:
                self._codes.add(not_code.system, not_code.code, _Coded(None, None), not_code.match)
            names.extend((name, None) for name in excluded.names)
        self._names: TextMatcher[FindingKind | None] = TextMatcher(names)
        ice, capd = data.ice_score, data.capd_score
        self.ice = _Score("ice", ice.maximum, ice.grades)
        self.capd = _Score("capd", capd.maximum, capd.grades)
        self._score_names: TextMatcher[_Score] = TextMatcher(
            [(name, self.ice) for name in ice.names] + [(name, self.capd) for name in capd.names]
        )
        self._absent_codes: CodeIndex[bool] = CodeIndex(systems)
        for absent in data.absent_value_codes:
            self._absent_codes.add(absent.system, absent.code, True, absent.match)
        prolonged = data.prolonged_seizure
        self.prolonged_seizure: tuple[int, FindingKind, frozenset[str]] | None = None
        if prolonged is not None:
            self.prolonged_seizure = (
                prolonged.minutes,
                self.kinds[prolonged.finding],
                frozenset(prolonged.applies_to),
            )
        self.ice_unarousable_grade = ice.unarousable_grade
        self.ice_from_age = ice.applies_from_age_years
        self.capd_below_age = capd.applies_below_age_years
        self._reader = reader

    def coded(self, concept: Any) -> tuple[_Coded, str] | None:
        """The first listed code in the concept (a finding, or None for a listed non-finding)."""
        for system, code in codings(concept):
            found = self._codes.lookup(system, code)
            if found is not None:
                return found, code
        return None

    def named(self, text: str) -> Iterator[tuple[FindingKind, str, bool]]:
        """(kind, the words matched, uncertain) for every affirmed or uncertain finding name; for ICANS
        the words include a grade stated right after the name ("ICANS grade 2")."""
        text = self._reader.clip(text)
        hits = [hit for hit in self._names.find(text)]
        if not hits:
            return
        read = self._reader.read(text)
        for hit in hits:
            if hit.value is None:
                continue
            certainty = self._reader.certainty(read, hit.start, hit.end)
            if certainty in ("affirmed", "uncertain"):
                start, end = hit.start, hit.end
                kind = hit.value
                if kind.id == ICANS:
                    after = _STATED_GRADE.match(text, hit.end, hit.end + 16)
                    before = None if after else _GRADE_BEFORE.search(text, max(0, hit.start - 12), hit.start)
                    end = after.end() if after else end
                    start = before.start() if before else start
                kind, end = self._with_duration(kind, text, end)
                yield kind, text[start:end], certainty == "uncertain"

    def _with_duration(self, kind: FindingKind, text: str, end: int) -> tuple[FindingKind, int]:
        """A seizure whose stated duration reaches the prolonged-seizure threshold (ASTCT: > 5 min) is
        a status epilepticus (grade 4)."""
        if self.prolonged_seizure is None:
            return kind, end
        minutes, prolonged, applies_to = self.prolonged_seizure
        if kind.id not in applies_to:
            return kind, end
        duration = _SEIZURE_DURATION.match(text[end : end + 60])
        if duration is None or int(duration.group(1)) < minutes:
            return kind, end
        return prolonged, end + duration.end()

    def score_in_text(self, text: str) -> tuple[_Score, int] | None:
        """The last score a free text states by name and number ("ICE 6/10", "ICE score: 4", "CAPD 12"):
        a nursing note often carries the ICE score in words only. A name without a number next to it
        ("ICE not done") states nothing."""
        text = self._reader.clip(text)
        stated: tuple[_Score, int] | None = None
        for hit in self._score_names.find(text):
            number = _SCORE_AFTER_NAME.match(text, hit.end)
            if number is not None and int(number.group(1)) <= hit.value.maximum:
                stated = (hit.value, int(number.group(1)))
        return stated

    def score_kind(self, concept: Any) -> _Score | None:
        for text in concept_texts(concept):
            found = self._score_names.first(text)
            if found is not None:
                return found
        return None

    def is_present_value(self, observation: dict[str, Any]) -> bool:
        """A yes-answer: true, "Yes", "Present", "Positive"."""
        if observation.get("valueBoolean") is True:
            return True
        text = _value_text(observation)
        return text is not None and normalise_name(text) in self._reader.present_values

    def is_absent_value(self, observation: dict[str, Any]) -> bool:
        if observation.get("valueBoolean") is False:
            return True
        if _numeric_value(observation) == 0:  # "Seizures (count)": 0
            return True
        concept = observation.get("valueCodeableConcept")
        if any(self._absent_codes.lookup(system, code) for system, code in codings(concept)):
            return True
        values = list(concept_texts(concept))
        text = as_str(observation.get("valueString"))
        if text:
            values.append(text)
        return any(normalise_name(value) in self._reader.absent_values for value in values)


def _concept_findings(
    concept: Any, vocabulary: FindingVocabulary
) -> Iterator[tuple[FindingKind, int | None, str, bool]]:
    coded = vocabulary.coded(concept)
    if coded is not None:
        entry, code = coded
        if entry.kind is not None:
            yield entry.kind, entry.grade, f"code {code}", False
        return  # a listed alternative cause: its text is not read as a finding either
    for text in concept_texts(concept):
        for kind, name, uncertain in vocabulary.named(text):
            stated = (_STATED_GRADE.search(name) or _GRADE_BEFORE.search(name)) if kind.id == ICANS else None
            yield kind, int(stated.group(1)) if stated else None, f"'{name}'", uncertain


def _numeric_value(observation: dict[str, Any]) -> int | float | None:
    value: Any = observation.get("valueInteger")
    if value is None:
        quantity = as_dict(observation.get("valueQuantity"))
        value = quantity.get("value") if quantity else None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value


def _value_text(observation: dict[str, Any]) -> str | None:
    text = as_str(observation.get("valueString"))
    if text is None:
        concept = as_dict(observation.get("valueCodeableConcept"))
        text = next(concept_texts(concept), None) if concept else None
    return text


def _score_value(observation: dict[str, Any], maximum: int) -> int | None:
    value: Any = _numeric_value(observation)
    if value is None:
        text = _value_text(observation)
        match = (_SCORE_FRACTION.search(text) or _SCORE_NUMBER.search(text)) if text else None
        value = int(match.group(1)) if match else None
    if value is None or value != int(value) or not 0 <= value <= maximum:
        return None
    return int(value)


def _instant(resource: dict[str, Any], paths: tuple[str, ...]) -> float:
    for path in paths:
        text = as_str(get_path(resource, path))
        if text is not None and len(text) > 10:
            try:
                return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
            except ValueError:
                continue
    return 0.0


def _stated_grade(observation: dict[str, Any]) -> int | None:
    """The grade an ICANS observation gives as its value ("ICANS grade": 2, "Grade 2"); 0 = none."""
    value = _numeric_value(observation)
    if value is not None:
        return int(value) if value == int(value) and 0 <= value <= 5 else None
    text = _value_text(observation)
    match = _VALUE_GRADE.match(text) if text else None
    return int(match.group(1)) if match else None


def _resolved_on(condition: dict[str, Any]) -> date | None:
    abated = first_date(condition, _ABATEMENT_DATES)
    if codes_of(condition.get("clinicalStatus")) & _CONDITION_RESOLVED:
        return abated or date.min
    if abated is not None:
        return abated
    if condition.get("abatementBoolean") is True:
        return date.min
    if any(condition.get(element) not in (None, "", {}) for element in _ABATEMENT_ELEMENTS):
        return date.min  # abated at an age or in words ("resolved"): no longer active
    return None


def _condition_findings(
    condition: dict[str, Any], vocabulary: FindingVocabulary
) -> Iterator[NeurologicalFinding]:
    verification = codes_of(condition.get("verificationStatus"))
    if verification & _CONDITION_EXCLUDED_VERIFICATION:
        return
    on = first_date(condition, CONDITION_DATES)
    if on is None:
        return
    provisional = bool(verification & _CONDITION_UNCERTAIN_VERIFICATION)
    resolved = _resolved_on(condition)
    recorded = parse_date(condition.get("recordedDate"))
    seen: set[str] = set()
    for kind, grade, detail, uncertain in _concept_findings(condition.get("code"), vocabulary):
        if kind.id not in seen:
            seen.add(kind.id)
            yield NeurologicalFinding(
                kind, grade, on, "Condition", detail, uncertain or provisional, resolved, recorded
            )


def _observation_facts(
    observation: dict[str, Any], vocabulary: FindingVocabulary
) -> tuple[list[NeurologicalFinding], ScoreReading | None]:
    status = observation.get("status")
    if isinstance(status, str) and status in _OBSERVATION_EXCLUDED_STATUS:
        return [], None
    on = first_date(observation, OBSERVATION_DATES)
    if on is None:
        return [], None
    code = observation.get("code")
    findings: list[NeurologicalFinding] = []
    seen: set[str] = set()

    def add(found: Iterable[tuple[FindingKind, int | None, str, bool]], stated: int | None = None) -> None:
        for kind, grade, detail, uncertain in found:
            if kind.id not in seen:
                seen.add(kind.id)
                grade = stated if kind.id == ICANS and stated else grade
                findings.append(NeurologicalFinding(kind, grade, on, "Observation", detail, uncertain))

    score = vocabulary.score_kind(code)
    if score is not None:
        # A score, never a finding: the ICE tool's full name contains "encephalopathy". Its value's
        # words still count ("0 - unarousable", "unable to perform CAPD: unarousable": grade 4).
        add(_value_findings(observation, vocabulary))
        value = _score_value(observation, score.maximum)
        if value is None:
            return findings, None
        instant = _instant(observation, OBSERVATION_DATES)
        return findings, ScoreReading(score.kind, value, score.maximum, on, score.grade(value), instant)
    if vocabulary.is_absent_value(observation):
        return [], None
    has_value = any(key.startswith("value") for key in observation)
    if not has_value and observation.get("dataAbsentReason") is not None:
        return [], None  # asked about, no answer ("not asked", "unknown"): not a finding
    from_code = list(_concept_findings(code, vocabulary))
    stated = None
    if has_value and any(kind.id == ICANS for kind, _, _, _ in from_code):
        # An ICANS assessment row: its value decides. "ICANS grade": 2 is grade 2, 0 no ICANS;
        # "ICE 10/10, no seizures" names no finding; "confusion" is a finding, not ICANS itself.
        stated = _stated_grade(observation)
        if stated == 0:
            return [], None
        if stated is None and not vocabulary.is_present_value(observation):
            from_code = []
    add(from_code, stated)
    add(_value_findings(observation, vocabulary))
    value_text = as_str(observation.get("valueString"))
    in_text = vocabulary.score_in_text(value_text) if value_text else None
    if in_text is None:
        return findings, None
    score, value = in_text
    instant = _instant(observation, OBSERVATION_DATES)
    return findings, ScoreReading(score.kind, value, score.maximum, on, score.grade(value), instant)


def _value_findings(
    observation: dict[str, Any], vocabulary: FindingVocabulary
) -> Iterator[tuple[FindingKind, int | None, str, bool]]:
    yield from _concept_findings(observation.get("valueCodeableConcept"), vocabulary)
    value_text = as_str(observation.get("valueString"))
    if value_text:
        yield from _concept_findings({"text": value_text}, vocabulary)


def find_neurological_facts(
    record: PatientRecord, vocabulary: FindingVocabulary
) -> tuple[list[NeurologicalFinding], list[ScoreReading]]:
    """Findings from Conditions and Observations, and ICE / CAPD scores, in one pass."""
    findings: list[NeurologicalFinding] = []
    scores: list[ScoreReading] = []
    for condition in record.of_type("Condition"):
        findings.extend(_condition_findings(condition, vocabulary))
    for observation in record.of_type("Observation"):
        found, score = _observation_facts(observation, vocabulary)
        findings.extend(found)
        if score is not None:
            scores.append(score)
    return findings, scores


def birth_date(record: PatientRecord) -> date | None:
    for patient in record.of_type("Patient"):
        found = parse_date(patient.get("birthDate"))
        if found is not None:
            return found
    return None


def age_in_years(born: date, today: date) -> int:
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


__all__ = [
    "ICANS",
    "FindingKind",
    "FindingVocabulary",
    "NeurologicalFinding",
    "ScoreReading",
    "age_in_years",
    "birth_date",
    "find_neurological_facts",
]
