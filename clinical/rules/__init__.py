"""The three rules, each a pure function of the patient timeline, the day and the reviewed timing
(knowledge/timing.yaml). `evaluate` applies them for one day and keeps the answer coherent: the urgent
neurotoxicity advice suppresses the baseline advice, so a response never offers two MRI orders, and a
neurotoxicity card takes in the risk window the patient is in (one card per episode, rules.episodes)."""

from __future__ import annotations

from datetime import date

from clinical.knowledge.schema import TimingFile
from clinical.rules.baseline import BaselineAdvice, baseline_brain_mri
from clinical.rules.courses import Course, courses_on
from clinical.rules.episodes import fold_risk_windows
from clinical.rules.grading import IcansGrade
from clinical.rules.indicators import indicator_rank, strongest
from clinical.rules.interval import IntervalAdvice, IrecistHit, WindowHit, interval_imaging
from clinical.rules.neurotoxicity import NeurotoxicityAdvice, possible_neurotoxicity
from clinical.timeline import PatientTimeline

Advice = BaselineAdvice | IntervalAdvice | NeurotoxicityAdvice

__all__ = [
    "Advice",
    "BaselineAdvice",
    "Course",
    "IcansGrade",
    "IntervalAdvice",
    "IrecistHit",
    "NeurotoxicityAdvice",
    "WindowHit",
    "courses_on",
    "evaluate",
    "indicator_rank",
    "strongest",
]


def evaluate(timeline: PatientTimeline, today: date, timing: TimingFile) -> list[Advice]:
    """All advice for this patient on this day, most urgent first."""
    courses = courses_on(timeline.therapy, today, timing.baseline_brain_mri.plan_expiry_days)
    neurotoxicity = possible_neurotoxicity(timeline, courses, today, timing.possible_neurotoxicity)
    baseline = None
    # A central syndrome's urgent brain MRI is also the comparison study: no second MRI order. A
    # neuromuscular or spinal work-up asks for no brain MRI, so a baseline before new therapy still shows.
    if neurotoxicity is None or "central" not in neurotoxicity.work_up:
        baseline = baseline_brain_mri(timeline, courses, today, timing.baseline_brain_mri)
    interval = interval_imaging(timeline, courses, today, timing.interval_imaging)
    if neurotoxicity is not None and interval is not None:
        neurotoxicity, interval = fold_risk_windows(neurotoxicity, interval, timing.interval_imaging)
    return [advice for advice in (neurotoxicity, baseline, interval) if advice is not None]
