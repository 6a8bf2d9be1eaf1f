"""German treatment review of the German treatment evidence (docs/clinical-validation.md row 225): records
in the shapes a German EHR sends. German chart words and brands given for a finding document it
("Kortison-Stoß wegen ICANS Grad 3", "Dexa 8 mg", "Solu-Decortin H", "Privigen wegen GBS"); German
standing-order words ("sofern", "Reserve", "b.Bed.") and German prevention / risk wordings ("zur
Vorbeugung eines ICANS", "ICANS-Risiko") document nothing. The row id names the cell:
"<record> | <where> | <expected>"."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from clinical_support import TODAY, administration, cards, note, order, timeline, topics

NEURO = "possible-neurotoxicity"
GIVEN_ON = date.fromordinal(TODAY.toordinal() - 2)
ATC = "http://fhir.de/CodeSystem/bfarm/atc"

Found = list[tuple[str, date]]


def findings(resources: list[dict[str, Any]]) -> Found:
    return sorted((f.kind.id, f.on) for f in timeline(resources).findings)


def given(name: str, dosage: str, coding: list[dict[str, str]] | None = None) -> dict[str, Any]:
    resource = administration(name, -2)
    resource["dosage"] = {"text": dosage}
    if coding:
        resource["medicationCodeableConcept"]["coding"] = coding
    return resource


def ordered(name: str, instruction: str) -> dict[str, Any]:
    resource = order(name, -2)
    resource["dosageInstruction"] = [{"text": instruction}]
    return resource


# --- 1. German chart words and brands given for a finding document it --------------------------------------

GIVEN_FOR: list[tuple[str, dict[str, Any], Found]] = [
    (
        "Dexa 10 mg | dosage 'gegeben wegen ICANS Grad 2' | icans",
        given("Dexa 10 mg i.v.", "gegeben wegen ICANS Grad 2"),
        [("icans", GIVEN_ON)],
    ),
    (
        "Dexa-Stoß | dosage 'i.R. ICANS Grad 3' | icans",
        given("Dexa-Stoß 40 mg", "i.R. ICANS Grad 3"),
        [("icans", GIVEN_ON)],
    ),
    (
        "Dexa, ATC H02AB02 without display | dosage 'wegen ICANS' | icans",
        given("Dexa 8 mg", "wegen ICANS Grad 2", [{"system": ATC, "code": "H02AB02"}]),
        [("icans", GIVEN_ON)],
    ),
    (
        "Kortison-Stoß | dosage 'wegen ICANS Grad 3' | icans",
        given("Kortison-Stoß", "wegen ICANS Grad 3"),
        [("icans", GIVEN_ON)],
    ),
    (
        "Cortison i.v. | dosage 'wegen Myositis' | myositis",
        given("Cortison i.v.", "wegen Myositis unter Pembrolizumab"),
        [("myositis", GIVEN_ON)],
    ),
    (
        "Cortisonstoss | dosage 'aufgrund Enzephalitis' | encephalitis",
        given("Cortisonstoss", "aufgrund Autoimmun-Enzephalitis"),
        [("encephalitis", GIVEN_ON)],
    ),
    (
        "Glukokortikoide | dosage 'wegen ICI-Myositis' | myositis",
        given("Glukokortikoide hochdosiert", "wegen ICI-Myositis"),
        [("myositis", GIVEN_ON)],
    ),
    (
        "Solu-Decortin H 250 mg | dosage 'wegen ICANS Grad 3' | icans",
        given("Solu-Decortin H 250 mg", "wegen ICANS Grad 3"),
        [("icans", GIVEN_ON)],
    ),
    (
        "Decortin 100 mg | dosage 'wegen Myositis' | myositis",
        given("Decortin 100 mg", "wegen Myositis"),
        [("myositis", GIVEN_ON)],
    ),
    (
        "Privigen | dosage 'wegen Guillain-Barré-Syndrom' | guillain-barre",
        given("Privigen 0,4 g/kg", "wegen Guillain-Barré-Syndrom"),
        [("guillain-barre", GIVEN_ON)],
    ),
    (
        "Octagam | dosage 'bei Myasthenia gravis' | myasthenia",
        given("Octagam 10 % 2 g/kg", "bei Myasthenia gravis"),
        [("myasthenia-gravis", GIVEN_ON)],
    ),
    ("Kiovig | dosage 'wegen CIDP' | cidp", given("Kiovig 0,4 g/kg/d", "wegen CIDP"), [("cidp", GIVEN_ON)]),
    # Negative cells: the new names create no new false findings.
    (
        "Privigen | 'Substitution bei Hypogammaglobulinämie nach CAR-T' | silent",
        given("Privigen 30 g", "Substitution bei Hypogammaglobulinämie nach CAR-T"),
        [],
    ),
    (
        "Kortison | 'Substitution bei Hypophysitis' | silent",
        given("Kortison 25 mg", "Substitution bei Hypophysitis"),
        [],
    ),
    ("Dexa | 'Antiemese vor Chemotherapie' | silent", given("Dexa 8 mg", "Antiemese vor Chemotherapie"), []),
    (
        "Dexa | 'wegen CRS Grad 2, kein ICANS' | silent",
        given("Dexa 10 mg", "wegen CRS Grad 2, kein ICANS"),
        [],
    ),
]


@pytest.mark.parametrize(("resource", "expected"), [pytest.param(r, e, id=n) for n, r, e in GIVEN_FOR])
def test_a_german_chart_word_or_brand_given_for_a_finding_documents_it(
    resource: dict[str, Any], expected: Found
) -> None:
    assert findings([resource]) == expected


# --- 2. German standing orders and preventive orders document nothing -------------------------------------

SILENT_ORDERS = [
    "Reserve: 10 mg i.v. bei ICANS ≥ Grad 2 gemäß SOP",
    "als Reservemedikation bei ICANS Grad 2",
    "sofern ICANS Grad ≥ 2: 10 mg i.v. alle 6 h",
    "10 mg i.v. b.Bed. bei ICANS",
    "10 mg i.v. b. Bed. bei ICANS Grad 2",
    "präventiv bei erhöhtem ICANS-Risiko",
    "zur Vorbeugung eines ICANS",
    "vorbeugend gegen ICANS",
    "Steroidprophylaxe Tag 0-2 nach Axi-Cel, ICANS-Risikoreduktion",
    "prophylaktisch gegen ICANS",
    "zur ICANS-Prophylaxe",
    "Prämedikation Teclistamab (CRS-/ICANS-Prophylaxe)",
]
NAMES = ["Dexamethason 10 mg", "Dexa 10 mg", "Fortecortin 8 mg"]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("instruction", SILENT_ORDERS)
def test_a_german_standing_or_preventive_steroid_order_documents_nothing(instruction: str, name: str) -> None:
    assert findings([ordered(name, instruction)]) == []


@pytest.mark.parametrize(
    "text",
    [
        "Dexamethason vorbeugend gegen ICANS",
        "Dexamethason zur Vorbeugung eines ICANS",
        "erhöhtes ICANS-Risiko nach Axi-Cel",
        "ICANS-Prävention mit Dexamethason besprochen",
    ],
)
def test_a_german_prevention_or_risk_wording_in_a_note_is_no_finding(text: str) -> None:
    assert findings([note(text, -1)]) == []


# --- 3. what the new cues must not hide -------------------------------------------------------------------

STILL_FOUND: list[tuple[str, dict[str, Any], list[str]]] = [
    (
        "ICANS Grad 2, Risiko einer Aspiration | note | icans",
        note("ICANS Grad 2, Risiko einer Aspiration", -1),
        ["icans"],
    ),
    (
        "ICANS Grad 3, zur Vorbeugung eines Hirnödems | note | icans",
        note("ICANS Grad 3, zur Vorbeugung eines Hirnödems Dexamethason", -1),
        ["icans"],
    ),
    (
        "Krampfanfall trotz vorbeugender Levetiracetam-Gabe | note | seizure",
        note("Krampfanfall trotz vorbeugender Levetiracetam-Gabe", -1),
        ["seizure"],
    ),
    (
        "vorbeugend Levetiracetam nach erstem Krampfanfall | note | seizure",
        note("vorbeugend Levetiracetam nach erstem Krampfanfall", -1),
        ["seizure"],
    ),
    (
        "Dexamethason 'bei ICANS Grad 2 verabreicht' | administration | icans",
        given("Dexamethason 10 mg", "bei ICANS Grad 2 verabreicht"),
        ["icans"],
    ),
    (
        "Dexa 1-1-1-1 'bei ICANS Grad 2 seit heute' | order | icans",
        ordered("Dexa 10 mg", "1-1-1-1 i.v. bei ICANS Grad 2 seit heute"),
        ["icans"],
    ),
]


@pytest.mark.parametrize(("resource", "expected"), [pytest.param(r, e, id=n) for n, r, e in STILL_FOUND])
def test_a_real_event_beside_the_new_words_stays_a_finding(
    resource: dict[str, Any], expected: list[str]
) -> None:
    assert [kind for kind, _ in findings([resource])] == expected


# --- 4. the hook: a CAR-T patient ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("resource", "indicator"),
    [
        pytest.param(
            ordered("Dexamethason 10 mg", "Reserve: 10 mg i.v. bei ICANS ≥ Grad 2 gemäß SOP"),
            None,
            id="Reserve Dexamethason bei ICANS | no ICANS | no card",
        ),
        pytest.param(
            ordered(
                "Dexamethason 10 mg p.o.", "Steroidprophylaxe Tag 0-2 nach Axi-Cel, ICANS-Risikoreduktion"
            ),
            None,
            id="Dexamethason prophylaxis | no ICANS | no card",
        ),
        pytest.param(
            given("Kortison-Stoß", "wegen ICANS Grad 3"), "critical", id="Kortison-Stoß wegen ICANS | card"
        ),
    ],
)
def test_a_car_t_patient_gets_a_neurotoxicity_card_only_for_a_treated_event(
    resource: dict[str, Any], indicator: str | None
) -> None:
    car_t = administration("Carvykti (Ciltacabtagen-Autoleucel) Infusionsdispersion", -60)
    assert topics(cards([car_t, resource])).get(NEURO) == indicator
