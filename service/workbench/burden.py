"""Alert burden: for every patient of an export and every day of a range, the cards patient-view would
answer that day, through the service's own evaluation (see `clinical_adapter`), from what the chart held
that day (`as_of`: no look-ahead).

Facts are computed per patient each day something new entered the chart, and the rules once per day.
Patients are spread over worker processes (fork: the export read once in the parent is shared, not
copied through pipes); each worker writes its patients' timeline pages itself and hands back only the
card rows.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from service.workbench import clinical_adapter as clinical
from service.workbench.as_of import ChartHistory
from service.workbench.export import Cohort, ExportError, colliding_file_stems, safe_file_stem
from service.workbench.timeline import timeline_page
from service.workbench.view import CardDay

HOOK = "patient-view"
USER_ID = "Practitioner/alert-burden-review"
PATIENT_PAGES = "patients"


@dataclass(frozen=True)
class BurdenPlan:
    first_day: date
    last_day: date
    out_dir: Path
    user_id: str = USER_ID

    def days(self) -> list[date]:
        return [self.first_day + timedelta(days=n) for n in range((self.last_day - self.first_day).days + 1)]


@dataclass(frozen=True)
class CardRow:
    patient: str
    date: str
    topic: str
    indicator: str
    summary: str

    def as_dict(self) -> dict[str, str]:
        return {
            "patient": self.patient,
            "date": self.date,
            "topic": self.topic,
            "indicator": self.indicator,
            "summary": self.summary,
        }


@dataclass
class PatientOutcome:
    patient_id: str
    page: str  # relative to the output folder
    rows: list[CardRow] = field(default_factory=list)
    error: str | None = None  # the evaluation failed (the exception's type): counted, never hidden
    undated: int = 0  # clinical resources with no chart-entry date: seen from the first day


def patient_page_path(patient_id: str) -> str:
    return f"{PATIENT_PAGES}/{safe_file_stem(patient_id)}.html"


def evaluate_patient(
    evaluator: clinical.Evaluator,
    plan: BurdenPlan,
    patient_id: str,
    resources: list[dict[str, Any]],
    medications: dict[str, dict[str, Any]],
) -> PatientOutcome:
    outcome = PatientOutcome(patient_id, patient_page_path(patient_id))
    try:
        history = ChartHistory(resources)
        outcome.undated = history.undated
        facts: clinical.Facts | None = None
        card_days: list[CardDay] = []
        for state in history.replay(plan.days()):
            day = state.day
            if state.changed or facts is None:
                # As of that day: only what had entered the chart by then (no look-ahead). The
                # timeline is rebuilt only on the days something new entered it.
                record = clinical.build_record(patient_id, state.resources, medications)
                facts = clinical.patient_facts(evaluator, record, [], day)
            cards = clinical.cards_on_day(
                evaluator,
                facts,
                now=clinical.day_noon(day),
                hook=HOOK,
                patient_id=patient_id,
                user_id=plan.user_id,
                encounter_id=None,
            )
            for card in cards:
                topic, indicator = clinical.card_topic(card), str(card.get("indicator", "info"))
                summary, detail = str(card.get("summary", "")), str(card.get("detail", ""))
                outcome.rows.append(CardRow(patient_id, day.isoformat(), topic, indicator, summary))
                card_days.append(CardDay(day, topic, indicator, summary, detail))
        if facts is None:  # an empty range: the chart as of its first day
            record = clinical.build_record(patient_id, history.on(plan.first_day), medications)
            facts = clinical.patient_facts(evaluator, record, [], plan.first_day)
        view = clinical.timeline_view(
            evaluator,
            facts,
            patient_id=patient_id,
            first_day=plan.first_day,
            last_day=plan.last_day,
            card_days=card_days,
        )
        (plan.out_dir / outcome.page).write_text(timeline_page(view, "../report.html"), encoding="utf-8")
    except Exception as error:  # one patient's bad data must not stop a cohort's report
        outcome.rows.clear()
        outcome.error = type(error).__name__
    return outcome


@dataclass(frozen=True)
class _Work:
    evaluator: clinical.Evaluator
    plan: BurdenPlan
    cohort: Cohort


# Set once per worker process by its initializer (with fork, from the parent's memory, not pickled).
_worker_work: list[_Work] = []


def _init_worker(work: _Work) -> None:
    _worker_work.append(work)


def _evaluate_in_worker(patient_id: str) -> PatientOutcome:
    work = _worker_work[0]
    return evaluate_patient(
        work.evaluator, work.plan, patient_id, work.cohort.patients[patient_id], work.cohort.medications
    )


def evaluate_cohort(
    evaluator: clinical.Evaluator, cohort: Cohort, plan: BurdenPlan, workers: int
) -> Iterator[PatientOutcome]:
    """Outcomes as patients finish (in no fixed order when workers > 1)."""
    patient_ids = cohort.patient_ids()
    if colliding_file_stems(patient_ids):
        # Never one page written over another's: a reviewer would read one patient's timeline as another's.
        raise ExportError("two patients' timeline pages would have the same file name; report not written")
    (plan.out_dir / PATIENT_PAGES).mkdir(parents=True, exist_ok=True)
    if workers <= 1 or len(patient_ids) < 2:
        for patient_id in patient_ids:
            yield evaluate_patient(
                evaluator, plan, patient_id, cohort.patients[patient_id], cohort.medications
            )
        return
    context = multiprocessing.get_context("fork")
    work = _Work(evaluator, plan, cohort)
    with context.Pool(workers, initializer=_init_worker, initargs=(work,)) as pool:
        chunk = max(1, min(16, len(patient_ids) // (workers * 8)))
        yield from pool.imap_unordered(_evaluate_in_worker, patient_ids, chunksize=chunk)
