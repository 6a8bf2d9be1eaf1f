"""The `possible-neurotoxicity` card: the syndrome that leads, its ASTCT grade when it is ICANS, the
findings in plain words, and the work-up that fits (brain MRI only for central syndromes)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from clinical.cards.common import SUMMARY_LIMIT, CardContext, CommonParts, fill
from clinical.knowledge.schema import (
    CompanionWorkUp,
    FindingSummaryAction,
    NeurotoxicityCardsFile,
    NeurotoxicityPhrases,
    Syndrome,
)
from clinical.labels import shorten
from clinical.rules import IcansGrade, MriCaution, NeurotoxicityAdvice
from clinical.rules.grading import Domain
from clinical.timeline import TherapyEvent

SUMMARY_FIELDS = {"headline", "agents", "action"}
STALE_SUMMARY_FIELDS = {"headline", "agents", "finding", "date"}
# The grade bands guidance is written for (cards/possible-neurotoxicity.yaml decision_guidance).
DECISION_GUIDANCE_KEYS = (
    "icans_ungraded",
    "icans_grade_1",
    "icans_grade_2",
    "icans_grade_3_or_more",
    "irae",
    "endocrine-irae",
    "delayed-car-t",
    "neuro-ae",
)
DETAIL_FIELDS = {
    "headline",
    "context_sentence",
    "findings",
    "grading",
    "work_up",
    "eeg",
    "brain_mri_since",
    "therapy",
    "stale",
    "decision",
    "risk_window",
}
REASON_FIELDS = {"headline", "agents"}
# German review (record 20): a myasthenia gravis on the card says its work-up once; the myasthenia
# pattern beside it (ptosis with diplopia) would repeat the same paragraph.
_NOTE_COVERED_BY = {"myasthenia-pattern": "myasthenia-gravis"}


def _icans_headline(grade: IcansGrade | None, phrases: NeurotoxicityPhrases) -> str:
    if grade is not None and not grade.documented and (grade.suspected or 0) > (grade.grade or 0):
        # "V.a. ICANS Grad 2": the written grade stays, said as suspected (never dropped to "possible").
        return fill(phrases.icans_suspected_grade, {"grade": grade.suspected})
    if grade is None or (grade.grade is None and not grade.documented):
        return phrases.icans_possible
    if grade.documented:
        if grade.grade is None:
            return phrases.icans_documented
        wording = (
            phrases.icans_documented_grade
            if grade.coded == grade.grade
            else phrases.icans_documented_higher_grade
        )
        return fill(wording, {"grade": grade.grade})
    if grade.grade == 1 and grade.capd_grade_1_or_2:
        return phrases.icans_possible_grade_1_or_2
    return fill(phrases.icans_possible_grade, {"grade": grade.grade})


def headline(
    advice: NeurotoxicityAdvice, phrases: NeurotoxicityPhrases, car_t_day: str = " (day {day})"
) -> str:
    if advice.syndrome == "icans":
        return _icans_headline(advice.grade, phrases)
    if advice.syndrome == "delayed-car-t":
        day = fill(car_t_day, {"day": advice.car_t_day}) if advice.car_t_day is not None else ""
        return fill(phrases.delayed_car_t, {"day": day})
    if advice.syndrome == "neuro-ae":
        return phrases.neuro_ae
    if advice.syndrome == "endocrine-irae":
        return phrases.endocrine_irae
    return phrases.irae


def _finding_lines(
    advice: NeurotoxicityAdvice, phrases: NeurotoxicityPhrases, common: CommonParts
) -> list[str]:
    lines = []
    for finding in advice.findings:
        wording = phrases.suspected_finding_line if finding.uncertain else phrases.finding_line
        values = {
            "finding": common.named(finding.kind.display),
            "detail": finding.detail,
            "record": common.record_label(finding.resource_type),
            "date": phrases.undated_finding_date if finding.undated else common.day(finding.on),
        }
        lines.append(fill(wording, values))
    for score in advice.scores:
        wording = phrases.ice_score_line if score.kind == "ice" else phrases.capd_score_line
        lines.append(
            fill(wording, {"value": score.score, "maximum": score.maximum, "date": common.day(score.on)})
        )
    return lines


def _old_score(domain: Domain, today: date, recent_hours: int) -> bool:
    """A score domain older than critical_while_recent_hours (counted by day, like the stale rule)."""
    return domain.on is not None and (today - domain.on).days * 24 > recent_hours


def _score_kind(domain: Domain) -> str:
    return "ICE" if domain.source == "ice" else "CAPD"


def _domain(
    domain: Domain, phrases: NeurotoxicityPhrases, common: CommonParts, today: date, recent_hours: int
) -> str:
    if domain.source in ("ice", "capd") and _old_score(domain, today, recent_hours):
        values = {
            "kind": _score_kind(domain),
            "score": domain.score,
            "date": common.day(domain.on),
            "grade": domain.grade,
        }
        return fill(phrases.domain_score_dated, values)
    wording = {
        "finding": phrases.domain_finding,
        "ice": phrases.domain_ice,
        "capd": phrases.domain_capd,
        "code": phrases.domain_code,
    }[domain.source]
    finding = common.named(domain.finding)
    return fill(wording, {"finding": finding, "score": domain.score, "grade": domain.grade})


def _grading(
    advice: NeurotoxicityAdvice,
    texts: NeurotoxicityCardsFile,
    common: CommonParts,
    today: date,
    recent_hours: int,
) -> str:
    notes = texts.grading_note
    if advice.syndrome != "icans":
        return notes[advice.syndrome]
    parts = []
    grade = advice.grade
    if grade is not None and grade.domains:
        listed = "; ".join(
            _domain(domain, texts.phrases, common, today, recent_hours) for domain in grade.domains
        )
        parts.append(fill(texts.phrases.domains, {"domains": listed}))
        worst = grade.domains[0]  # sorted worst first
        if worst.source in ("ice", "capd") and _old_score(worst, today, recent_hours):
            values = {"kind": _score_kind(worst), "date": common.day(worst.on), "hours": recent_hours}
            parts.append(fill(texts.phrases.grade_rests_on_old_score, values))
    parts.append(notes["icans"])
    if grade is not None and grade.capd_grade_1_or_2:
        parts.append(notes["capd_range"])
    if grade is not None and grade.ice_not_valid_for_age:
        parts.append(notes["ice_not_valid"])
    return " ".join(parts)


def _context_sentence(advice: NeurotoxicityAdvice, phrases: NeurotoxicityPhrases, common: CommonParts) -> str:
    if advice.therapy_not_recorded:
        documented = advice.grade is not None and advice.grade.documented
        if not documented and advice.implied_by:
            return fill(phrases.exposure_implied_not_recorded, {"implied": "; ".join(advice.implied_by)})
        return phrases.icans_not_recorded if documented else phrases.ice_not_recorded
    wording = (
        phrases.after_therapies_endocrine if advice.syndrome == "endocrine-irae" else phrases.after_therapies
    )
    return fill(wording, {"therapies": common.therapies(advice.courses)})


def _latest_of_each_agent(exposures: tuple[TherapyEvent, ...]) -> list[TherapyEvent]:
    """The latest dated exposure of every agent of a course: a combination (nivolumab with ipilimumab)
    names each of its drugs, not only the one given last."""
    latest: dict[str, TherapyEvent] = {}
    for event in exposures:
        known = latest.get(event.agent.display)
        if event.on is not None and (known is None or event.on > (known.on or date.min)):
            latest[event.agent.display] = event
    return sorted(latest.values(), key=lambda event: (event.on or date.min, event.agent.display))


def _therapy_lines(advice: NeurotoxicityAdvice, phrases: NeurotoxicityPhrases, common: CommonParts) -> str:
    """Per course: day 0, the latest exposure of each agent, and any record whose date could not be
    read."""
    events: list[TherapyEvent] = []
    for course in advice.courses:
        latest = _latest_of_each_agent(course.exposures)
        undated = [event for event in course.exposures if event.on is None][:1]
        for event in (course.day_zero_event, *latest, *undated):
            if event is not None and event not in events:
                events.append(event)
    if not events:
        return ""
    # The heading is its own paragraph and the records a list: no hard line break inside a paragraph.
    return phrases.therapy_heading + "\n\n" + "\n".join(common.therapy_line(event) for event in events)


def _latest_evidence(advice: NeurotoxicityAdvice, common: CommonParts) -> str:
    """What was documented on the day of the latest evidence, in words ("ICE score 2/10")."""
    latest = advice.latest_evidence_on
    named = [
        common.in_sentence(finding.kind.display)
        for finding in advice.findings
        if max(finding.on, finding.recorded_on or finding.on) == latest
    ]
    named += [
        fill(
            common.texts.words.score_named,
            {
                "kind": "ICE" if score.kind == "ice" else "CAPD",
                "score": score.score,
                "maximum": score.maximum,
            },
        )
        for score in advice.scores
        if score.on == latest
    ]
    return common.joined(list(dict.fromkeys(named)))


def _stale_sentence(
    advice: NeurotoxicityAdvice, phrases: NeurotoxicityPhrases, common: CommonParts, recent_hours: int
) -> str:
    if not advice.stale:
        return ""
    values = {
        "finding": _latest_evidence(advice, common),
        "date": common.day(advice.latest_evidence_on),
        "hours": recent_hours,
    }
    # The ICE score is an ICANS tool: a checkpoint-inhibitor-only card asks for the examination.
    wording = phrases.stale_evidence if advice.immune_effector else phrases.stale_evidence_irae
    return fill(wording, values)


def _stale_summary(
    advice: NeurotoxicityAdvice, template: str, title: str, agents: str, common: CommonParts
) -> str:
    """The stale summary keeps its end ("no assessment since") within the limit: a long list of
    findings is what gets shortened, at a word boundary."""
    finding = _latest_evidence(advice, common)
    values = {
        "headline": title,
        "agents": agents,
        "finding": finding,
        "date": common.day(advice.latest_evidence_on),
    }
    summary = fill(template, values)
    excess = len(summary) - (SUMMARY_LIMIT - 1)
    if excess > 0:
        values["finding"] = shorten(finding, max(len(finding) - excess, 12))
        summary = fill(template, values)
    return summary


def _agent_choices(
    advice: NeurotoxicityAdvice, agents: list[str], texts: NeurotoxicityCardsFile, common: CommonParts
) -> list[str]:
    """The agents as the summary may say them, longest first: all of them, the first and how many more,
    the therapy class."""
    choices = [common.joined(agents)]
    if len(agents) > 1:
        choices.append(fill(texts.phrases.agents_and_more, {"first": agents[0], "count": len(agents) - 1}))
    classes = list(
        dict.fromkeys(common.class_label(c.therapy_class, len(c.agents()) > 1) for c in advice.courses)
    )
    if classes:
        choices.append(common.joined(classes))
    return choices


def _not_in_headline(choices: list[str], title: str) -> list[str]:
    """The agent wordings the headline does not already say: "delayed neurotoxicity after CAR-T (day 75)"
    is not followed by "after CAR-T" again (the class label), in any language."""
    return [choice for choice in choices if choice not in title]


def _summary(texts: NeurotoxicityCardsFile, title: str, action: str, choices: list[str]) -> str:
    """Within the CDS Hooks limit by shortening the agents, never the action (issue 16 section 7): the
    full list, then "pembrolizumab and 2 more", then the class, then no agents (they are in the
    detail); only then is the end cut."""
    for agents in choices:
        summary = fill(texts.summary, {"headline": title, "agents": agents, "action": action})
        if len(summary) < SUMMARY_LIMIT:
            return summary
    return fill(texts.summary_without_agents, {"headline": title, "action": action})


def decision_guidance_key(advice: NeurotoxicityAdvice) -> str:
    """Which grade band's guidance applies: by the ASTCT grade for ICANS, else by the syndrome."""
    if advice.syndrome != "icans":
        return advice.syndrome
    grade = advice.grade
    if grade is not None and not grade.documented and (grade.suspected or 0) > (grade.grade or 0):
        band: int | None = grade.suspected  # the grade as written with the suspicion
    elif grade is None or grade.grade is None or (grade.grade == 1 and grade.capd_grade_1_or_2):
        return "icans_ungraded"  # CAPD 1-8 alone is grade 1 or 2: the band is not known
    else:
        band = grade.grade
    if band is None:
        return "icans_ungraded"
    if band >= 3:
        return "icans_grade_3_or_more"
    return f"icans_grade_{band}"


def _decision(advice: NeurotoxicityAdvice, texts: NeurotoxicityCardsFile) -> tuple[str, tuple[str, ...]]:
    """The decision the grade usually drives, as guidance, and the sources it cites."""
    guidance = texts.decision_guidance.get(decision_guidance_key(advice))
    if guidance is None:
        return "", ()
    return f"{texts.phrases.decision_heading} {guidance.text}", tuple(guidance.evidence)


def _label_guidance(
    advice: NeurotoxicityAdvice, texts: NeurotoxicityCardsFile
) -> tuple[str, tuple[str, ...]]:
    """What the label of an agent on the card says to do with it on neurotoxicity (blinatumomab: interrupt
    or stop the infusion by grade), for ICANS and the other events after immune effector cell therapy."""
    if advice.syndrome not in ("icans", "neuro-ae"):
        return "", ()
    agents = dict.fromkeys(
        event.agent.id
        for course in advice.courses
        if course.therapy_class != "ici"
        for event in course.exposures
    )
    found = [texts.label_guidance[agent] for agent in agents if agent in texts.label_guidance]
    text = " ".join(guidance.text for guidance in found)
    return text, tuple(source for guidance in found for source in guidance.evidence)


def _brain_mri_line(advice: NeurotoxicityAdvice, phrases: NeurotoxicityPhrases, common: CommonParts) -> str:
    """ "On record" only for a study done; an order is "ordered", this request's draft "being ordered"."""
    since = advice.brain_mri_since
    before = advice.brain_mri_before
    if since is None and before is not None and phrases.brain_mri_before:
        state = common.texts.words.study_states.get(before.state, before.state)
        values = {"date": common.day(before.on), "study": before.label, "state": state}
        return fill(phrases.brain_mri_before, values)
    if since is None:
        return phrases.no_brain_mri_since
    if since.draft_order:
        return fill(phrases.brain_mri_being_ordered, {"study": since.label})
    if since.state == "ordered":
        return fill(phrases.brain_mri_ordered_since, {"date": common.day(since.on), "study": since.label})
    state = common.texts.words.study_states.get(since.state, since.state)
    values = {"date": common.day(since.on), "study": since.label, "state": state}
    return fill(phrases.brain_mri_since, values)


def _finding_notes(advice: NeurotoxicityAdvice, texts: NeurotoxicityCardsFile) -> list[str]:
    """What the work-up of a finding on the card adds (Guillain-Barre syndrome, myasthenia), once each."""
    ids = dict.fromkeys(finding.kind.id for finding in advice.findings)
    for covered, covering in _NOTE_COVERED_BY.items():
        if covering in ids:
            ids.pop(covered, None)
    return [texts.finding_notes[finding_id] for finding_id in ids if finding_id in texts.finding_notes]


def _companions(advice: NeurotoxicityAdvice, texts: NeurotoxicityCardsFile) -> list[CompanionWorkUp]:
    """The work-up of companion findings on the card (a myocarditis or raised troponin with the
    myositis: ECG, troponin, cardiology), once each."""
    ids = dict.fromkeys(finding.kind.id for finding in advice.findings)
    return [texts.companion_work_up[kind] for kind in ids if kind in texts.companion_work_up]


def _also_work_up(kind: Syndrome, lead: Syndrome, phrases: NeurotoxicityPhrases) -> str:
    """ "Also for the central findings", except the brain MRI after a leading spine MRI: its only central
    findings are signs a cord lesion explains (paraparesis), so the card says why the brain is imaged
    too (German confirmatory review, probe p)."""
    if kind == "central" and lead == "spinal" and phrases.also_brain_mri_after_spine:
        return phrases.also_brain_mri_after_spine
    return phrases.also_work_up


def _finding_action(
    advice: NeurotoxicityAdvice, texts: NeurotoxicityCardsFile
) -> FindingSummaryAction | None:
    """The summary's action a finding on the card brings (Guillain-Barre syndrome: lumbar puncture,
    nerve conduction studies, vital capacity), the first found."""
    for finding in advice.findings:
        own = texts.finding_summary_action.get(finding.kind.id)
        if own is not None:
            return own
    return None


def _brain_mri_done_since(advice: NeurotoxicityAdvice, common: CommonParts) -> str:
    """The date of a brain MRI done since the latest finding, as the card writes it, else empty: the
    card then advises reviewing that MRI, not an urgent one it does not order (an order placed, or one
    being ordered now, is still to be done: the advice stands)."""
    since = advice.brain_mri_since
    if since is None or since.draft_order or since.state != "done":
        return ""
    return common.day(since.on)


def _work_up_detail(
    kind: Syndrome,
    texts: NeurotoxicityCardsFile,
    caution: MriCaution | None,
    urgent: bool,
    mri_on_record: str = "",
) -> str:
    """The work-up the card advises for a syndrome class, consistent with what it suggests: no MRI while
    an implant rules it out, none again when one was done since the finding (`mri_on_record`, its
    date), no contrast while contrast is ruled out, no "urgent" on a routine order."""
    wording = texts.work_up[kind]
    if caution is not None and caution.implants and wording.detail_mri_contraindicated:
        routine = not urgent and wording.detail_mri_contraindicated_routine
        return routine or wording.detail_mri_contraindicated
    if mri_on_record and wording.detail_mri_on_record:
        return fill(wording.detail_mri_on_record, {"date": mri_on_record})
    if caution is not None and caution.contrast_only and wording.detail_contrast_contraindicated:
        routine = not urgent and wording.detail_contrast_contraindicated_routine
        return routine or wording.detail_contrast_contraindicated
    if not urgent and wording.detail_routine:
        return wording.detail_routine
    return wording.detail


def neurotoxicity_card(
    advice: NeurotoxicityAdvice,
    texts: NeurotoxicityCardsFile,
    common: CommonParts,
    context: CardContext,
    *,
    risk_windows: Sequence[str] = (),
    recent_hours: int = 72,
) -> dict[str, Any]:
    phrases = texts.phrases
    title = headline(advice, phrases, common.texts.words.car_t_day)
    if advice.therapy_not_recorded:
        agent_choices = [texts.unattributed_therapy]
    else:
        names = sorted({agent for course in advice.courses for agent in course.agents()})
        agent_choices = _agent_choices(advice, names, texts, common)
    agents = agent_choices[0]
    today = context.now.date()
    caution = advice.mri_caution
    lead = advice.work_up[0] if advice.work_up else "central"
    central = "central" in advice.work_up or not advice.work_up
    # One priority across the card: the summary's action, every work-up sentence and the order agree.
    urgent = advice.urgent_brain_mri
    # The brain MRI line: central syndromes, and hypophysitis leading (a pituitary-protocol brain MRI).
    head_mri = central or lead == "pituitary"
    # The lead note of spinal and pituitary work-ups names an MRI as the primary test: not while MRI is
    # ruled out (the neuromuscular note names the examination, EMG and labs: it stays).
    implant = caution is not None and bool(caution.implants)
    lead_note = texts.work_up[lead].lead_note
    if implant and lead in ("spinal", "pituitary"):
        lead_note = ""
    since = advice.brain_mri_since
    mri_done = _brain_mri_done_since(advice, common) if head_mri else ""
    companions = _companions(advice, texts)
    work_up = [_work_up_detail(lead, texts, caution, urgent, mri_done), lead_note]
    work_up += [companion.detail for companion in companions]
    work_up += [
        fill(
            _also_work_up(kind, lead, phrases),
            {
                "kind": common.texts.words.work_up_kinds.get(kind, kind),
                "detail": _work_up_detail(kind, texts, caution, urgent, mri_done),
            },
        )
        for kind in advice.work_up[1:]
    ]
    brain_mri = _brain_mri_line(advice, phrases, common) if head_mri else ""
    decision, decision_evidence = _decision(advice, texts)
    label, label_evidence = _label_guidance(advice, texts)
    decision = "\n\n".join(part for part in (decision, label) if part)
    decision_evidence += label_evidence
    risk_window = "\n\n".join([phrases.risk_window_heading, *risk_windows]) if risk_windows else ""
    detail = fill(
        texts.detail,
        {
            "headline": title,
            "context_sentence": _context_sentence(advice, phrases, common),
            "findings": "\n".join(_finding_lines(advice, phrases, common)),
            "grading": _grading(advice, texts, common, today, recent_hours),
            "work_up": " ".join(part for part in work_up if part),
            "eeg": " ".join(
                note
                for note in (
                    (texts.eeg_note if advice.immune_effector else texts.eeg_note_irae)
                    if advice.eeg and central
                    else "",
                    texts.lumbar_puncture_note if advice.lumbar_puncture else "",
                    texts.encephalitis_question_note if advice.encephalitis_question else "",
                    *_finding_notes(advice, texts),
                )
                if note
            ),
            "brain_mri_since": brain_mri,
            "therapy": _therapy_lines(advice, phrases, common),
            "stale": _stale_sentence(advice, phrases, common, recent_hours),
            "decision": decision,
            "risk_window": risk_window,
        },
    )
    wording = texts.work_up[lead]
    blocked = caution is not None and caution.blocks_order
    action = wording.summary_action if urgent else wording.summary_action_warning
    if caution is not None and caution.implants and lead in ("central", "spinal", "pituitary"):
        routine = not urgent and texts.summary_action_mri_contraindicated_routine
        action = routine or texts.summary_action_mri_contraindicated
    elif mri_done and wording.summary_action_mri_on_record:
        action = fill(wording.summary_action_mri_on_record, {"date": mri_done})
    elif (
        urgent
        and caution is not None
        and caution.contrast_only
        and wording.summary_action_contrast_contraindicated
    ):
        action = wording.summary_action_contrast_contraindicated
    elif companions and lead == "neuromuscular":
        action = companions[0].summary_action
    elif lead == "neuromuscular" and (own := _finding_action(advice, texts)) is not None:
        action = own.summary_action if urgent else own.summary_action_warning
    elif lead == "spinal" and central and since is None and not blocked:
        # The card orders the brain MRI: the summary names it first, the whole-spine MRI with it.
        with_brain = (
            wording.summary_action_with_brain_mri if urgent else wording.summary_action_warning_with_brain_mri
        )
        action = with_brain or action
    elif lead == "central" and advice.brain_mri_before is not None and not mri_done:
        values = {"action": action, "date": common.day(advice.brain_mri_before.on)}
        action = fill(phrases.summary_action_mri_before, values)
    summary = _summary(texts, title, action, _not_in_headline(agent_choices, title))
    if advice.stale:
        summary = _stale_summary(advice, texts.summary_stale, title, agents, common)
    suggestion = None
    # The brain MRI leads, or follows the spine's (myelitis with paraparesis): the card orders it.
    brain_mri_advised = lead == "central" or (lead == "spinal" and central)
    if brain_mri_advised and since is None and not blocked:
        wanted = texts.suggestion if urgent else texts.suggestion_warning
        reason = fill(wanted.reason, {"headline": title, "agents": agents})
        suggestion = common.mri_suggestion(wanted, reason, context)
    elif lead == "pituitary" and since is None and not blocked:
        wanted = texts.suggestion_pituitary
        if urgent:  # visual field loss: the pituitary MRI the same day, as the summary says
            wanted = wanted.model_copy(update={"priority": texts.suggestion.priority})
        reason = fill(wanted.reason, {"headline": title, "agents": agents})
        suggestion = common.mri_suggestion(wanted, reason, context, texts.suggestion_pituitary_order_text)
    if head_mri or "spinal" in advice.work_up:
        caution_text = common.mri_caution_text(caution)
        detail = f"{detail}\n\n{caution_text}" if caution_text else detail
    evidence = tuple(dict.fromkeys([*advice.evidence, *decision_evidence]))
    return common.card(texts.topic, summary, detail, advice.indicator, evidence, suggestion)
