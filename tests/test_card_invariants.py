"""Card invariants (docs/clinical-rules-v2.md, sections 2-5) checked on random but plausible records:
mixtures of checkpoint inhibitor, CAR-T and T-cell engager records (given, ordered, planned, stopped,
draft, not given), neurological findings affirmed, negated and uncertain, ICE / CAPD scores, brain MRIs
done and ordered, iRECIST reports, children and adults, malformed dates and missing fields, on the three
hooks (draft orders only on order-select / order-sign). The generators are in invariant_support.py.

Every property runs with a fixed budget (100 examples) and `derandomize=True`: the same examples on
every run, so CI cannot flake; the whole module runs in about 10 seconds. To hunt for new
counterexamples by hand: `INVARIANT_EXAMPLES=3000 INVARIANT_RANDOM=1 pytest tests/test_card_invariants.py`
(a few minutes); a failure prints the record (hook, draft orders, resources).

Where an invariant depends on what the record holds ("a CAR-T infusion 40 days ago"), it is read from
the generated resources by the helpers of `Case`, not from the product's own timeline.
"""

from __future__ import annotations

import copy
import os
import random
import re
from datetime import timedelta
from typing import Any

from clinical_support import (
    TODAY,
    advice,
    brain_mri,
    brain_mri_order,
    by_topic,
    cards,
    condition,
    day,
    evaluator,
    note,
    report,
    score,
    topics,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import note as hypothesis_note
from hypothesis import strategies as st
from invariant_support import (
    AFFIRMED,
    DECEASED,
    MRI_CONTRAINDICATIONS,
    NEGATED,
    UNCERTAIN,
    Case,
    cases,
    planned_car_t_cases,
    recent_car_t_cases,
    recent_exposure_cases,
)

from clinical.cards import SUMMARY_LIMIT
from clinical.rules import BaselineAdvice, IntervalAdvice, NeurotoxicityAdvice, indicator_rank

TOPICS = {"baseline-brain-mri", "interval-imaging", "possible-neurotoxicity"}
INDICATORS = {"info", "warning", "critical"}
RESOURCE_TYPES = (
    "Patient|Practitioner|PractitionerRole|Encounter|Condition|Observation|MedicationAdministration|"
    "MedicationRequest|MedicationStatement|MedicationDispense|Medication|Procedure|ServiceRequest|"
    "DiagnosticReport|ImagingStudy|Bundle|Organization|Location"
)
RAW_REFERENCE = re.compile(rf"\b(?:{RESOURCE_TYPES})/[A-Za-z0-9\-.]{{1,64}}\b")
LEFTOVER = re.compile(r"\bNone\b|\{[a-z_]*\}|\bnull\b|\bnan\b")

# INVARIANT_EXAMPLES / INVARIANT_RANDOM=1 widen the search by hand (a long, random run to hunt for new
# counterexamples); CI keeps the fixed budget and the fixed examples.
BUDGET = settings(
    max_examples=int(os.environ.get("INVARIANT_EXAMPLES", "100")),
    deadline=None,
    derandomize=os.environ.get("INVARIANT_RANDOM") != "1",
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def evaluated(case: Case) -> list[dict[str, Any]]:
    hypothesis_note(case.describe())  # printed with a falsifying example
    return cards(case.resources, case.drafts)


def mri_suggestions(card: dict[str, Any]) -> int:
    return sum(
        1
        for suggestion in card.get("suggestions", [])
        for action in suggestion.get("actions", [])
        if action.get("resource", {}).get("resourceType") == "ServiceRequest"
    )


def without_uuids(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: without_uuids(item) for key, item in value.items() if key != "uuid"}
    if isinstance(value, list):
        return [without_uuids(item) for item in value]
    return value


# --- shape (CDS Hooks 2.0 and section 5) ----------------------------------------------------------------


@BUDGET
@given(cases())
def test_every_response_is_well_formed(case: Case) -> None:
    found = evaluated(case)
    codes = [card["source"]["topic"]["code"] for card in found]
    assert len(codes) == len(set(codes)), f"a topic twice: {codes}"
    assert set(codes) <= TOPICS
    assert sum(mri_suggestions(card) for card in found) <= 1, "two MRI orders in one response"
    for card in found:
        assert card["indicator"] in INDICATORS
        assert card.get("uuid")
        assert 0 < len(card["summary"]) < SUMMARY_LIMIT
        assert ("overrideReasons" in card) == bool(card.get("suggestions")), "override reasons w/o suggestion"
        assert ("selectionBehavior" in card) == bool(card.get("suggestions"))
        for suggestion in card.get("suggestions", []):
            assert suggestion.get("uuid")
        for text in (card["summary"], card["detail"]):
            assert not RAW_REFERENCE.search(text), f"raw reference in {text!r}"
            assert not LEFTOVER.search(text), f"placeholder leftover in {text!r}"
        for value in card.values():
            assert value not in (None, "", [], {}), f"empty field in {card}"


# --- coherence between the cards (sections 2 and 5) --------------------------------------------------------


@BUDGET
@given(cases())
def test_no_baseline_beside_an_urgent_brain_mri(case: Case) -> None:
    found = by_topic(evaluated(case))
    neurotoxicity = found.get("possible-neurotoxicity")
    if "baseline-brain-mri" in found and neurotoxicity is not None:
        assert not mri_suggestions(neurotoxicity)
        # The baseline stays only beside a spinal / neuromuscular work-up (no brain MRI asked for).
        (neuro,) = [
            item for item in advice(case.resources, case.drafts) if isinstance(item, NeurotoxicityAdvice)
        ]
        assert "central" not in neuro.work_up, "baseline beside a central neurotoxicity card"


@BUDGET
@given(st.one_of(cases(), planned_car_t_cases()))
def test_no_car_t_baseline_after_a_car_t_infusion_within_a_year(case: Case) -> None:
    """Section 2: after a CAR-T infusion in the last car_t_retreatment_days the CAR-T baseline never
    fires; an infusion whose date cannot be read still counts (section 1). (A baseline for another
    class being started now, e.g. an ICI drafted at CAR-T day 20, is that class's own rule.)"""
    offsets = case.car_t_infusion_offsets()
    dated = [offset for offset in offsets if offset is not None and offset <= 0]
    # An infusion whose date cannot be read, and no dated one: it may have been yesterday.
    # v3 (issue 16 section 4): a second CAR-T after the first course's late-effect window is a new
    # course with its own baseline: the window is `car_t_retreatment_days` (90 days, was 365).
    window = evaluator().knowledge.timing.baseline_brain_mri.car_t_retreatment_days
    if any(-window <= offset <= 0 for offset in dated) or (None in offsets and not dated):
        card = by_topic(evaluated(case)).get("baseline-brain-mri")
        assert card is None or "(CAR-T)" not in card["summary"]
        for item in advice(case.resources, case.drafts):
            if isinstance(item, BaselineAdvice):
                assert all(course.therapy_class != "car_t" for course in item.courses)


@BUDGET
@given(cases(classes=("ici",), hooks=("patient-view",)))
def test_no_baseline_on_patient_view_for_a_checkpoint_inhibitor(case: Case) -> None:
    assert "baseline-brain-mri" not in topics(evaluated(case))


@BUDGET
@given(cases(classes=("ici",), hooks=("order-select", "order-sign")))
def test_the_checkpoint_inhibitor_baseline_is_info_without_a_suggestion(case: Case) -> None:
    card = by_topic(evaluated(case)).get("baseline-brain-mri")
    if card is not None:
        assert card["indicator"] == "info"
        assert "suggestions" not in card and "overrideReasons" not in card


@BUDGET
@given(cases(hooks=("order-select", "order-sign")))
def test_no_checkpoint_inhibitor_baseline_once_the_course_has_started(case: Case) -> None:
    """Section 2: the ICI baseline only while no ICI course started before today."""
    if case.ici_started_before_today():
        for item in advice(case.resources, case.drafts):
            if isinstance(item, BaselineAdvice):
                assert all(course.therapy_class != "ici" for course in item.courses)


@BUDGET
@given(cases())
def test_baseline_indicator_follows_its_suggestion(case: Case) -> None:
    """CAR-T / T-cell engager: warning with the order; checkpoint inhibitor only: info without it; and
    never the info variant on patient-view."""
    card = by_topic(evaluated(case)).get("baseline-brain-mri")
    if card is None:
        return
    assert (card["indicator"] == "warning") == bool(card.get("suggestions"))
    if case.hook == "patient-view":
        assert card.get("suggestions"), "checkpoint-inhibitor baseline on patient-view"


@BUDGET
@given(cases())
def test_only_a_central_syndrome_suggests_a_brain_mri(case: Case) -> None:
    card = by_topic(evaluated(case)).get("possible-neurotoxicity")
    if card is not None and card.get("suggestions"):
        (neuro,) = [
            item for item in advice(case.resources, case.drafts) if isinstance(item, NeurotoxicityAdvice)
        ]
        assert not neuro.work_up or neuro.work_up[0] == "central"


@BUDGET
@given(cases(hooks=("order-select", "order-sign")))
def test_a_brain_mri_being_ordered_now_leaves_no_mri_to_suggest(case: Case) -> None:
    """A draft brain MRI in this request is an MRI ordered today: no baseline card (section 2) and no
    urgent MRI suggestion, since it is on/after the latest finding (section 3)."""
    found = cards(case.resources, [*case.drafts, brain_mri_order(0, status="draft")])
    assert "baseline-brain-mri" not in topics(found)
    assert not any(mri_suggestions(card) for card in found)


@BUDGET
@given(cases())
def test_a_brain_mri_done_today_adds_no_card_and_no_order(case: Case) -> None:
    """Section 2: a brain MRI within 30 days before the (planned) start is the baseline (every planned
    start generated is at most 30 days ahead); section 3: a brain MRI done on/after the latest finding
    leaves the urgent suggestion out."""
    before = topics(evaluated(case))
    found = cards([*case.resources, brain_mri(0)], case.drafts)
    assert set(topics(found)) <= set(before)
    assert "baseline-brain-mri" not in topics(found)
    assert not any(mri_suggestions(card) for card in found)


@BUDGET
@given(cases(classes=("ici",)))
def test_no_interval_card_for_a_checkpoint_inhibitor_without_a_trigger(case: Case) -> None:
    """ICI: no routine interval card; the trigger is an iRECIST suspected progression (section 4)."""
    resources = [r for r in case.resources if r["resourceType"] != "DiagnosticReport"]
    if not any(r["resourceType"] == "Condition" for r in resources):  # no ICANS code (implied exposure)
        assert "interval-imaging" not in topics(cards(resources, case.drafts))


@BUDGET
@given(cases())
def test_a_car_t_infusion_in_the_last_28_days_shows_the_icans_risk_window(case: Case) -> None:
    """Section 4: the ICANS risk window, days 0-28 after the latest infusion, is a warning: its own
    interval card, or folded into the neurotoxicity card when one shows (section 5, one card per
    episode; the neurotoxicity card is at least a warning)."""
    if any(offset is not None and -28 <= offset <= 0 for offset in case.car_t_infusion_offsets()):
        found = topics(evaluated(case))
        indicator = found.get("possible-neurotoxicity") or found.get("interval-imaging")
        assert indicator is not None and indicator_rank(indicator) >= indicator_rank("warning")


STUDIES_THAT_CONFIRM_NOTHING = [
    ("Chest X-ray", "No acute findings."),
    ("XR chest 2 views", "Stable appearance."),
    ("US abdomen", "Liver lesions unchanged."),
]


@BUDGET
@given(cases(), st.sampled_from(STUDIES_THAT_CONFIRM_NOTHING), st.integers(min_value=-60, max_value=0))
def test_a_radiograph_or_ultrasound_changes_nothing(case: Case, study: tuple[str, str], offset: int) -> None:
    """Not cross-sectional: it neither confirms an iUPD (section 4) nor is a brain MRI (section 2)."""
    before = without_uuids(evaluated(case))
    added = report(offset, title=study[0], conclusion=study[1])
    assert without_uuids(cards([*case.resources, added], case.drafts)) == before


NEGATED_PROGRESSION = ["No evidence of pseudoprogression.", "Criteria for iUPD not met.", "No progression."]


@BUDGET
@given(cases(), st.sampled_from(NEGATED_PROGRESSION), st.integers(min_value=-60, max_value=0))
def test_a_negated_progression_never_adds_a_card(case: Case, conclusion: str, offset: int) -> None:
    before = topics(evaluated(case))
    added = report(offset, title="CT chest abdomen pelvis with contrast", conclusion=conclusion)
    after = topics(cards([*case.resources, added], case.drafts))
    assert set(after) <= set(before)
    for topic, indicator in after.items():
        assert indicator_rank(indicator) <= indicator_rank(before[topic])


def _documented_icans_grades(case: Case) -> set[int | None]:
    """The ICANS grades coded G92.0x (None: G92.00, grade unspecified) on active Conditions with no
    abatement, dated (readably) in the last 30 days."""
    grades: set[int | None] = set()
    for resource in case.resources:
        if resource["resourceType"] != "Condition" or "abatementDateTime" in resource:
            continue
        try:
            codings = resource["code"]["coding"]
            codes = [c.get("code") for c in codings if isinstance(c, dict)]
            status = resource["clinicalStatus"]["coding"][0]["code"]
        except (KeyError, TypeError, IndexError, AttributeError):
            continue  # a malformed Condition: no claim about it
        if status not in ("active", "recurrence"):
            continue
        if resource.get("onsetDateTime") not in [day(offset) for offset in range(-30, 1)]:
            continue
        for code in codes:
            if isinstance(code, str) and code.startswith("G92.0") and len(code) == 6:
                grades.add(int(code[-1]) or None)
    return grades


@BUDGET
@given(cases())
def test_a_coded_icans_is_documented_never_possible(case: Case) -> None:
    """Section 5: "ICANS grade 2 documented" when coded; "Possible ICANS" only when inferred. Section 3:
    critical from grade 2, and when ungraded (G92.00); a coded grade 1 is at least a warning."""
    grades = _documented_icans_grades(case)
    if grades:
        card = by_topic(evaluated(case)).get("possible-neurotoxicity")
        assert card is not None
        assert card["summary"].startswith("ICANS"), card["summary"]
        if grades != {1}:
            # Critical while the diagnosis is recent; after that a warning that says so (section 5).
            stale = "no assessment since" in card["summary"]
            assert card["indicator"] == ("warning" if stale else "critical")


# --- determinism ------------------------------------------------------------------------------------------


@BUDGET
@given(cases(), st.randoms(use_true_random=False))
def test_the_order_of_resources_does_not_matter(case: Case, shuffler: random.Random) -> None:
    first = without_uuids(evaluated(case))
    resources, drafts = list(case.resources), list(case.drafts)
    shuffler.shuffle(resources)
    shuffler.shuffle(drafts)
    assert without_uuids(cards(resources, drafts)) == first


@BUDGET
@given(cases(), st.data())
def test_a_resource_sent_twice_changes_nothing(case: Case, data: st.DataObject) -> None:
    first = without_uuids(evaluated(case))
    twice = data.draw(st.sampled_from(case.resources))
    assert without_uuids(cards([*case.resources, twice], case.drafts)) == first


def _copy(resource: dict[str, Any], suffix: str) -> dict[str, Any]:
    copied = copy.deepcopy(resource)
    copied["id"] = f"{resource.get('id', 'x')}-{suffix}"
    return copied


@BUDGET
@given(cases(min_therapies=1), st.data())
def test_an_entered_in_error_record_changes_nothing(case: Case, data: st.DataObject) -> None:
    """Entered in error is no exposure, no finding, no study (section 1; FHIR status semantics)."""
    first = without_uuids(evaluated(case))
    chosen = data.draw(
        st.sampled_from([r for r in case.resources if r["resourceType"] != "Patient"] or [None])
    )
    if chosen is None:
        return
    erroneous = _copy(chosen, "eie")
    if erroneous["resourceType"] == "Condition":
        erroneous["verificationStatus"] = {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                    "code": "entered-in-error",
                }
            ]
        }
    else:
        erroneous["status"] = "entered-in-error"
    assert without_uuids(cards([*case.resources, erroneous], case.drafts)) == first


@BUDGET
@given(cases(min_therapies=1), st.data())
def test_another_patients_record_changes_nothing(case: Case, data: st.DataObject) -> None:
    first = without_uuids(evaluated(case))
    chosen = data.draw(
        st.sampled_from([r for r in case.resources if r["resourceType"] != "Patient"] or [None])
    )
    if chosen is None:
        return
    other = _copy(chosen, "other")
    other["subject"] = {"reference": "Patient/pt-2"}
    assert without_uuids(cards([*case.resources, other], case.drafts)) == first


@BUDGET
@given(cases(hooks=("order-select", "order-sign")))
def test_a_draft_order_also_in_the_record_changes_nothing(case: Case) -> None:
    """EHRs may return the draft being signed in the prefetch too: it is the same order."""
    first = without_uuids(evaluated(case))
    assert without_uuids(cards([*case.resources, *copy.deepcopy(case.drafts)], case.drafts)) == first


# --- monotonic safety (section 3) ----------------------------------------------------------------------


CRITICAL_FINDINGS = [
    note("new generalized seizure", 0),
    note("Seizure? Yes", 0),
    condition(0, text="Seizure"),
    condition(0, code="R56.9"),  # convulsions
    note("new right-sided weakness", 0),
]


@BUDGET
@given(recent_exposure_cases(), st.sampled_from(CRITICAL_FINDINGS))
def test_a_new_seizure_after_recent_therapy_makes_the_neurotoxicity_card_critical(
    case: Case, finding: dict[str, Any]
) -> None:
    """Monotonic safety: an affirmed critical finding today, after a dose of any class in the last 60
    days, never removes the neurotoxicity card nor lowers it below critical (section 3), whatever else
    the record holds."""
    before = topics(evaluated(case)).get("possible-neurotoxicity")
    after = topics(cards([*case.resources, finding], case.drafts))
    assert after.get("possible-neurotoxicity") == "critical", f"before: {before}"


@BUDGET
@given(cases())
def test_icans_grade_2_or_more_is_critical(case: Case) -> None:
    """While its evidence is recent (section 3: a stale critical is a warning, tested below)."""
    for item in advice(case.resources, case.drafts):
        if isinstance(item, NeurotoxicityAdvice) and item.grade is not None and (item.grade.grade or 0) >= 2:
            # An undated diagnosis is current but not known recent: it never makes a card critical.
            dated_grade = any(
                not finding.undated and max(finding.coded_grade or 0, finding.kind.icans_grade or 0) >= 2
                for finding in item.findings
            ) or any((score.grade or 0) >= 2 for score in item.scores)
            assert item.indicator == ("warning" if item.stale or not dated_grade else "critical")


@BUDGET
@given(cases(), st.sampled_from(NEGATED))
def test_a_negated_mention_changes_nothing(case: Case, text: str) -> None:
    before = without_uuids(evaluated(case))
    assert without_uuids(cards([*case.resources, note(text, 0)], case.drafts)) == before


NOT_FINDINGS = [
    ("Hepatic encephalopathy", "active"),  # a documented alternative cause
    ("Seizure", "resolved"),
    ("autoimmune encephalitis", "inactive"),
    ("Myasthenia gravis", "remission"),
]


@BUDGET
@given(cases(), st.sampled_from(NOT_FINDINGS), st.integers(min_value=-20, max_value=0))
def test_a_resolved_or_explained_condition_changes_nothing(
    case: Case, entry: tuple[str, str], offset: int
) -> None:
    text, clinical = entry
    before = without_uuids(evaluated(case))
    added = condition(offset, text=text, clinical=clinical)
    assert without_uuids(cards([*case.resources, added], case.drafts)) == before


@BUDGET
@given(cases(), st.sampled_from([text for text in AFFIRMED if "ICANS" not in text]), st.integers(31, 400))
def test_a_finding_older_than_new_finding_days_changes_nothing(case: Case, text: str, ago: int) -> None:
    """A finding counts when recorded within new_finding_days (30) before today (section 3). (An ICANS
    name implies exposure at any age, so it is left out here.)"""
    before = without_uuids(evaluated(case))
    assert without_uuids(cards([*case.resources, note(text, -ago)], case.drafts)) == before


@BUDGET
@given(cases(), st.sampled_from([("ICE score", 10), ("CAPD score", 0)]))
def test_a_normal_score_today_never_adds_a_card_or_raises_one(case: Case, normal: tuple[str, int]) -> None:
    """The latest ICE / CAPD counts; a normal one means the encephalopathy normalised (section 3)."""
    before = topics(evaluated(case))
    after = topics(cards([*case.resources, score(normal[0], normal[1], 0)], case.drafts))
    added = set(after) - set(before)
    if added:
        # The only cards that may appear are those the neurotoxicity card held back or folded in, once
        # the encephalopathy normalised: the baseline (section 2: one MRI order per response) and the
        # risk-window warning (section 5: one card per episode).
        assert added <= {"baseline-brain-mri", "interval-imaging"} and "possible-neurotoxicity" in before
        assert "possible-neurotoxicity" not in after
    for topic, indicator in after.items():
        if topic in before:
            assert indicator_rank(indicator) <= indicator_rank(before[topic])


@BUDGET
@given(cases(children=True))
def test_an_ice_score_never_grades_a_child(case: Case) -> None:
    """Under 12 (Patient.birthDate) the CAPD grades; an ICE score is not graded (section 3)."""
    for item in advice(case.resources, case.drafts):
        if isinstance(item, NeurotoxicityAdvice) and item.grade is not None:
            assert all(domain.source != "ice" for domain in item.grade.domains)


@BUDGET
@given(cases(), st.sampled_from(AFFIRMED), st.integers(min_value=1, max_value=30))
def test_a_finding_dated_after_today_changes_nothing(case: Case, text: str, ahead: int) -> None:
    """A finding counts when recorded within new_finding_days *before* today (section 3)."""
    before = without_uuids(evaluated(case))
    assert without_uuids(cards([*case.resources, note(text, ahead)], case.drafts)) == before


@BUDGET
@given(recent_car_t_cases(), st.sampled_from(UNCERTAIN))
def test_a_suspicion_alone_is_a_warning(case: Case, text: str) -> None:
    before = topics(evaluated(case)).get("possible-neurotoxicity")
    after = topics(cards([*case.resources, note(text, 0)], case.drafts)).get("possible-neurotoxicity")
    if before is None:
        assert after == "warning"
    else:
        assert after is not None and indicator_rank(after) >= indicator_rank(before)
        # An uncertain finding is not affirmed: it cannot make the card critical by itself.
        assert indicator_rank(after) <= max(indicator_rank(before), indicator_rank("warning"))


# --- robustness ------------------------------------------------------------------------------------------


@BUDGET
@given(cases(min_therapies=2), st.sampled_from([-400, -30, 0, 45, 400]))
def test_evaluation_never_raises_on_any_day(case: Case, shift: int) -> None:
    """Malformed dates, wrong JSON types, missing fields: every day's evaluation answers (the reviewers'
    replay evaluates a record on days before and after its events)."""
    on = TODAY + timedelta(days=shift)
    for card in cards(case.resources, case.drafts, today=on):
        assert card["indicator"] in INDICATORS


# --- one card per episode (issue 16, section 7) -------------------------------------------------------------


@BUDGET
@given(cases(), st.sampled_from([-30, 0, 14]))
def test_one_card_per_topic_on_any_day(case: Case, shift: int) -> None:
    """Section 5: each topic at most once, whatever folds into what."""
    found = cards(case.resources, case.drafts, today=TODAY + timedelta(days=shift))
    codes = [card["source"]["topic"]["code"] for card in found]
    assert len(codes) == len(set(codes))


@BUDGET
@given(recent_car_t_cases())
def test_no_risk_window_card_beside_a_neurotoxicity_card(case: Case) -> None:
    """Section 5: when a neurotoxicity card shows, the CAR-T / T-cell engager risk window is folded into
    it: the interval card beside it (if any) holds only response imaging or iRECIST confirmation."""
    found = advice(case.resources, case.drafts)
    neurotoxicity = [item for item in found if isinstance(item, NeurotoxicityAdvice)]
    for item in found:
        if neurotoxicity and isinstance(item, IntervalAdvice):
            assert not any(hit.window.folds_into_neurotoxicity for hit in item.windows)
    shown = by_topic(evaluated(case))
    if "possible-neurotoxicity" in shown and "interval-imaging" in shown:
        assert "risk window" not in shown["interval-imaging"]["detail"].lower()


@BUDGET
@given(recent_exposure_cases(), st.sampled_from(CRITICAL_FINDINGS))
def test_a_stale_critical_becomes_a_warning(case: Case, finding: dict[str, Any]) -> None:
    """Section 3: critical only while the latest evidence is recent (72 h). The generated records hold
    nothing dated after day +10 (+11 in UTC for a late evening time), so on day +15 every finding is at
    least 4 days old: the card that was critical today is, if it still shows, a warning, and one made
    a warning by its age says so."""
    later = TODAY + timedelta(days=15)
    record = [*case.resources, finding]
    card = by_topic(cards(record, case.drafts, today=later)).get("possible-neurotoxicity")
    assert card is None or card["indicator"] == "warning"
    for item in advice(record, case.drafts, today=later):
        if isinstance(item, NeurotoxicityAdvice) and item.stale:
            assert card is not None and "no assessment since" in card["summary"]


# --- v3 (facts): routine documentation and resolution (issue 16 section 5) ------------------------------


def _normal_assessment(shape: str) -> list[dict[str, Any]]:
    """A normal assessment charted today in the shapes EHRs use: reassurance, never a finding."""
    when = f"{day(0)}T09:00:00Z"
    head: dict[str, Any] = {"resourceType": "Observation", "status": "final", "effectiveDateTime": when}
    if shape == "ice-component":
        return [
            {
                **head,
                "id": "inv-form",
                "code": {"text": "ICANS assessment"},
                "component": [
                    {"code": {"text": "ICE score"}, "valueInteger": 10},
                    {"code": {"text": "Seizure"}, "valueBoolean": False},
                    {"code": {"text": "Level of consciousness"}, "valueString": "Awake"},
                ],
            }
        ]
    if shape == "ice-panel":
        return [
            {
                **head,
                "id": "inv-panel",
                "code": {"text": "ICANS flowsheet"},
                "hasMember": [{"reference": "#m"}],
                "contained": [
                    {
                        "resourceType": "Observation",
                        "id": "m",
                        "status": "final",
                        "code": {"text": "ICE total score"},
                        "valueInteger": 10,
                    }
                ],
            },
        ]
    if shape == "gcs-15":
        code = {
            "coding": [{"system": "http://loinc.org", "code": "9269-2"}],
            "text": "Glasgow coma score total",
        }
        return [{**head, "id": "inv-gcs", "code": code, "valueInteger": 15}]
    if shape == "capd-flowsheet":
        return [
            {
                **head,
                "id": "inv-capd",
                "code": {"text": "CAPD flowsheet"},
                "component": [{"code": {"text": "CAPD total score"}, "valueInteger": 0}],
            },
        ]
    return [{**head, "id": "inv-title", "code": {"text": "ICANS assessment"}}]  # a form's title alone


@BUDGET
@given(cases(), st.sampled_from(["ice-component", "ice-panel", "gcs-15", "capd-flowsheet", "title-only"]))
def test_a_normal_assessment_in_any_shape_never_adds_a_card_or_raises_one(case: Case, shape: str) -> None:
    """v3: an assessment form whose title names ICANS / CAPD, a normal ICE / CAPD as a component or a panel
    member, a GCS of 15: none adds a card or raises an indicator (issue 16 section 5)."""
    before = topics(evaluated(case))
    after = topics(cards([*case.resources, *_normal_assessment(shape)], case.drafts))
    added = set(after) - set(before)
    if added:
        # As for a plain normal score: only the baseline an urgent neurotoxicity card held back.
        assert added <= {"baseline-brain-mri", "interval-imaging"} and "possible-neurotoxicity" in before
        assert "possible-neurotoxicity" not in after
    for topic, indicator in after.items():
        if topic in before:
            assert indicator_rank(indicator) <= indicator_rank(before[topic])


def _resolved(resources: list[dict[str, Any]], how: str) -> list[dict[str, Any]]:
    changed = copy.deepcopy(resources)
    for resource in changed:
        if resource.get("resourceType") != "Condition":
            continue
        if how == "status":
            resource["clinicalStatus"] = {
                "coding": [
                    {"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "resolved"}
                ]
            }
        elif how == "abatement":
            resource["abatementDateTime"] = day(0)
    if how == "later-normal-score":
        changed.append(score("ICE score", 10, 0))
    return changed


def _neurotoxicity_rank(found: list[dict[str, Any]]) -> int:
    indicator = topics(found).get("possible-neurotoxicity")
    return -1 if indicator is None else indicator_rank(indicator)


@BUDGET
@given(cases(), st.sampled_from(["status", "abatement", "later-normal-score"]))
def test_resolution_never_raises_the_neurotoxicity_indicator(case: Case, how: str) -> None:
    """v3: a resolved clinicalStatus, an abatement, or a later normal ICE score ends findings; it never
    adds or raises the neurotoxicity card (issue 16 section 5)."""
    before = _neurotoxicity_rank(evaluated(case))
    after = _neurotoxicity_rank(cards(_resolved(case.resources, how), case.drafts))
    assert after <= before


# v3 (issue 16 section 2): another person's condition and a finding with its own stated cause are no
# event of this patient: adding one changes no card, whatever the record around it.
OTHER_PEOPLE_AND_STATED_CAUSES = [
    "Family history: mother had seizures",
    "FHx: stroke in father, seizures in brother",
    "patient reports his mother had seizures",
    "Sister: seizure disorder",
    "vincristine-induced peripheral neuropathy",
    "neuropathy due to oxaliplatin",
    "CIPN grade 1, stable",
    "alcohol withdrawal delirium",
    "delirium tremens",
    "history of myasthenia, stable",
    "generalized weakness",
]


@BUDGET
@given(cases(), st.sampled_from(OTHER_PEOPLE_AND_STATED_CAUSES), st.integers(min_value=0, max_value=20))
def test_family_history_and_stated_other_causes_change_no_card(case: Case, text: str, ago: int) -> None:
    before = without_uuids(evaluated(case))
    assert without_uuids(cards([*case.resources, note(text, -ago)], case.drafts)) == before


# --- iRECIST reading (v3, issue 16 section 6; docs/clinical-rules-v2.md section 4) -----------------------

RESPONSE_REPORTS = [
    "Compared with the iUPD study, the nodules are smaller. Overall response: iSD.",
    "Findings consistent with pseudoprogression; response: iSD.",
    "No longer meets iUPD criteria; iPR.",
]


@BUDGET
@given(cases(), st.sampled_from(RESPONSE_REPORTS), st.integers(min_value=-60, max_value=0))
def test_a_report_stating_a_response_never_adds_a_card(case: Case, conclusion: str, offset: int) -> None:
    """A report that states a response (with comparison wording or "pseudoprogression") is a response:
    it never starts an iUPD, so it adds no card (it may close one)."""
    before = set(topics(evaluated(case)))
    restaging = report(offset, title="CT chest abdomen pelvis with IV contrast", conclusion=conclusion)
    assert set(topics(cards([*case.resources, restaging], case.drafts))) <= before


@BUDGET
@given(cases(classes=("ici",)), st.integers(min_value=-30, max_value=0))
def test_a_new_line_of_therapy_never_adds_an_interval_card(case: Case, offset: int) -> None:
    """Docetaxel given after the checkpoint inhibitor is a new line: it may end an iRECIST question,
    never open one."""
    docetaxel = {
        "resourceType": "MedicationAdministration",
        "id": "inv-docetaxel",
        "status": "completed",
        "medicationCodeableConcept": {"text": "docetaxel 75 mg/m2 IV"},
        "subject": {"reference": "Patient/pt-1"},
        "effectiveDateTime": day(offset),
    }
    before = topics(evaluated(case))
    after = topics(cards([*case.resources, docetaxel], case.drafts))
    assert "interval-imaging" not in after or "interval-imaging" in before


# --- issue 16 section 4 (workup): deceased patients, MRI contraindications --------------------------------


@BUDGET
@given(cases(min_therapies=1), st.sampled_from(DECEASED))
def test_a_deceased_patient_has_no_cards(case: Case, deceased: dict[str, Any]) -> None:
    """Patient.deceasedBoolean true, or deceasedDateTime on or before today: no card on any hook."""
    for resource in case.resources:
        if resource.get("resourceType") == "Patient":
            resource.update(deceased)
    assert evaluated(case) == []


@BUDGET
@given(
    st.one_of(cases(), recent_car_t_cases(), recent_exposure_cases(), planned_car_t_cases()),
    st.sampled_from(MRI_CONTRAINDICATIONS),
)
def test_no_mri_order_suggestion_where_mri_is_contraindicated(
    case: Case, contraindication: list[dict[str, Any]]
) -> None:
    """A pacemaker / defibrillator / cochlear implant not documented MR-conditional, an MR-unsafe implant
    or alert, a gadolinium allergy or a recent eGFR below 30: no card carries an MRI order, and a card
    that would have carried one says why."""
    plain = evaluated(case)
    case.resources.extend(copy.deepcopy(contraindication))
    found = evaluated(case)
    assert sum(mri_suggestions(card) for card in found) == 0
    suggested_before = {card["source"]["topic"]["code"] for card in plain if mri_suggestions(card)}
    for card in found:
        if card["source"]["topic"]["code"] in suggested_before:
            assert "not suggested" in card["detail"], card["detail"]


# --- v3 (independent review): the card advises what it suggests ------------------------------------------


def advised_line(card: dict[str, Any]) -> str:
    return next((line for line in card["detail"].splitlines() if line.startswith("**Advised:**")), "")


@BUDGET
@given(st.one_of(cases(), recent_car_t_cases(), recent_exposure_cases()))
def test_a_suggested_brain_mri_is_as_urgent_as_the_advice(case: Case) -> None:
    """A neurotoxicity card's MRI suggestion is urgent exactly when its Advised line says "urgent", and its
    summary keeps the action whole (never cut with an ellipsis at its end)."""
    for card in evaluated(case):
        if card["source"]["topic"]["code"] != "possible-neurotoxicity":
            continue
        assert not card["summary"].endswith("…"), card["summary"]
        for suggestion in card.get("suggestions", []):
            priority = suggestion["actions"][0]["resource"]["priority"]
            if "pituitary" in suggestion["label"]:
                continue  # the pituitary-protocol MRI is routine by design (spec section 3)
            assert (priority == "urgent") == advised_line(card).startswith("**Advised:** urgent"), card[
                "detail"
            ]


@BUDGET
@given(
    st.one_of(cases(), recent_car_t_cases(), recent_exposure_cases()),
    st.sampled_from(MRI_CONTRAINDICATIONS),
)
def test_the_advised_work_up_never_names_the_ruled_out_mri(
    case: Case, contraindication: list[dict[str, Any]]
) -> None:
    """With MRI or its contrast ruled out, the Advised line never advises the contrast MRI the card does
    not order; with an implant it advises no urgent MRI at all."""
    case.resources.extend(copy.deepcopy(contraindication))
    implant = not any(r["resourceType"] in ("AllergyIntolerance", "Observation") for r in contraindication)
    for card in evaluated(case):
        if card["source"]["topic"]["code"] != "possible-neurotoxicity":
            continue
        line = advised_line(card)
        assert "without and with IV contrast" not in line, line
        if implant:
            assert "urgent MRI" not in line, line
