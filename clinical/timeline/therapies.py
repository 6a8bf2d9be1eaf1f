"""The therapy catalog (knowledge/therapies.yaml): which agents count as exposure, and matching a
medication's or procedure's codes and names against them."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from clinical.fhir_data import codings, concept_texts
from clinical.knowledge import CodeIndex, CodeSystems, PhraseReader, QualifierMatcher, TextMatcher, remembered
from clinical.knowledge.schema import (
    THERAPY_CLASSES,
    ProgressionTerms,
    TextMatchingFile,
    TherapiesFile,
    TherapyClass,
)

__all__ = ["THERAPY_CLASSES", "Agent", "AgentMatch", "TherapyCatalog", "TherapyClass"]


@dataclass(frozen=True)
class Agent:
    id: str
    display: str
    therapy_class: TherapyClass
    generic: bool
    response_by_imaging: bool  # CAR-T: the day +28 response is assessed by imaging


@dataclass(frozen=True)
class _CodeEntry:
    agent: Agent
    verified: bool


@dataclass(frozen=True)
class AgentMatch:
    agent: Agent
    matched_by: str  # "code 1657746" / "name 'Opdivo'": for the timeline view, never for card text


def _context_reader(data: TherapiesFile, text_rules: TextMatchingFile | None) -> PhraseReader | None:
    """The therapies file's not-exposure cues, read with the phrase rules of the text-matching file
    (same phrase breaks and text cap): a "before" cue is a negation, an "after" cue a qualifier."""
    context = data.not_exposure_context
    if context is None:
        return None
    return PhraseReader(
        TextMatchingFile(
            max_text_chars=text_rules.max_text_chars if text_rules else 20000,
            phrase_breaks=list(text_rules.phrase_breaks) if text_rules else ["but", "however"],
            negation_before=list(context.before),
            uncertainty_before=[],
            history_before=[],
            qualifier_after=list(context.after),
            qualifier_after_max_chars=context.after_max_chars,
            uncertainty_after=[],
            absent_values=[],
            progression=ProgressionTerms(suspected=[], confirmed=[]),
        )
    )


class TherapyCatalog:
    def __init__(
        self, data: TherapiesFile, systems: CodeSystems, text_rules: TextMatchingFile | None = None
    ) -> None:
        self.agents: list[Agent] = []
        self.class_display = {key: value.display for key, value in data.classes.items()}
        self._codes: CodeIndex[_CodeEntry] = CodeIndex(systems)
        names: list[tuple[str, Agent]] = []
        for entry in data.agents:
            agent = Agent(
                id=entry.id,
                display=entry.display,
                therapy_class=entry.therapy_class,
                generic=entry.generic,
                response_by_imaging=entry.response_assessment != "laboratory",
            )
            self.agents.append(agent)
            names.extend((name, agent) for name in entry.names)
            for code in entry.codes:
                verified = code.verification in ("verified", "secondary")
                self._codes.add(code.system, code.code, _CodeEntry(agent, verified), code.match)
        self._names = TextMatcher(names)
        self._context = _context_reader(data, text_rules)
        bridging = data.not_exposure_context.bridging if data.not_exposure_context else None
        self._bridge_labels: TextMatcher[bool] = QualifierMatcher(
            (label, True) for label in (bridging.labels if bridging else [])
        )
        self._bridge_destinations: TextMatcher[bool] = QualifierMatcher(
            (word, True) for word in (bridging.destinations if bridging else [])
        )
        self.look_alikes = tuple(data.look_alikes)
        self.excluded_names = tuple(name for entry in data.excluded for name in entry.names)

    def _names_in(self, text: str) -> tuple[tuple[tuple[Agent, str], ...], frozenset[str]]:
        """The agents a text names as given (with the spelling found), and those it names as not given
        ("CAR-T evaluation", "referral for CAR-T cell therapy", "ipilimumab-naive")."""
        hits = list(self._names.find(text))
        if not hits:
            return (), frozenset()
        context = self._context
        read = context.read(context.clip(text)) if context is not None else None
        named: list[tuple[Agent, str]] = []
        not_given: set[str] = set()
        labels = [(m.start, m.end) for m in self._bridge_labels.find(text)]
        destinations = [m.start for m in self._bridge_destinations.find(text)] if labels else []
        for hit in hits:
            if (
                context is not None
                and read is not None
                and context.certainty(read, hit.start, hit.end) != "affirmed"
            ) or (
                context is not None
                and read is not None
                and _bridged_to(labels, destinations, context.phrase_start(read, hit.start), hit.start)
            ):
                not_given.add(hit.value.id)
            else:
                named.append((hit.value, text[hit.start : hit.end]))
        return tuple(named), frozenset(not_given)

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
        not_exposure: set[str] = set()
        # A concept's text and its codings' displays are often the same string: read each once.
        for text in dict.fromkeys(texts):
            named, not_given = remembered(self, text, self._names_in)
            for agent, spelled in named:
                by_name.setdefault(agent.id, AgentMatch(agent, f"name '{spelled}'"))
            not_exposure.update(not_given)
        matches = dict(by_name)
        matches.update(by_code)
        # A record whose every mention of an agent says it was not given ("Keytruda - declined") is
        # no exposure to it, not even through the concept's code.
        for agent_id in not_exposure - set(by_name):
            matches.pop(agent_id, None)
        # An unverified code is never relied on alone: it counts only when the name agrees.
        for agent_id, found in unverified.items():
            if agent_id in by_name:
                matches[agent_id] = found
        return _drop_generic(list(matches.values()))


def _bridged_to(
    labels: list[tuple[int, int]], destinations: list[int], phrase_start: int, start: int
) -> bool:
    """The name is where a bridge leads: a bridging label, then a destination word ("before",
    "prior to", "to"), then the name, in one phrase ("bridging chemotherapy before CAR-T infusion").
    "bridging therapy: glofitamab" names the bridge itself: given."""
    index = bisect_left(labels, (start, start)) - 1
    if index < 0 or labels[index][0] < phrase_start:
        return False
    label_end = labels[index][1]
    found = bisect_left(destinations, label_end)
    return found < len(destinations) and destinations[found] < start


def _drop_generic(matches: list[AgentMatch]) -> list[AgentMatch]:
    named_classes = {found.agent.therapy_class for found in matches if not found.agent.generic}
    return [
        found for found in matches if not (found.agent.generic and found.agent.therapy_class in named_classes)
    ]
