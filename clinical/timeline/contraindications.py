"""What makes an MRI order wrong for this patient (knowledge/patient-context.yaml, `mri_safety`): an
implanted pacemaker, defibrillator, cochlear implant or neurostimulator not documented as MR-conditional
(Device, Condition, Flag), any implant recorded as MR-unsafe, an allergy to gadolinium contrast, and the
eGFR readings the rules compare with the contrast threshold. Dated facts only: the rules decide, per day,
which were known then."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

from clinical.fhir_data import as_dict, as_list, codings, concept_texts, first_date, parse_date
from clinical.knowledge import CodeIndex, CodeSystems, PhraseReader, QualifierMatcher, TextMatcher
from clinical.knowledge.schema import ConditionCertainty, MriSafety
from clinical.patient_record import PatientRecord
from clinical.timeline.code_certainty import coded_certainty

# implant: no MRI without a radiology decision; contrast: gadolinium only (a non-contrast MRI remains).
Concern = Literal["implant", "contrast"]
_INACTIVE_DEVICE = frozenset(("inactive", "entered-in-error"))
_INACTIVE_FLAG = frozenset(("inactive", "entered-in-error"))
_RESOLVED_CONDITION = frozenset(("resolved", "inactive", "remission"))
_EXCLUDED_VERIFICATION = frozenset(("refuted", "entered-in-error"))
_NUMBER = re.compile(r"(?<![\w.])(\d{1,3}(?:\.\d+)?)(?![\w.])")
_CONDITIONAL = "conditional"
_NEAR_CHARS = 40  # how far from a device's name "removed", "evaluation" ... still speak of it
_UNSAFE = "unsafe"
DATE_PATHS: dict[str, tuple[str, ...]] = {
    "Flag": ("period.start",),
    "AllergyIntolerance": ("recordedDate", "onsetDateTime", "onsetPeriod.start"),
    "Condition": ("onsetDateTime", "onsetPeriod.start", "recordedDate"),
    "Observation": ("effectiveDateTime", "effectivePeriod.start", "effectiveInstant", "issued"),
}


@dataclass(frozen=True)
class ImplantDevice:
    id: str
    display: str


@dataclass(frozen=True)
class MriContraindication:
    concern: Concern
    what: str  # "cardiac pacemaker", "gadolinium contrast allergy", "MR unsafe implant"
    resource_type: str
    on: date | None  # when it was recorded, if the record says (None: known all along)

    def known_on(self, today: date) -> bool:
        return self.on is None or self.on <= today


@dataclass(frozen=True)
class EgfrReading:
    value: float
    on: date


@dataclass(frozen=True)
class MriSafetyFacts:
    contraindications: tuple[MriContraindication, ...]
    conditional_devices: tuple[str, ...]  # displays of device kinds documented MR-conditional / safe
    egfr: tuple[EgfrReading, ...]
    # The reviewed contrast threshold (patient-context.yaml `egfr`): the latest reading within
    # `egfr_recent_days` below `egfr_below` rules out gadolinium.
    egfr_below: float = 30.0
    egfr_recent_days: int = 90


class MriSafetyVocabulary:
    def __init__(
        self,
        data: MriSafety,
        reader: PhraseReader,
        systems: CodeSystems,
        certainty: ConditionCertainty | None = None,
    ) -> None:
        self.data = data
        self.certainty = certainty  # ICD-10-GM Diagnosesicherheit: an excluded implant diagnosis is none
        self._reader = reader
        self._device_codes: CodeIndex[ImplantDevice] = CodeIndex(systems)
        names: list[tuple[str, ImplantDevice]] = []
        for entry in data.devices:
            device = ImplantDevice(entry.id, entry.display)
            for code in entry.codes:
                self._device_codes.add(code.system, code.code, device, code.match)
            names.extend((name, device) for name in entry.names)
        self._device_names: TextMatcher[ImplantDevice] = TextMatcher(names)
        self._not_present: TextMatcher[bool] = QualifierMatcher(
            (word, True) for word in data.not_present_words
        )
        self._safety_codes: CodeIndex[str] = CodeIndex(systems)
        for code in data.conditional_codes:
            self._safety_codes.add(code.system, code.code, _CONDITIONAL, code.match)
        for code in data.unsafe_codes:
            self._safety_codes.add(code.system, code.code, _UNSAFE, code.match)
        self._safety_names: TextMatcher[str] = TextMatcher(
            [(name, _CONDITIONAL) for name in data.conditional_names]
            + [(name, _UNSAFE) for name in data.unsafe_names]
        )
        self._gadolinium: TextMatcher[bool] = TextMatcher((name, True) for name in data.gadolinium.names)
        self._egfr_codes: CodeIndex[bool] = CodeIndex(systems)
        for code in data.egfr.codes:
            self._egfr_codes.add(code.system, code.code, True, code.match)
        self._egfr_names: TextMatcher[bool] = TextMatcher((name, True) for name in data.egfr.names)

    def _affirmed(self, text: str, start: int, end: int) -> bool:
        """Said of the patient now: not negated or history, and not explanted or only considered."""
        read = self._reader.read(text)
        if self._reader.certainty(read, start, end) != "affirmed":
            return False
        nearby = text[max(0, start - _NEAR_CHARS) : end + _NEAR_CHARS]
        return self._not_present.first(nearby) is None

    def devices_in(self, concepts: list[Any], affirmed_only: bool) -> set[ImplantDevice]:
        found: set[ImplantDevice] = set()
        for concept in concepts:
            for system, code in codings(concept):
                device = self._device_codes.lookup(system, code)
                if device is not None:
                    found.add(device)
            for text in concept_texts(concept):
                clipped = self._reader.clip(text)
                for hit in self._device_names.find(clipped):
                    if not affirmed_only or self._affirmed(clipped, hit.start, hit.end):
                        found.add(hit.value)
        return found

    def safety_in(self, concepts: list[Any]) -> set[str]:
        """ "conditional" and / or "unsafe", from codes (Device.safety) or words ("MR conditional")."""
        found: set[str] = set()
        for concept in concepts:
            for system, code in codings(concept):
                label = self._safety_codes.lookup(system, code)
                if label is not None:
                    found.add(label)
            for text in concept_texts(concept):
                found.update(hit.value for hit in self._safety_names.find(self._reader.clip(text)))
        return found

    def names_gadolinium(self, concept: Any) -> bool:
        return any(
            any(True for _ in self._gadolinium.find(self._reader.clip(text)))
            for text in concept_texts(concept)
        )

    def is_egfr(self, concept: Any) -> bool:
        if any(self._egfr_codes.lookup(system, code) for system, code in codings(concept)):
            return True
        return any(self._egfr_names.first(self._reader.clip(text)) for text in concept_texts(concept))


def _status_code(resource: dict[str, Any], element: str) -> str:
    concept = resource.get(element)
    if isinstance(concept, str):
        return concept.lower()
    return next((code.lower() for _, code in codings(concept)), "")


def _device_concepts(device: dict[str, Any]) -> list[Any]:
    concepts: list[Any] = [device.get("type")]
    for name in as_list(device.get("deviceName")):
        holder = as_dict(name)
        if holder is not None:
            concepts.append({"text": holder.get("name")})
    for key in ("modelNumber",):
        concepts.append({"text": device.get(key)})
    for note in as_list(device.get("note")):
        holder = as_dict(note)
        if holder is not None:
            concepts.append({"text": holder.get("text")})
    return concepts


def _condition_live(condition: dict[str, Any]) -> bool:
    if _status_code(condition, "verificationStatus") in _EXCLUDED_VERIFICATION:
        return False
    return _status_code(condition, "clinicalStatus") not in _RESOLVED_CONDITION


def _allergy_live(allergy: dict[str, Any]) -> bool:
    if _status_code(allergy, "verificationStatus") in _EXCLUDED_VERIFICATION:
        return False
    return _status_code(allergy, "clinicalStatus") not in _RESOLVED_CONDITION


def _implants(
    record: PatientRecord, vocabulary: MriSafetyVocabulary
) -> Iterator[tuple[ImplantDevice | None, set[str], str, date | None]]:
    """(device kind or None, safety labels, resource type, date) per device-like record."""
    for device in record.of_type("Device"):
        if str(device.get("status") or "").lower() in _INACTIVE_DEVICE:
            continue
        concepts = _device_concepts(device)
        safety = vocabulary.safety_in([*as_list(device.get("safety")), *concepts])
        kinds = vocabulary.devices_in(concepts, affirmed_only=False)
        # An implanted device is there from before any record of it: known all along.
        if not kinds and _UNSAFE in safety:
            yield None, safety, "Device", None
        for kind in kinds:
            yield kind, safety, "Device", None
    for condition in record.of_type("Condition"):
        if not _condition_live(condition):
            continue
        concept = condition.get("code")
        if coded_certainty(concept, vocabulary.certainty) == "excluded":
            continue
        on = first_date(condition, DATE_PATHS["Condition"])
        for kind in vocabulary.devices_in([concept], affirmed_only=True):
            yield kind, vocabulary.safety_in([concept]), "Condition", on
    for flag in record.of_type("Flag"):
        if str(flag.get("status") or "").lower() in _INACTIVE_FLAG:
            continue
        concept = flag.get("code")
        safety = vocabulary.safety_in([concept])
        kinds = vocabulary.devices_in([concept], affirmed_only=True)
        on = first_date(flag, DATE_PATHS["Flag"])
        if not kinds and _UNSAFE in safety:
            yield None, safety, "Flag", on
        for kind in kinds:
            yield kind, safety, "Flag", on


def _egfr_value(observation: dict[str, Any]) -> float | None:
    quantity = as_dict(observation.get("valueQuantity"))
    if quantity is not None and isinstance(quantity.get("value"), int | float):
        comparator = quantity.get("comparator")
        if comparator in (">", ">="):
            return None  # "> 60": above any contrast threshold, never a number to compare downwards
        return float(quantity["value"])
    text = observation.get("valueString")
    if isinstance(text, str) and not text.strip().startswith(">"):
        found = _NUMBER.search(text)
        return float(found.group(1)) if found else None
    return None


def _egfr_readings(record: PatientRecord, vocabulary: MriSafetyVocabulary) -> Iterator[EgfrReading]:
    for observation in record.of_type("Observation"):
        if str(observation.get("status") or "").lower() in ("entered-in-error", "cancelled"):
            continue
        if not vocabulary.is_egfr(observation.get("code")):
            continue
        value = _egfr_value(observation)
        on = first_date(observation, DATE_PATHS["Observation"])
        if value is not None and on is not None:
            yield EgfrReading(value, on)


def find_mri_safety(record: PatientRecord, vocabulary: MriSafetyVocabulary) -> MriSafetyFacts:
    found: list[MriContraindication] = []
    conditional: dict[str, str] = {}
    candidates: list[tuple[ImplantDevice, str, date | None]] = []
    for kind, safety, resource_type, on in _implants(record, vocabulary):
        if kind is None:
            found.append(MriContraindication("implant", "implant recorded as MR unsafe", resource_type, on))
        elif _UNSAFE in safety:
            found.append(MriContraindication("implant", f"{kind.display} (MR unsafe)", resource_type, on))
        elif _CONDITIONAL in safety:
            conditional[kind.id] = kind.display
        else:
            candidates.append((kind, resource_type, on))
    # A device kind documented MR-conditional anywhere in the record is MR-conditional: the pacemaker
    # diagnosis (Z95.0) next to an MR-conditional pacemaker Device is the same pacemaker.
    found.extend(
        MriContraindication("implant", kind.display, resource_type, on)
        for kind, resource_type, on in candidates
        if kind.id not in conditional
    )
    for allergy in record.of_type("AllergyIntolerance"):
        if _allergy_live(allergy) and vocabulary.names_gadolinium(allergy.get("code")):
            on = first_date(allergy, DATE_PATHS["AllergyIntolerance"])
            found.append(
                MriContraindication("contrast", "allergy to gadolinium contrast", "AllergyIntolerance", on)
            )
    return MriSafetyFacts(
        contraindications=tuple(dict.fromkeys(found)),
        conditional_devices=tuple(sorted(set(conditional.values()))),
        egfr=tuple(
            sorted(_egfr_readings(record, vocabulary), key=lambda reading: (reading.on, reading.value))
        ),
        egfr_below=vocabulary.data.egfr.below,
        egfr_recent_days=vocabulary.data.egfr.recent_days,
    )


def deceased_on(record: PatientRecord) -> date | None:
    """The day the patient died (Patient.deceasedDateTime), date.min when only deceasedBoolean true says
    so; None while alive or unknown."""
    for patient in record.of_type("Patient"):
        if patient.get("deceasedBoolean") is True:
            return date.min
        when = parse_date(patient.get("deceasedDateTime"))
        if when is not None:
            return when
    return None


__all__ = [
    "DATE_PATHS",
    "EgfrReading",
    "MriContraindication",
    "MriSafetyFacts",
    "MriSafetyVocabulary",
    "deceased_on",
    "find_mri_safety",
]
