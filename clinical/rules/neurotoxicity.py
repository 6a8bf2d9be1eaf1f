"""`possible-neurotoxicity`: new neurological findings after immunotherapy, attributed to the therapy
that most likely caused them, graded per ASTCT for ICANS (the worst domain), with the work-up that fits
the syndrome: central (urgent brain MRI), spinal (spine MRI) or neuromuscular (EMG/NCS, CK, troponin,
respiratory function; no brain MRI)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from typing import Literal

from clinical.knowledge.schema import Indicator, NeurotoxicityTiming, Syndrome, TherapyClass
from clinical.rules.courses import Course
from clinical.rules.grading import IcansGrade, grade_icans, latest_abnormal_scores
from clinical.rules.interval import WindowHit
from clinical.rules.mri_safety import MriCaution
from clinical.timeline import (
    ImagingEvent,
    ImpliedExposure,
    NeurologicalFinding,
    PatientTimeline,
    ScoreReading,
)
from clinical.timeline.findings import ICANS, age_in_years

# icans: central findings after a T-cell engager or CAR-T up to day 30, or ICANS documented;
# delayed-car-t: after CAR-T day 30; irae: after a checkpoint inhibitor; neuro-ae: a spinal or
# neuromuscular event after immune effector cell therapy (ICANS is a CNS syndrome, Lee 2019: not ICANS);
# endocrine-irae: hypophysitis / hypopituitarism after a checkpoint inhibitor (an endocrine irAE, ASCO 2021).
Attribution = Literal["icans", "delayed-car-t", "irae", "endocrine-irae", "neuro-ae"]
_LEAD_ORDER: tuple[Attribution, ...] = ("icans", "delayed-car-t", "irae", "endocrine-irae", "neuro-ae")
_WORK_UP_ORDER: tuple[Syndrome, ...] = ("central", "spinal", "neuromuscular", "pituitary")
# The lead classes whose card suggests an MRI of the head: brain, or brain with a pituitary protocol.
_SUGGESTS_MRI: frozenset[Syndrome] = frozenset(("central", "pituitary"))
_IMMUNE_EFFECTOR: frozenset[TherapyClass] = frozenset(("car_t", "t_cell_engager"))
# Suspected, these still need the same-day work-up: they can stop breathing within hours (ASCO irAE
# guideline 2021: Guillain-Barre syndrome and myasthenia gravis are worked up and treated as inpatients).
# German review (class S): so does a suspected CNS inflammation (encephalitis, meningoencephalitis,
# meningitis): ASCO 2021 and SITC work up a suspected encephalitis at once (MRI, lumbar puncture with HSV
# PCR, EEG) because infection, above all HSV, must be excluded before immunosuppression.
_CNS_INFLAMMATION: frozenset[str] = frozenset(("encephalitis", "encephalomyelitis", "meningitis"))
_URGENT_WHEN_SUSPECTED: frozenset[str] = frozenset(
    ("guillain-barre", "myasthenia-gravis", "myasthenia-pattern", *_CNS_INFLAMMATION)
)
# German review (class S): a new encephalopathy under a checkpoint inhibitor alone (confusion, aphasia,
# depressed consciousness, seizure) raises the question of an immune-related encephalitis: the card asks
# it (lumbar puncture and EEG after imaging), unless an encephalitis is already on the card.
_ENCEPHALOPATHY_SIGNS: frozenset[str] = frozenset(
    (
        "encephalopathy",
        "toxic-encephalopathy",
        "altered-mental-status",
        "delirium",
        "impaired-cognition",
        "aphasia",
        "aphasia-frank",
        "somnolence",
        "obtundation",
        "stupor-coma",
        "depressed-consciousness-gcs",
        "seizure",
        "status-epilepticus",
    )
)


@dataclass(frozen=True)
class NeurotoxicityAdvice:
    indicator: Indicator
    syndrome: Attribution
    courses: tuple[Course, ...]  # the therapies the findings are attributed to
    therapy_not_recorded: bool  # ICANS documented with no immune effector cell therapy on record here
    car_t_day: int | None  # for delayed neurotoxicity after CAR-T
    findings: tuple[NeurologicalFinding, ...]
    scores: tuple[ScoreReading, ...]
    grade: IcansGrade | None
    work_up: tuple[Syndrome, ...]  # the leading syndrome class first
    eeg: bool
    brain_mri_since: ImagingEvent | None
    evidence: tuple[str, ...]
    # The day of the latest evidence the indicator rests on (a finding's date or the day it was written,
    # a score's date): for a critical card, the latest evidence that makes it critical.
    latest_evidence_on: date | None = None
    # Critical by its findings, but the latest evidence is older than critical_while_recent_hours with no
    # assessment since: shown as a warning that names the last documented finding (issue 16, 7).
    stale: bool = False
    # CAR-T / T-cell engager risk windows the patient is in, folded into this card (rules.episodes).
    risk_windows: tuple[WindowHit, ...] = ()
    # v3: the diagnoses that imply the therapy when none is recorded here (T80.82-, D89.83-)
    implied_by: tuple[str, ...] = ()
    lumbar_puncture: bool = False  # encephalitis / meningitis: CSF analysis (ASCO irAE guideline)
    mri_caution: MriCaution | None = None  # set by `evaluate` when MRI is contraindicated
    # v3 (review): the central work-up (brain MRI) is urgent: a critical card, or a warning with affirmed
    # central evidence of the last critical_while_recent_hours (an undated active diagnosis counts as
    # current). A suspicion only, or evidence gone stale, gets the same MRI at routine priority.
    # German clinician review: the one priority of the whole card, whatever leads (summary, detail and
    # the order agree); a suspected ICANS in the ICANS risk window (unless grade 1), a suspected
    # Guillain-Barre syndrome or myasthenia stay urgent.
    urgent_brain_mri: bool = False
    # The card rests on CAR-T or a T-cell engager (recorded or implied): ICANS content may be said.
    immune_effector: bool = False
    # German review (class S): a new encephalopathy under a checkpoint inhibitor alone, no encephalitis
    # on the card: the card asks whether it is an immune encephalitis (lumbar puncture, EEG).
    encephalitis_question: bool = False
    # German review (class M): the latest brain MRI done before the latest finding (within
    # new_finding_days): named, with why the card still advises a new one.
    brain_mri_before: ImagingEvent | None = None

    @property
    def suggests_brain_mri(self) -> bool:
        """The card's own MRI (brain, or pituitary protocol) replaces a baseline brain MRI card."""
        return (bool(self.work_up) and self.work_up[0] in _SUGGESTS_MRI) or "central" in self.work_up


def _attribution(
    on: date, courses: dict[TherapyClass, Course], rules: NeurotoxicityTiming
) -> list[tuple[Attribution, Course | None]]:
    found: list[tuple[Attribution, Course | None]] = []
    for therapy_class, course in courses.items():
        if not course.exposed:
            continue
        if course.first_exposure is not None and on < course.first_exposure and not course.undated_exposure:
            continue  # the finding predates the therapy
        horizon = rules.horizon_after_last_exposure_days.of(therapy_class)
        if course.last_exposure is not None and (on - course.last_exposure).days > horizon:
            continue
        if therapy_class == "ici":
            found.append(("irae", course))
        elif (
            therapy_class == "car_t"
            and course.day_zero
            and (on - course.day_zero).days > rules.car_t_delayed_after_day
        ):
            found.append(("delayed-car-t", course))
        else:
            found.append(("icans", course))
    return found


def _new_findings(
    timeline: PatientTimeline, today: date, rules: NeurotoxicityTiming
) -> list[NeurologicalFinding]:
    # An undated active diagnosis is current on any day: it is read as of that day (the card says
    # "undated").
    dated = [replace(finding, on=today) if finding.undated else finding for finding in timeline.findings]
    return [
        finding
        for finding in dated
        if finding.on <= today
        and (today - finding.on).days <= rules.new_finding_days
        and finding.active_on(today)
    ]


def _brain_mri_since(
    timeline: PatientTimeline, since: date, today: date, lead: Syndrome | None
) -> ImagingEvent | None:
    # A pituitary MRI ("MRT Sella / Hypophyse") is the study a hypophysitis card asks for, not a brain MRI
    # for a central syndrome (German reading review).
    kinds = ("brain-mri", "pituitary-mri") if lead == "pituitary" else ("brain-mri",)
    imaged = [
        event
        for event in timeline.imaging
        if event.kind in kinds
        and event.known_on(today)
        and event.on is not None
        and event.on >= since
        and (event.state == "ordered" or event.on <= today)
    ]
    return max(imaged, key=lambda event: event.on or date.min) if imaged else None


def _indicator(
    findings: list[NeurologicalFinding], grade: IcansGrade | None, rules: NeurotoxicityTiming
) -> Indicator:
    for finding in findings:
        # A coded ICANS grade decides for itself (G92.01 is grade 1: a warning); otherwise the kind.
        graded_icans = finding.kind.id == ICANS and finding.coded_grade is not None
        if finding.kind.severity == "critical" and not finding.uncertain and not graded_icans:
            return "critical"
    if grade is not None and grade.grade is not None and grade.grade >= rules.critical_from_icans_grade:
        return "critical"
    return "warning"


def _implied_attribution(
    finding: NeurologicalFinding,
    found: list[tuple[Attribution, Course | None]],
    timeline: PatientTimeline,
    rules: NeurotoxicityTiming,
) -> tuple[list[tuple[Attribution, Course | None]], list[ImpliedExposure]]:
    """A diagnosis implying immune effector cell therapy (T80.82-, D89.83-) near the finding attributes
    it like a recorded CAR-T, unless a recorded immune effector therapy already does; CRS (which also
    follows transplant) only when no recorded therapy explains the finding. The implying diagnoses,
    T80.82- first."""
    if any(course is not None and course.therapy_class in _IMMUNE_EFFECTOR for _, course in found):
        return [], []
    horizon = rules.horizon_after_last_exposure_days.of("car_t")
    implying = [
        implied
        for implied in timeline.implied_exposures
        if implied.covers(finding.on, horizon) and (implied.always or not found)
    ]
    if not implying:
        return [], []
    label: Attribution = "icans" if finding.kind.syndrome == "central" else "neuro-ae"
    return [(label, None)], sorted(implying, key=lambda implied: not implied.always)


def _attributed_findings(
    timeline: PatientTimeline, courses: dict[TherapyClass, Course], today: date, rules: NeurotoxicityTiming
) -> tuple[list[NeurologicalFinding], dict[Attribution, list[Course]], list[str]]:
    """The new findings some therapy explains, which therapies explain them, by syndrome, and the
    diagnoses that implied a therapy not recorded here."""
    kept: list[NeurologicalFinding] = []
    attributions: dict[Attribution, list[Course]] = {}
    implied_by: list[str] = []
    new = _new_findings(timeline, today, rules)
    present = {finding.kind.id for finding in new}
    for finding in new:
        if finding.kind.counts_only_with and present.isdisjoint(finding.kind.counts_only_with):
            continue  # myocarditis without a myositis or myasthenia: not a neurological finding
        found = _attribution(finding.on, courses, rules)
        if finding.kind.id == ICANS:
            # An ICANS diagnosis implies immune effector cell therapy, recorded here or not, and stays
            # ICANS after CAR-T day 30 (documented, graded): not "possible delayed neurotoxicity".
            found = [("icans", course) for label, course in found if label != "irae"] or [("icans", None)]
        elif finding.kind.syndrome != "central":
            # Myelitis, neuropathy, myasthenia, myositis, GBS: not ICANS (a CNS syndrome). With a
            # checkpoint inhibitor too, the irAE leads (_LEAD_ORDER).
            found = [("neuro-ae" if label == "icans" else label, course) for label, course in found]
        if finding.kind.syndrome == "pituitary":
            # Hypophysitis under a checkpoint inhibitor is an endocrine irAE, not a neurological one.
            found = [("endocrine-irae" if label == "irae" else label, course) for label, course in found]
        if finding.kind.id != ICANS:
            implied_found, implying = _implied_attribution(finding, found, timeline, rules)
            found += implied_found
            implied_by.extend(i.detail for i in implying if i.detail not in implied_by)
        if not found:
            continue
        kept.append(finding)
        for label, course in found:
            explained_by = attributions.setdefault(label, [])
            if course is not None and course not in explained_by:
                explained_by.append(course)
    return kept, attributions, implied_by


def _attributed_scores(
    timeline: PatientTimeline,
    courses: dict[TherapyClass, Course],
    today: date,
    age: int | None,
    rules: NeurotoxicityTiming,
    attributions: dict[Attribution, list[Course]],
) -> list[ScoreReading]:
    """Recent abnormal ICE / CAPD scores: an ICE score implies ICANS assessment by itself; a CAPD (also
    used in paediatric intensive care generally) counts only after immune effector cell therapy."""
    scores = latest_abnormal_scores(timeline.scores, today, rules.new_finding_days, age)
    effector = [c for c in courses.values() if c.therapy_class in _IMMUNE_EFFECTOR and c.exposed]
    implied = bool(timeline.implied_exposures)  # v3: CAR-T implied by T80.82- / D89.83- counts too
    scores = [score for score in scores if score.kind == "ice" or effector or implied]
    if scores:
        explained_by = attributions.setdefault("icans", [])
        explained_by.extend(course for course in effector if course not in explained_by)
    return scores


def _evidence_day(finding: NeurologicalFinding) -> date:
    """A diagnosis written today about an onset last week is today's evidence."""
    return max(finding.on, finding.recorded_on or finding.on)


def _critical_evidence_days(
    findings: list[NeurologicalFinding],
    scores: list[ScoreReading],
    grade: IcansGrade | None,
    rules: NeurotoxicityTiming,
) -> list[date]:
    """The days of the evidence that makes the card critical (as `_indicator` decides): an affirmed
    finding of a critical kind, or a score, finding or code at or above the critical ICANS grade. A
    suspicion charted today does not renew a seizure of last week."""
    threshold = rules.critical_from_icans_grade
    days = []
    for finding in findings:
        # An undated diagnosis is current, but nothing says it is recent: it never makes a card critical.
        if finding.uncertain or finding.undated:
            continue
        graded_icans = finding.kind.id == ICANS and finding.coded_grade is not None
        critical_kind = finding.kind.severity == "critical" and not graded_icans
        graded = grade is not None and (
            (finding.kind.icans_grade or 0) >= threshold or (finding.coded_grade or 0) >= threshold
        )
        if critical_kind or graded:
            days.append(_evidence_day(finding))
    if grade is not None:
        days += [
            score.on
            for score in scores
            if (score.grade or 0) >= threshold and not (score.kind == "ice" and grade.ice_not_valid_for_age)
        ]
    return days


def _stale(latest: date, today: date, rules: NeurotoxicityTiming) -> bool:
    # Findings and scores are dated by day: 72 h keeps the day of the evidence and the three after it.
    return (today - latest).days * 24 > rules.critical_while_recent_hours


def _in_icans_window(
    finding: NeurologicalFinding, courses: dict[TherapyClass, Course], rules: NeurotoxicityTiming
) -> bool:
    """The finding falls in the ICANS risk window of a recorded CAR-T or T-cell engager course (day 0 to
    car_t_delayed_after_day)."""
    for therapy_class in _IMMUNE_EFFECTOR:
        course = courses.get(therapy_class)
        day_zero = course.day_zero if course is not None else None
        if day_zero is not None and 0 <= (finding.on - day_zero).days <= rules.car_t_delayed_after_day:
            return True
    return False


def _suspicion_stays_urgent(
    finding: NeurologicalFinding,
    grade: IcansGrade | None,
    courses: dict[TherapyClass, Course],
    rules: NeurotoxicityTiming,
) -> bool:
    """A suspicion that keeps the same-day work-up: Guillain-Barre syndrome, myasthenia, or ICANS in its
    risk window unless its grade (as graded, or as written) is 1: grade 1 is supportive care with
    frequent neurological checks (ASTCT / ASCO), nothing the same day demands."""
    if finding.kind.id in _URGENT_WHEN_SUSPECTED:
        return True
    if finding.kind.id != ICANS or not _in_icans_window(finding, courses, rules):
        return False
    band = max((grade.grade or 0, grade.suspected or 0)) if grade is not None else 0
    return band != 1


def _urgent_brain_mri(
    indicator: Indicator,
    stale: bool,
    findings: list[NeurologicalFinding],
    scores: list[ScoreReading],
    today: date,
    rules: NeurotoxicityTiming,
    grade: IcansGrade | None = None,
    courses: dict[TherapyClass, Course] | None = None,
) -> bool:
    """Whether the card's work-up is urgent (see `NeurotoxicityAdvice.urgent_brain_mri`)."""
    if stale:
        return False
    if indicator == "critical":
        return True
    central_days = [
        _evidence_day(finding)
        for finding in findings
        if finding.kind.syndrome == "central" and not finding.uncertain
    ] + [score.on for score in scores]
    if any(not _stale(day, today, rules) for day in central_days):
        return True
    return any(
        finding.uncertain
        and not _stale(_evidence_day(finding), today, rules)
        and _suspicion_stays_urgent(finding, grade, courses or {}, rules)
        for finding in findings
    )


def _needs_eeg(
    findings: list[NeurologicalFinding], grade: IcansGrade | None, rules: NeurotoxicityTiming
) -> bool:
    if any(finding.kind.id in rules.eeg_finding_ids and not finding.uncertain for finding in findings):
        return True
    # German review (class S): a suspected encephalitis gets its EEG as a confirmed one does.
    if any(f.kind.id in rules.eeg_finding_ids and f.kind.id in _CNS_INFLAMMATION for f in findings):
        return True
    return (
        grade is not None
        and grade.score_grade is not None
        and grade.score_grade >= rules.eeg_from_score_grade
    )


def _work_up(findings: list[NeurologicalFinding], scores: list[ScoreReading]) -> list[Syndrome]:
    """The work-up classes, the leading one first (central, spinal, neuromuscular, pituitary); a spinal
    finding leads when the only central findings are signs a cord lesion explains (myelitis with
    paraparesis: the whole-spine MRI first, the brain MRI second)."""
    work_up = [
        kind
        for kind in _WORK_UP_ORDER
        if any(f.kind.syndrome == kind or kind in f.kind.also_work_up for f in findings)
        or (kind == "central" and scores)
    ]
    central = [f for f in findings if f.kind.syndrome == "central" or "central" in f.kind.also_work_up]
    spinal_lead = (
        any(f.kind.syndrome == "spinal" for f in findings)
        and not scores
        and bool(central)
        and all(f.kind.explained_by_spinal for f in central)
    )
    if spinal_lead:
        work_up.remove("spinal")
        work_up.insert(0, "spinal")
    return work_up


def _brain_mri_before(
    timeline: PatientTimeline,
    latest: date,
    today: date,
    rules: NeurotoxicityTiming,
    courses: list[Course],
) -> ImagingEvent | None:
    """The latest brain MRI done in the new_finding_days before the latest finding and since the therapy
    began (German review, class M): a normal MRI of yesterday does not show what is new today, but the
    card names it; a baseline before the therapy is not news."""
    started = [course.first_exposure for course in courses if course.first_exposure is not None]
    done = [
        event
        for event in timeline.imaging
        if event.kind == "brain-mri"
        and event.state == "done"
        and event.known_on(today)
        and event.on is not None
        and event.on < latest
        and (latest - event.on).days <= rules.new_finding_days
        and (not started or event.on >= min(started))
    ]
    return max(done, key=lambda event: event.on or date.min) if done else None


def _encephalitis_question(syndrome: Attribution, findings: list[NeurologicalFinding]) -> bool:
    ids = {finding.kind.id for finding in findings}
    return (
        syndrome == "irae" and not ids.isdisjoint(_ENCEPHALOPATHY_SIGNS) and ids.isdisjoint(_CNS_INFLAMMATION)
    )


def possible_neurotoxicity(
    timeline: PatientTimeline, courses: dict[TherapyClass, Course], today: date, rules: NeurotoxicityTiming
) -> NeurotoxicityAdvice | None:
    findings, attributions, implied_by = _attributed_findings(timeline, courses, today, rules)
    age = age_in_years(timeline.birth_date, today) if timeline.birth_date else None
    scores = _attributed_scores(timeline, courses, today, age, rules, attributions)
    if not findings and not scores:
        return None
    syndrome = next(label for label in _LEAD_ORDER if label in attributions)
    involved = [course for label in _LEAD_ORDER for course in attributions.get(label, [])]
    grade = None
    if syndrome == "icans":
        grade = grade_icans(findings, scores, timeline.scores, today, age, rules.new_finding_days)
    work_up = _work_up(findings, scores)
    latest = max([f.on for f in findings] + [s.on for s in scores])
    indicator = _indicator(findings, grade, rules)
    critical_days = _critical_evidence_days(findings, scores, grade, rules) if indicator == "critical" else []
    if indicator == "critical" and not critical_days:
        indicator = "warning"  # only undated diagnoses would make it critical: current, not known recent
    latest_evidence = max(critical_days or [_evidence_day(f) for f in findings] + [s.on for s in scores])
    stale = bool(critical_days) and _stale(latest_evidence, today, rules)
    car_t = courses.get("car_t")
    therapy_not_recorded = (syndrome == "icans" and not attributions.get("icans")) or not involved
    immune_effector = (
        therapy_not_recorded
        or bool(implied_by)
        or any(course.therapy_class in _IMMUNE_EFFECTOR for course in involved)
    )
    evidence = [*rules.evidence, *(rules.immune_effector_evidence if immune_effector else [])]
    since = _brain_mri_since(timeline, latest, today, work_up[0] if work_up else None)
    return NeurotoxicityAdvice(
        indicator="warning" if stale else indicator,
        syndrome=syndrome,
        courses=tuple(dict.fromkeys(involved)),
        therapy_not_recorded=therapy_not_recorded,
        car_t_day=car_t.day(latest) if car_t is not None and syndrome == "delayed-car-t" else None,
        findings=tuple(sorted(findings, key=lambda finding: finding.on)),
        scores=tuple(scores),
        grade=grade,
        work_up=tuple(work_up),
        eeg=_needs_eeg(findings, grade, rules),
        # German review (class S): a suspected encephalitis or meningitis is when the LP is done.
        lumbar_puncture=any(finding.kind.id in rules.lumbar_puncture_finding_ids for finding in findings),
        brain_mri_since=since,
        brain_mri_before=None
        if since is not None
        else _brain_mri_before(timeline, latest, today, rules, involved),
        encephalitis_question=_encephalitis_question(syndrome, findings),
        evidence=tuple(dict.fromkeys(evidence)),
        latest_evidence_on=latest_evidence,
        stale=stale,
        urgent_brain_mri=_urgent_brain_mri(indicator, stale, findings, scores, today, rules, grade, courses),
        immune_effector=immune_effector,
        implied_by=tuple(implied_by) if not involved or not attributions.get("icans") else (),
    )
