"""What an independent clinical review of 170 records found wrong on the cards (docs/clinical-rules-v2.md
sections 3, 4, 5 and 7): the detail says what the card suggests (an urgent brain MRI is suggested as
urgent; no MRI advised while an implant rules it out), a long summary shortens its agents and never its
action, an iRECIST detail dates a checkpoint inhibitor stop by the stop (never the order's authoredOn),
and a grade resting on an old score says the score's date."""

from __future__ import annotations

from typing import Any

import pytest
from clinical_support import (
    SUBJECT,
    TODAY,
    administration,
    cards,
    condition,
    day,
    note,
    order,
    report,
    score,
)

from clinical.cards.common import SUMMARY_LIMIT
from clinical.labels import ELLIPSIS

NEUROTOXICITY = "possible-neurotoxicity"
SNOMED = "http://snomed.info/sct"
NCIT = "http://ncicb.nci.nih.gov/xml/owl/EVS/Thesaurus.owl"


def neurotoxicity_card(record: list[dict[str, Any]]) -> dict[str, Any]:
    (card,) = [c for c in cards(record) if c["source"]["topic"]["code"] == NEUROTOXICITY]
    return card


def advised(card: dict[str, Any]) -> str:
    """The card's "Advised:" line (the work-up, with the lines for other syndrome classes)."""
    return next(line for line in card["detail"].splitlines() if line.startswith("**Advised:**"))


def undated(resource: dict[str, Any]) -> dict[str, Any]:
    """An active diagnosis with no onset and no recordedDate (a problem-list entry, as some EHRs send)."""
    return {key: value for key, value in resource.items() if key != "onsetDateTime"}


def suggested_priority(card: dict[str, Any]) -> str | None:
    suggestions = card.get("suggestions", [])
    return str(suggestions[0]["actions"][0]["resource"]["priority"]) if suggestions else None


# --- 1. the central work-up's urgency: the detail says what the suggestion orders ---------------------
# (case, record, indicator, suggested priority)
URGENCY: list[tuple[str, list[dict[str, Any]], str, str]] = [
    (
        "undated ICANS grade 2 (G92.02) after CAR-T: warning, urgent MRI suggested",
        [administration("Yescarta", -10), undated(condition(0, code="G92.02"))],
        "warning",
        "urgent",
    ),
    (
        "new confusion today after CAR-T (possible ICANS, ungraded): warning, urgent",
        [administration("Yescarta", -5), note("new confusion, disoriented to place", 0)],
        "warning",
        "urgent",
    ),
    (
        "new confusion yesterday after a T-cell engager: warning, urgent",
        [administration("glofitamab 2.5 mg step-up dose", -4), note("acute confusion overnight", -1)],
        "warning",
        "urgent",
    ),
    (
        "ICE 8 today (ICANS grade 1): warning, urgent",
        [administration("Yescarta", -5), score("ICE score", 8, 0)],
        "warning",
        "urgent",
    ),
    (
        "ICE 2 today (grade 3): critical, urgent",
        [administration("Yescarta", -5), score("ICE score", 2, 0)],
        "critical",
        "urgent",
    ),
    (
        "a suspicion only ('possible seizure'): warning, routine",
        [administration("Yescarta", -5), note("possible seizure overnight, not witnessed", 0)],
        "warning",
        "routine",
    ),
    (
        "ICE 2 five days ago, no assessment since (stale): warning, routine",
        [administration("Yescarta", -9), score("ICE score", 2, -5)],
        "warning",
        "routine",
    ),
    (
        "confusion ten days ago, nothing since (not recent): warning, routine",
        [administration("Yescarta", -15), note("new confusion, disoriented to place", -10)],
        "warning",
        "routine",
    ),
]


@pytest.mark.parametrize(
    ("record", "indicator", "priority"), [pytest.param(*row[1:], id=row[0]) for row in URGENCY]
)
def test_the_suggested_brain_mri_has_the_urgency_the_detail_advises(
    record: list[dict[str, Any]], indicator: str, priority: str
) -> None:
    card = neurotoxicity_card(record)
    assert card["indicator"] == indicator
    assert suggested_priority(card) == priority
    label = card["suggestions"][0]["label"]
    says_urgent = "urgent" in advised(card)
    assert says_urgent == (priority == "urgent"), advised(card)
    assert ("urgent" in label) == (priority == "urgent")
    assert ("urgent brain MRI" in card["summary"]) == (
        priority == "urgent" and "no assessment" not in card["summary"]
    )


# --- 2. a long summary shortens its agents, never its action --------------------------------------------

PACEMAKER = condition(-900, code="Z95.0")
# (case, record, words the summary keeps, words it no longer holds)
LONG_SUMMARIES: list[tuple[str, list[dict[str, Any]], list[str], list[str]]] = [
    (
        "one long CAR-T product, pacemaker: the class stands for the agent",
        [
            administration("lisocabtagene maraleucel", -5),
            PACEMAKER,
            condition(0, text="ICANS"),
            score("ICE score", 5, 0),
        ],
        ["ICANS documented", "(MRI contraindicated: CT, discuss with radiology) and neurology review"],
        [],
    ),
    (
        "four checkpoint inhibitors: 'and 3 more', the action whole",
        [
            administration("atezolizumab 1200 mg IV", -60),
            administration("durvalumab 1500 mg IV", -40),
            administration("tremelimumab 75 mg IV", -40),
            administration("nivolumab and relatlimab-rmbw (Opdualag) 480 mg/160 mg IV", -20),
            condition(0, text="autoimmune encephalitis"),
        ],
        ["after atezolizumab and 3 more: urgent brain MRI and neurology review"],
        [ELLIPSIS, "tremelimumab"],
    ),
    (
        "two checkpoint inhibitors, pacemaker: even the class is too long, the agents stay in the detail",
        [
            administration("nivolumab and relatlimab-rmbw (Opdualag) 480 mg/160 mg IV", -20),
            administration("ipilimumab 1 mg/kg IV", -20),
            PACEMAKER,
            condition(0, text="autoimmune encephalitis"),
        ],
        ["Possible neurological irAE: urgent imaging (MRI contraindicated: CT, discuss with radiology)"],
        [ELLIPSIS],
    ),
]


@pytest.mark.parametrize(
    ("record", "kept", "absent"), [pytest.param(*row[1:], id=row[0]) for row in LONG_SUMMARIES]
)
def test_a_long_summary_keeps_its_action_whole(
    record: list[dict[str, Any]], kept: list[str], absent: list[str]
) -> None:
    summary = neurotoxicity_card(record)["summary"]
    assert len(summary) < SUMMARY_LIMIT
    assert summary.endswith("neurology review"), summary
    assert summary.count("(") == summary.count(")")
    for words in kept:
        assert words in summary, summary
    for words in absent:
        assert words not in summary, summary


def test_a_short_summary_names_every_agent() -> None:
    record = [administration("pembrolizumab 200 mg IV", -20), condition(0, text="autoimmune encephalitis")]
    assert "after pembrolizumab: urgent brain MRI" in neurotoxicity_card(record)["summary"]


# --- 3. the work-up line never advises the MRI that a contraindication rules out ------------------------


def device(text: str, safety_display: str | None = None) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Device",
        "id": f"dev-{abs(hash(text)) % 10**6}",
        "status": "active",
        "type": {"text": text},
        "patient": SUBJECT,
    }
    if safety_display:
        resource["safety"] = [{"coding": [{"system": NCIT, "code": "C106048", "display": safety_display}]}]
    return resource


def egfr(value: float, offset: int) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": f"egfr-{offset}",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "98979-8"}]},
        "subject": SUBJECT,
        "effectiveDateTime": day(offset),
        "valueQuantity": {"value": value, "unit": "mL/min/{1.73_m2}"},
    }


ICE_4 = [administration("Yescarta", -5), score("ICE score", 4, -1)]
# (case, record, words the Advised line says, words it must not say)
CONTRAINDICATED: list[tuple[str, list[dict[str, Any]], list[str], list[str]]] = [
    ("pacemaker Z95.0, ICANS", [*ICE_4, PACEMAKER], ["urgent CT head", "radiology"], ["MRI brain"]),
    (
        "ICD Device without MR safety, ICANS",
        [*ICE_4, device("Implantable cardioverter-defibrillator")],
        ["urgent CT head"],
        ["MRI brain"],
    ),
    (
        "neurostimulator MR Unsafe, ICANS",
        [*ICE_4, device("Vagus nerve stimulator", "Magnetic Resonance Unsafe")],
        ["urgent CT head"],
        ["MRI brain"],
    ),
    (
        "cochlear implant in words, encephalomyelitis under pembrolizumab: brain and spine",
        [
            administration("pembrolizumab 200 mg IV", -30),
            condition(-3000, text="Cochlear implant, right ear"),
            condition(0, code="G04.81", text="Autoimmune encephalomyelitis"),
        ],
        ["urgent CT head", "CT myelography"],
        ["MRI brain", "MRI of the whole spine"],
    ),
    (
        "pacemaker, myelitis alone under atezolizumab: spinal",
        [administration("atezolizumab 1200 mg IV", -20), PACEMAKER, condition(0, code="G37.3")],
        ["CT myelography", "radiology"],
        ["MRI of the whole spine"],
    ),
    (
        "pacemaker, hypophysitis under ipilimumab: pituitary",
        [administration("ipilimumab 3 mg/kg IV", -40), PACEMAKER, condition(0, code="E23.6")],
        ["CT of the sella", "morning cortisol"],
        ["sella) MRI"],
    ),
    (
        "eGFR 24 (contrast only), ICANS: non-contrast MRI or CT",
        [*ICE_4, egfr(24, -2)],
        ["non-contrast MRI brain or CT, agreed with radiology"],
        ["MRI brain without and with IV contrast"],
    ),
    (
        "no contraindication: the urgent contrast MRI stays",
        ICE_4,
        ["urgent MRI brain without and with IV contrast"],
        ["CT head"],
    ),
]


@pytest.mark.parametrize(
    ("record", "said", "unsaid"), [pytest.param(*row[1:], id=row[0]) for row in CONTRAINDICATED]
)
def test_the_work_up_line_follows_the_mri_contraindication(
    record: list[dict[str, Any]], said: list[str], unsaid: list[str]
) -> None:
    line = advised(neurotoxicity_card(record))
    for words in said:
        assert words in line, line
    for words in unsaid:
        assert words not in line, line


# --- 4. an iRECIST detail dates a checkpoint inhibitor stop by the stop ----------------------------------


def iupd(offset: int) -> dict[str, Any]:
    return report(
        offset,
        title="CT chest abdomen pelvis with IV contrast",
        conclusion="New adrenal nodule 2.1 cm. iRECIST: unconfirmed progression (iUPD).",
    )


def stopped_order(**fields: Any) -> dict[str, Any]:
    resource = order("pembrolizumab 200 mg IV every 3 weeks", -140, status="stopped")
    resource["statusReason"] = {"text": "Immune-related colitis grade 3"}
    resource.update(fields)
    return resource


DOSES = [administration("pembrolizumab 200 mg IV", offset) for offset in (-140, -119, -98, -77, -58)]
# (case, record, words the detail says, words it must not say)
STOPS: list[tuple[str, list[dict[str, Any]], list[str], list[str]]] = [
    (
        "stopped order with no end: the last dose, never authoredOn",
        [*DOSES, iupd(-41), stopped_order()],
        [f"stopped (date not recorded, last dose on {day(-58)}) for toxicity"],
        [f"stopped on {day(-140)}"],
    ),
    (
        "stopped order with validityPeriod.end: that date",
        [*DOSES, iupd(-41), stopped_order(dispenseRequest={"validityPeriod": {"end": day(-50)}})],
        [f"stopped on {day(-50)} for toxicity"],
        [day(-140)],
    ),
    (
        "stopped order with boundsPeriod end: that date",
        [
            *DOSES,
            iupd(-41),
            stopped_order(dosageInstruction=[{"timing": {"repeat": {"boundsPeriod": {"end": day(-55)}}}}]),
        ],
        [f"stopped on {day(-55)} for toxicity"],
        [day(-140)],
    ),
    (
        "MedicationStatement effectivePeriod.end: that date",
        [
            *DOSES,
            iupd(-41),
            {
                "resourceType": "MedicationStatement",
                "id": "ms-stopped",
                "status": "stopped",
                "statusReason": [{"text": "immune-related hepatitis"}],
                "medicationCodeableConcept": {"text": "pembrolizumab"},
                "subject": SUBJECT,
                "effectivePeriod": {"start": day(-140), "end": day(-52)},
            },
        ],
        [f"stopped on {day(-52)} for toxicity"],
        [],
    ),
    (
        "no dose recorded, no end: the date is not recorded",
        [iupd(-41), stopped_order()],
        ["stopped (date not recorded) for toxicity"],
        [f"stopped on {day(-140)}"],
    ),
]


@pytest.mark.parametrize(("record", "said", "unsaid"), [pytest.param(*row[1:], id=row[0]) for row in STOPS])
def test_the_iRECIST_detail_dates_the_stop_by_the_stop(
    record: list[dict[str, Any]], said: list[str], unsaid: list[str]
) -> None:
    (card,) = [c for c in cards(record) if c["source"]["topic"]["code"] == "interval-imaging"]
    for words in said:
        assert words in card["detail"], card["detail"]
    for words in unsaid:
        assert words not in card["detail"], card["detail"]


# --- 5. a grade that rests on an old score says the score's date ----------------------------------------
# (case, record, words the detail says, words it must not say)
OLD_SCORES: list[tuple[str, list[dict[str, Any]], list[str], list[str]]] = [
    (
        "ICE 1 eleven days ago, somnolence today: the grade-3 score is dated",
        [
            administration("Yescarta", -15),
            score("ICE score", 1, -11),
            note("somnolent, awakens to voice", -1),
        ],
        [f"ICE score 1/10 on {day(-11)} grade 3", f"rests on the ICE score of {day(-11)}", "72 hours"],
        [],
    ),
    (
        "ICE 2 today: no date in the domain, nothing to reassess",
        [administration("Yescarta", -5), score("ICE score", 2, 0)],
        ["ICE score 2/10 grade 3"],
        ["rests on the"],
    ),
]


@pytest.mark.parametrize(
    ("record", "said", "unsaid"), [pytest.param(*row[1:], id=row[0]) for row in OLD_SCORES]
)
def test_a_grade_resting_on_an_old_score_names_its_date(
    record: list[dict[str, Any]], said: list[str], unsaid: list[str]
) -> None:
    detail = neurotoxicity_card(record)["detail"]
    for words in said:
        assert words in detail, detail
    for words in unsaid:
        assert words not in detail, detail


def test_today_is_the_fixed_test_day() -> None:
    assert TODAY.isoformat() == day(0)
