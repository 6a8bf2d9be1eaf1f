"""Each card names the rule that drove it (`RenderedCard.rule`, from `clinical.acknowledgements.rule_of`):
what the reviewers' burden counts card-days, episodes and patients by. One scenario per rule, evaluated
at its own moment with its own draft orders, as the service would."""

from __future__ import annotations

import json

import pytest
import yaml
from ops_support import REPO_ROOT

from service.cli.inputs import scenario_moment
from workbench import clinical_adapter

FIXTURES = REPO_ROOT / "fhir_fixtures"
SCENARIOS = {
    scenario["name"]: scenario
    for scenario in yaml.safe_load((FIXTURES / "scenarios.yaml").read_text(encoding="utf-8"))["scenarios"]
}
# rule -> a scenario whose cards include a card of that rule
RULE_SCENARIOS = {
    "baseline-car-t": "car-t-planned-procedure-head-ct-only",
    "baseline-t-cell-engager": "tce-tarlatamab-order-starts-tomorrow-baseline",
    "baseline-ici": "ici-opdivo-text-draft-order-sign-baseline",
    "car-t-icans-window": "car-t-axicel-bundle-medication-negated-text",
    "car-t-late-effects": "car-t-breyanzi-day45-late-effects-old-icans",
    "t-cell-engager-icans-window": "tce-teclistamab-step-up-dosing",
    "irecist-confirmation-planned": "ici-atezolizumab-irecist-iupd-confirmation",
    "irecist-confirmation-due": "irecist-iupd-then-chest-xray-only",
    "irecist-confirmation-overdue": "irecist-iupd-70-days-unconfirmed-overdue",
    "neurotoxicity-icans": "car-t-day5-new-ice6-order-select",
    "neurotoxicity-irae": "ici-nivolumab-r5-concept-guillain-barre",
    "neurotoxicity-delayed-car-t": "car-t-day45-stroke-delayed",
    "neurotoxicity-neuro-ae": "neuro-v3-teclistamab-gbs-not-icans",
}


@pytest.fixture(scope="module")
def evaluator() -> clinical_adapter.Evaluator:
    return clinical_adapter.load_evaluator(REPO_ROOT / "knowledge", REPO_ROOT / "cards")


def rendered_rules(evaluator: clinical_adapter.Evaluator, name: str) -> dict[str, str]:
    """rule -> topic of each card the scenario gives."""
    scenario = SCENARIOS[name]
    bundle = json.loads((FIXTURES / scenario["file"]).read_text(encoding="utf-8"))
    resources = [entry["resource"] for entry in bundle.get("entry", [])]
    (patient_id,) = [resource["id"] for resource in resources if resource["resourceType"] == "Patient"]
    now = scenario_moment(scenario)
    record = clinical_adapter.build_record(patient_id, resources)
    facts = clinical_adapter.patient_facts(
        evaluator, record, list(scenario.get("draft_orders") or []), now.date()
    )
    cards = clinical_adapter.rendered_on_day(
        evaluator, facts, now=now, patient_id=patient_id, user_id="Practitioner/x", encounter_id=None
    )
    return {card.rule: card.topic for card in cards}


@pytest.mark.parametrize("rule", sorted(RULE_SCENARIOS))
def test_each_card_names_the_rule_that_drove_it(evaluator: clinical_adapter.Evaluator, rule: str) -> None:
    rules = rendered_rules(evaluator, RULE_SCENARIOS[rule])
    assert rule in rules, rules
    expected_topic = (
        "possible-neurotoxicity"
        if rule.startswith("neurotoxicity-")
        else "baseline-brain-mri"
        if rule.startswith("baseline-")
        else "interval-imaging"
    )
    assert rules[rule] == expected_topic


def test_every_rendered_card_carries_its_evidence(evaluator: clinical_adapter.Evaluator) -> None:
    scenario = SCENARIOS["car-t-day5-new-ice6-order-select"]
    bundle = json.loads((FIXTURES / scenario["file"]).read_text(encoding="utf-8"))
    resources = [entry["resource"] for entry in bundle.get("entry", [])]
    (patient_id,) = [resource["id"] for resource in resources if resource["resourceType"] == "Patient"]
    now = scenario_moment(scenario)
    facts = clinical_adapter.patient_facts(
        evaluator, clinical_adapter.build_record(patient_id, resources), [], now.date()
    )
    cards = clinical_adapter.rendered_on_day(
        evaluator, facts, now=now, patient_id=patient_id, user_id="Practitioner/x", encounter_id=None
    )
    (neurotoxicity,) = [card for card in cards if card.rule == "neurotoxicity-icans"]
    assert any(part.startswith(("finding|", "score|")) for part in neurotoxicity.evidence)


def test_a_card_built_without_its_rule_still_compares_by_topic_and_key() -> None:
    from clinical.acknowledgements import RenderedCard

    # A stored override or an older caller builds RenderedCard(card, topic, key): the defaults hold.
    assert RenderedCard({}, "t", "k") == RenderedCard({}, "t", "k", "", ())
