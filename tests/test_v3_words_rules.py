"""Issue 16 sections 2, 3 and 8 (the `words` part) through the whole clinical core: a record in, the cards
out. Each class fires and stays silent: relatives reporting the patient's event, flares of a known
neuro-autoimmune disease, CRS as no alternative cause, chemotherapy neuropathy and alcohol withdrawal as
causes that do explain a finding, diagnoses that imply immune effector cell therapy (T80.82-, D89.83-),
the myasthenia pattern by its signs, focal weakness (ASTCT motor domain) and plain "motor weakness",
obtundation under a checkpoint inhibitor."""

from __future__ import annotations

from typing import Any

import pytest
from clinical_support import administration, advice, cards, condition, note, order, topics

from clinical.rules.neurotoxicity import NeurotoxicityAdvice

PEMBROLIZUMAB = "pembrolizumab 200 mg IV q3w"
NIVOLUMAB = "nivolumab 240 mg IV q2w"
CARBO_PACLI_PEMBRO = ["carboplatin AUC 5 IV", "paclitaxel 200 mg/m2 IV", PEMBROLIZUMAB]


def on_pembrolizumab(*resources: dict[str, Any]) -> list[dict[str, Any]]:
    return [administration(PEMBROLIZUMAB, -42), order(PEMBROLIZUMAB, -42), *resources]


def after_car_t(*resources: dict[str, Any], day: int = -5) -> list[dict[str, Any]]:
    return [administration("axicabtagene ciloleucel (Yescarta) infusion", day), *resources]


NEUROTOXICITY = "possible-neurotoxicity"

CASES = [
    # (name, record, expected neurotoxicity indicator or None)
    (
        "wife witnessed seizure under ICI",
        on_pembrolizumab(note("Wife witnessed his seizure at home", -1)),
        "critical",
    ),
    (
        "mother has noticed confusion",
        on_pembrolizumab(note("mother has noticed that he is confused", -1)),
        "warning",
    ),
    (
        "FHx epilepsy in mother",
        on_pembrolizumab(condition(-1, text="Family history: mother had seizures")),
        None,
    ),
    ("seizures in his mother", on_pembrolizumab(note("Seizures in his mother", -1)), None),
    (
        "MG exacerbation under pembrolizumab",
        on_pembrolizumab(condition(-2, text="Myasthenia gravis exacerbation")),
        "critical",
    ),
    (
        "exacerbation of pre-existing MG",
        on_pembrolizumab(note("exacerbation of pre-existing myasthenia gravis", -2)),
        "critical",
    ),
    ("history of myasthenia, stable", on_pembrolizumab(note("history of myasthenia, stable", -2)), None),
    (
        "confusion in the setting of CRS after CAR-T",
        after_car_t(note("confusion in the setting of CRS", -1)),
        "warning",
    ),
    (
        "encephalopathy secondary to CRS after CAR-T",
        after_car_t(note("encephalopathy secondary to CRS", -1)),
        "warning",
    ),
    ("confusion due to sepsis after CAR-T", after_car_t(note("confusion due to sepsis", -1)), None),
    (
        "vincristine-induced neuropathy on pembrolizumab",
        on_pembrolizumab(condition(-3, code="G62.0", text="Vincristine-induced peripheral neuropathy")),
        None,
    ),
    ("CIPN on pembrolizumab", on_pembrolizumab(note("CIPN grade 2, dose reduced", -3)), None),
    (
        "neuropathy without a cause on carboplatin/paclitaxel/pembrolizumab",
        [
            *(administration(drug, -42) for drug in CARBO_PACLI_PEMBRO),
            condition(-3, text="peripheral neuropathy"),
        ],
        "warning",
    ),
    (
        "alcohol withdrawal delirium on pembrolizumab",
        on_pembrolizumab(condition(-1, code="F10.231", text="Alcohol withdrawal delirium")),
        None,
    ),
    (
        "fatigable ptosis and diplopia under nivolumab",
        [administration(NIVOLUMAB, -30), note("fatigable ptosis and diplopia", -1)],
        "critical",
    ),
    (
        "obtundation under pembrolizumab",
        on_pembrolizumab(note("obtunded, arouses only to sternal rub", -1)),
        "critical",
    ),
    ("somnolence under pembrolizumab", on_pembrolizumab(note("somnolent", -1)), "warning"),
    (
        "T80.82XA with confusion, no therapy record",
        [condition(-4, code="T80.82XA"), note("confused", -1)],
        "warning",
    ),
    (
        "D89.832 with confusion, no therapy record",
        [condition(-4, code="D89.832"), note("confused", -1)],
        "warning",
    ),
    ("T80.82XA alone is no finding", [condition(-4, code="T80.82XA")], None),
    (
        "T80.82XA refuted implies nothing",
        [
            condition(-4, code="T80.82XA", verificationStatus={"coding": [{"code": "refuted"}]}),
            note("confused", -1),
        ],
        None,
    ),
    ("T80.82XA 40 days after the finding", [condition(0, code="T80.82XA"), note("confused", -40)], None),
]


@pytest.mark.parametrize(("record", "expected"), [pytest.param(r, e, id=n) for n, r, e in CASES])
def test_v3_words_through_the_clinical_core(record: list[dict[str, Any]], expected: str | None) -> None:
    assert topics(cards(record)).get(NEUROTOXICITY) == expected


def _neurotoxicity(record: list[dict[str, Any]]) -> NeurotoxicityAdvice:
    return next(item for item in advice(record) if isinstance(item, NeurotoxicityAdvice))


def test_v3_confusion_with_crs_after_car_t_is_icans() -> None:
    found = _neurotoxicity(after_car_t(note("confusion in the setting of CRS", -1)))
    assert found.syndrome == "icans"


def test_v3_implied_exposure_names_the_diagnosis_and_says_the_therapy_is_not_recorded() -> None:
    card = next(
        c
        for c in cards([condition(-4, code="T80.82XA"), note("confused", -1)])
        if c["source"]["topic"]["code"] == NEUROTOXICITY
    )
    assert "T80.82XA" in card["detail"]
    assert "not recorded here" in card["detail"]
    assert card["summary"].startswith("Possible ICANS")


def test_v3_crs_does_not_override_a_recorded_checkpoint_inhibitor() -> None:
    found = _neurotoxicity(on_pembrolizumab(condition(-4, code="D89.832"), note("confused", -1)))
    assert found.syndrome == "irae" and not found.therapy_not_recorded


def test_v3_t80_82_leads_as_icans_even_with_a_checkpoint_inhibitor_on_record() -> None:
    found = _neurotoxicity(on_pembrolizumab(condition(-4, code="T80.82XA"), note("confused", -1)))
    assert found.syndrome == "icans"


def test_v3_myasthenia_pattern_has_the_neuromuscular_work_up_and_no_brain_mri() -> None:
    found = _neurotoxicity([administration(NIVOLUMAB, -30), note("new ptosis and diplopia", -1)])
    assert found.work_up == ("neuromuscular",) and found.syndrome == "irae"


@pytest.mark.parametrize(
    ("text", "grade"),
    [("left-sided weakness", 4), ("hemiparesis", 4), ("right arm weakness", 4)],
)
def test_v3_focal_weakness_is_icans_grade_4(text: str, grade: int) -> None:
    found = _neurotoxicity(after_car_t(note(text, -1)))
    assert found.grade is not None and found.grade.grade == grade


@pytest.mark.parametrize("text", ["motor weakness", "generalized weakness", "weakness"])
def test_v3_unspecified_weakness_is_no_grade_4_finding(text: str) -> None:
    assert NEUROTOXICITY not in topics(cards(after_car_t(note(text, -1))))
