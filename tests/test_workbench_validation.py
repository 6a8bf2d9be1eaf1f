"""The report's FHIR R4B validation: what an export gets wrong, by resource type and element."""

from __future__ import annotations

from typing import Any

import pytest

from workbench.validation import validate_sample

SUBJECT = {"reference": "Patient/p1"}
GOOD_CONDITION = {"resourceType": "Condition", "id": "c1", "subject": SUBJECT, "onsetDateTime": "2026-01-02"}

# case: (resource, (resource type, element, problem))
PROBLEMS: dict[str, tuple[dict[str, Any], tuple[str, str, str]]] = {
    "date in the wrong format": (
        {**GOOD_CONDITION, "onsetDateTime": "31/02/2026"},
        ("Condition", "onsetDateTime", "value_error"),
    ),
    "status as a number": (
        {
            "resourceType": "MedicationRequest",
            "id": "m1",
            "status": 5,
            "intent": "order",
            "subject": SUBJECT,
            "medicationCodeableConcept": {"text": "pembrolizumab"},
        },
        ("MedicationRequest", "status", "string_type"),
    ),
    "element unknown to R4B": (
        {**GOOD_CONDITION, "onsetAt": "2026-01-02"},
        ("Condition", "onsetAt", "extra_forbidden"),
    ),
    "date inside a list": (
        {
            "resourceType": "MedicationRequest",
            "id": "m2",
            "status": "active",
            "intent": "order",
            "subject": SUBJECT,
            "medicationCodeableConcept": {"text": "nivolumab"},
            "dosageInstruction": [{"timing": {"repeat": {"boundsPeriod": {"start": "soon"}}}}],
        },
        ("MedicationRequest", "dosageInstruction.timing.repeat.boundsPeriod.start", "value_error"),
    ),
}


@pytest.mark.parametrize("case", sorted(PROBLEMS))
def test_a_non_conforming_resource_is_listed_by_type_and_element(case: str) -> None:
    resource, expected = PROBLEMS[case]
    report = validate_sample({resource["resourceType"]: [resource]}, per_type=10)
    found = {(p.resource_type, p.element, p.problem) for p in report.problems}
    assert expected in found
    assert report.invalid[resource["resourceType"]] == 1


def test_conforming_resources_give_no_problem_and_only_the_sample_is_validated() -> None:
    report = validate_sample(
        {"Condition": [dict(GOOD_CONDITION, id=f"c{n}") for n in range(30)]}, per_type=10
    )
    assert report.validated["Condition"] == 10
    assert not report.problems


def test_types_the_rules_do_not_read_are_not_validated() -> None:
    report = validate_sample(
        {"Practitioner": [{"resourceType": "Practitioner", "active": "yes"}]}, per_type=10
    )
    assert not report.validated
