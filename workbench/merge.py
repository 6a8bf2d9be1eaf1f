"""Writing a run's results from its parts, streaming: each partition (or shard) of the cohort leaves
an outcomes file sorted by patient id; the parts are merged in patient order into cards.ndjson,
order_cards.ndjson, patients.ndjson, outcomes.ndjson, summary.json, quality.json and report.html.
Memory holds one patient's outcome at a time (and the summary's counters), never the cohort's cards.

`immuno-cds burden-merge` uses the same merge on the outcomes of shard runs (`burden --shard I/N`), so
that N shards give the same files as one run.
"""

from __future__ import annotations

import heapq
import shutil
from collections.abc import Iterable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import orjson

from workbench.burden import PATIENT_PAGES, BurdenPlan, CardRow, PatientOutcome
from workbench.export import DataQuality
from workbench.report import report_page
from workbench.summary import BurdenSummary
from workbench.validation import ValidationReport

OUTCOMES = "outcomes.ndjson"
RUN = "run.json"
QUALITY = "quality.json"


class MergeError(Exception):
    """The shard outputs do not belong together: one line for the user."""


def _rows(rows: list[CardRow]) -> list[list[str]]:
    return [[row.date, row.topic, row.rule, row.indicator, row.summary] for row in rows]


def outcome_line(outcome: PatientOutcome) -> bytes:
    line = outcome.as_dict()
    line["rows"] = _rows(outcome.rows)
    line["order_rows"] = _rows(outcome.order_rows)
    return orjson.dumps(line) + b"\n"


def _outcome(line: dict[str, Any]) -> PatientOutcome:
    outcome = PatientOutcome.from_dict(line)
    patient = outcome.patient_id
    outcome.rows = [CardRow(patient, *row) for row in line["rows"]]
    outcome.order_rows = [CardRow(patient, *row) for row in line["order_rows"]]
    return outcome


def read_outcomes(path: Path) -> Iterator[PatientOutcome]:
    with path.open("rb") as stream:
        for line in stream:
            yield _outcome(orjson.loads(line))


def write_part(outcomes: Iterable[PatientOutcome], path: Path) -> None:
    """One partition's outcomes, sorted by patient id."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as stream:
        for outcome in sorted(outcomes, key=lambda item: item.patient_id):
            stream.write(outcome_line(outcome))


def finish_run(
    parts: list[Path],
    out_dir: Path,
    summary: BurdenSummary,
    validation: ValidationReport | None,
    run: dict[str, Any],
) -> None:
    """Merge the parts in patient order and write every result file."""
    merged = heapq.merge(*(read_outcomes(part) for part in parts), key=lambda item: item.patient_id)
    target = out_dir / (OUTCOMES + ".tmp")  # a part may be this run's own outcomes.ndjson (a re-merge)
    with (
        (out_dir / "cards.ndjson").open("wb") as cards_file,
        (out_dir / "order_cards.ndjson").open("wb") as order_file,
        (out_dir / "patients.ndjson").open("wb") as patients_file,
        target.open("wb") as outcomes_file,
    ):
        for outcome in merged:
            summary.add(outcome)
            patients_file.write(orjson.dumps(outcome.as_dict()) + b"\n")
            outcomes_file.write(outcome_line(outcome))
            if outcome.orphan:
                continue  # orphans are not patients of the cohort: their cards are counted apart
            cards_file.writelines(orjson.dumps(row.as_dict()) + b"\n" for row in outcome.rows)
            order_file.writelines(orjson.dumps(row.as_dict()) + b"\n" for row in outcome.order_rows)
    target.replace(out_dir / OUTCOMES)
    document = summary.as_dict()
    if validation is not None:
        document["fhir_validation"] = validation.as_dict()
    (out_dir / "summary.json").write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2) + b"\n")
    (out_dir / QUALITY).write_bytes(
        orjson.dumps(summary.quality.to_json(), option=orjson.OPT_SORT_KEYS) + b"\n"
    )
    (out_dir / RUN).write_bytes(orjson.dumps(run, option=orjson.OPT_INDENT_2) + b"\n")
    (out_dir / "report.html").write_text(report_page(summary, validation), encoding="utf-8")


def run_description(source: str, plan: BurdenPlan, shard: tuple[int, int] | None) -> dict[str, Any]:
    return {
        "source": source,
        "from": plan.first_day.isoformat(),
        "to": plan.last_day.isoformat(),
        "shard": list(shard) if shard else None,
        "language": plan.language,
    }


def _read_json(path: Path) -> Any:
    try:
        return orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError) as error:
        raise MergeError(f"{path}: not a burden shard's output ({type(error).__name__})") from None


def merge_shards(shard_dirs: list[Path], out_dir: Path) -> BurdenSummary:
    """The shards' outcomes as one run: same cards.ndjson, summary.json and report as an unsharded run."""
    if not shard_dirs:
        raise MergeError("no shard folders given")
    runs = [_read_json(folder / RUN) for folder in shard_dirs]
    first = runs[0]
    for folder, run in zip(shard_dirs, runs, strict=True):
        if (run["source"], run["from"], run["to"]) != (first["source"], first["from"], first["to"]):
            raise MergeError(f"{folder} is a run of another export or range than {shard_dirs[0]}")
    shards = [tuple(run["shard"]) if run["shard"] else (0, 1) for run in runs]
    count = shards[0][1]
    if sorted(shards) != [(index, count) for index in range(count)]:
        found = ", ".join(f"{index + 1}/{total}" for index, total in sorted(shards))
        raise MergeError(f"the shards do not cover 1/{count} to {count}/{count} once each (found {found})")
    quality = DataQuality.from_json(_read_json(shard_dirs[0] / QUALITY))
    summary_document = _read_json(shard_dirs[0] / "summary.json")
    validation_document = summary_document.get("fhir_validation")
    validation = ValidationReport.from_dict(validation_document) if validation_document else None
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / PATIENT_PAGES).mkdir(exist_ok=True)
    for folder in shard_dirs:
        pages = folder / PATIENT_PAGES
        if pages.is_dir() and pages.resolve() != (out_dir / PATIENT_PAGES).resolve():
            for page in pages.iterdir():
                shutil.copyfile(page, out_dir / PATIENT_PAGES / page.name)
    language = str(first.get("language") or "en")  # runs written before the German report: English
    plan = BurdenPlan(
        date.fromisoformat(first["from"]), date.fromisoformat(first["to"]), out_dir, language=language
    )
    summary = BurdenSummary(str(first["source"]), plan, quality)
    finish_run(
        [folder / OUTCOMES for folder in shard_dirs],
        out_dir,
        summary,
        validation,
        run_description(str(first["source"]), plan, None),
    )
    return summary
