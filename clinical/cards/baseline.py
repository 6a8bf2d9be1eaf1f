"""The `baseline-brain-mri` card."""

from __future__ import annotations

from typing import Any

from clinical.cards.common import CardContext, CommonParts, fill
from clinical.knowledge.schema import BaselineCardsFile
from clinical.rules import BaselineAdvice

DETAIL_FIELDS = {"headline", "therapies_sentence", "window_days", "class_notes", "last_brain_mri", "plans"}
SUMMARY_FIELDS = {"therapies"}


def _planned_therapies(advice: BaselineAdvice, common: CommonParts) -> str:
    """The therapies the baseline is for: the planned agents ("before ciltacabtagene autoleucel"),
    not an earlier course of the same class (a CAR-T given two years ago)."""
    parts = []
    for course in advice.courses:
        planned = [plan.agent for plan in advice.plans if plan.agent.therapy_class == course.therapy_class]
        named = sorted({agent.display for agent in planned if not agent.generic})
        names = named or sorted({agent.display for agent in planned}) or course.agents()
        parts.append(f"{common.joined(names)} ({common.class_label(course.therapy_class, len(names) > 1)})")
    return common.joined(parts)


def baseline_card(
    advice: BaselineAdvice,
    texts: BaselineCardsFile,
    common: CommonParts,
    context: CardContext,
    window_days: int,
) -> dict[str, Any]:
    phrases = texts.phrases
    therapies = _planned_therapies(advice, common)
    last = advice.last_brain_mri
    start = (
        fill(phrases.planned_start, {"date": common.day(advice.planned_start)})
        if advice.planned_start
        else ""
    )
    detail = fill(
        texts.detail,
        {
            "headline": phrases.headline_advised if advice.suggest_order else phrases.headline_consider,
            "therapies_sentence": fill(phrases.therapies_sentence, {"therapies": therapies, "start": start}),
            "window_days": window_days,
            "class_notes": "\n\n".join(texts.class_notes[c.therapy_class] for c in advice.courses),
            "last_brain_mri": (
                fill(phrases.last_brain_mri, {"date": common.day(last.on), "study": last.label})
                if last
                else phrases.no_brain_mri
            ),
            "plans": "\n".join(common.therapy_line(plan) for plan in advice.plans),
        },
    )
    summary = fill(
        texts.summary if advice.suggest_order else texts.summary_consider, {"therapies": therapies}
    )
    suggestion = None
    caution = advice.mri_caution
    if advice.suggest_order and not (caution is not None and caution.blocks_order):
        reason = fill(texts.suggestion.reason, {"therapies": therapies})
        suggestion = common.mri_suggestion(texts.suggestion, reason, context)
    caution_text = common.mri_caution_text(caution)
    detail = f"{detail}\n\n{caution_text}" if caution_text else detail
    return common.card(texts.topic, summary, detail, advice.indicator, advice.evidence, suggestion)
