"""Exposure from every place an EHR records it, with the status and date rules of each resource."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from clinical_support import evaluator

from clinical.exposures import find_exposures
from clinical.patient_record import PatientRecord

TODAY = date(2026, 11, 21)
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
KEYTRUDA = {"coding": [{"system": RXNORM, "code": "1657746", "display": "Keytruda"}]}


def exposures(
    resources: list[dict[str, Any]], drafts: list[dict[str, Any]] | None = None
) -> list[tuple[str, str, date | None]]:
    record = PatientRecord("p1")
    record.add_all(resources)
    found = find_exposures(record, drafts or [], evaluator().vocabularies.catalog, TODAY)
    return [(exposure.agent.id, exposure.stage, exposure.on) for exposure in found]


def med(resource_type: str, **fields: Any) -> dict[str, Any]:
    return {"resourceType": resource_type, "id": "r1", "subject": {"reference": "Patient/p1"}, **fields}


CASES = [
    (
        "request active",
        med(
            "MedicationRequest",
            status="active",
            intent="order",
            medicationCodeableConcept=KEYTRUDA,
            authoredOn="2026-10-01",
        ),
        [("pembrolizumab", "ordered", date(2026, 10, 1))],
    ),
    (
        "request plan intent",
        med("MedicationRequest", status="active", intent="plan", medicationCodeableConcept=KEYTRUDA),
        [("pembrolizumab", "planned", None)],
    ),
    (
        "request draft",
        med("MedicationRequest", status="draft", intent="order", medicationCodeableConcept=KEYTRUDA),
        [("pembrolizumab", "planned", None)],
    ),
    (
        "request entered in error",
        med(
            "MedicationRequest", status="entered-in-error", intent="order", medicationCodeableConcept=KEYTRUDA
        ),
        [],
    ),
    (
        "request cancelled",
        med("MedicationRequest", status="cancelled", intent="order", medicationCodeableConcept=KEYTRUDA),
        [],
    ),
    (
        "request do not perform",
        med(
            "MedicationRequest",
            status="active",
            intent="order",
            doNotPerform=True,
            medicationCodeableConcept=KEYTRUDA,
        ),
        [],
    ),
    (
        "administration completed",
        med(
            "MedicationAdministration",
            status="completed",
            medicationCodeableConcept={"text": "Yescarta"},
            effectiveDateTime="2026-11-16T08:00:00Z",
        ),
        [("axicabtagene-ciloleucel", "administered", date(2026, 11, 16))],
    ),
    (
        "administration R5 occurence",
        med(
            "MedicationAdministration",
            status="completed",
            medication={"concept": {"text": "Kymriah"}},
            occurenceDateTime="2026-11-10",
        ),
        [("tisagenlecleucel", "administered", date(2026, 11, 10))],
    ),
    (
        "administration not done",
        med("MedicationAdministration", status="not-done", medicationCodeableConcept={"text": "Yescarta"}),
        [],
    ),
    (
        "statement R4 active",
        med(
            "MedicationStatement",
            status="active",
            medicationCodeableConcept={"text": "nivolumab"},
            effectivePeriod={"start": "2026-09-01"},
        ),
        [("nivolumab", "administered", date(2026, 9, 1))],
    ),
    (
        "statement R5 recorded",
        med(
            "MedicationStatement",
            status="recorded",
            medication={"concept": {"text": "durvalumab"}},
            effectiveDateTime="2026-08-01",
        ),
        [("durvalumab", "administered", date(2026, 8, 1))],
    ),
    (
        "statement not taken",
        med("MedicationStatement", status="not-taken", medicationCodeableConcept={"text": "nivolumab"}),
        [],
    ),
    (
        "statement intended",
        med("MedicationStatement", status="intended", medicationCodeableConcept={"text": "nivolumab"}),
        [("nivolumab", "planned", None)],
    ),
    (
        "dispense completed",
        med(
            "MedicationDispense",
            status="completed",
            medicationCodeableConcept={"text": "TECVAYLI 30 MG/3ML"},
            whenHandedOver="2026-11-01",
        ),
        [("teclistamab", "ordered", date(2026, 11, 1))],
    ),
    (
        "procedure CAR-T infusion",
        med(
            "Procedure",
            status="completed",
            code={"text": "CAR-T cell infusion"},
            performedDateTime="2026-11-02",
        ),
        [("car-t-product-not-named", "administered", date(2026, 11, 2))],
    ),
    ("procedure not done", med("Procedure", status="not-done", code={"text": "Breyanzi infusion"}), []),
    (
        "CAR-T infusion ordered as a ServiceRequest",
        med(
            "ServiceRequest",
            status="active",
            intent="order",
            code={"text": "Kymriah infusion"},
            occurrenceDateTime="2026-11-28",
        ),
        [("tisagenlecleucel", "planned", date(2026, 11, 28))],
    ),
    (
        "look-alike",
        med(
            "MedicationRequest",
            status="active",
            intent="order",
            medicationCodeableConcept={"text": "CARBOplatin 450 mg IV"},
        ),
        [],
    ),
]


@pytest.mark.parametrize(("resource", "expected"), [pytest.param(r, e, id=n) for n, r, e in CASES])
def test_exposure_stage_and_date_by_resource(
    resource: dict[str, Any], expected: list[tuple[str, str, date | None]]
) -> None:
    assert exposures([resource]) == expected


def test_contained_medication_is_resolved() -> None:
    request = med(
        "MedicationRequest",
        status="active",
        intent="order",
        contained=[{"resourceType": "Medication", "id": "m", "code": {"text": "Imfinzi 50 MG/ML"}}],
        medicationReference={"reference": "#m"},
    )
    assert exposures([request]) == [("durvalumab", "ordered", None)]


def test_bundle_medication_is_resolved_including_r5_ingredient() -> None:
    medication = {
        "resourceType": "Medication",
        "id": "m9",
        "ingredient": [{"item": {"concept": {"coding": [{"system": RXNORM, "code": "1547545"}]}}}],
    }
    request = med(
        "MedicationRequest",
        status="active",
        intent="order",
        medicationReference={"reference": "Medication/m9"},
    )
    assert exposures([medication, request]) == [("pembrolizumab", "ordered", None)]


def test_unresolved_reference_falls_back_to_its_display() -> None:
    request = med(
        "MedicationRequest",
        status="active",
        intent="order",
        medicationReference={"reference": "Medication/x", "display": "Opdualag"},
    )
    assert exposures([request]) == [("nivolumab-relatlimab", "ordered", None)]


def test_draft_orders_are_planned_and_dated_today() -> None:
    draft = {
        "resourceType": "MedicationRequest",
        "id": "request-123",
        "status": "draft",
        "medicationCodeableConcept": KEYTRUDA,
    }
    assert exposures([], [draft]) == [("pembrolizumab", "planned", TODAY)]


def test_a_drafted_car_t_infusion_service_request_is_planned_exposure() -> None:
    draft = {
        "resourceType": "ServiceRequest",
        "id": "sr",
        "status": "draft",
        "code": {"text": "Kymriah infusion"},
    }
    assert exposures([], [draft]) == [("tisagenlecleucel", "planned", TODAY)]


def test_draft_orders_of_other_types_are_not_exposure() -> None:
    draft = {
        "resourceType": "NutritionOrder",
        "id": "n",
        "status": "draft",
        "oralDiet": {"type": [{"text": "Keytruda"}]},
    }
    assert exposures([], [draft]) == []
