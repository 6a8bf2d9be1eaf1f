"""The services this CDS service offers, with the prefetch templates the rules need."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# Key -> (resource type, query). Only CDS Hooks 2.0 tokens, and only the query subset the spec
# recommends (reads and type searches by patient). Medications referenced by the medication
# resources are resolved by read when the EHR does not include them.
PREFETCH_TEMPLATES: dict[str, tuple[str, str]] = {
    "patient": ("Patient", "Patient/{{context.patientId}}"),
    "medicationRequests": ("MedicationRequest", "MedicationRequest?patient={{context.patientId}}"),
    "medicationAdministrations": (
        "MedicationAdministration",
        "MedicationAdministration?patient={{context.patientId}}",
    ),
    "medicationStatements": (
        "MedicationStatement",
        "MedicationStatement?patient={{context.patientId}}",
    ),
    "medicationDispenses": (
        "MedicationDispense",
        "MedicationDispense?patient={{context.patientId}}",
    ),
    "conditions": ("Condition", "Condition?patient={{context.patientId}}"),
    "observations": ("Observation", "Observation?patient={{context.patientId}}"),
    "imagingStudies": ("ImagingStudy", "ImagingStudy?patient={{context.patientId}}"),
    "diagnosticReports": ("DiagnosticReport", "DiagnosticReport?patient={{context.patientId}}"),
    "procedures": ("Procedure", "Procedure?patient={{context.patientId}}"),
    "serviceRequests": ("ServiceRequest", "ServiceRequest?patient={{context.patientId}}"),
    # MRI safety (issue 16 section 4): implants (Device.safety MR-conditional / unsafe), chart alerts
    # ("MRI unsafe"), gadolinium contrast allergy. eGFR comes with the observations above.
    "devices": ("Device", "Device?patient={{context.patientId}}"),
    "flags": ("Flag", "Flag?patient={{context.patientId}}"),
    "allergyIntolerances": ("AllergyIntolerance", "AllergyIntolerance?patient={{context.patientId}}"),
}

USAGE_REQUIREMENTS = (
    "Needs the patient's medication orders, administrations, statements and dispenses (with their "
    "Medications), conditions, observations, imaging studies, diagnostic reports, procedures, "
    "service requests, devices, flags and allergies (MRI safety): by prefetch, or by FHIR access with "
    "patient-level read scopes for those types."
)


@dataclass(frozen=True)
class ServiceDefinition:
    id: str
    hook: str
    title: str
    description: str

    def discovery_entry(self) -> dict[str, Any]:
        return {
            "hook": self.hook,
            "id": self.id,
            "title": self.title,
            "description": self.description,
            "prefetch": {key: query for key, (_, query) in PREFETCH_TEMPLATES.items()},
            "usageRequirements": USAGE_REQUIREMENTS,
        }


SERVICES: dict[str, ServiceDefinition] = {
    service.id: service
    for service in (
        ServiceDefinition(
            id="immunotherapy-brain-mri-order-select",
            hook="order-select",
            title="Immunotherapy neuroimaging: order selection",
            description=(
                "While orders are selected: advises a baseline brain MRI before immune checkpoint "
                "inhibitors, CAR-T or T-cell engagers, interval imaging in the windows that matter, "
                "and flags possible neurotoxicity (ICANS, neurological irAEs)."
            ),
        ),
        ServiceDefinition(
            id="immunotherapy-brain-mri-order-sign",
            hook="order-sign",
            title="Immunotherapy neuroimaging: order signing",
            description=(
                "Before orders are signed: baseline brain MRI before immunotherapy, interval "
                "imaging, and possible neurotoxicity after CAR-T, T-cell engagers or checkpoint "
                "inhibitors."
            ),
        ),
        ServiceDefinition(
            id="immunotherapy-brain-mri-patient-view",
            hook="patient-view",
            title="Immunotherapy neuroimaging: chart review",
            description=(
                "When the chart opens: interval imaging windows after CAR-T and checkpoint "
                "inhibitors, iRECIST confirmation, and possible neurotoxicity needing urgent "
                "brain MRI and neurology review."
            ),
        ),
    )
}


def discovery_document() -> dict[str, Any]:
    return {"services": [service.discovery_entry() for service in SERVICES.values()]}
