"""A burden run from start to end: read the export once into partitions by patient on disk, evaluate
each partition in turn (with a progress bar), then merge the results in patient order into
cards.ndjson, summary.json, report.html (with the FHIR validation of a sample) beside the patients'
timelines. The time reported covers the whole run, reading the export included."""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TypeVar

import orjson

from workbench import clinical_adapter as clinical
from workbench.burden import BurdenPlan, PatientOutcome, evaluate_cohort
from workbench.export import Cohort, read_export, shard_of
from workbench.merge import finish_run, run_description, write_part
from workbench.ndjson_files import DEFAULT_MAX_LINE_BYTES
from workbench.partitions import PartitionStore, load_partition, partitions_for
from workbench.summary import BurdenSummary
from workbench.validation import Sampler, ValidationReport, validate_sampled

T = TypeVar("T")


@dataclass
class BurdenResult:
    summary: BurdenSummary
    validation: ValidationReport | None
    out_dir: Path
    seconds: float

    def describe(self) -> str:
        summary = self.summary
        rate = summary.rate(summary.cards)
        skipped = summary.quality.skipped_total
        return (
            f"{summary.patients:,} patients ({summary.exposed_patients:,} exposed), {summary.days} days: "
            f"{summary.cards:,} card-days in {summary.episodes:,} episodes ({rate:,.2f} cards per 100 "
            f"patients per week), {len(summary.critical):,} patients with a critical card, "
            f"{summary.order_time_cards:,} order-time cards; {skipped:,} resources could not be read. "
            f"Report: {self.out_dir / 'report.html'} ({self.seconds:.1f} s, the whole run)"
        )


def _outcomes_with_progress(outcomes: Iterator[T], total: int, days: int, show: bool) -> Iterator[T]:
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


@dataclass(frozen=True)
class RunOptions:
    first_day: date
    last_day: date
    out_dir: Path
    workers: int
    knowledge_dir: Path
    cards_dir: Path
    validation_sample: int
    progress: bool
    shard: tuple[int, int] | None = None  # (index from 0, count): one hash partition of the patients
    partitions: int | None = None  # None: by the export's size (partitions.partitions_for)
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES
    language: str = "en"  # the cards' language (issue 19 section 3: "de")


def _partition_outcomes(
    evaluator: clinical.Evaluator,
    files: list[Path],
    template: Cohort,
    plan: BurdenPlan,
    workers: int,
) -> Iterator[tuple[int, PatientOutcome]]:
    """Each partition loaded, evaluated and let go in turn: (partition index, outcome)."""
    for index, file in enumerate(files):
        patients = load_partition(file)
        file.unlink(missing_ok=True)
        cohort = Cohort(
            template.source,
            patients,
            template.medications,
            template.quality,
            orphans=template.orphans & patients.keys(),
        )
        for outcome in evaluate_cohort(evaluator, cohort, plan, workers):
            yield index, outcome


class NoPatients(Exception):
    """The export holds no patient whose records could be read (`cohort`: its data quality)."""

    def __init__(self, cohort: Cohort) -> None:
        super().__init__(str(cohort.source))
        self.cohort = cohort


def run_export(
    export: Path,
    options: RunOptions,
    started: float | None = None,
    before_writing: Callable[[], None] = lambda: None,
) -> BurdenResult:
    """A Bulk Data folder or NDJSON file: streamed once into partitions by patient on disk, each
    partition evaluated in turn (memory bounded by a partition, not the cohort), the results merged in
    patient order. With `options.shard`, only that shard's patients are kept (every count of the
    export's data quality stays the whole export's, so shards merge into one run's summary)."""
    started = time.perf_counter() if started is None else started
    # The partitions live in the temporary folder (TMPDIR) until the results are written.
    work = Path(tempfile.mkdtemp(prefix="immuno-cds-burden-"))
    try:
        return _run_partitioned(export, options, started, before_writing, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _run_partitioned(
    export: Path,
    options: RunOptions,
    started: float,
    before_writing: Callable[[], None],
    work: Path,
) -> BurdenResult:
    out_dir = options.out_dir
    parts = options.partitions or partitions_for(export, options.shard[1] if options.shard else 1)
    sampler = Sampler(options.validation_sample)
    keep = None
    if options.shard is not None:
        shard, shards = options.shard

        def keep(patient_id: str) -> bool:
            return shard_of(patient_id, shards) == shard

    with PartitionStore(work, parts) as store:
        template = read_export(export, options.max_line_bytes, store=store, keep=keep, sampler=sampler)
    if template.patient_count == 0:
        raise NoPatients(template)
    before_writing()
    plan = BurdenPlan(options.first_day, options.last_day, out_dir, language=options.language)
    evaluator = clinical.load_evaluator(options.knowledge_dir, options.cards_dir)
    total = (
        template.patient_count if options.shard is None else sum(1 for line in _kept_patients(store.files))
    )
    stream = _partition_outcomes(evaluator, store.files, template, plan, options.workers)
    part_files: list[Path] = []
    pending: list[PatientOutcome] = []
    current = 0
    for index, outcome in _outcomes_with_progress(stream, total, len(plan.days()), options.progress):
        if index != current and pending:
            part_files.append(work / f"outcomes-{current:04d}.ndjson")
            write_part(pending, part_files[-1])
            pending = []
        current = index
        pending.append(outcome)
    if pending:
        part_files.append(work / f"outcomes-{current:04d}.ndjson")
        write_part(pending, part_files[-1])
    validation = validate_sampled(sampler) if options.validation_sample > 0 else None
    summary = BurdenSummary(str(export), plan, template.quality)
    finish_run(part_files, out_dir, summary, validation, run_description(str(export), plan, options.shard))
    return BurdenResult(summary, validation, out_dir, time.perf_counter() - started)


def _kept_patients(files: list[Path]) -> Iterator[str]:
    """The patient ids the partition files hold (a shard's count for the progress bar)."""
    for file in files:
        if not file.exists():
            continue
        seen: set[str] = set()
        with file.open("rb") as stream:
            for line in stream:
                patient_id = str(orjson.loads(line)[0])
                if patient_id not in seen:
                    seen.add(patient_id)
                    yield patient_id


def run_burden(cohort: Cohort, options: RunOptions, started: float | None = None) -> BurdenResult:
    """A cohort already in memory (a Bundle): evaluated at once, written like `run_export`."""
    started = time.perf_counter() if started is None else started
    out_dir = options.out_dir
    plan = BurdenPlan(options.first_day, options.last_day, out_dir, language=options.language)
    evaluator = clinical.load_evaluator(options.knowledge_dir, options.cards_dir)
    outcomes = list(
        _outcomes_with_progress(
            evaluate_cohort(evaluator, cohort, plan, options.workers),
            len(cohort.patients),
            len(plan.days()),
            options.progress,
        )
    )
    work = Path(tempfile.mkdtemp(prefix="immuno-cds-burden-"))
    write_part(outcomes, work / "outcomes-0000.ndjson")
    validation = None
    if options.validation_sample > 0:
        sampler = Sampler(options.validation_sample)
        for patient_id in cohort.patient_ids():
            for resource in cohort.patients[patient_id]:
                sampler.offer(str(resource["resourceType"]), resource)
        for medication in cohort.medications.values():
            sampler.offer("Medication", medication)
        validation = validate_sampled(sampler)
    summary = BurdenSummary(str(cohort.source), plan, cohort.quality)
    finish_run(
        [work / "outcomes-0000.ndjson"],
        out_dir,
        summary,
        validation,
        run_description(str(cohort.source), plan, None),
    )
    shutil.rmtree(work, ignore_errors=True)
    return BurdenResult(summary, validation, out_dir, time.perf_counter() - started)
