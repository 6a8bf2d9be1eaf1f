"""The declared schemas of knowledge/ and cards/: a reviewer's typo is refused at start-up with the file,
the key path and the allowed values; the exported JSON Schemas stay in step with the models."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from clinical_support import CARDS_DIR, KNOWLEDGE_DIR

from clinical.evaluation import Evaluator
from clinical.knowledge import CARD_FILES, KNOWLEDGE_FILES, KnowledgeError, export_json_schemas

REPO = KNOWLEDGE_DIR.parent


@pytest.fixture
def copies(tmp_path: Path) -> tuple[Path, Path]:
    knowledge = tmp_path / "knowledge"
    cards = tmp_path / "cards"
    shutil.copytree(KNOWLEDGE_DIR, knowledge)
    shutil.copytree(CARDS_DIR, cards)
    return knowledge, cards


def replace_once(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.count(old) >= 1, f"{old!r} not in {path.name}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


# (file, text to replace, replacement, what the message must name)
TYPOS = [
    (
        "knowledge/timing.yaml",
        "indicator: warning",
        "indicator: warnng",
        [
            "timing.yaml",
            "interval_imaging.windows[0].indicator",
            "car-t-icans-window",
            "'warnng'",
            "'warning'",
        ],
    ),
    (
        "knowledge/timing.yaml",
        "new_finding_days: 30",
        "new_finding_dayz: 30",
        ["timing.yaml", "possible_neurotoxicity.new_finding_days", "Field required"],
    ),
    (
        "knowledge/neurological-findings.yaml",
        "syndrome: neuromuscular",
        "syndrome: neuromuscle",
        ["neurological-findings.yaml", "syndrome", "'neuromuscle'", "'central'", "'spinal'"],
    ),
    (
        "knowledge/therapies.yaml",
        "class: car_t",
        "class: cart",
        ["therapies.yaml", "agents[", "class", "'cart'", "'car_t'"],
    ),
    (
        "cards/possible-neurotoxicity.yaml",
        "priority: urgent",
        "priority: urgnt",
        ["possible-neurotoxicity.yaml", "suggestion.priority", "'urgent'"],
    ),
    (
        "cards/baseline-brain-mri.yaml",
        'summary: "Baseline brain MRI advised before {therapies}"',
        'summary: "Baseline brain MRI advised before {therapy}"',
        ["baseline-brain-mri.yaml summary", "therapy", "allowed"],
    ),
]


@pytest.mark.parametrize(
    ("relative", "old", "new", "named"), [pytest.param(*typo, id=f"{typo[0]}:{typo[2]}") for typo in TYPOS]
)
def test_a_typo_is_refused_naming_file_key_path_and_allowed_values(
    copies: tuple[Path, Path], relative: str, old: str, new: str, named: list[str]
) -> None:
    knowledge, cards = copies
    replace_once(knowledge.parent / relative, old, new)
    with pytest.raises(KnowledgeError) as raised:
        Evaluator.load(knowledge, cards)
    for expected in named:
        assert expected in str(raised.value), str(raised.value)


def test_the_service_refuses_to_start_on_a_knowledge_typo(copies: tuple[Path, Path]) -> None:
    knowledge, cards = copies
    replace_once(knowledge / "timing.yaml", "indicator: warning", "indicator: warnng")
    environment = {
        **os.environ,
        "CDS_KNOWLEDGE_DIR": str(knowledge),
        "CDS_CARDS_DIR": str(cards),
        "CDS_PROFILE": "development",
    }
    finished = subprocess.run(
        [sys.executable, "-c", "import service.app as module; module.app"],
        cwd=REPO,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert finished.returncode != 0
    assert "timing.yaml" in finished.stderr and "'warnng'" in finished.stderr
    assert "Traceback" not in finished.stderr


def test_the_repository_knowledge_loads() -> None:
    Evaluator.load(KNOWLEDGE_DIR, CARDS_DIR)


def test_exported_json_schemas_are_current(tmp_path: Path) -> None:
    written = export_json_schemas(tmp_path)
    assert len(written) == len(KNOWLEDGE_FILES) + len(CARD_FILES)
    for fresh in written:
        committed = KNOWLEDGE_DIR / "schemas" / fresh.name
        assert committed.exists(), f"run the export: {committed} is missing"
        assert json.loads(committed.read_text()) == json.loads(fresh.read_text()), (
            f"{committed} is stale: regenerate with clinical.knowledge.export_json_schemas"
        )


@pytest.mark.parametrize("path", sorted([*KNOWLEDGE_DIR.glob("*.yaml"), *CARDS_DIR.glob("*.yaml")]), ids=str)
def test_every_knowledge_file_names_its_schema_for_editors(path: Path) -> None:
    first = path.read_text(encoding="utf-8").splitlines()[0]
    assert first.startswith("# yaml-language-server: $schema=")
    schema = (path.parent / first.split("$schema=", 1)[1]).resolve()
    assert schema.exists(), schema


def test_check_knowledge_command_accepts_the_repository_and_refuses_a_typo(
    copies: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    from service.cli import main

    assert main(["check-knowledge", str(KNOWLEDGE_DIR), "--cards", str(CARDS_DIR)]) == 0
    assert "are valid" in capsys.readouterr().out
    knowledge, cards = copies
    replace_once(knowledge / "timing.yaml", "indicator: warning", "indicator: warnng")
    assert main(["check-knowledge", str(knowledge), "--cards", str(cards)]) == 1
    assert "'warnng'" in capsys.readouterr().err


def test_check_knowledge_writes_the_json_schemas(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from service.cli import main

    assert main(["check-knowledge", "--write-schemas", str(tmp_path)]) == 0
    assert (tmp_path / "therapies.schema.json").exists()
