"""Card content gaps a German clinical review found (docs/clinical-rules-v2.md sections 3 and 5), in the
English and the German cards alike: the summary says what the card advises when no order is proposed (a
brain MRI done since the finding, an MRI ruled out by an implant), new aphasia after a T-cell engager is
graded like ICANS and the blinatumomab label's interruption is named, the spine MRI leads for myelitis
with paraparesis, a myositis with raised troponin is critical with the cardiac work-up, every drug of a
combination is listed, the summary never repeats the therapy class its headline names, and the German
summary says "neurologisches Konsil"."""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Any

import pytest
from clinical_support import (
    PATIENT,
    SUBJECT,
    TODAY,
    administration,
    brain_mri,
    brain_mri_order,
    condition,
    day,
    draft,
    evaluator,
    note,
    score,
    timeline,
)

NEUROTOXICITY = "possible-neurotoxicity"
THERAPY_HEADINGS = ("**Therapy on record**", "**Dokumentierte Therapie**")


def cards_in(
    language: str, record: list[dict[str, Any]], drafts: list[dict[str, Any]] | None = None
) -> list[dict[str, Any]]:
    return evaluator().cards_from_timeline(
        timeline(record, drafts, TODAY),
        now=datetime.combine(TODAY, time(10, 0), tzinfo=UTC),
        patient_id=PATIENT,
        user_id="Practitioner/dr-1",
        encounter_id=None,
        language=language,
    )


def card_in(language: str, record: list[dict[str, Any]], topic: str = NEUROTOXICITY) -> dict[str, Any]:
    (card,) = [c for c in cards_in(language, record) if c["source"]["topic"]["code"] == topic]
    return card


def therapy_section(card: dict[str, Any]) -> list[str]:
    lines = card["detail"].splitlines()
    start = next(index for index, line in enumerate(lines) if line in THERAPY_HEADINGS)
    return [line for line in lines[start + 1 :] if line.startswith("- ")]


# --- I1. a combination names every drug in the therapy list --------------------------------------------
# (case, record, the agents the therapy list names)
THERAPY_LISTS: list[tuple[str, list[dict[str, Any]], set[str]]] = [
    (
        "nivolumab with ipilimumab, ipilimumab given last: both named",
        [
            administration("nivolumab", -60),
            administration("ipilimumab", -60),
            administration("nivolumab", -30),
            administration("ipilimumab", -20),
            note("new generalized seizure", 0),
        ],
        {"nivolumab", "ipilimumab"},
    ),
    (
        "nivolumab alone, three doses: day 0 and the latest only",
        [
            administration("nivolumab", -60),
            administration("nivolumab", -40),
            administration("nivolumab", -20),
            note("new generalized seizure", 0),
        ],
        {"nivolumab"},
    ),
]


@pytest.mark.parametrize("language", ["en", "de"])
@pytest.mark.parametrize(("record", "agents"), [pytest.param(*row[1:], id=row[0]) for row in THERAPY_LISTS])
def test_the_therapy_list_names_every_drug_of_a_combination(
    language: str, record: list[dict[str, Any]], agents: set[str]
) -> None:
    lines = therapy_section(card_in(language, record))
    named = {line[2:].split(":")[0].lower() for line in lines}  # German capitalises (class W)
    assert named == agents, lines
    assert len(lines) == len(set(lines)) <= 1 + len(agents), lines


# --- I2. the summary never repeats the class its headline already names ---------------------------------


@pytest.mark.parametrize("language", ["en", "de"])
def test_a_delayed_neurotoxicity_summary_says_car_t_once(language: str) -> None:
    card = card_in(language, [administration("Carvykti", -75), note("New parkinsonism with bradykinesia", 0)])
    assert card["summary"].count("CAR-T") == 1, card["summary"]


def test_a_summary_keeps_the_agents_its_headline_does_not_name() -> None:
    card = card_in("en", [administration("Yescarta", -5), note("new generalized seizure", 0)])
    assert "after axicabtagene ciloleucel:" in card["summary"], card["summary"]


# --- I3. German ward term ---------------------------------------------------------------------------------
# (case, record, the German summary's words)
GERMAN_CONSULT: list[tuple[str, list[dict[str, Any]], str]] = [
    (
        "central (seizure after CAR-T)",
        [administration("Yescarta", -5), note("new generalized seizure", 0)],
        "neurologisches Konsil",
    ),
    (
        "neuromuscular (myasthenia under nivolumab)",
        [administration("nivolumab", -20), note("new myasthenia gravis", 0)],
        "neurologisches Konsil",
    ),
    (
        "pituitary, critical (bitemporal hemianopia under ipilimumab)",
        [administration("ipilimumab", -40), note("new bitemporal hemianopia", 0)],
        "endokrinologisches Konsil",
    ),
]


@pytest.mark.parametrize(("record", "words"), [pytest.param(*row[1:], id=row[0]) for row in GERMAN_CONSULT])
def test_the_german_summary_asks_for_a_consult(record: list[dict[str, Any]], words: str) -> None:
    summary = card_in("de", record)["summary"]
    assert words in summary, summary
    assert "Vorstellung" not in summary, summary


# --- E. the summary says what the card advises when it proposes no order ---------------------------------

PACEMAKER = condition(-900, code="Z95.0")
SEIZURE_AFTER_CAR_T = [administration("Yescarta", -5), note("new generalized seizure", 0)]
HYPOPHYSITIS = [administration("ipilimumab", -40), condition(-1, code="E23.6")]


def gadolinium_allergy() -> dict[str, Any]:
    return {
        "resourceType": "AllergyIntolerance",
        "id": "allergy-gd",
        "clinicalStatus": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical",
                    "code": "active",
                }
            ]
        },
        "code": {"text": "Gadolinium contrast"},
        "patient": SUBJECT,
        "recordedDate": day(-400),
    }


def english_and_german(english: str, german: str) -> dict[str, str]:
    return {"en": english, "de": german}


# (case, record, draft orders, topic, the summary's words per language, words it must not hold, suggests)
NO_ORDER: list[
    tuple[str, list[dict[str, Any]], list[dict[str, Any]], str, dict[str, str], dict[str, str], bool]
] = [
    (
        "seizure after CAR-T, brain MRI done today: review it, no urgent MRI",
        [*SEIZURE_AFTER_CAR_T, brain_mri(0)],
        [],
        NEUROTOXICITY,
        english_and_german("neurology review (brain MRI of 2026-06-15 on record)", "liegt vor"),
        english_and_german("urgent brain MRI", "dringliche MRT"),
        False,
    ),
    (
        "hypophysitis under ipilimumab, brain MRI done since: endocrine review",
        [*HYPOPHYSITIS, brain_mri(0)],
        [],
        NEUROTOXICITY,
        english_and_german("cortisol and endocrine review (MRI of 2026-06-15 on record)", "liegt vor"),
        english_and_german("pituitary MRI", "MRT der Hypophyse"),
        False,
    ),
    (
        "seizure after CAR-T, brain MRI ordered (not done): the urgent MRI stays advised",
        [*SEIZURE_AFTER_CAR_T, brain_mri_order(0)],
        [],
        NEUROTOXICITY,
        english_and_german("urgent brain MRI and neurology review", "dringliche MRT des Schädels"),
        english_and_german("on record", "liegt vor"),
        False,
    ),
    (
        "seizure after CAR-T, brain MRI before the seizure: the urgent MRI is suggested",
        [*SEIZURE_AFTER_CAR_T, brain_mri(-3)],
        [],
        NEUROTOXICITY,
        english_and_german("urgent brain MRI and neurology review", "dringliche MRT des Schädels"),
        english_and_german("on record", "liegt vor"),
        True,
    ),
    (
        "seizure after CAR-T, gadolinium allergy: a non-contrast MRI or CT, no order",
        [*SEIZURE_AFTER_CAR_T, gadolinium_allergy()],
        [],
        NEUROTOXICITY,
        english_and_german("urgent non-contrast brain MRI or CT", "native MRT des Schädels oder CT"),
        english_and_german("urgent brain MRI", "dringliche MRT des Schädels"),
        False,
    ),
    (
        "CAR-T being ordered, pacemaker: baseline imaging, MRI contraindicated",
        [PACEMAKER],
        [draft("Yescarta")],
        "baseline-brain-mri",
        english_and_german(
            "Baseline imaging before axicabtagene ciloleucel (CAR-T): MRI contraindicated",
            "MRT wegen Implantat kontraindiziert",
        ),
        english_and_german("Baseline brain MRI advised", "Baseline-MRT des Schädels vor"),
        False,
    ),
    (
        "CAR-T being ordered, gadolinium allergy: baseline MRI, protocol with radiology",
        [gadolinium_allergy()],
        [draft("Yescarta")],
        "baseline-brain-mri",
        english_and_german("contrast ruled out, protocol with radiology", "Kontrastmittel ausgeschlossen"),
        english_and_german("MRI contraindicated", "kontraindiziert"),
        False,
    ),
    (
        "CAR-T being ordered, no contraindication: baseline MRI advised, with the order",
        [],
        [draft("Yescarta")],
        "baseline-brain-mri",
        english_and_german("Baseline brain MRI advised before", "Baseline-MRT des Schädels vor"),
        english_and_german("contraindicated", "kontraindiziert"),
        True,
    ),
]


@pytest.mark.parametrize("language", ["en", "de"])
@pytest.mark.parametrize(
    ("record", "drafts", "topic", "said", "unsaid", "suggests"),
    [pytest.param(*row[1:], id=row[0]) for row in NO_ORDER],
)
def test_the_summary_says_what_the_card_advises_when_it_orders_nothing(
    language: str,
    record: list[dict[str, Any]],
    drafts: list[dict[str, Any]],
    topic: str,
    said: dict[str, str],
    unsaid: dict[str, str],
    suggests: bool,
) -> None:
    (card,) = [c for c in cards_in(language, record, drafts) if c["source"]["topic"]["code"] == topic]
    assert said[language] in card["summary"], card["summary"]
    assert unsaid[language] not in card["summary"], card["summary"]
    assert ("suggestions" in card) == suggests


@pytest.mark.parametrize("language", ["en", "de"])
def test_the_work_up_reviews_the_brain_mri_done_since_instead_of_ordering_one(language: str) -> None:
    card = card_in(language, [*SEIZURE_AFTER_CAR_T, brain_mri(0)])
    advised = next(
        line for line in card["detail"].splitlines() if line.startswith(("**Advised:**", "**Empfohlen:**"))
    )
    assert ("neuroradiology" if language == "en" else "Neuroradiologie") in advised, advised
    assert not advised.split("** ")[1].startswith(("urgent MRI", "dringliche MRT")), advised


@pytest.mark.parametrize("language", ["en", "de"])
def test_a_baseline_with_an_implant_offers_ct_as_the_baseline_not_as_an_urgent_question(
    language: str,
) -> None:
    (card,) = [
        c
        for c in cards_in(language, [PACEMAKER], [draft("Yescarta")])
        if c["source"]["topic"]["code"] == "baseline-brain-mri"
    ]
    assert card["detail"].startswith(("**Baseline imaging advised", "**Baseline-Bildgebung empfohlen")), card[
        "detail"
    ]
    assert ("alternative baseline" if language == "en" else "alternative Baseline") in card["detail"]
    assert "urgent question" not in card["detail"] and "dringliche Fragestellung" not in card["detail"]


# --- F2. myelitis with paraparesis: the spine MRI leads, the brain MRI follows -----------------------------
# (case, record, the work-up that leads, the summary's action)
MYELITIS: list[tuple[str, list[dict[str, Any]], str, str]] = [
    (
        "transverse myelitis with paraparesis under nivolumab: spine first (summary: both MRIs, class E')",
        [
            administration("nivolumab", -30),
            note("transverse myelitis at T6 with paraparesis of both legs", 0),
        ],
        "urgent MRI of the whole spine",
        "urgent brain and whole-spine MRI and neurology review",
    ),
    (
        "suspected myelitis with paraplegia under pembrolizumab: spine first",
        [administration("pembrolizumab", -30), note("paraplegia, suspected myelitis", 0)],
        "urgent MRI of the whole spine",
        "urgent brain and whole-spine MRI and neurology review",
    ),
    (
        "myelitis with hemiparesis (the brain too): brain first",
        [administration("nivolumab", -30), note("transverse myelitis; new right hemiparesis", 0)],
        "urgent MRI brain",
        "urgent brain MRI and neurology review",
    ),
    (
        "paraparesis alone after CAR-T (ASTCT motor domain): brain first",
        [administration("Yescarta", -5), note("new paraparesis", 0)],
        "urgent MRI brain",
        "urgent brain MRI and neurology review",
    ),
    (
        "myelitis alone under nivolumab: spine",
        [administration("nivolumab", -30), note("transverse myelitis", 0)],
        "urgent MRI of the whole spine",
        "urgent spine MRI and neurology review",
    ),
]


@pytest.mark.parametrize(
    ("record", "lead", "action"), [pytest.param(*row[1:], id=row[0]) for row in MYELITIS]
)
def test_the_work_up_leads_with_the_spine_when_a_myelitis_explains_the_paraparesis(
    record: list[dict[str, Any]], lead: str, action: str
) -> None:
    card = card_in("en", record)
    advised = next(line for line in card["detail"].splitlines() if line.startswith("**Advised:**"))
    assert advised.startswith(f"**Advised:** {lead}"), advised
    assert card["summary"].endswith(action), card["summary"]
    assert card["indicator"] == "critical"


def test_myelitis_with_paraparesis_still_orders_the_brain_mri_second() -> None:
    card = card_in(
        "de", [administration("nivolumab", -30), note("Querschnittsmyelitis Th6 mit Paraparese der Beine", 0)]
    )
    advised = next(line for line in card["detail"].splitlines() if line.startswith("**Empfohlen:**"))
    assert advised.index("Wirbelsäule") < advised.index("MRT des Schädels"), advised
    assert "dringliche MRT des Schädels und der gesamten Wirbelsäule" in card["summary"]  # class E'
    assert card["suggestions"][0]["actions"][0]["resource"]["priority"] == "urgent"


# --- F3. myositis with a raised troponin: the overlap is critical, with the cardiac work-up ---------------
NIVOLUMAB = administration("nivolumab", -30)


def troponin(value: float, high: float | None = 14, interpretation: str | None = None) -> dict[str, Any]:
    """A troponin T result (LOINC 6598-7) in ng/L, with its reference range or its interpretation flag."""
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        "id": f"trop-{value}-{interpretation}",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "6598-7"}], "text": "Troponin T hs"},
        "valueQuantity": {"value": value, "unit": "ng/L"},
        "subject": SUBJECT,
        "effectiveDateTime": day(0),
    }
    if high is not None:
        resource["referenceRange"] = [{"high": {"value": high, "unit": "ng/L"}}]
    if interpretation:
        system = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
        resource["interpretation"] = [{"coding": [{"system": system, "code": interpretation}]}]
    return resource


SUSPECTED_MYOSITIS = note("suspected myositis", 0)
# (case, record, indicator or None for no card, the cardiac work-up named)
OVERLAP: list[tuple[str, list[dict[str, Any]], str | None, bool]] = [
    (
        "suspected myositis, troponin T 85 ng/L above its range: critical, cardiac work-up",
        [NIVOLUMAB, SUSPECTED_MYOSITIS, troponin(85)],
        "critical",
        True,
    ),
    (
        "suspected myositis, troponin flagged H without a range: critical, cardiac work-up",
        [NIVOLUMAB, SUSPECTED_MYOSITIS, troponin(85, high=None, interpretation="H")],
        "critical",
        True,
    ),
    (
        "suspected myositis, troponin T 8 ng/L within its range: warning, no cardiac line",
        [NIVOLUMAB, SUSPECTED_MYOSITIS, troponin(8)],
        "warning",
        False,
    ),
    (
        "troponin above its range alone under nivolumab: no neurotoxicity card",
        [NIVOLUMAB, troponin(85)],
        None,
        False,
    ),
    (
        "suspected myositis with raised troponin: critical, cardiac work-up",
        [
            NIVOLUMAB,
            note("proximal weakness, CK 4500, troponin elevated, suspected myositis and myocarditis", 0),
        ],
        "critical",
        True,
    ),
    (
        "coded myositis and coded myocarditis: critical, cardiac work-up",
        [NIVOLUMAB, condition(0, code="M60.9"), condition(0, code="I40.9")],
        "critical",
        True,
    ),
    (
        "myasthenia gravis with raised troponin: critical, cardiac work-up",
        [NIVOLUMAB, note("new myasthenia gravis, raised troponin", 0)],
        "critical",
        True,
    ),
    (
        "suspected myositis, troponin normal: warning, no cardiac line",
        [NIVOLUMAB, note("suspected myositis; troponin normal", 0)],
        "warning",
        False,
    ),
    (
        "suspected myositis, no troponin elevation: warning, no cardiac line",
        [NIVOLUMAB, note("suspected myositis, no troponin elevation", 0)],
        "warning",
        False,
    ),
    (
        "myocarditis alone under nivolumab: a cardiac irAE, no neurotoxicity card",
        [NIVOLUMAB, note("immune-mediated myocarditis, troponin elevated", 0)],
        None,
        False,
    ),
]


@pytest.mark.parametrize(
    ("record", "indicator", "cardiac"), [pytest.param(*row[1:], id=row[0]) for row in OVERLAP]
)
def test_a_myositis_with_raised_troponin_is_critical_with_the_cardiac_work_up(
    record: list[dict[str, Any]], indicator: str | None, cardiac: bool
) -> None:
    found = [c for c in cards_in("en", record) if c["source"]["topic"]["code"] == NEUROTOXICITY]
    if indicator is None:
        assert found == []
        return
    (card,) = found
    assert card["indicator"] == indicator
    assert ("cardiology review today" in card["detail"]) == cardiac, card["detail"]
    assert ("ECG" in card["summary"]) == cardiac, card["summary"]


def test_the_german_overlap_card_asks_for_ecg_and_a_cardiology_consult() -> None:
    card = card_in("de", [NIVOLUMAB, note("Proximale Schwäche, Troponin erhöht, V.a. Myositis", 0)])
    assert card["indicator"] == "critical"
    assert "EKG, Troponin, CK, kardiologisches und neurologisches Konsil" in card["summary"]
    assert "Echokardiographie" in card["detail"]


# --- F1. new aphasia after a T-cell engager: graded like ICANS, the blinatumomab label named ----------------


def blinatumomab_running(offset: int) -> dict[str, Any]:
    return administration(
        "Blincyto (blinatumomab) 28 mcg/day continuous infusion", offset, status="in-progress"
    )


def r47_01(text: str) -> dict[str, Any]:
    return condition(0, code="R47.01", text=text)


# (case, record, indicator, the headline, the blinatumomab label named)
APHASIA: list[tuple[str, list[dict[str, Any]], str, str, bool]] = [
    (
        "new aphasia on blinatumomab day 3: ICANS grade 2, the label",
        [blinatumomab_running(-3), note("new aphasia and tremor, awake", 0)],
        "critical",
        "Possible ICANS grade 2",
        True,
    ),
    (
        "word-finding difficulty on blinatumomab: ungraded, the label",
        [blinatumomab_running(-3), note("mild word-finding difficulty", 0)],
        "warning",
        "Possible ICANS",
        True,
    ),
    (
        "aphasia with ICE 2 on blinatumomab: grade 3, the label",
        [blinatumomab_running(-3), note("expressive aphasia", 0), score("ICE score", 2, 0)],
        "critical",
        "Possible ICANS grade 3",
        True,
    ),
    (
        "new aphasia after teclistamab: grade 2, no blinatumomab label",
        [administration("teclistamab step-up dose", -2), note("new aphasia", 0)],
        "critical",
        "Possible ICANS grade 2",
        False,
    ),
    (
        "R47.01 'Expressive aphasia' after CAR-T: the code's text narrows it, grade 2",
        [administration("Yescarta", -5), r47_01("Expressive aphasia")],
        "critical",
        "Possible ICANS grade 2",
        False,
    ),
    (
        "R47.01 'Word-finding difficulty' after CAR-T: ungraded",
        [administration("Yescarta", -5), r47_01("Word-finding difficulty")],
        "warning",
        "Possible ICANS",
        False,
    ),
    (
        "new aphasia under nivolumab: an irAE, not ASTCT-graded",
        [administration("nivolumab", -30), note("new aphasia", 0)],
        "warning",
        "Possible neurological irAE",
        False,
    ),
]


@pytest.mark.parametrize(
    ("record", "indicator", "headline", "label"), [pytest.param(*row[1:], id=row[0]) for row in APHASIA]
)
def test_new_aphasia_is_graded_like_icans_and_blinatumomab_names_its_label(
    record: list[dict[str, Any]], indicator: str, headline: str, label: bool
) -> None:
    card = card_in("en", record)
    assert card["indicator"] == indicator
    assert card["detail"].startswith(f"**{headline}.**"), card["detail"][:80]
    assert ("Blinatumomab label" in card["detail"]) == label
    links = [link["url"] for link in card.get("links", [])]
    assert ("https://www.blincytohcp.com/rr/dosing/adjustments" in links) == label


def test_the_german_blinatumomab_card_names_the_interruption_of_the_infusion() -> None:
    card = card_in(
        "de", [blinatumomab_running(-3), note("Seit dem Morgen Tremor beider Hände und Aphasie, wach.", 0)]
    )
    assert card["indicator"] == "critical"
    assert card["summary"].startswith("Mögliches ICANS Grad 2 nach Blinatumomab")
    assert "Infusion ab Grad 3 unterbrochen" in card["detail"]


def test_a_german_coded_paraparesis_with_myelitis_leads_with_the_spine() -> None:
    coded = condition(0)
    coded["code"] = {
        "coding": [{"system": "http://fhir.de/CodeSystem/bfarm/icd-10-gm", "code": "G82.12"}],
        "text": "Spastische Paraparese der Beine",
    }
    card = card_in("de", [NIVOLUMAB, coded, note("Querschnittsmyelitis Th6", 0)])
    assert "dringliche MRT des Schädels und der gesamten Wirbelsäule" in card["summary"], card["summary"]
