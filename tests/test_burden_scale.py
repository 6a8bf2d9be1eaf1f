"""The burden at scale. Its shortcuts change no card: it rebuilds a patient's timeline only on the days
something entered the chart, and one patient's builds share one memo of text matches. Here each patient
and day is also evaluated the plain way (the chart as of that day, a timeline built afresh with no memo
carried over, the day's rules), on every fixture scenario and on a generated cohort with future-dated
therapies. And `--shard I/N` evaluates only the patients of its own hash partition."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from ops_support import REPO_ROOT
from workbench_support import small_export

from clinical.knowledge import remembered, remembering_texts
from service import cli
from service.cli.inputs import scenario_moment
from workbench import burden, clinical_adapter, partitions
from workbench.as_of import ChartHistory
from workbench.burden import BurdenPlan, evaluate_patient
from workbench.export import SeenHashes, read_export, shard_of

FIXTURES = REPO_ROOT / "fhir_fixtures"
SCENARIOS = yaml.safe_load((FIXTURES / "scenarios.yaml").read_text(encoding="utf-8"))["scenarios"]
Card = tuple[str, str, str, str, str]  # day, topic, rule, indicator, summary


@pytest.fixture(scope="module")
def evaluator() -> clinical_adapter.Evaluator:
    return clinical_adapter.load_evaluator(REPO_ROOT / "knowledge", REPO_ROOT / "cards")


def plain_cards(
    evaluator: clinical_adapter.Evaluator,
    plan: BurdenPlan,
    patient_id: str,
    resources: list[dict[str, Any]],
    medications: dict[str, dict[str, Any]],
) -> list[Card]:
    history = ChartHistory(resources)
    found: list[Card] = []
    for day in plan.days():
        record = clinical_adapter.build_record(patient_id, history.on(day), medications)
        facts = clinical_adapter.patient_facts(evaluator, record, [], day)
        for card in clinical_adapter.rendered_on_day(
            evaluator,
            facts,
            now=clinical_adapter.day_noon(day),
            patient_id=patient_id,
            user_id=plan.user_id,
            encounter_id=None,
        ):
            found.append(
                (
                    day.isoformat(),
                    card.topic,
                    card.rule,
                    str(card.card.get("indicator")),
                    str(card.card.get("summary")),
                )
            )
    return found


def burden_cards(
    evaluator: clinical_adapter.Evaluator,
    plan: BurdenPlan,
    patient_id: str,
    resources: list[dict[str, Any]],
    medications: dict[str, dict[str, Any]],
) -> list[Card]:
    outcome = evaluate_patient(evaluator, plan, patient_id, resources, medications)
    assert outcome.error is None, (patient_id, outcome.error)
    return [(row.date, row.topic, row.rule, row.indicator, row.summary) for row in outcome.rows]


def test_burden_gives_the_plain_days_cards_on_every_scenario(
    evaluator: clinical_adapter.Evaluator, tmp_path: Path
) -> None:
    (tmp_path / "patients").mkdir()
    compared = 0
    for scenario in SCENARIOS:
        bundle = json.loads((FIXTURES / scenario["file"]).read_text(encoding="utf-8"))
        resources = [entry["resource"] for entry in bundle.get("entry", []) if "resource" in entry]
        patients = [resource["id"] for resource in resources if resource.get("resourceType") == "Patient"]
        patient_id = patients[0] if patients else "scenario-patient"
        medications = {
            f"Medication/{resource['id']}": resource
            for resource in resources
            if resource.get("resourceType") == "Medication" and "id" in resource
        }
        moment = scenario_moment(scenario).date()
        plan = BurdenPlan(moment - timedelta(days=10), moment + timedelta(days=4), tmp_path)
        expected = plain_cards(evaluator, plan, patient_id, resources, medications)
        assert burden_cards(evaluator, plan, patient_id, resources, medications) == expected, scenario["name"]
        compared += len(expected)
    assert compared > 0


def test_burden_gives_the_plain_days_cards_on_a_generated_cohort(
    evaluator: clinical_adapter.Evaluator, tmp_path: Path
) -> None:
    cohort = read_export(small_export(tmp_path / "export", 8))
    plan = BurdenPlan(date(2026, 10, 1), date(2026, 12, 29), tmp_path / "out")
    (plan.out_dir / "patients").mkdir(parents=True)
    future_dated = 0
    compared = 0
    for patient_id in cohort.patient_ids():
        resources = cohort.patients[patient_id]
        history = ChartHistory(resources)
        future_dated += len(history.orders_in(plan.first_day + timedelta(days=1), plan.last_day))
        expected = plain_cards(evaluator, plan, patient_id, resources, cohort.medications)
        found = burden_cards(evaluator, plan, patient_id, resources, cohort.medications)
        assert found == expected, patient_id
        compared += len(expected)
    assert compared > 0
    assert future_dated > 0  # therapies ordered after the first day: the chart changes within the range


def test_a_shard_evaluates_only_its_own_patients(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    export = small_export(tmp_path / "export", 12)
    everyone = read_export(export).patient_ids()
    evaluated: list[str] = []
    evaluate = burden.evaluate_patient

    def counting(*args: Any, **kwargs: Any) -> burden.PatientOutcome:
        outcome = evaluate(*args, **kwargs)
        evaluated.append(outcome.patient_id)
        return outcome

    monkeypatch.setattr(burden, "evaluate_patient", counting)
    argv = ["burden", str(export), "--from", "2026-11-01", "--to", "2026-11-02", "--validate", "0"]
    for shard in range(3):
        evaluated.clear()
        out = tmp_path / f"shard-{shard}"
        assert cli.main([*argv, "--out", str(out), "--shard", f"{shard + 1}/3", "--partitions", "4"]) == 0
        mine = [patient_id for patient_id in everyone if shard_of(patient_id, 3) == shard]
        assert mine  # each shard holds some of the twelve
        assert sorted(evaluated) == mine


def test_a_memo_block_within_another_shares_the_outer_memo() -> None:
    read: list[str] = []

    def length(text: str) -> int:
        read.append(text)
        return len(text)

    owner = object()
    with remembering_texts():
        for _ in range(3):  # one patient's chart read on three days
            with remembering_texts():
                assert remembered(owner, "pembrolizumab", length) == 13
    assert read == ["pembrolizumab"]
    with remembering_texts():
        remembered(owner, "pembrolizumab", length)
    assert read == ["pembrolizumab"] * 2  # a new outer block (the next patient) starts empty


def test_a_shards_partitions_are_as_large_as_a_whole_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    export = small_export(tmp_path / "export", 2)
    size = sum(path.stat().st_size for path in export.iterdir())
    monkeypatch.setattr(partitions, "PARTITION_BYTES", size // 40)
    whole = partitions.partitions_for(export)
    assert whole >= 40
    assert abs(partitions.partitions_for(export, 4) - whole / 4) <= 1


def test_the_hashes_of_resources_read_are_each_seen_once() -> None:
    seen = SeenHashes()
    values = [hash(f"Observation/{number}") for number in range(5000)] + [0, -1, 2**63 - 1, -(2**63)]
    assert all(seen.add(value) for value in values)
    assert not any(seen.add(value) for value in values)
    assert seen.add(12345 << SeenHashes.BUCKET_BITS) is (12345 << SeenHashes.BUCKET_BITS not in values)
