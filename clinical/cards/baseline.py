"""The `baseline-brain-mri` card."""

from __future__ import annotations

from typing import Any

from clinical.cards.common import CardContext, CommonParts, fill
from clinical.knowledge.schema import BaselineCardsFile
from clinical.rules import BaselineAdvice, MriCaution

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


def _summary(texts: BaselineCardsFile, advice: BaselineAdvice, therapies: str) -> str:
    """What the card advises, as its detail does: baseline imaging with MRI ruled out by an implant, a
    baseline MRI whose contrast is ruled out, else the baseline MRI (advised or to consider)."""
    caution, wording = advice.mri_caution, texts.mri_caution
    if wording is not None and caution is not None and caution.implants:
        template = wording.summary_mri_contraindicated
    elif wording is not None and caution is not None and caution.contrast_only and advice.suggest_order:
        template = wording.summary_contrast_contraindicated
    else:
        template = texts.summary if advice.suggest_order else texts.summary_consider
    return fill(template, {"therapies": therapies})


def _implant_ruled_out(texts: BaselineCardsFile, caution: MriCaution | None) -> bool:
    return texts.mri_caution is not None and caution is not None and bool(caution.implants)


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
    headline = phrases.headline_advised if advice.suggest_order else phrases.headline_consider
    if texts.mri_caution is not None and _implant_ruled_out(texts, advice.mri_caution):
        headline = texts.mri_caution.headline_mri_contraindicated
    detail = fill(
        texts.detail,
        {
            "headline": headline,
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
    summary = _summary(texts, advice, therapies)
    suggestion = None
    caution = advice.mri_caution
    if advice.suggest_order and not (caution is not None and caution.blocks_order):
        reason = fill(texts.suggestion.reason, {"therapies": therapies})
        suggestion = common.mri_suggestion(texts.suggestion, reason, context)
    implant = texts.mri_caution.implant if texts.mri_caution is not None else ""
    caution_text = common.mri_caution_text(caution, implant)
    detail = f"{detail}\n\n{caution_text}" if caution_text else detail
    return common.card(texts.topic, summary, detail, advice.indicator, advice.evidence, suggestion)
