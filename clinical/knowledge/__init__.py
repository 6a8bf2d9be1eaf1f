"""The reviewed clinical knowledge (`knowledge/`) and card texts (`cards/`): loaded once at start-up,
validated against their declared schemas (`schema.py`), and indexed for matching."""

from __future__ import annotations

import json
import string
from collections.abc import Iterable
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
    QualifierMatcher,
    TextMatch,
    TextMatcher,
    normalise_name,
    remembered,
    remembering_texts,
)

__all__ = [
    "CARD_LANGUAGES",
    "DEFAULT_LANGUAGE",
    "CardTexts",
    "CodeIndex",
    "CodeSystems",
    "Knowledge",
    "KnowledgeError",
    "PhraseReader",
    "QualifierMatcher",
    "TextMatch",
    "TextMatcher",
    "check_display_names",
    "check_translation",
    "display_names",
    "export_json_schemas",
    "load_card_texts",
    "load_card_translations",
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


CARD_LANGUAGES = ("en", "de")
DEFAULT_LANGUAGE = "en"


def _key_paths(node: object, prefix: str = "") -> dict[str, object]:
    """Every leaf of a card file by key path ("phrases.headline_advised", "override_reasons.reasons[0].code"):
    a list of plain values (evidence ids) is one leaf."""
    if isinstance(node, dict):
        found: dict[str, object] = {}
        for key, value in node.items():
            found.update(_key_paths(value, f"{prefix}.{key}" if prefix else str(key)))
        return found
    if isinstance(node, list) and any(isinstance(item, dict | list) for item in node):
        found = {}
        for index, item in enumerate(node):
            found.update(_key_paths(item, f"{prefix}[{index}]"))
        return found
    return {prefix: node}


def _template_fields(value: object) -> set[str]:
    if not isinstance(value, str):
        return set()
    try:
        return {field for _, field, _, _ in string.Formatter().parse(value) if field}
    except ValueError:
        return set()


def check_translation(english_dir: Path, translated_dir: Path) -> None:
    """A translation holds exactly the English keys, and each template the same placeholders: the first
    difference fails start-up with one line naming the file and the key path."""
    for name in CARD_FILES:
        english = _key_paths(load_yaml(english_dir / name))
        translated = _key_paths(load_yaml(translated_dir / name))
        for key in english:
            if key not in translated:
                raise KnowledgeError(
                    f"{translated_dir / name}: missing key {key} (present in {english_dir / name})"
                )
        for key in translated:
            if key not in english:
                raise KnowledgeError(
                    f"{translated_dir / name}: extra key {key} (not in {english_dir / name})"
                )
        for key, value in english.items():
            wanted, used = _template_fields(value), _template_fields(translated[key])
            if wanted != used:
                raise KnowledgeError(
                    f"{translated_dir / name}: {key} uses placeholders {sorted(used)}, "
                    f"the English text {sorted(wanted)}"
                )


def load_card_translations(cards_dir: Path) -> dict[str, CardTexts]:
    """Each translation of the English texts in `cards/`, from `cards/<language>/` (issue 19: German),
    checked key for key against the English ones. A translation directory that does not exist is not
    offered (its language falls back to English)."""
    languages: dict[str, CardTexts] = {}
    for language in CARD_LANGUAGES:
        translated_dir = cards_dir / language
        if language == DEFAULT_LANGUAGE or not translated_dir.is_dir():
            continue
        check_translation(cards_dir, translated_dir)
        languages[language] = load_card_texts(translated_dir)
    return languages


def display_names(knowledge: Knowledge, language: str) -> dict[str, str]:
    """The names cards in `language` give the catalogue's findings and agents, by their English display
    (German review, validation row 104): {"Seizure": "Krampfanfall", "axicabtagene ciloleucel":
    "Axicabtagen-Ciloleucel"}. English, and any name without a translation, keep the display."""
    if language != "de":
        return {}
    names = {entry.display: entry.display_de for entry in knowledge.findings.findings if entry.display_de}
    names.update(
        {
            agent.display: agent.display_de or _german_noun(agent.display)
            for agent in knowledge.therapies.agents
        }
    )
    return names


def _german_noun(display: str) -> str:
    """An agent's name in a German sentence: a noun, capitalised ("Pembrolizumab", "Tisagenlecleucel", as
    the German product information writes them; German review, class W)."""
    return display[:1].upper() + display[1:]


def check_display_names(knowledge: Knowledge, languages: Iterable[str]) -> None:
    """Every finding a German card can show has its German name (`display_de`, the English term repeated
    where German uses it): a missing one fails start-up naming the finding, as a missing card key does."""
    if "de" not in languages:
        return
    for entry in knowledge.findings.findings:
        if not entry.display_de:
            raise KnowledgeError(
                f"knowledge/neurological-findings.yaml: finding {entry.id} has no display_de "
                "(German cards name it; write the English term again where German uses it)"
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
