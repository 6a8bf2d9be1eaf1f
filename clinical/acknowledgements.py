"""Cards a clinician has already answered for this patient: an override with a reason. The service reads
them from its feedback store and passes them in; the clinical core stays free of storage and HTTP.

A card is identified across days by its topic and an evidence key: a fingerprint of the evidence the
card rests on (findings, scores, the therapy dates and windows), not of its wording or of the day it is
shown. New evidence gives a new key, so an acknowledged card returns as soon as something new is charted.

The key per advice kind (`evidence_key`), each part described by kind, date and source record type, sorted
so that the order of the resources does not matter:
- possible-neurotoxicity: the findings (kind, date, record type, coded grade, suspected or not) and the
  ICE / CAPD scores (kind, value, date) the card rests on; not the day counter, the grade wording, the
  indicator (a critical card turning into a stale warning keeps its key) or a folded risk window;
- baseline-brain-mri: the planned therapy (class and agent of each plan, the planned start);
- interval-imaging: each window's id with its course's class and day 0, and the iUPD report's date;
  not the phase (planned, due, overdue) nor the day counter.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from clinical.knowledge.schema import Indicator
from clinical.rules import Advice, BaselineAdvice, IntervalAdvice, NeurotoxicityAdvice, indicator_rank


@dataclass(frozen=True)
class Acknowledgement:
    topic: str  # the card's source.topic.code, e.g. "possible-neurotoxicity"
    evidence_key: str  # RenderedCard.evidence_key of the card that was overridden
    acknowledged_on: date  # the day the override was recorded


@dataclass(frozen=True)
class RenderedCard:
    card: dict[str, Any]
    topic: str
    evidence_key: str
    # The rule that drove the card (`rule_of`): what the reviewers' burden counts cards by. A default so
    # that a card built without its advice (a stored override, a test) still compares by topic and key.
    rule: str = ""
    # The evidence behind the card (`evidence_parts`): the reports, scores, studies and windows the
    # reviewers' timeline lists beside it.
    evidence: tuple[str, ...] = ()


def fingerprint(parts: Iterable[str]) -> str:
    """A short stable key for an ordered collection of evidence descriptions."""
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8", "surrogatepass")).hexdigest()
    return digest[:32]


def _neurotoxicity_parts(advice: NeurotoxicityAdvice) -> list[str]:
    parts = [
        "finding|{}|{}|{}|{}|{}".format(
            finding.kind.id,
            # An undated diagnosis is read as of each day evaluated: its key must not move with the day.
            "undated" if finding.undated else finding.on.isoformat(),
            finding.resource_type,
            finding.coded_grade if finding.coded_grade is not None else "",
            "suspected" if finding.uncertain else "affirmed",
        )
        for finding in advice.findings
    ]
    parts += [f"score|{score.kind}|{score.score}|{score.on.isoformat()}" for score in advice.scores]
    return parts


def _baseline_parts(advice: BaselineAdvice) -> list[str]:
    parts = [f"plan|{plan.agent.therapy_class}|{plan.agent.id}" for plan in advice.plans]
    start = advice.planned_start.isoformat() if advice.planned_start else ""
    return [*parts, f"start|{start}"]


def _interval_parts(advice: IntervalAdvice) -> list[str]:
    parts = [
        "window|{}|{}|{}".format(
            hit.window.id,
            hit.course.therapy_class,
            hit.course.day_zero.isoformat() if hit.course.day_zero else "",
        )
        for hit in advice.windows
    ]
    if advice.irecist is not None:
        parts.append(f"iupd|{advice.irecist.progression.on.isoformat()}")
    return parts


def evidence_parts(advice: Advice) -> tuple[str, ...]:
    """The evidence the advice rests on, one description per item, sorted and without repeats."""
    if isinstance(advice, NeurotoxicityAdvice):
        parts = _neurotoxicity_parts(advice)
    elif isinstance(advice, BaselineAdvice):
        parts = _baseline_parts(advice)
    else:
        parts = _interval_parts(advice)
    return tuple(sorted(set(parts)))


def evidence_key(topic: str, advice: Advice) -> str:
    """The card's identity across days: its topic and the evidence it rests on, never its wording."""
    return fingerprint((topic, *evidence_parts(advice)))


# With several therapies due a baseline at once, the card is named after the one whose timing.yaml
# indicator is strongest (immune effector cell therapies warn; a checkpoint inhibitor informs).
_BASELINE_LEAD = ("car_t", "t_cell_engager", "ici")


def _class_slug(therapy_class: str) -> str:
    return therapy_class.replace("_", "-")


def _interval_rule(advice: IntervalAdvice) -> str:
    """The window or iRECIST phase with the strongest indicator (the first one on a tie, windows in the
    order timing.yaml lists them, iRECIST last)."""
    candidates: list[tuple[Indicator, str]] = [
        (hit.window.indicator, hit.window.id) for hit in advice.windows
    ]
    if advice.irecist is not None:
        candidates.append((advice.irecist.indicator, f"irecist-confirmation-{advice.irecist.phase}"))
    if not candidates:
        return "interval-imaging"
    best = max(indicator_rank(indicator) for indicator, _ in candidates)
    return next(rule for indicator, rule in candidates if indicator_rank(indicator) == best)


def rule_of(advice: Advice) -> str:
    """Which rule drove the advice, as the reviewers' burden names it: `neurotoxicity-<attribution>`
    (icans, irae, delayed-car-t, neuro-ae), `baseline-<therapy class>` (car-t before t-cell-engager
    before ici), the interval window's id (car-t-icans-window, car-t-day-28-response, ...) or
    `irecist-confirmation-<phase>` (planned, due, overdue)."""
    if isinstance(advice, NeurotoxicityAdvice):
        return f"neurotoxicity-{advice.syndrome}"
    if isinstance(advice, BaselineAdvice):
        classes = {course.therapy_class for course in advice.courses}
        lead = next((name for name in _BASELINE_LEAD if name in classes), None)
        return f"baseline-{_class_slug(lead)}" if lead else "baseline"
    return _interval_rule(advice)


def is_acknowledged(
    rendered: RenderedCard,
    acknowledgements: Iterable[Acknowledgement],
    today: date,
    quiet_days: int,
    *,
    until_new_evidence: bool = False,
) -> bool:
    """An override of the same card (topic and evidence) within `quiet_days` before today; with
    `until_new_evidence` (a critical card) any earlier override of the same card holds until the key
    changes."""
    for ack in acknowledgements:
        if ack.topic != rendered.topic or ack.evidence_key != rendered.evidence_key:
            continue
        age = (today - ack.acknowledged_on).days
        if age >= 0 and (until_new_evidence or age < quiet_days):
            return True
    return False


__all__ = [
    "Acknowledgement",
    "RenderedCard",
    "evidence_key",
    "evidence_parts",
    "fingerprint",
    "is_acknowledged",
    "rule_of",
]
