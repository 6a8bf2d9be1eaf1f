"""The reviewed knowledge files say what clinical rules v2 needs: ASTCT grades, syndromes and day +28
response assessment per entry, with every code sourced (docs/knowledge-changes-v2.md)."""

from __future__ import annotations

from typing import Any

import pytest
from clinical_support import KNOWLEDGE_DIR

from clinical.knowledge import load_yaml, normalise_name

FINDINGS = load_yaml(KNOWLEDGE_DIR / "neurological-findings.yaml")
THERAPIES = load_yaml(KNOWLEDGE_DIR / "therapies.yaml")
PATIENT_CONTEXT = load_yaml(KNOWLEDGE_DIR / "patient-context.yaml")
FINDING_BY_ID = {entry["id"]: entry for entry in FINDINGS["findings"]}
AGENT_BY_ID = {entry["id"]: entry for entry in THERAPIES["agents"]}


@pytest.mark.parametrize(
    ("finding_id", "icans_grade"),
    [
        ("seizure", 3),
        ("status-epilepticus", 4),
        ("focal-motor-weakness", 4),
        ("cerebral-edema", 3),
        ("diffuse-cerebral-edema", 4),
        ("raised-intracranial-pressure", 4),
        ("somnolence", 2),
        ("obtundation", 3),
        ("stupor-coma", 4),
        ("tremor", None),
        ("myoclonus", None),
        ("intracranial-hemorrhage", None),
        ("icans", None),
    ],
)
def test_each_finding_implies_its_astct_grade(finding_id: str, icans_grade: int | None) -> None:
    assert FINDING_BY_ID[finding_id]["icans_grade"] == icans_grade


@pytest.mark.parametrize(
    ("finding_id", "syndrome", "severity"),
    [
        ("transverse-myelitis", "spinal", "critical"),
        ("myasthenia-gravis", "neuromuscular", "critical"),
        ("myositis", "neuromuscular", "critical"),
        ("guillain-barre", "neuromuscular", "critical"),
        ("cidp", "neuromuscular", "warning"),
        ("neuropathy", "neuromuscular", "warning"),
        ("pres", "central", "critical"),
        ("ischemic-stroke", "central", "critical"),
        ("optic-neuritis", "central", "warning"),
        # Issue 16 sections 3-4 (workup): pituitary work-up; encephalomyelitis is central plus spinal.
        ("hypophysitis", "pituitary", "warning"),
        ("chiasmal-visual-field-loss", "pituitary", "critical"),
        ("encephalomyelitis", "central", "critical"),
    ],
)
def test_each_finding_names_its_syndrome_and_severity(finding_id: str, syndrome: str, severity: str) -> None:
    entry = FINDING_BY_ID[finding_id]
    assert (entry["syndrome"], entry["severity"]) == (syndrome, severity)


def test_every_finding_has_the_v2_fields() -> None:
    for entry in FINDINGS["findings"]:
        assert entry["syndrome"] in ("central", "spinal", "neuromuscular", "pituitary"), entry["id"]
        assert entry["icans_grade"] in (None, 1, 2, 3, 4), entry["id"]
        assert entry["severity"] in ("critical", "warning"), entry["id"]


def _codes(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [code for entry in entries for code in entry.get("codes") or []]


@pytest.mark.parametrize(
    ("data", "entries"),
    [
        (FINDINGS, [*FINDINGS["findings"], *FINDINGS["not_findings"]]),
        (THERAPIES, THERAPIES["agents"]),
        (
            PATIENT_CONTEXT,
            [
                *PATIENT_CONTEXT["mri_safety"]["devices"],
                *PATIENT_CONTEXT["diagnoses"],
                {"codes": PATIENT_CONTEXT["mri_safety"]["conditional_codes"]},
                {"codes": PATIENT_CONTEXT["mri_safety"]["unsafe_codes"]},
                {"codes": PATIENT_CONTEXT["mri_safety"]["egfr"]["codes"]},
            ],
        ),
    ],
    ids=["findings", "therapies", "patient-context"],
)
def test_every_code_is_sourced_and_marked(data: dict[str, Any], entries: list[dict[str, Any]]) -> None:
    for code in _codes(entries):
        assert code["source"] in data["sources"], code
        assert code["verification"] in ("verified", "secondary", "unverified"), code
        assert code.get("match") in (None, "prefix"), code
        # ICD-10-GM (issue 19) has the same family structure as ICD-10-CM.
        assert code.get("match") is None or code["system"] in ("icd10cm", "icd10gm"), code


def test_no_name_belongs_to_two_findings() -> None:
    owners: dict[str, set[str]] = {}
    for entry in [*FINDINGS["findings"], *FINDINGS["not_findings"]]:
        for name in entry["names"]:
            owners.setdefault(normalise_name(name), set()).add(entry["id"])
    assert {name: ids for name, ids in owners.items() if len(ids) > 1} == {}


@pytest.mark.parametrize(
    ("agent_id", "assessment"),
    [
        ("axicabtagene-ciloleucel", "imaging"),
        ("lisocabtagene-maraleucel", "imaging"),
        ("idecabtagene-vicleucel", "laboratory"),
        ("ciltacabtagene-autoleucel", "laboratory"),
        ("anitocabtagene-autoleucel", "laboratory"),
        ("obecabtagene-autoleucel", "laboratory"),
        ("car-t-product-not-named", "imaging"),
    ],
)
def test_car_t_day_28_response_is_assessed_by_imaging_or_laboratory(agent_id: str, assessment: str) -> None:
    assert AGENT_BY_ID[agent_id]["response_assessment"] == assessment


def test_every_car_t_agent_says_how_its_response_is_assessed() -> None:
    for agent in THERAPIES["agents"]:
        if agent["class"] == "car_t":
            assert agent["response_assessment"] in ("imaging", "laboratory"), agent["id"]


def test_ice_and_capd_scores_apply_by_age() -> None:
    ice, capd = FINDINGS["ice_score"], FINDINGS["capd_score"]
    assert (ice["applies_from_age_years"], ice["unarousable_grade"]) == (12, 4)
    assert (capd["applies_below_age_years"], capd["maximum"]) == (12, 32)
    assert [(g["min"], g["max"], g["grade"]) for g in capd["grades"]] == [(1, 8, 1), (9, 32, 3)]


def test_encephalomyelitis_codes_work_up_the_spine_too() -> None:
    """Issue 16 section 4: G04 codes that name encephalomyelitis get the brain and the spine work-up;
    G04.89 / G04.91 (myelitis only) stay spinal."""
    entry = FINDING_BY_ID["encephalomyelitis"]
    assert entry["also_work_up"] == ["spinal"]
    codes = {code["code"] for code in entry["codes"]}
    assert {"G04.81", "G04.90", "G04.9", "G04.0"} <= codes
    myelitis = {code["code"] for code in FINDING_BY_ID["transverse-myelitis"]["codes"]}
    assert {"G04.89", "G04.91"} <= myelitis


def test_the_contrast_threshold_is_the_acr_one() -> None:
    assert PATIENT_CONTEXT["mri_safety"]["egfr"]["below"] == 30
