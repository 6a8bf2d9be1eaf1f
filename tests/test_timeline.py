"""Therapy events on the timeline (clinical/timeline/exposures.py) from every place an EHR records
them, with the v2 meaning of each resource type and status (docs/clinical-rules-v2.md section 1):
an active order is ongoing therapy, a completed CAR-T product order is the infusion, an active one is
planned, drafts are planned, doNotPerform and entered-in-error are nothing, and a record whose date
cannot be read still counts."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from clinical_support import (
    TODAY,
    administration,
    brain_mri,
    condition,
    patient,
    report,
    score,
    timeline,
)

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
KEYTRUDA = {"coding": [{"system": RXNORM, "code": "1657746", "display": "Keytruda"}]}
ON = date(2026, 6, 1)

Event = tuple[str, str, date | None]


def events(resources: list[dict[str, Any]], drafts: list[dict[str, Any]] | None = None) -> list[Event]:
    return [(event.agent.id, event.kind, event.on) for event in timeline(resources, drafts).therapy]


def med(resource_type: str, **fields: Any) -> dict[str, Any]:
    return {"resourceType": resource_type, "id": "r1", **fields}


def request(status: str, medication: dict[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
    return med(
        "MedicationRequest",
        status=status,
        intent=fields.pop("intent", "order"),
        medicationCodeableConcept=medication or KEYTRUDA,
        **fields,
    )


YESCARTA = {"text": "Yescarta"}
NIVOLUMAB = {"text": "nivolumab"}
TECVAYLI = {"text": "TECVAYLI 30 MG/3ML"}


def row(name: str, resource: dict[str, Any], expected: list[Event], bug: str | None = None) -> Any:
    marks = [pytest.mark.xfail(strict=True, reason=bug)] if bug else []
    return pytest.param(resource, expected, id=name, marks=marks)


MEDICATION_REQUEST = [
    row(
        "active order is ongoing",
        request("active", authoredOn="2026-06-01"),
        [("pembrolizumab", "ongoing", ON)],
    ),
    row(
        "on-hold order is ongoing",
        request("on-hold", authoredOn="2026-06-01"),
        [("pembrolizumab", "ongoing", ON)],
    ),
    row(
        "completed order was given up to its date",
        request("completed", authoredOn="2026-06-01"),
        [("pembrolizumab", "stopped", ON)],
    ),
    row("stopped order", request("stopped", authoredOn="2026-06-01"), [("pembrolizumab", "stopped", ON)]),
    row(
        "dated by the dosage bounds before authoredOn",
        request(
            "active",
            authoredOn="2026-05-01",
            dosageInstruction=[{"timing": {"repeat": {"boundsPeriod": {"start": "2026-06-01"}}}}],
        ),
        [("pembrolizumab", "ongoing", ON)],
    ),
    row("draft is planned", request("draft"), [("pembrolizumab", "planned", None)]),
    row("plan intent is planned", request("active", intent="plan"), [("pembrolizumab", "planned", None)]),
    row(
        "proposal intent is planned",
        request("active", intent="proposal"),
        [("pembrolizumab", "planned", None)],
    ),
    row("entered in error", request("entered-in-error"), []),
    row("cancelled", request("cancelled"), []),
    row("revoked", request("revoked"), []),
    row("do not perform", request("active", doNotPerform=True), []),
    row("look-alike drug", request("active", {"text": "CARBOplatin 450 mg IV"}), []),
    row(
        "completed CAR-T product order is the infusion, dated by its bounds",
        request(
            "completed",
            YESCARTA,
            authoredOn="2026-05-01",
            dosageInstruction=[{"timing": {"repeat": {"boundsPeriod": {"start": "2026-06-01"}}}}],
        ),
        [("axicabtagene-ciloleucel", "given", ON)],
    ),
    row(
        "completed CAR-T product order dated by authoredOn",
        request("completed", YESCARTA, authoredOn="2026-06-01"),
        [("axicabtagene-ciloleucel", "given", ON)],
    ),
    row(
        "active CAR-T product order is planned (ordered at apheresis)",
        request("active", YESCARTA, authoredOn="2026-06-01"),
        [("axicabtagene-ciloleucel", "planned", ON)],
    ),
    row(
        "draft CAR-T product order is planned",
        request("draft", YESCARTA),
        [("axicabtagene-ciloleucel", "planned", None)],
    ),
    row(
        "stopped CAR-T product order was never infused",
        request("stopped", YESCARTA, authoredOn="2026-06-01"),
        [],
    ),
]

ADMINISTRATION = [
    row(
        "completed",
        med(
            "MedicationAdministration",
            status="completed",
            medicationCodeableConcept=YESCARTA,
            effectiveDateTime="2026-06-01T08:00:00Z",
        ),
        [("axicabtagene-ciloleucel", "given", ON)],
    ),
    row(
        "R5 occurence spelling",
        med(
            "MedicationAdministration",
            status="completed",
            medication={"concept": {"text": "Kymriah"}},
            occurenceDateTime="2026-06-01",
        ),
        [("tisagenlecleucel", "given", ON)],
    ),
    row(
        "in progress",
        med(
            "MedicationAdministration",
            status="in-progress",
            medicationCodeableConcept=NIVOLUMAB,
            effectivePeriod={"start": "2026-06-01"},
        ),
        [("nivolumab", "given", ON)],
    ),
    row(
        "stopped part-way is still a dose",
        med(
            "MedicationAdministration",
            status="stopped",
            medicationCodeableConcept=NIVOLUMAB,
            effectiveDateTime="2026-06-01",
        ),
        [("nivolumab", "given", ON)],
    ),
    row(
        "not done", med("MedicationAdministration", status="not-done", medicationCodeableConcept=YESCARTA), []
    ),
    row(
        "entered in error",
        med(
            "MedicationAdministration",
            status="entered-in-error",
            medicationCodeableConcept=YESCARTA,
            effectiveDateTime="2026-06-01",
        ),
        [],
    ),
]

STATEMENT = [
    row(
        "R4 active is ongoing",
        med(
            "MedicationStatement",
            status="active",
            medicationCodeableConcept=NIVOLUMAB,
            effectivePeriod={"start": "2026-06-01"},
        ),
        [("nivolumab", "ongoing", ON)],
    ),
    row(
        "completed was given",
        med(
            "MedicationStatement",
            status="completed",
            medicationCodeableConcept=NIVOLUMAB,
            effectiveDateTime="2026-06-01",
        ),
        [("nivolumab", "given", ON)],
    ),
    row(
        "stopped was given",
        med(
            "MedicationStatement",
            status="stopped",
            medicationCodeableConcept=NIVOLUMAB,
            effectiveDateTime="2026-06-01",
        ),
        [("nivolumab", "given", ON)],
    ),
    row(
        "on-hold is still ongoing (paused therapy counts as exposure)",
        med(
            "MedicationStatement",
            status="on-hold",
            medicationCodeableConcept=NIVOLUMAB,
            effectiveDateTime="2026-06-01",
        ),
        [("nivolumab", "ongoing", ON)],
    ),
    row(
        "R5 recorded was given",
        med(
            "MedicationStatement",
            status="recorded",
            medication={"concept": {"text": "durvalumab"}},
            effectiveDateTime="2026-06-01",
        ),
        [("durvalumab", "given", ON)],
    ),
    row(
        "intended is planned",
        med("MedicationStatement", status="intended", medicationCodeableConcept=NIVOLUMAB),
        [("nivolumab", "planned", None)],
    ),
    row(
        "R5 draft is planned",
        med("MedicationStatement", status="draft", medication={"concept": NIVOLUMAB}),
        [("nivolumab", "planned", None)],
    ),
    row("not taken", med("MedicationStatement", status="not-taken", medicationCodeableConcept=NIVOLUMAB), []),
    row(
        "entered in error",
        med("MedicationStatement", status="entered-in-error", medicationCodeableConcept=NIVOLUMAB),
        [],
    ),
]

DISPENSE = [
    row(
        "completed was given",
        med(
            "MedicationDispense",
            status="completed",
            medicationCodeableConcept=TECVAYLI,
            whenHandedOver="2026-06-01",
        ),
        [("teclistamab", "given", ON)],
    ),
    row(
        "preparation is planned",
        med("MedicationDispense", status="preparation", medicationCodeableConcept=TECVAYLI),
        [("teclistamab", "planned", None)],
    ),
    row("declined", med("MedicationDispense", status="declined", medicationCodeableConcept=TECVAYLI), []),
    row("cancelled", med("MedicationDispense", status="cancelled", medicationCodeableConcept=TECVAYLI), []),
]

PROCEDURE_AND_SERVICE_REQUEST = [
    row(
        "unnamed CAR-T infusion procedure",
        med(
            "Procedure",
            status="completed",
            code={"text": "CAR-T cell infusion"},
            performedDateTime="2026-06-01",
        ),
        [("car-t-product-not-named", "given", ON)],
    ),
    row(
        "CAR-T infusion by CPT 38228",
        med(
            "Procedure",
            status="completed",
            code={"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "38228"}]},
            performedPeriod={"start": "2026-06-01"},
        ),
        [("car-t-product-not-named", "given", ON)],
    ),
    row(
        "named product procedure hides the generic entry",
        med(
            "Procedure",
            status="completed",
            code={"text": "Kymriah (tisagenlecleucel) CAR-T cell infusion"},
            performedDateTime="2026-06-01",
        ),
        [("tisagenlecleucel", "given", ON)],
    ),
    row(
        "procedure in preparation is planned",
        med("Procedure", status="preparation", code={"text": "Breyanzi infusion"}),
        [("lisocabtagene-maraleucel", "planned", None)],
    ),
    row("procedure not done", med("Procedure", status="not-done", code={"text": "Breyanzi infusion"}), []),
    row(
        "procedure entered in error",
        med("Procedure", status="entered-in-error", code={"text": "Breyanzi infusion"}),
        [],
    ),
    row(
        "CAR-T infusion ordered as a ServiceRequest is planned",
        med(
            "ServiceRequest",
            status="active",
            intent="order",
            code={"text": "Kymriah infusion"},
            occurrenceDateTime="2026-06-01",
        ),
        [("tisagenlecleucel", "planned", ON)],
    ),
    row(
        "R5 ServiceRequest code",
        med(
            "ServiceRequest", status="on-hold", intent="order", code={"concept": {"text": "Kymriah infusion"}}
        ),
        [("tisagenlecleucel", "planned", None)],
    ),
    row(
        "completed CAR-T ServiceRequest was given",
        med(
            "ServiceRequest",
            status="completed",
            intent="order",
            code={"text": "Kymriah infusion"},
            occurrenceDateTime="2026-06-01",
        ),
        [("tisagenlecleucel", "given", ON)],
    ),
    row(
        "revoked ServiceRequest",
        med("ServiceRequest", status="revoked", intent="order", code={"text": "Kymriah infusion"}),
        [],
    ),
    row(
        "do-not-perform ServiceRequest",
        med(
            "ServiceRequest",
            status="active",
            intent="order",
            doNotPerform=True,
            code={"text": "Kymriah infusion"},
        ),
        [],
    ),
]


@pytest.mark.parametrize(("resource", "expected"), MEDICATION_REQUEST)
def test_medication_request_by_status_and_intent(resource: dict[str, Any], expected: list[Event]) -> None:
    assert events([resource]) == expected


@pytest.mark.parametrize(("resource", "expected"), ADMINISTRATION)
def test_medication_administration_by_status(resource: dict[str, Any], expected: list[Event]) -> None:
    assert events([resource]) == expected


@pytest.mark.parametrize(("resource", "expected"), STATEMENT)
def test_medication_statement_by_status(resource: dict[str, Any], expected: list[Event]) -> None:
    assert events([resource]) == expected


@pytest.mark.parametrize(("resource", "expected"), DISPENSE)
def test_medication_dispense_by_status(resource: dict[str, Any], expected: list[Event]) -> None:
    assert events([resource]) == expected


@pytest.mark.parametrize(("resource", "expected"), PROCEDURE_AND_SERVICE_REQUEST)
def test_car_t_procedures_and_service_requests_by_status(
    resource: dict[str, Any], expected: list[Event]
) -> None:
    assert events([resource]) == expected


def test_an_unreadable_date_is_still_an_event_with_an_unknown_date() -> None:
    given = med(
        "MedicationAdministration",
        status="completed",
        medicationCodeableConcept=YESCARTA,
        effectiveDateTime="24/11/2026",
    )
    (event,) = timeline([given]).therapy
    assert (event.agent.id, event.kind, event.on, event.date_unreadable) == (
        "axicabtagene-ciloleucel",
        "given",
        None,
        True,
    )


def test_a_record_without_a_date_is_not_marked_unreadable() -> None:
    given = med("MedicationAdministration", status="completed", medicationCodeableConcept=YESCARTA)
    (event,) = timeline([given]).therapy
    assert (event.on, event.date_unreadable) == (None, False)


def test_a_contained_medication_is_resolved() -> None:
    order = request(
        "active",
        contained=[{"resourceType": "Medication", "id": "m", "code": {"text": "Imfinzi 50 MG/ML"}}],
        medicationReference={"reference": "#m"},
    )
    del order["medicationCodeableConcept"]
    assert events([order]) == [("durvalumab", "ongoing", None)]


def test_a_bundle_medication_is_resolved_including_an_r5_ingredient() -> None:
    medication = {
        "resourceType": "Medication",
        "id": "m9",
        "ingredient": [{"item": {"concept": {"coding": [{"system": RXNORM, "code": "1547545"}]}}}],
    }
    order = request("active", medicationReference={"reference": "Medication/m9"})
    del order["medicationCodeableConcept"]
    assert events([medication, order]) == [("pembrolizumab", "ongoing", None)]


def test_an_unresolved_reference_falls_back_to_its_display() -> None:
    order = request("active", medicationReference={"reference": "Medication/x", "display": "Opdualag"})
    del order["medicationCodeableConcept"]
    assert events([order]) == [("nivolumab-relatlimab", "ongoing", None)]


def draft_events(drafts: list[dict[str, Any]]) -> list[tuple[str, str, date | None, bool]]:
    return [(e.agent.id, e.kind, e.on, e.draft_order) for e in timeline([], drafts).therapy]


DRAFTS = [
    row(
        "draft order is planned now",
        {
            "resourceType": "MedicationRequest",
            "id": "d1",
            "status": "draft",
            "medicationCodeableConcept": KEYTRUDA,
        },
        [("pembrolizumab", "planned", TODAY, True)],
    ),
    row(
        "drafted CAR-T infusion ServiceRequest is planned now",
        {
            "resourceType": "ServiceRequest",
            "id": "d2",
            "status": "draft",
            "code": {"text": "Kymriah infusion"},
        },
        [("tisagenlecleucel", "planned", TODAY, True)],
    ),
    row(
        "drafted dispense is planned now",
        {
            "resourceType": "MedicationDispense",
            "id": "d3",
            "status": "preparation",
            "medicationCodeableConcept": TECVAYLI,
        },
        [("teclistamab", "planned", TODAY, True)],
    ),
    row(
        "draft orders of other types are not exposure",
        {
            "resourceType": "NutritionOrder",
            "id": "d4",
            "status": "draft",
            "oralDiet": {"type": [{"text": "Keytruda"}]},
        },
        [],
    ),
    row(
        "do-not-perform draft order",
        {
            "resourceType": "MedicationRequest",
            "id": "d5",
            "status": "draft",
            "doNotPerform": True,
            "medicationCodeableConcept": KEYTRUDA,
        },
        [],
    ),
]


@pytest.mark.parametrize(("draft", "expected"), DRAFTS)
def test_draft_orders_of_this_request(draft: dict[str, Any], expected: list[Any]) -> None:
    assert draft_events([draft]) == expected


def test_the_timeline_gathers_every_kind_of_record_in_one_pass() -> None:
    built = timeline(
        [
            patient("2016-03-01"),
            administration("Yescarta", -5),
            brain_mri(-10),
            condition(-1, code="G92.02"),
            score("ICE score", 6, 0),
            report(-3, title="CT chest abdomen pelvis", conclusion="iUPD per iRECIST"),
        ]
    )
    assert [event.agent.id for event in built.therapy] == ["axicabtagene-ciloleucel"]
    assert sorted(event.kind for event in built.imaging) == ["brain-mri", "cross-sectional"]
    assert [(finding.kind.id, finding.coded_grade) for finding in built.findings] == [("icans", 2)]
    assert [(reading.kind, reading.score) for reading in built.scores] == [("ice", 6)]
    assert [found.kind for found in built.progression] == ["suspected"]
    assert built.birth_date == date(2016, 3, 1)
