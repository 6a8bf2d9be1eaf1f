"""The fast reject (issue 21): the record less the resources that match nothing the knowledge knows,
before any per-rule work, and the text volume of the call measured in the same walk.

Medication uses, Conditions and Observations are most of a record and most of them are irrelevant
(antihypertensives, weights, unrelated diagnoses). Such a resource is read by the timeline only through
its codes and its texts, so one that holds no coding any code index knows and no text any matcher could
read a name in (`TermCatalog`, built from the matchers themselves) adds nothing to the timeline. Every
value of the resource is looked at, not only the elements read today: codings, text, notes,
components, reasons, contained resources, whatever a reader may follow. A resource stays when:

- any of its codings or texts (or those of a Medication it references) may name something; a
  reference to a Medication that is not in the record keeps it too;
- a resource that stays references it (a panel's hasMember, a treatment's reasonReference, a draft
  order's reason), or it references one that stays; so what a reader follows is always there.

Other resource types (Patient, imaging, reports, procedures, MRI safety) are few and always stay.

The same walk counts the characters of the call's distinct texts (each up to the text cap) for the
evaluation budget, so the record is walked once, not twice.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from clinical.knowledge.catalog import TermCatalog
from clinical.patient_record import MEDICATION_USE_TYPES, PatientRecord

SCREENED_TYPES = frozenset((*MEDICATION_USE_TYPES, "Condition", "Observation"))
_MARKERS = tuple((resource_type, resource_type + "/") for resource_type in sorted(SCREENED_TYPES))
_MEDICATION = "Medication/"
# Elements read as identifiers or fixed codes, never as text: counted for the budget, not read for names.
# No reader matches a status or an intent against a vocabulary (they are compared with fixed values), and
# "in-progress" would otherwise keep every running administration for the German "Progress".
_NOT_TEXT = frozenset(("id", "reference", "system", "fullUrl", "url", "status", "intent"))
_COUNTED = object()  # a text counted for the budget, seen only as an identifier so far


class ScreenedRecord(PatientRecord):
    """A record the fast reject has already screened: the timeline does not screen it again."""


@dataclass(frozen=True)
class Screening:
    record: PatientRecord
    text_chars: int  # the distinct texts' characters, each up to the text cap (all of them with a budget)
    dismissed: int  # resources left out
    over_budget: bool = False  # text_chars passed `stop_above`: counting stopped, nothing was left out


class _Walk:
    """One call's walk: what each distinct text and coding may name, remembered across resources."""

    def __init__(self, catalog: TermCatalog, element_cap: int, stop_above: int | None) -> None:
        self.catalog = catalog
        self.element_cap = element_cap
        self.limit = sys.maxsize if stop_above is None else stop_above
        self.text_chars = 0
        self.texts: dict[str, object] = {}  # may it name something (True/False), or _COUNTED
        self.codes: dict[tuple[str, str], bool] = {}
        self.medications: dict[str, bool] = {}
        self.references: set[str] = set()  # every distinct reference of the call

    @property
    def over(self) -> bool:
        return self.text_chars > self.limit

    def names_code(self, system: str, code: str) -> bool:
        key = (system, code)
        known = self.codes.get(key)
        if known is None:
            known = self.codes[key] = self.catalog.names_code(system, code)
        return known

    def read(self, resource: Any, medications: dict[str, dict[str, Any]] | None) -> tuple[bool, list[str]]:
        """(may the resource name anything, the references it holds); counts every text once per call.
        Medications it references are read too when `medications` is given. Stops once over budget.

        The hot loop of the fast reject: texts are looked up in one memo (most repeat: systems,
        statuses, the same drug names), and a new text is counted and read at most once."""
        relevant = False
        references: list[str] = []
        pending: list[Any] = [resource]
        texts = self.texts
        known_text = texts.get
        may_name = self.catalog.may_name
        cap, limit, chars = self.element_cap, self.limit, self.text_chars
        while pending and chars <= limit:
            node = pending.pop()
            if not isinstance(node, dict):
                for item in node:  # a list
                    if isinstance(item, str):
                        known = known_text(item)
                        if known is None:
                            chars += min(len(item), cap)
                        if known is None or known is _COUNTED:
                            known = texts[item] = may_name(item)
                        if known is True:
                            relevant = True
                    elif isinstance(item, (dict, list)):
                        pending.append(item)
                continue
            if not relevant:
                code = node.get("code")
                if isinstance(code, str) and code:
                    system = node.get("system")
                    if isinstance(system, str) and system and self.names_code(system, code):
                        relevant = True
            for key, value in node.items():
                kind = type(value)
                if kind is str:
                    known = known_text(value)
                    if known is False and key != "reference" and key != "data":
                        continue
                    if known is None:
                        chars += min(len(value), cap)
                        if key in _NOT_TEXT:
                            known = texts[value] = _COUNTED
                        else:
                            known = texts[value] = may_name(value)
                    elif known is _COUNTED and key not in _NOT_TEXT:
                        known = texts[value] = may_name(value)
                    if known is True:
                        relevant = True
                    if key == "reference":
                        references.append(value)
                        self.references.add(value)
                    elif key == "data":
                        # An attachment's base64 text is decoded by its reader: never ruled out.
                        relevant = True
                elif kind is dict or kind is list:
                    pending.append(value)
                elif isinstance(value, (str, dict, list)):
                    pending.append([value])  # a subclass: read like the rest, through a list
        self.text_chars = chars
        if medications is not None and not relevant:
            relevant = any(self._medication_names(reference, medications) for reference in references)
        return relevant, references

    def _medication_names(self, reference: str, medications: dict[str, dict[str, Any]]) -> bool:
        if _MEDICATION not in reference:
            return False
        key = _MEDICATION + reference.rsplit(_MEDICATION, 1)[-1]
        medication = medications.get(key)
        if medication is None:
            return True  # not in the record: it may be named elsewhere (a draft's bundle); keep it
        known = self.medications.get(key)
        if known is None:
            self.medications[key] = False  # a Medication referencing itself
            known = self.medications[key] = self.read(medication, None)[0]
        return known


def _targets(reference: str) -> tuple[tuple[str, str], ...]:
    """(type, id) of the screened resources a reference may point at, read as the timeline's readers
    read references: relative or absolute, with or without _history."""
    path = reference.split("/_history/", 1)[0]
    return tuple(
        (resource_type, path.rsplit(marker, 1)[-1]) for resource_type, marker in _MARKERS if marker in path
    )


def screen(
    record: PatientRecord,
    draft_orders: list[dict[str, Any]],
    catalog: TermCatalog,
    *,
    element_cap: int,
    stop_above: int | None = None,
) -> Screening:
    """The record less what the timeline cannot use, and the call's text volume (record, referenced
    Medications and draft orders). Past `stop_above` characters the walk stops: over budget."""
    walk = _Walk(catalog, element_cap, stop_above)
    candidates: list[tuple[str, dict[str, Any], list[str]]] = []
    kept_ids: set[int] = set()
    pending: list[int] = []
    followed: list[str] = []
    for resource_type, resources in record.by_type.items():
        screened = resource_type in SCREENED_TYPES
        for resource in resources:
            relevant, references = walk.read(resource, record.medications if screened else None)
            if walk.over:
                return Screening(record, walk.text_chars, 0, over_budget=True)
            if not screened:
                followed.extend(references)
                continue
            index = len(candidates)
            candidates.append((resource_type, resource, references))
            if relevant:
                kept_ids.add(index)
                pending.append(index)
    if stop_above is not None:
        # Counted for the budget only (a use reads its own Medication when it needs it): without a
        # budget, a record sharing an export's every Medication does not walk them all per patient.
        for resource in record.medications.values():
            walk.read(resource, None)
            if walk.over:
                return Screening(record, walk.text_chars, 0, over_budget=True)
    for draft in draft_orders:
        followed.extend(walk.read(draft, None)[1])
        if walk.over:
            return Screening(record, walk.text_chars, 0, over_budget=True)
    if len(kept_ids) == len(candidates):
        return Screening(_screened(record, record.by_type), walk.text_chars, 0)
    if any(_targets(reference) for reference in walk.references):
        _follow_references(candidates, kept_ids, pending, followed)
    # In the record's own order: the candidates were taken type by type, in order.
    kept: dict[str, list[dict[str, Any]]] = {}
    first = 0
    for resource_type, resources in record.by_type.items():
        if resource_type not in SCREENED_TYPES:
            kept[resource_type] = resources
            continue
        kept[resource_type] = [
            resource for offset, resource in enumerate(resources) if first + offset in kept_ids
        ]
        first += len(resources)
    return Screening(_screened(record, kept), walk.text_chars, len(candidates) - len(kept_ids))


def _follow_references(
    candidates: list[tuple[str, dict[str, Any], list[str]]],
    kept: set[int],
    pending: list[int],
    followed: list[str],
) -> None:
    """Keep what a kept resource references, and what references a kept resource, until nothing
    changes; `followed` are the references of resources that always stay."""
    by_key: dict[tuple[str, str], list[int]] = {}
    referrers: dict[tuple[str, str], list[int]] = {}
    memo: dict[str, tuple[tuple[str, str], ...]] = {}

    def targets(reference: str) -> tuple[tuple[str, str], ...]:
        found = memo.get(reference)
        if found is None:
            found = memo[reference] = _targets(reference)
        return found

    for index, (resource_type, resource, references) in enumerate(candidates):
        resource_id = resource.get("id")
        if isinstance(resource_id, str):
            by_key.setdefault((resource_type, resource_id), []).append(index)
        for reference in references:
            for target in targets(reference):
                referrers.setdefault(target, []).append(index)

    def keep(indexes: Iterable[int]) -> None:
        for index in indexes:
            if index not in kept:
                kept.add(index)
                pending.append(index)

    for reference in followed:
        for target in targets(reference):
            keep(by_key.get(target, ()))
    while pending:
        resource_type, resource, references = candidates[pending.pop()]
        for reference in references:
            for target in targets(reference):
                keep(by_key.get(target, ()))
        resource_id = resource.get("id")
        if isinstance(resource_id, str):
            keep(referrers.get((resource_type, resource_id), ()))


def _screened(record: PatientRecord, by_type: dict[str, list[dict[str, Any]]]) -> ScreenedRecord:
    return ScreenedRecord(
        record.patient_id,
        by_type,
        record.medications,
        record.skipped,
        record.truncated,
        record._seen,
    )
