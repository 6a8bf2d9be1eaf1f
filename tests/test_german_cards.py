"""Cards in German (issue 19 section 3): `cards/de/` holds exactly the English keys and placeholders,
checked at start-up with a one-line error; German cards read as a German oncologist or neuroradiologist
writes, with dates as 04.12.2026; English stays the default."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, time
from pathlib import Path
from typing import Any

import pytest
import yaml
from clinical_support import (
    CARDS_DIR,
    KNOWLEDGE_DIR,
    PATIENT,
    TODAY,
    administration,
    cards,
    day,
    evaluator,
    report,
    score,
    timeline,
)

from clinical.cards.common import SUMMARY_LIMIT
from clinical.evaluation import Evaluator
from clinical.knowledge import CARD_FILES, KnowledgeError
from clinical.knowledge.loading import load_yaml

GERMAN_DIR = CARDS_DIR / "de"


def german_date(offset: int) -> str:
    iso = day(offset)
    return f"{iso[8:10]}.{iso[5:7]}.{iso[0:4]}"


def key_paths(node: object, prefix: str = "") -> set[str]:
    if isinstance(node, dict):
        return {
            path
            for key, value in node.items()
            for path in key_paths(value, f"{prefix}.{key}" if prefix else str(key))
        }
    if isinstance(node, list) and any(isinstance(item, dict) for item in node):
        return {path for index, item in enumerate(node) for path in key_paths(item, f"{prefix}[{index}]")}
    return {prefix}


# --- 1. the same keys, both ways ---------------------------------------------------------------------------


@pytest.mark.parametrize("file_name", sorted(CARD_FILES))
def test_every_english_key_has_its_german_counterpart_and_vice_versa(file_name: str) -> None:
    english = key_paths(load_yaml(CARDS_DIR / file_name))
    german = key_paths(load_yaml(GERMAN_DIR / file_name))
    assert english - german == set(), f"missing in cards/de/{file_name}"
    assert german - english == set(), f"extra in cards/de/{file_name}"


def _copy_cards(tmp_path: Path) -> Path:
    target = tmp_path / "cards"
    shutil.copytree(CARDS_DIR, target)
    return target


def _edit(path: Path, change: Any) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")


# (case, file, the edit, words the one-line error names)
BROKEN: list[tuple[str, str, Any, list[str]]] = [
    (
        "a German phrase missing",
        "baseline-brain-mri.yaml",
        lambda data: data["phrases"].pop("no_brain_mri"),
        ["de/baseline-brain-mri.yaml", "missing key phrases.no_brain_mri"],
    ),
    (
        "an extra German key",
        "common.yaml",
        lambda data: data["words"].update({"heute": "heute"}),
        ["de/common.yaml", "extra key words.heute"],
    ),
    (
        "a German window without its folded sentence",
        "interval-imaging.yaml",
        lambda data: data["windows"]["car-t-icans-window"].pop("folded"),
        ["de/interval-imaging.yaml", "missing key windows.car-t-icans-window.folded"],
    ),
    (
        "a German template with another placeholder",
        "possible-neurotoxicity.yaml",
        lambda data: data.update({"summary": "{headline} nach {therapies}: {action}"}),
        ["de/possible-neurotoxicity.yaml", "summary uses placeholders"],
    ),
]


@pytest.mark.parametrize(
    ("file_name", "edit", "named"), [pytest.param(*row[1:], id=row[0]) for row in BROKEN]
)
def test_start_up_fails_with_one_line_naming_file_and_key(
    tmp_path: Path, file_name: str, edit: Any, named: list[str]
) -> None:
    cards_dir = _copy_cards(tmp_path)
    _edit(cards_dir / "de" / file_name, edit)
    with pytest.raises(KnowledgeError) as refused:
        Evaluator.load(KNOWLEDGE_DIR, cards_dir)
    message = str(refused.value)
    assert "\n" not in message
    for words in named:
        assert words in message, message


def test_the_german_texts_load_and_english_stays_the_default() -> None:
    loaded = evaluator()
    assert set(loaded.translations) == {"de"}
    assert loaded.renderer_for("fr") is loaded.renderer
    assert loaded.renderer_for("en") is loaded.renderer


# --- 2. German cards for representative advice kinds -------------------------------------------------------


def german_cards(record: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return evaluator().cards_from_timeline(
        timeline(record, None, TODAY),
        now=datetime.combine(TODAY, time(10, 0), tzinfo=UTC),
        patient_id=PATIENT,
        user_id="Practitioner/dr-1",
        encounter_id=None,
        language="de",
    )


def pembrolizumab_order_draft() -> dict[str, Any]:
    return {
        "resourceType": "MedicationRequest",
        "id": "draft-pembro",
        "status": "draft",
        "intent": "order",
        "medicationCodeableConcept": {"text": "pembrolizumab 200 mg IV every 3 weeks"},
        "subject": {"reference": f"Patient/{PATIENT}"},
    }


def iupd(offset: int) -> dict[str, Any]:
    return report(
        offset,
        title="CT chest abdomen pelvis with IV contrast",
        conclusion="New adrenal nodule 2.1 cm. iRECIST: unconfirmed progression (iUPD).",
    )


PACEMAKER: dict[str, Any] = {
    "resourceType": "Condition",
    "id": "pacemaker",
    "clinicalStatus": {
        "coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]
    },
    "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "Z95.0"}]},
    "subject": {"reference": f"Patient/{PATIENT}"},
    "onsetDateTime": day(-900),
}

# (case, record, draft orders, topic, indicator, words the German card says)
GERMAN: list[tuple[str, list[dict[str, Any]], list[dict[str, Any]], str, str, list[str]]] = [
    (
        "CAR-T ICANS grade 2 (ICE 4 today): critical",
        [administration("Yescarta", -5), score("ICE score", 4, 0)],
        [],
        "possible-neurotoxicity",
        "critical",
        [
            "Mögliches ICANS Grad 2 nach ",
            "dringliche MRT des Schädels und neurologisches Konsil",
            f"ICE-Score 4/10 am {german_date(0)}",
            f"Infusion am {german_date(-5)}",
            "**Empfohlen:**",
        ],
    ),
    (
        "checkpoint inhibitor ordered, no baseline: info",
        [],
        [pembrolizumab_order_draft()],
        "baseline-brain-mri",
        "info",
        [
            "Baseline-MRT des Schädels vor Pembrolizumab (Checkpoint-Inhibitor) erwägen",
            "Keine MRT des Schädels",
        ],
    ),
    (
        "iRECIST confirmation due",
        [
            *[administration("pembrolizumab 200 mg IV", offset) for offset in (-90, -69, -48, -27)],
            iupd(-35),
        ],
        [],
        "interval-imaging",
        "warning",
        [f"V. a. Progress am {german_date(-35)}", "iRECIST-Bestätigung fällig", german_date(-35 + 56)],
    ),
    (
        "MRI contraindicated (pacemaker), ICANS",
        [administration("Yescarta", -5), score("ICE score", 4, -1), PACEMAKER],
        [],
        "possible-neurotoxicity",
        "critical",
        [
            "dringliche CT des Schädels",
            "**Keine MRT-Anforderung vorgeschlagen:**",
            "Rücksprache mit Radiologie",
        ],
    ),
    (
        "ICE 2 five days ago, no assessment since (stale)",
        [administration("Yescarta", -9), score("ICE score", 2, -5)],
        [],
        "possible-neurotoxicity",
        "warning",
        [f"zuletzt ICE-Score 2/10 am {german_date(-5)} dokumentiert", "**Derzeit nicht kritisch:**"],
    ),
]


@pytest.mark.parametrize(
    ("record", "drafts", "topic", "indicator", "said"), [pytest.param(*row[1:], id=row[0]) for row in GERMAN]
)
def test_a_german_card_speaks_german_with_german_dates(
    record: list[dict[str, Any]], drafts: list[dict[str, Any]], topic: str, indicator: str, said: list[str]
) -> None:
    found = evaluator().cards_from_timeline(
        timeline(record, drafts, TODAY),
        now=datetime.combine(TODAY, time(10, 0), tzinfo=UTC),
        patient_id=PATIENT,
        user_id="Practitioner/dr-1",
        encounter_id=None,
        language="de",
    )
    (card,) = [c for c in found if c["source"]["topic"]["code"] == topic]
    assert card["indicator"] == indicator
    assert len(card["summary"]) < SUMMARY_LIMIT
    text = card["summary"] + "\n" + card["detail"]
    for words in said:
        assert words in text, text
    assert day(0) not in text and day(-5) not in text, "an ISO date in a German card"
    for reason in card.get("overrideReasons", []):
        assert reason["code"] in {"done-elsewhere", "contraindicated", "not-indicated", "patient-declined"}
    english = [c for c in cards(record, drafts) if c["source"]["topic"]["code"] == topic]
    assert [c["source"]["topic"]["code"] for c in english] == [topic]
    assert english[0]["summary"] != card["summary"]


def test_german_override_reasons_keep_the_codes() -> None:
    record = [administration("Yescarta", -5), score("ICE score", 4, 0)]
    (card,) = [c for c in german_cards(record) if c["source"]["topic"]["code"] == "possible-neurotoxicity"]
    reasons = {reason["code"]: reason["display"] for reason in card["overrideReasons"]}
    assert reasons["contraindicated"] == "MRT bei diesem Patienten kontraindiziert"
    assert reasons["patient-declined"] == "Vom Patienten abgelehnt"
    (english,) = [c for c in cards(record) if c["source"]["topic"]["code"] == "possible-neurotoxicity"]
    assert card["links"] == english["links"], "sources are cited the same way in both languages"
    assert [r["code"] for r in card["overrideReasons"]] == [r["code"] for r in english["overrideReasons"]]


def test_every_german_summary_template_is_short() -> None:
    texts = yaml.safe_load((GERMAN_DIR / "interval-imaging.yaml").read_text(encoding="utf-8"))
    for wording in texts["windows"].values():
        assert len(wording["summary"]) < SUMMARY_LIMIT
