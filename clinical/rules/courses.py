"""A therapy course as it stands on a given day: when it began (day 0), whether it is still running,
its last exposure, and the plans still ahead. Pure functions of the timeline's therapy events and the
day; the numbers come from knowledge/timing.yaml."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from clinical.knowledge.schema import THERAPY_CLASSES, TherapyClass
from clinical.timeline import TherapyEvent
from clinical.timeline.therapies import Agent

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
    # Named products of the class recorded around this course (orders, plans, doses): what a generic
    # CAR-T infusion record (CPT 38228, "CAR-T infusion") infused. Empty when none is named.
    named_products: tuple[Agent, ...] = ()

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
        return _displays([event.agent for event in events])

    def day_zero_agents(self) -> list[Agent]:
        """What day 0 gave. CAR-T: the product(s) infused on day 0 (a re-infusion with another product
        is a new course: the earlier product is not named); a generic infusion record takes the product
        from the named orders and plans around it. Other classes: every agent of the course."""
        event = self.day_zero_event
        if self.therapy_class != "car_t" or event is None:
            agents = [e.agent for e in (self.exposures or self.plans)]
            return _specific(agents)
        on_day_zero = [e.agent for e in self.exposures if e.on == event.on]
        named = [agent for agent in on_day_zero if not agent.generic]
        if named:
            return _specific(named)
        return list(self.named_products) or _specific(on_day_zero)

    def day_zero_agent_names(self) -> list[str]:
        return _displays(self.day_zero_agents())

    def day(self, today: date) -> int | None:
        return (today - self.day_zero).days if self.day_zero else None


def _specific(agents: list[Agent]) -> list[Agent]:
    """Distinct agents, the generic "product not named" entry left out when a product is named."""
    unique = list({agent.id: agent for agent in agents}.values())
    named = [agent for agent in unique if not agent.generic]
    return named or unique


def _displays(agents: list[Agent]) -> list[str]:
    return sorted({agent.display for agent in _specific(agents)})


def _named_products(
    visible: list[TherapyEvent], day_zero: date | None, today: date, expiry_days: int
) -> tuple[Agent, ...]:
    """Named products ordered, planned or given from `expiry_days` before day 0 up to the day: the
    product a generic infusion record on day 0 belongs to (the order is placed at apheresis)."""
    if day_zero is None:
        return ()
    earliest = day_zero - timedelta(days=expiry_days)
    found = {
        event.agent.id: event.agent
        for event in visible
        if not event.agent.generic and (event.on is None or earliest <= event.on <= today)
    }
    return tuple(found[key] for key in sorted(found))


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


def after_last_gap(events: list[TherapyEvent], gap_days: int) -> list[TherapyEvent]:
    """The dated events of the latest course: those after the last pause of more than `gap_days`
    between two consecutive dated exposures (a T-cell engager restarted months later is a new course,
    with step-up dosing and its ICANS risk again)."""
    dated = sorted(
        (event for event in events if event.on is not None), key=lambda event: event.on or date.min
    )
    start = 0
    for index in range(1, len(dated)):
        before, after = dated[index - 1].on, dated[index].on
        if before is not None and after is not None and (after - before).days > gap_days:
            start = index
    return dated[start:]


def _day_zero_event(
    therapy_class: TherapyClass, exposures: list[TherapyEvent], new_course_gap_days: int | None = None
) -> TherapyEvent | None:
    dated = [event for event in exposures if event.on is not None]
    if not dated:
        return None
    if therapy_class == "car_t":
        # The latest infusion: a re-infusion restarts the clock.
        return max(dated, key=lambda event: event.on or date.min)
    if therapy_class == "t_cell_engager" and new_course_gap_days is not None:
        # Restarted after a long pause: day 0 is the first dose of the new course (issue 16 section 4).
        dated = after_last_gap(dated, new_course_gap_days)
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
    therapy_class: TherapyClass,
    events: list[TherapyEvent],
    today: date,
    plan_expiry_days: int,
    new_course_gap_days: int | None = None,
) -> Course:
    # Only what had been written by the day (a plan authored later did not exist yet).
    visible = [_as_of(e, today) for e in events if e.recorded_on is None or e.recorded_on <= today]
    exposures = [e for e in visible if e.kind in _EXPOSURE_KINDS and (e.on is None or e.on <= today)]
    plans = [e for e in visible if e.kind == "planned"]
    dates = [event.on for event in exposures if event.on is not None]
    ongoing = therapy_class != "car_t" and any(event.kind == "ongoing" for event in exposures)
    day_zero_event = _day_zero_event(therapy_class, exposures, new_course_gap_days)
    return Course(
        therapy_class=therapy_class,
        exposures=tuple(exposures),
        plans=tuple(_live_plans(plans, exposures, today, plan_expiry_days)),
        day_zero_event=day_zero_event,
        first_exposure=min(dates) if dates else None,
        last_exposure=today if ongoing else (max(dates) if dates else None),
        ongoing=ongoing,
        named_products=_named_products(
            visible, day_zero_event.on if day_zero_event else None, today, plan_expiry_days
        ),
    )


def courses_on(
    events: tuple[TherapyEvent, ...],
    today: date,
    plan_expiry_days: int,
    new_course_gap_days: int | None = None,
) -> dict[TherapyClass, Course]:
    """`new_course_gap_days`: a T-cell engager pause longer than this starts a new course (day 0 again)."""
    courses: dict[TherapyClass, Course] = {}
    for therapy_class in THERAPY_CLASSES:
        of_class = [event for event in events if event.agent.therapy_class == therapy_class]
        if of_class:
            course = course_on(therapy_class, of_class, today, plan_expiry_days, new_course_gap_days)
            if course.exposures or course.plans:
                courses[therapy_class] = course
    return courses
