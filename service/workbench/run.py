"""A burden run from start to end: evaluate the cohort (with a progress bar), then write cards.ndjson,
summary.json, report.html (with the FHIR validation of a sample) and the patients' timelines."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import orjson

from service.workbench import clinical_adapter as clinical
from service.workbench.burden import BurdenPlan, PatientOutcome, evaluate_cohort
from service.workbench.export import Cohort
from service.workbench.report import report_page
from service.workbench.summary import BurdenSummary, per_thousand
from service.workbench.validation import ValidationReport, validate_sample


@dataclass
class BurdenResult:
    summary: BurdenSummary
    validation: ValidationReport | None
    out_dir: Path
    seconds: float

    def describe(self) -> str:
        summary = self.summary
        rate = per_thousand(summary.cards, summary.patient_days)
        skipped = summary.quality.skipped_total
        return (
            f"{summary.patients:,} patients, {summary.patient_days:,} patient-days, {summary.cards:,} cards "
            f"({rate:,.1f} per 1,000 patient-days), {len(summary.critical):,} patients with a critical card; "
            f"{skipped:,} resources could not be read. Report: {self.out_dir / 'report.html'} "
            f"({self.seconds:.1f} s)"
        )


def _resources_by_type(cohort: Cohort) -> dict[str, Iterator[dict[str, Any]]]:
    types: dict[str, list[dict[str, Any]]] = {}
    for patient_id in cohort.patient_ids():
        for resource in cohort.patients[patient_id]:
            types.setdefault(str(resource["resourceType"]), []).append(resource)
    types["Medication"] = list(cohort.medications.values())
    return {name: iter(resources) for name, resources in types.items()}


def _outcomes_with_progress(
    outcomes: Iterator[PatientOutcome], total: int, days: int, show: bool
) -> Iterator[PatientOutcome]:
    if not show:
        yield from outcomes
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    # No refresh thread (auto_refresh=False): worker processes are forked while this runs.
    with Progress(
        TextColumn(f"Evaluating {days} day{'s' if days != 1 else ''} per patient"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        auto_refresh=False,
    ) as progress:
        task = progress.add_task("patients", total=total)
        last_refresh = 0.0
        for outcome in outcomes:
            progress.advance(task)
            now = time.monotonic()
            if now - last_refresh > 0.1:
                progress.refresh()
                last_refresh = now
            yield outcome
        progress.refresh()


def write_outputs(
    summary: BurdenSummary, outcomes: list[PatientOutcome], out_dir: Path, validation: ValidationReport | None
) -> None:
    """cards.ndjson (patient-view cards of the cohort's patients, sorted by patient and day),
    order_cards.ndjson (the simulated order-select cards), patients.ndjson (one line per evaluated
    patient, orphans included: what a merge of shards rebuilds the summary from), summary.json and
    report.html."""
    outcomes.sort(key=lambda outcome: outcome.patient_id)
    with (
        (out_dir / "cards.ndjson").open("wb") as cards_file,
        (out_dir / "order_cards.ndjson").open("wb") as order_file,
        (out_dir / "patients.ndjson").open("wb") as patients_file,
    ):
        for outcome in outcomes:
            summary.add(outcome)
            patients_file.write(orjson.dumps(outcome.as_dict()) + b"\n")
            if outcome.orphan:
                continue
            cards_file.writelines(orjson.dumps(row.as_dict()) + b"\n" for row in outcome.rows)
            order_file.writelines(orjson.dumps(row.as_dict()) + b"\n" for row in outcome.order_rows)
    document = summary.as_dict()
    if validation is not None:
        document["fhir_validation"] = validation.as_dict()
    (out_dir / "summary.json").write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2) + b"\n")
    (out_dir / "report.html").write_text(report_page(summary, validation), encoding="utf-8")


def run_burden(
    cohort: Cohort,
    *,
    first_day: date,
    last_day: date,
    out_dir: Path,
    workers: int,
    knowledge_dir: Path,
    cards_dir: Path,
    validation_sample: int,
    progress: bool,
    started: float | None = None,
) -> BurdenResult:
    """`started`: when the run began (time.perf_counter), reading the export included."""
    started = time.perf_counter() if started is None else started
    plan = BurdenPlan(first_day, last_day, out_dir)
    evaluator = clinical.load_evaluator(knowledge_dir, cards_dir)
    summary = BurdenSummary(str(cohort.source), plan, cohort.quality)
    outcomes: list[PatientOutcome] = []
    stream = evaluate_cohort(evaluator, cohort, plan, workers)
    for outcome in _outcomes_with_progress(stream, len(cohort.patients), len(plan.days()), progress):
        outcomes.append(outcome)
    validation = (
        validate_sample(_resources_by_type(cohort), validation_sample) if validation_sample > 0 else None
    )
    write_outputs(summary, outcomes, out_dir, validation)
    return BurdenResult(summary, validation, out_dir, time.perf_counter() - started)
