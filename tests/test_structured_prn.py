"""A standing order in structure (docs/clinical-validation.md row 226): a MedicationRequest or
MedicationStatement whose every dosage is "as needed" (FHIR Dosage.asNeeded[x]) documents nothing by
its reason, as "PRN" in its text does not; a scheduled dosage beside it, or a dose given
(MedicationAdministration), still documents the finding. The row id names the cell:
"<shape> | <expected>"."""

from __future__ import annotations

from typing import Any

import pytest
from clinical_support import administration, cards, order, timeline, topics

NEURO = "possible-neurotoxicity"
ICANS = {"text": "ICANS"}
MYOSITIS = {"text": "immune-related myositis"}


def car_t() -> list[dict[str, Any]]:
    return [administration("Yescarta (axicabtagene ciloleucel) suspension for IV infusion", -6)]


def prn_order(name: str, dosages: list[dict[str, Any]], **reason: Any) -> dict[str, Any]:
    resource = order(name, -1)
    resource["dosageInstruction"] = dosages
    resource.update(reason)
    return resource


def statement(name: str, dosages: list[dict[str, Any]], **reason: Any) -> dict[str, Any]:
    resource = order(name, -1)
    resource.update(
        resourceType="MedicationStatement", status="active", effectiveDateTime=resource["authoredOn"]
    )
    del resource["intent"], resource["authoredOn"]
    resource["dosage"] = dosages
    resource.update(reason)
    return resource


def service_request(text: str, **details: Any) -> dict[str, Any]:
    resource = order(text, -1)
    resource.update(resourceType="ServiceRequest", code={"text": text}, **details)
    del resource["medicationCodeableConcept"]
    return resource


def found(resources: list[dict[str, Any]]) -> list[str]:
    return sorted(finding.kind.id for finding in timeline(resources).findings)


AS_NEEDED = {"text": "10 mg IV every 6 hours", "asNeededBoolean": True}
SCHEDULED = {"text": "10 mg IV every 6 hours", "asNeededBoolean": False}

# case: (resource, the finding kinds expected)
CASES: dict[str, tuple[dict[str, Any], list[str]]] = {
    "R4 asNeededBoolean, reasonCode ICANS | nothing": (
        prn_order("dexamethasone 10 MG/ML injection", [AS_NEEDED], reasonCode=[ICANS]),
        [],
    ),
    "R4 asNeededCodeableConcept ICANS, reasonCode ICANS | nothing": (
        prn_order(
            "dexamethasone 10 MG/ML injection",
            [{"text": "10 mg IV q6h", "asNeededCodeableConcept": {"text": "ICANS grade 2 or higher"}}],
            reasonCode=[ICANS],
        ),
        [],
    ),
    "R4 asNeededBoolean, indication in the dosage text | nothing": (
        prn_order(
            "dexamethasone 10 MG/ML injection", [{"text": "10 mg IV for ICANS", "asNeededBoolean": True}]
        ),
        [],
    ),
    "R5 asNeeded and asNeededFor, reason.concept ICANS | nothing": (
        prn_order(
            "dexamethasone 10 MG/ML injection",
            [{"text": "10 mg IV q6h", "asNeeded": True, "asNeededFor": [ICANS]}],
            reason=[{"concept": ICANS}],
        ),
        [],
    ),
    "R5 asNeededFor alone, reason.concept ICANS | nothing": (
        prn_order(
            "dexamethasone 10 MG/ML injection",
            [{"text": "10 mg IV q6h", "asNeededFor": [ICANS]}],
            reason=[{"concept": ICANS}],
        ),
        [],
    ),
    "German Dexamethason asNeededBoolean, reasonCode ICANS Grad 2 | nothing": (
        prn_order(
            "Dexamethason 4 mg/ml Injektionslösung",
            [{"text": "10 mg i.v. alle 6 h", "asNeededBoolean": True}],
            reasonCode=[{"text": "ICANS Grad 2"}],
        ),
        [],
    ),
    "methylprednisolone asNeededBoolean for irAE myositis | nothing": (
        prn_order("methylprednisolone 1 g IV", [AS_NEEDED], reasonCode=[MYOSITIS]),
        [],
    ),
    "MedicationStatement asNeededBoolean, reasonCode ICANS | nothing": (
        statement("dexamethasone 4 MG tablet", [AS_NEEDED], reasonCode=[ICANS]),
        [],
    ),
    "ServiceRequest plasma exchange asNeededBoolean for myasthenic crisis | nothing": (
        service_request(
            "therapeutic plasma exchange", asNeededBoolean=True, reasonCode=[{"text": "myasthenic crisis"}]
        ),
        [],
    ),
    "ServiceRequest IVIG asNeededCodeableConcept Guillain-Barre | nothing": (
        service_request(
            "IVIG 0.4 g/kg daily for 5 days",
            asNeededCodeableConcept={"text": "Guillain-Barre syndrome"},
            reasonCode=[{"text": "Guillain-Barre syndrome"}],
        ),
        [],
    ),
    "ServiceRequest plasma exchange, reasonCode myasthenic crisis | myasthenia": (
        service_request("therapeutic plasma exchange", reasonCode=[{"text": "myasthenic crisis"}]),
        ["myasthenia-gravis"],
    ),
    "asNeededBoolean false, reasonCode ICANS | ICANS": (
        prn_order("dexamethasone 10 MG/ML injection", [SCHEDULED], reasonCode=[ICANS]),
        ["icans"],
    ),
    "no asNeeded at all, reasonCode ICANS | ICANS": (
        prn_order(
            "dexamethasone 10 MG/ML injection", [{"text": "10 mg IV every 6 hours"}], reasonCode=[ICANS]
        ),
        ["icans"],
    ),
    "a scheduled dose beside a PRN one, reasonCode ICANS | ICANS": (
        prn_order("dexamethasone 10 MG/ML injection", [SCHEDULED, AS_NEEDED], reasonCode=[ICANS]),
        ["icans"],
    ),
    "MedicationStatement scheduled, reasonCode ICANS | ICANS": (
        statement("dexamethasone 4 MG tablet", [{"text": "4 mg twice daily"}], reasonCode=[ICANS]),
        ["icans"],
    ),
}


@pytest.mark.parametrize(("resource", "expected"), CASES.values(), ids=CASES.keys())
def test_an_order_as_needed_in_structure_documents_nothing(
    resource: dict[str, Any], expected: list[str]
) -> None:
    assert found([resource]) == expected


def test_a_dose_given_from_a_prn_order_documents_the_finding() -> None:
    standing = prn_order("dexamethasone 10 MG/ML injection", [AS_NEEDED], reasonCode=[ICANS])
    given = administration("dexamethasone 10 MG/ML injection", -1)
    given["dosage"] = {"text": "10 mg IV for ICANS"}
    given["request"] = {"reference": f"MedicationRequest/{standing['id']}"}
    assert found([standing, given]) == ["icans"]


def test_a_car_t_order_set_with_a_prn_steroid_raises_no_neurotoxicity_card() -> None:
    standing = prn_order("dexamethasone 10 MG/ML injection", [AS_NEEDED], reasonCode=[ICANS])
    assert topics(cards([*car_t(), standing])).get(NEURO) is None
    scheduled = prn_order("dexamethasone 10 MG/ML injection", [SCHEDULED], reasonCode=[ICANS])
    assert topics(cards([*car_t(), scheduled])).get(NEURO) == "critical"
