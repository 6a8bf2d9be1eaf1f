"""A standing order in structure (docs/clinical-validation.md row 226): a MedicationRequest or
MedicationStatement whose every dosage is "as needed" (FHIR Dosage.asNeeded[x]) documents nothing by
its reason, as "PRN" in its text does not; a scheduled dosage beside it, or a dose given
(MedicationAdministration), still documents the finding; a dose given from a PRN order with no reason
of its own (only `request` / `basedOn` to the order) reads that order's reason. The row id names the cell:
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


def given_from(
    standing: dict[str, Any], name: str = "dexamethasone 10 MG/ML injection", **details: Any
) -> dict[str, Any]:
    """A dose charted on the MAR with a reference to its order and no reason of its own (Epic, Cerner)."""
    given = administration(name, -1)
    given.update(request={"reference": f"MedicationRequest/{standing['id']}"}, dosage={"text": "10 mg IV"})
    given.update(details)
    return given


def plasma_exchange_done(standing: dict[str, Any], **details: Any) -> dict[str, Any]:
    return {
        "resourceType": "Procedure",
        "id": f"proc-{standing['id']}",
        "status": "completed",
        "code": {"text": "therapeutic plasma exchange"},
        "subject": standing["subject"],
        "performedDateTime": standing["authoredOn"],
        "basedOn": [{"reference": f"ServiceRequest/{standing['id']}"}],
        **details,
    }


def _given_cases() -> dict[str, tuple[list[dict[str, Any]], list[str]]]:
    prn = prn_order("dexamethasone 10 MG/ML injection", [AS_NEEDED], reasonCode=[ICANS])
    prn_for = prn_order(
        "dexamethasone 10 MG/ML injection",
        [{"text": "10 mg IV q6h", "asNeededCodeableConcept": {"text": "ICANS grade 2 or higher"}}],
    )
    r5 = prn_order(
        "dexamethasone 10 MG/ML injection",
        [{"text": "10 mg IV q6h", "asNeeded": True, "asNeededFor": [ICANS]}],
    )
    german = prn_order(
        "Dexamethason 4 mg/ml Injektionslösung",
        [{"text": "10 mg i.v. alle 6 h", "asNeededBoolean": True}],
        reasonCode=[{"text": "ICANS Grad 2"}],
    )
    myositis = prn_order("methylprednisolone 1 g IV", [AS_NEEDED], reasonCode=[MYOSITIS])
    crs = prn_order("dexamethasone 10 MG/ML injection", [AS_NEEDED], reasonCode=[{"text": "CRS grade 2"}])
    prophylaxis = prn_order(
        "dexamethasone 10 MG/ML injection", [AS_NEEDED], reasonCode=[{"text": "ICANS prophylaxis"}]
    )
    void = prn_order("dexamethasone 10 MG/ML injection", [AS_NEEDED], reasonCode=[ICANS])
    void["status"] = "entered-in-error"
    scheduled = prn_order("dexamethasone 10 MG/ML injection", [SCHEDULED], reasonCode=[ICANS])
    absent = prn_order("dexamethasone 10 MG/ML injection", [AS_NEEDED], reasonCode=[ICANS])
    contained = dict(prn, id="prn-order")
    plex = service_request(
        "therapeutic plasma exchange", asNeededBoolean=True, reasonCode=[{"text": "myasthenic crisis"}]
    )
    return {
        "dose given from a PRN order, reasonCode ICANS | ICANS": ([prn, given_from(prn)], ["icans"]),
        "dose given from a PRN order, asNeededCodeableConcept ICANS | ICANS": (
            [prn_for, given_from(prn_for)],
            ["icans"],
        ),
        "dose given from an R5 PRN order, asNeededFor ICANS | ICANS": ([r5, given_from(r5)], ["icans"]),
        "Dexamethason given from a German PRN order, ICANS Grad 2 | ICANS": (
            [german, given_from(german, "Dexamethason 4 mg/ml Injektionslösung")],
            ["icans"],
        ),
        "methylprednisolone given from a PRN order for irAE myositis | myositis": (
            [myositis, given_from(myositis, "methylprednisolone 1 g IV")],
            ["myositis"],
        ),
        "dose given from a PRN order in the administration (contained) | ICANS": (
            [given_from(contained, contained=[contained], request={"reference": "#prn-order"})],
            ["icans"],
        ),
        "plasma exchange done from a ServiceRequest as needed for myasthenic crisis | myasthenia": (
            [plex, plasma_exchange_done(plex)],
            ["myasthenia-gravis"],
        ),
        "dose given with a reason of its own (nausea) from a PRN order for ICANS | nothing": (
            [prn, given_from(prn, reasonCode=[{"text": "nausea"}])],
            [],
        ),
        "dose given from a PRN order for CRS | nothing": ([crs, given_from(crs)], []),
        "dose given from a PRN order for ICANS prophylaxis | nothing": (
            [prophylaxis, given_from(prophylaxis)],
            [],
        ),
        "dose given from a voided PRN order | nothing": ([void, given_from(void)], []),
        "dose not given (not-done) from a PRN order for ICANS | nothing": (
            [prn, given_from(prn, status="not-done")],
            [],
        ),
        "dose given, its PRN order not in the record | nothing": ([given_from(absent)], []),
        "dose given from a scheduled order for ICANS | ICANS once (the order)": (
            [scheduled, given_from(scheduled)],
            ["icans"],
        ),
    }


GIVEN_CASES = _given_cases()


@pytest.mark.parametrize(("resources", "expected"), GIVEN_CASES.values(), ids=GIVEN_CASES.keys())
def test_a_dose_given_from_a_prn_order_reads_that_orders_reason(
    resources: list[dict[str, Any]], expected: list[str]
) -> None:
    assert found(resources) == expected


def test_a_dose_given_from_a_car_t_prn_steroid_order_raises_the_neurotoxicity_card() -> None:
    standing = prn_order("dexamethasone 10 MG/ML injection", [AS_NEEDED], reasonCode=[ICANS])
    assert topics(cards([*car_t(), standing])).get(NEURO) is None
    assert topics(cards([*car_t(), standing, given_from(standing)])).get(NEURO) == "critical"
