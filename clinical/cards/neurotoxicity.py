"""The `possible-neurotoxicity` card: the syndrome that leads, its ASTCT grade when it is ICANS, the
findings in plain words, and the work-up that fits (brain MRI only for central syndromes)."""

from __future__ import annotations

from typing import Any

from clinical.cards.common import CardContext, CommonParts, day_text, fill, joined
from clinical.knowledge.schema import NeurotoxicityCardsFile
from clinical.rules import IcansGrade, NeurotoxicityAdvice

SUMMARY_FIELDS = {"headline", "agents", "action"}
DETAIL_FIELDS = {"headline", "context_sentence", "findings", "grading", "work_up", "eeg", "brain_mri_since"}
REASON_FIELDS = {"headline", "agents"}


def _icans_headline(grade: IcansGrade | None) -> str:
    if grade is None:
        return "Possible ICANS"
    if grade.documented:
        if grade.grade is None:
            return "ICANS documented"
        if grade.coded == grade.grade:
            return f"ICANS grade {grade.grade} documented"
        return f"ICANS documented, grade {grade.grade} by ASTCT domains"
    if grade.grade is None:
        return "Possible ICANS"
    if grade.grade == 1 and grade.capd_grade_1_or_2:
        return "Possible ICANS grade 1-2"
    return f"Possible ICANS grade {grade.grade}"


def headline(advice: NeurotoxicityAdvice, texts: NeurotoxicityCardsFile) -> str:
    if advice.syndrome == "icans":
        return _icans_headline(advice.grade)
    if advice.syndrome == "delayed-car-t":
        day = f" (day {advice.car_t_day})" if advice.car_t_day is not None else ""
        return f"Possible {texts.syndromes['delayed-car-t']}{day}"
    return f"Possible {texts.syndromes['irae']}"


def _finding_lines(advice: NeurotoxicityAdvice, common: CommonParts) -> list[str]:
    lines = []
    for finding in advice.findings:
        suspected = ", suspected" if finding.uncertain else ""
        record = common.record_label(finding.resource_type)
        lines.append(
            f"- {finding.kind.display}: {finding.detail} in a {record} on {day_text(finding.on)}{suspected}"
        )
    for score in advice.scores:
        name = "ICE score" if score.kind == "ice" else "CAPD score"
        lines.append(f"- {name} {score.score}/{score.maximum} on {day_text(score.on)}")
    return lines


def _grading(advice: NeurotoxicityAdvice, texts: NeurotoxicityCardsFile) -> str:
    notes = texts.grading_note
    if advice.syndrome != "icans":
        return notes[advice.syndrome]
    parts = []
    grade = advice.grade
    if grade is not None and grade.domains:
        parts.append(
            "ASTCT domains: " + "; ".join(f"{what} grade {value}" for what, value in grade.domains) + "."
        )
    parts.append(notes["icans"])
    if grade is not None and grade.capd_grade_1_or_2:
        parts.append(notes["capd_range"])
    if grade is not None and grade.ice_not_valid_for_age:
        parts.append(notes["ice_not_valid"])
    return " ".join(parts)


def _context_sentence(advice: NeurotoxicityAdvice, common: CommonParts) -> str:
    if advice.therapy_not_recorded:
        documented = advice.grade is not None and advice.grade.documented
        what = "ICANS is documented" if documented else "An abnormal ICE score is charted (an ICANS assessment)"
        return (
            f"{what}, but the immune effector cell therapy (CAR-T or T-cell engager) that causes ICANS "
            "is not recorded here: it was perhaps given at another hospital."
        )
    return f"New neurological findings after {common.therapies(advice.courses)}:"


def neurotoxicity_card(
    advice: NeurotoxicityAdvice, texts: NeurotoxicityCardsFile, common: CommonParts, context: CardContext
) -> dict[str, Any]:
    title = headline(advice, texts)
    if advice.therapy_not_recorded:
        agents = texts.unattributed_therapy
    else:
        agents = joined(sorted({agent for course in advice.courses for agent in course.agents()}))
    lead = advice.work_up[0] if advice.work_up else "central"
    central = "central" in advice.work_up or not advice.work_up
    work_up = [texts.work_up[lead].detail]
    work_up += [f"Also for the {kind} findings: {texts.work_up[kind].detail}" for kind in advice.work_up[1:]]
    since = advice.brain_mri_since
    if not central:
        brain_mri = ""
    elif since is not None:
        brain_mri = (
            f"A brain MRI is on record since the latest finding: {day_text(since.on)} "
            f"({since.label}, {since.state}), so no order is suggested."
        )
    else:
        brain_mri = "No brain MRI on record since the latest finding."
    detail = fill(
        texts.detail,
        {
            "headline": title,
            "context_sentence": _context_sentence(advice, common),
            "findings": "\n".join(_finding_lines(advice, common)),
            "grading": _grading(advice, texts),
            "work_up": " ".join(work_up),
            "eeg": texts.eeg_note if advice.eeg and central else "",
            "brain_mri_since": brain_mri,
        },
    )
    wording = texts.work_up[lead]
    action = wording.summary_action if advice.indicator == "critical" else wording.summary_action_warning
    summary = fill(texts.summary, {"headline": title, "agents": agents, "action": action})
    suggestion = None
    if lead == "central" and since is None:
        wanted = texts.suggestion if advice.indicator == "critical" else texts.suggestion_warning
        reason = fill(wanted.reason, {"headline": title, "agents": agents})
        suggestion = common.mri_suggestion(wanted, reason, context)
    return common.card(texts.topic, summary, detail, advice.indicator, advice.evidence, suggestion)
