"""Gathering the patient's data: prefetch first, the EHR's FHIR server for what prefetch lacks.

The four prefetch states of CDS Hooks 2.0, per key:
  data           use it, following a searchset's `next` links (paged prefetch) with the token;
  null           the EHR ran the query and found nothing: do not ask again;
  OperationOutcome  the EHR tried and failed: query the FHIR server ourselves;
  absent         not attempted: query the FHIR server.
When a query is needed and cannot be made, the call is answered 412.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

from clinical.fhir_data import bundle_resources
from clinical.patient_record import MEDICATION_USE_TYPES, PatientRecord
from service.discovery import PREFETCH_TEMPLATES
from service.exceptions import DataUnavailable, InvalidRequest
from service.fhir_access.fhir_client import (
    CallBudget,
    FhirClient,
    FhirEndpoint,
    SearchResult,
    next_link,
)
from service.logs import get_logger
from service.metrics import count_patient_not_found, count_skipped_input

T = TypeVar("T")
# Distinct Medications read per hook call (CDS_FHIR_MAX_MEDICATION_READS).
DEFAULT_MAX_MEDICATION_READS = 200

log = get_logger("service.fhir_access.prefetch")


@dataclass(frozen=True)
class FhirAccess:
    """How this hook call may reach the EHR's FHIR server, or why it may not."""

    client: FhirClient
    endpoint: FhirEndpoint | None
    unavailable_reason: str


def render_template(template: str, patient_id: str, user_id: str) -> str:
    # patient_id is validated as a FHIR id before it gets here, so it cannot inject query terms.
    return template.replace("{{context.patientId}}", patient_id).replace(
        "{{userPractitionerId}}", user_id.split("/", 1)[-1]
    )


def _require_endpoint(access: FhirAccess, key: str) -> FhirEndpoint:
    if access.endpoint is None:
        raise DataUnavailable(
            f"prefetch '{key}' was not provided and the FHIR server cannot be queried: "
            f"{access.unavailable_reason}",
            expression=f"prefetch.{key}",
        )
    return access.endpoint


def _classify(key: str, value: Any, resource_type: str) -> str:
    """Return 'empty', 'query', 'bundle' or 'resource' for one prefetch value."""
    if value is None:
        return "empty"
    if not isinstance(value, dict):
        raise InvalidRequest(
            f"prefetch.{key} must be a FHIR resource, a Bundle or null",
            expression=f"prefetch.{key}",
        )
    kind = value.get("resourceType")
    if kind == "OperationOutcome":
        return "query"
    if kind == "Bundle":
        return "bundle"
    if kind == resource_type:
        return "resource"
    raise InvalidRequest(
        f"prefetch.{key} holds a {kind!r}; expected {resource_type} or a Bundle of them",
        expression=f"prefetch.{key}",
    )


def _patient_not_found(source: str) -> None:
    """Cards are still answered from whatever else the record holds, but an EHR that maps patient ids
    wrongly must see it: a warning (never the id) and a metric."""
    log.warning("patient_not_found", source=source)
    count_patient_not_found(source)


async def _resolve_key(
    key: str,
    resource_type: str,
    query: str,
    value: Any,
    present: bool,
    access: FhirAccess,
    limiter: CallBudget,
) -> SearchResult:
    state = _classify(key, value, resource_type) if present else "query"
    if state == "empty":
        if resource_type == "Patient":
            _patient_not_found("prefetch")
        return SearchResult([], 0, False)
    if state == "resource":
        return SearchResult([value], 0, False)
    if state == "bundle":
        if next_link(value) is None:
            return SearchResult(bundle_resources(value), 0, False)
        return await access.client.follow_pages(_require_endpoint(access, key), value, limiter, resource_type)
    endpoint = _require_endpoint(access, key)
    if "?" not in query:
        resource = await access.client.get_json(endpoint, endpoint.url(query), limiter, resource_type)
        if resource is None and resource_type == "Patient":
            _patient_not_found("fhir-server")
        return SearchResult([resource] if resource else [], 1, False)
    return await access.client.search(endpoint, query, limiter, resource_type)


async def all_or_first_error(coroutines: list[Coroutine[Any, Any, T]]) -> list[T]:
    """Run concurrently; the first failure cancels the rest (a 412 must not leave queries running)
    and is raised as itself, not wrapped in an ExceptionGroup."""
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(coroutine) for coroutine in coroutines]
    except ExceptionGroup as failures:
        raise failures.exceptions[0] from None
    return [task.result() for task in tasks]


async def gather_patient_record(
    prefetch: dict[str, Any] | None,
    patient_id: str,
    user_id: str,
    access: FhirAccess,
    deadline_seconds: float | None = None,
    max_medication_reads: int = DEFAULT_MAX_MEDICATION_READS,
) -> PatientRecord:
    supplied = prefetch or {}
    limiter = access.client.limiter(deadline_seconds)
    results = await all_or_first_error(
        [
            _resolve_key(
                key,
                resource_type,
                render_template(template, patient_id, user_id),
                supplied.get(key),
                key in supplied,
                access,
                limiter,
            )
            for key, (resource_type, template) in PREFETCH_TEMPLATES.items()
        ]
    )
    record = PatientRecord(patient_id=patient_id)
    for result in results:
        record.add_all(result.resources)
        record.truncated = record.truncated or result.truncated
    await resolve_medications(record, access, limiter, max_medication_reads)
    return record


def medication_reference(resource: dict[str, Any]) -> str | None:
    """The Medication a medication-use resource names (R4 medicationReference, R5 medication.reference)."""
    holder = resource.get("medicationReference")
    if not isinstance(holder, dict):
        r5 = resource.get("medication")
        holder = r5.get("reference") if isinstance(r5, dict) else None
    if isinstance(holder, dict):
        reference = holder.get("reference")
        if isinstance(reference, str) and reference:
            return reference
    return None


# A Medication read names one Medication on the call's FHIR server: `Medication/<id>`, optionally a
# version (`/_history/<vid>`); ids as FHIR R4 defines them, never made of dots alone (a path step).
_MEDICATION_PATH = re.compile(r"Medication/([A-Za-z0-9\-.]{1,64})(/_history/([A-Za-z0-9\-.]{1,64}))?")


def _plain_id(value: str | None) -> bool:
    return value is None or value.strip(".") != ""


def medication_read_path(reference: str, base_url: str | None) -> str | None:
    """The relative path to read for a Medication reference, or None when it names no Medication on the
    call's FHIR server: `Medication/..`, `Medication/`, a search, another resource type, or an absolute URL
    off the base (another server's Medication: reading ours by the same id would read another drug)."""
    relative = reference
    if reference.startswith(("http://", "https://")):
        base = (base_url or "").rstrip("/") + "/"
        if base_url is None or not reference.startswith(base):
            return None
        relative = reference[len(base) :]
    match = _MEDICATION_PATH.fullmatch(relative)
    if match is None or not _plain_id(match.group(1)) or not _plain_id(match.group(3)):
        return None
    return relative


@dataclass
class MedicationReads:
    """The Medications one call reads: at most `limit`, in the order the record names them."""

    wanted: list[str]
    malformed: int
    over_limit: int


def medication_reads(record: PatientRecord, base_url: str | None, limit: int) -> MedicationReads:
    wanted: dict[str, None] = {}
    malformed = 0
    for resource_type in MEDICATION_USE_TYPES:
        for resource in record.of_type(resource_type):
            reference = medication_reference(resource)
            if reference is None or reference.startswith("#"):
                continue  # no reference, or a contained Medication: nothing to read
            path = medication_read_path(reference, base_url)
            if path is None:
                malformed += 1
            elif path not in record.medications:
                wanted[path] = None
    paths = list(wanted)
    return MedicationReads(paths[:limit], malformed, max(0, len(paths) - limit))


async def resolve_medications(
    record: PatientRecord,
    access: FhirAccess,
    limiter: CallBudget,
    max_reads: int = DEFAULT_MAX_MEDICATION_READS,
) -> None:
    """Read referenced Medications the bundles did not include (contained ones need no read).

    A reference that names no Medication on the call's server is skipped and counted, like a malformed
    resource; the Medication-use resource stays (the facts layer reads its display text). Past `max_reads`
    distinct Medications the rest are left unread and the record is marked truncated."""
    base_url = access.endpoint.base_url if access.endpoint is not None else None
    reads = medication_reads(record, base_url, max_reads)
    if reads.malformed:
        record.skipped += reads.malformed
        count_skipped_input("malformed_medication_reference", reads.malformed)
    if not reads.wanted or access.endpoint is None:
        # Without FHIR access the facts layer falls back to the reference's display text.
        return
    if reads.over_limit:
        record.truncated = True
        count_skipped_input("medication_reads_over_limit", reads.over_limit)
    endpoint = access.endpoint
    found = await all_or_first_error(
        [access.client.read(endpoint, reference, limiter) for reference in reads.wanted]
    )
    for reference, medication in zip(reads.wanted, found, strict=True):
        if isinstance(medication, dict) and medication.get("resourceType") == "Medication":
            record.medications[reference] = medication
