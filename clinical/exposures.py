"""Exposure to ICI, CAR-T and T-cell engagers, from every place an EHR records it: medication
orders, administrations (the CAR-T day 0), statements (R4 and R5 shapes), dispenses, CAR-T
infusion Procedures, and the draft orders of order-select / order-sign."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

from clinical.catalog import Agent, TherapyCatalog
from clinical.fhir_data import (
    as_dict,
    as_list,
    as_str,
    codeable_reference_concept,
    first_date,
    reference_label,
    status_of,
)
from clinical.patient_record import PatientRecord

Stage = Literal["planned", "ordered", "administered"]

# What each status means for exposure. A status not listed (entered-in-error, cancelled,
# not-taken, not-done, declined, revoked) means no exposure.
_STAGE_BY_STATUS: dict[str, dict[str, Stage]] = {
    "MedicationRequest": {
        "active": "ordered",
        "on-hold": "ordered",
        "completed": "ordered",
        "stopped": "ordered",
        "unknown": "ordered",
        "draft": "planned",
    },
    "MedicationAdministration": {
        "completed": "administered",
        "in-progress": "administered",
        "on-hold": "administered",
        "stopped": "administered",
        "unknown": "administered",
    },
    "MedicationStatement": {
        "active": "administered",
        "completed": "administered",
        "stopped": "administered",
        "on-hold": "administered",
        "unknown": "administered",
        "recorded": "administered",  # R5
        "intended": "planned",
        "draft": "planned",  # R5
    },
    "MedicationDispense": {
        "completed": "ordered",
        "in-progress": "ordered",
        "on-hold": "ordered",
        "unknown": "ordered",
        "preparation": "planned",
    },
    "Procedure": {
        "completed": "administered",
        "in-progress": "administered",
        "stopped": "administered",
        "unknown": "administered",
        "preparation": "planned",
    },
    # Some EHRs order the CAR-T infusion as a ServiceRequest ("Kymriah infusion").
    "ServiceRequest": {
        "draft": "planned",
        "active": "planned",
        "on-hold": "planned",
        "unknown": "planned",
        "completed": "administered",
    },
}

_DATE_PATHS: dict[str, tuple[str, ...]] = {
    "MedicationRequest": ("authoredOn", "dosageInstruction.timing.repeat.boundsPeriod.start"),
    # R5 spells MedicationAdministration.occurence[x] with one "r".
    "MedicationAdministration": (
        "effectiveDateTime",
        "effectivePeriod.start",
        "occurenceDateTime",
        "occurencePeriod.start",
        "occurrenceDateTime",
    ),
    "MedicationStatement": ("effectiveDateTime", "effectivePeriod.start", "dateAsserted"),
    "MedicationDispense": ("whenHandedOver", "whenPrepared"),
    "Procedure": (
        "performedDateTime",
        "performedPeriod.start",
        "occurrenceDateTime",
        "occurrencePeriod.start",
    ),
    "ServiceRequest": ("occurrenceDateTime", "occurrencePeriod.start", "authoredOn"),
}

_PLANNING_INTENTS = frozenset(("plan", "proposal"))


@dataclass(frozen=True)
class Exposure:
    agent: Agent
    stage: Stage
    on: date | None
    source: str  # "MedicationAdministration/123"
    matched_by: str
    from_draft_order: bool


def _stage(resource: dict[str, Any], resource_type: str) -> Stage | None:
    stage = _STAGE_BY_STATUS[resource_type].get(status_of(resource))
    if stage is None:
        return None
    if resource_type == "MedicationRequest":
        if resource.get("doNotPerform") is True:
            return None
        intent = resource.get("intent")
        if isinstance(intent, str) and intent in _PLANNING_INTENTS:
            return "planned"
    return stage


def _contained(resource: dict[str, Any], local_id: str) -> dict[str, Any] | None:
    for contained in as_list(resource.get("contained")):
        if isinstance(contained, dict) and contained.get("id") == local_id:
            return contained
    return None


def _medication_resource(
    resource: dict[str, Any], reference: dict[str, Any], record: PatientRecord
) -> dict[str, Any] | None:
    target = as_str(reference.get("reference"))
    if target is None:
        return None
    if target.startswith("#"):
        return _contained(resource, target[1:])
    if "Medication/" in target:
        return record.medications.get("Medication/" + target.rsplit("Medication/", 1)[-1])
    return None


def _medication_concepts(medication: dict[str, Any]) -> Iterator[Any]:
    yield medication.get("code")
    for ingredient in as_list(medication.get("ingredient")):
        if isinstance(ingredient, dict):
            yield ingredient.get("itemCodeableConcept")  # R4
            yield codeable_reference_concept(ingredient.get("item"))  # R5


def medication_concepts(resource: dict[str, Any], record: PatientRecord) -> tuple[list[Any], list[str]]:
    """The concepts and texts naming what a medication-use resource is about."""
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
        medication = _medication_resource(resource, reference, record)
        if medication is not None:
            concepts.extend(_medication_concepts(medication))
    return concepts, texts


def _exposures_of(
    resource: dict[str, Any],
    resource_type: str,
    record: PatientRecord,
    catalog: TherapyCatalog,
    *,
    from_draft_order: bool,
    today: date,
) -> Iterator[Exposure]:
    stage: Stage | None = "planned" if from_draft_order else _stage(resource, resource_type)
    if stage is None:
        return
    if resource_type in ("Procedure", "ServiceRequest"):
        # R5 ServiceRequest.code is a CodeableReference.
        code = codeable_reference_concept(resource.get("code"))
        concepts: list[Any] = [code, *as_list(resource.get("usedCode"))]
        texts: list[str] = []
    else:
        concepts, texts = medication_concepts(resource, record)
    on = first_date(resource, _DATE_PATHS[resource_type])
    if from_draft_order and on is None:
        on = today
    for found in catalog.match(concepts, texts):
        yield Exposure(found.agent, stage, on, reference_label(resource), found.matched_by, from_draft_order)


def find_exposures(
    record: PatientRecord, draft_orders: list[dict[str, Any]], catalog: TherapyCatalog, today: date
) -> list[Exposure]:
    exposures: list[Exposure] = []
    for resource_type in _STAGE_BY_STATUS:
        for resource in record.of_type(resource_type):
            exposures.extend(
                _exposures_of(resource, resource_type, record, catalog, from_draft_order=False, today=today)
            )
    for draft in draft_orders:
        draft_type = draft.get("resourceType")
        if draft_type in ("MedicationRequest", "MedicationDispense", "ServiceRequest"):
            exposures.extend(
                _exposures_of(draft, str(draft_type), record, catalog, from_draft_order=True, today=today)
            )
    return exposures
