"""Coverage matrix, German cells (issue 19; docs/german-deployments.md): the same facts as the other
coverage tables, as a German hospital sends them (MII core data set / ISiK shapes: ICD-10-GM with its
Diagnosesicherheit, OPS, ATC from the BfArM system, PZN, German clinical text), each run through the
Evaluator. The row id names the cell: "<fact> | <where> | <expected>"."""

from __future__ import annotations

from typing import Any

import pytest
from clinical_support import (
    SUBJECT,
    administration,
    cards,
    condition,
    day,
    draft,
    note,
    report,
    topics,
)

GM = "http://fhir.de/CodeSystem/bfarm/icd-10-gm"
GM_DIMDI = "http://fhir.de/CodeSystem/dimdi/icd-10-gm"
OPS = "http://fhir.de/CodeSystem/bfarm/ops"
ATC_DE = "http://fhir.de/CodeSystem/bfarm/atc"
PZN = "http://fhir.de/CodeSystem/ifa/pzn"
CERTAINTY_URL = "http://fhir.de/StructureDefinition/icd-10-gm-diagnosesicherheit"
CERTAINTY_SYSTEM = "https://fhir.kbv.de/CodeSystem/KBV_CS_SFHIR_ICD_DIAGNOSESICHERHEIT"
NEURO = "possible-neurotoxicity"
BASELINE = "baseline-brain-mri"


def nivolumab() -> list[dict[str, Any]]:
    return [administration("Nivolumab 240 mg i.v.", offset) for offset in (-42, -28, -14)]


def car_t_day_5() -> list[dict[str, Any]]:
    return [administration("Yescarta (Axicabtagen-Ciloleucel) Infusionsdispersion", -5)]


def diagnosis(
    code: str, display: str, certainty: str | None = None, system: str = GM, text: str | None = None
) -> dict[str, Any]:
    """An MII KDS Diagnose: ICD-10-GM coding with its catalogue year and, when given, its
    Diagnosesicherheit extension on the coding."""
    coding: dict[str, Any] = {"system": system, "version": "2025", "code": code, "display": display}
    if certainty is not None:
        coding["extension"] = [
            {"url": CERTAINTY_URL, "valueCoding": {"system": CERTAINTY_SYSTEM, "code": certainty}}
        ]
    resource = condition(-1)
    resource["code"] = {"coding": [coding], **({"text": text} if text else {})}
    return resource


# --- coded diagnoses: ICD-10-GM and its Diagnosesicherheit --------------------------------------------

# (cell, records besides nivolumab, expected indicator of the neurotoxicity card or None for no card)
CODED: list[tuple[str, list[dict[str, Any]], str | None]] = [
    ("seizure R56.8 | Condition ICD-10-GM | critical", [diagnosis("R56.8", "Krampfanfall")], "critical"),
    (
        "seizure R56.8 G | Diagnosesicherheit G | critical",
        [diagnosis("R56.8", "Krampfanfall", "G")],
        "critical",
    ),
    ("seizure R56.8 A | Diagnosesicherheit A | silent", [diagnosis("R56.8", "Krampfanfall", "A")], None),
    (
        "seizure R56.8 V | Diagnosesicherheit V | warning",
        [diagnosis("R56.8", "Krampfanfall", "V")],
        "warning",
    ),
    ("seizure R56.8 Z | Diagnosesicherheit Z | silent", [diagnosis("R56.8", "Krampfanfall", "Z")], None),
    ("seizure R568 | code without the dot | critical", [diagnosis("R568", "Krampfanfall")], "critical"),
    (
        "seizure R56.8 | DIMDI system URI | critical",
        [diagnosis("R56.8", "Krampfanfall", system=GM_DIMDI)],
        "critical",
    ),
    (
        "status epilepticus G41.0 | ICD-10-GM family | critical",
        [diagnosis("G41.0", "Grand-Mal-Status")],
        "critical",
    ),
    ("cerebral oedema G93.6 | ICD-10-GM | critical", [diagnosis("G93.6", "Hirnödem")], "critical"),
    ("encephalitis G04.8 | ICD-10-GM | critical", [diagnosis("G04.8", "Sonstige Enzephalitis")], "critical"),
    ("GBS G61.0 | ICD-10-GM | critical", [diagnosis("G61.0", "Guillain-Barré-Syndrom")], "critical"),
    ("myasthenia G70.0 | ICD-10-GM | critical", [diagnosis("G70.0", "Myasthenia gravis")], "critical"),
    ("encephalopathy G93.4 | ICD-10-GM | warning", [diagnosis("G93.4", "Enzephalopathie")], "warning"),
    ("hypophysitis E23.6 | ICD-10-GM | warning", [diagnosis("E23.6", "Hypophysitis")], "warning"),
    (
        "encephalitis G05.1* | asterisk code, not listed | its display names Enzephalitis: critical",
        [diagnosis("G05.1*", "Enzephalitis bei Viruskrankheiten")],
        "critical",
    ),
    (
        "Diagnosesicherheit A | text names the finding too | silent",
        [diagnosis("R56.8", "Krampfanfall", "A", text="Krampfanfall")],
        None,
    ),
]


@pytest.mark.parametrize(("records", "indicator"), [pytest.param(r, i, id=n) for n, r, i in CODED])
def test_german_coded_diagnosis_cell_decides_the_neurotoxicity_card(
    records: list[dict[str, Any]], indicator: str | None
) -> None:
    assert topics(cards([*nivolumab(), *records])).get(NEURO) == indicator


def baseline_suggests_mri(records: list[dict[str, Any]]) -> bool:
    found = cards(records, [draft("axicabtagene ciloleucel")])
    baseline = [card for card in found if card["source"]["topic"]["code"] == BASELINE]
    assert baseline, found
    return bool(baseline[0].get("suggestions"))


def device(type_text: str, **fields: Any) -> dict[str, Any]:
    return {
        "resourceType": "Device",
        "id": "device-1",
        "status": "active",
        "type": {"text": type_text},
        "patient": SUBJECT,
        **fields,
    }


def flag(text: str) -> dict[str, Any]:
    return {
        "resourceType": "Flag",
        "id": "flag-1",
        "status": "active",
        "code": {"text": text},
        "subject": SUBJECT,
    }


# (cell, records, the CAR-T baseline card keeps its MRI order suggestion)
MRI_SAFETY: list[tuple[str, list[dict[str, Any]], bool]] = [
    (
        "Herzschrittmacher | Device.type text | no MRI order",
        [device("Herzschrittmacher (Zweikammer)")],
        False,
    ),
    (
        "Herzschrittmacher MR-bedingt sicher | Device.type text | MRI order stays",
        [device("Herzschrittmacher, MR-bedingt sicher")],
        True,
    ),
    ("Cochlea-Implantat | Device.type text | no MRI order", [device("Cochlea-Implantat links")], False),
    (
        "nicht MRT-tauglich | Flag.code text | no MRI order",
        [flag("Metallsplitter, nicht MRT-tauglich")],
        False,
    ),
    (
        "Herzschrittmacher | Condition ICD-10-GM Z95.0, Diagnosesicherheit G | no MRI order",
        [
            diagnosis(
                "Z95.0", "Vorhandensein eines kardialen elektronischen Geräts", "G", text="Herzschrittmacher"
            )
        ],
        False,
    ),
    (
        "Herzschrittmacher | Condition ICD-10-GM Z95.0, Diagnosesicherheit A | MRI order stays",
        [
            diagnosis(
                "Z95.0", "Vorhandensein eines kardialen elektronischen Geräts", "A", text="Herzschrittmacher"
            )
        ],
        True,
    ),
    (
        "Herzschrittmacher explantiert | Condition text | MRI order stays",
        [diagnosis("Z95.0", "x", text="Herzschrittmacher explantiert 2020")],
        True,
    ),
    ("no device | - | MRI order stays", [], True),
]


@pytest.mark.parametrize(("records", "suggests"), [pytest.param(r, o, id=n) for n, r, o in MRI_SAFETY])
def test_german_mri_safety_cell_decides_the_mri_order(records: list[dict[str, Any]], suggests: bool) -> None:
    assert baseline_suggests_mri(records) is suggests


# --- German clinical text: negation, uncertainty, history, family, causes ---------------------------

# (cell, note text, expected indicator or None)
TEXT: list[tuple[str, str, str | None]] = [
    ("Krampfanfall | affirmed | critical", "Heute generalisierter Krampfanfall.", "critical"),
    ("Krampfanfaelle | ASCII spelling of the umlaut | critical", "Krampfanfaelle seit gestern.", "critical"),
    ("Hirnoedem | ASCII spelling | critical", "CT: beginnendes Hirnoedem.", "critical"),
    ("kein Krampfanfall | negation | silent", "Neurologisch: kein Krampfanfall.", None),
    ("keine Krampfanfälle | negation | silent", "Bisher keine Krampfanfälle.", None),
    ("ohne Krampfanfall | negation | silent", "Fieber ohne Krampfanfall.", None),
    ("kein Hinweis auf | negation | silent", "Kein Hinweis auf Enzephalitis.", None),
    ("kein Anhalt für | negation | silent", "Kein Anhalt für ICANS.", None),
    ("ausgeschlossen after | negation | silent", "Enzephalitis ausgeschlossen.", None),
    ("Krampfanfall: nein | form answer | silent", "Krampfanfall: nein", None),
    ("Krampfanfall: ja | form answer | critical", "Krampfanfall: ja", "critical"),
    (
        "negated list with oder | silent",
        "Keine Kopfschmerzen, Übelkeit oder Krampfanfälle.",
        None,
    ),
    ("V.a. | abbreviation keeps its cue | warning", "V.a. Krampfanfall", "warning"),
    ("Verdacht auf | uncertainty | warning", "Verdacht auf Enzephalitis", "warning"),
    ("fraglicher | uncertainty | warning", "fraglicher Krampfanfall in der Nacht", "warning"),
    ("DD | uncertainty | warning", "Kopfschmerzen, DD Enzephalitis", "warning"),
    ("nicht auszuschließen | uncertainty after | warning", "Enzephalitis nicht auszuschließen", "warning"),
    ("nicht auszuschliessen | ß as ss | warning", "Enzephalitis nicht auszuschliessen", "warning"),
    ("Z.n. | history | silent", "Z.n. Krampfanfall 2019", None),
    ("Zustand nach | history | silent", "Zustand nach Krampfanfall 2019", None),
    ("St.p. | history | silent", "St.p. Krampfanfall bei Hyponatriämie 2021", None),
    ("anamnestisch | history | silent", "Anamnestisch Krampfanfälle im Kindesalter.", None),
    (
        "Z.n., jetzt erneut | scope ends at the present | critical",
        "Z.n. Krampfanfall 2019 und jetzt erneuter Krampfanfall",
        "critical",
    ),
    ("Familienanamnese | family | silent", "Familienanamnese: Krampfanfälle", None),
    ("FA: | family | silent", "FA: Krampfanfälle", None),
    ("Mutter mit | family | silent", "Mutter mit Krampfanfällen", None),
    ("bei der Mutter | family after | silent", "Krampfanfälle bei der Mutter", None),
    (
        "Laut Tochter | relative reports the patient's event | critical",
        "Laut Tochter heute Nacht Krampfanfall",
        "critical",
    ),
    (
        "Tochter berichtet | relative reports | warning",
        "Tochter berichtet über Verwirrtheit seit gestern",
        "warning",
    ),
    ("bei Hyponatriämie | named other cause | silent", "Verwirrtheit bei Hyponatriämie", None),
    ("bei CRS | CRS is no other cause | warning", "Verwirrtheit bei CRS Grad 2", "warning"),
    ("chemotherapieinduzierte | cause adjective | silent", "chemotherapieinduzierte Polyneuropathie", None),
    ("bei Diabetes mellitus | named cause | silent", "Polyneuropathie bei Diabetes mellitus", None),
    ("ICANS-Monitoring | label | silent", "ICANS-Monitoring alle 8 Stunden", None),
    ("Aufklärung über | teaching | silent", "Aufklärung über ICANS erfolgt.", None),
    ("somnolent | finding | critical", "Patient somnolent, erweckbar.", "critical"),
    ("Wortfindungsstörungen | aphasia | warning", "Seit heute Wortfindungsstörungen.", "warning"),
]


@pytest.mark.parametrize(("text", "indicator"), [pytest.param(t, i, id=n) for n, t, i in TEXT])
def test_german_text_cell_decides_the_neurotoxicity_card(text: str, indicator: str | None) -> None:
    assert topics(cards([*car_t_day_5(), note(text, 0)])).get(NEURO) == indicator


# --- imaging: German names and OPS codes ------------------------------------------------------------


def ops_procedure(code: str, display: str, offset: int = -5) -> dict[str, Any]:
    return {
        "resourceType": "Procedure",
        "id": f"proc-{code}",
        "status": "completed",
        "code": {"coding": [{"system": OPS, "version": "2025", "code": code, "display": display}]},
        "subject": SUBJECT,
        "performedDateTime": day(offset),
    }


# (cell, records, is a brain MRI)
IMAGING: list[tuple[str, list[dict[str, Any]], bool]] = [
    (
        "MRT Schädel | DiagnosticReport text | brain MRI",
        [report(-5, title="MRT Schädel nativ und mit KM")],
        True,
    ),
    ("cMRT | DiagnosticReport text | brain MRI", [report(-5, title="cMRT")], True),
    ("MRT Kopf | DiagnosticReport text | brain MRI", [report(-5, title="MRT Kopf mit Kontrastmittel")], True),
    ("Schädel-MRT | DiagnosticReport text | brain MRI", [report(-5, title="Schädel-MRT")], True),
    ("Schaedel-MRT | ASCII spelling | brain MRI", [report(-5, title="Schaedel-MRT")], True),
    ("kraniale MRT | DiagnosticReport text | brain MRI", [report(-5, title="kraniale MRT")], True),
    ("MRT des Neurokraniums | text | brain MRI", [report(-5, title="MRT des Neurokraniums")], True),
    (
        "OPS 3-820 | Procedure | brain MRI",
        [ops_procedure("3-820", "MRT des Schädels mit Kontrastmittel")],
        True,
    ),
    ("OPS 3-800 | Procedure | brain MRI", [ops_procedure("3-800", "Native MRT des Schädels")], True),
    ("CCT | DiagnosticReport text | not MRI", [report(-5, title="CCT nativ")], False),
    ("CT Schädel | DiagnosticReport text | not MRI", [report(-5, title="CT Schädel nativ")], False),
    ("OPS 3-200 | Procedure | not MRI", [ops_procedure("3-200", "Native CT des Schädels")], False),
    ("MR-Angiographie | text | not a brain MRI", [report(-5, title="MR-Angiographie Kopf")], False),
    ("MRT Halsweichteile | text | not a brain MRI", [report(-5, title="MRT Halsweichteile")], False),
]


@pytest.mark.parametrize(("records", "is_brain_mri"), [pytest.param(r, b, id=n) for n, r, b in IMAGING])
def test_german_imaging_cell_decides_the_car_t_baseline_card(
    records: list[dict[str, Any]], is_brain_mri: bool
) -> None:
    found = topics(cards(records, [draft("Axicabtagen-Ciloleucel")]))
    assert (BASELINE not in found) is is_brain_mri


# --- therapies: German medication shapes ------------------------------------------------------------


def pzn_draft() -> dict[str, Any]:
    """An ISiK / MII draft order with a contained Medication: PZN product code and an ATC ingredient
    from the BfArM system (the PZN is illustrative; none is in the catalog)."""
    return {
        "resourceType": "MedicationRequest",
        "id": "draft-keytruda",
        "status": "draft",
        "intent": "order",
        "contained": [
            {
                "resourceType": "Medication",
                "id": "med",
                "code": {"coding": [{"system": PZN, "code": "12345678", "display": "KEYTRUDA 25 mg/ml"}]},
                "ingredient": [
                    {
                        "itemCodeableConcept": {"coding": [{"system": ATC_DE, "code": "L01FF02"}]},
                        "isActive": True,
                    }
                ],
            }
        ],
        "medicationReference": {"reference": "#med"},
        "subject": SUBJECT,
    }


def test_a_pzn_medication_with_a_german_atc_ingredient_is_a_checkpoint_inhibitor() -> None:
    assert topics(cards([], [pzn_draft()])) == {BASELINE: "info"}


# (cell, records, CAR-T exposure expected: the neurotoxicity card for a seizure today)
CAR_T_WORDING: list[tuple[str, dict[str, Any], bool]] = [
    ("Gabe von CAR-T-Zellen | Procedure text | exposure", {"code": {"text": "Gabe von CAR-T-Zellen"}}, True),
    ("Axicabtagen-Ciloleucel | German INN | exposure", {"code": {"text": "Axicabtagen-Ciloleucel"}}, True),
    (
        "Entnahme von T-Zellen zur Herstellung von CAR-T-Zellen | apheresis (OPS 5-410.30) | no exposure",
        {"code": {"text": "Entnahme von T-Zellen zur Herstellung von CAR-T-Zellen"}},
        False,
    ),
]


@pytest.mark.parametrize(("fields", "exposed"), [pytest.param(f, e, id=n) for n, f, e in CAR_T_WORDING])
def test_german_car_t_wording_decides_exposure(fields: dict[str, Any], exposed: bool) -> None:
    procedure = {
        "resourceType": "Procedure",
        "id": "proc-cart",
        "status": "completed",
        "subject": SUBJECT,
        "performedDateTime": day(-5),
        **fields,
    }
    found = topics(cards([procedure, note("Verwirrtheit seit heute", 0)]))
    assert (NEURO in found) is exposed


# --- a diagnosis that implies CAR-T exposure, with its Diagnosesicherheit ---------------------------

# (cell, Diagnosesicherheit of the CRS diagnosis, implied exposure expected)
IMPLIED: list[tuple[str, str | None, bool]] = [
    ("Zytokinfreisetzungssyndrom | no Diagnosesicherheit | implies exposure", None, True),
    ("Zytokinfreisetzungssyndrom | Diagnosesicherheit G | implies exposure", "G", True),
    ("Zytokinfreisetzungssyndrom | Diagnosesicherheit A | implies nothing", "A", False),
]


@pytest.mark.parametrize(("certainty", "implied"), [pytest.param(c, i, id=n) for n, c, i in IMPLIED])
def test_an_excluded_crs_diagnosis_implies_no_car_t(certainty: str | None, implied: bool) -> None:
    """No therapy record here: a CRS diagnosis says immune effector cell therapy happened, so new
    confusion is possible ICANS; the same diagnosis marked A (ausgeschlossen) says nothing."""
    crs = diagnosis(
        "R50.9", "Fieber, nicht näher bezeichnet", certainty, text="Zytokinfreisetzungssyndrom Grad 1"
    )
    found = topics(cards([crs, note("Seit heute Verwirrtheit und Wortfindungsstörungen", 0)]))
    assert (NEURO in found) is implied


def neurotoxicity_detail(records: list[dict[str, Any]]) -> str:
    found = [card for card in cards([*nivolumab(), *records]) if card["source"]["topic"]["code"] == NEURO]
    assert found
    return str(found[0]["detail"])


def test_g04_8_with_the_catalogue_title_asks_for_brain_and_cord() -> None:
    """ICD-10-GM G04.8's title names encephalitis, myelitis and encephalomyelitis: both work-ups."""
    detail = neurotoxicity_detail(
        [diagnosis("G04.8", "Sonstige Enzephalitis, Myelitis und Enzephalomyelitis")]
    )
    assert "Encephalomyelitis" in detail


def test_g04_8_whose_own_text_says_only_encephalitis_is_encephalitis() -> None:
    """The code's own German text names only the encephalitis (no catalogue title sent): the broad code
    is narrowed to it (v3 review), so the brain work-up alone."""
    resource = diagnosis("G04.8", "Autoimmunenzephalitis")
    detail = neurotoxicity_detail([resource])
    assert "Encephalomyelitis" not in detail and "Encephalitis" in detail
