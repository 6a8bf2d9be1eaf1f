"""Coverage matrix for exposure (docs/coverage/exposure.md): every FHIR element an EHR puts a therapy in,
one row per cell, read through the Evaluator's timeline (and the card, for the diagnoses that imply
exposure). The cell id is the row's id in the document."""

from __future__ import annotations

from typing import Any

import pytest
from clinical_support import SUBJECT, cards, condition, day, note, timeline, topics

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
ATC = "http://www.whocc.no/atc"
NDC = "http://hl7.org/fhir/sid/ndc"
CPT = "http://www.ama-assn.org/go/cpt"
PCS = "http://www.cms.gov/Medicare/Coding/ICD10"
KEYTRUDA = {
    "coding": [{"system": RXNORM, "code": "1657746", "display": "Keytruda 25 MG/ML Injectable Solution"}]
}
YESCARTA_TEXT = {"text": "Yescarta (axicabtagene ciloleucel) suspension for IV infusion"}


def _request(status: str = "active", **medication: Any) -> dict[str, Any]:
    return {
        "resourceType": "MedicationRequest",
        "id": "mr-cell",
        "status": status,
        "intent": "order",
        "subject": SUBJECT,
        "authoredOn": day(-10),
        **medication,
    }


def _medication(resource_id: str, **fields: Any) -> dict[str, Any]:
    return {"resourceType": "Medication", "id": resource_id, **fields}


Expected = set[tuple[str, str]]  # (agent id, event kind)

CELLS: list[tuple[str, list[dict[str, Any]], list[dict[str, Any]], Expected]] = [
    (
        "MR-coding",
        [_request(medicationCodeableConcept=KEYTRUDA)],
        [],
        {("pembrolizumab", "ongoing")},
    ),
    (
        "MR-text",
        [_request(medicationCodeableConcept={"text": "PEMBROLIZUMAB 100 MG/4 ML IV SOLN"})],
        [],
        {("pembrolizumab", "ongoing")},
    ),
    (
        "MR-contained-Medication",
        [
            _request(
                medicationReference={"reference": "#med1"},
                contained=[_medication("med1", code={"coding": [{"system": ATC, "code": "L01FF01"}]})],
            )
        ],
        [],
        {("nivolumab", "ongoing")},
    ),
    (
        "MR-referenced-Medication",
        [
            _request(medicationReference={"reference": "Medication/med-ref"}),
            _medication("med-ref", code={"text": "Opdivo 10 mg/mL"}),
        ],
        [],
        {("nivolumab", "ongoing")},
    ),
    (
        "MR-Medication-ingredient",
        [
            _request(medicationReference={"reference": "Medication/med-ing"}),
            _medication(
                "med-ing",
                code={"text": "Immunotherapy infusion bag"},
                ingredient=[{"itemCodeableConcept": {"coding": [{"system": RXNORM, "code": "1547545"}]}}],
            ),
        ],
        [],
        {("pembrolizumab", "ongoing")},
    ),
    (
        "MR-reference-display",
        [_request(medicationReference={"reference": "Medication/unknown", "display": "Tecentriq 1200 mg"})],
        [],
        {("atezolizumab", "ongoing")},
    ),
    (
        "MR-completed-CAR-T",
        [_request(status="completed", medicationCodeableConcept=YESCARTA_TEXT)],
        [],
        {("axicabtagene-ciloleucel", "given")},
    ),
    (
        "MR-draft-label",
        [_request(status="draft", medicationCodeableConcept={"text": "Bridging therapy: glofitamab 2.5 mg"})],
        [],
        {("glofitamab", "planned")},
    ),
    (
        "MA-R4",
        [
            {
                "resourceType": "MedicationAdministration",
                "id": "ma-cell",
                "status": "completed",
                "medicationCodeableConcept": {"text": "Carteyva (relmacabtagene autoleucel)"},
                "subject": SUBJECT,
                "effectiveDateTime": day(-5),
            }
        ],
        [],
        {("relmacabtagene-autoleucel", "given")},
    ),
    (
        "MA-R5-concept",
        [
            {
                "resourceType": "MedicationAdministration",
                "id": "ma-r5",
                "status": "completed",
                "medication": {"concept": {"coding": [{"system": ATC, "code": "L01FF01"}]}},
                "subject": SUBJECT,
                "occurenceDateTime": day(-5),
            }
        ],
        [],
        {("nivolumab", "given")},
    ),
    (
        "MS-R4-active",
        [
            {
                "resourceType": "MedicationStatement",
                "id": "ms-cell",
                "status": "active",
                "medicationCodeableConcept": {"text": "Tyvyt (sintilimab) 200 mg q3w"},
                "subject": SUBJECT,
                "effectivePeriod": {"start": day(-60)},
            }
        ],
        [],
        {("sintilimab", "ongoing")},
    ),
    (
        "MS-R5-reference",
        [
            {
                "resourceType": "MedicationStatement",
                "id": "ms-r5",
                "status": "recorded",
                "medication": {"reference": {"reference": "Medication/med-r5"}},
                "subject": SUBJECT,
                "effectiveDateTime": day(-3),
            },
            _medication("med-r5", code={"text": "Tecartus"}),
        ],
        [],
        {("brexucabtagene-autoleucel", "given")},
    ),
    (
        "MD-NDC",
        [
            {
                "resourceType": "MedicationDispense",
                "id": "md-cell",
                "status": "completed",
                "medicationCodeableConcept": {"coding": [{"system": NDC, "code": "00006302602"}]},
                "subject": SUBJECT,
                "whenHandedOver": day(-7),
            }
        ],
        [],
        {("pembrolizumab", "given")},
    ),
    (
        "Procedure-CPT",
        [
            {
                "resourceType": "Procedure",
                "id": "proc-cpt",
                "status": "completed",
                "code": {"coding": [{"system": CPT, "code": "38228"}]},
                "subject": SUBJECT,
                "performedDateTime": day(-4),
            }
        ],
        [],
        {("car-t-product-not-named", "given")},
    ),
    (
        "Procedure-ICD-10-PCS",
        [
            {
                "resourceType": "Procedure",
                "id": "proc-pcs",
                "status": "completed",
                "code": {"coding": [{"system": PCS, "code": "XW033H7"}]},
                "subject": SUBJECT,
                "performedDateTime": day(-4),
            }
        ],
        [],
        {("axicabtagene-ciloleucel", "given")},
    ),
    (
        "Procedure-text",
        [
            {
                "resourceType": "Procedure",
                "id": "proc-text",
                "status": "completed",
                "code": {"text": "Fucaso (equecabtagene autoleucel) infusion"},
                "subject": SUBJECT,
                "performedDateTime": day(-4),
            }
        ],
        [],
        {("equecabtagene-autoleucel", "given")},
    ),
    (
        "Procedure-usedCode",
        [
            {
                "resourceType": "Procedure",
                "id": "proc-used",
                "status": "completed",
                "code": {"text": "Cellular therapy infusion"},
                "usedCode": [{"text": "Kymriah"}],
                "subject": SUBJECT,
                "performedDateTime": day(-4),
            }
        ],
        [],
        {("tisagenlecleucel", "given")},
    ),
    (
        "ServiceRequest-R4",
        [
            {
                "resourceType": "ServiceRequest",
                "id": "sr-cell",
                "status": "active",
                "intent": "order",
                "code": {"text": "Breyanzi infusion"},
                "subject": SUBJECT,
                "authoredOn": day(-2),
            }
        ],
        [],
        {("lisocabtagene-maraleucel", "planned")},
    ),
    (
        "ServiceRequest-R5-CodeableReference",
        [
            {
                "resourceType": "ServiceRequest",
                "id": "sr-r5",
                "status": "completed",
                "intent": "order",
                "code": {"concept": {"text": "Abecma infusion"}},
                "subject": SUBJECT,
                "occurrenceDateTime": day(-6),
            }
        ],
        [],
        {("idecabtagene-vicleucel", "given")},
    ),
    (
        "draftOrders-MedicationRequest",
        [],
        [{**_request(status="draft", medicationCodeableConcept=KEYTRUDA), "id": "draft-cell"}],
        {("pembrolizumab", "planned")},
    ),
    (
        "draftOrders-Medication-in-Bundle",
        [],
        [
            {
                **_request(status="draft", medicationReference={"reference": "Medication/draft-med"}),
                "id": "draft-ref",
            },
            _medication("draft-med", code={"text": "Imfinzi 500 mg"}),
        ],
        {("durvalumab", "planned")},
    ),
    (
        "not-exposure-entered-in-error",
        [{**_request(medicationCodeableConcept=KEYTRUDA), "status": "entered-in-error"}],
        [],
        set(),
    ),
    (
        "not-exposure-doNotPerform",
        [{**_request(medicationCodeableConcept=KEYTRUDA), "doNotPerform": True}],
        [],
        set(),
    ),
    (
        "not-exposure-premedication-reason",
        [
            _request(
                medicationCodeableConcept={"text": "diphenhydramine 25 mg IV, premedication for Keytruda"},
                reasonCode=[{"text": "Premedication before pembrolizumab"}],
            )
        ],
        [],
        set(),
    ),
]


@pytest.mark.parametrize(
    ("resources", "drafts", "expected"), [pytest.param(r, d, e, id=cell) for cell, r, d, e in CELLS]
)
def test_exposure_is_read_from_every_element_an_ehr_uses(
    resources: list[dict[str, Any]], drafts: list[dict[str, Any]], expected: Expected
) -> None:
    assert {(event.agent.id, event.kind) for event in timeline(resources, drafts).therapy} == expected


ICD10 = "http://hl7.org/fhir/sid/icd-10-cm"


def _crs_row(**fields: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "resourceType": "Observation",
        "id": "crs-row",
        "status": "final",
        "code": {"text": "ASTCT CRS grade"},
        "subject": SUBJECT,
        "effectiveDateTime": day(-4),
    }
    row.update(fields)
    return row


IMPLIED = [
    ("Condition-T80.82XA", [condition(-4, code="T80.82XA")], "warning"),
    ("Condition-T80.82XS-sequela", [condition(-4, code="T80.82XS")], "warning"),
    ("Condition-D89.832", [condition(-4, code="D89.832")], "warning"),
    ("Condition-D89.839-resolved", [condition(-4, code="D89.839", clinical="resolved")], "warning"),
    ("Condition-CRS-text", [condition(-4, text="Cytokine release syndrome, grade 1")], "warning"),
    ("Condition-T80.82-text", [condition(-4, text="Complication of CAR-T cell therapy")], "warning"),
    ("Condition-no-CRS", [condition(-4, text="No cytokine release syndrome")], None),
    ("Observation-CRS-grade-row", [_crs_row(valueInteger=2)], "warning"),
    ("Observation-CRS-grade-text", [_crs_row(valueString="Grade 1")], "warning"),
    ("Observation-CRS-grade-0", [_crs_row(valueInteger=0)], None),
    ("Observation-CRS-none", [_crs_row(valueString="None")], None),
    (
        "Observation-coded-value-D89.833",
        [
            _crs_row(
                code={"text": "Problem"},
                valueCodeableConcept={"coding": [{"system": ICD10, "code": "D89.833"}]},
            )
        ],
        "warning",
    ),
    ("Condition-CRS-acronym-only", [condition(-4, text="CRS, chronic rhinosinusitis")], None),
]


@pytest.mark.parametrize(("resources", "expected"), [pytest.param(r, e, id=cell) for cell, r, e in IMPLIED])
def test_a_diagnosis_that_implies_immune_effector_cell_therapy_attributes_a_new_finding(
    resources: list[dict[str, Any]], expected: str | None
) -> None:
    found = topics(cards([*resources, note("new confusion", -1)]))
    assert found.get("possible-neurotoxicity") == expected
