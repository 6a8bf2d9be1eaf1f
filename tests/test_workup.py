"""Issue 16 section 4 (and hypophysitis from section 3, day +28 by diagnosis from section 8): the right
work-up for the patient in front of us. Each table has rows that fire and rows that stay silent, written
as EHRs send them (ICD-10-CM / SNOMED / NCIt / LOINC codings with system URIs, text-only concepts)."""

from __future__ import annotations

from typing import Any

import pytest
from clinical_support import (
    SUBJECT,
    administration,
    brain_mri,
    by_topic,
    cards,
    condition,
    day,
    draft,
    order,
    patient,
    score,
    topics,
)

SNOMED = "http://snomed.info/sct"
NCIT = "urn:oid:2.16.840.1.113883.3.26.1.1"


def suggestion_texts(card: dict[str, Any]) -> list[str]:
    return [
        action["resource"]["code"]["text"]
        for suggestion in card.get("suggestions", [])
        for action in suggestion["actions"]
    ]


NIVOLUMAB = [administration("nivolumab 240 mg IV", offset) for offset in (-42, -28, -14)]
AXI_CEL = [brain_mri(-10), administration("Yescarta", -6)]


# --- work-up by syndrome -----------------------------------------------------------------------------

# (id, finding records, strings the detail must hold, strings it must not, suggested order text or None)
WORK_UP = [
    (
        "encephalitis: brain MRI, LP and EEG",
        [condition(0, text="Autoimmune encephalitis")],
        ["MRI brain", "Lumbar puncture", "EEG"],
        ["whole spine", "is not the test"],
        "MRI brain without and with IV contrast",
    ),
    (
        "encephalitis coded SNOMED 45170000",
        [condition(0, code=None, text=None) | {"code": {"coding": [{"system": SNOMED, "code": "45170000"}]}}],
        ["Lumbar puncture"],
        ["whole spine"],
        "MRI brain without and with IV contrast",
    ),
    (
        "G04.9 encephalitis, myelitis and encephalomyelitis: brain and spine",
        [condition(0, code="G04.9")],
        ["MRI brain", "whole spine", "Lumbar puncture"],
        ["is not the test"],
        "MRI brain without and with IV contrast",
    ),
    (
        "G04.81 other encephalitis and encephalomyelitis: brain and spine",
        [condition(0, code="G04.81")],
        ["MRI brain", "whole spine"],
        [],
        "MRI brain without and with IV contrast",
    ),
    (
        "ADEM G04.00: brain and spine",
        [condition(0, code="G04.00")],
        ["whole spine"],
        [],
        "MRI brain without and with IV contrast",
    ),
    (
        "encephalomyelitis in words: brain and spine",
        [condition(0, text="Immune-related encephalomyelitis")],
        ["whole spine", "Lumbar puncture"],
        [],
        "MRI brain without and with IV contrast",
    ),
    (
        "myelitis only (G04.91): spine MRI, the primary test named, no brain MRI order",
        [condition(0, code="G04.91")],
        ["whole spine", "primary test for myelitis"],
        ["is not the test", "Lumbar puncture"],
        None,
    ),
    (
        "aseptic meningitis: LP",
        [condition(0, code="G03.0")],
        ["Lumbar puncture"],
        ["whole spine"],
        "MRI brain without and with IV contrast",
    ),
    (
        "neuropathy: the primary tests named, no brain MRI",
        [condition(0, text="Peripheral neuropathy, new, grade 2")],
        ["primary tests for neuromuscular"],
        ["is not the test", "Lumbar puncture"],
        None,
    ),
    (
        "hypophysitis E23.6: pituitary MRI and endocrine labs",
        [condition(0, code="E23.6", text="Hypophysitis")],
        ["pituitary (sella) MRI", "cortisol", "free T4", "sodium"],
        ["Lumbar puncture", "whole spine"],
        "MRI brain, pituitary (sella) protocol, without and with IV contrast",
    ),
    (
        "hypophysitis named in text",
        [condition(0, text="Ipilimumab-induced hypophysitis")],
        ["pituitary (sella) MRI"],
        [],
        "MRI brain, pituitary (sella) protocol, without and with IV contrast",
    ),
]


@pytest.mark.parametrize(
    ("findings", "present", "absent", "order_text"),
    [row[1:] for row in WORK_UP],
    ids=[row[0] for row in WORK_UP],
)
def test_the_work_up_fits_the_syndrome(
    findings: list[dict[str, Any]], present: list[str], absent: list[str], order_text: str | None
) -> None:
    card = by_topic(cards([*NIVOLUMAB, *findings]))["possible-neurotoxicity"]
    for text in present:
        assert text.lower() in card["detail"].lower(), text
    for text in absent:
        assert text.lower() not in card["detail"].lower(), text
    assert suggestion_texts(card) == ([order_text] if order_text else [])


# Hypophysitis is a warning; visual field loss from the chiasm makes it critical.
HYPOPHYSITIS_SEVERITY = [
    ("hypophysitis alone: warning", [condition(0, code="E23.6", text="Hypophysitis")], "warning"),
    (
        "hypophysitis with bitemporal hemianopia: critical",
        [condition(0, text="Hypophysitis"), condition(0, text="New bitemporal hemianopia")],
        "critical",
    ),
    ("heteronymous field defect H53.47: critical", [condition(0, code="H53.47")], "critical"),
    ("suspected hypophysitis: warning", [condition(0, text="possible hypophysitis")], "warning"),
]


@pytest.mark.parametrize(
    ("findings", "indicator"),
    [row[1:] for row in HYPOPHYSITIS_SEVERITY],
    ids=[row[0] for row in HYPOPHYSITIS_SEVERITY],
)
def test_hypophysitis_severity(findings: list[dict[str, Any]], indicator: str) -> None:
    assert topics(cards([*NIVOLUMAB, *findings])) == {"possible-neurotoxicity": indicator}


def test_no_hypophysitis_card_without_a_checkpoint_inhibitor_or_when_negated() -> None:
    assert cards([condition(0, code="E23.6", text="Hypophysitis")]) == []
    assert cards([*NIVOLUMAB, condition(0, text="No evidence of hypophysitis")]) == []


def test_a_pituitary_mri_card_replaces_the_baseline_card() -> None:
    """One MRI order per response: a pituitary-protocol MRI is also the comparison brain study."""
    found = cards([*NIVOLUMAB, condition(0, text="Hypophysitis")], drafts=[draft("Yescarta")])
    assert "baseline-brain-mri" not in topics(found)


# --- deceased patients --------------------------------------------------------------------------------

ICANS_GRADE_3 = [*AXI_CEL, score("ICE score", 2, 0)]
DECEASED = [
    ("deceasedBoolean true", {"deceasedBoolean": True}, {}),
    ("deceasedDateTime yesterday", {"deceasedDateTime": day(-1) + "T04:00:00Z"}, {}),
    ("deceasedDateTime today", {"deceasedDateTime": day(0)}, {}),
    (
        "deceasedBoolean false: cards as usual",
        {"deceasedBoolean": False},
        {"possible-neurotoxicity": "critical"},  # the risk window folds into the neurotoxicity card
    ),
    (
        "deceasedDateTime in the future (data error): cards as usual",
        {"deceasedDateTime": day(3)},
        {"possible-neurotoxicity": "critical"},  # the risk window folds into the neurotoxicity card
    ),
]


@pytest.mark.parametrize(
    ("deceased", "expected"), [row[1:] for row in DECEASED], ids=[row[0] for row in DECEASED]
)
def test_a_deceased_patient_gets_no_cards(deceased: dict[str, Any], expected: dict[str, str]) -> None:
    assert topics(cards([patient() | deceased, *ICANS_GRADE_3])) == expected


def test_a_deceased_patient_gets_no_baseline_card_on_order_sign() -> None:
    assert cards([patient() | {"deceasedBoolean": True}], drafts=[draft("Yescarta")]) == []


# --- MRI contraindications ----------------------------------------------------------------------------


def device(text: str, safety: dict[str, Any] | None = None, status: str = "active") -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Device",
        "id": f"dev-{abs(hash((text, status, repr(safety)))) % 10**8}",
        "status": status,
        "type": {"text": text},
        "patient": SUBJECT,
    }
    if safety is not None:
        resource["safety"] = [safety]
    return resource


def flag(text: str, status: str = "active") -> dict[str, Any]:
    return {
        "resourceType": "Flag",
        "id": f"flag-{status}",
        "status": status,
        "code": {"text": text},
        "subject": SUBJECT,
    }


def allergy(text: str, clinical: str = "active") -> dict[str, Any]:
    return {
        "resourceType": "AllergyIntolerance",
        "id": f"allergy-{clinical}",
        "clinicalStatus": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical",
                    "code": clinical,
                }
            ]
        },
        "code": {"text": text},
        "patient": SUBJECT,
    }


def egfr(value: float, offset: int, code: str = "98979-8") -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": f"egfr-{offset}-{value}",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
        "subject": SUBJECT,
        "effectiveDateTime": day(offset),
        "valueQuantity": {"value": value, "unit": "mL/min/{1.73_m2}"},
    }


MR_CONDITIONAL = {
    "coding": [{"system": NCIT, "code": "C106046", "display": "Magnetic Resonance Conditional"}]
}
# (id, records, "implant" | "contrast" | None (the order stays), words the detail holds)
CONTRAINDICATIONS = [
    ("pacemaker Z95.0", [condition(-900, code="Z95.0")], "implant", ["cardiac pacemaker", "radiology", "CT"]),
    ("defibrillator Z95.810", [condition(-900, code="Z95.810")], "implant", ["cardioverter-defibrillator"]),
    ("cochlear implant Z96.21", [condition(-900, code="Z96.21")], "implant", ["cochlear implant"]),
    ("pacemaker Device, no safety", [device("Permanent pacemaker")], "implant", ["cardiac pacemaker"]),
    (
        "Device recorded MR Unsafe (NCIt)",
        [device("Programmable shunt valve", {"coding": [{"system": NCIT, "code": "C106047"}]})],
        "implant",
        ["MR unsafe"],
    ),
    ("Flag: MRI unsafe", [flag("MRI unsafe - metal fragments")], "implant", ["chart alert"]),
    ("Flag: pacemaker", [flag("Pacemaker - check before MRI")], "implant", ["cardiac pacemaker"]),
    ("gadolinium allergy", [allergy("Gadolinium contrast")], "contrast", ["gadolinium", "non-contrast MRI"]),
    ("Gadavist allergy", [allergy("Gadavist (gadobutrol)")], "contrast", ["gadolinium"]),
    ("eGFR 22", [egfr(22, -1)], "contrast", ["eGFR 22", "non-contrast MRI"]),
    ("eGFR MDRD 29.5", [egfr(29.5, -3, "33914-3")], "contrast", ["eGFR 29.5"]),
    # Silent: documented MR-conditional, resolved or inactive records, normal or old eGFR.
    (
        "pacemaker MR Conditional (Device.safety) beside Z95.0",
        [condition(-900, code="Z95.0"), device("Cardiac pacemaker", MR_CONDITIONAL)],
        None,
        ["MR-conditional cardiac pacemaker"],
    ),
    (
        "MR-conditional pacemaker in words",
        [condition(-900, text="MR-conditional pacemaker system")],
        None,
        [],
    ),
    ("explanted device (inactive)", [device("Permanent pacemaker", status="inactive")], None, []),
    ("refuted gadolinium allergy", [allergy("Gadolinium contrast", clinical="resolved")], None, []),
    ("inactive flag", [flag("MRI unsafe", status="inactive")], None, []),
    ("no pacemaker", [condition(-10, text="No pacemaker or implanted devices")], None, []),
    ("pacemaker removed", [condition(-10, text="Pacemaker removed in 2019")], None, []),
    ("pacemaker explanted", [condition(-10, text="s/p pacemaker explant")], None, []),
    ("cochlear implant evaluation", [condition(-10, text="Cochlear implant evaluation")], None, []),
    ("family member's pacemaker", [condition(-10, text="Family history: father has a pacemaker")], None, []),
    ("eGFR 22 five months ago", [egfr(22, -150)], None, []),
    ("eGFR recovered: 22 then 48", [egfr(22, -20), egfr(48, -2)], None, []),
    ("eGFR 65", [egfr(65, -1)], None, []),
]


@pytest.mark.parametrize(
    ("records", "concern", "words"),
    [row[1:] for row in CONTRAINDICATIONS],
    ids=[row[0] for row in CONTRAINDICATIONS],
)
def test_mri_contraindications_take_the_order_off_the_neurotoxicity_card(
    records: list[dict[str, Any]], concern: str | None, words: list[str]
) -> None:
    card = by_topic(cards([*ICANS_GRADE_3, *records]))["possible-neurotoxicity"]
    assert card["indicator"] == "critical"
    assert bool(card.get("suggestions")) == (concern is None)
    assert ("overrideReasons" in card) == (concern is None)
    for text in words:
        assert text.lower() in card["detail"].lower(), text
    if concern == "implant":
        assert "MRI contraindicated" in card["summary"]
    if concern == "contrast":
        assert "Contrast MRI order not suggested" in card["detail"]


@pytest.mark.parametrize(
    "records",
    [[condition(-900, code="Z95.0")], [allergy("gadolinium")], [egfr(20, 0)]],
    ids=["pacemaker", "gadolinium allergy", "eGFR 20"],
)
def test_mri_contraindications_take_the_order_off_the_baseline_card(records: list[dict[str, Any]]) -> None:
    card = by_topic(cards(records, drafts=[draft("Yescarta")]))["baseline-brain-mri"]
    assert "suggestions" not in card
    assert "not suggested" in card["detail"]


def test_a_pacemaker_recorded_after_today_is_not_yet_known() -> None:
    """Replays: a Condition recorded later did not exist on the day."""
    later = condition(5, code="Z95.0")
    card = by_topic(cards([*ICANS_GRADE_3, later]))["possible-neurotoxicity"]
    assert card.get("suggestions")


# --- a new course is a new baseline --------------------------------------------------------------------

NEW_COURSE = [
    (
        "second CAR-T 14 months after the first",
        [administration("Yescarta", -425), order("Breyanzi", -5)],
        True,
    ),
    (
        "second CAR-T 5 months after the first",
        [administration("Tecartus", -150), order("Breyanzi", -5)],
        True,
    ),
    (
        "second CAR-T planned at day 60: same course",
        [administration("Yescarta", -60), order("Breyanzi", -5)],
        False,
    ),
    (
        "teclistamab restarted 9 months after its last dose",
        [
            *[administration("teclistamab", offset) for offset in (-330, -323, -316, -290, -270)],
            order("teclistamab", -290, status="stopped"),
            order("teclistamab", -2, intent="plan"),
        ],
        True,
    ),
    (
        "teclistamab planned 6 weeks after the last dose: same course",
        [
            *[administration("teclistamab", offset) for offset in (-60, -53, -46, -42)],
            order("teclistamab", -2),
        ],
        False,
    ),
    (
        "teclistamab with a standing active order: same course",
        [
            administration("teclistamab", -300),
            order("teclistamab", -310),
            order("teclistamab", -2, intent="plan"),
        ],
        False,
    ),
]


@pytest.mark.parametrize(
    ("records", "baseline"), [row[1:] for row in NEW_COURSE], ids=[row[0] for row in NEW_COURSE]
)
def test_a_new_course_is_a_new_baseline(records: list[dict[str, Any]], baseline: bool) -> None:
    assert ("baseline-brain-mri" in topics(cards(records))) == baseline


def test_a_restarted_t_cell_engager_opens_a_new_icans_window() -> None:
    """Day 0 of the new course is its first dose after the pause: the ICANS window runs again."""
    records = [
        *[administration("teclistamab", offset) for offset in (-330, -323, -316)],
        administration("teclistamab", -3),
        administration("teclistamab", -1),
    ]
    card = by_topic(cards(records))["interval-imaging"]
    assert "day 3" in card["summary"].lower()


# --- day +28 response imaging by diagnosis -------------------------------------------------------------

DAY_28 = [brain_mri(-35)]
RESPONSE_BY_DIAGNOSIS = [
    (
        "axi-cel, DLBCL C83.3x: PET-CT",
        [condition(-300, code="C83.30"), administration("Yescarta", -28)],
        True,
    ),
    (
        "Kymriah, B-ALL C91.02: marrow and MRD",
        [condition(-300, code="C91.02"), administration("Kymriah", -28)],
        False,
    ),
    (
        "Kymriah, follicular lymphoma C82: imaging",
        [condition(-300, code="C82.90"), administration("Kymriah", -28)],
        True,
    ),
    (
        "generic CAR-T, myeloma C90.00: IMWG",
        [condition(-300, code="C90.00"), administration("CAR-T cell infusion", -28)],
        False,
    ),
    (
        "Kymriah, B-ALL in words",
        [condition(-300, text="B-ALL, second relapse"), administration("Kymriah", -28)],
        False,
    ),
    ("Kymriah, no diagnosis: the product's indication (imaging)", [administration("Kymriah", -28)], True),
    (
        "Carvykti, no diagnosis: the product's indication (laboratory)",
        [administration("Carvykti", -28)],
        False,
    ),
    (
        "refuted lymphoma, B-ALL confirmed",
        [
            condition(-300, code="C83.30")
            | {
                "verificationStatus": {
                    "coding": [
                        {
                            "code": "refuted",
                            "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                        }
                    ]
                }
            },
            condition(-300, code="C91.00"),
            administration("Kymriah", -28),
        ],
        False,
    ),
]


@pytest.mark.parametrize(
    ("records", "imaging"),
    [row[1:] for row in RESPONSE_BY_DIAGNOSIS],
    ids=[row[0] for row in RESPONSE_BY_DIAGNOSIS],
)
def test_day_28_response_imaging_follows_the_diagnosis(records: list[dict[str, Any]], imaging: bool) -> None:
    card = by_topic(cards([*DAY_28, *records]))["interval-imaging"]
    assert ("Day +28 response assessment" in card["detail"]) == imaging
