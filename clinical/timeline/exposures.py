"""Therapy events: every record of an ICI, CAR-T or T-cell engager in the patient's data, read as what it
says about exposure. Orders (the main source in US Core), administrations (the CAR-T day 0), statements
(R4 and R5 shapes), dispenses, CAR-T infusion Procedures and ServiceRequests, and the draft orders of
order-select / order-sign. What each status means is decided here, per resource type and class; when the
course began and whether it is still running is decided per day in `rules/courses.py`."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

from clinical.fhir_data import (
    as_dict,
    as_list,
    as_str,
    codeable_reference_concept,
    first_date,
    status_of,
)
from clinical.patient_record import PatientRecord
from clinical.timeline.per_resource import remembered_for
from clinical.timeline.therapies import Agent, AgentMatch, TherapyCatalog

# given:   a dose or an infusion happened on `on` (administration, completed infusion procedure,
#          statement that it was taken, dispense; a completed CAR-T product order)
# ongoing: an active or on-hold order or statement: exposure continues up to today
# stopped: an order that ran and was stopped or completed (ICI / T-cell engager): given up to `on`
# planned: a draft, plan or proposal, an intended statement, or a CAR-T product order whose infusion
#          is still ahead
EventKind = Literal["given", "ongoing", "stopped", "planned"]
_Reading = EventKind | None

_MEDICATION_REQUEST: dict[str, EventKind] = {
    "active": "ongoing",
    "on-hold": "ongoing",
    "completed": "stopped",
    "stopped": "stopped",
    "unknown": "stopped",
    "draft": "planned",
}
# A CAR-T product is one infusion: an active order is an infusion still ahead (ordered at apheresis),
# a completed one is the infusion done, a stopped one was never given.
_CAR_T_REQUEST: dict[str, EventKind] = {
    "active": "planned",
    "on-hold": "planned",
    "draft": "planned",
    "completed": "given",
    "unknown": "planned",
}
_BY_STATUS: dict[str, dict[str, EventKind]] = {
    "MedicationAdministration": {
        "completed": "given",
        "in-progress": "given",
        "on-hold": "given",
        "stopped": "given",
        "unknown": "given",
    },
    "MedicationStatement": {
        "active": "ongoing",
        "completed": "given",
        "stopped": "given",
        "on-hold": "ongoing",
        "unknown": "given",
        "recorded": "given",  # R5
        "intended": "planned",
        "draft": "planned",  # R5
    },
    "MedicationDispense": {
        "completed": "given",
        "in-progress": "given",
        "on-hold": "given",
        "unknown": "given",
        "preparation": "planned",
    },
    "Procedure": {
        "completed": "given",
        "in-progress": "given",
        "stopped": "given",
        "unknown": "given",
        "preparation": "planned",
    },
    # Some EHRs order the CAR-T infusion as a ServiceRequest ("Kymriah infusion").
    "ServiceRequest": {
        "draft": "planned",
        "active": "planned",
        "on-hold": "planned",
        "unknown": "planned",
        "completed": "given",
    },
}
THERAPY_RESOURCE_TYPES = ("MedicationRequest", *_BY_STATUS)

DATE_PATHS: dict[str, tuple[str, ...]] = {
    # The start of the ordered therapy where the order says it, else when it was written.
    "MedicationRequest": (
        "dosageInstruction.timing.repeat.boundsPeriod.start",
        "dosageInstruction.timing.event",
        "dispenseRequest.validityPeriod.start",
        "authoredOn",
    ),
    # R5 spells MedicationAdministration.occurence[x] with one "r".
    # A period with only its end (an infusion charted when it finished) is dated by the end.
    "MedicationAdministration": (
        "effectiveDateTime",
        "effectivePeriod.start",
        "occurenceDateTime",
        "occurencePeriod.start",
        "occurrenceDateTime",
        "occurrencePeriod.start",
        "effectivePeriod.end",
        "occurencePeriod.end",
        "occurrencePeriod.end",
    ),
    # R5 adds effectiveTiming.
    "MedicationStatement": (
        "effectiveDateTime",
        "effectivePeriod.start",
        "effectiveTiming.repeat.boundsPeriod.start",
        "effectiveTiming.event",
        "effectivePeriod.end",
        "dateAsserted",
    ),
    "MedicationDispense": ("whenHandedOver", "whenPrepared"),
    "Procedure": (
        "performedDateTime",
        "performedPeriod.start",
        "occurrenceDateTime",
        "occurrencePeriod.start",
        "performedPeriod.end",
        "occurrencePeriod.end",
    ),
    "ServiceRequest": ("occurrenceDateTime", "occurrencePeriod.start", "authoredOn"),
}
_PLANNING_INTENTS = frozenset(("plan", "proposal"))
_RECORDED_PATHS = ("authoredOn", "dateAsserted")


@dataclass(frozen=True)
class TherapyEvent:
    agent: Agent
    kind: EventKind
    on: date | None  # None: the record's date could not be read; it still counts as exposure
    resource_type: str
    draft_order: bool  # a draft order of this order-select / order-sign request
    matched_by: str
    date_unreadable: bool = False
    # When the record was written (authoredOn, dateAsserted), where that differs from `on`: a plan
    # written on 11-19 for a start on 11-26 did not exist on 11-10 (the reviewers' day-by-day replay).
    recorded_on: date | None = None


def _reading(resource: dict[str, Any], resource_type: str, agent: Agent) -> _Reading:
    status = status_of(resource)
    if resource_type != "MedicationRequest":
        return _BY_STATUS[resource_type].get(status)
    intent = resource.get("intent")
    by_status = _CAR_T_REQUEST if agent.therapy_class == "car_t" else _MEDICATION_REQUEST
    kind = by_status.get(status)
    if kind is not None and isinstance(intent, str) and intent in _PLANNING_INTENTS:
        return "planned"
    return kind


def _contained(resource: dict[str, Any], local_id: str) -> dict[str, Any] | None:
    for contained in as_list(resource.get("contained")):
        if isinstance(contained, dict) and contained.get("id") == local_id:
            return contained
    return None


def _medication_resource(
    resource: dict[str, Any],
    reference: dict[str, Any],
    record: PatientRecord,
    draft_medications: Mapping[str, dict[str, Any]] | None = None,
) -> dict[str, Any] | None:
    target = as_str(reference.get("reference"))
    if target is None:
        return None
    if target.startswith("#"):
        return _contained(resource, target[1:])
    if "Medication/" in target:
        key = "Medication/" + target.rsplit("Medication/", 1)[-1]
        found = record.medications.get(key)
        if found is None and draft_medications:
            found = draft_medications.get(key)
        return found
    return None


def _medication_concepts(medication: dict[str, Any]) -> Iterator[Any]:
    yield medication.get("code")
    for ingredient in as_list(medication.get("ingredient")):
        if isinstance(ingredient, dict):
            yield ingredient.get("itemCodeableConcept")  # R4
            yield codeable_reference_concept(ingredient.get("item"))  # R5


def medication_concepts(
    resource: dict[str, Any],
    record: PatientRecord,
    draft_medications: Mapping[str, dict[str, Any]] | None = None,
) -> tuple[list[Any], list[str]]:
    """The concepts and texts naming what a medication-use resource is about. `draft_medications`:
    Medication resources sent beside the draft orders of this request (an order-sign draftOrders
    Bundle may carry the Medication a draft MedicationRequest references)."""
    concepts: list[Any] = [resource.get("medicationCodeableConcept")]
    texts: list[str] = []
    references = [as_dict(resource.get("medicationReference"))]
    r5 = as_dict(resource.get("medication"))
    if r5 is not None:
        concepts.append(r5.get("concept"))
        references.append(as_dict(r5.get("reference")))
    for reference in references:
        if reference is None:
            continue
        display = as_str(reference.get("display"))
        if display:
            texts.append(display)
        medication = _medication_resource(resource, reference, record, draft_medications)
        if medication is not None:
            concepts.extend(_medication_concepts(medication))
    return concepts, texts


def agents_named(
    resource: dict[str, Any], record: PatientRecord, catalog: TherapyCatalog
) -> Sequence[AgentMatch]:
    """The catalog's agents a medication use of the record names (not a draft order: its Medication may
    come with the drafts), matched once per timeline: the therapy events and the treatment changes both
    read them."""
    return remembered_for(
        catalog, resource, lambda: _matched(catalog, *medication_concepts(resource, record))
    )


def agents_in(
    resource: dict[str, Any], concepts: list[Any], texts: list[str], catalog: TherapyCatalog
) -> Sequence[AgentMatch]:
    """`agents_named`, for a use of the record whose concepts and texts the caller has read already."""
    return remembered_for(catalog, resource, lambda: _matched(catalog, concepts, texts))


def _matched(catalog: TherapyCatalog, concepts: list[Any], texts: list[str]) -> Sequence[AgentMatch]:
    # Most uses name no agent: they all share one empty match, which the memo keeps at no cost.
    return catalog.match(concepts, texts) or ()


# Date elements no calendar date can be read from ("performedString": "spring 2025"): the record is
# dated, but not readably: it still counts as exposure, with a date the card says it cannot read.
_TEXT_DATES: dict[str, tuple[str, ...]] = {
    "Procedure": ("performedString", "performedAge", "performedRange", "occurrenceString", "occurrenceAge"),
    "MedicationStatement": ("effectiveString",),
}


def _has_date_field(resource: dict[str, Any], resource_type: str) -> bool:
    fields = [path.split(".")[0] for path in DATE_PATHS[resource_type]]
    fields += _TEXT_DATES.get(resource_type, ())
    return any(resource.get(field) is not None for field in fields)


def _events_of(
    resource: dict[str, Any],
    resource_type: str,
    record: PatientRecord,
    catalog: TherapyCatalog,
    *,
    draft_order: bool,
    today: date,
    draft_medications: Mapping[str, dict[str, Any]] | None = None,
) -> Iterator[TherapyEvent]:
    if resource.get("doNotPerform") is True:
        return  # an order NOT to give it (R4 MedicationRequest and ServiceRequest, drafts included)
    matches = _agents_of(resource, resource_type, record, catalog, draft_order, draft_medications)
    if not matches:
        return
    on = first_date(resource, DATE_PATHS[resource_type])
    unreadable = on is None and _has_date_field(resource, resource_type)
    recorded = today if draft_order else first_date(resource, _RECORDED_PATHS)
    if draft_order and on is None:
        on, unreadable = today, False
    for found in matches:
        kind: _Reading = "planned" if draft_order else _reading(resource, resource_type, found.agent)
        if kind is not None:
            yield TherapyEvent(
                found.agent,
                kind,
                on,
                resource_type,
                draft_order,
                found.matched_by,
                date_unreadable=unreadable,
                recorded_on=recorded,
            )


def _agents_of(
    resource: dict[str, Any],
    resource_type: str,
    record: PatientRecord,
    catalog: TherapyCatalog,
    draft_order: bool,
    draft_medications: Mapping[str, dict[str, Any]] | None,
) -> Sequence[AgentMatch]:
    if resource_type in ("Procedure", "ServiceRequest"):
        # R5 ServiceRequest.code is a CodeableReference.
        code = codeable_reference_concept(resource.get("code"))
        return catalog.match([code, *as_list(resource.get("usedCode"))])
    if draft_order:
        return catalog.match(*medication_concepts(resource, record, draft_medications))
    return agents_named(resource, record, catalog)


def find_therapy_events(
    record: PatientRecord, draft_orders: list[dict[str, Any]], catalog: TherapyCatalog, today: date
) -> list[TherapyEvent]:
    events: list[TherapyEvent] = []
    for resource_type in THERAPY_RESOURCE_TYPES:
        for resource in record.of_type(resource_type):
            events.extend(
                _events_of(resource, resource_type, record, catalog, draft_order=False, today=today)
            )
    draft_medications = {
        f"Medication/{draft['id']}": draft
        for draft in draft_orders
        if draft.get("resourceType") == "Medication" and isinstance(draft.get("id"), str)
    }
    for draft in draft_orders:
        draft_type = draft.get("resourceType")
        if draft_type in ("MedicationRequest", "MedicationDispense", "ServiceRequest"):
            events.extend(
                _events_of(
                    draft,
                    str(draft_type),
                    record,
                    catalog,
                    draft_order=True,
                    today=today,
                    draft_medications=draft_medications,
                )
            )
    return events
