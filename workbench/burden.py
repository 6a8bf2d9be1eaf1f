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
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from timeline_view.model import CardDay
from timeline_view.render import timeline_page
from workbench import clinical_adapter as clinical
from workbench.as_of import ChartHistory, entered_chart_on
from workbench.export import Cohort, ExportError, colliding_file_stems, safe_file_stem

HOOK = "patient-view"
USER_ID = "Practitioner/alert-burden-review"
PATIENT_PAGES = "patients"


@dataclass(frozen=True)
class BurdenPlan:
    first_day: date
    last_day: date
    out_dir: Path
    user_id: str = USER_ID
    language: str = "en"  # the language of the cards' summaries in the report (issue 19: "de")

    def days(self) -> list[date]:
        return [self.first_day + timedelta(days=n) for n in range((self.last_day - self.first_day).days + 1)]


@dataclass(frozen=True)
class CardRow:
    patient: str
    date: str
    topic: str
    rule: str
    indicator: str
    summary: str

    def as_dict(self) -> dict[str, str]:
        return {
            "patient": self.patient,
            "date": self.date,
            "topic": self.topic,
            "rule": self.rule,
            "indicator": self.indicator,
            "summary": self.summary,
        }

    @classmethod
    def from_dict(cls, row: dict[str, Any]) -> CardRow:
        return cls(
            str(row["patient"]),
            str(row["date"]),
            str(row["topic"]),
            str(row.get("rule", "")),
            str(row["indicator"]),
            str(row["summary"]),
        )


@dataclass
class PatientOutcome:
    patient_id: str
    page: str  # relative to the output folder
    rows: list[CardRow] = field(default_factory=list)
    error: str | None = None  # the evaluation failed (the exception's type): counted, never hidden
    undated: int = 0  # clinical resources with no chart-entry date: seen from the first day
    orphan: bool = False  # no Patient resource in the export: not a patient of the denominator
    therapies: list[str] = field(default_factory=list)  # therapy classes the chart names (labels)
    order_rows: list[CardRow] = field(default_factory=list)  # order-select cards only an order shows
    orders_simulated: int = 0
    # Medication-use records the catalog does not recognise: (system, code, display) -> records.
    unrecognised: Counter[tuple[str, str, str]] = field(default_factory=Counter)

    @property
    def exposed(self) -> bool:
        return bool(self.therapies)

    def as_dict(self) -> dict[str, Any]:
        """One line of patients.ndjson: what the summary needs besides the card rows (and a merge of
        shards rebuilds the summary from)."""
        return {
            "patient": self.patient_id,
            "page": self.page,
            "orphan": self.orphan,
            "therapies": self.therapies,
            "error": self.error,
            "undated": self.undated,
            "orders_simulated": self.orders_simulated,
            "unrecognised": [[*key, count] for key, count in sorted(self.unrecognised.items())],
        }

    @classmethod
    def from_dict(cls, line: dict[str, Any]) -> PatientOutcome:
        outcome = cls(str(line["patient"]), str(line["page"]))
        outcome.orphan = bool(line.get("orphan"))
        outcome.therapies = [str(name) for name in line.get("therapies", [])]
        error = line.get("error")
        outcome.error = str(error) if error is not None else None
        outcome.undated = int(line.get("undated", 0))
        outcome.orders_simulated = int(line.get("orders_simulated", 0))
        for system, code, display, count in line.get("unrecognised", []):
            outcome.unrecognised[(str(system), str(code), str(display))] += int(count)
        return outcome


def patient_page_path(patient_id: str) -> str:
    return f"{PATIENT_PAGES}/{safe_file_stem(patient_id)}.html"


def _card_row(patient_id: str, day: date, card: clinical.RenderedCard) -> CardRow:
    return CardRow(
        patient_id,
        day.isoformat(),
        card.topic,
        card.rule,
        str(card.card.get("indicator", "info")),
        str(card.card.get("summary", "")),
    )


def _card_day(day: date, card: clinical.RenderedCard) -> CardDay:
    return CardDay(
        day,
        card.topic,
        str(card.card.get("indicator", "info")),
        str(card.card.get("summary", "")),
        str(card.card.get("detail", "")),
        card.rule,
        card.evidence,
    )


def _draft_of(order: dict[str, Any]) -> dict[str, Any]:
    """The order as order-select would send it: the same MedicationRequest, still a draft."""
    return {**order, "status": "draft"}


def _order_time_cards(
    evaluator: clinical.Evaluator,
    plan: BurdenPlan,
    patient_id: str,
    history: ChartHistory,
    medications: dict[str, dict[str, Any]],
    shown: dict[str, set[tuple[str, str]]],
    outcome: PatientOutcome,
) -> list[CardDay]:
    """order-select at each therapy order's authoredOn within the range, with the chart as of the day
    before and the order as the draft: the cards patient-view does not show that day."""
    order_days: list[CardDay] = []
    for order in history.orders_in(plan.first_day, plan.last_day):
        day = entered_chart_on(order)
        assert day is not None
        before = history.on(day - timedelta(days=1))
        record = clinical.build_record(patient_id, before, medications)
        if clinical.medication_codes(evaluator, order, record) is not None:
            continue  # not a therapy the catalog knows: an order hook would show nothing of ours
        outcome.orders_simulated += 1
        facts = clinical.patient_facts(evaluator, record, [_draft_of(order)], day)
        for card in _cards_on(evaluator, plan, patient_id, facts, day):
            if (card.topic, card.rule) in shown.get(day.isoformat(), set()):
                continue
            outcome.order_rows.append(_card_row(patient_id, day, card))
            order_days.append(_card_day(day, card))
    return order_days


def _cards_on(
    evaluator: clinical.Evaluator, plan: BurdenPlan, patient_id: str, facts: clinical.Facts, day: date
) -> list[clinical.RenderedCard]:
    """What the hook would answer on `day` (at noon) from these facts, in the plan's language."""
    return clinical.rendered_on_day(
        evaluator,
        facts,
        now=clinical.day_noon(day),
        patient_id=patient_id,
        user_id=plan.user_id,
        encounter_id=None,
        language=plan.language,
    )


def _unrecognised_medications(
    evaluator: clinical.Evaluator, record: clinical.PatientRecord, outcome: PatientOutcome
) -> None:
    for resource_type in clinical.MEDICATION_USE_TYPES:
        for resource in record.of_type(resource_type):
            codes = clinical.medication_codes(evaluator, resource, record)
            if codes is not None:
                outcome.unrecognised[codes[0]] += 1


def evaluate_patient(
    evaluator: clinical.Evaluator,
    plan: BurdenPlan,
    patient_id: str,
    resources: list[dict[str, Any]],
    medications: dict[str, dict[str, Any]],
    orphan: bool = False,
) -> PatientOutcome:
    outcome = PatientOutcome(patient_id, patient_page_path(patient_id), orphan=orphan)
    try:
        with clinical.one_patients_texts():
            _evaluate_days(evaluator, plan, patient_id, resources, medications, outcome)
    except Exception as error:  # one patient's bad data must not stop a cohort's report
        outcome.rows.clear()
        outcome.order_rows.clear()
        outcome.error = type(error).__name__
    return outcome


def _evaluate_days(
    evaluator: clinical.Evaluator,
    plan: BurdenPlan,
    patient_id: str,
    resources: list[dict[str, Any]],
    medications: dict[str, dict[str, Any]],
    outcome: PatientOutcome,
) -> None:
    history = ChartHistory(resources)
    outcome.undated = history.undated
    facts: clinical.Facts | None = None
    card_days: list[CardDay] = []
    shown: dict[str, set[tuple[str, str]]] = {}
    for state in history.replay(plan.days()):
        day = state.day
        if state.changed or facts is None:
            # As of that day: only what had entered the chart by then (no look-ahead). The
            # timeline is rebuilt only on the days something new entered it.
            record = clinical.build_record(patient_id, state.resources, medications)
            facts = clinical.patient_facts(evaluator, record, [], day)
        for card in _cards_on(evaluator, plan, patient_id, facts, day):
            outcome.rows.append(_card_row(patient_id, day, card))
            card_days.append(_card_day(day, card))
            shown.setdefault(day.isoformat(), set()).add((card.topic, card.rule))
    full_record = clinical.build_record(patient_id, history.on(plan.last_day), medications)
    if facts is None:  # an empty range: the chart as of its first day
        facts = clinical.patient_facts(evaluator, full_record, [], plan.first_day)
    outcome.therapies = clinical.therapy_classes(facts)
    _unrecognised_medications(evaluator, full_record, outcome)
    order_days = _order_time_cards(evaluator, plan, patient_id, history, medications, shown, outcome)
    view = clinical.timeline_view(
        evaluator,
        facts,
        patient_id=patient_id,
        first_day=plan.first_day,
        last_day=plan.last_day,
        card_days=card_days,
        language=plan.language,
    )
    view.orphan = outcome.orphan
    view.order_cards = order_days
    (plan.out_dir / outcome.page).write_text(
        timeline_page(view, "../report.html", language=plan.language), encoding="utf-8"
    )


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
        work.evaluator,
        work.plan,
        patient_id,
        work.cohort.patients[patient_id],
        work.cohort.medications,
        patient_id in work.cohort.orphans,
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
                evaluator,
                plan,
                patient_id,
                cohort.patients[patient_id],
                cohort.medications,
                patient_id in cohort.orphans,
            )
        return
    context = multiprocessing.get_context("fork")
    work = _Work(evaluator, plan, cohort)
    with context.Pool(workers, initializer=_init_worker, initargs=(work,)) as pool:
        chunk = max(1, min(16, len(patient_ids) // (workers * 8)))
        yield from pool.imap_unordered(_evaluate_in_worker, patient_ids, chunksize=chunk)
