"""The clinical rules v2 (docs/clinical-rules-v2.md), one table per class of error found by the clinical
review, each row both ways where the class has two sides: the card fires, or it stays silent."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from clinical_support import (
    TODAY,
    administration,
    brain_mri,
    brain_mri_order,
    by_topic,
    cards,
    condition,
    day,
    draft,
    note,
    order,
    patient,
    report,
    score,
    topics,
)

Row = tuple[str, list[dict[str, Any]], list[dict[str, Any]], dict[str, str]]

# (name, record, draft orders, expected {topic: indicator}) on TODAY.
EXPOSURE: list[Row] = [
    (
        "ICANS code without any CAR-T record here (infused elsewhere)",
        [condition(-1, code="G92.02")],
        [],
        {"possible-neurotoxicity": "critical"},
    ),
    (
        "CAR-T recorded only as a completed order, day 5, ICE 6",
        [order("Yescarta infusion", -5, status="completed"), score("ICE score", 6, 0)],
        [],
        {"possible-neurotoxicity": "critical"},
    ),
    (
        "standing active checkpoint-inhibitor order from two years ago, new encephalitis",
        [order("pembrolizumab 200 mg IV q3w", -730), condition(-2, text="autoimmune encephalitis")],
        [],
        {"possible-neurotoxicity": "critical"},
    ),
    (
        "checkpoint inhibitor stopped three years ago: a new seizure is not attributed",
        [order("nivolumab 240 mg IV", -1100, status="stopped"), note("new generalized seizure", -1)],
        [],
        {},
    ),
    (
        "standing active T-cell engager order from a year ago, new aphasia (ICANS grade 2 at least)",
        [order("teclistamab", -365), note("new expressive aphasia", -1)],
        [],
        {"possible-neurotoxicity": "critical"},
    ),
    (
        "a finding before the therapy started does not count",
        [note("new generalized seizure", -20), administration("nivolumab 240 mg", -10)],
        [],
        {},
    ),
]

TEXT: list[Row] = [
    (
        "negation stops at the comma",
        [administration("Yescarta", -6), note("No fever, new generalized seizure", 0)],
        [],
        {"possible-neurotoxicity": "critical"},
    ),
    (
        "a negated seizure",
        [administration("Yescarta", -6), note("No seizure activity overnight", 0)],
        [],
        {"interval-imaging": "warning"},
    ),
    (
        "r/o ICANS is a suspicion at warning, not a negation",
        [administration("Yescarta", -6), note("r/o ICANS", 0)],
        [],
        {"possible-neurotoxicity": "warning"},
    ),
    (
        "history of seizures is not a new finding",
        [administration("Keytruda", -30), note("History of seizures in childhood", 0)],
        [],
        {},
    ),
    (
        "seizure-free is not a seizure",
        [administration("Keytruda", -40), note("Seizure-free for two years", 0)],
        [],
        {},
    ),
    (
        "seizure prophylaxis is not a seizure",
        [administration("Yescarta", -2), note("seizure prophylaxis with levetiracetam", 0)],
        [],
        {"interval-imaging": "warning"},
    ),
    (
        "denies confusion but new dysarthria",
        [administration("Keytruda", -40), note("Denies confusion but new dysarthria today", 0)],
        [],
        {"possible-neurotoxicity": "warning"},
    ),
    (
        "hepatic encephalopathy has an alternative cause",
        [administration("Keytruda", -40), condition(-1, text="Hepatic encephalopathy")],
        [],
        {},
    ),
    (
        "an alternative cause after a comma is another phrase: the finding stays (warning)",
        [administration("Keytruda", -40), note("Encephalopathy, likely due to hepatic failure", 0)],
        [],
        {"possible-neurotoxicity": "warning"},
    ),
    (
        "encephalopathy explained in the same phrase",
        [administration("Keytruda", -40), note("Encephalopathy most likely due to sepsis", 0)],
        [],
        {},
    ),
    (
        "a seizure due to ICANS stays a finding",
        [administration("Yescarta", -5), note("generalized seizure due to ICANS", 0)],
        [],
        {"possible-neurotoxicity": "critical"},
    ),
    (
        "metabolic encephalopathy code G93.41 has an alternative cause",
        [administration("Keytruda", -40), condition(-1, code="G93.41")],
        [],
        {},
    ),
]

GRADING: list[Row] = [
    (
        "ICE 8 alone: grade 1, warning",
        [administration("Yescarta", -5), score("ICE score", 8, 0)],
        [],
        {"possible-neurotoxicity": "warning"},
    ),
    (
        "ICE 8 plus a seizure: grade 3, critical",
        [administration("Yescarta", -5), score("ICE score", 8, 0), note("generalized seizure", 0)],
        [],
        {"possible-neurotoxicity": "critical"},
    ),
    (
        "an ICE score normalised since: no card",
        [administration("Yescarta", -9), score("ICE score", 5, -4), score("ICE score", 10, -1)],
        [],
        {"interval-imaging": "warning"},
    ),
    (
        "a resolved ICANS diagnosis no longer counts",
        [administration("Yescarta", -20), condition(-10, code="G92.02", clinical="resolved")],
        [],
        {"interval-imaging": "warning"},
    ),
]

BASELINE: list[Row] = [
    (
        "CAR-T ordered at apheresis, no MRI: warning with an order",
        [order("axicabtagene ciloleucel", -20)],
        [],
        {"baseline-brain-mri": "warning"},
    ),
    (
        "CAR-T day 5 with coded ICANS 2: one neurotoxicity card (window folded in), never baseline",
        [order("Yescarta", -40), administration("Yescarta", -5), condition(0, code="G92.02")],
        [],
        {"possible-neurotoxicity": "critical"},
    ),
    (
        "MRI 20 days before the infusion, day +12: no baseline",
        [brain_mri(-32), order("Yescarta", -40), administration("Yescarta", -12)],
        [],
        {"interval-imaging": "warning"},
    ),
    (
        "CAR-T order completed 700 days ago: no baseline",
        [order("Kymriah", -700, status="completed")],
        [],
        {},
    ),
    (
        "a CAR-T plan never given, 200 days old, is stale",
        [order("Breyanzi", -200)],
        [],
        {},
    ),
    (
        "a CAR-T plan with a brain MRI ordered: silent",
        [order("Breyanzi", -10), brain_mri_order(-2)],
        [],
        {},
    ),
    (
        "checkpoint inhibitor on patient-view: no baseline, no routine interval card",
        [order("pembrolizumab", -3)],
        [],
        {},
    ),
    (
        "checkpoint inhibitor being ordered: info without an order suggestion",
        [],
        [draft("pembrolizumab 200 mg IV")],
        {"baseline-brain-mri": "info"},
    ),
    (
        "T-cell engager started before today: no baseline",
        [administration("teclistamab step-up dose 1", -2)],
        [],
        {"interval-imaging": "warning"},
    ),
    (
        "T-cell engager being ordered: warning",
        [],
        [draft("epcoritamab 0.16 mg SC")],
        {"baseline-brain-mri": "warning"},
    ),
]

SYNDROMES: list[Row] = [
    (
        "peripheral neuropathy under chemo-immunotherapy: warning, neuromuscular",
        [
            administration("pembrolizumab", -60),
            administration("carboplatin", -60),
            note("peripheral neuropathy", 0),
        ],
        [],
        {"possible-neurotoxicity": "warning"},
    ),
    (
        "myositis under a checkpoint inhibitor is critical",
        [administration("nivolumab", -30), condition(-1, text="immune-mediated myositis")],
        [],
        {"possible-neurotoxicity": "critical"},
    ),
    (
        "CAR-T day 45: delayed neurotoxicity, not ICANS",
        [administration("Carvykti", -45), note("new parkinsonism with bradykinesia", -1)],
        [],
        {"possible-neurotoxicity": "warning"},
    ),
]

IRECIST: list[Row] = [
    (
        "iUPD 35 days ago, no restaging: due",
        [
            administration("atezolizumab", -120),
            report(-35, title="CT chest abdomen pelvis", conclusion="iUPD"),
        ],
        [],
        {"interval-imaging": "warning"},
    ),
    (
        "no evidence of pseudoprogression",
        [
            administration("atezolizumab", -120),
            report(-35, title="CT chest", conclusion="No evidence of pseudoprogression."),
        ],
        [],
        {},
    ),
    (
        "iUPD then iCPD: closed",
        [
            administration("atezolizumab", -120),
            report(-50, title="CT chest", conclusion="iUPD"),
            report(-10, title="Tumour board", conclusion="iCPD"),
        ],
        [],
        {},
    ),
    (
        "iUPD then only a chest X-ray: still open",
        [
            administration("atezolizumab", -120),
            report(-40, title="CT chest", conclusion="iUPD"),
            report(-5, title="XR Chest 2 views", conclusion="No acute findings"),
        ],
        [],
        {"interval-imaging": "warning"},
    ),
    (
        "iUPD then a CT restaging: closed",
        [
            administration("atezolizumab", -120),
            report(-40, title="CT chest", conclusion="iUPD"),
            report(-5, title="CT chest abdomen pelvis", conclusion="Stable disease"),
        ],
        [],
        {},
    ),
    (
        "iUPD 70 days ago, never confirmed: overdue, not gone",
        [administration("atezolizumab", -160), report(-70, title="CT chest", conclusion="iUPD")],
        [],
        {"interval-imaging": "warning"},
    ),
]


def params(rows: list[Row]) -> list[Any]:
    return [pytest.param(record, drafts, expected, id=name) for name, record, drafts, expected in rows]


@pytest.mark.parametrize(
    ("record", "drafts", "expected"),
    params(EXPOSURE + TEXT + GRADING + BASELINE + SYNDROMES + IRECIST),
)
def test_rules_answer_the_expected_cards(
    record: list[dict[str, Any]], drafts: list[dict[str, Any]], expected: dict[str, str]
) -> None:
    assert topics(cards(record, drafts)) == expected


def test_icans_without_local_therapy_says_the_therapy_is_not_recorded_here() -> None:
    card = by_topic(cards([condition(-1, code="G92.03")]))["possible-neurotoxicity"]
    assert card["summary"].startswith("ICANS grade 3 documented")
    assert "not recorded here" in card["summary"]


@pytest.mark.parametrize(
    ("record", "headline"),
    [
        (
            [administration("Yescarta", -5), score("ICE score", 8, 0), note("seizure", 0)],
            "Possible ICANS grade 3",
        ),
        (
            [administration("Yescarta", -5), score("ICE score", 0, 0), note("unarousable", 0)],
            "Possible ICANS grade 4",
        ),
        ([administration("Yescarta", -5), condition(0, code="G92.02")], "ICANS grade 2 documented"),
        ([administration("Yescarta", -5), note("new right hemiparesis", 0)], "Possible ICANS grade 4"),
        ([administration("Yescarta", -5), note("somnolent, awakens to voice", 0)], "Possible ICANS grade 2"),
        (
            [administration("Carvykti", -45), note("parkinsonism", 0)],
            "Possible delayed CAR-T neurotoxicity (finding on day 45)",
        ),
    ],
)
def test_neurotoxicity_headline_grades_per_astct(record: list[dict[str, Any]], headline: str) -> None:
    card = by_topic(cards(record))["possible-neurotoxicity"]
    assert card["summary"].startswith(headline), card["summary"]


def test_children_under_twelve_are_graded_by_capd_not_ice() -> None:
    child = patient(birth="2018-02-01")
    with_capd = cards([child, administration("Kymriah", -6), score("CAPD score", 10, 0)])
    assert by_topic(with_capd)["possible-neurotoxicity"]["summary"].startswith("Possible ICANS grade 3")
    # An ICE score in a child still flags (it is abnormal), but it is not graded by ICE bands.
    with_ice = by_topic(cards([child, administration("Kymriah", -6), score("ICE score", 4, 0)]))
    card = with_ice["possible-neurotoxicity"]
    assert card["indicator"] == "warning"
    assert card["summary"].startswith("Possible ICANS after")
    assert "CAPD" in card["detail"]


def test_neuromuscular_syndromes_never_suggest_a_brain_mri() -> None:
    card = by_topic(cards([administration("nivolumab", -30), condition(-1, text="myasthenia gravis")]))[
        "possible-neurotoxicity"
    ]
    assert "suggestions" not in card
    assert "overrideReasons" not in card
    assert "troponin" in card["detail"] and "EMG" in card["detail"]


def test_the_mri_suggestion_counts_from_the_latest_finding() -> None:
    record = [
        administration("Yescarta", -10),
        note("tremor", -8),
        brain_mri(-6),
        note("new expressive aphasia", -1),
    ]
    assert "suggestions" in by_topic(cards(record))["possible-neurotoxicity"]
    imaged = by_topic(cards([*record, brain_mri(0)]))["possible-neurotoxicity"]
    assert "suggestions" not in imaged


def test_a_response_never_offers_two_mri_orders() -> None:
    # Neurotoxicity after CAR-T while a T-cell engager is being ordered: urgent beats baseline.
    found = cards(
        [administration("Yescarta", -5), note("new generalized seizure", 0)], [draft("epcoritamab")]
    )
    suggested = [card for card in found if card.get("suggestions")]
    assert len(suggested) <= 1
    assert "baseline-brain-mri" not in by_topic(found)


def test_informational_cards_offer_no_override_reasons() -> None:
    card = by_topic(cards([], [draft("nivolumab 480 mg IV")]))["baseline-brain-mri"]
    assert "suggestions" not in card and "overrideReasons" not in card


def test_card_text_names_records_in_plain_words_not_fhir_references() -> None:
    found = cards([administration("Yescarta", -5), condition(0, code="G92.02")])
    text = " ".join(card["summary"] + card["detail"] for card in found)
    assert "MedicationAdministration/" not in text and "Condition/" not in text
    assert "axicabtagene ciloleucel infusion on 2026-06-10" in text


def test_overdue_irecist_confirmation_says_overdue() -> None:
    found = cards([administration("atezolizumab", -160), report(-70, title="CT chest", conclusion="iUPD")])
    assert by_topic(found)["interval-imaging"]["summary"].startswith("Overdue")


def test_day_28_response_imaging_only_for_products_assessed_by_imaging() -> None:
    lymphoma = by_topic(cards([administration("Yescarta", -28)]))["interval-imaging"]["detail"]
    myeloma = by_topic(cards([administration("Carvykti", -28)]))["interval-imaging"]["detail"]
    assert "Day +28 response assessment" in lymphoma
    assert "Day +28 response assessment" not in myeloma


def test_t_cell_engager_day_zero_is_the_first_dose_not_the_order() -> None:
    found = cards([order("teclistamab", -20), administration("teclistamab step-up dose 1", -3)])
    assert by_topic(found)["interval-imaging"]["summary"].startswith("Day 3 of T-cell engager")


@pytest.mark.parametrize(
    ("text", "headline"),
    [
        ("ICANS grade 3 overnight", "ICANS grade 3 documented"),
        ("ICANS, grade 1", "ICANS grade 1 documented"),
        ("grade 2 ICANS since this morning", "ICANS grade 2 documented"),
    ],
)
def test_a_grade_stated_in_text_is_documented(text: str, headline: str) -> None:
    card = by_topic(cards([administration("Yescarta", -5), note(text, 0)]))["possible-neurotoxicity"]
    assert card["summary"].startswith(headline)


def test_a_neuromuscular_card_leaves_the_baseline_before_a_new_car_t_in_place() -> None:
    found = by_topic(
        cards([order("Breyanzi", -10), administration("nivolumab", -40), note("myasthenia", -1)])
    )
    assert found["possible-neurotoxicity"]["indicator"] == "critical"
    assert "suggestions" in found["baseline-brain-mri"]
    assert "suggestions" not in found["possible-neurotoxicity"]


def test_a_plan_written_after_the_day_does_not_exist_on_that_day() -> None:
    # Written on day +5 for a start on day +12: on day 0 (a day-by-day replay) there is no plan yet.
    plan = order("epcoritamab", 5, intent="plan")
    plan["dosageInstruction"] = [{"timing": {"repeat": {"boundsPeriod": {"start": day(12)}}}}]
    assert topics(cards([plan])) == {}
    assert topics(cards([plan], today=TODAY + timedelta(days=6))) == {"baseline-brain-mri": "warning"}


def test_a_brain_mri_ordered_after_the_day_does_not_count_on_that_day() -> None:
    # A CAR-T infusion ahead; the brain MRI order is written on day +3: on day 0 the baseline card shows.
    later_order = brain_mri_order(3)
    assert topics(cards([order("Breyanzi", -10), later_order])) == {"baseline-brain-mri": "warning"}
    assert topics(cards([order("Breyanzi", -10), later_order], today=TODAY + timedelta(days=3))) == {}


def test_a_diagnosis_recorded_after_the_day_is_not_known_on_that_day() -> None:
    # Onset dated yesterday but recorded on day +2 (charted late): a replay of day 0 does not see it.
    late = condition(-1, code="G92.02", recordedDate=day(2))
    assert "possible-neurotoxicity" not in topics(cards([administration("Yescarta", -5), late]))
    later = cards([administration("Yescarta", -5), late], today=TODAY + timedelta(days=2))
    assert topics(later)["possible-neurotoxicity"] == "critical"


# v3 (neurotoxicity probe of 2026-11-29): which syndrome leads, and the latest score of a day.
@pytest.mark.parametrize(
    ("record", "headline", "indicator"),
    [
        pytest.param(
            [administration("Yescarta", -45), condition(0, code="G92.02")],
            "ICANS grade 2 documented",
            "critical",
            id="documented ICANS after CAR-T day 30 stays ICANS, graded",
        ),
        pytest.param(
            [administration("Yescarta", -5), condition(0, code="G70.01")],
            "Possible neurological adverse event (not ICANS)",
            "critical",
            id="myasthenia after CAR-T is not ICANS",
        ),
        pytest.param(
            [administration("teclistamab", -20), note("Guillain-Barre syndrome", 0)],
            "Possible neurological adverse event (not ICANS)",
            "critical",
            id="GBS after a T-cell engager is not ICANS",
        ),
        pytest.param(
            [administration("Yescarta", -5), administration("nivolumab", -60), condition(0, code="G70.01")],
            "Possible neurological irAE",
            "critical",
            id="myasthenia with a checkpoint inhibitor too: the irAE leads",
        ),
        pytest.param(
            [administration("Yescarta", -5), condition(0, code="G62.0"), note("new confusion", 0)],
            "Possible ICANS",
            "warning",
            id="a central finding with a neuropathy: ICANS leads",
        ),
        pytest.param(
            [administration("Yescarta", -5), score("ICE score", 8, 0), note("seizure lasting 7 minutes", 0)],
            "Possible ICANS grade 4",
            "critical",
            id="a seizure of more than 5 minutes is grade 4",
        ),
        pytest.param(
            [
                patient(birth="2018-02-01"),
                administration("Kymriah", -6),
                note("unable to perform CAPD, unarousable", 0),
            ],
            "Possible ICANS grade 4",
            "critical",
            id="child unarousable, CAPD not possible: grade 4",
        ),
    ],
)
def test_v3_the_leading_syndrome(record: list[dict[str, Any]], headline: str, indicator: str) -> None:
    card = by_topic(cards(record))["possible-neurotoxicity"]
    assert card["summary"].startswith(headline), card["summary"]
    assert card["indicator"] == indicator


def timed_score(value: int, at: str) -> dict[str, Any]:
    entry = score("ICE score", value, 0)
    entry["effectiveDateTime"] = f"{day(0)}T{at}:00Z"
    return entry


@pytest.mark.parametrize(
    ("morning", "evening", "headline"),
    [(6, 9, "Possible ICANS grade 1"), (9, 6, "Possible ICANS grade 2"), (6, 10, None)],
)
def test_v3_the_latest_score_of_a_day_counts(morning: int, evening: int, headline: str | None) -> None:
    record = [administration("Yescarta", -5), timed_score(evening, "20:00"), timed_score(morning, "08:00")]
    card = by_topic(cards(record)).get("possible-neurotoxicity")
    if headline is None:
        assert card is None
    else:
        assert card is not None and card["summary"].startswith(headline), card


@pytest.mark.parametrize(
    "text",
    [
        "at risk for ICANS",
        "ICANS education given",
        "seizure: no",
        "no headache, confusion or seizure",
        "family history of seizures",
        "confusion due to opioid toxicity",
        "seizure due to brain metastases",
    ],
)
def test_v3_phrases_that_must_not_fire(text: str) -> None:
    assert "possible-neurotoxicity" not in topics(cards([administration("Yescarta", -5), note(text, 0)]))


# --- the order of the record's resources decides nothing (found by tests/test_card_invariants.py) -------

ORDER_INDEPENDENT: list[tuple[str, list[dict[str, Any]], list[dict[str, Any]]]] = [
    (
        "two scheduled CAR-T administrations: plan lines by date",
        [administration("Yescarta", 1), administration("Yescarta", 2)],
        [],
    ),
    (
        "two findings on the same day",
        [
            administration("Yescarta", -5),
            note("new generalized seizure", 0),
            condition(0, text="encephalitis"),
        ],
        [],
    ),
    (
        "two ICE scores the same day without a time",
        [administration("Yescarta", -5), score("ICE score", 10, 0), score("ICE score", 2, 0)],
        [],
    ),
    (
        "two CAPD scores the same day without a time, a child",
        [
            patient("2019-01-01"),
            administration("Kymriah", -5),
            score("CAPD score", 0, 0),
            score("CAPD", 12, 0),
        ],
        [],
    ),
    (
        "two brain MRIs the same day: the last brain MRI line",
        [brain_mri(-40), report(-40, title="MRI head without contrast")],
        [draft("nivolumab 480 mg IV")],
    ),
    (
        "two agents given the same day: the therapy lines",
        [administration("nivolumab", -10), administration("ipilimumab", -10), note("new aphasia", 0)],
        [],
    ),
]


def _without_uuids(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _without_uuids(item) for key, item in value.items() if key != "uuid"}
    if isinstance(value, list):
        return [_without_uuids(item) for item in value]
    return value


@pytest.mark.parametrize(
    ("name", "record", "drafts"), ORDER_INDEPENDENT, ids=[r[0] for r in ORDER_INDEPENDENT]
)
def test_the_order_of_resources_decides_nothing(
    name: str, record: list[dict[str, Any]], drafts: list[dict[str, Any]]
) -> None:
    found = _without_uuids(cards(record, drafts))
    assert found, name
    assert _without_uuids(cards(record[::-1], drafts[::-1])) == found


@pytest.mark.parametrize(
    ("kind", "first", "second", "headline"),
    [
        ("ICE score", 10, 2, "Possible ICANS grade 3"),
        ("ICE score", 2, 10, "Possible ICANS grade 3"),
        ("ICE score", 9, 5, "Possible ICANS grade 2"),
        ("CAPD score", 0, 12, "Possible ICANS grade 3"),
        ("CAPD score", 12, 0, "Possible ICANS grade 3"),
    ],
)
def test_two_scores_charted_at_the_same_time_the_worse_counts(
    kind: str, first: int, second: int, headline: str
) -> None:
    record = [
        patient("2019-01-01" if kind.startswith("CAPD") else "1961-04-02"),
        administration("Kymriah", -5),
    ]
    record += [score(kind, first, 0), score(kind, second, 0)]
    card = by_topic(cards(record))["possible-neurotoxicity"]
    assert card["summary"].startswith(headline), card["summary"]
