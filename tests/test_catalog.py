"""The therapy catalog (knowledge/therapies.yaml, clinical/timeline/therapies.py): every agent is found by
each of its codes and names, in the ways EHRs write them, and nothing else is."""

from __future__ import annotations

from typing import Any

import pytest
from clinical_support import evaluator

from clinical.knowledge.schema import AgentEntry, TherapyCode
from clinical.timeline.therapies import TherapyCatalog

KNOWLEDGE = evaluator().knowledge
AGENTS = KNOWLEDGE.therapies.agents
SYSTEMS = KNOWLEDGE.systems
OID_BY_ALIAS = {
    "rxnorm": "urn:oid:2.16.840.1.113883.6.88",
    "atc": "urn:oid:2.16.840.1.113883.6.73",
    "ndc": "urn:oid:2.16.840.1.113883.6.69",
    "cpt": "urn:oid:2.16.840.1.113883.6.12",
}


def catalog() -> TherapyCatalog:
    return evaluator().vocabularies.catalog


def coded(alias: str, code: str, system: str | None = None) -> dict[str, Any]:
    return {"coding": [{"system": system or SYSTEMS.uri(alias), "code": code}]}


def matched_ids(concept: dict[str, Any], texts: tuple[str, ...] = ()) -> set[str]:
    return {found.agent.id for found in catalog().match([concept], texts)}


CODE_CASES = [
    pytest.param(agent, code, id=f"{agent.id}-{code.system}-{code.code}")
    for agent in AGENTS
    for code in agent.codes
]
VERIFIED_CODE_CASES = [case for case in CODE_CASES if case.values[1].verification != "unverified"]
UNVERIFIED_CODE_CASES = [case for case in CODE_CASES if case.values[1].verification == "unverified"]
NAME_CASES = [
    pytest.param(agent.id, name, id=f"{agent.id}-{name}") for agent in AGENTS for name in agent.names
]


@pytest.mark.parametrize(("agent", "code"), VERIFIED_CODE_CASES)
def test_each_verified_or_secondary_code_finds_its_agent_alone(agent: AgentEntry, code: TherapyCode) -> None:
    assert agent.id in matched_ids(coded(code.system, code.code))


@pytest.mark.parametrize(("agent", "code"), UNVERIFIED_CODE_CASES)
def test_an_unverified_code_alone_finds_nothing(agent: AgentEntry, code: TherapyCode) -> None:
    assert agent.id not in matched_ids(coded(code.system, code.code))


@pytest.mark.parametrize(("agent", "code"), CODE_CASES)
def test_each_code_finds_its_agent_together_with_its_name(agent: AgentEntry, code: TherapyCode) -> None:
    concept = coded(code.system, code.code)
    concept["text"] = agent.names[0]
    assert agent.id in matched_ids(concept)


@pytest.mark.parametrize(("agent", "code"), UNVERIFIED_CODE_CASES)
def test_an_unverified_code_with_another_agents_name_finds_only_that_agent(
    agent: AgentEntry, code: TherapyCode
) -> None:
    concept = coded(code.system, code.code)
    concept["text"] = "Yescarta" if agent.therapy_class != "car_t" else "Keytruda"
    assert agent.id not in matched_ids(concept)


@pytest.mark.parametrize(("agent_id", "name"), NAME_CASES)
def test_each_name_finds_its_agent_in_order_text(agent_id: str, name: str) -> None:
    # As pharmacy systems print it: upper case, with strength and form around the name.
    assert agent_id in matched_ids({"text": f"{name.upper()} 240 MG/24 ML IV SOLN"})


@pytest.mark.parametrize(("agent_id", "name"), NAME_CASES)
def test_each_name_finds_its_agent_in_a_coding_display(agent_id: str, name: str) -> None:
    concept = {"coding": [{"system": "urn:local", "code": "X1", "display": f"{name} injection"}]}
    assert agent_id in matched_ids(concept)


@pytest.mark.parametrize(("agent_id", "name"), NAME_CASES)
def test_each_name_finds_its_agent_in_a_reference_display(agent_id: str, name: str) -> None:
    assert agent_id in matched_ids({}, (name,))


@pytest.mark.parametrize("name", KNOWLEDGE.therapies.look_alikes)
def test_look_alike_drugs_match_no_agent(name: str) -> None:
    assert matched_ids({"text": f"{name} 10 MG/ML injection"}) == set()


@pytest.mark.parametrize(
    "name", [name for excluded in KNOWLEDGE.therapies.excluded for name in excluded.names]
)
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
        ("ndc", "nivolumab", "0003-3120-01"),
        ("cpt", "car-t-product-not-named", "38228"),
    ],
)
def test_hl7_oid_spelling_of_a_system_matches_like_its_uri(alias: str, agent_id: str, code: str) -> None:
    assert agent_id in matched_ids(coded(alias, code, OID_BY_ALIAS[alias]))


@pytest.mark.parametrize(
    ("system", "agent_id", "code"),
    [
        ("http://fhir.de/CodeSystem/bfarm/atc", "sugemalimab", "L01FF11"),
        ("http://fhir.de/CodeSystem/bfarm/atc", "nivolumab", "L01FF01"),
        ("http://fhir.de/CodeSystem/dimdi/atc", "nivolumab", "L01FF01"),
    ],
)
def test_german_atc_uri_matches_like_the_who_atc(system: str, agent_id: str, code: str) -> None:
    assert agent_id in matched_ids(coded("atc", code, system))


@pytest.mark.parametrize(
    ("written", "expected"), [("0003-3120-01", True), ("00003312001", True), ("0003312001", False)]
)
def test_ndc_matches_in_hyphenated_and_eleven_digit_forms(written: str, expected: bool) -> None:
    assert ("nivolumab" in matched_ids(coded("ndc", written))) is expected


def test_a_code_in_another_system_finds_nothing() -> None:
    assert matched_ids(coded("snomed", "1657746")) == set()


def test_a_named_car_t_product_hides_the_generic_car_t_entry() -> None:
    assert matched_ids({"text": "Kymriah (tisagenlecleucel) CAR-T cell infusion"}) == {"tisagenlecleucel"}


@pytest.mark.parametrize(
    "concept",
    [{"text": "Autologous CAR-T cell infusion"}, {"text": "CAR T cell therapy"}, coded("cpt", "0540T")],
)
def test_an_unnamed_car_t_infusion_is_still_car_t_exposure(concept: dict[str, Any]) -> None:
    assert matched_ids(concept) == {"car-t-product-not-named"}


def test_every_agent_has_a_known_class_and_at_least_one_name() -> None:
    for agent in AGENTS:
        assert agent.therapy_class in ("ici", "car_t", "t_cell_engager")
        assert agent.names
    assert {agent.id for agent in catalog().agents} == {agent.id for agent in AGENTS}
