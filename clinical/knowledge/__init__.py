"""The reviewed clinical knowledge (`knowledge/`) and card texts (`cards/`): loaded once at start-up,
validated against their declared schemas (`schema.py`), and indexed for matching."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel

from clinical.knowledge.codes import CodeIndex, CodeSystems
from clinical.knowledge.loading import KnowledgeError, load_model, load_yaml
from clinical.knowledge.schema import (
    BaselineCardsFile,
    BrainImagingFile,
    CodeSystemsFile,
    CommonCardsFile,
    FindingsFile,
    IntervalCardsFile,
    NeurotoxicityCardsFile,
    PatientContextFile,
    TextMatchingFile,
    TherapiesFile,
    TimingFile,
)
from clinical.knowledge.text import (
    PhraseReader,
    TextMatch,
    TextMatcher,
    normalise_name,
    remembered,
    remembering_texts,
)

__all__ = [
    "CardTexts",
    "CodeIndex",
    "CodeSystems",
    "Knowledge",
    "KnowledgeError",
    "PhraseReader",
    "TextMatch",
    "TextMatcher",
    "export_json_schemas",
    "load_card_texts",
    "load_knowledge",
    "load_yaml",
    "normalise_name",
    "remembered",
    "remembering_texts",
]

KNOWLEDGE_FILES: dict[str, type[BaseModel]] = {
    "code-systems.yaml": CodeSystemsFile,
    "therapies.yaml": TherapiesFile,
    "neurological-findings.yaml": FindingsFile,
    "brain-imaging.yaml": BrainImagingFile,
    "text-matching.yaml": TextMatchingFile,
    "timing.yaml": TimingFile,
    "patient-context.yaml": PatientContextFile,
}
CARD_FILES: dict[str, type[BaseModel]] = {
    "common.yaml": CommonCardsFile,
    "baseline-brain-mri.yaml": BaselineCardsFile,
    "interval-imaging.yaml": IntervalCardsFile,
    "possible-neurotoxicity.yaml": NeurotoxicityCardsFile,
}


@dataclass(frozen=True)
class Knowledge:
    systems: CodeSystems
    therapies: TherapiesFile
    findings: FindingsFile
    imaging: BrainImagingFile
    text: TextMatchingFile
    timing: TimingFile
    context: PatientContextFile


@dataclass(frozen=True)
class CardTexts:
    common: CommonCardsFile
    baseline: BaselineCardsFile
    interval: IntervalCardsFile
    neurotoxicity: NeurotoxicityCardsFile


def load_knowledge(knowledge_dir: Path) -> Knowledge:
    return Knowledge(
        systems=CodeSystems.from_file(load_model(knowledge_dir / "code-systems.yaml", CodeSystemsFile)),
        therapies=load_model(knowledge_dir / "therapies.yaml", TherapiesFile),
        findings=load_model(knowledge_dir / "neurological-findings.yaml", FindingsFile),
        imaging=load_model(knowledge_dir / "brain-imaging.yaml", BrainImagingFile),
        text=load_model(knowledge_dir / "text-matching.yaml", TextMatchingFile),
        timing=load_model(knowledge_dir / "timing.yaml", TimingFile),
        context=load_model(knowledge_dir / "patient-context.yaml", PatientContextFile),
    )


def load_card_texts(cards_dir: Path) -> CardTexts:
    return CardTexts(
        common=load_model(cards_dir / "common.yaml", CommonCardsFile),
        baseline=load_model(cards_dir / "baseline-brain-mri.yaml", BaselineCardsFile),
        interval=load_model(cards_dir / "interval-imaging.yaml", IntervalCardsFile),
        neurotoxicity=load_model(cards_dir / "possible-neurotoxicity.yaml", NeurotoxicityCardsFile),
    )


def export_json_schemas(out_dir: Path) -> list[Path]:
    """One JSON Schema per knowledge and card file (`therapies.schema.json`, ...), for editors."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, model in {**KNOWLEDGE_FILES, **CARD_FILES}.items():
        target = out_dir / name.replace(".yaml", ".schema.json")
        schema = model.model_json_schema(by_alias=True)
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        schema["title"] = name
        target.write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        written.append(target)
    return written
