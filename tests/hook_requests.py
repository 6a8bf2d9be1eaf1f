"""Test data: the CDS Hooks Sandbox captures, the FHIR seed behind them, and valid hook requests.

from hook_requests import hook_request, complete_prefetch, service_id
body = hook_request("order-sign", fhir_server=fhir_server.base_url)
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from service.discovery import PREFETCH_TEMPLATES, SERVICES

FIXTURES_DIR = Path(__file__).resolve().parent / "fixtures"
CAPTURES_DIR = FIXTURES_DIR / "sandbox-captures"
SEED_BUNDLE = CAPTURES_DIR / "fhir-server-seed" / "patient-onc-1.json"
PATIENT_ID = "pt-onc-1"
USER_ID = "Practitioner/COREPRACTITIONER1"
HOOKS = ("patient-view", "order-select", "order-sign")

DRAFT_MEDICATION_REQUEST: dict[str, Any] = {
    "resourceType": "MedicationRequest",
    "id": "request-123",
    "status": "draft",
    "intent": "order",
    "subject": {"reference": f"Patient/{PATIENT_ID}"},
    "medicationCodeableConcept": {
        "coding": [
            {
                "system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                "code": "200328",
                "display": "capecitabine 500 MG Oral Tablet",
            }
        ]
    },
}


def fhir_authorization(access_token: str) -> dict[str, Any]:
    """The fhirAuthorization object an EHR sends with a SMART access token."""
    return {
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": 300,
        "scope": "patient/*.read",
        "subject": "cds-service",
    }


def service_id(hook: str) -> str:
    """Our service id for a hook."""
    for service in SERVICES.values():
        if service.hook == hook:
            return service.id
    raise KeyError(hook)


def draft_orders(*resources: dict[str, Any]) -> dict[str, Any]:
    """A draftOrders Bundle, without `type` as the CDS Hooks Sandbox sends it."""
    chosen = resources or (DRAFT_MEDICATION_REQUEST,)
    return {"resourceType": "Bundle", "entry": [{"resource": copy.deepcopy(r)} for r in chosen]}


def hook_context(hook: str, patient_id: str = PATIENT_ID) -> dict[str, Any]:
    context: dict[str, Any] = {"userId": USER_ID, "patientId": patient_id}
    if hook in ("order-select", "order-sign"):
        context["draftOrders"] = draft_orders()
    if hook == "order-select":
        context["selections"] = ["MedicationRequest/request-123"]
    return context


def hook_request(
    hook: str,
    *,
    fhir_server: str | None = None,
    access_token: str | None = None,
    prefetch: dict[str, Any] | None = None,
    patient_id: str = PATIENT_ID,
) -> dict[str, Any]:
    """A valid hook request body; fhirAuthorization is added when `access_token` is given."""
    body: dict[str, Any] = {
        "hook": hook,
        "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
        "context": hook_context(hook, patient_id),
    }
    if fhir_server is not None:
        body["fhirServer"] = fhir_server
    if access_token is not None:
        body["fhirAuthorization"] = fhir_authorization(access_token)
    if prefetch is not None:
        body["prefetch"] = prefetch
    return body


def empty_searchset() -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "searchset", "total": 0}


def searchset(*resources: dict[str, Any], next_url: str | None = None) -> dict[str, Any]:
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": resource} for resource in resources],
    }
    if next_url is not None:
        bundle["link"] = [{"relation": "next", "url": next_url}]
    return bundle


def complete_prefetch(patient_id: str = PATIENT_ID) -> dict[str, Any]:
    """Every prefetch key of ours satisfied (the patient, empty searchsets): no FHIR query needed."""
    prefetch: dict[str, Any] = {}
    for key, (resource_type, _template) in PREFETCH_TEMPLATES.items():
        if resource_type == "Patient":
            prefetch[key] = {"resourceType": "Patient", "id": patient_id}
        else:
            prefetch[key] = empty_searchset()
    return prefetch


def pembrolizumab_order_sign() -> dict[str, Any]:
    """An order-sign call that gets a card: a pembrolizumab draft order and no brain MRI on record (the
    checkpoint-inhibitor baseline advice)."""
    body = hook_request("order-sign", prefetch=complete_prefetch())
    order = {
        "resourceType": "MedicationRequest",
        "id": "draft-pembrolizumab",
        "status": "draft",
        "intent": "order",
        "subject": {"reference": f"Patient/{body['context']['patientId']}"},
        "medicationCodeableConcept": {"text": "pembrolizumab 200 mg IV every 3 weeks"},
    }
    body["context"]["draftOrders"] = draft_orders(order)
    return body


def search_key_for(resource_type: str) -> str:
    """Our prefetch key whose template searches `resource_type`."""
    for key, (kind, template) in PREFETCH_TEMPLATES.items():
        if kind == resource_type and "?" in template:
            return key
    raise KeyError(resource_type)


def load_capture(name: str) -> dict[str, Any]:
    capture: dict[str, Any] = json.loads((CAPTURES_DIR / name).read_text(encoding="utf-8"))
    return capture


def capture_names() -> list[str]:
    return sorted(path.name for path in CAPTURES_DIR.glob("[0-9]*.json"))
