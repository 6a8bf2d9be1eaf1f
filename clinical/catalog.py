"""The therapy catalog (knowledge/therapies.yaml): which agents count as exposure, and matching a
medication's codes and names against them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from clinical.fhir_data import codings, concept_texts
from clinical.knowledge import CodeIndex, CodeSystems, KnowledgeError, TextMatcher, load_yaml

TherapyClass = Literal["ici", "car_t", "t_cell_engager"]
THERAPY_CLASSES: tuple[TherapyClass, ...] = ("ici", "car_t", "t_cell_engager")


@dataclass(frozen=True)
class Agent:
    id: str
    display: str
    therapy_class: TherapyClass
    target: str
    names: tuple[str, ...]
    generic: bool


@dataclass(frozen=True)
class CodeEntry:
    agent: Agent
    verified: bool


@dataclass(frozen=True)
class AgentMatch:
    agent: Agent
    matched_by: str  # "RxNorm code 1657746" / "name 'Opdivo'" for the card's detail


@dataclass(frozen=True)
class TherapyClassInfo:
    display: str
    neurotoxicity_syndrome: str


class TherapyCatalog:
    def __init__(
        self,
        agents: list[Agent],
        classes: dict[str, TherapyClassInfo],
        codes: CodeIndex[CodeEntry],
        look_alikes: tuple[str, ...],
    ) -> None:
        self.agents = agents
        self.classes = classes
        self._codes = codes
        self._names = TextMatcher((name, agent) for agent in agents for name in agent.names)
        self.look_alikes = look_alikes

    @classmethod
    def load(cls, path: Path, systems: CodeSystems) -> TherapyCatalog:
        data = load_yaml(path)
        classes = {
            key: TherapyClassInfo(value["display"], value["neurotoxicity_syndrome"])
            for key, value in data["classes"].items()
        }
        agents: list[Agent] = []
        codes: CodeIndex[CodeEntry] = CodeIndex(systems)
        for entry in data["agents"]:
            if entry["class"] not in THERAPY_CLASSES:
                raise KnowledgeError(f"agent {entry['id']}: unknown class {entry['class']!r}")
            agent = Agent(
                id=entry["id"],
                display=entry["display"],
                therapy_class=entry["class"],
                target=str(entry.get("target", "")),
                names=tuple(entry["names"]),
                generic=bool(entry.get("generic", False)),
            )
            agents.append(agent)
            for code in entry.get("codes") or []:
                verified = code["verification"] in ("verified", "secondary")
                codes.add(code["system"], str(code["code"]), CodeEntry(agent, verified))
        return cls(agents, classes, codes, tuple(data.get("look_alikes", [])))

    def match(self, concepts: Iterable[Any], extra_texts: Iterable[str] = ()) -> list[AgentMatch]:
        """Agents named by these CodeableConcepts (and texts such as a reference's display)."""
        by_code: dict[str, AgentMatch] = {}
        unverified: dict[str, AgentMatch] = {}
        texts = list(extra_texts)
        for concept in concepts:
            texts.extend(concept_texts(concept))
            for system, code in codings(concept):
                entry = self._codes.lookup(system, code)
                if entry is None:
                    continue
                found = AgentMatch(entry.agent, f"code {code}")
                (by_code if entry.verified else unverified)[entry.agent.id] = found
        by_name: dict[str, AgentMatch] = {}
        # A concept's text and its codings' displays are often the same string: read each once.
        for text in dict.fromkeys(texts):
            for hit in self._names.find(text):
                by_name.setdefault(hit.value.id, AgentMatch(hit.value, f"name '{text[hit.start : hit.end]}'"))
        matches = dict(by_name)
        matches.update(by_code)
        # An unverified code is never relied on alone: it counts only when the name agrees.
        for agent_id, found in unverified.items():
            if agent_id in by_name:
                matches[agent_id] = found
        return _drop_generic(list(matches.values()))


def _drop_generic(matches: list[AgentMatch]) -> list[AgentMatch]:
    named_classes = {found.agent.therapy_class for found in matches if not found.agent.generic}
    return [
        found for found in matches if not (found.agent.generic and found.agent.therapy_class in named_classes)
    ]
