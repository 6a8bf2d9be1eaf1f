"""The timeline view model from a patient's facts: therapies (with day 0 as the rules see it), imaging
windows, findings and scores, brain MRIs. One builder for the reviewers' workbench (from a bulk export)
and the SMART app (from the live record), so both draw the same timeline."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta

from clinical.evaluation import Evaluator
from clinical.knowledge import display_names
from clinical.rules import courses_on
from clinical.timeline import PatientTimeline, TherapyEvent
from timeline_view.model import BrainMri, CardDay, Dose, Finding, ImagingWindow, Therapy, TimelineView
from timeline_view.words import ENGLISH, words_for

THERAPY_LABELS = {
    therapy_class: ENGLISH[f"therapy.{therapy_class}"] for therapy_class in ("ici", "car_t", "t_cell_engager")
}


_STAGES = {"given": "administered", "ongoing": "ordered", "stopped": "ordered", "planned": "planned"}


def _dose(event: TherapyEvent) -> Dose:
    what = "draft order" if event.draft_order else event.resource_type
    return Dose(event.on, _STAGES[event.kind], event.agent.display, what)


def _within_horizon(last: date | None, day: date, horizon_days: int) -> bool:
    """Drawn as under way: an active order, or a last dose recent enough to still explain findings."""
    return last is not None and (day - last).days <= horizon_days


def build_view(
    evaluator: Evaluator,
    facts: PatientTimeline,
    *,
    patient_id: str,
    first_day: date,
    last_day: date,
    card_days: Iterable[CardDay] = (),
    language: str = "en",
) -> TimelineView:
    """The patient's therapies, imaging windows, findings and brain MRIs as of `last_day`; names in
    `language` (German: the catalogue's `display_de`, the therapy classes from timeline_view/words.py)."""
    timing = evaluator.knowledge.timing
    words = words_for(language)
    names = display_names(evaluator.knowledge, language)
    view = TimelineView(patient_id, first_day, last_day, card_days=list(card_days))
    baseline = timing.baseline_brain_mri
    # Day 0 as the rules see it: a T-cell engager restarted after a long pause is a new course.
    courses = courses_on(
        facts.therapy, last_day, baseline.plan_expiry_days, baseline.t_cell_engager_new_course_gap_days
    )
    horizon = timing.possible_neurotoxicity.horizon_after_last_exposure_days
    for therapy_class, course in courses.items():
        events = [event for event in facts.therapy if event.agent.therapy_class == therapy_class]
        doses = tuple(sorted((_dose(e) for e in events), key=lambda dose: (dose.on or date.min, dose.source)))
        day_zero_event = course.day_zero_event
        view.therapies.append(
            Therapy(
                therapy_class=therapy_class,
                label=words.texts.get(f"therapy.{therapy_class}", therapy_class),
                agents=tuple(names.get(agent, agent) for agent in course.agents()),
                doses=doses,
                started=course.first_exposure,
                last=course.last_exposure,
                day_zero=course.day_zero,
                day_zero_source=day_zero_event.resource_type if day_zero_event else None,
                planned=bool(course.plans),
                ongoing=course.ongoing
                or _within_horizon(course.last_exposure, last_day, horizon.of(therapy_class)),
            )
        )
        if course.day_zero is None:
            continue
        for window in timing.interval_imaging.windows:
            if window.therapy_class != therapy_class:
                continue
            view.windows.append(
                ImagingWindow(
                    therapy_class,
                    window.id,
                    course.day_zero + timedelta(days=window.from_day),
                    course.day_zero + timedelta(days=window.to_day),
                    course.day_zero + timedelta(days=window.target_day)
                    if window.target_day is not None
                    else None,
                    window.indicator,
                )
            )
    view.findings = sorted(
        (
            Finding(
                f.on,
                names.get(f.kind.display, f.kind.display),
                f.kind.icans_grade or f.coded_grade,
                "warning" if f.uncertain else f.kind.severity,
                f.resource_type,
                f.detail + (words["evidence.suspected"] if f.uncertain else ""),
            )
            for f in facts.findings
        ),
        key=lambda finding: finding.on,
    )
    view.findings += [
        Finding(
            s.on,
            words["score.ice"] if s.kind == "ice" else words["score.capd"],
            s.grade,
            "warning",
            "Observation",
            f"{s.score}/{s.maximum}",
        )
        for s in facts.scores
        if s.grade is not None
    ]
    view.findings.sort(key=lambda finding: finding.on)
    view.brain_mris = sorted(
        (BrainMri(e.on, e.state, e.label) for e in facts.imaging if e.kind == "brain-mri"),
        key=lambda mri: (mri.on or date.min, mri.source),
    )
    return view
