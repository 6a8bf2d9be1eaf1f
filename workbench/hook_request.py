"""A complete CDS Hooks request for one patient: context plus a prefetch answering every template the
discovery document declares (service/discovery.py), so the service needs no FHIR server."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from service.discovery import PREFETCH_TEMPLATES, SERVICES

FIXTURE_BASE_URL = "urn:immuno-cds:fixture"


def service_id_for(hook: str) -> str:
    for service in SERVICES.values():
        if service.hook == hook:
            return service.id
    raise ValueError(f"no service for hook {hook!r}")


def _searchset(matches: list[dict[str, Any]], includes: Iterable[dict[str, Any]] = ()) -> dict[str, Any]:
    entries = [{"resource": resource, "search": {"mode": "match"}} for resource in matches]
    entries += [{"resource": resource, "search": {"mode": "include"}} for resource in includes]
    return {"resourceType": "Bundle", "type": "searchset", "total": len(matches), "entry": entries}


def prefetch_for(resources: list[dict[str, Any]], medications: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Every prefetch key: the Patient (or null when absent), a searchset Bundle per type. Medications go
    with the medication requests as `_include`d entries, as a server answering `_include` would."""
    by_type: dict[str, list[dict[str, Any]]] = {}
    for resource in resources:
        by_type.setdefault(str(resource.get("resourceType")), []).append(resource)
    prefetch: dict[str, Any] = {}
    for key, (resource_type, template) in PREFETCH_TEMPLATES.items():
        found = by_type.get(resource_type, [])
        if "?" not in template:
            prefetch[key] = found[0] if found else None
        elif resource_type == "MedicationRequest":
            prefetch[key] = _searchset(found, medications)
        else:
            prefetch[key] = _searchset(found)
    return prefetch


def hook_request(
    *,
    hook: str,
    patient_id: str,
    user_id: str,
    resources: list[dict[str, Any]],
    medications: Iterable[dict[str, Any]] = (),
    draft_orders: Sequence[dict[str, Any]] = (),
    encounter_id: str | None = None,
) -> dict[str, Any]:
    context: dict[str, Any] = {"userId": user_id, "patientId": patient_id}
    if encounter_id:
        context["encounterId"] = encounter_id
    if hook in ("order-select", "order-sign"):
        context["draftOrders"] = {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [{"resource": order} for order in draft_orders],
        }
    if hook == "order-select":
        context["selections"] = [
            f"{order['resourceType']}/{order['id']}"
            for order in draft_orders
            if isinstance(order.get("resourceType"), str) and isinstance(order.get("id"), str)
        ]
    return {
        "hookInstance": str(uuid.uuid4()),
        "hook": hook,
        "context": context,
        "prefetch": prefetch_for(resources, medications),
    }
