"""The German clinician's review of German-shaped records (docs/clinical-validation.md rows 100-104;
docs/german-deployments.md): each class of fact wherever it can live, as a German hospital sends it.
The row id names the cell: "<fact> | <where> | <expected>"."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from clinical_support import (
    administration,
    cards,
    condition,
    day,
    draft,
    note,
    report,
    timeline,
    topics,
)

GM = "http://fhir.de/CodeSystem/bfarm/icd-10-gm"
NEURO = "possible-neurotoxicity"
BASELINE = "baseline-brain-mri"


def nivolumab() -> list[dict[str, Any]]:
    return [administration("Nivolumab 240 mg i.v.", offset) for offset in (-42, -28, -14)]


def car_t(offset: int = -60) -> list[dict[str, Any]]:
    return [administration("Carvykti (Ciltacabtagen-Autoleucel) Infusionsdispersion", offset)]


def diagnosis(
    code: str, display: str, *, onset: int | None = None, recorded: int | None = -1, text: str | None = None
) -> dict[str, Any]:
    """An MII KDS Diagnose: ICD-10-GM coding; `onset` / `recorded`: day offsets of onsetDateTime and
    recordedDate (None: not stated)."""
    resource = condition(-1)
    for element in ("onsetDateTime", "recordedDate"):
        resource.pop(element, None)
    resource["code"] = {
        "coding": [{"system": GM, "version": "2025", "code": code, "display": display}],
        **({"text": text} if text else {}),
    }
    if onset is not None:
        resource["onsetDateTime"] = day(onset)
    if recorded is not None:
        resource["recordedDate"] = day(recorded)
    return resource


# --- a. codes and phrases ------------------------------------------------------------------------------

# (cell, records, expected indicator of the neurotoxicity card or None)
CODED: list[tuple[str, list[dict[str, Any]], str | None]] = [
    (
        "G40.2 onset during the ICI | Condition onsetDateTime | new seizure: critical",
        [*nivolumab(), diagnosis("G40.2", "Lokalisationsbezogene symptomatische Epilepsie", onset=-2)],
        "critical",
    ),
    (
        "G40.9 no onset, recorded now | Condition recordedDate only | known epilepsy: silent",
        [*nivolumab(), diagnosis("G40.9", "Epilepsie, nicht näher bezeichnet")],
        None,
    ),
    (
        "G40.9 onset years before the ICI | Condition onsetDateTime | history: silent",
        [*nivolumab(), diagnosis("G40.9", "Epilepsie, nicht näher bezeichnet", onset=-2000)],
        None,
    ),
    (
        "G41.0 | status epilepticus needs no onset | critical",
        [*nivolumab(), diagnosis("G41.0", "Grand-Mal-Status")],
        "critical",
    ),
    (
        "E23.1 | drug-induced hypopituitarism under the ICI | warning",
        [*nivolumab(), diagnosis("E23.1", "Arzneimittelinduzierter Hypopituitarismus")],
        "warning",
    ),
    (
        "E23.0 onset during the ICI | Hypopituitarismus with onset | warning",
        [*nivolumab(), diagnosis("E23.0", "Hypopituitarismus", onset=-3)],
        "warning",
    ),
    (
        "E23.0 no onset | Hypopituitarismus recorded only | silent",
        [*nivolumab(), diagnosis("E23.0", "Hypopituitarismus")],
        None,
    ),
    (
        "G51.0 | Fazialisparese under the ICI | warning",
        [*nivolumab(), diagnosis("G51.0", "Fazialisparese")],
        "warning",
    ),
    (
        "G21.1 after CAR-T | drug-induced parkinsonism | warning",
        [*car_t(), diagnosis("G21.1", "Sonstiges arzneimittelinduziertes Parkinson-Syndrom")],
        "warning",
    ),
    (
        "G20.90 onset after CAR-T | new onset | warning",
        [*car_t(), diagnosis("G20.90", "Primäres Parkinson-Syndrom", onset=-5)],
        "warning",
    ),
    (
        "G20.90 no onset | known Parkinson's disease | silent",
        [*car_t(), diagnosis("G20.90", "Primäres Parkinson-Syndrom")],
        None,
    ),
    (
        "G21.8 onset after CAR-T | new onset | warning",
        [*car_t(), diagnosis("G21.8", "Sonstiges sekundäres Parkinson-Syndrom", onset=-5)],
        "warning",
    ),
]


@pytest.mark.parametrize(("records", "indicator"), [pytest.param(r, i, id=n) for n, r, i in CODED])
def test_german_review_coded_cell_decides_the_neurotoxicity_card(
    records: list[dict[str, Any]], indicator: str | None
) -> None:
    assert topics(cards(records)).get(NEURO) == indicator


# (cell, note text after CAR-T day 60 or the ICI, the exposure, expected indicator)
TEXT: list[tuple[str, str, str, str | None]] = [
    ("Parkinsonismus | note after CAR-T | warning", "Neu aufgetretener Parkinsonismus.", "car_t", "warning"),
    ("Mikrographie | note after CAR-T | warning", "Seit einer Woche Mikrographie.", "car_t", "warning"),
    ("Bradykinese | note after CAR-T | warning", "Deutliche Bradykinese beidseits.", "car_t", "warning"),
    ("keine Bradykinese | negated | silent", "Keine Bradykinese, kein Tremor.", "car_t", None),
    ("Fazialisparese | note under the ICI | warning", "Periphere Fazialisparese li.", "ici", "warning"),
    ("Z.n. Fazialisparese | history | silent", "Z.n. Fazialisparese 2015.", "ici", None),
    (
        "arzneimittelinduzierter Hypopituitarismus | note under the ICI | warning",
        "Arzneimittelinduzierter Hypopituitarismus unter Ipilimumab/Nivolumab.",
        "ici",
        "warning",
    ),
]


@pytest.mark.parametrize(
    ("text", "exposure", "indicator"), [pytest.param(t, x, i, id=n) for n, t, x, i in TEXT]
)
def test_german_review_text_cell_decides_the_neurotoxicity_card(
    text: str, exposure: str, indicator: str | None
) -> None:
    therapy = car_t() if exposure == "car_t" else nivolumab()
    assert topics(cards([*therapy, note(text, 0)])).get(NEURO) == indicator


# (cell, report conclusion, expected (kind, uncertain) readings)
PROGRESSION: list[tuple[str, str, list[tuple[str, bool]]]] = [
    (
        "Progress | conclusion | iUPD",
        "Beurteilung: Progress der hepatischen Metastasen.",
        [("suspected", False)],
    ),
    (
        "progrediente Erkrankung | conclusion | iUPD",
        "Insgesamt progrediente Erkrankung.",
        [("suspected", False)],
    ),
    ("RECIST: PD | conclusion | iUPD", "Gesamtansprechen nach RECIST 1.1: PD.", [("suspected", False)]),
    ("Progress (PD) | conclusion | iUPD", "Progress (PD) mit neuen Lebermetastasen.", [("suspected", False)]),
    ("kein Progress | negated | none", "Kein Progress. Befundkonstanz.", [("not-progression", False)]),
    ("PD-L1 | not a response | none", "Tumorzellen PD-L1 positiv (TPS 80 %).", []),
    ("progress note | English title word | none", "See progress note of today.", []),
    (
        "V.a. Progress | abbreviation kept | uncertain iUPD",
        "V.a. Progress der pulmonalen Filiae.",
        [("suspected", False)],
    ),
    (
        "bestätigter Progress | confirmed | iCPD",
        "Bestätigter Progress gegenüber der Voruntersuchung.",
        [("confirmed", False)],
    ),
]


def _dated_report(conclusion: str) -> dict[str, Any]:
    return report(-1, title="CT Thorax/Abdomen mit KM", conclusion=conclusion)


@pytest.mark.parametrize(("conclusion", "expected"), [pytest.param(c, e, id=n) for n, c, e in PROGRESSION])
def test_german_response_wording_cell_decides_the_reading(
    conclusion: str, expected: list[tuple[str, bool]]
) -> None:
    readings = timeline([*nivolumab(), _dated_report(conclusion)]).progression
    assert [(found.kind, found.uncertain) for found in readings] == expected


def test_a_german_progress_report_under_an_ici_asks_for_the_confirmation_scan() -> None:
    found = topics(cards([*nivolumab(), _dated_report("Beurteilung: Progress (PD) der Lebermetastasen.")]))
    assert "interval-imaging" in found


def generic_report(title: str, conclusion: str, *, category: bool = True) -> dict[str, Any]:
    resource = report(-5, title=title, conclusion=conclusion)
    if not category:
        resource.pop("category")
    return resource


# (cell, report, is a brain MRI)
GENERIC_MRI: list[tuple[str, dict[str, Any], bool]] = [
    ("title MRT | conclusion opens with cMRT | brain MRI", generic_report("MRT", "cMRT: unauffällig."), True),
    (
        "title Befund | conclusion opens with MRT des Schädels | brain MRI",
        generic_report("Befund", "MRT des Schädels vom 01.12.: kein Hinweis auf Metastasen."),
        True,
    ),
    (
        "title Befund, no category | conclusion names Schädel-MRT | brain MRI",
        generic_report("Befund", "Schädel-MRT nativ und mit KM: regelrechter Befund.", category=False),
        True,
    ),
    (
        "title CT Thorax | conclusion compares with the brain MRI | not one",
        generic_report("CT Thorax", "MRT Schädel vom 01.12. zum Vergleich: keine Hirnmetastasen."),
        False,
    ),
    (
        "title Befund | brain MRI only in a later sentence | not one",
        generic_report("Befund", "CT Thorax: stabile Rundherde. Vergleich mit cMRT der Vorwoche."),
        False,
    ),
    (
        "title MRT | conclusion names no region | not one",
        generic_report("MRT", "Unauffälliger Befund."),
        False,
    ),
]


@pytest.mark.parametrize(("resource", "is_brain_mri"), [pytest.param(r, b, id=n) for n, r, b in GENERIC_MRI])
def test_a_generic_report_title_defers_to_its_conclusion(
    resource: dict[str, Any], is_brain_mri: bool
) -> None:
    found = topics(cards([resource], [draft("Axicabtagen-Ciloleucel")]))
    assert (BASELINE not in found) is is_brain_mri


# --- b. sentences are not cut at German abbreviations ---------------------------------------------------

# (cell, conclusion, the words the quoted statement must hold)
QUOTES: list[tuple[str, str, str]] = [
    (
        "V.a. | one sentence",
        "Neue Leberläsionen. V.a. Progress der Filiae re. Leberlappen.",
        "V.a. Progress der Filiae re. Leberlappen",
    ),
    (
        "Z.n. | one sentence",
        "Z.n. Resektion li. frontal, jetzt iUPD nach iRECIST.",
        "Z.n. Resektion li. frontal, jetzt iUPD",
    ),
    (
        "z.B. and ggf. | one sentence",
        "Neue Herde z.B. in Segment 7, ggf. Kontrolle. iUPD.",
        "Neue Herde z.B. in Segment 7, ggf. Kontrolle.",
    ),
    (
        "Dr. | one sentence",
        "Befund mit Dr. Meier besprochen: iUPD.",
        "Befund mit Dr. Meier besprochen: iUPD.",
    ),
    (
        "bzw. and St.p. | one sentence",
        "St.p. Lobektomie bzw. Radiatio, neue Läsionen: iUPD.",
        "St.p. Lobektomie bzw. Radiatio, neue Läsionen: iUPD.",
    ),
]


@pytest.mark.parametrize(("conclusion", "quoted"), [pytest.param(c, q, id=n) for n, c, q in QUOTES])
def test_the_quoted_statement_keeps_its_abbreviations(conclusion: str, quoted: str) -> None:
    readings = timeline([*nivolumab(), _dated_report(conclusion)]).progression
    assert readings and quoted in readings[0].statement


def test_an_english_sentence_end_still_ends_the_quote() -> None:
    readings = timeline(
        [*nivolumab(), _dated_report("Header line. Patient Doe. New liver lesions: iUPD.")]
    ).progression
    assert readings[0].statement == "Patient Doe. New liver lesions: iUPD."


# --- German names in German cards; the German procedure code in the order ----------------------------


def german_cards(records: list[dict[str, Any]], language: str = "de") -> dict[str, dict[str, Any]]:
    from datetime import UTC, datetime, time

    from clinical_support import PATIENT, TODAY, by_topic, evaluator

    found = evaluator().cards_from_timeline(
        timeline(records),
        now=datetime.combine(TODAY, time(10, 0), tzinfo=UTC),
        patient_id=PATIENT,
        user_id="Practitioner/dr-1",
        encounter_id=None,
        language=language,
    )
    return by_topic(found)


SEIZURE_AFTER_AXI_CEL = [
    administration("Yescarta (Axicabtagen-Ciloleucel)", -5),
    note("Heute generalisierter Krampfanfall.", 0),
]

# (language, words the neurotoxicity card must hold, words it must not)
NAMES: list[tuple[str, list[str], list[str]]] = [
    (
        "de",
        ["nach Axicabtagen-Ciloleucel", "- Krampfanfall:", "Domänen: Krampfanfall Grad 3"],
        ["axicabtagene ciloleucel", "Seizure"],
    ),
    (
        "en",
        ["axicabtagene ciloleucel", "- Seizure:", "Seizure grade 3"],
        ["Axicabtagen-Ciloleucel", "Krampfanfall:"],
    ),
]


@pytest.mark.parametrize(("language", "present", "absent"), NAMES)
def test_a_card_names_findings_and_agents_in_its_language(
    language: str, present: list[str], absent: list[str]
) -> None:
    card = german_cards(SEIZURE_AFTER_AXI_CEL, language)[NEURO]
    text = card["summary"] + "\n" + card["detail"]
    assert [words for words in present if words not in text] == []
    assert [words for words in absent if words in text] == []


def _order_codes(card: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (coding["system"], coding["code"])
        for suggestion in card.get("suggestions", [])
        for action in suggestion["actions"]
        for coding in action["resource"]["code"]["coding"]
    }


OPS_3_820 = ("http://fhir.de/CodeSystem/bfarm/ops", "3-820")
CPT_70553 = ("http://www.ama-assn.org/go/cpt", "70553")
HYPOPHYSITIS = [*nivolumab(), diagnosis("E23.1", "Arzneimittelinduzierter Hypopituitarismus")]

# (cell, records, topic, language, OPS 3-820 in the order)
ORDERS: list[tuple[str, list[dict[str, Any]], str, str, bool]] = [
    ("brain MRI | German card | OPS beside CPT", SEIZURE_AFTER_AXI_CEL, NEURO, "de", True),
    ("brain MRI | English card | CPT only", SEIZURE_AFTER_AXI_CEL, NEURO, "en", False),
    ("sella MRI | German hypophysitis card | OPS beside CPT", HYPOPHYSITIS, NEURO, "de", True),
    ("sella MRI | English hypophysitis card | CPT only", HYPOPHYSITIS, NEURO, "en", False),
]


@pytest.mark.parametrize(
    ("records", "topic", "language", "ops"),
    [pytest.param(r, t, lang, o, id=n) for n, r, t, lang, o in ORDERS],
)
def test_a_german_order_carries_the_ops_code(
    records: list[dict[str, Any]], topic: str, language: str, ops: bool
) -> None:
    codes = _order_codes(german_cards(records, language)[topic])
    assert CPT_70553 in codes
    assert (OPS_3_820 in codes) is ops


def test_a_finding_without_a_german_name_stops_start_up(tmp_path: Path) -> None:
    from clinical_support import CARDS_DIR, KNOWLEDGE_DIR

    from clinical.evaluation import Evaluator
    from clinical.knowledge import KnowledgeError

    knowledge = tmp_path / "knowledge"
    shutil.copytree(KNOWLEDGE_DIR, knowledge)
    findings = knowledge / "neurological-findings.yaml"
    text = findings.read_text(encoding="utf-8")
    findings.write_text(
        text.replace('    display_de: "Krampfanfall"    # German review', "    # German review", 1),
        encoding="utf-8",
    )
    with pytest.raises(KnowledgeError, match="finding seizure has no display_de"):
        Evaluator.load(knowledge, CARDS_DIR)


# --- each place the fact can live ----------------------------------------------------------------------


def _gm(code: str, display: str) -> dict[str, Any]:
    return {"coding": [{"system": GM, "version": "2025", "code": code, "display": display}]}


def coded_observation(code: str, display: str) -> dict[str, Any]:
    found = note("", 0)
    found.pop("valueString")
    found["valueCodeableConcept"] = _gm(code, display)
    return found


def report_with(**fields: Any) -> dict[str, Any]:
    resource = report(-1, title="CT Thorax/Abdomen mit KM")
    resource.update(fields)
    return resource


def attached(text: str) -> list[dict[str, str]]:
    import base64

    return [{"contentType": "text/plain", "data": base64.b64encode(text.encode()).decode()}]


def condition_text(text: str) -> dict[str, Any]:
    resource = condition(-1)
    resource["code"] = {"text": text}
    return resource


# (cell, records besides the ICI, expected indicator of the neurotoxicity card)
PLACES: list[tuple[str, list[dict[str, Any]], str | None]] = [
    (
        "Fazialisparese | Condition code.text | warning",
        [condition_text("Periphere Fazialisparese rechts")],
        "warning",
    ),
    (
        "G51.0 | Observation valueCodeableConcept | warning",
        [coded_observation("G51.0", "Fazialisparese")],
        "warning",
    ),
    (
        "Fazialisparese | DiagnosticReport conclusion | warning",
        [report_with(conclusion="Klinisch neu aufgetretene Fazialisparese li.")],
        "warning",
    ),
    (
        "E23.1 | DiagnosticReport conclusionCode | warning",
        [report_with(conclusionCode=[_gm("E23.1", "Arzneimittelinduzierter Hypopituitarismus")])],
        "warning",
    ),
    (
        "G40.2 | Observation valueCodeableConcept (no onset there) | silent",
        [coded_observation("G40.2", "Epilepsie")],
        None,
    ),
]


@pytest.mark.parametrize(("records", "indicator"), [pytest.param(r, i, id=n) for n, r, i in PLACES])
def test_german_finding_is_read_wherever_it_lives(
    records: list[dict[str, Any]], indicator: str | None
) -> None:
    assert topics(cards([*nivolumab(), *records])).get(NEURO) == indicator


def imaging_study(description: str) -> dict[str, Any]:
    return {
        "resourceType": "ImagingStudy",
        "id": "is-de-1",
        "status": "available",
        "subject": {"reference": "Patient/pt-1"},
        "started": day(-1),
        "description": description,
    }


# (cell, resource, expected kind of the reading)
PROGRESS_PLACES: list[tuple[str, dict[str, Any], str]] = [
    ("Progress | conclusion | iUPD", report_with(conclusion="Beurteilung: Progress."), "suspected"),
    (
        "progrediente Erkrankung | conclusionCode text | iUPD",
        report_with(conclusionCode=[{"text": "progrediente Erkrankung"}]),
        "suspected",
    ),
    (
        "RECIST 1.1: PD | presentedForm text | iUPD",
        report_with(presentedForm=attached("Befundbericht\nBeurteilung nach RECIST 1.1: PD.")),
        "suspected",
    ),
    (
        "Tumorprogress | ImagingStudy description | iUPD",
        imaging_study("CT Thorax - Tumorprogress"),
        "suspected",
    ),
]


@pytest.mark.parametrize(("resource", "kind"), [pytest.param(r, k, id=n) for n, r, k in PROGRESS_PLACES])
def test_german_progression_is_read_wherever_it_lives(resource: dict[str, Any], kind: str) -> None:
    readings = timeline([*nivolumab(), resource]).progression
    assert [found.kind for found in readings] == [kind]


def test_a_generic_report_whose_conclusion_code_names_the_brain_mri_is_one() -> None:
    resource = generic_report("Befund", "")
    resource["conclusionCode"] = [{"text": "cMRT: regelrechter Befund"}]
    assert BASELINE not in topics(cards([resource], [draft("Axicabtagen-Ciloleucel")]))
