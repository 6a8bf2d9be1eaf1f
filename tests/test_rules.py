"""The three rules as pure functions of (facts, today), table-driven over the windows that matter."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from clinical_support import KNOWLEDGE_DIR, evaluator

from clinical.exposures import Exposure, Stage
from clinical.facts import PatientFacts
from clinical.imaging import ImagingEvent, SuspectedProgression
from clinical.neurological_findings import NeurologicalFinding
from clinical.rules import (
    TimingRules,
    baseline_brain_mri,
    evaluate,
    interval_imaging,
    possible_neurotoxicity,
    therapy_courses,
)

TODAY = date(2026, 11, 21)
RULES = TimingRules.load(KNOWLEDGE_DIR / "timing.yaml")
AGENTS = {agent.id: agent for agent in evaluator().vocabularies.catalog.agents}
KINDS = evaluator().vocabularies.findings.kinds


def days_ago(days: int) -> date:
    return TODAY - timedelta(days=days)


def exposure(agent_id: str, stage: Stage, ago: int | None, draft: bool = False) -> Exposure:
    on = days_ago(ago) if ago is not None else None
    return Exposure(AGENTS[agent_id], stage, on, f"MedicationRequest/{agent_id}", "test", draft)


def brain_mri(state: str, ago: int | None) -> ImagingEvent:
    return ImagingEvent("brain-mri", state, days_ago(ago) if ago is not None else None, "ImagingStudy/mri")  # type: ignore[arg-type]


def finding(kind: str, ago: int, grade: int | None = None) -> NeurologicalFinding:
    return NeurologicalFinding(KINDS[kind], grade, days_ago(ago), f"Condition/{kind}", "test")


def facts(
    exposures: list[Exposure],
    imaging: list[ImagingEvent] | None = None,
    findings: list[NeurologicalFinding] | None = None,
    progressions: list[SuspectedProgression] | None = None,
) -> PatientFacts:
    return PatientFacts(
        tuple(exposures), tuple(imaging or []), tuple(findings or []), tuple(progressions or [])
    )


BASELINE = [
    (
        "draft CAR-T order, no MRI",
        [exposure("axicabtagene-ciloleucel", "planned", 0, draft=True)],
        [],
        "warning",
    ),
    ("draft ICI order, no MRI", [exposure("pembrolizumab", "planned", 0, draft=True)], [], "info"),
    ("ICI started 10 days ago", [exposure("nivolumab", "ordered", 10)], [], "info"),
    ("ICI started 15 days ago", [exposure("nivolumab", "ordered", 15)], [], None),
    (
        "new ICI cycle in a course started months ago",
        [exposure("nivolumab", "ordered", 120), exposure("nivolumab", "planned", 0, True)],
        [],
        None,
    ),
    (
        "CAR-T plus ICI both new: strongest indicator",
        [exposure("pembrolizumab", "planned", 0, True), exposure("tisagenlecleucel", "planned", None)],
        [],
        "warning",
    ),
    ("MRI done 20 days ago", [exposure("pembrolizumab", "planned", 0, True)], [brain_mri("done", 20)], None),
    (
        "MRI done 40 days ago",
        [exposure("pembrolizumab", "planned", 0, True)],
        [brain_mri("done", 40)],
        "info",
    ),
    ("MRI already ordered", [exposure("pembrolizumab", "planned", 0, True)], [brain_mri("ordered", 1)], None),
    (
        "MRI order without date",
        [exposure("pembrolizumab", "planned", 0, True)],
        [brain_mri("ordered", None)],
        None,
    ),
    ("future-dated order counts as upcoming", [exposure("teclistamab", "ordered", -3)], [], "warning"),
    ("undated active order alone", [exposure("nivolumab", "ordered", None)], [], None),
    (
        "CAR-T ordered at apheresis 24 days ago, not yet infused",
        [exposure("axicabtagene-ciloleucel", "ordered", 24)],
        [],
        "warning",
    ),
    (
        "CAR-T infused 20 days ago after an order",
        [
            exposure("axicabtagene-ciloleucel", "ordered", 50),
            exposure("axicabtagene-ciloleucel", "administered", 20),
        ],
        [],
        None,
    ),
    ("no exposure", [], [], None),
]


@pytest.mark.parametrize(
    ("exposures", "imaging", "indicator"), [pytest.param(e, i, r, id=n) for n, e, i, r in BASELINE]
)
def test_baseline_brain_mri(
    exposures: list[Exposure], imaging: list[ImagingEvent], indicator: str | None
) -> None:
    advice = baseline_brain_mri(facts(exposures, imaging), TODAY, RULES)
    assert (advice.indicator if advice else None) == indicator


INTERVAL = [
    ("CAR-T day 0", [exposure("axicabtagene-ciloleucel", "administered", 0)], ["car-t-icans-window"]),
    ("CAR-T day 5", [exposure("axicabtagene-ciloleucel", "administered", 5)], ["car-t-icans-window"]),
    (
        "CAR-T day 28",
        [exposure("axicabtagene-ciloleucel", "administered", 28)],
        ["car-t-icans-window", "car-t-day-28-response"],
    ),
    (
        "CAR-T day 30",
        [exposure("axicabtagene-ciloleucel", "administered", 30)],
        ["car-t-day-28-response", "car-t-late-effects"],
    ),
    ("CAR-T day 91", [exposure("axicabtagene-ciloleucel", "administered", 91)], []),
    ("CAR-T ordered, not infused", [exposure("axicabtagene-ciloleucel", "ordered", 5)], []),
    (
        "CAR-T re-infused: latest infusion is day 0",
        [exposure("tisagenlecleucel", "administered", 200), exposure("tisagenlecleucel", "administered", 3)],
        ["car-t-icans-window"],
    ),
    ("T-cell engager day 12", [exposure("teclistamab", "administered", 12)], ["t-cell-engager-icans-window"]),
    ("ICI week 7", [exposure("nivolumab", "ordered", 45)], ["ici-early-follow-up"]),
    ("ICI day 92", [exposure("nivolumab", "ordered", 92)], []),
    ("planned ICI only", [exposure("nivolumab", "planned", 0, True)], []),
]


@pytest.mark.parametrize(("exposures", "windows"), [pytest.param(e, w, id=n) for n, e, w in INTERVAL])
def test_interval_imaging_windows(exposures: list[Exposure], windows: list[str]) -> None:
    advice = interval_imaging(facts(exposures), TODAY, RULES)
    found = [hit.window.id for hit in advice.windows] if advice else []
    assert found == windows


def test_interval_card_names_the_day_count_and_the_day_zero() -> None:
    advice = interval_imaging(facts([exposure("axicabtagene-ciloleucel", "administered", 28)]), TODAY, RULES)
    assert advice is not None
    day_28 = next(hit for hit in advice.windows if hit.window.id == "car-t-day-28-response")
    assert (day_28.day, day_28.target) == (28, TODAY)


IRECIST = [
    (
        "iUPD 10 days ago, no imaging since",
        [],
        10,
        (days_ago(10) + timedelta(days=28), days_ago(10) + timedelta(days=56)),
    ),
    ("iUPD 60 days ago: past the window", [], 60, None),
    ("iUPD then imaging", [ImagingEvent("other-imaging", "done", days_ago(2), "ImagingStudy/ct")], 10, None),
    (
        "iUPD then only an order",
        [ImagingEvent("other-imaging", "ordered", days_ago(2), "ServiceRequest/ct")],
        10,
        (days_ago(10) + timedelta(days=28), days_ago(10) + timedelta(days=56)),
    ),
    ("iUPD before ICI start", [], 200, None),
]


@pytest.mark.parametrize(
    ("imaging", "iupd_ago", "window"), [pytest.param(i, a, w, id=n) for n, i, a, w in IRECIST]
)
def test_irecist_confirmation(
    imaging: list[ImagingEvent], iupd_ago: int, window: tuple[date, date] | None
) -> None:
    progression = SuspectedProgression(days_ago(iupd_ago), "DiagnosticReport/ct")
    advice = interval_imaging(
        facts([exposure("nivolumab", "ordered", 150)], imaging, progressions=[progression]), TODAY, RULES
    )
    found = (advice.irecist.confirm_from, advice.irecist.confirm_to) if advice and advice.irecist else None
    assert found == window


NEUROTOXICITY = [
    (
        "ICE 6 on CAR-T day 5",
        [exposure("axicabtagene-ciloleucel", "administered", 5)],
        [finding("icans", 1, grade=2)],
        ("critical", 2),
    ),
    (
        "ICE 8 on CAR-T day 5",
        [exposure("axicabtagene-ciloleucel", "administered", 5)],
        [finding("icans", 1, grade=1)],
        ("warning", 1),
    ),
    (
        "tremor after bispecific",
        [exposure("teclistamab", "administered", 10)],
        [finding("tremor", 2)],
        ("warning", None),
    ),
    (
        "myasthenia under ICI",
        [exposure("nivolumab", "ordered", 60)],
        [finding("myasthenia-gravis", 3)],
        ("critical", None),
    ),
    ("finding before exposure", [exposure("nivolumab", "ordered", 20)], [finding("seizure", 25)], None),
    ("old finding", [exposure("nivolumab", "ordered", 200)], [finding("seizure", 45)], None),
    (
        "finding but only a planned order",
        [exposure("pembrolizumab", "planned", 0, True)],
        [finding("seizure", 2)],
        None,
    ),
    (
        "finding after a CAR-T order but before any infusion",
        [exposure("axicabtagene-ciloleucel", "ordered", 20)],
        [finding("encephalopathy", 3)],
        None,
    ),
    (
        "finding long after the ICI horizon",
        [exposure("nivolumab", "ordered", 1200)],
        [finding("encephalitis", 1)],
        None,
    ),
]


@pytest.mark.parametrize(
    ("exposures", "findings", "expected"), [pytest.param(e, f, x, id=n) for n, e, f, x in NEUROTOXICITY]
)
def test_possible_neurotoxicity(
    exposures: list[Exposure], findings: list[NeurologicalFinding], expected: tuple[str, int | None] | None
) -> None:
    advice = possible_neurotoxicity(facts(exposures, findings=findings), TODAY, RULES)
    assert ((advice.indicator, advice.icans_grade) if advice else None) == expected


def test_neurotoxicity_notes_a_brain_mri_done_since_the_finding() -> None:
    advice = possible_neurotoxicity(
        facts(
            [exposure("axicabtagene-ciloleucel", "administered", 5)],
            [brain_mri("done", 0)],
            [finding("seizure", 1)],
        ),
        TODAY,
        RULES,
    )
    assert advice is not None and advice.brain_mri_since is not None


def test_car_t_course_starts_at_the_infusion_not_at_the_order() -> None:
    courses = therapy_courses(
        facts(
            [
                exposure("axicabtagene-ciloleucel", "ordered", 30),
                exposure("axicabtagene-ciloleucel", "administered", 4),
            ]
        ),
        TODAY,
    )
    assert (courses["car_t"].started, courses["car_t"].day_zero) == (days_ago(4), days_ago(4))
    assert courses["car_t"].day_zero_source == "MedicationRequest/axicabtagene-ciloleucel"


def test_evaluate_puts_the_most_urgent_advice_first_and_never_repeats_a_topic() -> None:
    advice = evaluate(
        facts([exposure("axicabtagene-ciloleucel", "administered", 5)], findings=[finding("seizure", 1)]),
        TODAY,
        RULES,
    )
    names = [type(item).__name__ for item in advice]
    assert names == ["NeurotoxicityAdvice", "BaselineAdvice", "IntervalAdvice"]
