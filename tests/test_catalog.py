"""The therapy catalog: every agent is found by each of its codes and names, in the ways EHRs write
them, and nothing else is."""

from __future__ import annotations

from typing import Any

import pytest
from clinical_support import KNOWLEDGE_DIR, evaluator

from clinical.catalog import TherapyCatalog
from clinical.knowledge import CodeSystems, load_yaml

THERAPIES = load_yaml(KNOWLEDGE_DIR / "therapies.yaml")
SYSTEMS = CodeSystems.load(KNOWLEDGE_DIR / "code-systems.yaml")
OID_BY_ALIAS = {
    "rxnorm": "urn:oid:2.16.840.1.113883.6.88",
    "atc": "urn:oid:2.16.840.1.113883.6.73",
    "ndc": "urn:oid:2.16.840.1.113883.6.69",
}


def catalog() -> TherapyCatalog:
    return evaluator().vocabularies.catalog


def coded(alias: str, code: str, system: str | None = None) -> dict[str, Any]:
    return {"coding": [{"system": system or SYSTEMS.uri(alias), "code": code}]}


def matched_ids(concept: dict[str, Any], texts: tuple[str, ...] = ()) -> set[str]:
    return {found.agent.id for found in catalog().match([concept], texts)}


CODE_CASES = [
    pytest.param(agent["id"], code, id=f"{agent['id']}-{code['system']}-{code['code']}")
    for agent in THERAPIES["agents"]
    for code in agent.get("codes") or []
]
NAME_CASES = [
    pytest.param(agent["id"], name, id=f"{agent['id']}-{name}")
    for agent in THERAPIES["agents"]
    for name in agent["names"]
]


@pytest.mark.parametrize(("agent_id", "code"), CODE_CASES)
def test_each_code_finds_its_agent_alone_unless_unverified(agent_id: str, code: dict[str, Any]) -> None:
    found = matched_ids(coded(code["system"], str(code["code"])))
    if code["verification"] == "unverified":
        assert agent_id not in found
    else:
        assert agent_id in found


@pytest.mark.parametrize(("agent_id", "code"), CODE_CASES)
def test_each_code_finds_its_agent_together_with_its_name(agent_id: str, code: dict[str, Any]) -> None:
    agent = next(entry for entry in THERAPIES["agents"] if entry["id"] == agent_id)
    concept = coded(code["system"], str(code["code"]))
    concept["text"] = agent["names"][0]
    assert agent_id in matched_ids(concept)


@pytest.mark.parametrize(("agent_id", "name"), NAME_CASES)
def test_each_name_finds_its_agent_in_order_text(agent_id: str, name: str) -> None:
    # As pharmacy systems print it: upper case, with strength and form around the name.
    assert agent_id in matched_ids({"text": f"{name.upper()} 240 MG/24 ML IV SOLN"})


@pytest.mark.parametrize(("agent_id", "name"), NAME_CASES)
def test_each_name_finds_its_agent_in_a_coding_display(agent_id: str, name: str) -> None:
    concept = {"coding": [{"system": "urn:local", "code": "X1", "display": f"{name} injection"}]}
    assert agent_id in matched_ids(concept)


@pytest.mark.parametrize("name", THERAPIES["look_alikes"])
def test_look_alike_drugs_match_no_agent(name: str) -> None:
    assert matched_ids({"text": f"{name} 10 MG/ML injection"}) == set()


@pytest.mark.parametrize("name", [name for excluded in THERAPIES["excluded"] for name in excluded["names"]])
def test_excluded_products_match_no_agent(name: str) -> None:
    assert matched_ids({"text": f"{name} infusion"}) == set()


@pytest.mark.parametrize(
    "text",
    ["Cardizem 120 mg", "carboplatin AUC5", "ciprofloxacin 500 mg", "Opdivoish", "prepembrolizumab"],
)
def test_names_match_whole_words_only(text: str) -> None:
    assert matched_ids({"text": text}) == set()


@pytest.mark.parametrize(
    ("alias", "agent_id", "code"),
    [
        ("rxnorm", "pembrolizumab", "1657746"),
        ("atc", "nivolumab", "L01FF01"),
    ],
)
def test_hl7_oid_spelling_of_a_system_matches_like_its_uri(alias: str, agent_id: str, code: str) -> None:
    assert agent_id in matched_ids(coded(alias, code, OID_BY_ALIAS[alias]))


@pytest.mark.parametrize(
    ("system", "agent_id", "code"),
    [
        ("http://fhir.de/CodeSystem/bfarm/atc", "sugemalimab", "L01FF11"),
        ("http://fhir.de/CodeSystem/dimdi/atc", "nivolumab", "L01FF01"),
    ],
)
def test_german_atc_spelling_matches_like_the_who_atc(system: str, agent_id: str, code: str) -> None:
    assert agent_id in matched_ids(coded("atc", code, system))


@pytest.mark.parametrize(
    ("written", "expected"), [("0003-3120-01", True), ("00003312001", True), ("0003312001", False)]
)
def test_ndc_matches_in_hyphenated_and_eleven_digit_forms(written: str, expected: bool) -> None:
    assert ("nivolumab" in matched_ids(coded("ndc", written))) is expected


def test_a_named_car_t_product_hides_the_generic_car_t_entry() -> None:
    assert matched_ids({"text": "Kymriah (tisagenlecleucel) CAR-T cell infusion"}) == {"tisagenlecleucel"}


def test_an_unnamed_car_t_infusion_is_still_car_t_exposure() -> None:
    assert matched_ids({"text": "Autologous CAR-T cell infusion"}) == {"car-t-product-not-named"}


def test_every_agent_has_a_known_class_and_at_least_one_name() -> None:
    for agent in catalog().agents:
        assert agent.therapy_class in ("ici", "car_t", "t_cell_engager")
        assert agent.names
