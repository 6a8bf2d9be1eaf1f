"""German reading gaps found by the independent German clinical review (docs/german-deployments.md,
docs/clinical-validation.md rows 140-143): level-of-consciousness words graded as the ASTCT consciousness
domain, German imaging titles (pituitary, brain, spine), and exclusion wording. Each table row is one cell:
the fact, where it lives, what the card must do."""

from __future__ import annotations

from typing import Any

import pytest
from clinical_support import (
    SUBJECT,
    administration,
    advice,
    by_topic,
    cards,
    condition,
    day,
    draft,
    note,
    report,
    score,
    topics,
)

from clinical.rules import NeurotoxicityAdvice

NEURO = "possible-neurotoxicity"
BASELINE = "baseline-brain-mri"
GM = "http://fhir.de/CodeSystem/bfarm/icd-10-gm"


def car_t_day_2() -> list[dict[str, Any]]:
    return [administration("Yescarta (Axicabtagen-Ciloleucel) Infusionsdispersion", -2)]


def ipilimumab_nivolumab() -> list[dict[str, Any]]:
    return [
        administration(name, offset)
        for offset in (-63, -42, -21)
        for name in ("Nivolumab 1 mg/kg i.v.", "Ipilimumab 3 mg/kg i.v.")
    ]


def neurotoxicity(resources: list[dict[str, Any]]) -> NeurotoxicityAdvice | None:
    found = [item for item in advice(resources) if isinstance(item, NeurotoxicityAdvice)]
    return found[0] if found else None


def icans_grade(resources: list[dict[str, Any]]) -> int | None:
    found = neurotoxicity(resources)
    return found.grade.grade if found is not None and found.grade is not None else None


def form(*items: tuple[str, str | int]) -> dict[str, Any]:
    """An ICANS assessment form (MII / nursing documentation): each item an Observation.component."""
    components = [
        {
            "code": {"text": name},
            **({"valueInteger": value} if isinstance(value, int) else {"valueString": value}),
        }
        for name, value in items
    ]
    return {
        "resourceType": "Observation",
        "id": "icans-form",
        "status": "final",
        "code": {"text": "ICANS-Assessment"},
        "component": components,
        "subject": SUBJECT,
        "effectiveDateTime": day(0),
    }


# --- C. German level-of-consciousness words: the ASTCT consciousness domain ---------------------------

# (cell, nursing note of today two days after axi-cel, ICANS grade expected, card indicator expected).
# ASTCT (Lee 2019): awakens to voice grade 2, only to tactile stimulus grade 3, unarousable or needs
# vigorous (painful) or repetitive stimuli, stupor or coma grade 4; as the English names grade.
CONSCIOUSNESS: list[tuple[str, str, int | None, str | None]] = [
    ("schläfrig | nursing note | grade 2", "Patient schläfrig.", 2, "critical"),
    ("schlaefrig | ASCII spelling | grade 2", "Patient schlaefrig, Pupillen isokor.", 2, "critical"),
    ("Schläfrigkeit | noun | grade 2", "Zunehmende Schläfrigkeit seit dem Morgen.", 2, "critical"),
    ("nur auf Ansprache erweckbar | grade 2", "Patient nur auf Ansprache erweckbar.", 2, "critical"),
    ("erweckbar auf Ansprache | grade 2", "Vigilanzminderung, erweckbar auf Ansprache.", 2, "critical"),
    ("durch Ansprache erweckbar | grade 2", "Durch Ansprache erweckbar, dann orientiert.", 2, "critical"),
    ("auf Anruf erweckbar | grade 2", "Auf Anruf erweckbar.", 2, "critical"),
    ("somnolent | already listed | grade 2", "Patient somnolent.", 2, "critical"),
    ("nur auf Berührung erweckbar | grade 3", "Nur auf Berührung erweckbar.", 3, "critical"),
    ("erweckbar auf taktile Reize | grade 3", "Erweckbar nur auf taktile Reize.", 3, "critical"),
    ("nicht auf Ansprache erweckbar | grade 3 at least", "Nicht auf Ansprache erweckbar.", 3, "critical"),
    (
        "nur auf Schmerzreiz erweckbar | grade 4 (as English painful stimuli)",
        "Nur auf Schmerzreiz erweckbar.",
        4,
        "critical",
    ),
    ("erweckbar auf Schmerzreiz | grade 4", "Patient erweckbar auf Schmerzreiz.", 4, "critical"),
    ("reagiert nur auf Schmerzreize | grade 4", "Reagiert nur auf Schmerzreize.", 4, "critical"),
    ("nicht erweckbar | grade 4", "Patient nicht erweckbar.", 4, "critical"),
    ("soporös | grade 4", "Patientin soporös.", 4, "critical"),
    ("komatös | grade 4", "Patient komatös, intubiert.", 4, "critical"),
    ("nicht schläfrig | negation | silent", "Wach, nicht schläfrig, orientiert.", None, None),
    ("keine Schläfrigkeit | negation | silent", "Keine Schläfrigkeit, ICE 10/10.", None, None),
    ("wach | normal wording | silent", "Patient wach und allseits orientiert.", None, None),
    ("Schläfrigkeit nach Lorazepam | named cause | silent", "Schläfrigkeit nach Lorazepam-Gabe.", None, None),
]


@pytest.mark.parametrize(
    ("text", "grade", "indicator"), [pytest.param(t, g, i, id=n) for n, t, g, i in CONSCIOUSNESS]
)
def test_a_german_consciousness_word_grades_the_consciousness_domain(
    text: str, grade: int | None, indicator: str | None
) -> None:
    resources = [*car_t_day_2(), note(text, 0)]
    assert topics(cards(resources)).get(NEURO) == indicator
    assert icans_grade(resources) == grade


def test_the_consciousness_item_of_a_german_form_beats_a_grade_1_ice_score() -> None:
    """The review's record 39: ICE 7 (grade 1) and "schläfrig, nur auf Ansprache erweckbar" in the form's
    consciousness item: the worst domain is grade 2, critical."""
    assessment = form(
        ("ICE-Score", 7), ("Bewusstsein", "schläfrig, nur auf Ansprache erweckbar"), ("Krampfanfall", "nein")
    )
    resources = [*car_t_day_2(), assessment]
    assert icans_grade(resources) == 2
    assert topics(cards(resources)).get(NEURO) == "critical"


def test_a_german_consciousness_word_under_a_checkpoint_inhibitor_raises_the_irae_card() -> None:
    """Obtundation is critical after a checkpoint inhibitor too (think encephalitis)."""
    found = topics(cards([*ipilimumab_nivolumab(), note("Seit heute nur auf Berührung erweckbar.", 0)]))
    assert found.get(NEURO) == "critical"


def test_a_german_consciousness_word_in_a_condition_text_grades() -> None:
    resources = [*car_t_day_2(), condition(0, text="Somnolenz, nur auf Ansprache erweckbar")]
    assert icans_grade(resources) == 2


def test_a_normal_ice_score_with_no_consciousness_word_stays_grade_free() -> None:
    assert neurotoxicity([*car_t_day_2(), score("ICE score", 10, 0), note("Wach, orientiert.", 0)]) is None


# --- H. German exclusion wording: excluded, or the reason for a test ----------------------------------

# (cell, note of today two days after axi-cel, indicator of the neurotoxicity card or None)
EXCLUSION: list[tuple[str, str, str | None]] = [
    (
        "Ausschluss ... mittels LP erfolgt | done | silent",
        "Levetiracetam zur Krampfanfallsprophylaxe. Ausschluss einer Enzephalitis mittels LP erfolgt.",
        None,
    ),
    ("Ausschluss ... erfolgt | done | silent", "Ausschluss einer Enzephalitis erfolgt.", None),
    ("Ausschluss (diagnosis line) | excluded | silent", "Ausschluss einer Enzephalitis", None),
    ("Ausschluß | old spelling | silent", "Ausschluß einer Enzephalitis.", None),
    ("nach Ausschluss | excluded | silent", "Nach Ausschluss einer Enzephalitis Entlassung geplant.", None),
    ("wurde ausgeschlossen | silent", "Enzephalitis wurde ausgeschlossen.", None),
    ("konnte ausgeschlossen werden | silent", "Enzephalitis konnte ausgeschlossen werden.", None),
    ("bei ausgeschlossener | adjective | silent", "Kopfschmerz bei ausgeschlossener Enzephalitis.", None),
    ("kein Anhalt für | silent", "Kein Anhalt für Enzephalitis.", None),
    ("ohne Nachweis von | silent", "EEG ohne Nachweis von Krampfanfällen.", None),
    ("ohne Nachweis einer | silent", "Liquor ohne Nachweis einer Enzephalitis.", None),
    ("zum Ausschluss | reason for a test | warning", "LP zum Ausschluss einer Enzephalitis.", "warning"),
    (
        "zum Ausschluss ... erfolgt | test done, result open | warning",
        "LP zum Ausschluss einer Enzephalitis erfolgt.",
        "warning",
    ),
    ("zum Ausschluß | old spelling | warning", "cMRT zum Ausschluß einer Enzephalitis.", "warning"),
    (
        "zum sicheren Ausschluss | reason for a test | warning",
        "EEG zum sicheren Ausschluss eines Status epilepticus.",
        "warning",
    ),
    ("Bitte um Ausschluss | request | warning", "Bitte um Ausschluss einer Enzephalitis.", "warning"),
    (
        "Fragestellung | the exam's question, not a cue: an indication can be a fact | critical",
        "cMRT, Fragestellung: erstmaliger Krampfanfall heute",
        "critical",
    ),
    (
        "Ausschluss ... geplant | pending | warning",
        "Ausschluss einer Enzephalitis mittels LP geplant.",
        "warning",
    ),
    ("Ausschluss ... ausstehend | pending | warning", "Ausschluss einer Enzephalitis ausstehend.", "warning"),
    (
        "Ausschluss ... nicht möglich | not done | warning",
        "Ausschluss einer Enzephalitis nicht möglich.",
        "warning",
    ),
    ("Ausschluss ...? | question | warning", "Ausschluss Enzephalitis?", "warning"),
    (
        "Geplant: Ausschluss | pending first | warning",
        "Geplant: Ausschluss einer Enzephalitis mittels LP.",
        "warning",
    ),
    ("nicht ausgeschlossen | uncertain after | warning", "Enzephalitis nicht ausgeschlossen.", "warning"),
    (
        "konnte nicht ausgeschlossen werden | uncertain | warning",
        "Enzephalitis konnte nicht ausgeschlossen werden.",
        "warning",
    ),
    (
        "nach Ausschluss einer Hyponatriämie | the cause excluded | critical",
        "Krampfanfall nach Ausschluss einer Hyponatriämie.",
        "critical",
    ),
    ("Krampfanfall | affirmed, for contrast | critical", "Heute Krampfanfall.", "critical"),
]


@pytest.mark.parametrize(("text", "indicator"), [pytest.param(t, i, id=n) for n, t, i in EXCLUSION])
def test_german_exclusion_wording_decides_excluded_or_suspected(text: str, indicator: str | None) -> None:
    assert topics(cards([*car_t_day_2(), note(text, 0)])).get(NEURO) == indicator


def test_an_excluded_encephalitis_in_a_report_conclusion_raises_no_card() -> None:
    lp = report(0, title="Liquordiagnostik", conclusion="Ausschluss einer Enzephalitis mittels LP erfolgt.")
    lp["category"] = [{"text": "Labor"}]
    assert NEURO not in topics(cards([*ipilimumab_nivolumab(), lp]))


def test_an_excluded_encephalitis_in_a_condition_text_raises_no_card() -> None:
    coded = condition(0, text="Ausschluss einer Enzephalitis")
    coded["code"]["coding"] = [{"system": GM, "code": "R51", "display": "Kopfschmerz"}]
    assert NEURO not in topics(cards([*ipilimumab_nivolumab(), coded]))


# --- D. German imaging titles: brain, pituitary, spine ---------------------------------------------------


def imaging_study(description: str, offset: int = -5, body_site: str | None = None) -> dict[str, Any]:
    series: dict[str, Any] = {
        "uid": "1.2.3.4",
        "modality": {"system": "http://dicom.nema.org/resources/ontology/DCM", "code": "MR"},
    }
    if body_site:
        series["bodySite"] = {"system": "http://snomed.info/sct", "code": body_site}
    return {
        "resourceType": "ImagingStudy",
        "id": f"study-{abs(hash(description)) % 10_000}",
        "status": "available",
        "subject": SUBJECT,
        "started": day(offset),
        "description": description,
        "series": [series],
    }


def procedure(text: str, offset: int = -5) -> dict[str, Any]:
    return {
        "resourceType": "Procedure",
        "id": f"proc-{abs(hash(text)) % 10_000}",
        "status": "completed",
        "code": {"text": text},
        "subject": SUBJECT,
        "performedDateTime": day(offset),
    }


# (cell, records, a CAR-T baseline brain MRI): only a brain MRI is a baseline; a pituitary or spine MRI
# is not.
BASELINE_TITLES: list[tuple[str, list[dict[str, Any]], bool]] = [
    ("MRT Kopf mit KM | report title | brain MRI", [report(-5, title="MRT Kopf mit KM")], True),
    ("kraniale MRT | report title | brain MRI", [report(-5, title="Kraniale MRT nativ und mit KM")], True),
    ("MRT des Gehirns | report title | brain MRI", [report(-5, title="MRT des Gehirns")], True),
    ("Kopf-MRT | Procedure text | brain MRI", [procedure("Kopf-MRT mit Kontrastmittel")], True),
    ("MRT Neuroachse | report title | brain MRI", [report(-5, title="MRT Neuroachse mit KM")], True),
    ("MRT Schädel und HWS | brain and spine | brain MRI", [report(-5, title="MRT Schädel und HWS")], True),
    ("cMRT | ImagingStudy description | brain MRI", [imaging_study("cMRT nativ + KM")], True),
    (
        "MRT Sella / Hypophyse | report title | not a baseline",
        [report(-5, title="MRT Sella / Hypophyse mit KM")],
        False,
    ),
    ("Hypophysen-MRT | report title | not a baseline", [report(-5, title="Hypophysen-MRT")], False),
    (
        "MRT der Sellaregion | ImagingStudy | not a baseline",
        [imaging_study("MRT der Sellaregion", body_site="69536005")],
        False,
    ),
    (
        "MRI pituitary | English title | not a baseline",
        [report(-5, title="MRI pituitary with contrast")],
        False,
    ),
    ("MRT HWS | spine | not a baseline", [report(-5, title="MRT HWS nativ")], False),
    (
        "MRT HWS/BWS/Ganzwirbelsäule | spine | not a baseline",
        [report(-5, title="MRT HWS/BWS/Ganzwirbelsäule")],
        False,
    ),
    ("MRT Kopf/Hals | head and neck | not a baseline", [report(-5, title="MRT Kopf/Hals")], False),
]


@pytest.mark.parametrize(
    ("records", "is_brain_mri"), [pytest.param(r, b, id=n) for n, r, b in BASELINE_TITLES]
)
def test_a_german_imaging_title_decides_the_car_t_baseline_card(
    records: list[dict[str, Any]], is_brain_mri: bool
) -> None:
    found = topics(cards(records, [draft("Axicabtagen-Ciloleucel")]))
    assert (BASELINE not in found) is is_brain_mri


def hypophysitis() -> dict[str, Any]:
    coded = condition(-2, text="Hypophysitis (irAE) unter Ipilimumab/Nivolumab")
    coded["code"]["coding"] = [
        {"system": GM, "code": "E23.6", "display": "Sonstige Krankheiten der Hypophyse"}
    ]
    return coded


# (cell, imaging on record, the hypophysitis card proposes its pituitary MRI)
PITUITARY: list[tuple[str, list[dict[str, Any]], bool]] = [
    ("no MRI | proposes", [], True),
    (
        "MRT Sella / Hypophyse mit KM | report, same day | not again",
        [report(-2, title="MRT Sella / Hypophyse mit KM")],
        False,
    ),
    ("Hypophysen-MRT | report | not again", [report(-1, title="Hypophysen-MRT")], False),
    (
        "MRT der Sellaregion | ImagingStudy | not again",
        [imaging_study("MRT der Sellaregion", offset=-1)],
        False,
    ),
    (
        "MRT Sella | order pending | not again",
        [{**report(0, title="MRT Sella mit KM"), "status": "registered"}],
        False,
    ),
    ("MRT Schädel | brain MRI | not again", [report(-1, title="MRT Schädel mit KM")], False),
    ("MRT Sella before the finding | proposes", [report(-30, title="MRT Sella / Hypophyse")], True),
    ("MRT HWS | spine | proposes", [report(-1, title="MRT HWS")], True),
]


@pytest.mark.parametrize(("records", "proposes"), [pytest.param(r, p, id=n) for n, r, p in PITUITARY])
def test_a_pituitary_mri_on_record_is_not_proposed_again(
    records: list[dict[str, Any]], proposes: bool
) -> None:
    card = by_topic(cards([*ipilimumab_nivolumab(), hypophysitis(), *records]))[NEURO]
    assert bool(card.get("suggestions")) is proposes


def test_a_pituitary_mri_does_not_answer_a_central_card() -> None:
    """A seizure after CAR-T needs the brain MRI: a sella MRI of yesterday does not replace it."""
    card = by_topic(
        cards([*car_t_day_2(), report(0, title="MRT Sella / Hypophyse"), note("Heute Krampfanfall.", 0)])
    )[NEURO]
    assert card.get("suggestions")


def test_a_pituitary_mri_confirms_no_body_ct_iupd() -> None:
    """A sella MRI is no restaging: it is neither cross-sectional nor a brain MRI of the timeline."""
    from clinical_support import timeline

    kinds = {event.kind for event in timeline([report(-1, title="MRT Sella / Hypophyse")]).imaging}
    assert kinds == {"pituitary-mri"}


# --- where the German fact lives ------------------------------------------------------------------------


def observation_note(text: str) -> dict[str, Any]:
    """A nursing observation whose German text is in Observation.note (an annotation), not its value."""
    return {
        "resourceType": "Observation",
        "id": f"obs-note-{abs(hash(text)) % 10_000}",
        "status": "final",
        "code": {"text": "Pflegeverlauf"},
        "note": [{"text": text}],
        "subject": SUBJECT,
        "effectiveDateTime": day(0),
    }


def eeg_report(conclusion: str = "", attached: str = "") -> dict[str, Any]:
    import base64

    resource = report(0, title="EEG", conclusion=conclusion)
    resource["category"] = [{"text": "Neurophysiologie"}]
    if attached:
        data = base64.b64encode(attached.encode()).decode()
        resource["presentedForm"] = [{"contentType": "text/plain; charset=utf-8", "data": data}]
    return resource


def diagnosis_text(text: str) -> dict[str, Any]:
    return condition(0, text=text)


# (cell, the record holding the German sentence, ICANS grade expected after axi-cel day 2)
CONSCIOUSNESS_WHERE: list[tuple[str, dict[str, Any], int | None]] = [
    (
        "Observation.note | nur auf Ansprache erweckbar | grade 2",
        observation_note("Nur auf Ansprache erweckbar."),
        2,
    ),
    ("Condition code.text | soporös | grade 4", diagnosis_text("Sopor, nur auf Schmerzreiz erweckbar"), 4),
    (
        "DiagnosticReport conclusion | schläfrig | grade 2",
        eeg_report(conclusion="Verlangsamter Grundrhythmus, Patient während der Ableitung schläfrig."),
        2,
    ),
    (
        "DiagnosticReport presentedForm | nur auf Berührung erweckbar | grade 3",
        eeg_report(
            attached="Befund: Patient nur auf Berührung erweckbar, keine epilepsietypischen Potentiale."
        ),
        3,
    ),
    ("Observation.note | nicht schläfrig | no grade", observation_note("Wach, nicht schläfrig."), None),
    (
        "Observation.note | English awakens only to touch | grade 3",
        observation_note("Awakens only to touch."),
        3,
    ),
]


@pytest.mark.parametrize(("resource", "grade"), [pytest.param(r, g, id=n) for n, r, g in CONSCIOUSNESS_WHERE])
def test_a_german_consciousness_word_grades_wherever_it_is_written(
    resource: dict[str, Any], grade: int | None
) -> None:
    assert icans_grade([*car_t_day_2(), resource]) == grade


# (cell, the record holding the German sentence, neurotoxicity card indicator after axi-cel day 2)
EXCLUSION_WHERE: list[tuple[str, dict[str, Any], str | None]] = [
    (
        "Observation.note | Ausschluss ... erfolgt | silent",
        observation_note("Ausschluss einer Enzephalitis erfolgt."),
        None,
    ),
    (
        "Observation.note | zum Ausschluss | warning",
        observation_note("LP zum Ausschluss einer Enzephalitis."),
        "warning",
    ),
    (
        "DiagnosticReport presentedForm | Ausschluss ... erfolgt | silent",
        eeg_report(attached="Beurteilung: Ausschluss eines Status epilepticus erfolgt."),
        None,
    ),
    (
        "DiagnosticReport conclusion | zum Ausschluss | warning",
        eeg_report(conclusion="Ableitung zum Ausschluss eines Status epilepticus."),
        "warning",
    ),
    ("Condition code.text | Ausschluss | silent", diagnosis_text("Ausschluss einer Enzephalitis"), None),
    (
        "Condition code.text | zum Ausschluss | warning",
        diagnosis_text("Zum Ausschluss einer Enzephalitis"),
        "warning",
    ),
]


@pytest.mark.parametrize(("resource", "indicator"), [pytest.param(r, i, id=n) for n, r, i in EXCLUSION_WHERE])
def test_german_exclusion_wording_is_read_wherever_it_is_written(
    resource: dict[str, Any], indicator: str | None
) -> None:
    assert topics(cards([*car_t_day_2(), resource])).get(NEURO) == indicator


def pituitary_order(text: str) -> dict[str, Any]:
    return {
        "resourceType": "ServiceRequest",
        "id": f"sr-{abs(hash(text)) % 10_000}",
        "status": "active",
        "intent": "order",
        "category": [{"coding": [{"system": "http://snomed.info/sct", "code": "363679005"}]}],
        "code": {"text": text},
        "subject": SUBJECT,
        "authoredOn": day(-1),
    }


# (cell, the pituitary MRI on record, as each resource carries it): none is proposed again
PITUITARY_WHERE: list[tuple[str, dict[str, Any]]] = [
    ("ServiceRequest | MRT Hypophyse angemeldet", pituitary_order("MRT Hypophyse nativ und mit KM")),
    ("Procedure | MRT der Sellaregion", procedure("MRT der Sellaregion mit Kontrastmittel", offset=-1)),
    (
        "ImagingStudy | series description",
        imaging_study("MR", offset=-1) | {"description": "Sella-MRT dünnschichtig"},
    ),
    ("DiagnosticReport | English title", report(-1, title="MRI pituitary without and with contrast")),
]


@pytest.mark.parametrize("resource", [pytest.param(r, id=n) for n, r in PITUITARY_WHERE])
def test_a_pituitary_mri_is_recognised_wherever_it_is_recorded(resource: dict[str, Any]) -> None:
    card = by_topic(cards([*ipilimumab_nivolumab(), hypophysitis(), resource]))[NEURO]
    assert not card.get("suggestions")
