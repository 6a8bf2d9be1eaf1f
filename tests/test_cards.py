"""Cards rendered from the reviewed templates: valid CDS Hooks JSON, short summaries, a valid FHIR
ServiceRequest suggestion for this patient, and start-up checks of the templates."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from cds_validation import assert_valid_cds_response
from clinical_support import CARDS_DIR, KNOWLEDGE_DIR, evaluator
from fhir.resources.R4B.servicerequest import ServiceRequest

from clinical.cards import SUMMARY_LIMIT, fit_summary
from clinical.evaluation import Evaluator
from clinical.knowledge import KnowledgeError
from clinical.patient_record import PatientRecord

NOW = datetime(2026, 11, 21, 9, 30, tzinfo=UTC)
TOPICS = {"baseline-brain-mri", "interval-imaging", "possible-neurotoxicity"}


def cards_for(
    resources: list[dict[str, Any]], drafts: list[dict[str, Any]] | None = None, encounter: str | None = None
) -> list[dict[str, Any]]:
    record = PatientRecord("p1")
    record.add_all(resources)
    return evaluator().cards_for(
        record, drafts or [], now=NOW, patient_id="p1", user_id="Practitioner/u7", encounter_id=encounter
    )


def administration(agent_text: str, day: str, rid: str = "a1") -> dict[str, Any]:
    return {
        "resourceType": "MedicationAdministration",
        "id": rid,
        "status": "completed",
        "subject": {"reference": "Patient/p1"},
        "medicationCodeableConcept": {"text": agent_text},
        "effectiveDateTime": day,
    }


ICE_6 = {
    "resourceType": "Observation",
    "id": "ice1",
    "status": "final",
    "subject": {"reference": "Patient/p1"},
    "code": {"text": "ICE score"},
    "valueInteger": 6,
    "effectiveDateTime": "2026-11-20T08:00:00Z",
}
CAR_T_DAY_5 = [administration("Yescarta", "2026-11-16")]


def test_all_three_topics_render_as_valid_cds_cards() -> None:
    cards = cards_for([*CAR_T_DAY_5, ICE_6])
    assert_valid_cds_response({"cards": cards})
    assert {card["source"]["topic"]["code"] for card in cards} == TOPICS


def test_the_neurotoxicity_card_is_critical_and_names_the_grade_and_the_finding() -> None:
    card = next(
        c
        for c in cards_for([*CAR_T_DAY_5, ICE_6])
        if c["source"]["topic"]["code"] == "possible-neurotoxicity"
    )
    assert card["indicator"] == "critical"
    assert "grade 2" in card["summary"]
    assert "Observation/ice1" in card["detail"] and "ICE score 6/10" in card["detail"]


def test_suggestions_create_a_valid_r4_mri_order_for_this_patient_and_encounter() -> None:
    cards = cards_for([*CAR_T_DAY_5, ICE_6], encounter="enc-9")
    resources = [a["resource"] for c in cards for s in c.get("suggestions", []) for a in s["actions"]]
    assert resources
    for resource in resources:
        order = ServiceRequest.model_validate(resource)
        codes = {(c.system, c.code) for c in order.code.coding}
        assert ("http://loinc.org", "24587-8") in codes and (
            "http://www.ama-assn.org/go/cpt",
            "70553",
        ) in codes
        assert order.subject.reference == "Patient/p1"
        assert order.encounter.reference == "Encounter/enc-9"
        assert order.requester.reference == "Practitioner/u7"


def test_summary_stays_under_the_limit_with_every_ici_ordered_at_once() -> None:
    agents = [a for a in evaluator().vocabularies.catalog.agents if a.therapy_class == "ici"]
    drafts = [
        {
            "resourceType": "MedicationRequest",
            "id": f"d{i}",
            "status": "draft",
            "medicationCodeableConcept": {"text": agent.names[0]},
        }
        for i, agent in enumerate(agents)
    ]
    cards = cards_for([], drafts)
    assert cards and all(len(card["summary"]) < SUMMARY_LIMIT for card in cards)


@pytest.mark.parametrize("length", [10, 139, 140, 400])
def test_fit_summary_is_always_under_140_characters(length: int) -> None:
    assert len(fit_summary("x" * length)) < SUMMARY_LIMIT


def test_each_card_offers_the_four_override_reasons_with_displays() -> None:
    for card in cards_for([*CAR_T_DAY_5, ICE_6]):
        assert [reason["code"] for reason in card["overrideReasons"]] == [
            "done-elsewhere",
            "contraindicated",
            "not-indicated",
            "patient-declined",
        ]


def test_card_and_suggestion_uuids_are_fresh_for_every_call() -> None:
    first, second = cards_for(CAR_T_DAY_5), cards_for(CAR_T_DAY_5)
    assert {c["uuid"] for c in first}.isdisjoint({c["uuid"] for c in second})


def test_no_cards_without_exposure() -> None:
    assert cards_for([ICE_6]) == []


def _copy(tmp_path: Path) -> tuple[Path, Path]:
    knowledge, cards = tmp_path / "knowledge", tmp_path / "cards"
    shutil.copytree(KNOWLEDGE_DIR, knowledge)
    shutil.copytree(CARDS_DIR, cards)
    return knowledge, cards


def test_a_template_naming_an_unknown_field_fails_at_start_up(tmp_path: Path) -> None:
    knowledge, cards = _copy(tmp_path)
    template = yaml.safe_load((cards / "baseline-brain-mri.yaml").read_text())
    template["summary"] = "Baseline MRI for {patient_name}"
    (cards / "baseline-brain-mri.yaml").write_text(yaml.safe_dump(template))
    with pytest.raises(KnowledgeError, match="patient_name"):
        Evaluator.load(knowledge, cards)


def test_a_timing_window_without_card_wording_fails_at_start_up(tmp_path: Path) -> None:
    knowledge, cards = _copy(tmp_path)
    template = yaml.safe_load((cards / "interval-imaging.yaml").read_text())
    del template["windows"]["car-t-late-effects"]
    (cards / "interval-imaging.yaml").write_text(yaml.safe_dump(template))
    with pytest.raises(KnowledgeError, match="car-t-late-effects"):
        Evaluator.load(knowledge, cards)
