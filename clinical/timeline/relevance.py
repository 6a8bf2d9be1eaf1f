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

import hashlib
import importlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, cast

from clinical.knowledge.catalog import TermCatalog
from clinical.patient_record import MEDICATION_USE_TYPES, PatientRecord
from clinical.timeline import relevance_walk

SCREENED_TYPES = frozenset((*MEDICATION_USE_TYPES, "Condition", "Observation"))
_MARKERS = tuple((resource_type, resource_type + "/") for resource_type in sorted(SCREENED_TYPES))
COMPILED_WALK_MODULE = "clinical.timeline._relevance_walk_compiled"


def walk_implementation(compiled: ModuleType | None, source: bytes) -> type[relevance_walk.Walk]:
    """The compiled walk when it was compiled from `source` (relevance_walk.py as it is now), else the
    Python one: a compiled module left over from an earlier version of the file is never used."""
    if (
        compiled is not None
        and getattr(compiled, "SOURCE_SHA256", None) == hashlib.sha256(source).hexdigest()
    ):
        return cast(type[relevance_walk.Walk], compiled.Walk)
    return relevance_walk.Walk


def _compiled_walk() -> ModuleType | None:
    try:
        return importlib.import_module(COMPILED_WALK_MODULE)
    except ImportError:
        return None  # not built (tools/compile_walk.py): the Python walk, the same answers


Walk = walk_implementation(_compiled_walk(), Path(relevance_walk.__file__).read_bytes())
WALK_COMPILED = Walk is not relevance_walk.Walk


class ScreenedRecord(PatientRecord):
    """A record the fast reject has already screened: the timeline does not screen it again."""


@dataclass(frozen=True)
class Screening:
    record: PatientRecord
    text_chars: int  # the distinct texts' characters, each up to the text cap (all of them with a budget)
    dismissed: int  # resources left out
    over_budget: bool = False  # text_chars passed `stop_above`: counting stopped, nothing was left out


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
    walk = Walk(catalog.may_name, catalog.names_code, element_cap, stop_above)
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
