"""A therapy course as it stands on a given day: when it began (day 0), whether it is still running,
its last exposure, and the plans still ahead. Pure functions of the timeline's therapy events and the
day; the numbers come from knowledge/timing.yaml."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from clinical.knowledge.schema import THERAPY_CLASSES, TherapyClass
from clinical.timeline import TherapyEvent

_EXPOSURE_KINDS = frozenset(("given", "ongoing", "stopped"))


@dataclass(frozen=True)
class Course:
    therapy_class: TherapyClass
    exposures: tuple[TherapyEvent, ...]  # given, ongoing or stopped, on or before the day (or undated)
    plans: tuple[TherapyEvent, ...]  # live plans: not stale, not yet followed by the therapy
    day_zero_event: TherapyEvent | None
    first_exposure: date | None
    last_exposure: date | None  # the day itself while an order is still active
    ongoing: bool

    @property
    def day_zero(self) -> date | None:
        return self.day_zero_event.on if self.day_zero_event else None

    @property
    def exposed(self) -> bool:
        return bool(self.exposures)

    @property
    def undated_exposure(self) -> bool:
        return any(event.on is None for event in self.exposures)

    def agents(self) -> list[str]:
        events = self.exposures or self.plans
        return sorted({event.agent.display for event in events})

    def day(self, today: date) -> int | None:
        return (today - self.day_zero).days if self.day_zero else None


def _as_of(event: TherapyEvent, today: date) -> TherapyEvent:
    # An order whose therapy starts after the day (a future boundsPeriod) is still a plan on that day.
    if event.kind != "planned" and event.on is not None and event.on > today:
        return TherapyEvent(
            event.agent,
            "planned",
            event.on,
            event.resource_type,
            event.draft_order,
            event.matched_by,
            recorded_on=event.recorded_on,
        )
    return event


def _day_zero_event(therapy_class: TherapyClass, exposures: list[TherapyEvent]) -> TherapyEvent | None:
    dated = [event for event in exposures if event.on is not None]
    if not dated:
        return None
    if therapy_class == "car_t":
        # The latest infusion: a re-infusion restarts the clock.
        return max(dated, key=lambda event: event.on or date.min)
    # T-cell engagers and ICI: the first dose given; without any recorded dose, the start of the
    # earliest order (outpatient records often hold the order and not the infusions).
    doses = [event for event in dated if event.kind == "given"]
    return min(doses or dated, key=lambda event: event.on or date.max)


def _live_plans(
    plans: list[TherapyEvent], exposures: list[TherapyEvent], today: date, expiry_days: int
) -> list[TherapyEvent]:
    live = []
    started = any(event.on is not None for event in exposures)
    for plan in plans:
        if plan.draft_order:
            live.append(plan)
            continue
        if plan.on is None:
            # A scheduled Procedure often has no date yet: it is a plan while nothing has been given.
            if not started:
                live.append(plan)
            continue
        if (today - plan.on).days > expiry_days:
            continue  # stale: an order never given within the reviewed number of days is not a plan
        fulfilled = any(event.on is not None and event.on >= plan.on for event in exposures)
        if not fulfilled:
            live.append(plan)
    return live


def course_on(
    therapy_class: TherapyClass, events: list[TherapyEvent], today: date, plan_expiry_days: int
) -> Course:
    # Only what had been written by the day (a plan authored later did not exist yet).
    visible = [_as_of(e, today) for e in events if e.recorded_on is None or e.recorded_on <= today]
    exposures = [e for e in visible if e.kind in _EXPOSURE_KINDS and (e.on is None or e.on <= today)]
    plans = [e for e in visible if e.kind == "planned"]
    dates = [event.on for event in exposures if event.on is not None]
    ongoing = therapy_class != "car_t" and any(event.kind == "ongoing" for event in exposures)
    return Course(
        therapy_class=therapy_class,
        exposures=tuple(exposures),
        plans=tuple(_live_plans(plans, exposures, today, plan_expiry_days)),
        day_zero_event=_day_zero_event(therapy_class, exposures),
        first_exposure=min(dates) if dates else None,
        last_exposure=today if ongoing else (max(dates) if dates else None),
        ongoing=ongoing,
    )


def courses_on(
    events: tuple[TherapyEvent, ...], today: date, plan_expiry_days: int
) -> dict[TherapyClass, Course]:
    courses: dict[TherapyClass, Course] = {}
    for therapy_class in THERAPY_CLASSES:
        of_class = [event for event in events if event.agent.therapy_class == therapy_class]
        if of_class:
            course = course_on(therapy_class, of_class, today, plan_expiry_days)
            if course.exposures or course.plans:
                courses[therapy_class] = course
    return courses
