"""The classes of error the confirmatory German review left open, in English and German alike:

- S  a suspected CNS inflammation (encephalitis, meningoencephalitis, meningitis) gets the same-day
     work-up: urgent MRI, lumbar puncture with HSV PCR, EEG; a new encephalopathy under a checkpoint
     inhibitor alone asks whether it is an immune encephalitis;
- E' the summary fits the syndrome and the order: Guillain-Barre syndrome names LP, nerve conduction and
     vital capacity; myelitis with paraparesis names the brain MRI it orders with the spine MRI;
- M  a brain MRI done before the finding is named, with why a new one is still advised;
- W  German names: devices, agents with a capital, no doubled "nach", one myasthenia paragraph.
"""

from __future__ import annotations

from typing import Any

import pytest
from clinical_support import CARDS_DIR, KNOWLEDGE_DIR, administration, brain_mri, condition, note, score
from test_german_review_cards import NEURO, PEMBROLIZUMAB, SAME_DAY, advised, car_t, cards_in, priority

from clinical.knowledge import display_names, load_card_translations, load_knowledge

ENGLISH_AND_GERMAN = ("en", "de")
LUMBAR_PUNCTURE = {"en": "Lumbar puncture advised", "de": "Lumbalpunktion empfohlen"}
HSV = "HSV"
EEG = "EEG"
ENCEPHALITIS_QUESTION = {"en": "immune-related encephalitis", "de": "immunvermittelten Enzephalitis"}

# --- S: suspected CNS inflammation keeps the same-day work-up ---

# (case, record, the LP line, the encephalitis question, same-day)
CNS_INFLAMMATION: list[tuple[str, list[dict[str, Any]], bool, bool, bool]] = [
    (
        "'V.a. Enzephalitis' (G04.9, suspected) under pembrolizumab: LP, EEG, same day",
        [*PEMBROLIZUMAB, condition(-1, text="V.a. Enzephalitis", code="G04.9")],
        True,
        False,
        True,
    ),
    (
        "'suspected meningoencephalitis, fever, meningism' in a note: LP, EEG, same day",
        [*PEMBROLIZUMAB, note("Fever, meningism. Suspected meningoencephalitis (DD HSV).", -1)],
        True,
        False,
        True,
    ),
    (
        "'V.a. Meningoenzephalitis' in a German note: LP, same day",
        [*PEMBROLIZUMAB, note("Fieber, Meningismus. V.a. Meningoenzephalitis (DD HSV).", -1)],
        True,
        False,
        True,
    ),
    (
        "confirmed encephalitis: LP, same day (as before)",
        [*PEMBROLIZUMAB, condition(-1, text="Autoimmune encephalitis", code="G04.81")],
        True,
        False,
        True,
    ),
    (
        "new confusion and word-finding difficulty under pembrolizumab: the encephalitis question",
        [*PEMBROLIZUMAB, note("New confusion and word-finding difficulty since yesterday.", -1)],
        False,
        True,
        True,
    ),
]


@pytest.mark.parametrize(
    ("record", "lumbar_puncture", "question", "same_day"),
    [pytest.param(*case[1:], id=case[0]) for case in CNS_INFLAMMATION],
)
def test_a_suspected_cns_inflammation_gets_the_lp_eeg_and_same_day_work_up(
    record: list[dict[str, Any]], lumbar_puncture: bool, question: bool, same_day: bool
) -> None:
    for language in ENGLISH_AND_GERMAN:
        card = cards_in(language, record)[NEURO]
        work_up = advised(card)
        assert (LUMBAR_PUNCTURE[language] in work_up) == lumbar_puncture, work_up
        assert (HSV in work_up) == (lumbar_puncture or question), work_up
        assert EEG in work_up, work_up
        assert (ENCEPHALITIS_QUESTION[language] in work_up) == question, work_up
        assert bool(SAME_DAY[language].search(card["summary"])) == same_day, card["summary"]
        assert priority(card) == ("urgent" if same_day else "routine")


# (case, record): no LP, no encephalitis question
NO_CNS_WORK_UP: list[tuple[str, list[dict[str, Any]]]] = [
    (
        "ICANS after CAR-T (confusion, ICE 6): no encephalitis question, no LP",
        [car_t(-5), note("confused, disoriented", -1), score("ICE score", 6, -1)],
    ),
    (
        "encephalitis ruled out in a note: no card content about LP",
        [*PEMBROLIZUMAB, note("Encephalitis ruled out by lumbar puncture. Mild headache.", -1)],
    ),
    (
        "myasthenia under pembrolizumab: neuromuscular, no encephalitis question",
        [*PEMBROLIZUMAB, condition(-1, text="Myasthenia gravis", code="G70.00")],
    ),
]


@pytest.mark.parametrize("record", [pytest.param(case[1], id=case[0]) for case in NO_CNS_WORK_UP])
def test_no_lp_or_encephalitis_question_where_no_cns_inflammation_is_in_question(
    record: list[dict[str, Any]],
) -> None:
    for language in ENGLISH_AND_GERMAN:
        card = cards_in(language, record).get(NEURO)
        if card is None:
            continue
        work_up = advised(card)
        assert LUMBAR_PUNCTURE[language] not in work_up, work_up
        assert ENCEPHALITIS_QUESTION[language] not in work_up, work_up


# --- E': the summary fits the syndrome and the order ---

GBS_SUMMARY = {
    "en": ("lumbar puncture", "nerve conduction"),
    "de": ("Lumbalpunktion", "Neurographie"),
}
MYOSITIS_SUMMARY = {"en": "CK, troponin, EMG", "de": "CK, Troponin, EMG"}


@pytest.mark.parametrize(
    "record",
    [
        pytest.param([*PEMBROLIZUMAB, condition(-1, text="Guillain-Barre syndrome", code="G61.0")], id="GBS"),
        pytest.param(
            [
                *PEMBROLIZUMAB,
                note("Ascending flaccid weakness, areflexia. Suspected Guillain-Barre syndrome.", -1),
            ],
            id="suspected GBS in a note",
        ),
    ],
)
def test_the_guillain_barre_summary_names_its_own_lead_tests(record: list[dict[str, Any]]) -> None:
    for language in ENGLISH_AND_GERMAN:
        summary = cards_in(language, record)[NEURO]["summary"]
        assert all(test in summary for test in GBS_SUMMARY[language]), summary
        assert MYOSITIS_SUMMARY[language] not in summary, summary


def test_a_myositis_summary_keeps_ck_troponin_emg() -> None:
    record = [*PEMBROLIZUMAB, condition(-1, text="Myositis", code="M60.9")]
    for language in ENGLISH_AND_GERMAN:
        summary = cards_in(language, record)[NEURO]["summary"]
        assert MYOSITIS_SUMMARY[language] in summary, summary


BOTH_MRIS = {"en": "brain and whole-spine MRI", "de": "MRT des Schädels und der gesamten Wirbelsäule"}


def test_myelitis_with_paraparesis_summary_names_the_brain_mri_it_orders() -> None:
    record = [
        *PEMBROLIZUMAB,
        condition(-1, text="Transverse myelitis", code="G37.3"),
        note("New paraparesis of both legs.", -1),
    ]
    why = {"en": "a lesion of the brain can cause the paraparesis", "de": "Läsion des Gehirns die Paraparese"}
    for language in ENGLISH_AND_GERMAN:
        card = cards_in(language, record)[NEURO]
        assert BOTH_MRIS[language] in card["summary"], card["summary"]
        assert why[language] in advised(card), advised(card)
        assert priority(card) == "urgent"


def test_myelitis_alone_orders_nothing_and_says_the_spine_mri() -> None:
    record = [*PEMBROLIZUMAB, condition(-1, text="Transverse myelitis", code="G37.3")]
    for language in ENGLISH_AND_GERMAN:
        card = cards_in(language, record)[NEURO]
        assert BOTH_MRIS[language] not in card["summary"], card["summary"]
        assert priority(card) is None


# --- M: a brain MRI before the finding is named ---

BEFORE = {"en": "predates the finding", "de": "vor dem Befund"}


@pytest.mark.parametrize(
    ("mri_offset", "named"),
    [
        pytest.param(-2, True, id="brain MRI the day before the finding: named, repeat still advised"),
        pytest.param(-60, False, id="brain MRI two months before: not named"),
        pytest.param(-6, False, id="baseline brain MRI the day before the CAR-T infusion: not named"),
    ],
)
def test_a_brain_mri_before_the_finding_is_named(mri_offset: int, named: bool) -> None:
    record = [car_t(-5), brain_mri(mri_offset), score("ICE score", 5, -1)]
    for language in ENGLISH_AND_GERMAN:
        card = cards_in(language, record)[NEURO]
        assert (BEFORE[language] in card["summary"]) == named, card["summary"]
        assert priority(card) == "urgent"  # the repeat is still advised


def test_a_brain_mri_after_the_finding_is_on_record_not_before() -> None:
    record = [car_t(-5), score("ICE score", 5, -2), brain_mri(-1)]
    for language in ENGLISH_AND_GERMAN:
        card = cards_in(language, record)[NEURO]
        assert BEFORE[language] not in card["summary"], card["summary"]
        assert "suggestions" not in card


# --- W: German wording ---


def test_every_device_has_its_german_name() -> None:
    german = load_card_translations(CARDS_DIR)["de"].common.mri_caution.names
    for device in load_knowledge(KNOWLEDGE_DIR).context.mri_safety.devices:
        for what in (device.display, f"{device.display} (MR unsafe)"):
            assert what in german and german[what] != what, what


def test_a_pacemaker_is_named_in_german() -> None:
    record = [
        *PEMBROLIZUMAB,
        condition(-900, text="Presence of cardiac pacemaker", code="Z95.0"),
        note("generalised tonic-clonic seizure", -1),
    ]
    assert "Herzschrittmacher" in cards_in("de", record)[NEURO]["detail"]
    assert "cardiac pacemaker" in cards_in("en", record)[NEURO]["detail"]


def test_agents_are_capitalised_in_german() -> None:
    names = display_names(load_knowledge(KNOWLEDGE_DIR), "de")
    assert names["pembrolizumab"] == "Pembrolizumab"
    assert names["tisagenlecleucel"] == "Tisagenlecleucel"
    assert names["axicabtagene ciloleucel"] == "Axicabtagen-Ciloleucel"
    card = cards_in("de", [*PEMBROLIZUMAB, note("generalised tonic-clonic seizure", -1)])[NEURO]
    assert "Pembrolizumab" in card["summary"] and "pembrolizumab" not in card["detail"]


def test_delayed_car_t_summary_says_the_finding_day_and_one_nach() -> None:
    record = [car_t(-75), note("new parkinsonism, bradykinesia", -2)]
    card = cards_in("de", record)[NEURO]
    assert "Befund an Tag 73" in card["summary"], card["summary"]
    assert card["summary"].count(" nach ") <= 1, card["summary"]


def test_myasthenia_work_up_is_said_once() -> None:
    record = [
        *PEMBROLIZUMAB,
        condition(-1, text="Myasthenia gravis", code="G70.00"),
        note("ptosis and diplopia", -1),
    ]
    for language in ENGLISH_AND_GERMAN:
        detail = cards_in(language, record)[NEURO]["detail"]
        assert detail.count("MuSK") == 1, detail


def test_agents_keep_their_english_names_in_english() -> None:
    card = cards_in("en", [administration("pembrolizumab 200 mg", -19), note("seizure", -1)])[NEURO]
    assert "pembrolizumab" in card["summary"]
