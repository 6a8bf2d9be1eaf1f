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
    TODAY,
    administration,
    evaluator,
    note,
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
    named = {line[2:].split(":")[0] for line in lines}
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
