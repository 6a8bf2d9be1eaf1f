"""The patient's FHIR data for one hook call, as plain JSON grouped by resource type.

Only resource types the facts layer reads are kept; anything malformed or about another patient is
skipped and counted, never fatal.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

MEDICATION_USE_TYPES = (
    "MedicationRequest",
    "MedicationAdministration",
    "MedicationStatement",
    "MedicationDispense",
)
RECORD_TYPES = frozenset(
    (
        "Patient",
        *MEDICATION_USE_TYPES,
        "Medication",
        "Condition",
        "Observation",
        "ImagingStudy",
        "DiagnosticReport",
        "Procedure",
        "ServiceRequest",
        # MRI safety (issue 16 section 4): implants, MRI-unsafe flags, gadolinium allergy.
        "Device",
        "Flag",
        "AllergyIntolerance",
    )
)
_PATIENT_FIELDS = ("subject", "patient")


def _patient_reference(resource: dict[str, Any]) -> str | None:
    for name in _PATIENT_FIELDS:
        value = resource.get(name)
        if isinstance(value, dict):
            reference = value.get("reference")
            if isinstance(reference, str):
                return reference
    return None


def _is_other_patient(resource: dict[str, Any], patient_id: str) -> bool:
    reference = _patient_reference(resource)
    if reference is None or (not reference.startswith("Patient/") and "/Patient/" not in reference):
        return False
    return reference.rsplit("/", 1)[-1] != patient_id


def about_another_patient(resource: dict[str, Any], patient_id: str) -> bool:
    """Whether the resource's subject (or patient) names a patient other than `patient_id`: such a
    resource (a prefetched one, or a draft order) is skipped and counted, never read for this patient."""
    return _is_other_patient(resource, patient_id)


@dataclass
class PatientRecord:
    patient_id: str
    by_type: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    medications: dict[str, dict[str, Any]] = field(default_factory=dict)
    skipped: int = 0
    truncated: bool = False
    _seen: set[str] = field(default_factory=set)

    def add(self, resource: object) -> None:
        if not isinstance(resource, dict):
            self.skipped += 1
            return
        resource_type = resource.get("resourceType")
        if not isinstance(resource_type, str):
            self.skipped += 1
            return
        if resource_type not in RECORD_TYPES:
            # OperationOutcome entries in a searchset, Practitioners and the like carry nothing
            # the rules read.
            return
        resource_id = resource.get("id")
        if resource_id is not None and not isinstance(resource_id, str):
            self.skipped += 1
            return
        if resource_type == "Medication":
            if resource_id:
                self.medications[f"Medication/{resource_id}"] = resource
            return
        if resource_type == "Patient":
            if resource_id and resource_id != self.patient_id:
                self.skipped += 1
                return
        elif _is_other_patient(resource, self.patient_id):
            self.skipped += 1
            return
        if resource_id:
            key = f"{resource_type}/{resource_id}"
            if key in self._seen:
                return
            self._seen.add(key)
        self.by_type.setdefault(resource_type, []).append(resource)

    def add_all(self, resources: Iterable[object]) -> None:
        for resource in resources:
            self.add(resource)

    def without(self, drafts: Iterable[object]) -> PatientRecord:
        """The record less the resources that are also these draft orders (same type and id): the order
        being signed, which an EHR may return in the prefetch as well, is read once, as a draft order."""
        keys = {
            (draft.get("resourceType"), draft.get("id"))
            for draft in drafts
            if isinstance(draft, dict)
            and isinstance(draft.get("resourceType"), str)
            and isinstance(draft.get("id"), str)
        }
        if not keys:
            return self
        kept = {
            resource_type: [r for r in resources if (resource_type, r.get("id")) not in keys]
            for resource_type, resources in self.by_type.items()
        }
        return PatientRecord(
            self.patient_id, kept, self.medications, self.skipped, self.truncated, set(self._seen)
        )

    def of_type(self, resource_type: str) -> list[dict[str, Any]]:
        return self.by_type.get(resource_type, [])

    def medication_uses(self) -> Iterator[dict[str, Any]]:
        for resource_type in MEDICATION_USE_TYPES:
            yield from self.of_type(resource_type)

    def all_resources(self) -> Iterator[dict[str, Any]]:
        """Every resource the record holds, the referenced Medications included."""
        for resources in self.by_type.values():
            yield from resources
        yield from self.medications.values()

    def resource_count(self) -> int:
        return sum(len(resources) for resources in self.by_type.values())
