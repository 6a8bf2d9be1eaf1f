"""Changes of anticancer treatment that decide whether an iRECIST question is still open (issue 16
sections 6 and 8): a checkpoint inhibitor stopped (and why: progression, toxicity, or not stated), and
systemic anticancer therapy other than a checkpoint inhibitor (a possible new line of therapy).

iRECIST confirms an unconfirmed progression only in patients who continue the checkpoint inhibitor
(Seymour et al. 2017): once it was stopped for progression, or another line began, there is nothing to
confirm. Where a stop happened and what followed is decided per day in `rules/interval.py`."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

from clinical.fhir_data import (
    as_dict,
    as_list,
    as_str,
    codings,
    concept_texts,
    first_date,
    status_of,
)
from clinical.knowledge import CodeIndex, CodeSystems, PhraseReader, TextMatcher
from clinical.knowledge.schema import BrainImagingFile, ProgressionTerms
from clinical.patient_record import MEDICATION_USE_TYPES, PatientRecord
from clinical.timeline.exposures import DATE_PATHS, agents_in, medication_concepts
from clinical.timeline.therapies import AgentMatch, TherapyCatalog

StopReason = Literal["progression", "toxicity", "unstated"]

# Statuses meaning the checkpoint inhibitor is no longer given by this record. A cancelled order or a
# not-taken statement counts only with a stated reason (the next cycle cancelled for progression).
_STOPPED: dict[str, frozenset[str]] = {
    "MedicationRequest": frozenset(("stopped", "completed")),
    "MedicationStatement": frozenset(("stopped", "completed")),
    "MedicationAdministration": frozenset(("stopped",)),
}
_CANCELLED: dict[str, frozenset[str]] = {
    "MedicationRequest": frozenset(("cancelled",)),
    "MedicationStatement": frozenset(("not-taken",)),
    "MedicationAdministration": frozenset(("not-done",)),
}
# Where a record says when its therapy ended.
_END_PATHS: dict[str, tuple[str, ...]] = {
    "MedicationRequest": (
        "dosageInstruction.timing.repeat.boundsPeriod.end",
        "dispenseRequest.validityPeriod.end",
    ),
    "MedicationStatement": ("effectivePeriod.end", "effectiveTiming.repeat.boundsPeriod.end"),
    "MedicationAdministration": ("effectivePeriod.end", "effectiveDateTime"),
}
# A record that is not therapy given or ordered: no new line.
_NOT_GIVEN = frozenset(
    ("entered-in-error", "cancelled", "not-taken", "not-done", "draft", "intended", "preparation", "declined")
)
_PLANNING_INTENTS = frozenset(("plan", "proposal"))
_HYPHENATED_BEFORE = re.compile(r"\w-$")
_HYPHENATED_AFTER = re.compile(r"-\w")


@dataclass(frozen=True)
class IciStop:
    """A checkpoint inhibitor order or statement that ended (stopped, completed, or cancelled with a
    reason)."""

    started: date | None  # the record's own date (start of the ordered therapy, or when written)
    ended: date | None  # the end the record states (period end), None when it does not say
    reason: StopReason
    reason_text: str  # the words that gave the reason ("immune-mediated colitis"), for the card
    resource_type: str


@dataclass(frozen=True)
class OtherAnticancerTherapy:
    """A record of systemic anticancer therapy that is not a checkpoint inhibitor."""

    name: str  # the agent as named ("docetaxel"), for the card and to tell agents apart
    on: date
    resource_type: str
    draft_order: bool = False
    recorded_on: date | None = None


class TreatmentChangeVocabulary:
    """The stop reasons and new-line words (text-matching.yaml `progression`) and the systemic
    anticancer therapy families (brain-imaging.yaml `systemic_anticancer_therapy`)."""

    def __init__(
        self,
        imaging: BrainImagingFile,
        progression: ProgressionTerms,
        reader: PhraseReader,
        systems: CodeSystems,
    ) -> None:
        self._reader = reader
        self._reasons: TextMatcher[StopReason] = TextMatcher(
            [(term, "progression") for term in progression.stop_for_progression]
            + [(term, "toxicity") for term in progression.stop_for_toxicity]
        )
        self._new_line = TextMatcher((term, term) for term in progression.new_line_terms)
        self._codes: CodeIndex[bool] = CodeIndex(systems)
        families = imaging.systemic_anticancer_therapy
        names: list[tuple[str, str]] = []
        if families is not None:
            for entry in families.codes:
                self._codes.add(entry.system, entry.code, True, entry.match)
            for entry in families.checkpoint_inhibitor_codes:
                self._codes.add(entry.system, entry.code, False, entry.match)
            names = [(name, name) for name in families.names]
        self._names = TextMatcher(names)

    def stop_reason(self, texts: Iterable[str]) -> tuple[StopReason, str]:
        """Progression over toxicity when both are stated; only affirmed or suspected words count
        ("stopped for colitis; no progression" is toxicity)."""
        found: dict[StopReason, str] = {}
        for text in texts:
            clipped = self._reader.clip(text)
            hits = list(self._reasons.find(clipped))
            if not hits:
                continue
            read = self._reader.read(clipped)
            for hit in hits:
                if _HYPHENATED_BEFORE.search(clipped, 0, hit.start) or _HYPHENATED_AFTER.match(
                    clipped, hit.end
                ):
                    continue  # part of a longer name: "PD-L1 TPS 80%", "anti-PD-1", "progression-free"
                if self._reader.certainty(read, hit.start, hit.end) in ("negated", "history"):
                    continue
                found.setdefault(hit.value, " ".join(clipped.split())[:80])
        for reason in ("progression", "toxicity"):
            if reason in found:
                return reason, found[reason]
        return "unstated", ""

    def names_new_line(self, texts: Iterable[str]) -> bool:
        return any(self._new_line.first(text) is not None for text in texts)

    def anticancer_name(self, concepts: list[Any], texts: list[str]) -> str | None:
        """The agent's name when these concepts or texts name systemic anticancer therapy."""
        all_texts = [text for concept in concepts for text in concept_texts(concept)] + texts
        for text in all_texts:
            hit = next(iter(self._names.find(text)), None)
            if hit is not None:
                return text[hit.start : hit.end].lower()
        coded = [
            (concept, code, self._codes.lookup(system, code))
            for concept in concepts
            for system, code in codings(concept)
        ]
        if any(family is False for _, _, family in coded):
            return None  # a checkpoint inhibitor's own code
        for concept, code, family in coded:
            if family:
                named = next(iter(concept_texts(concept)), None)
                return (named or f"code {code}").lower()
        return None


def _reason_texts(resource: dict[str, Any]) -> Iterator[str]:
    for concept in as_list(resource.get("statusReason")):
        yield from concept_texts(concept)
    for note in as_list(resource.get("note")):
        holder = as_dict(note)
        text = as_str(holder.get("text")) if holder is not None else None
        if text:
            yield text


def _other_texts(resource: dict[str, Any]) -> Iterator[str]:
    yield from _reason_texts(resource)
    yield from concept_texts(resource.get("courseOfTherapyType"))
    for dosage in as_list(resource.get("dosageInstruction")) + as_list(resource.get("dosage")):
        holder = as_dict(dosage)
        text = as_str(holder.get("text")) if holder is not None else None
        if text:
            yield text


def _ici_stop(
    resource: dict[str, Any], resource_type: str, vocabulary: TreatmentChangeVocabulary
) -> IciStop | None:
    status = status_of(resource)
    ended_statuses = _STOPPED.get(resource_type, frozenset())
    cancelled_statuses = _CANCELLED.get(resource_type, frozenset())
    if status not in ended_statuses and status not in cancelled_statuses:
        return None
    reason, reason_text = vocabulary.stop_reason(_reason_texts(resource))
    # Without a reason only an explicit discontinuation is a stop: many EHRs mark each cycle's order
    # "completed" while the course goes on, and a cancelled order was never given.
    # A stopped administration is one infusion interrupted: it speaks for the therapy only with a reason.
    if reason == "unstated" and (status != "stopped" or resource_type == "MedicationAdministration"):
        return None
    return IciStop(
        started=first_date(resource, DATE_PATHS[resource_type]),
        ended=first_date(resource, _END_PATHS[resource_type]),
        reason=reason,
        reason_text=reason_text,
        resource_type=resource_type,
    )


def find_treatment_changes(
    record: PatientRecord,
    draft_orders: list[dict[str, Any]],
    catalog: TherapyCatalog,
    vocabulary: TreatmentChangeVocabulary,
    today: date,
) -> tuple[list[IciStop], list[OtherAnticancerTherapy]]:
    stops: list[IciStop] = []
    others: list[OtherAnticancerTherapy] = []
    for resource_type in MEDICATION_USE_TYPES:
        for resource in record.of_type(resource_type):
            concepts, texts = medication_concepts(resource, record)
            matches = agents_in(resource, concepts, texts, catalog)
            if any(found.agent.therapy_class == "ici" for found in matches):
                stop = _ici_stop(resource, resource_type, vocabulary) if resource_type in _STOPPED else None
                if stop is not None:
                    stops.append(stop)
                continue
            other = _other_therapy(resource, resource_type, concepts, texts, matches, vocabulary, draft=False)
            if other is not None:
                others.append(other)
    for draft in draft_orders:
        if draft.get("resourceType") != "MedicationRequest":
            continue
        concepts, texts = medication_concepts(draft, record)
        matches = catalog.match(concepts, texts)
        if any(found.agent.therapy_class == "ici" for found in matches):
            continue
        other = _other_therapy(
            draft, "MedicationRequest", concepts, texts, matches, vocabulary, draft=True, today=today
        )
        if other is not None:
            others.append(other)
    return stops, others


def _other_therapy(
    resource: dict[str, Any],
    resource_type: str,
    concepts: list[Any],
    texts: list[str],
    matches: Sequence[AgentMatch],
    vocabulary: TreatmentChangeVocabulary,
    *,
    draft: bool,
    today: date | None = None,
) -> OtherAnticancerTherapy | None:
    if not draft and (status_of(resource) in _NOT_GIVEN or resource.get("intent") in _PLANNING_INTENTS):
        return None
    if resource.get("doNotPerform") is True:
        return None
    name: str | None = matches[0].agent.display if matches else None
    if name is None:
        name = vocabulary.anticancer_name(concepts, texts)
    if name is None and vocabulary.names_new_line(_other_texts(resource)):
        # "second-line: investigational agent": a named new line, whatever the agent.
        name = next((text for concept in concepts for text in concept_texts(concept)), None) or "new line"
    if name is None:
        return None
    on = first_date(resource, DATE_PATHS[resource_type])
    if draft and on is None:
        on = today
    if on is None:
        return None
    recorded = today if draft else first_date(resource, ("authoredOn", "dateAsserted"))
    return OtherAnticancerTherapy(name.lower(), on, resource_type, draft_order=draft, recorded_on=recorded)
