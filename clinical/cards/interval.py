"""The `interval-imaging` card: every window the patient is in, and iRECIST confirmation."""

from __future__ import annotations

from datetime import date
from typing import Any

from clinical.cards.common import CommonParts, fill
from clinical.knowledge.schema import IntervalCardsFile, IrecistTexts
from clinical.rules import IntervalAdvice, IrecistHit, WindowHit, indicator_rank

WINDOW_FIELDS = {
    "agents",
    "day",
    "week",
    "day_zero",
    "day_zero_what",
    "day_zero_record",
    "starts",
    "ends",
    "target",
}
IRECIST_FIELDS = {
    "progression_date",
    "progression_record",
    "progression_study",
    "progression_statement",
    "stop_date",
    "stop_when",
    "stop_reason",
    "agents",
    "confirm_from",
    "confirm_to",
    "days_since",
}


def _window_values(hit: WindowHit, common: CommonParts) -> dict[str, object]:
    event = hit.course.day_zero_event
    return {
        "agents": common.joined(hit.course.day_zero_agent_names()),
        "day": hit.day,
        "week": hit.day // 7 + 1,
        "day_zero": common.day(hit.course.day_zero),
        # What dates day 0: "dose given on" a dose, "active order from" an order when no dose is recorded.
        "day_zero_what": common.event_label(event) if event else "",
        "day_zero_record": common.record_label(event.resource_type) if event else "record",
        "starts": common.day(hit.starts),
        "ends": common.day(hit.ends),
        "target": common.day(hit.target),
    }


def _statement(hit: IrecistHit, common: CommonParts) -> str:
    """What the report said, quoted, with the body sites its series name: so that the clinician can
    order the confirmation of the same sites."""
    progression = hit.progression
    said = progression.statement.rstrip(" .;:,")
    text = f'"{said}"' if said else "iUPD"
    if progression.sites:
        text += fill(common.texts.words.sites_imaged, {"sites": ", ".join(progression.sites)})
    return text


def _stop_when(hit: IrecistHit, texts: IrecistTexts, common: CommonParts) -> str:
    """When the checkpoint inhibitor stopped, as recorded: never the order's authoredOn (its start)."""
    if hit.stop_recorded_on is not None:
        return fill(texts.stop_on, {"date": common.day(hit.stop_recorded_on)})
    if hit.last_dose_on is not None:
        return fill(texts.stop_date_not_recorded_last_dose, {"date": common.day(hit.last_dose_on)})
    return texts.stop_date_not_recorded


def _irecist_values(
    hit: IrecistHit, common: CommonParts, today: date, texts: IrecistTexts
) -> dict[str, object]:
    stop = hit.stopped_for_toxicity
    return {
        "progression_date": common.day(hit.progression.on),
        "progression_record": common.record_label(hit.progression.resource_type),
        "progression_study": hit.progression.study or "the response assessment",
        "progression_statement": _statement(hit, common),
        "stop_date": common.day(hit.stop_recorded_on or hit.last_dose_on) if stop is not None else "",
        "stop_when": _stop_when(hit, texts, common) if stop is not None else "",
        "stop_reason": stop.reason_text if stop is not None else "",
        "agents": common.joined(hit.course.agents()),
        "confirm_from": common.day(hit.confirm_from),
        "confirm_to": common.day(hit.confirm_to),
        "days_since": (today - hit.progression.on).days,
    }


def interval_card(
    advice: IntervalAdvice, texts: IntervalCardsFile, common: CommonParts, today: date
) -> dict[str, Any]:
    summaries: list[str] = []
    details: list[str] = []
    # A due assessment (day +28 response imaging) leads the summary over a risk window that is ending:
    # it is the decision the card asks for (German clinician review, C8); then the most pressing window.
    for hit in sorted(
        advice.windows,
        key=lambda hit: (hit.target is not None, indicator_rank(hit.window.indicator)),
        reverse=True,
    ):
        values = _window_values(hit, common)
        summaries.append(fill(texts.windows[hit.window.id].summary, values))
        details.append(fill(texts.windows[hit.window.id].detail, values))
    if advice.irecist is not None:
        phase = getattr(texts.irecist, advice.irecist.phase)
        values = _irecist_values(advice.irecist, common, today, texts.irecist)
        if indicator_rank(advice.irecist.indicator) >= indicator_rank(advice.indicator):
            summaries.insert(0, fill(phase.summary, values))
        else:
            summaries.append(fill(phase.summary, values))
        detail = fill(phase.detail, values)
        if advice.irecist.stopped_for_toxicity is not None and texts.irecist.stopped_for_toxicity:
            detail += " " + fill(texts.irecist.stopped_for_toxicity, values)
        details.append(detail)
    return common.card(
        texts.topic, summaries[0], "\n\n".join(details), advice.indicator, advice.evidence, None
    )


def folded_window_sentence(hit: WindowHit, texts: IntervalCardsFile, common: CommonParts) -> str:
    """The sentence a neurotoxicity card says for a risk window folded into it (rules.episodes)."""
    return fill(texts.windows[hit.window.id].folded, _window_values(hit, common))
