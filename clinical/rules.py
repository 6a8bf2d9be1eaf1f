"""The three rules, each a pure function of (patient facts, today, timing rules). Their numbers
and evidence live in knowledge/timing.yaml."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Literal

from clinical.catalog import THERAPY_CLASSES, TherapyClass
from clinical.exposures import Exposure
from clinical.facts import PatientFacts
from clinical.imaging import ImagingEvent, SuspectedProgression
from clinical.knowledge import load_yaml
from clinical.neurological_findings import NeurologicalFinding

Indicator = Literal["info", "warning", "critical"]
_INDICATOR_RANK: dict[Indicator, int] = {"info": 0, "warning": 1, "critical": 2}


def indicator_rank(indicator: Indicator) -> int:
    return _INDICATOR_RANK[indicator]


def strongest(indicators: list[Indicator]) -> Indicator:
    return max(indicators, key=indicator_rank)


@dataclass(frozen=True)
class Window:
    id: str
    therapy_class: TherapyClass
    from_day: int
    to_day: int
    target_day: int | None
    indicator: Indicator
    evidence: tuple[str, ...]


@dataclass(frozen=True)
class TimingRules:
    recent_mri_days: int
    recent_start_days: int
    baseline_indicator: dict[TherapyClass, Indicator]
    baseline_evidence: tuple[str, ...]
    windows: tuple[Window, ...]
    irecist_from_days: int
    irecist_to_days: int
    irecist_indicator: Indicator
    irecist_evidence: tuple[str, ...]
    new_finding_days: int
    horizon_days: dict[TherapyClass, int]
    critical_from_icans_grade: int
    neurotoxicity_evidence: tuple[str, ...]

    @classmethod
    def load(cls, path: Path) -> TimingRules:
        data = load_yaml(path)
        baseline, interval, neuro = (
            data["baseline_brain_mri"],
            data["interval_imaging"],
            data["possible_neurotoxicity"],
        )
        irecist = interval["irecist_confirmation"]
        return cls(
            recent_mri_days=int(baseline["recent_mri_days"]),
            recent_start_days=int(baseline["recent_start_days"]),
            baseline_indicator=dict(baseline["indicator"]),
            baseline_evidence=tuple(baseline["evidence"]),
            windows=tuple(
                Window(
                    id=window["id"],
                    therapy_class=window["therapy_class"],
                    from_day=int(window["from_day"]),
                    to_day=int(window["to_day"]),
                    target_day=window.get("target_day"),
                    indicator=window["indicator"],
                    evidence=tuple(window["evidence"]),
                )
                for window in interval["windows"]
            ),
            irecist_from_days=int(irecist["from_days"]),
            irecist_to_days=int(irecist["to_days"]),
            irecist_indicator=irecist["indicator"],
            irecist_evidence=tuple(irecist["evidence"]),
            new_finding_days=int(neuro["new_finding_days"]),
            horizon_days=dict(neuro["horizon_after_last_exposure_days"]),
            critical_from_icans_grade=int(neuro["critical_from_icans_grade"]),
            neurotoxicity_evidence=tuple(neuro["evidence"]),
        )


@dataclass(frozen=True)
class Course:
    """A patient's exposure to one therapy class."""

    therapy_class: TherapyClass
    exposures: tuple[Exposure, ...]
    started: date | None  # first infusion (CAR-T) or first dose or order, on or before today
    last: date | None  # last infusion (CAR-T) or last dose or order, on or before today
    day_zero: date | None  # CAR-T: the latest infusion; others: the start
    day_zero_source: str | None  # the resource that dates day 0

    def agents(self) -> list[str]:
        return sorted({exposure.agent.display for exposure in self.exposures})


def _begun(therapy_class: TherapyClass, exposures: list[Exposure], today: date) -> list[Exposure]:
    """The exposures showing the therapy has begun, oldest first. CAR-T begins with the infusion:
    the product is ordered weeks earlier, at apheresis, so an order is not a start."""
    stages = ("administered",) if therapy_class == "car_t" else ("ordered", "administered")
    begun = [e for e in exposures if e.stage in stages and e.on is not None and e.on <= today]
    return sorted(begun, key=lambda exposure: exposure.on or date.min)


def _course(therapy_class: TherapyClass, exposures: list[Exposure], today: date) -> Course:
    begun = _begun(therapy_class, exposures, today)
    if not begun:
        return Course(therapy_class, tuple(exposures), None, None, None, None)
    # CAR-T counts from the latest infusion (a re-infusion restarts the clock); the others from the start.
    anchor = begun[-1] if therapy_class == "car_t" else begun[0]
    return Course(therapy_class, tuple(exposures), begun[0].on, begun[-1].on, anchor.on, anchor.source)


def therapy_courses(facts: PatientFacts, today: date) -> dict[TherapyClass, Course]:
    courses: dict[TherapyClass, Course] = {}
    for therapy_class in THERAPY_CLASSES:
        exposures = [e for e in facts.exposures if e.agent.therapy_class == therapy_class]
        if exposures:
            courses[therapy_class] = _course(therapy_class, exposures, today)
    return courses


# --- baseline-brain-mri ------------------------------------------------------------------------


@dataclass(frozen=True)
class BaselineAdvice:
    indicator: Indicator
    courses: tuple[Course, ...]
    triggers: tuple[Exposure, ...]
    last_brain_mri: ImagingEvent | None
    evidence: tuple[str, ...]


def _is_upcoming_or_recent(exposure: Exposure, course: Course, today: date, recent_start_days: int) -> bool:
    if exposure.stage == "planned":
        return True
    if course.therapy_class == "car_t" and exposure.stage == "ordered":
        # Ordered and not infused since: the infusion is still ahead.
        return course.day_zero is None or (exposure.on is not None and exposure.on > course.day_zero)
    if exposure.on is None:
        return False
    return exposure.on > today or (today - exposure.on).days <= recent_start_days


def _last_brain_mri(imaging: tuple[ImagingEvent, ...], today: date) -> ImagingEvent | None:
    done = [e for e in imaging if e.kind == "brain-mri" and e.state == "done" and e.on and e.on <= today]
    return max(done, key=lambda event: event.on or date.min) if done else None


def _brain_mri_current(imaging: tuple[ImagingEvent, ...], today: date, recent_days: int) -> bool:
    for event in imaging:
        if event.kind != "brain-mri":
            continue
        if event.on is None:
            if event.state == "ordered":
                return True
            continue
        age = (today - event.on).days
        if event.state == "done" and 0 <= age <= recent_days:
            return True
        if event.state == "ordered" and age <= recent_days:
            return True
    return False


def baseline_brain_mri(facts: PatientFacts, today: date, rules: TimingRules) -> BaselineAdvice | None:
    due: list[Course] = []
    triggers: list[Exposure] = []
    for course in therapy_courses(facts, today).values():
        if course.started is not None and (today - course.started).days > rules.recent_start_days:
            continue  # therapy under way: a baseline is no longer a baseline
        found = [
            e for e in course.exposures if _is_upcoming_or_recent(e, course, today, rules.recent_start_days)
        ]
        if found:
            due.append(course)
            triggers.extend(found)
    if not due or _brain_mri_current(facts.imaging, today, rules.recent_mri_days):
        return None
    indicator = strongest([rules.baseline_indicator[course.therapy_class] for course in due])
    return BaselineAdvice(
        indicator, tuple(due), tuple(triggers), _last_brain_mri(facts.imaging, today), rules.baseline_evidence
    )


# --- interval-imaging --------------------------------------------------------------------------


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
    progression: SuspectedProgression
    course: Course
    confirm_from: date
    confirm_to: date


@dataclass(frozen=True)
class IntervalAdvice:
    indicator: Indicator
    windows: tuple[WindowHit, ...]
    irecist: IrecistHit | None
    evidence: tuple[str, ...]


def _window_hits(courses: dict[TherapyClass, Course], today: date, rules: TimingRules) -> list[WindowHit]:
    hits = []
    for window in rules.windows:
        course = courses.get(window.therapy_class)
        if course is None or course.day_zero is None:
            continue
        day = (today - course.day_zero).days
        if window.from_day <= day <= window.to_day:
            hits.append(
                WindowHit(
                    window,
                    course,
                    day,
                    course.day_zero + timedelta(days=window.from_day),
                    course.day_zero + timedelta(days=window.to_day),
                    course.day_zero + timedelta(days=window.target_day)
                    if window.target_day is not None
                    else None,
                )
            )
    return hits


def _irecist_hit(
    facts: PatientFacts, course: Course | None, today: date, rules: TimingRules
) -> IrecistHit | None:
    if course is None or course.started is None:
        return None
    candidates = [
        p
        for p in facts.suspected_progressions
        if course.started <= p.on <= today and (today - p.on).days <= rules.irecist_to_days
    ]
    if not candidates:
        return None
    latest = max(candidates, key=lambda progression: progression.on)
    # Confirmation is restaging actually done after the iUPD; an order is not yet a confirmation.
    confirmed = any(
        event.state == "done" and event.on is not None and event.on > latest.on for event in facts.imaging
    )
    if confirmed:
        return None
    return IrecistHit(
        latest,
        course,
        latest.on + timedelta(days=rules.irecist_from_days),
        latest.on + timedelta(days=rules.irecist_to_days),
    )


def interval_imaging(facts: PatientFacts, today: date, rules: TimingRules) -> IntervalAdvice | None:
    courses = therapy_courses(facts, today)
    windows = _window_hits(courses, today, rules)
    irecist = _irecist_hit(facts, courses.get("ici"), today, rules)
    if not windows and irecist is None:
        return None
    indicators = [hit.window.indicator for hit in windows]
    evidence = [source for hit in windows for source in hit.window.evidence]
    if irecist is not None:
        indicators.append(rules.irecist_indicator)
        evidence.extend(rules.irecist_evidence)
    return IntervalAdvice(strongest(indicators), tuple(windows), irecist, tuple(dict.fromkeys(evidence)))


# --- possible-neurotoxicity --------------------------------------------------------------------


@dataclass(frozen=True)
class NeurotoxicityAdvice:
    indicator: Indicator
    courses: tuple[Course, ...]
    findings: tuple[NeurologicalFinding, ...]
    icans_grade: int | None
    brain_mri_since: ImagingEvent | None
    evidence: tuple[str, ...]


def _finding_indicator(finding: NeurologicalFinding, rules: TimingRules) -> Indicator:
    if finding.grade is not None:
        return "critical" if finding.grade >= rules.critical_from_icans_grade else "warning"
    return finding.severity


def _findings_after(
    course: Course, findings: tuple[NeurologicalFinding, ...], today: date, rules: TimingRules
) -> list[NeurologicalFinding]:
    if course.started is None or course.last is None:
        return []
    horizon_end = min(today, course.last + timedelta(days=rules.horizon_days[course.therapy_class]))
    return [
        finding
        for finding in findings
        if course.started <= finding.on <= horizon_end and (today - finding.on).days <= rules.new_finding_days
    ]


def possible_neurotoxicity(
    facts: PatientFacts, today: date, rules: TimingRules
) -> NeurotoxicityAdvice | None:
    involved: list[Course] = []
    found: dict[tuple[str, str], NeurologicalFinding] = {}
    for course in therapy_courses(facts, today).values():
        after = _findings_after(course, facts.findings, today, rules)
        if after:
            involved.append(course)
            for finding in after:
                found.setdefault((finding.source, finding.kind.id), finding)
    if not found:
        return None
    findings = tuple(sorted(found.values(), key=lambda finding: finding.on))
    icans_classes = {"car_t", "t_cell_engager"}
    grades = [f.grade for f in findings if f.grade is not None]
    icans_grade = max(grades) if grades and any(c.therapy_class in icans_classes for c in involved) else None
    earliest = findings[0].on
    imaging_since = [
        e for e in facts.imaging if e.kind == "brain-mri" and e.on is not None and e.on >= earliest
    ]
    return NeurotoxicityAdvice(
        strongest([_finding_indicator(finding, rules) for finding in findings]),
        tuple(involved),
        findings,
        icans_grade,
        max(imaging_since, key=lambda event: event.on or date.min) if imaging_since else None,
        rules.neurotoxicity_evidence,
    )


Advice = BaselineAdvice | IntervalAdvice | NeurotoxicityAdvice


def evaluate(facts: PatientFacts, today: date, rules: TimingRules) -> list[Advice]:
    """All advice for this patient today, most urgent first."""
    found: list[Advice | None] = [
        possible_neurotoxicity(facts, today, rules),
        baseline_brain_mri(facts, today, rules),
        interval_imaging(facts, today, rules),
    ]
    return [advice for advice in found if advice is not None]
