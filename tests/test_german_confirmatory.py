"""What the confirmatory German clinical review (2026-12-05, validation rows 180-183) found still misread,
table-driven over every place the fact can live, each table with cells that fire and cells that stay
silent:

- R  a known epilepsy's own words ("Bekannte Epilepsie seit 2010, anfallsfrei") beat its structured
     onset, and an onset on the day the diagnosis was recorded is no evidence of a new seizure;
- H' a German hedge after the name ("Enzephalitis unwahrscheinlich") reads as the English "unlikely";
     "fraglich" after the name stays a suspicion;
- A' the doctor's text is read on any code: "ICANS Grad 3" on G93.4 or R41.0 keeps its grade;
- B' German (and English) words for dysgraphia, dysarthria and cranial nerve palsies.
"""

from __future__ import annotations

from typing import Any

import pytest
from clinical_support import (
    TEXT_PLACES,
    administration,
    cards,
    condition,
    day,
    note,
    timeline,
    topics,
)

GM = "http://fhir.de/CodeSystem/bfarm/icd-10-gm"
NEURO = "possible-neurotoxicity"


def nivolumab() -> list[dict[str, Any]]:
    return [administration("Nivolumab 240 mg i.v.", offset) for offset in (-42, -28, -14)]


def car_t_day_5() -> list[dict[str, Any]]:
    return [administration("Yescarta (Axicabtagen-Ciloleucel) Infusionsdispersion", -5)]


def diagnosis(
    code: str,
    display: str,
    *,
    text: str | None = None,
    onset: int | None = -1,
    recorded: int | None = -1,
    notes: tuple[str, ...] = (),
) -> dict[str, Any]:
    """An MII KDS Diagnose (ICD-10-GM); by default its onset equals its recordedDate, as EHRs that fill
    the onset with the day of coding write it."""
    resource = condition(-1)
    for element in ("onsetDateTime", "recordedDate"):
        resource.pop(element, None)
    resource["code"] = {
        "coding": [{"system": GM, "version": "2026", "code": code, "display": display}],
        **({"text": text} if text else {}),
    }
    if onset is not None:
        resource["onsetDateTime"] = day(onset)
    if recorded is not None:
        resource["recordedDate"] = day(recorded)
    if notes:
        resource["note"] = [{"text": text} for text in notes]
    return resource


# --- R: a known epilepsy is not a new seizure ------------------------------------------------------------

EPILEPSY = ("G40.2", "Lokalisationsbezogene symptomatische Epilepsie")

# (cell, the chronic disease's diagnosis under nivolumab, expected neurotoxicity card indicator or None)
KNOWN_EPILEPSY: list[tuple[str, dict[str, Any], str | None]] = [
    (
        "bekannt seit 2010, anfallsfrei | code text, onset = recorded | silent",
        diagnosis(*EPILEPSY, text="Bekannte Epilepsie seit 2010, anfallsfrei unter Levetiracetam"),
        None,
    ),
    (
        "vorbekannt, letzter Anfall 2019 | code text, onset = recorded | silent",
        diagnosis(
            "G40.9", "Epilepsie, nicht näher bezeichnet", text="Vorbekannte Epilepsie, letzter Anfall 2019"
        ),
        None,
    ),
    (
        "Epilepsie seit 2010 | a past date alone | silent",
        diagnosis(*EPILEPSY, text="Epilepsie seit 2010"),
        None,
    ),
    (
        "anfallsfrei | known-disease word alone | silent",
        diagnosis(*EPILEPSY, text="Fokale Epilepsie, anfallsfrei"),
        None,
    ),
    (
        "known epilepsy, last seizure 2019 | English text | silent",
        diagnosis(*EPILEPSY, text="Known epilepsy, last seizure 2019"),
        None,
    ),
    (
        "no text | onset = recorded is no evidence on its own | silent",
        diagnosis(*EPILEPSY),
        None,
    ),
    (
        "Condition note | bekannt seit 2010 | silent",
        diagnosis(*EPILEPSY, notes=("Bekannte Epilepsie seit 2010, anfallsfrei",)),
        None,
    ),
    (
        "kein erneuter Anfall | negated new-event word | silent",
        diagnosis(*EPILEPSY, text="Bekannte Epilepsie, kein erneuter Anfall"),
        None,
    ),
    (
        "no text | onset before the recorded date | critical",
        diagnosis(*EPILEPSY, onset=-2, recorded=-1),
        "critical",
    ),
    (
        "Erstmaliger epileptischer Anfall | code text, onset = recorded | critical",
        diagnosis("G40.9", "Epilepsie, nicht näher bezeichnet", text="Erstmaliger epileptischer Anfall"),
        "critical",
    ),
    (
        "Erstmanifestation | code text, onset = recorded | critical",
        diagnosis(*EPILEPSY, text="Fokale Epilepsie, Erstmanifestation"),
        "critical",
    ),
    (
        "bekannt, erneuter Anfall | new-event word beats known | critical",
        diagnosis(*EPILEPSY, text="Bekannte Epilepsie, erneuter Anfall"),
        "critical",
    ),
    (
        "bekannt, unter Nivolumab anfallsfrei | the therapy named, known wins | silent",
        diagnosis(*EPILEPSY, text="Bekannte Epilepsie, unter Nivolumab anfallsfrei"),
        None,
    ),
    (
        "E23.0 unter Ipilimumab/Nivolumab | attributed to the therapy | warning",
        diagnosis("E23.0", "Hypopituitarismus", text="Hypophyseninsuffizienz unter Ipilimumab/Nivolumab"),
        "warning",
    ),
    (
        "E23.0 no text | onset = recorded is no evidence on its own | silent",
        diagnosis("E23.0", "Hypopituitarismus"),
        None,
    ),
    (
        "Condition note | Erstmanifestation | critical",
        diagnosis(*EPILEPSY, notes=("Erstmanifestation eines fokalen Anfalls",)),
        "critical",
    ),
]


@pytest.mark.parametrize(("resource", "indicator"), [pytest.param(r, i, id=n) for n, r, i in KNOWN_EPILEPSY])
def test_a_known_epilepsys_own_words_beat_its_structured_onset(
    resource: dict[str, Any], indicator: str | None
) -> None:
    assert topics(cards([*nivolumab(), resource])).get(NEURO) == indicator


def test_a_last_seizure_dated_in_the_text_dates_the_finding() -> None:
    resource = diagnosis(*EPILEPSY, text="Epilepsie, letzter Anfall am 01.05.2026", onset=-1, recorded=-1)
    found = timeline([*nivolumab(), resource]).findings
    assert [(finding.kind.id, finding.on.isoformat()) for finding in found] == [("seizure", "2026-05-01")]


# --- H': German hedges after the name ---------------------------------------------------------------------


PLACES = {
    place: TEXT_PLACES[place]
    for place in (
        "Observation value",
        "Observation component",
        "Observation note",
        "DiagnosticReport conclusion",
        "DiagnosticReport presentedForm",
    )
}

# (cell, text on CAR-T day 5, expected indicator of the neurotoxicity card or None)
HEDGES: list[tuple[str, str, str | None]] = [
    ("ICANS unwahrscheinlich | negated | silent", "ICANS unwahrscheinlich.", None),
    ("Enzephalitis unwahrscheinlich | negated | silent", "Enzephalitis unwahrscheinlich.", None),
    ("wenig wahrscheinlich | negated | silent", "Enzephalitis wenig wahrscheinlich.", None),
    ("eher unwahrscheinlich | negated | silent", "ICANS eher unwahrscheinlich.", None),
    ("nicht wahrscheinlich | negated | silent", "ICANS nicht wahrscheinlich.", None),
    ("encephalitis unlikely | English mirror | silent", "Encephalitis unlikely.", None),
    (
        "exclusion then hedge | record n13 | silent",
        "ICANS konnte klinisch ausgeschlossen werden. Enzephalitis unwahrscheinlich.",
        None,
    ),
    ("Enzephalitis fraglich | suspicion | warning", "Enzephalitis fraglich.", "warning"),
    (
        "hedge is local | the other finding stays | critical",
        "Krampfanfall heute früh, Enzephalitis unwahrscheinlich.",
        "critical",
    ),
]


@pytest.mark.parametrize("place", list(PLACES))
@pytest.mark.parametrize(("text", "indicator"), [pytest.param(t, i, id=n) for n, t, i in HEDGES])
def test_a_german_hedge_after_the_name_reads_as_unlikely(
    place: str, text: str, indicator: str | None
) -> None:
    assert topics(cards([*car_t_day_5(), PLACES[place](text)])).get(NEURO) == indicator


# --- A': the doctor's text on any code -------------------------------------------------------------------


def coded_value(code: str, display: str, text: str) -> dict[str, Any]:
    resource = note("", 0)
    del resource["valueString"]
    resource["code"] = {"text": "Diagnose"}
    resource["valueCodeableConcept"] = {
        "coding": [{"system": GM, "code": code, "display": display}],
        "text": text,
    }
    return resource


G93_4 = ("G93.4", "Enzephalopathie, nicht näher bezeichnet")
R41_0 = ("R41.0", "Orientierungsstörung, nicht näher bezeichnet")

# (cell, the coded resource on CAR-T day 5, expected indicator, expected documented ICANS grade)
ANY_CODE: list[tuple[str, dict[str, Any], str | None, int | None]] = [
    (
        "G93.4 + ICANS Grad 3 | Condition code text | critical, grade 3",
        diagnosis(*G93_4, text="ICANS Grad 3 nach CAR-T"),
        "critical",
        3,
    ),
    (
        "R41.0 + ICANS Grad 2 | Condition code text | critical, grade 2",
        diagnosis(*R41_0, text="ICANS Grad 2"),
        "critical",
        2,
    ),
    (
        "G93.4 + ICANS Grad 3 | Observation valueCodeableConcept text | critical, grade 3",
        coded_value(*G93_4, "ICANS Grad 3"),
        "critical",
        3,
    ),
    (
        "G93.4 + ICANS ausgeschlossen | the code's encephalopathy only | warning, no ICANS",
        diagnosis(*G93_4, text="Enzephalopathie, ICANS ausgeschlossen"),
        "warning",
        None,
    ),
    (
        "G93.4 + display only | the catalogue title is not the doctor's | warning, no ICANS",
        diagnosis(*G93_4),
        "warning",
        None,
    ),
]


@pytest.mark.parametrize(
    ("resource", "indicator", "grade"), [pytest.param(r, i, g, id=n) for n, r, i, g in ANY_CODE]
)
def test_the_doctors_text_is_read_on_any_code(
    resource: dict[str, Any], indicator: str, grade: int | None
) -> None:
    records = [*car_t_day_5(), resource]
    documented = [f.coded_grade for f in timeline(records).findings if f.documents_icans]
    assert topics(cards(records)).get(NEURO) == indicator
    assert documented == ([grade] if grade else [])


# --- B': German finding words ----------------------------------------------------------------------------

# (cell, note text, exposure, expected indicator)
WORDS: list[tuple[str, str, str, str | None]] = [
    ("Dysgraphie | CAR-T | warning", "Dysgraphie seit heute früh.", "car_t", "warning"),
    ("Schriftbild unleserlich | CAR-T | warning", "Schriftbild unleserlich.", "car_t", "warning"),
    ("veränderte Handschrift | CAR-T | warning", "Deutlich veränderte Handschrift.", "car_t", "warning"),
    ("illegible handwriting | English | warning", "Illegible handwriting this morning.", "car_t", "warning"),
    ("Dysarthrie | CAR-T | warning", "Dysarthrie.", "car_t", "warning"),
    ("verwaschene Sprache | CAR-T | warning", "Verwaschene Sprache seit dem Morgen.", "car_t", "warning"),
    ("keine Dysarthrie | negated | silent", "Keine Dysarthrie, keine Dysgraphie.", "car_t", None),
    ("Schriftbild unauffällig | normal | silent", "Schriftbild unauffällig.", "car_t", None),
    (
        "Abduzensparese | ICI, as the English sixth nerve palsy | critical",
        "Abduzensparese re. mit Doppelbildern.",
        "ici",
        "critical",
    ),
    ("keine Abduzensparese | negated | silent", "Keine Abduzensparese.", "ici", None),
    ("Trochlearisparese | ICI cranial nerve | warning", "Trochlearisparese links.", "ici", "warning"),
    ("third nerve palsy | English | warning", "New third nerve palsy.", "ici", "warning"),
]


@pytest.mark.parametrize(
    ("text", "exposure", "indicator"), [pytest.param(t, x, i, id=n) for n, t, x, i in WORDS]
)
def test_german_finding_words_are_read(text: str, exposure: str, indicator: str | None) -> None:
    therapy = car_t_day_5() if exposure == "car_t" else nivolumab()
    assert topics(cards([*therapy, note(text, 0)])).get(NEURO) == indicator
