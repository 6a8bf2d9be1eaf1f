"""The plain view model the report and timeline pages draw: dates, labels and grades, nothing clinical
to compute. Built by `timeline_view.build.build_view`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date


@dataclass(frozen=True)
class Dose:
    on: date | None
    stage: str  # planned | ordered | administered
    agent: str
    source: str


@dataclass(frozen=True)
class Therapy:
    therapy_class: str
    label: str
    agents: tuple[str, ...]
    doses: tuple[Dose, ...]
    started: date | None
    last: date | None
    day_zero: date | None
    day_zero_source: str | None
    planned: bool  # some exposure is planned (draft, plan, proposal) and not yet given
    ongoing: bool  # the last dose is recent enough that the therapy counts as under way at the range end


@dataclass(frozen=True)
class ImagingWindow:
    therapy_class: str
    window_id: str
    starts: date
    ends: date
    target: date | None
    indicator: str


@dataclass(frozen=True)
class Finding:
    on: date
    display: str
    grade: int | None
    severity: str
    source: str
    detail: str


@dataclass(frozen=True)
class BrainMri:
    on: date | None
    state: str  # done | ordered
    source: str


@dataclass(frozen=True)
class CardDay:
    on: date
    topic: str
    indicator: str
    summary: str
    detail: str
    rule: str = ""  # the rule that drove the card (clinical.acknowledgements.rule_of)
    evidence: tuple[str, ...] = ()  # what the card rests on (clinical.acknowledgements.evidence_parts)


@dataclass
class TimelineView:
    patient_id: str
    first_day: date
    last_day: date
    therapies: list[Therapy] = field(default_factory=list)
    windows: list[ImagingWindow] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    brain_mris: list[BrainMri] = field(default_factory=list)
    card_days: list[CardDay] = field(default_factory=list)
    # Resources name this patient but the export holds no Patient resource for it: not counted as a
    # patient of the cohort (data_quality.orphan_references), shown so the export can be fixed.
    orphan: bool = False
    # Cards an order-select would show when a therapy was ordered (simulated at the order's authoredOn).
    order_cards: list[CardDay] = field(default_factory=list)
    # The live view (the SMART app): the cards the service answers now, shown first; None elsewhere.
    today_cards: list[CardDay] | None = None
