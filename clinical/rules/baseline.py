"""`baseline-brain-mri`: a brain MRI before, or on the day of, the start of therapy, so that later scans
have a comparison. CAR-T and T-cell engagers: a warning with the order suggestion while the therapy is
ahead; after a CAR-T infusion the interval and neurotoxicity cards take over. Checkpoint inhibitors: an
info card without a suggestion, only when the inhibitor is being ordered now (knowledge/timing.yaml)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from clinical.knowledge.schema import BaselineTiming, Indicator, TherapyClass
from clinical.rules.courses import Course
from clinical.rules.indicators import strongest
from clinical.rules.mri_safety import MriCaution
from clinical.timeline import ImagingEvent, PatientTimeline, TherapyEvent

_SUGGESTS_ORDER: frozenset[TherapyClass] = frozenset(("car_t", "t_cell_engager"))


@dataclass(frozen=True)
class BaselineAdvice:
    indicator: Indicator
    courses: tuple[Course, ...]
    plans: tuple[TherapyEvent, ...]
    planned_start: date | None  # the earliest future start a plan names
    last_brain_mri: ImagingEvent | None
    suggest_order: bool
    evidence: tuple[str, ...]
    mri_caution: MriCaution | None = None  # set by `evaluate` when MRI is contraindicated


def _due_plans(course: Course, today: date, rules: BaselineTiming) -> list[TherapyEvent]:
    # Given, on a date the record does not let us read (and no dated dose): the therapy may well have
    # started, so a baseline can no longer be called one. The record still counts (rules section 1).
    started_undated = course.undated_exposure and course.day_zero is None
    if course.therapy_class == "car_t":
        day = course.day(today)
        if started_undated or (day is not None and day <= rules.car_t_retreatment_days):
            return []  # after an infusion a baseline is no longer a baseline
        return list(course.plans)
    if course.therapy_class == "t_cell_engager" and _restart_ahead(course, today, rules):
        return list(course.plans)  # a new course after a long pause: a new baseline (issue 16 section 4)
    started_before_today = course.day_zero is not None and course.day_zero < today
    if started_before_today or started_undated:
        return []
    if course.therapy_class == "ici":
        # Only at the moment of ordering: routine brain imaging under ICI without symptoms is not
        # supported by the reviewed evidence, and a standing reminder would be alarm fatigue.
        return [plan for plan in course.plans if plan.draft_order]
    if not course.plans and course.day_zero == today and course.day_zero_event is not None:
        # Day 0 is today (first step-up dose charted, or an order starting today) with no separate
        # plan record: still "at the start of therapy", so the baseline is still a baseline.
        return [course.day_zero_event]
    return list(course.plans)


def _restart_ahead(course: Course, today: date, rules: BaselineTiming) -> bool:
    """A T-cell engager planned again after a pause longer than `t_cell_engager_new_course_gap_days`
    since the last dated dose (none undated, no order still running): the new course needs a baseline."""
    if course.ongoing or course.undated_exposure or not course.plans:
        return False
    dated = [event.on for event in course.exposures if event.on is not None]
    return bool(dated) and (today - max(dated)).days > rules.t_cell_engager_new_course_gap_days


def _planned_start(plans: list[TherapyEvent], today: date) -> date | None:
    ahead = [plan.on for plan in plans if plan.on is not None and plan.on > today]
    return min(ahead) if ahead else None


def _baseline_on_record(imaging: tuple[ImagingEvent, ...], reference: date, today: date, window: int) -> bool:
    earliest = reference - timedelta(days=window)
    for event in imaging:
        if event.kind != "brain-mri" or not event.known_on(today):
            continue
        if event.state == "done" and event.on is not None and earliest <= event.on <= today:
            return True
        if event.state == "ordered" and (event.on is None or event.on >= today - timedelta(days=window)):
            return True
    return False


def _last_brain_mri(imaging: tuple[ImagingEvent, ...], today: date) -> ImagingEvent | None:
    done = [e for e in imaging if e.kind == "brain-mri" and e.state == "done" and e.on and e.on <= today]
    done = [event for event in done if event.known_on(today)]
    return max(done, key=lambda event: event.on or date.min) if done else None


def baseline_brain_mri(
    timeline: PatientTimeline, courses: dict[TherapyClass, Course], today: date, rules: BaselineTiming
) -> BaselineAdvice | None:
    due: list[Course] = []
    plans: list[TherapyEvent] = []
    for course in courses.values():
        found = _due_plans(course, today, rules)
        if found:
            due.append(course)
            plans.extend(found)
    if not due:
        return None
    planned_start = _planned_start(plans, today)
    reference = planned_start or today
    if _baseline_on_record(timeline.imaging, reference, today, rules.baseline_mri_window_days):
        return None
    return BaselineAdvice(
        indicator=strongest([rules.indicator[course.therapy_class] for course in due]),
        courses=tuple(due),
        plans=tuple(plans),
        planned_start=planned_start,
        last_brain_mri=_last_brain_mri(timeline.imaging, today),
        suggest_order=any(course.therapy_class in _SUGGESTS_ORDER for course in due),
        # CAR-T sources only on a card about CAR-T or a T-cell engager, never on a checkpoint-inhibitor one.
        evidence=tuple(
            dict.fromkeys(
                [
                    *rules.evidence,
                    *(rules.immune_effector_evidence if any(c.therapy_class != "ici" for c in due) else []),
                ]
            )
        ),
    )
