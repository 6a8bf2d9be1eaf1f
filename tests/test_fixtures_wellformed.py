"""The clinical scenario fixtures themselves: fhir_fixtures/scenarios.yaml and fhir_fixtures/scenarios/*.json.

Every bundle is a FHIR R4 (R4B models) collection about one patient, except resources deliberately in
R5 shape in scenarios marked ``r5_shapes: true``; the manifest and the files match one to one; ids are
unique across scenarios because tests/test_scenarios.py serves all of them from one FHIR server.
"""

from __future__ import annotations

import importlib.util
import json
import re
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.bundle import Bundle

from service.discovery import PREFETCH_TEMPLATES

FIXTURES_DIR = Path(__file__).resolve().parent.parent / "fhir_fixtures"
MANIFEST = FIXTURES_DIR / "scenarios.yaml"
SCENARIO_DIR = FIXTURES_DIR / "scenarios"
HOOKS = {"patient-view", "order-select", "order-sign"}
ORDER_HOOKS = {"order-select", "order-sign"}
TOPICS = {"baseline-brain-mri", "interval-imaging", "possible-neurotoxicity"}
INDICATORS = {"info", "warning", "critical"}
REQUIRED_FIELDS = {
    "name",
    "file",
    "description",
    "hook",
    "now",
    "therapy_day",
    "expected_topics",
    "expected_suggestions",
}
OPTIONAL_FIELDS = {
    "draft_orders",
    "expected_indicators",
    "summary_mentions",
    "detail_mentions",
    "read_from_server",
    "r5_shapes",
}
# Cards that may carry the MRI order suggestion (docs/clinical-rules-v2.md, sections 2, 3 and 5).
SUGGESTING_TOPICS = {"baseline-brain-mri", "possible-neurotoxicity"}
# Expectations speak plain language: a raw reference is exactly what cards must no longer contain.
RAW_REFERENCE = re.compile(r"\b[A-Z][A-Za-z]+/[A-Za-z0-9\-.]+")
# Fields only R5 defines on medication-use resources (R4 has medication[x] and effective[x]).
R5_ONLY_FIELDS = {"medication", "occurenceDateTime", "occurencePeriod", "occurenceTiming"}
NO_SUBJECT_TYPES = {"Patient", "Medication"}
# R4 resources that name their patient in `patient`, not `subject` (MRI safety records, issue 16).
PATIENT_ELEMENT = {"Device": "patient", "AllergyIntolerance": "patient"}
MINIMUM_SCENARIOS = 60


def _manifest() -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))["scenarios"]
    return entries


ENTRIES = _manifest()


def _bundle(entry: dict[str, Any]) -> dict[str, Any]:
    bundle: dict[str, Any] = json.loads((FIXTURES_DIR / entry["file"]).read_text(encoding="utf-8"))
    return bundle


def _resources(entry: dict[str, Any]) -> list[dict[str, Any]]:
    return [item["resource"] for item in _bundle(entry).get("entry", [])]


def _patient_id(entry: dict[str, Any]) -> str:
    (patient,) = [r for r in _resources(entry) if r.get("resourceType") == "Patient"]
    return str(patient["id"])


def _is_r5_shaped(resource: dict[str, Any]) -> bool:
    return bool(R5_ONLY_FIELDS & resource.keys())


def _validate_r4b(resource: dict[str, Any]) -> None:
    get_fhir_model_class(resource["resourceType"]).model_validate(resource)


def _medication_reference(resource: dict[str, Any]) -> str | None:
    holder = resource.get("medicationReference")
    if holder is None and isinstance(resource.get("medication"), dict):
        holder = resource["medication"].get("reference")
    return holder.get("reference") if isinstance(holder, dict) else None


def per_scenario(entries: list[dict[str, Any]]) -> list[Any]:
    return [pytest.param(entry, id=entry["name"]) for entry in entries]


# --- the manifest ------------------------------------------------------------------------------------


def test_manifest_lists_every_scenario_file_and_every_listed_file_exists() -> None:
    listed = sorted(entry["file"] for entry in ENTRIES)
    on_disk = sorted(path.relative_to(FIXTURES_DIR).as_posix() for path in SCENARIO_DIR.iterdir())

    assert listed == on_disk


def test_manifest_has_at_least_60_scenarios_with_unique_names_and_files() -> None:
    names = Counter(entry["name"] for entry in ENTRIES)
    files = Counter(entry["file"] for entry in ENTRIES)

    assert len(ENTRIES) >= MINIMUM_SCENARIOS
    assert [name for name, count in names.items() if count > 1] == []
    assert [file for file, count in files.items() if count > 1] == []


@pytest.mark.parametrize("entry", per_scenario(ENTRIES))
def test_manifest_entry_has_the_required_fields_and_no_unknown_ones(entry: dict[str, Any]) -> None:
    assert entry.keys() >= REQUIRED_FIELDS
    assert entry.keys() <= REQUIRED_FIELDS | OPTIONAL_FIELDS
    assert entry["file"] == f"scenarios/{entry['name']}.json"
    assert isinstance(entry["description"], str) and entry["description"].strip()
    assert isinstance(entry["therapy_day"], str) and entry["therapy_day"].strip()


@pytest.mark.parametrize("entry", per_scenario(ENTRIES))
def test_manifest_entry_now_is_an_iso_datetime_with_time_zone(entry: dict[str, Any]) -> None:
    now = datetime.fromisoformat(str(entry["now"]))

    assert now.tzinfo is not None


@pytest.mark.parametrize("entry", per_scenario(ENTRIES))
def test_manifest_entry_hook_and_draft_orders_agree(entry: dict[str, Any]) -> None:
    assert entry["hook"] in HOOKS
    if entry["hook"] in ORDER_HOOKS:
        assert entry.get("draft_orders"), "order-select and order-sign need draft orders"
    else:
        assert "draft_orders" not in entry, "patient-view has no draft orders"


@pytest.mark.parametrize("entry", per_scenario(ENTRIES))
def test_manifest_entry_expectations_name_known_topics_and_indicators(entry: dict[str, Any]) -> None:
    topics = entry["expected_topics"]
    indicators = entry.get("expected_indicators") or {}

    assert set(topics) <= TOPICS
    assert len(topics) == len(set(topics))
    assert set(indicators) <= set(topics)
    assert set(indicators.values()) <= INDICATORS


@pytest.mark.parametrize("entry", per_scenario(ENTRIES))
def test_manifest_entry_expects_at_most_one_suggestion_on_a_card_that_may_carry_one(
    entry: dict[str, Any],
) -> None:
    suggestions = entry["expected_suggestions"]

    assert isinstance(suggestions, list)
    assert set(suggestions) <= set(entry["expected_topics"]) & SUGGESTING_TOPICS
    assert len(suggestions) <= 1, "at most one MRI order per response"


@pytest.mark.parametrize("entry", per_scenario(ENTRIES))
def test_manifest_entry_mentions_are_plain_language_strings_for_expected_cards(entry: dict[str, Any]) -> None:
    for field in ("summary_mentions", "detail_mentions"):
        mentions = entry.get(field) or {}
        assert set(mentions) <= set(entry["expected_topics"]), field
        for texts in mentions.values():
            assert isinstance(texts, list) and texts, field
            assert all(isinstance(text, str) and text.strip() for text in texts), field
            assert [text for text in texts if RAW_REFERENCE.search(text)] == [], field


@pytest.mark.parametrize("entry", per_scenario(ENTRIES))
def test_every_expected_card_has_detail_mentions(entry: dict[str, Any]) -> None:
    assert sorted(entry.get("detail_mentions") or {}) == sorted(entry["expected_topics"])


def test_every_rule_fires_in_some_scenario_and_stays_silent_in_another() -> None:
    for topic in sorted(TOPICS):
        assert any(topic in entry["expected_topics"] for entry in ENTRIES), topic
        assert any(topic not in entry["expected_topics"] for entry in ENTRIES), topic


def test_suggestions_are_expected_in_some_scenarios_and_absent_from_others() -> None:
    for topic in sorted(SUGGESTING_TOPICS):
        assert any(topic in entry["expected_suggestions"] for entry in ENTRIES), topic
        assert any(
            topic in entry["expected_topics"] and topic not in entry["expected_suggestions"]
            for entry in ENTRIES
        ), topic


def test_every_indicator_of_every_topic_is_expected_somewhere() -> None:
    seen = {
        (topic, indicator)
        for entry in ENTRIES
        for topic, indicator in (entry.get("expected_indicators") or {}).items()
    }

    assert {
        ("baseline-brain-mri", "info"),
        ("baseline-brain-mri", "warning"),
        ("interval-imaging", "info"),
        ("interval-imaging", "warning"),
        ("possible-neurotoxicity", "warning"),
        ("possible-neurotoxicity", "critical"),
    } <= seen


def test_every_hook_has_a_scenario() -> None:
    assert {entry["hook"] for entry in ENTRIES} == HOOKS


# --- the bundles -------------------------------------------------------------------------------------


@pytest.mark.parametrize("entry", per_scenario([e for e in ENTRIES if not e.get("r5_shapes")]))
def test_bundle_is_a_valid_r4b_bundle(entry: dict[str, Any]) -> None:
    Bundle.model_validate(_bundle(entry))


@pytest.mark.parametrize("entry", per_scenario([e for e in ENTRIES if e.get("r5_shapes")]))
def test_r5_scenario_has_r5_shaped_resources_and_every_other_resource_is_valid_r4b(
    entry: dict[str, Any],
) -> None:
    resources = _resources(entry)
    r5_shaped = [r for r in resources if _is_r5_shaped(r)]

    assert r5_shaped, "r5_shapes: true but no resource is in R5 shape"
    for resource in resources:
        if not _is_r5_shaped(resource):
            _validate_r4b(resource)


@pytest.mark.parametrize("entry", per_scenario(ENTRIES))
def test_r5_shaped_resources_only_in_scenarios_marked_r5_shapes(entry: dict[str, Any]) -> None:
    r5_shaped = [
        r["id"] for r in _resources(entry) + list(entry.get("draft_orders") or []) if _is_r5_shaped(r)
    ]

    assert bool(r5_shaped) == bool(entry.get("r5_shapes")), r5_shaped


@pytest.mark.parametrize("entry", per_scenario(ENTRIES))
def test_bundle_is_a_collection_with_one_patient_and_ids_on_every_resource(entry: dict[str, Any]) -> None:
    bundle = _bundle(entry)
    resources = _resources(entry)

    assert bundle["resourceType"] == "Bundle"
    assert bundle["type"] == "collection"
    assert [r["resourceType"] for r in resources].count("Patient") == 1
    assert all(isinstance(r.get("id"), str) and r["id"] for r in resources)


@pytest.mark.parametrize("entry", per_scenario(ENTRIES))
def test_every_resource_subject_references_the_scenario_patient(entry: dict[str, Any]) -> None:
    expected = {"reference": f"Patient/{_patient_id(entry)}"}
    records = _resources(entry) + list(entry.get("draft_orders") or [])

    wrong = [
        f"{r['resourceType']}/{r['id']}: {r.get('subject')}"
        for r in records
        if r["resourceType"] not in NO_SUBJECT_TYPES
        and r.get(PATIENT_ELEMENT.get(r["resourceType"], "subject")) != expected
    ]

    assert wrong == []


@pytest.mark.parametrize("entry", per_scenario(ENTRIES))
def test_every_resource_type_is_one_the_service_fetches(entry: dict[str, Any]) -> None:
    fetched = {resource_type for resource_type, _ in PREFETCH_TEMPLATES.values()} | {"Medication"}

    assert {r["resourceType"] for r in _resources(entry)} <= fetched


def test_patient_ids_are_distinct_across_scenarios() -> None:
    patients = Counter(_patient_id(entry) for entry in ENTRIES)

    assert [pid for pid, count in patients.items() if count > 1] == []


def test_resource_ids_are_unique_across_scenarios() -> None:
    """One FHIR server serves every scenario: Type/id must not repeat (draft orders included)."""
    references = Counter(
        f"{r['resourceType']}/{r['id']}"
        for entry in ENTRIES
        for r in _resources(entry) + list(entry.get("draft_orders") or [])
    )

    assert [reference for reference, count in references.items() if count > 1] == []


@pytest.mark.parametrize("entry", per_scenario([e for e in ENTRIES if e.get("draft_orders")]))
def test_draft_orders_are_valid_r4b_resources_with_ids(entry: dict[str, Any]) -> None:
    for order in entry["draft_orders"]:
        assert isinstance(order.get("id"), str) and order["id"]
        _validate_r4b(order)


@pytest.mark.parametrize("entry", per_scenario(ENTRIES))
def test_medication_references_resolve_and_every_medication_is_referenced(entry: dict[str, Any]) -> None:
    resources = _resources(entry)
    # A draftOrders Bundle may carry the Medication its draft MedicationRequest references.
    drafted = [r for r in entry.get("draft_orders") or [] if r["resourceType"] == "Medication"]
    medications = {f"Medication/{r['id']}" for r in resources + drafted if r["resourceType"] == "Medication"}
    referenced: set[str] = set()
    for resource in resources + list(entry.get("draft_orders") or []):
        reference = _medication_reference(resource)
        if reference is None:
            continue
        if reference.startswith("#"):
            contained = {c.get("id") for c in resource.get("contained", [])}
            assert reference[1:] in contained, f"{resource['id']}: {reference} is not contained"
        else:
            assert reference in medications, f"{resource['id']}: {reference} is not in the bundle"
            referenced.add(reference)

    assert referenced == medications
    assert set(entry.get("read_from_server") or []) <= medications


# --- docs/clinical-validation.md -------------------------------------------------------------------------


def test_validation_document_table_is_generated_from_the_current_manifest() -> None:
    spec = importlib.util.spec_from_file_location(
        "make_validation_table", FIXTURES_DIR / "make_validation_table.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    document = module.DOCUMENT.read_text(encoding="utf-8")

    assert module.rendered_document(document, ENTRIES) == document, (
        "run python fhir_fixtures/make_validation_table.py"
    )
