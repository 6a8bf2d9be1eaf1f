"""The lean workload: a heavy record's resource counts in lean resources (issue 21).

bench/generate.py's heavy record spreads its history over 70 drugs and wordy resources, 2.2 MB. A
real record is often leaner: the same counts of resources, each a few codes and a date. Then the cost
per resource, not per byte, decides how far the service is from the floor. This record keeps
bench/generate.py's clinical story (so the same cards are expected) and adds, around it:

- 2,000 MedicationRequest/MedicationAdministration cycling four unrelated drugs (a code and a name);
- 500 Conditions (hypertension, diabetes, hyperlipidaemia, anaemia), 300 Observations (four labs);
- 50 ImagingStudies (CT chest, no brain imaging).

    resources = lean_resources()
    body = hook_request(prefetch_for(resources))

Run as a script to print its size: ``.venv/bin/python -m bench.lean``.
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from typing import Any

import orjson

from bench.generate import (
    ICD10CM,
    LOINC,
    PATIENT_ID,
    RXNORM,
    SEED,
    SNOMED,
    TODAY,
    Mix,
    _Builder,
    hook_request,
    prefetch_for,
)

MEDICATION_USES = 2_000
CONDITIONS = 500
OBSERVATIONS = 300
IMAGING_STUDIES = 50

# (RxNorm ingredient, name): four drugs no catalog names.
LEAN_DRUGS = (
    ("29046", "lisinopril 10 MG Oral Tablet"),
    ("6809", "metformin 500 MG Oral Tablet"),
    ("83367", "atorvastatin 20 MG Oral Tablet"),
    ("40790", "pantoprazole 40 MG Oral Tablet"),
)
LEAN_CONDITIONS = (
    ("59621000", "I10", "Essential hypertension"),
    ("44054006", "E11.9", "Type 2 diabetes mellitus"),
    ("55822004", "E78.5", "Hyperlipidemia"),
    ("271737000", "D64.9", "Anemia"),
)
LEAN_LABS = (
    ("718-7", "Hemoglobin", "g/dL"),
    ("2160-0", "Creatinine", "mg/dL"),
    ("2951-2", "Sodium", "mmol/L"),
    ("2823-3", "Potassium", "mmol/L"),
)
# The story's own counts (bench/generate.py `_Builder.story`), subtracted so the totals are the issue's.
_STORY = Mix(2, 5, 0, 0, 1, 3, 1, 2, 1, 1)


def _day(rng: random.Random, index: int) -> str:
    return (TODAY - timedelta(days=91 + (index * 7 + rng.randrange(7)) % 1000)).isoformat()


def _medication_use(index: int, rng: random.Random) -> dict[str, Any]:
    rxnorm, name = LEAN_DRUGS[index % len(LEAN_DRUGS)]
    concept = {"coding": [{"system": RXNORM, "code": rxnorm, "display": name}], "text": name}
    subject = {"reference": f"Patient/{PATIENT_ID}"}
    if index % 2:
        return {
            "resourceType": "MedicationAdministration",
            "id": f"lean-ma-{index}",
            "status": "completed",
            "medicationCodeableConcept": concept,
            "subject": subject,
            "effectiveDateTime": _day(rng, index),
        }
    return {
        "resourceType": "MedicationRequest",
        "id": f"lean-mr-{index}",
        "status": "completed",
        "intent": "order",
        "medicationCodeableConcept": concept,
        "subject": subject,
        "authoredOn": _day(rng, index),
    }


def _condition(index: int, rng: random.Random) -> dict[str, Any]:
    snomed, icd10, text = LEAN_CONDITIONS[index % len(LEAN_CONDITIONS)]
    return {
        "resourceType": "Condition",
        "id": f"lean-cond-{index}",
        "code": {
            "coding": [{"system": SNOMED, "code": snomed}, {"system": ICD10CM, "code": icd10}],
            "text": text,
        },
        "subject": {"reference": f"Patient/{PATIENT_ID}"},
        "onsetDateTime": _day(rng, index),
    }


def _observation(index: int, rng: random.Random) -> dict[str, Any]:
    loinc, text, unit = LEAN_LABS[index % len(LEAN_LABS)]
    return {
        "resourceType": "Observation",
        "id": f"lean-obs-{index}",
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": loinc}], "text": text},
        "subject": {"reference": f"Patient/{PATIENT_ID}"},
        "effectiveDateTime": _day(rng, index),
        "valueQuantity": {"value": round(rng.uniform(1, 140), 1), "unit": unit},
    }


def _imaging_study(index: int, rng: random.Random) -> dict[str, Any]:
    on = min(date.fromisoformat(_day(rng, index)), date(2026, 10, 25))  # before the story's PET-CT
    return {
        "resourceType": "ImagingStudy",
        "id": f"lean-img-{index}",
        "status": "available",
        "modality": [{"system": "http://dicom.nema.org/resources/ontology/DCM", "code": "CT"}],
        "subject": {"reference": f"Patient/{PATIENT_ID}"},
        "started": on.isoformat(),
        "description": "CT chest with contrast",
    }


def lean_resources(seed: int = SEED) -> list[dict[str, Any]]:
    """The Patient, bench/generate.py's clinical story, and the lean history around it."""
    builder = _Builder(Mix(0, 0, 0, 0, 0, 0, 0, 0, 0, 0), seed)
    builder.add({"resourceType": "Patient", "id": PATIENT_ID, "gender": "female", "birthDate": "1958-03-14"})
    builder.story()
    rng = random.Random(seed)
    uses = MEDICATION_USES - _STORY.medication_requests - _STORY.medication_administrations
    history = [_medication_use(index, rng) for index in range(uses)]
    history += [_condition(index, rng) for index in range(CONDITIONS - _STORY.conditions)]
    history += [_observation(index, rng) for index in range(OBSERVATIONS - _STORY.observations)]
    history += [_imaging_study(index, rng) for index in range(IMAGING_STUDIES - _STORY.imaging_studies)]
    patient, story = builder.resources[0], builder.resources[1:]
    mixed = story + history
    rng.shuffle(mixed)
    return [patient, *mixed, *builder.medications.values()]


def lean_body(seed: int = SEED) -> bytes:
    return orjson.dumps(hook_request(prefetch_for(lean_resources(seed))))


def describe(body: bytes) -> str:
    return (
        f"{MEDICATION_USES:,} MedicationRequest/Administration cycling {len(LEAN_DRUGS)} drugs, "
        f"{CONDITIONS} Condition, {OBSERVATIONS} Observation, {IMAGING_STUDIES} ImagingStudy, "
        f"{len(body) / 1e6:.2f} MB"
    )


def main() -> None:
    print("lean:", describe(lean_body()))


if __name__ == "__main__":
    main()
