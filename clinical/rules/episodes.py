"""One card per episode (issue 16, section 7): when a neurotoxicity card shows, the CAR-T / T-cell engager
risk window the patient is in folds into it (the card names the therapy day and the window) instead of
showing as a second interval-imaging card beside it. Response imaging (day +28) and iRECIST confirmation
are other decisions and keep their own card."""

from __future__ import annotations

from dataclasses import replace

from clinical.knowledge.schema import IntervalTiming
from clinical.rules.indicators import strongest
from clinical.rules.interval import IntervalAdvice
from clinical.rules.neurotoxicity import NeurotoxicityAdvice


def fold_risk_windows(
    neurotoxicity: NeurotoxicityAdvice, interval: IntervalAdvice, rules: IntervalTiming
) -> tuple[NeurotoxicityAdvice, IntervalAdvice | None]:
    """The neurotoxicity advice with the risk windows folded in, and what is left of the interval advice
    (None when nothing is)."""
    folded = tuple(hit for hit in interval.windows if hit.window.folds_into_neurotoxicity)
    if not folded:
        return neurotoxicity, interval
    window_evidence = [source for hit in folded for source in hit.window.evidence]
    neurotoxicity = replace(
        neurotoxicity,
        risk_windows=folded,
        evidence=tuple(dict.fromkeys([*neurotoxicity.evidence, *window_evidence])),
    )
    kept = tuple(hit for hit in interval.windows if not hit.window.folds_into_neurotoxicity)
    if not kept and interval.irecist is None:
        return neurotoxicity, None
    indicators = [hit.window.indicator for hit in kept]
    evidence = [source for hit in kept for source in hit.window.evidence]
    if interval.irecist is not None:
        indicators.append(interval.irecist.indicator)
        evidence.extend(rules.irecist_confirmation.evidence)
    remaining = replace(
        interval, windows=kept, indicator=strongest(indicators), evidence=tuple(dict.fromkeys(evidence))
    )
    return neurotoxicity, remaining
