"""Neurological findings: codes, text with negation, and the ICE score's ASTCT grade."""

from __future__ import annotations

from typing import Any

import pytest
from clinical_support import evaluator

from clinical.neurological_findings import find_neurological_findings
from clinical.patient_record import PatientRecord

ICD10 = "http://hl7.org/fhir/sid/icd-10-cm"
SNOMED = "http://snomed.info/sct"


def findings(resource: dict[str, Any]) -> list[tuple[str, int | None]]:
    record = PatientRecord("p1")
    record.add({"id": "f1", "subject": {"reference": "Patient/p1"}, **resource})
    return [
        (f.kind.id, f.grade) for f in find_neurological_findings(record, evaluator().vocabularies.findings)
    ]


def condition(code: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"resourceType": "Condition", "code": code, "onsetDateTime": "2026-11-18", **fields}


def ice(value: Any, field: str = "valueInteger") -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "ICE score"},
        field: value,
        "effectiveDateTime": "2026-11-20",
    }


@pytest.mark.parametrize(
    ("score", "grade"),
    [(10, None), (9, 1), (7, 1), (6, 2), (3, 2), (2, 3), (0, 3), (11, None), (-1, None)],
)
def test_ice_score_maps_to_astct_grade(score: int, grade: int | None) -> None:
    assert findings(ice(score)) == ([("icans", grade)] if grade else [])


@pytest.mark.parametrize(
    ("observation", "expected"),
    [
        (ice({"value": 5, "unit": "{score}"}, "valueQuantity"), [("icans", 2)]),
        (ice("4/10", "valueString"), [("icans", 2)]),
        (ice(True, "valueBoolean"), []),
        (ice(6.5, "valueInteger"), []),
    ],
)
def test_ice_score_value_shapes(observation: dict[str, Any], expected: list[tuple[str, int]]) -> None:
    assert findings(observation) == expected


@pytest.mark.parametrize(
    ("resource", "expected"),
    [
        (condition({"coding": [{"system": ICD10, "code": "G92.03"}]}), [("icans", 3)]),
        (condition({"coding": [{"system": ICD10, "code": "G9200"}]}), [("icans", None)]),
        (condition({"coding": [{"system": SNOMED, "code": "91175000"}]}), [("seizure", None)]),
        (condition({"coding": [{"system": SNOMED, "code": "91637004"}]}), [("myasthenia-gravis", None)]),
        (
            condition({"text": "Confusion and word-finding difficulty"}),
            [("altered-mental-status", None), ("aphasia", None)],
        ),
        (condition({"text": "No seizure activity"}), []),
        (condition({"text": "Seizure prophylaxis"}), []),
        (condition({"coding": [{"system": SNOMED, "code": "25064002"}], "text": "Headache"}), []),
        (
            condition(
                {"coding": [{"system": ICD10, "code": "D89.832"}], "text": "Cytokine release syndrome"}
            ),
            [],
        ),
        (condition({"text": "encephalitis"}, verificationStatus={"coding": [{"code": "refuted"}]}), []),
        (condition({"text": "encephalitis"}, onsetDateTime=None), []),
    ],
    ids=[
        "icans-g92-03",
        "icans-undotted",
        "seizure",
        "mg",
        "text",
        "negated",
        "prophylaxis",
        "headache",
        "crs",
        "refuted",
        "undated",
    ],
)
def test_condition_findings(resource: dict[str, Any], expected: list[tuple[str, int | None]]) -> None:
    assert sorted(findings(resource)) == sorted(expected)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"valueCodeableConcept": {"text": "Present"}}, [("seizure", None)]),
        ({"valueCodeableConcept": {"text": "Absent"}}, []),
        ({"valueBoolean": False}, []),
    ],
)
def test_observation_answer_says_whether_the_finding_is_there(
    value: dict[str, Any], expected: list[tuple[str, None]]
) -> None:
    observation = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "Seizure"},
        "effectiveDateTime": "2026-11-20",
        **value,
    }
    assert findings(observation) == expected


def test_an_ice_entry_is_not_read_as_encephalopathy_through_its_name() -> None:
    observation = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "Immune Effector Cell-Associated Encephalopathy (ICE) score"},
        "valueInteger": 10,
        "effectiveDateTime": "2026-11-20",
    }
    assert findings(observation) == []
