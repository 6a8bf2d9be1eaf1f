"""What the second confirmatory German clinical review (2026-12-05, validation rows 220-224) found still
misread, table-driven over every place the text can live (Observation value and note, DiagnosticReport
conclusion and presentedForm, Condition code.text), each table with cells that fire and cells that stay
silent:

- H'' a suspicion the work-up did not confirm is no finding ("Der V.a. ICANS hat sich nicht bestätigt",
      "X was considered but is unlikely", "not confirmed"); the question put to a consultant
      ("Fragestellung: ICANS?") is at most a suspicion, as "zum Ausschluss";
- B'' "Benennstörung" (the ICE naming item) and "Schreibprobe unleserlich" (the ICE writing item) on
      CAR-T read as the English naming and writing impairment;
- wording: the EEG is said once in an encephalitis card, and no meningitis card speaks of encephalitis.
"""

from __future__ import annotations

from typing import Any

import pytest
from clinical_support import TEXT_PLACES, administration, by_topic, cards, text_in_condition, topics

NEURO = "possible-neurotoxicity"


def car_t_day_5() -> list[dict[str, Any]]:
    return [administration("Yescarta (Axicabtagen-Ciloleucel) Infusionsdispersion", -5)]


def pembrolizumab() -> list[dict[str, Any]]:
    return [administration("Pembrolizumab 200 mg i.v.", offset) for offset in (-42, -21)]


PLACES = {
    place: TEXT_PLACES[place]
    for place in (
        "Observation value",
        "Observation note",
        "DiagnosticReport conclusion",
        "DiagnosticReport presentedForm",
        "Condition code.text",
    )
}

# (cell, text, exposure, expected indicator of the neurotoxicity card or None)
NOT_CONFIRMED: list[tuple[str, str, str, str | None]] = [
    (
        "V.a. hat sich nicht bestätigt | q2 | silent",
        "Der V.a. ICANS hat sich nicht bestätigt.",
        "car_t",
        None,
    ),
    ("nicht bestätigt | negated | silent", "V.a. Enzephalitis nicht bestätigt.", "car_t", None),
    ("Verdacht nicht bestätigt | negated | silent", "ICANS: Verdacht nicht bestätigt.", "car_t", None),
    (
        "hat sich nicht erhärtet | negated | silent",
        "Verdacht auf ICANS hat sich nicht erhärtet.",
        "car_t",
        None,
    ),
    ("considered but is unlikely | q5 | silent", "Encephalitis was considered but is unlikely.", "ici", None),
    (
        "considered and ruled out | negated | silent",
        "Encephalitis was considered and ruled out.",
        "ici",
        None,
    ),
    ("was not confirmed | negated | silent", "Suspected encephalitis was not confirmed.", "ici", None),
    ("not confirmed | negated | silent", "ICANS not confirmed.", "car_t", None),
    ("V.a. alone | suspicion | warning", "V.a. ICANS.", "car_t", "warning"),
    ("considered alone | finding | critical", "Encephalitis was considered.", "ici", "critical"),
    (
        "negation is local | the seizure stays | critical",
        "Krampfanfall heute früh. Der V.a. Enzephalitis hat sich nicht bestätigt.",
        "car_t",
        "critical",
    ),
    ("bestätigt | confirmed | warning", "Der V.a. ICANS hat sich bestätigt.", "car_t", "warning"),
]

# A question put to a consultant or a test: the reason for it, as "zum Ausschluss" (suspected).
QUESTIONS: list[tuple[str, str, str, str | None]] = [
    ("Fragestellung: ICANS? | q3 | warning", "Fragestellung: ICANS?", "car_t", "warning"),
    (
        "Fragestellung without ? | an indication can be a fact | critical",
        "Fragestellung: Enzephalitis",
        "ici",
        "critical",
    ),
    ("Fragestellung nach | suspected | warning", "Fragestellung nach Enzephalitis", "ici", "warning"),
    ("Frage nach | suspected | warning", "Frage nach Enzephalitis", "ici", "warning"),
    ("zum Ausschluss | the mirror | warning", "LP zum Ausschluss einer Enzephalitis.", "ici", "warning"),
    ("Enzephalitis affirmed | control | critical", "Enzephalitis.", "ici", "critical"),
    (
        "question answered no | record f03 | silent",
        "Fragestellung: ICANS? Befund: ICE 10/10. Beurteilung: Der V.a. ICANS hat sich nicht bestätigt.",
        "car_t",
        None,
    ),
    (
        "question answered no | English | silent",
        "Clinical question: encephalitis? Assessment: no encephalitis.",
        "ici",
        None,
    ),
    (
        "answer before the question | still asked | warning",
        "Keine Enzephalitis im Vorbefund. Fragestellung: Enzephalitis?",
        "ici",
        "warning",
    ),
    (
        "affirmed is never answered away | critical",
        "Enzephalitis. Verlauf: keine Enzephalitis-Zeichen mehr?",
        "ici",
        "critical",
    ),
]

# B'': the ICE naming and writing items in German (CAR-T day 5).
WORDS: list[tuple[str, str, str, str | None]] = [
    ("Benennstörung | q7 | warning", "Benennstörung (kann Uhr nicht benennen).", "car_t", "warning"),
    ("Schreibprobe unleserlich | q8 | warning", "Schreibprobe unleserlich.", "car_t", "warning"),
    ("Schreibprobe nicht möglich | ICE writing | warning", "Schreibprobe nicht möglich.", "car_t", "warning"),
    ("keine Benennstörung | negated | silent", "Keine Benennstörung.", "car_t", None),
    ("Schreibprobe unauffällig | normal | silent", "Schreibprobe unauffällig.", "car_t", None),
]


def _therapy(exposure: str) -> list[dict[str, Any]]:
    return car_t_day_5() if exposure == "car_t" else pembrolizumab()


def _indicator(place: str, text: str, exposure: str) -> str | None:
    return topics(cards([*_therapy(exposure), PLACES[place](text)])).get(NEURO)


@pytest.mark.parametrize("place", list(PLACES))
@pytest.mark.parametrize(
    ("text", "exposure", "indicator"), [pytest.param(t, x, i, id=n) for n, t, x, i in NOT_CONFIRMED]
)
def test_a_suspicion_not_confirmed_is_no_finding(
    place: str, text: str, exposure: str, indicator: str | None
) -> None:
    assert _indicator(place, text, exposure) == indicator


@pytest.mark.parametrize("place", list(PLACES))
@pytest.mark.parametrize(
    ("text", "exposure", "indicator"), [pytest.param(t, x, i, id=n) for n, t, x, i in QUESTIONS]
)
def test_a_question_for_a_test_is_at_most_a_suspicion(
    place: str, text: str, exposure: str, indicator: str | None
) -> None:
    assert _indicator(place, text, exposure) == indicator


@pytest.mark.parametrize("place", list(PLACES))
@pytest.mark.parametrize(
    ("text", "exposure", "indicator"), [pytest.param(t, x, i, id=n) for n, t, x, i in WORDS]
)
def test_german_ice_naming_and_writing_words_are_read(
    place: str, text: str, exposure: str, indicator: str | None
) -> None:
    assert _indicator(place, text, exposure) == indicator


def _detail(text: str) -> str:
    card = by_topic(cards([*pembrolizumab(), text_in_condition(text)]))[NEURO]
    return str(card["detail"])


@pytest.mark.parametrize(
    ("text", "eeg_mentions"),
    [
        pytest.param("Encephalitis", 1, id="encephalitis | EEG said once"),
        pytest.param("Aseptic meningitis", 0, id="meningitis | no EEG and no encephalitis EEG line"),
    ],
)
def test_the_eeg_is_said_once_and_only_where_it_belongs(text: str, eeg_mentions: int) -> None:
    detail = _detail(text)
    assert detail.count("EEG") == eeg_mentions
    assert "EEG for encephalitis" not in detail
