"""One card per episode, with the decision it drives (issue 16, section 7; docs/clinical-rules-v2.md
sections 3 and 5): the risk window folds into the neurotoxicity card, a critical card stays critical only
while the evidence that makes it critical is recent, the card names what the grade usually prompts, and
labels are cut at word boundaries; a brain MRI is "on record" only when done."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from clinical_support import (
    TODAY,
    administration,
    advice,
    brain_mri,
    brain_mri_order,
    by_topic,
    cards,
    condition,
    day,
    evaluator,
    note,
    order,
    report,
    score,
    timeline,
    topics,
)

from clinical.cards.common import SUMMARY_LIMIT, fit_summary
from clinical.labels import ELLIPSIS, shorten
from clinical.rules import NeurotoxicityAdvice, evaluate

# --- the risk window folds into the neurotoxicity card ----------------------------------------------------

FOLDED: list[tuple[str, list[dict[str, Any]], dict[str, str], list[str]]] = [
    (
        "CAR-T day 5, ICE 6: one critical card naming the day and the ICANS window",
        [administration("Yescarta", -5), score("ICE score", 6, 0)],
        {"possible-neurotoxicity": "critical"},
        ["CAR-T day 5", "ICANS risk window", day(-5), day(23)],
    ),
    (
        "T-cell engager day 3, new confusion: the step-up window folds in",
        [administration("teclistamab step-up dose", -3), note("new confusion, disoriented to place", 0)],
        {"possible-neurotoxicity": "warning"},
        ["T-cell engager day 3", "ICANS risk window"],
    ),
    (
        "CAR-T day 45, parkinsonism: the late-effect window folds into the delayed card",
        [administration("Carvykti", -45), note("new parkinsonism with bradykinesia", -1)],
        {"possible-neurotoxicity": "warning"},
        ["CAR-T day 45", "late-effect window"],
    ),
    (
        "CAR-T day 25 (lymphoma product): the ICANS window folds in, day +28 response imaging keeps its card",
        [administration("Yescarta", -25), note("new expressive aphasia", 0)],
        {"possible-neurotoxicity": "critical", "interval-imaging": "info"},
        ["CAR-T day 25", "ICANS risk window"],
    ),
]


@pytest.mark.parametrize(
    ("record", "expected", "mentions"), [pytest.param(*row[1:], id=row[0]) for row in FOLDED]
)
def test_the_risk_window_folds_into_the_neurotoxicity_card(
    record: list[dict[str, Any]], expected: dict[str, str], mentions: list[str]
) -> None:
    found = by_topic(cards(record))
    assert topics(cards(record)) == expected
    detail = found["possible-neurotoxicity"]["detail"]
    for mention in mentions:
        assert mention in detail
    if "interval-imaging" in found:
        assert "risk window" not in found["interval-imaging"]["detail"]
        summary = found["interval-imaging"]["summary"]
        assert summary.startswith(f"Day +28 response imaging (PET-CT) due {day(3)}")


def test_without_a_neurotoxicity_card_the_window_keeps_its_own_card() -> None:
    found = by_topic(cards([administration("Yescarta", -5)]))
    assert set(found) == {"interval-imaging"}
    assert found["interval-imaging"]["indicator"] == "warning"
    assert "ICANS risk window" in found["interval-imaging"]["summary"]


def test_irecist_confirmation_keeps_its_own_card_beside_an_irae() -> None:
    record = [
        administration("pembrolizumab 200 mg IV", -60),
        report(-10, title="CT chest abdomen pelvis", conclusion="Findings consistent with iUPD."),
        condition(-1, text="autoimmune encephalitis"),
    ]
    assert topics(cards(record)) == {"possible-neurotoxicity": "critical", "interval-imaging": "info"}


# --- critical only while the evidence is recent ------------------------------------------------------------

# (days since an ICE score of 2 with nothing charted since, expected indicator)
ICE_2_AGES = [
    (0, "critical"),
    (1, "critical"),
    (3, "critical"),
    (4, "warning"),
    (5, "warning"),
    (20, "warning"),
]


@pytest.mark.parametrize(("ago", "indicator"), ICE_2_AGES)
def test_one_ice_score_of_2_is_critical_only_for_72_hours(ago: int, indicator: str) -> None:
    record = [administration("Yescarta", -3 - ago), score("ICE score", 2, -ago)]
    card = by_topic(cards(record))["possible-neurotoxicity"]
    assert card["indicator"] == indicator
    stale = f"last documented ICE score 2/10 on {day(-ago)}, no assessment since"
    assert (stale in card["summary"]) == (indicator == "warning")
    assert (stale in card["detail"]) == (indicator == "warning")


STALENESS: list[tuple[str, list[dict[str, Any]], str]] = [
    (
        "a seizure 6 days ago, nothing since",
        [administration("Yescarta", -10), note("generalized tonic-clonic seizure", -6)],
        "warning",
    ),
    (
        "a seizure 6 days ago and a suspicion today: the suspicion does not renew it",
        [administration("Yescarta", -10), note("generalized tonic-clonic seizure", -6), note("r/o ICANS", 0)],
        "warning",
    ),
    (
        "a seizure 6 days ago and ICE 5 today: the grade 2 score is recent",
        [
            administration("Yescarta", -10),
            note("generalized tonic-clonic seizure", -6),
            score("ICE score", 5, 0),
        ],
        "critical",
    ),
    (
        "encephalitis with onset 6 days ago, diagnosed (recorded) today",
        [
            administration("pembrolizumab 200 mg IV", -40),
            condition(-6, text="autoimmune encephalitis", recordedDate=day(0)),
        ],
        "critical",
    ),
    (
        "encephalitis with onset and record 6 days ago",
        [administration("pembrolizumab 200 mg IV", -40), condition(-6, text="autoimmune encephalitis")],
        "warning",
    ),
]


@pytest.mark.parametrize(("record", "indicator"), [pytest.param(*row[1:], id=row[0]) for row in STALENESS])
def test_critical_follows_the_age_of_the_critical_evidence(
    record: list[dict[str, Any]], indicator: str
) -> None:
    assert topics(cards(record))["possible-neurotoxicity"] == indicator


def test_the_recency_is_configurable_in_timing() -> None:
    timing = evaluator().knowledge.timing
    wider = timing.model_copy(
        update={
            "possible_neurotoxicity": timing.possible_neurotoxicity.model_copy(
                update={"critical_while_recent_hours": 240}
            )
        }
    )
    record = [administration("Yescarta", -8), score("ICE score", 2, -5)]
    found = evaluate(timeline(record), TODAY, wider)
    neurotoxicity = next(item for item in found if isinstance(item, NeurotoxicityAdvice))
    assert neurotoxicity.indicator == "critical" and not neurotoxicity.stale
    assert topics(cards(record))["possible-neurotoxicity"] == "warning"


def test_a_stale_card_keeps_its_grade_and_work_up() -> None:
    record = [administration("Yescarta", -9), score("ICE score", 2, -5)]
    item = next(a for a in advice(record) if isinstance(a, NeurotoxicityAdvice))
    assert item.stale and item.latest_evidence_on == TODAY - timedelta(days=5)
    assert item.grade is not None and item.grade.grade == 3
    card = by_topic(cards(record))["possible-neurotoxicity"]
    assert card["summary"].startswith("Possible ICANS grade 3")
    assert card["suggestions"][0]["actions"][0]["resource"]["priority"] == "routine"


# --- the decision the grade drives (guidance, not an order) -----------------------------------------------

DECISIONS: list[tuple[str, list[dict[str, Any]], str, str]] = [
    (
        "ICE 8: grade 1",
        [administration("Yescarta", -5), score("ICE score", 8, 0)],
        "supportive care",
        "34724386",
    ),
    (
        "ICE 5: grade 2",
        [administration("Yescarta", -5), score("ICE score", 5, 0)],
        "corticosteroids",
        "34724386",
    ),
    ("ICE 2: grade 3", [administration("Yescarta", -5), score("ICE score", 2, 0)], "ICU-level", "34724386"),
    (
        "ICANS documented without a grade",
        [administration("Yescarta", -5), condition(0, text="ICANS")],
        "the ICANS grade decides",
        "34724386",
    ),
    (
        "neurological irAE under a checkpoint inhibitor",
        [administration("nivolumab 240 mg IV", -30), condition(0, text="myasthenia gravis")],
        "holding the checkpoint inhibitor",
        "34724392",
    ),
]


@pytest.mark.parametrize(
    ("record", "wording", "pmid"), [pytest.param(*row[1:], id=row[0]) for row in DECISIONS]
)
def test_the_card_names_the_decision_the_grade_usually_drives(
    record: list[dict[str, Any]], wording: str, pmid: str
) -> None:
    card = by_topic(cards(record))["possible-neurotoxicity"]
    assert "guidance, the decision is the treating team's" in card["detail"]
    assert wording in card["detail"]
    assert any(pmid in link["url"] for link in card["links"])


def test_delayed_neurotoxicity_names_no_icans_treatment() -> None:
    card = by_topic(cards([administration("Carvykti", -45), note("new parkinsonism", -1)]))[
        "possible-neurotoxicity"
    ]
    assert "corticosteroids" not in card["detail"]


# --- brain MRI wording: "on record" only when done ---------------------------------------------------

MRI_LINES: list[tuple[str, list[dict[str, Any]], list[dict[str, Any]], str]] = [
    ("done since the finding", [brain_mri(0)], [], "A brain MRI is on record since the latest finding"),
    ("ordered earlier", [brain_mri_order(0)], [], "A brain MRI has been ordered since the latest finding"),
    (
        "being ordered in this request",
        [],
        [brain_mri_order(0, status="draft")],
        "A brain MRI is being ordered now",
    ),
]


@pytest.mark.parametrize(
    ("imaging", "drafts", "sentence"), [pytest.param(*row[1:], id=row[0]) for row in MRI_LINES]
)
def test_a_brain_mri_is_on_record_only_when_done(
    imaging: list[dict[str, Any]], drafts: list[dict[str, Any]], sentence: str
) -> None:
    record = [administration("Yescarta", -5), score("ICE score", 5, 0), *imaging]
    card = by_topic(cards(record, drafts))["possible-neurotoxicity"]
    assert sentence in card["detail"]
    assert "suggestions" not in card
    if imaging == [] or imaging[0]["resourceType"] == "ServiceRequest":
        assert "on record since" not in card["detail"]


# --- labels are never cut mid-word --------------------------------------------------------------------------

SHORTEN: list[tuple[str, int, str]] = [
    ("short enough", 20, "short enough"),
    ("MR Brain WO and W contrast IV", 20, "MR Brain WO and W" + ELLIPSIS),
    ("MR Brain WO and W contrast IV", 19, "MR Brain WO and W" + ELLIPSIS),
    ("one, two, three, four", 12, "one, two" + ELLIPSIS),
    ("Supercalifragilisticexpialidocious", 10, "Supercali" + ELLIPSIS),
    ("  spaced   out   words  ", 30, "spaced out words"),
]


@pytest.mark.parametrize(("text", "limit", "expected"), SHORTEN)
def test_shorten_cuts_at_a_word_boundary(text: str, limit: int, expected: str) -> None:
    shortened = shorten(text, limit)
    assert shortened == expected
    assert len(shortened) <= limit


def test_a_summary_never_ends_mid_word() -> None:
    words = "ciltacabtagene autoleucel and idecabtagene vicleucel and teclistamab and elranatamab " * 3
    summary = fit_summary(f"Possible ICANS grade 2 after {words}")
    assert len(summary) < SUMMARY_LIMIT and summary.endswith(ELLIPSIS)
    assert summary[:-1].split()[-1] in words.split()


def test_a_long_agent_list_keeps_the_summary_whole_words() -> None:
    record = [
        administration("Yescarta", -5),
        order("teclistamab 1.5 mg/kg SC weekly", -20),
        order("nivolumab 240 mg IV every 2 weeks", -40),
        order("ipilimumab 1 mg/kg IV every 6 weeks", -40),
        score("ICE score", 5, 0),
    ]
    card = by_topic(cards(record))["possible-neurotoxicity"]
    assert len(card["summary"]) < SUMMARY_LIMIT
    if card["summary"].endswith(ELLIPSIS):
        last = card["summary"][:-1].split()[-1]
        assert last in card["detail"] or last in "after and"
