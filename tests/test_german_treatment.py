"""German treatment evidence (docs/clinical-validation.md row 224): a German standing / conditional
order ("bei Bedarf bei ICANS Grad 2", "falls ICANS") documents nothing, as the English "as needed for
ICANS" does not; a German drug name given for a finding ("Dexamethason 8 mg i.v. wegen ICANS Grad 2")
documents it on the administration's date, as the English name does. Bare "bei" stays a reason
("verabreicht bei ICANS Grad 2"). The row id names the cell: "<fact> | <where> | <expected>"."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from clinical_support import SUBJECT, TODAY, administration, cards, day, order, timeline, topics

NEURO = "possible-neurotoxicity"
GIVEN_ON = date.fromordinal(TODAY.toordinal() - 2)

Found = list[tuple[str, date]]


def car_t(offset: int = -60) -> list[dict[str, Any]]:
    return [administration("Carvykti (Ciltacabtagen-Autoleucel) Infusionsdispersion", offset)]


def findings(resources: list[dict[str, Any]]) -> Found:
    return sorted((f.kind.id, f.on) for f in timeline(resources).findings)


def ordered(name: str, text: str, where: str) -> dict[str, Any]:
    """A MedicationRequest for `name`, `text` in dosageInstruction.text, patientInstruction or a note."""
    resource = order(name, -2)
    if where == "dosageInstruction.text":
        resource["dosageInstruction"] = [{"text": text}]
    elif where == "patientInstruction":
        resource["dosageInstruction"] = [{"patientInstruction": text}]
    else:
        resource["note"] = [{"text": text}]
    return resource


# --- 1. German conditional words: a standing order documents nothing --------------------------------------

CONDITIONAL = [
    "10 mg IV bei Bedarf bei ICANS Grad 2",
    "10 mg i.v. b. B. bei ICANS Grad 2",
    "10 mg i.v. b.B. bei ICANS Grad 2",
    "10 mg i.v. nach Bedarf bei ICANS",
    "10 mg i.v. im Bedarfsfall bei ICANS",
    "Bedarfsmedikation bei ICANS Grad 2",
    "Bedarfsmedikament bei ICANS",
    "falls ICANS Grad 2",
    "wenn ICANS Grad 2 oder höher",
    "im Falle eines ICANS Grad 2",
    "im Fall von ICANS",
    "ggf. bei ICANS Grad 2",
    "gegebenenfalls bei ICANS",
    "bei Auftreten von ICANS Grad 2",
    "sollte ein ICANS auftreten, 10 mg i.v.",
    "gemäß Protokoll bei ICANS Grad 2",
]
PLACES = ["dosageInstruction.text", "patientInstruction", "note"]
NAMES = ["dexamethasone 10 MG", "Dexamethason 10 mg", "Fortecortin 4 mg", "Methylprednisolon 1 g"]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("where", PLACES)
@pytest.mark.parametrize("text", CONDITIONAL)
def test_a_german_conditional_indication_documents_nothing(text: str, where: str, name: str) -> None:
    assert findings([ordered(name, text, where)]) == []


# --- 2. German names given or ordered for a finding document it, dated on the treatment ---------------------


def referenced_medication(code_text: str, reason_text: str) -> list[dict[str, Any]]:
    medication = {"resourceType": "Medication", "id": "med-dex", "code": {"text": code_text}}
    given = {
        "resourceType": "MedicationAdministration",
        "id": "ma-ref",
        "status": "completed",
        "medicationReference": {"reference": "Medication/med-dex"},
        "subject": SUBJECT,
        "effectiveDateTime": day(-2),
        "dosage": {"text": reason_text},
    }
    return [medication, given]


def stated(name: str, text: str) -> dict[str, Any]:
    resource = administration(name, -2)
    resource["resourceType"] = "MedicationStatement"
    resource["dosage"] = [{"text": text}]
    return resource


def with_dosage(resource: dict[str, Any], text: str) -> dict[str, Any]:
    resource["dosage"] = {"text": text}
    return resource


GIVEN_FOR: list[tuple[str, list[dict[str, Any]], Found]] = [
    (
        "Dexamethason wegen ICANS | MedicationAdministration name | icans",
        [administration("Dexamethason 8 mg i.v. wegen ICANS Grad 2", -2)],
        [("icans", GIVEN_ON)],
    ),
    (
        "Dexamethason | MedicationAdministration dosage.text 'verabreicht bei ICANS' | icans",
        [with_dosage(administration("Dexamethason 8 mg", -2), "verabreicht bei ICANS Grad 2")],
        [("icans", GIVEN_ON)],
    ),
    (
        "Medication code.text Dexamethason | medicationReference | icans",
        referenced_medication("Dexamethason", "8 mg i.v. wegen ICANS Grad 2"),
        [("icans", GIVEN_ON)],
    ),
    (
        "Medication code.coding.display Dexamethason | medicationReference | icans",
        [
            {
                "resourceType": "Medication",
                "id": "med-dex",
                "code": {
                    "coding": [
                        {
                            "system": "http://fhir.de/CodeSystem/ifa/pzn",
                            "code": "0",
                            "display": "Dexamethason 8 mg Injektionslösung",
                        }
                    ]
                },
            },
            referenced_medication("x", "aufgrund ICANS Grad 2")[1],
        ],
        [("icans", GIVEN_ON)],
    ),
    (
        "Methylprednisolon zur Behandlung | MedicationRequest dosageInstruction | icans",
        [ordered("Methylprednisolon 1 g i.v.", "zur Behandlung des ICANS Grad 3", "dosageInstruction.text")],
        [("icans", GIVEN_ON)],
    ),
    (
        "Urbason | MedicationStatement dosage | icans",
        [stated("Urbason 1000 mg", "wegen ICANS")],
        [("icans", GIVEN_ON)],
    ),
    (
        "Steroidstoß | MedicationAdministration | myasthenia",
        [administration("Steroidstoß (Methylprednisolon) wegen Myasthenia gravis", -2)],
        [("myasthenia-gravis", GIVEN_ON)],
    ),
    (
        "Immunglobuline | MedicationAdministration | guillain-barre",
        [administration("Intravenöse Immunglobuline 0,4 g/kg wegen Guillain-Barré-Syndrom", -2)],
        [("guillain-barre", GIVEN_ON)],
    ),
    # Negative cells: the German names create no new false findings.
    (
        "Dexamethason ICANS-Prophylaxe | MedicationRequest | silent",
        [ordered("Dexamethason 10 mg", "zur ICANS-Prophylaxe", "dosageInstruction.text")],
        [],
    ),
    (
        "Dexamethason bei Hirnmetastasen | MedicationAdministration | silent",
        [administration("Dexamethason 4 mg wegen Hirnödem bei Hirnmetastasen", -2)],
        [],
    ),
    (
        "Prednisolon ohne Indikation | MedicationStatement | silent",
        [stated("Prednisolon 5 mg", "1-0-0")],
        [],
    ),
    (
        "Tocilizumab wegen CRS | MedicationAdministration | silent",
        [administration("Tocilizumab 8 mg/kg i.v. wegen CRS Grad 2", -2)],
        [],
    ),
    (
        "Levetiracetam Krampfprophylaxe | MedicationRequest | silent",
        [ordered("Levetiracetam 500 mg", "1-0-1 zur Krampfprophylaxe", "dosageInstruction.text")],
        [],
    ),
]


@pytest.mark.parametrize(("resources", "expected"), [pytest.param(r, e, id=n) for n, r, e in GIVEN_FOR])
def test_a_german_treatment_given_for_a_finding_documents_it(
    resources: list[dict[str, Any]], expected: Found
) -> None:
    assert findings(resources) == expected


def test_a_plasmapherese_procedure_for_guillain_barre_documents_it() -> None:
    procedure = {
        "resourceType": "Procedure",
        "id": "pe",
        "status": "completed",
        "code": {"text": "Plasmapherese"},
        "subject": SUBJECT,
        "performedDateTime": day(-2),
        "reasonCode": [{"text": "Guillain-Barré-Syndrom"}],
    }
    assert findings([procedure]) == [("guillain-barre", GIVEN_ON)]


# --- 3. English behaviour unchanged ------------------------------------------------------------------------

ENGLISH: list[tuple[str, dict[str, Any], Found]] = [
    (
        "as needed for ICANS | order | silent",
        ordered("dexamethasone 10 MG", "10 mg IV as needed for ICANS grade 2", "dosageInstruction.text"),
        [],
    ),
    (
        "if ICANS | order | silent",
        ordered("dexamethasone 10 MG", "give if ICANS grade 2 or higher", "note"),
        [],
    ),
    (
        "q6h for ICANS | order | icans",
        ordered("dexamethasone 10 MG", "10 mg IV q6h for ICANS", "dosageInstruction.text"),
        [("icans", GIVEN_ON)],
    ),
    (
        "given for ICANS | administration | icans",
        administration("dexamethasone 10 mg IV for ICANS grade 2", -2),
        [("icans", GIVEN_ON)],
    ),
]


@pytest.mark.parametrize(("resource", "expected"), [pytest.param(r, e, id=n) for n, r, e in ENGLISH])
def test_the_english_treatment_reading_is_unchanged(resource: dict[str, Any], expected: Found) -> None:
    assert findings([resource]) == expected


# --- 4. the hook: a CAR-T patient with a German PRN order and no ICANS gets no neurotoxicity card ----------


@pytest.mark.parametrize(
    ("resource", "indicator"),
    [
        pytest.param(
            ordered("Dexamethason 10 mg", "10 mg i.v. bei Bedarf bei ICANS Grad 2", "dosageInstruction.text"),
            None,
            id="PRN Dexamethason bei Bedarf bei ICANS | no ICANS | no card",
        ),
        pytest.param(
            ordered("dexamethasone 10 MG", "falls ICANS Grad 2", "patientInstruction"),
            None,
            id="dexamethasone falls ICANS | no ICANS | no card",
        ),
        pytest.param(
            administration("Dexamethason 8 mg i.v. wegen ICANS Grad 2", -2),
            "critical",
            id="Dexamethason wegen ICANS Grad 2 given | card",
        ),
    ],
)
def test_a_german_prn_steroid_order_raises_no_neurotoxicity_card(
    resource: dict[str, Any], indicator: str | None
) -> None:
    assert topics(cards([*car_t(), resource])).get(NEURO) == indicator
