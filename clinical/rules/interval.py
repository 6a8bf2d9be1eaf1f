"""`interval-imaging`: the imaging windows that matter after day 0 (CAR-T ICANS window, day +28
response, late effects; the T-cell engager step-up window) and iRECIST confirmation of suspected
progression under a checkpoint inhibitor. No routine card for checkpoint inhibitors without a trigger."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

from clinical.knowledge.schema import Indicator, IntervalTiming, IrecistTiming, TherapyClass, Window
from clinical.rules.courses import Course
from clinical.rules.indicators import strongest
from clinical.timeline import CancerDiagnosis, IciStop, PatientTimeline, ProgressionReport

IrecistPhase = Literal["planned", "due", "overdue"]


@dataclass(frozen=True)
class WindowHit:
    window: Window
    course: Course
    day: int
    starts: date
    ends: date
    target: date | None


@dataclass(frozen=True)
class IrecistHit:
    progression: ProgressionReport
    course: Course
    phase: IrecistPhase
    confirm_from: date
    confirm_to: date
    indicator: Indicator
    # The checkpoint inhibitor stopped before the iUPD for toxicity, no other therapy since (issue 16
    # section 8): the card says so.
    stopped_for_toxicity: IciStop | None = None
    # v3 (review): when that stop happened, as the records say it: the end the stop record states (None
    # when it states none, never the order's authoredOn), and the last dose given before today.
    stop_recorded_on: date | None = None
    last_dose_on: date | None = None


@dataclass(frozen=True)
class IntervalAdvice:
    indicator: Indicator
    windows: tuple[WindowHit, ...]
    irecist: IrecistHit | None
    evidence: tuple[str, ...]


def _applies(window: Window, course: Course, diagnoses: tuple[CancerDiagnosis, ...], today: date) -> bool:
    if not window.requires_imaging_response:
        return True
    if course.day_zero_event is None:
        return False
    # The patient's diagnosis decides (issue 16 section 4): lymphoma -> PET-CT; B-ALL (marrow, MRD)
    # and myeloma (IMWG) -> no imaging window. A lymphoma beside another listed disease keeps it.
    recorded = [diagnosis for diagnosis in diagnoses if diagnosis.known_on(today)]
    # An active diagnosis beats one resolved or in remission (v3 review: a lymphoma in remission since
    # 2020 does not make a B-ALL CAR-T's response an imaging one); with none active, all of them count.
    active = {diagnosis.kind for diagnosis in recorded if diagnosis.active}
    known = active or {diagnosis.kind for diagnosis in recorded}
    if known:
        return any(kind.response_by_imaging for kind in known)
    # Fallback, no diagnosis recorded: the product's indication. A generic infusion record (CPT 38228)
    # takes its product from the named orders around it: a myeloma product (cilta-cel, ide-cel) is
    # assessed by laboratory criteria, not day +28 imaging.
    return all(agent.response_by_imaging for agent in course.day_zero_agents())


def _window_hits(
    courses: dict[TherapyClass, Course],
    today: date,
    windows: list[Window],
    diagnoses: tuple[CancerDiagnosis, ...] = (),
) -> list[WindowHit]:
    hits = []
    for window in windows:
        course = courses.get(window.therapy_class)
        if course is None or course.day_zero is None or not _applies(window, course, diagnoses, today):
            continue
        day = (today - course.day_zero).days
        if window.from_day <= day <= window.to_day:
            target = (
                course.day_zero + timedelta(days=window.target_day) if window.target_day is not None else None
            )
            hits.append(
                WindowHit(
                    window,
                    course,
                    day,
                    course.day_zero + timedelta(days=window.from_day),
                    course.day_zero + timedelta(days=window.to_day),
                    target,
                )
            )
    return hits


def _closed(timeline: PatientTimeline, suspected: ProgressionReport, today: date) -> bool:
    """Closed by a later report of confirmed progression (iCPD), a later restaging response without
    progression (iSD, iPR, iCR), or cross-sectional restaging of the same sites (brain-only or body)
    done after the suspicion; a radiograph, an ultrasound or an order does not close it."""
    for report in timeline.progression:
        if report.kind in ("confirmed", "not-progression") and suspected.on < report.on <= today:
            return True
    return any(
        event.kind in ("cross-sectional", "brain-mri")
        # The same sites: a brain MRI for a headache does not restage a body-CT iUPD.
        and event.brain_only == suspected.brain_only
        and event.known_on(today)
        and event.state == "done"
        and event.on is not None
        and suspected.on < event.on <= today
        for event in timeline.imaging
    )


def _irecist_hit(
    timeline: PatientTimeline, course: Course | None, today: date, rules: IrecistTiming
) -> IrecistHit | None:
    if course is None or not course.exposed:
        return None
    started = course.first_exposure
    suspicions = [
        report
        for report in timeline.progression
        if report.kind == "suspected" and report.on <= today and (started is None or report.on >= started)
    ]
    if not suspicions:
        return None
    latest = max(suspicions, key=lambda report: report.on)
    age = (today - latest.on).days
    if age > rules.overdue_stop_days or _closed(timeline, latest, today):
        return None
    if _new_line_since(timeline, latest, course, today):
        return None
    stop = _current_stop(timeline, course, today)
    toxicity_stop: IciStop | None = None
    if stop is not None:
        if stop.reason == "progression":
            return None  # stopped for progression: nothing left to confirm (Seymour et al. 2017)
        if _stop_day(stop, course, today) < latest.on:
            # The iUPD came after the ICI had stopped: followed up only when it stopped for toxicity and
            # no other therapy followed (the reviewer's answer, issue 16 section 8).
            if stop.reason != "toxicity":
                return None
            toxicity_stop = stop
    phase: IrecistPhase = (
        "planned" if age < rules.from_days else ("due" if age <= rules.to_days else "overdue")
    )
    indicator = {
        "planned": rules.indicator_planned,
        "due": rules.indicator_due,
        "overdue": rules.indicator_overdue,
    }[phase]
    return IrecistHit(
        latest,
        course,
        phase,
        latest.on + timedelta(days=rules.from_days),
        latest.on + timedelta(days=rules.to_days),
        indicator,
        toxicity_stop,
        _recorded_stop_day(toxicity_stop, today) if toxicity_stop is not None else None,
        _last_dose(course, today) if toxicity_stop is not None else None,
    )


def _new_line_since(
    timeline: PatientTimeline, suspected: ProgressionReport, course: Course, today: date
) -> bool:
    """Systemic anticancer therapy other than a checkpoint inhibitor first given or ordered on or after
    the iUPD, or after the last checkpoint-inhibitor exposure (the ICI was followed by another therapy):
    a new line of therapy. An agent already recorded beside the ICI (pemetrexed maintenance beside
    pembrolizumab) is the same line."""
    first_by_agent: dict[str, date] = {}
    for therapy in timeline.other_anticancer_therapy:
        if therapy.on > today or (therapy.recorded_on is not None and therapy.recorded_on > today):
            continue
        known = first_by_agent.get(therapy.name)
        if known is None or therapy.on < known:
            first_by_agent[therapy.name] = therapy.on
    last_ici = course.last_exposure if not course.ongoing else None
    return any(
        first >= suspected.on or (last_ici is not None and first > last_ici)
        for first in first_by_agent.values()
    )


def _recorded_stop_day(stop: IciStop, today: date) -> date | None:
    """The end the stop record states (a period end by today); a later end is one once planned."""
    return stop.ended if stop.ended is not None and stop.ended <= today else None


def _last_dose(course: Course, today: date) -> date | None:
    doses = [
        event.on
        for event in course.exposures
        if event.kind == "given" and event.on is not None and event.on <= today
    ]
    return max(doses) if doses else None


def _stop_day(stop: IciStop, course: Course, today: date) -> date:
    """When the checkpoint inhibitor stopped: the end the record states, else its last recorded dose
    (or the record's own date when no dose is recorded)."""
    recorded = _recorded_stop_day(stop, today)
    if recorded is not None:
        return recorded
    candidates = [day for day in [_last_dose(course, today), stop.started] if day is not None]
    return max(candidates) if candidates else today


def _current_stop(timeline: PatientTimeline, course: Course, today: date) -> IciStop | None:
    """The latest stop of the checkpoint inhibitor that still holds on the day: none while an order or
    statement is active (the ICI goes on), and a stop followed by a later dose was a pause."""
    if course.ongoing:
        return None
    # A stopped order's period end may be the end once planned (stopped early): then the day it stopped
    # is read from its last dose.
    stops = [stop for stop in timeline.ici_stops if stop.started is None or stop.started <= today]
    if not stops:
        return None
    latest = max(stops, key=lambda stop: _stop_day(stop, course, today))
    day = _stop_day(latest, course, today)
    resumed = any(
        event.kind == "given" and event.on is not None and day < event.on <= today
        for event in course.exposures
    )
    return None if resumed else latest


def interval_imaging(
    timeline: PatientTimeline, courses: dict[TherapyClass, Course], today: date, rules: IntervalTiming
) -> IntervalAdvice | None:
    windows = _window_hits(courses, today, rules.windows, timeline.diagnoses)
    irecist = _irecist_hit(timeline, courses.get("ici"), today, rules.irecist_confirmation)
    if not windows and irecist is None:
        return None
    indicators = [hit.window.indicator for hit in windows]
    evidence = [source for hit in windows for source in hit.window.evidence]
    if irecist is not None:
        indicators.append(irecist.indicator)
        evidence.extend(rules.irecist_confirmation.evidence)
    return IntervalAdvice(strongest(indicators), tuple(windows), irecist, tuple(dict.fromkeys(evidence)))
