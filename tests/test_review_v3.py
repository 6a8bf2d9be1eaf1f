"""Classes an independent clinical review of v3 found, each with records that fire and that stay silent
(docs/clinical-validation.md, "What changed"): the myasthenia / myositis pattern named by its signs in
looser words; second-line ICANS treatment documenting ICANS; oedema around a tumour; a code covering
several findings narrowed by its own text; an active diagnosis deciding the day +28 response imaging."""

from __future__ import annotations

from typing import Any

import pytest
from clinical_support import administration, by_topic, cards, condition, day, note, patient, report, topics

PEMBROLIZUMAB = [
    patient(),
    *(administration("pembrolizumab 200 mg IV", offset) for offset in (-84, -63, -42, -21)),
]
AXI_CEL_DAY_4 = [patient(), administration("axicabtagene ciloleucel (Yescarta) infusion", -4)]
NEUROTOXICITY = "possible-neurotoxicity"


def _reason_for(resource: dict[str, Any], target: dict[str, Any]) -> dict[str, Any]:
    return {**resource, "reasonReference": [{"reference": f"Condition/{target['id']}"}]}


# --- the myasthenia / myositis pattern by its signs ------------------------------------------------------

SIGN_NOTES = [
    ("Dysphagia to solids and proximal weakness, difficulty holding head up.", "critical"),
    ("New diplopia since yesterday; bilateral arm weakness worse in the evening.", "critical"),
    ("Complains of trouble swallowing and generalized weakness over two days.", "critical"),
    ("Shortness of breath on exertion with neck weakness.", "critical"),
    ("Proximal muscle weakness, CK pending.", "critical"),
    ("No dysphagia, no weakness.", None),
    ("Denies diplopia; mild fatigue.", None),
    ("Generalized weakness after the weekend, eating well.", None),
    ("History of dysphagia after radiotherapy; no weakness.", None),
]


@pytest.mark.parametrize(("text", "indicator"), SIGN_NOTES, ids=[text[:40] for text, _ in SIGN_NOTES])
def test_the_myasthenia_pattern_is_read_from_its_signs_in_any_words(text: str, indicator: str | None) -> None:
    found = topics(cards([*PEMBROLIZUMAB, note(text, 0)]))
    assert found.get(NEUROTOXICITY) == indicator


def test_a_sign_pattern_card_names_the_neuromuscular_work_up_and_no_brain_mri() -> None:
    card = by_topic(cards([*PEMBROLIZUMAB, note("Dysphagia and proximal weakness today.", 0)]))[NEUROTOXICITY]
    assert "CK" in card["detail"] and "troponin" in card["detail"]
    assert not card.get("suggestions")


# --- second-line ICANS treatment documents ICANS -----------------------------------------------------------

TREATMENTS = [
    ("anakinra 100 mg SC q6h", "Neurotoxicity after CAR-T, steroid-refractory", "critical"),
    ("siltuximab 11 mg/kg IV", "Neurotoxicity after CAR-T", "critical"),
    ("dexamethasone 10 mg IV q6h", "Neurotoxicity after CAR-T", "warning"),
    ("anakinra 100 mg SC daily", "Cytokine release syndrome grade 2", None),
]


@pytest.mark.parametrize(("drug", "reason", "indicator"), TREATMENTS, ids=[row[0] for row in TREATMENTS])
def test_anakinra_or_siltuximab_for_neurotoxicity_documents_icans(
    drug: str, reason: str, indicator: str | None
) -> None:
    target = condition(-1, text=reason)
    given = _reason_for(administration(drug, 0), target)
    # The reason Condition alone: neurotoxicity names a warning finding; CRS names none.
    alone = topics(cards([*AXI_CEL_DAY_4, target])).get(NEUROTOXICITY)
    with_treatment = topics(cards([*AXI_CEL_DAY_4, target, given])).get(NEUROTOXICITY)
    assert with_treatment == (indicator or alone)


# --- oedema around a tumour is the tumour's ---------------------------------------------------------------

OEDEMA_REPORTS = [
    ("Stable right frontal metastasis with mild surrounding vasogenic edema, unchanged.", None),
    ("Vasogenic edema around the known right frontal metastasis, slightly increased.", None),
    ("Edema surrounding the resection cavity, decreasing.", None),
    ("Seizure due to the known glioblastoma.", None),
    ("New diffuse cerebral edema with effacement of the sulci.", "critical"),
    ("Vasogenic edema in the parieto-occipital white matter, no mass: PRES pattern.", "critical"),
]


@pytest.mark.parametrize(
    ("conclusion", "indicator"), OEDEMA_REPORTS, ids=[row[0][:40] for row in OEDEMA_REPORTS]
)
def test_oedema_around_a_tumour_raises_no_card(conclusion: str, indicator: str | None) -> None:
    mri = report(0, title="MR Brain W and WO contrast", conclusion=conclusion, loinc="24587-8")
    assert topics(cards([*PEMBROLIZUMAB, mri])).get(NEUROTOXICITY) == indicator


# --- a code covering several findings, narrowed by its own text ------------------------------------------

NARROWED = [
    ("G04.81", "Encephalitis", False),
    ("G04.81", "Autoimmune encephalitis", False),
    ("G04.81", "Encephalomyelitis", True),
    ("G04.81", None, True),
    ("G04.9", "Myelitis", True),
]


@pytest.mark.parametrize(("code", "text", "spine"), NARROWED, ids=[f"{c}-{t}" for c, t, _ in NARROWED])
def test_a_broad_code_is_narrowed_by_its_own_text(code: str, text: str | None, spine: bool) -> None:
    card = by_topic(cards([*PEMBROLIZUMAB, condition(0, code=code, text=text)]))[NEUROTOXICITY]
    assert ("spine" in card["detail"].lower()) == spine


# --- the active diagnosis decides day +28 response imaging ------------------------------------------------

BREXU_CEL_DAY_24 = [patient(), administration("brexucabtagene autoleucel (Tecartus) infusion", -24)]
DIAGNOSES = [
    ([("C91.02", "active")], False),
    ([("C91.02", "active"), ("C83.30", "remission")], False),
    ([("C83.10", "active")], True),
    ([("C83.10", "remission")], True),
]


@pytest.mark.parametrize(
    ("diagnoses", "pet_ct"), DIAGNOSES, ids=["b-all", "b-all+old-lymphoma", "mcl", "mcl-cr"]
)
def test_the_active_diagnosis_decides_response_imaging(
    diagnoses: list[tuple[str, str]], pet_ct: bool
) -> None:
    conditions = [condition(-400, code=code, clinical=status) for code, status in diagnoses]
    card = by_topic(cards([*BREXU_CEL_DAY_24, *conditions])).get("interval-imaging")
    assert card is not None
    assert ("PET" in card["detail"]) == pet_ct


# --- a grade written in German ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "indicator"), [("Grad 2", "critical"), ("Grad 0", None), ("Grade 3", "critical")]
)
def test_an_icans_grade_written_in_german_is_read(value: str, indicator: str | None) -> None:
    graded = {
        "resourceType": "Observation",
        "id": f"icans-grade-{value.replace(' ', '-')}",
        "status": "final",
        "code": {"text": "Neurotoxizität (ICANS) Grad"},
        "valueString": value,
        "subject": {"reference": "Patient/pt-1"},
        "effectiveDateTime": day(0),
    }
    assert topics(cards([*AXI_CEL_DAY_4, graded])).get(NEUROTOXICITY) == indicator


# --- the second review: the German ICANS code, lay wording, the long name, "encircling" --------------------

GM = "http://fhir.de/CodeSystem/bfarm/icd-10-gm"


@pytest.mark.parametrize(
    ("text", "summary"),
    [
        ("ICANS Grad 3", "ICANS grade 3 documented"),
        ("ICANS Grad 2 nach CAR-T-Zelltherapie", "ICANS grade 2 documented"),
        ("Toxische Enzephalopathie", "Possible ICANS"),
    ],
)
def test_the_german_g92_code_is_narrowed_to_icans_by_its_own_text(text: str, summary: str) -> None:
    coded = condition(0, text=text)
    coded["code"]["coding"] = [{"system": GM, "code": "G92"}]
    card = by_topic(cards([*AXI_CEL_DAY_4, coded]))[NEUROTOXICITY]
    assert card["summary"].startswith(summary), card["summary"]


def test_lay_words_for_fatigable_ptosis_and_bulbar_weakness_are_the_myasthenia_pattern() -> None:
    lay = "Left eyelid droops by late afternoon; coughing when swallowing pills; arms tire brushing hair."
    assert topics(cards([*PEMBROLIZUMAB, note(lay, 0)])).get(NEUROTOXICITY) == "critical"


def test_a_grade_after_the_full_syndrome_name_is_read() -> None:
    long_name = "Immune effector cell-associated neurotoxicity syndrome (ICANS) grade 3"
    card = by_topic(cards([*AXI_CEL_DAY_4, condition(0, text=long_name)]))[NEUROTOXICITY]
    assert card["summary"].startswith("ICANS grade 3 documented"), card["summary"]


def test_oedema_encircling_a_known_metastasis_is_the_tumours() -> None:
    mri = report(
        0,
        title="MR Brain W and WO contrast",
        conclusion="Vasogenic oedema encircling the known left parietal metastasis.",
        loinc="24587-8",
    )
    assert topics(cards([*PEMBROLIZUMAB, mri])).get(NEUROTOXICITY) is None
