"""What the cards say, after the German clinician's review of German-shaped records (ICD-10-GM codes with
their Diagnosesicherheit, German text), in English and German alike:

- C2 a coded diagnosis's own text beats the catalogue's title when they differ in specificity;
- C3 a suspected diagnosis keeps its written grade, lowers the indicator at most one level and has one
  priority across the card (summary, detail, order); suspected ICANS in its risk window, Guillain-Barre
  syndrome and myasthenia stay same-day;
- C4 hypophysitis / hypopituitarism under a checkpoint inhibitor is an endocrine irAE;
- C5 CAR-T / T-cell engager content never reaches a checkpoint-inhibitor-only card;
- C6 the Guillain-Barre and myasthenia work-ups are complete;
- C8 the day +28 card leads with the response assessment that is due;
- C9 the T-cell engager baseline is advised, the checkpoint-inhibitor one only to consider;
- W3 / W4 German wording: "die MRT", plurals, "ICANS Grad 2", a German source label, no hard line breaks.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, time
from typing import Any

import pytest
from clinical_support import (
    CARDS_DIR,
    PATIENT,
    SUBJECT,
    TODAY,
    administration,
    by_topic,
    condition,
    day,
    draft,
    evaluator,
    note,
    patient,
    timeline,
)

GM = "http://fhir.de/CodeSystem/bfarm/icd-10-gm"
DIAGNOSESICHERHEIT = "http://fhir.de/StructureDefinition/icd-10-gm-diagnosesicherheit"
KBV_CERTAINTY = "https://fhir.kbv.de/CodeSystem/KBV_CS_SFHIR_ICD_DIAGNOSESICHERHEIT"
G04_8_TITLE = "Sonstige Enzephalitis, Myelitis und Enzephalomyelitis"
NEURO = "possible-neurotoxicity"


def german_diagnosis(
    offset: int, code: str, display: str, text: str | None = None, certainty: str | None = None
) -> dict[str, Any]:
    """A Condition in the MII / ISiK shape: ICD-10-GM with its year and, optionally, a Diagnosesicherheit."""
    coding: dict[str, Any] = {"system": GM, "version": "2025", "code": code, "display": display}
    if certainty:
        coding["extension"] = [
            {"url": DIAGNOSESICHERHEIT, "valueCoding": {"system": KBV_CERTAINTY, "code": certainty}}
        ]
    resource = condition(offset)
    resource["code"] = {"coding": [coding], **({"text": text} if text else {})}
    return resource


def car_t(offset: int) -> dict[str, Any]:
    return {
        "resourceType": "Procedure",
        "id": f"car-t-{offset}",
        "status": "completed",
        "code": {"text": "CAR-T infusion axicabtagene ciloleucel"},
        "subject": SUBJECT,
        "performedDateTime": day(offset),
    }


def lymphoma() -> dict[str, Any]:
    return condition(-400, text="Diffuse large B-cell lymphoma", code="C83.30")


PEMBROLIZUMAB = [administration("pembrolizumab 200 mg", -40), administration("pembrolizumab 200 mg", -19)]
IPILIMUMAB = [administration("ipilimumab 3 mg/kg", -40)]
PACEMAKER = condition(-900, text="Presence of cardiac pacemaker", code="Z95.0")
PROVISIONAL = {
    "coding": [
        {"system": "http://terminology.hl7.org/CodeSystem/condition-ver-status", "code": "provisional"}
    ]
}


def cards_in(
    language: str, record: list[dict[str, Any]], drafts: list[dict[str, Any]] | None = None
) -> dict[str, dict[str, Any]]:
    found = evaluator().cards_from_timeline(
        timeline(record, drafts, TODAY),
        now=datetime.combine(TODAY, time(10, 0), tzinfo=UTC),
        patient_id=PATIENT,
        user_id="Practitioner/dr-1",
        encounter_id=None,
        language=language,
    )
    return by_topic(found)


def priority(card: dict[str, Any]) -> str | None:
    suggestions = card.get("suggestions", [])
    return suggestions[0]["actions"][0]["resource"]["priority"] if suggestions else None


def advised(card: dict[str, Any]) -> str:
    """The detail's work-up paragraph ("**Advised:** ..." / "**Empfohlen:** ...")."""
    return next(
        part for part in card["detail"].split("\n\n") if part.startswith(("**Advised", "**Empfohlen"))
    )


SAME_DAY = {"en": re.compile(r"\b(urgent|today)\b"), "de": re.compile(r"\b(dringlich\w*|heute)\b")}


# --- C2: the record's own words narrow a code that covers several findings --------------------------------

# (case, the diagnosis, the finding it is, the work-up, whether the spine is listed too)
NARROWING: list[tuple[str, dict[str, Any], str, tuple[str, ...]]] = [
    (
        "G04.8 'Enzephalitis': encephalitis, brain MRI only",
        german_diagnosis(-1, "G04.8", G04_8_TITLE, "Enzephalitis"),
        "encephalitis",
        ("central",),
    ),
    (
        "G04.8 'autoimmune encephalitis': encephalitis",
        german_diagnosis(-1, "G04.8", G04_8_TITLE, "autoimmune encephalitis"),
        "encephalitis",
        ("central",),
    ),
    (
        "G04.8 'Autoimmunenzephalitis unter Pembrolizumab' (Diagnosesicherheit G): encephalitis",
        german_diagnosis(-1, "G04.8", G04_8_TITLE, "Autoimmunenzephalitis unter Pembrolizumab", "G"),
        "encephalitis",
        ("central",),
    ),
    (
        "G04.8 'Myelitis transversa': myelitis, the spine only",
        german_diagnosis(-1, "G04.8", G04_8_TITLE, "transverse Myelitis"),
        "transverse-myelitis",
        ("spinal",),
    ),
    (
        "G04.8 'Enzephalitis und Myelitis': both, brain and spine",
        german_diagnosis(-1, "G04.8", G04_8_TITLE, "Enzephalitis und Myelitis"),
        "encephalomyelitis",
        ("central", "spinal"),
    ),
    (
        "G04.8 with the catalogue's title only: the code's breadth stays (brain and spine)",
        german_diagnosis(-1, "G04.8", G04_8_TITLE),
        "encephalomyelitis",
        ("central", "spinal"),
    ),
    (
        "G04.8 with a display the sender wrote ('Autoimmune Enzephalitis') and no text: encephalitis",
        german_diagnosis(-1, "G04.8", "Autoimmune Enzephalitis"),
        "encephalitis",
        ("central",),
    ),
]


@pytest.mark.parametrize(("record", "finding", "work_up"), [pytest.param(*r[1:], id=r[0]) for r in NARROWING])
def test_the_diagnosis_text_beats_the_catalogue_title(
    record: dict[str, Any], finding: str, work_up: tuple[str, ...]
) -> None:
    (neuro,) = [
        a for a in evaluator().advice_on(timeline([*PEMBROLIZUMAB, record]), TODAY) if hasattr(a, "work_up")
    ]
    assert [f.kind.id for f in neuro.findings] == [finding]
    assert neuro.work_up == work_up
    for language in ("en", "de"):
        card = cards_in(language, [*PEMBROLIZUMAB, record])[NEURO]
        spine = "spine" if language == "en" else "Wirbelsäule"
        assert (spine in advised(card)) == ("spinal" in work_up), advised(card)


# --- C3 / C9: suspicion keeps the written grade, lowers at most one level, one priority per card ----------

# (case, record, indicator, same-day?, words the summary says in English)
SUSPECTED: list[tuple[str, list[dict[str, Any]], str, bool, list[str]]] = [
    (
        "'V.a. ICANS Grad 2' on G92 (Diagnosesicherheit V), CAR-T day 5: grade 2 kept, warning, same day",
        [car_t(-5), german_diagnosis(-1, "G92", "Toxische Enzephalopathie", "V.a. ICANS Grad 2", "V")],
        "warning",
        True,
        ["Suspected ICANS grade 2"],
    ),
    (
        "'suspected ICANS' in a note, CAR-T day 5 (risk window): warning, same day",
        [car_t(-5), note("suspected ICANS", -1)],
        "warning",
        True,
        ["Possible ICANS"],
    ),
    (
        "'V.a. ICANS Grad 1' in a note, CAR-T day 5: grade 1 is not same-day, routine",
        [car_t(-5), note("V.a. ICANS Grad 1", -1)],
        "warning",
        False,
        ["Suspected ICANS grade 1"],
    ),
    (
        "'ICANS Grad 2' affirmed on G92, CAR-T day 5: critical (the suspicion rule does not touch it)",
        [car_t(-5), german_diagnosis(-1, "G92", "Toxische Enzephalopathie", "ICANS Grad 2")],
        "critical",
        True,
        ["ICANS grade 2"],
    ),
    (
        "Guillain-Barre syndrome, verificationStatus provisional, under pembrolizumab: warning, same day",
        [
            *PEMBROLIZUMAB,
            condition(-1, text="Guillain-Barre syndrome", code="G61.0", verificationStatus=PROVISIONAL),
        ],
        "warning",
        True,
        ["today"],
    ),
    (
        "'V.a. Myasthenia gravis' on G70.0 (no Diagnosesicherheit): suspected from its text, same day",
        [*PEMBROLIZUMAB, german_diagnosis(-1, "G70.0", "Myasthenia gravis", "V.a. Myasthenia gravis")],
        "warning",
        True,
        ["today"],
    ),
    (
        "'V.a. Krampfanfall' on R56.8 (no Diagnosesicherheit): a suspicion, routine",
        [
            *PEMBROLIZUMAB,
            german_diagnosis(
                -1, "R56.8", "Sonstige und nicht näher bezeichnete Krämpfe", "V.a. Krampfanfall"
            ),
        ],
        "warning",
        False,
        ["brain MRI"],
    ),
    (
        "possible transverse myelitis under pembrolizumab: routine spine MRI, no 'today'",
        [*PEMBROLIZUMAB, note("possible transverse myelitis", -1)],
        "warning",
        False,
        ["spine MRI"],
    ),
    (
        "possible seizure under pembrolizumab, pacemaker: routine CT and radiology, not 'urgent imaging'",
        [*PEMBROLIZUMAB, PACEMAKER, note("possible seizure", -1)],
        "warning",
        False,
        ["MRI contraindicated"],
    ),
    (
        "seizure under pembrolizumab with a pacemaker: critical, urgent CT and radiology",
        [*PEMBROLIZUMAB, PACEMAKER, condition(-1, text="Seizure", code="R56.9")],
        "critical",
        True,
        ["urgent imaging (MRI contraindicated"],
    ),
    (
        "possible transverse myelitis under pembrolizumab with a pacemaker: routine spinal imaging",
        [*PEMBROLIZUMAB, PACEMAKER, note("possible transverse myelitis", -1)],
        "warning",
        False,
        ["MRI contraindicated"],
    ),
    (
        "'suspected ICANS' at CAR-T day 60 (outside the risk window): routine",
        [car_t(-60), note("suspected ICANS", -1)],
        "warning",
        False,
        ["ICANS"],
    ),
]


@pytest.mark.parametrize(
    ("record", "indicator", "same_day", "words"), [pytest.param(*r[1:], id=r[0]) for r in SUSPECTED]
)
@pytest.mark.parametrize("language", ["en", "de"])
def test_a_suspicion_has_one_priority_across_the_card(
    language: str, record: list[dict[str, Any]], indicator: str, same_day: bool, words: list[str]
) -> None:
    card = cards_in(language, record)[NEURO]
    assert card["indicator"] == indicator
    said_same_day = SAME_DAY[language]
    assert bool(said_same_day.search(card["summary"])) == same_day, card["summary"]
    assert bool(said_same_day.search(advised(card))) == same_day, advised(card)
    if priority(card) is not None:
        assert (priority(card) == "urgent") == same_day
    if language == "en":
        for word in words:
            assert word in card["summary"]


def test_a_suspected_written_grade_stays_in_german_too() -> None:
    record = [car_t(-5), german_diagnosis(-1, "G92", "Toxische Enzephalopathie", "V.a. ICANS Grad 2", "V")]
    card = cards_in("de", record)[NEURO]
    assert card["summary"].startswith("V. a. ICANS Grad 2")
    assert "ICANS Grad 2 meist zu Kortikosteroiden" in card["detail"]  # the guidance of the written grade


# --- C4: hypophysitis is an endocrine irAE ----------------------------------------------------------------

ENDOCRINE: list[tuple[str, list[dict[str, Any]], bool]] = [
    (
        "hypophysitis E23.6 under ipilimumab",
        [*IPILIMUMAB, condition(-1, text="Hypophysitis", code="E23.6")],
        True,
    ),
    (
        "hypopituitarism E23.0 under ipilimumab",
        [*IPILIMUMAB, condition(-1, text="Hypopituitarism", code="E23.0")],
        True,
    ),
    (
        "'Hypophyseninsuffizienz' in a German note under ipilimumab",
        [*IPILIMUMAB, note("Neu aufgetretene Hypophyseninsuffizienz", -1)],
        True,
    ),
    (
        "hypophysitis with no therapy on record: silent",
        [condition(-1, text="Hypophysitis", code="E23.6")],
        False,
    ),
    (
        "hypopituitarism before the first ipilimumab dose: silent",
        [administration("ipilimumab 3 mg/kg", 0), condition(-3, text="Hypopituitarism", code="E23.0")],
        False,
    ),
]


@pytest.mark.parametrize(("record", "fires"), [pytest.param(*r[1:], id=r[0]) for r in ENDOCRINE])
def test_hypophysitis_under_a_checkpoint_inhibitor_is_an_endocrine_irae(
    record: list[dict[str, Any]], fires: bool
) -> None:
    english = cards_in("en", record)
    german = cards_in("de", record)
    assert (NEURO in english) == fires and (NEURO in german) == fires
    if not fires:
        return
    card = english[NEURO]
    assert card["summary"].startswith("Possible endocrine irAE (hypophysitis)")
    assert "neurological irAE" not in card["summary"]
    for words in (
        "morning cortisol and ACTH",
        "TSH and free T4",
        "sodium",
        "pituitary (sella) MRI",
        "endocrinology",
    ):
        assert words in advised(card)
    assert "hypophysitis is managed with endocrinology" in card["detail"]
    assert "IVIG" not in card["detail"] and "neurology consultation" not in card["detail"]
    assert german[NEURO]["summary"].startswith("Mögliche endokrine irAE (Hypophysitis)")


# --- C5: content of the exposure class only ---------------------------------------------------------------

ICANS_ONLY_LINKS = ("Lee et al.", "Lasocki et al.")

# (case, record, drafts, topic, whether CAR-T / T-cell engager content belongs on the card)
EXPOSURE_CONTENT: list[tuple[str, list[dict[str, Any]], list[dict[str, Any]], str, bool]] = [
    (
        "seizure under pembrolizumab",
        [*PEMBROLIZUMAB, condition(-1, text="Seizure", code="R56.9")],
        [],
        NEURO,
        False,
    ),
    (
        "seizure under pembrolizumab, six days old (stale)",
        [*PEMBROLIZUMAB, condition(-6, text="Seizure", code="R56.9")],
        [],
        NEURO,
        False,
    ),
    (
        "encephalitis under pembrolizumab",
        [*PEMBROLIZUMAB, condition(-1, text="Encephalitis", code="G04.81")],
        [],
        NEURO,
        False,
    ),
    ("seizure after CAR-T day 5", [car_t(-5), condition(-1, text="Seizure", code="R56.9")], [], NEURO, True),
    (
        "pembrolizumab being ordered: the baseline to consider",
        [patient()],
        [draft("pembrolizumab 200 mg IV")],
        "baseline-brain-mri",
        False,
    ),
    (
        "teclistamab being ordered: the baseline advised",
        [patient()],
        [draft("teclistamab 0.06 mg/kg SC")],
        "baseline-brain-mri",
        True,
    ),
]


@pytest.mark.parametrize(
    ("record", "drafts", "topic", "immune_effector"),
    [pytest.param(*r[1:], id=r[0]) for r in EXPOSURE_CONTENT],
)
@pytest.mark.parametrize("language", ["en", "de"])
def test_car_t_content_only_on_cards_of_its_exposure_class(
    language: str,
    record: list[dict[str, Any]],
    drafts: list[dict[str, Any]],
    topic: str,
    immune_effector: bool,
) -> None:
    card = cards_in(language, record, drafts)[topic]
    links = [link["label"] for link in card.get("links", [])]
    cited = any(label.startswith(ICANS_ONLY_LINKS) for label in links)
    if immune_effector:
        assert cited, links
        return
    assert not cited, links
    assert "ICANS" not in card["detail"] and "ICE" not in card["detail"], card["detail"]


# --- C6: the Guillain-Barre and myasthenia work-ups -------------------------------------------------------

WORK_UP: list[tuple[str, dict[str, Any], dict[str, list[str]], list[str]]] = [
    (
        "Guillain-Barre syndrome",
        condition(-1, text="Guillain-Barre syndrome", code="G61.0"),
        {
            "en": ["lumbar puncture", "albuminocytologic dissociation", "nerve conduction studies"],
            "de": ["Lumbalpunktion", "zytoalbuminäre Dissoziation", "Neurographie"],
        },
        ["MuSK"],
    ),
    (
        "myasthenia gravis",
        condition(-1, text="Myasthenia gravis", code="G70.00"),
        {
            "en": [
                "acetylcholine receptor (AChR) antibodies",
                "anti-striational (titin)",
                "MuSK",
                "troponin",
                "ECG",
            ],
            "de": [
                "Acetylcholinrezeptoren (AChR)",
                "quergestreifte Muskulatur (Titin)",
                "MuSK",
                "Troponin",
                "EKG",
            ],
        },
        ["albuminocytologic", "zytoalbuminäre"],
    ),
    (
        "myositis: neither note",
        condition(-1, text="Myositis", code="M60.9"),
        {"en": ["CK and troponin"], "de": ["CK und Troponin"]},
        ["MuSK", "albuminocytologic", "zytoalbuminäre"],
    ),
]


@pytest.mark.parametrize(("finding", "said", "not_said"), [pytest.param(*r[1:], id=r[0]) for r in WORK_UP])
@pytest.mark.parametrize("language", ["en", "de"])
def test_the_neuromuscular_work_up_is_complete(
    language: str, finding: dict[str, Any], said: dict[str, list[str]], not_said: list[str]
) -> None:
    card = cards_in(language, [*PEMBROLIZUMAB, finding])[NEURO]
    for words in said[language]:
        assert words in card["detail"], words
    for words in not_said:
        assert words not in card["detail"], words


# --- C8: the day +28 card leads with the response assessment ----------------------------------------------


@pytest.mark.parametrize(
    ("car_t_day", "leads"),
    [
        pytest.param(
            26,
            {
                "en": "Day +28 response imaging (PET-CT) due",
                "de": "Remissionsbildgebung an Tag +28 (PET-CT) fällig",
            },
            id="day 26: the response imaging leads, not the ending ICANS window",
        ),
        pytest.param(
            10,
            {"en": "CAR-T day 10", "de": "CAR-T Tag 10"},
            id="day 10: no response window yet, the ICANS window",
        ),
    ],
)
def test_the_day_28_card_leads_with_the_due_response_assessment(
    car_t_day: int, leads: dict[str, str]
) -> None:
    for language in ("en", "de"):
        card = cards_in(language, [car_t(-car_t_day), lymphoma()])["interval-imaging"]
        assert card["summary"].startswith(leads[language]), card["summary"]
        assert card["indicator"] == "warning"


# --- C9: the baseline indicator by exposure class ---------------------------------------------------------


@pytest.mark.parametrize(
    ("ordered", "indicator", "suggests"),
    [
        pytest.param(
            "teclistamab 0.06 mg/kg SC", "warning", True, id="T-cell engager: advised, with the order"
        ),
        pytest.param(
            "pembrolizumab 200 mg IV", "info", False, id="checkpoint inhibitor: to consider, no order"
        ),
    ],
)
def test_the_baseline_indicator_follows_the_exposure_class(
    ordered: str, indicator: str, suggests: bool
) -> None:
    for language in ("en", "de"):
        card = cards_in(language, [patient()], [draft(ordered)])["baseline-brain-mri"]
        assert card["indicator"] == indicator
        assert bool(card.get("suggestions")) == suggests


# --- W3 / W4: German wording ------------------------------------------------------------------------------


def test_german_cards_say_die_mrt_everywhere() -> None:
    neuter = re.compile(r"\b(das|ein|kein|Kein|Ein|Das|des|dem|einem|keines|eines)( [\w-]+)? MRT\b")
    for path in sorted((CARDS_DIR / "de").glob("*.yaml")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            assert not neuter.search(line), f"{path.name}:{number}: {line.strip()}"


def test_several_checkpoint_inhibitors_are_plural_in_german() -> None:
    record = [
        administration("nivolumab 1 mg/kg", -40),
        administration("ipilimumab 3 mg/kg", -40),
        condition(-1, text="Seizure", code="R56.9"),
    ]
    card = cards_in("de", record)[NEURO]
    assert "Ipilimumab und Nivolumab (Checkpoint-Inhibitoren)" in card["detail"]  # capitalised: class W
    single = cards_in("de", [*PEMBROLIZUMAB, condition(-1, text="Seizure", code="R56.9")])[NEURO]
    assert "Pembrolizumab (Checkpoint-Inhibitor):" in single["detail"]


def test_a_grade_written_in_a_note_is_icans_grad_2_not_a_code() -> None:
    card = cards_in("de", [car_t(-5), note("ICANS Grad 2", -1)])[NEURO]
    assert "ICANS Grad 2" in card["detail"]
    assert "ICANS-Code" not in card["detail"]
    english = cards_in("en", [car_t(-5), note("ICANS grade 2", -1)])[NEURO]
    assert "ICANS code grade" not in english["detail"]


def test_the_german_source_label_is_german() -> None:
    record = [*PEMBROLIZUMAB, condition(-1, text="Seizure", code="R56.9")]
    english = cards_in("en", record)[NEURO]["source"]["label"]
    german = cards_in("de", record)[NEURO]["source"]["label"]
    assert german != english and "Immuntherapie" in german


RECORDS_FOR_LAYOUT = [
    [car_t(-5), note("ICE score 6/10, word-finding difficulty, seizure this morning", -1)],
    [car_t(-26), lymphoma()],
    [*PEMBROLIZUMAB, condition(-1, text="Guillain-Barre syndrome", code="G61.0")],
    [*IPILIMUMAB, condition(-1, text="Hypophysitis", code="E23.6")],
]


@pytest.mark.parametrize("record", RECORDS_FOR_LAYOUT)
@pytest.mark.parametrize("language", ["en", "de"])
def test_no_hard_line_break_inside_a_detail_paragraph(language: str, record: list[dict[str, Any]]) -> None:
    """A paragraph is one line, or a list whose every line is an item: markdown renders a single line
    break inside a paragraph as a space in some EHRs and as a break in others."""
    record = record if any(r["resourceType"] == "Patient" for r in record) else [patient(), *record]
    for card in cards_in(language, record).values():
        for paragraph in card["detail"].split("\n\n"):
            lines = paragraph.split("\n")
            assert len(lines) == 1 or all(line.startswith("- ") for line in lines), paragraph
