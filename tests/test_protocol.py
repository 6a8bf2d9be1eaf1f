"""Hook request validation (service.protocol): what is accepted, and what is refused with which message."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hook_requests import HOOKS, PATIENT_ID, draft_orders, hook_context, hook_request, load_capture

from service.exceptions import InvalidRequest
from service.protocol import (
    OrderSelectContext,
    OrderSignContext,
    PatientViewContext,
    draft_order_resources,
    parse_context,
    parse_hook_request,
)


def _without(body: dict[str, Any], *path: str) -> dict[str, Any]:
    changed = copy.deepcopy(body)
    target = changed
    for part in path[:-1]:
        target = target[part]
    del target[path[-1]]
    return changed


def _with(body: dict[str, Any], value: Any, *path: str) -> dict[str, Any]:
    changed = copy.deepcopy(body)
    target = changed
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return changed


VALID = hook_request("patient-view", fhir_server="https://ehr.example.org/fhir", access_token="t")


@pytest.mark.parametrize("hook", HOOKS)
def test_valid_request_is_parsed(hook: str) -> None:
    parsed = parse_hook_request(
        hook_request(hook, fhir_server="https://ehr.example.org/fhir", access_token="t")
    )

    assert parsed.hook == hook
    assert parsed.fhir_server == "https://ehr.example.org/fhir"
    assert parsed.fhir_authorization is not None
    assert parsed.fhir_authorization.access_token == "t"


def test_request_without_fhir_server_or_prefetch_is_parsed() -> None:
    parsed = parse_hook_request(hook_request("patient-view"))

    assert parsed.fhir_server is None
    assert parsed.prefetch is None


def test_unknown_top_level_fields_are_ignored() -> None:
    parsed = parse_hook_request(_with(VALID, {"org.example.x": 1}, "extension") | {"unexpected": True})

    assert parsed.extension == {"org.example.x": 1}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        pytest.param(_without(VALID, "hook"), "hook: Field required", id="hook-missing"),
        pytest.param(_with(VALID, 7, "hook"), "hook: Input should be a valid string", id="hook-number"),
        pytest.param(_with(VALID, "", "hook"), "hook: String should have at least 1", id="hook-empty"),
        pytest.param(_without(VALID, "hookInstance"), "hookInstance: Field required", id="instance-missing"),
        pytest.param(
            _with(VALID, 12345, "hookInstance"), "hookInstance: Input should be", id="instance-number"
        ),
        pytest.param(_without(VALID, "context"), "context: Field required", id="context-missing"),
        pytest.param(
            _with(VALID, [], "context"), "context: Input should be a valid dictionary", id="ctx-list"
        ),
        pytest.param(
            _with(VALID, "pt", "context"), "context: Input should be a valid dictionary", id="ctx-str"
        ),
        pytest.param(
            _without(VALID, "fhirServer"),
            "fhirServer is required when fhirAuthorization is present",
            id="authorization-without-server",
        ),
        pytest.param(
            _with(VALID, "ftp://ehr.example.org/fhir", "fhirServer"),
            "fhirServer: String should match pattern",
            id="server-not-http",
        ),
        pytest.param(_with(VALID, "not a url", "fhirServer"), "fhirServer", id="server-not-url"),
        pytest.param(
            _with(VALID, "MAC", "fhirAuthorization", "token_type"),
            "token_type must be Bearer",
            id="token-type-not-bearer",
        ),
        pytest.param(
            _without(VALID, "fhirAuthorization", "access_token"),
            "fhirAuthorization.access_token: Field required",
            id="authorization-without-token",
        ),
        pytest.param(
            _with(VALID, "", "fhirAuthorization", "access_token"),
            "fhirAuthorization.access_token",
            id="authorization-empty-token",
        ),
        pytest.param(
            _with(VALID, "all", "prefetch"), "prefetch: Input should be a valid dictionary", id="pf"
        ),
        pytest.param(
            _with(VALID, ["x"], "extension"), "extension: Input should be a valid dictionary", id="ext"
        ),
    ],
)
def test_invalid_request_is_refused_with_a_message(body: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidRequest) as raised:
        parse_hook_request(body)

    assert message in raised.value.message
    assert raised.value.status_code == 400


def test_invalid_request_outcome_names_the_field() -> None:
    with pytest.raises(InvalidRequest) as raised:
        parse_hook_request(_without(VALID, "hookInstance"))

    issue = raised.value.operation_outcome()["issue"][0]
    assert issue["expression"] == ["hookInstance"]
    assert issue["code"] == "invalid"


def test_model_level_error_message_does_not_start_with_a_separator() -> None:
    with pytest.raises(InvalidRequest) as raised:
        parse_hook_request(_without(VALID, "fhirServer"))

    assert raised.value.message.startswith("Value error, fhirServer is required")


@pytest.mark.parametrize(
    ("hook", "model"),
    [
        ("patient-view", PatientViewContext),
        ("order-select", OrderSelectContext),
        ("order-sign", OrderSignContext),
    ],
)
def test_context_is_parsed_per_hook(hook: str, model: type[PatientViewContext]) -> None:
    context = parse_context(hook, hook_context(hook) | {"encounterId": "enc-1"})

    assert type(context) is model
    assert context.patient_id == PATIENT_ID
    assert context.encounter_id == "enc-1"


SELECT = hook_context("order-select")


@pytest.mark.parametrize(
    ("hook", "context", "message"),
    [
        pytest.param(
            "patient-view", {"userId": "Practitioner/1"}, "context.patientId: Field required", id="pv-pt"
        ),
        pytest.param("patient-view", {"patientId": "p1"}, "context.userId: Field required", id="pv-user"),
        pytest.param(
            "patient-view",
            {"userId": "Practitioner/1", "patientId": 42},
            "context.patientId: Input should be a valid string",
            id="patient-id-number",
        ),
        pytest.param(
            "patient-view",
            {"userId": "Practitioner/1", "patientId": "p1&_id=other"},
            "context.patientId: String should match pattern",
            id="patient-id-ampersand",
        ),
        pytest.param(
            "patient-view",
            {"userId": "Practitioner/1", "patientId": "Patient/p1"},
            "context.patientId: String should match pattern",
            id="patient-id-slash",
        ),
        pytest.param(
            "patient-view",
            {"userId": "Practitioner/1", "patientId": "p" * 65},
            "context.patientId: String should match pattern",
            id="patient-id-too-long",
        ),
        pytest.param(
            "patient-view",
            {"userId": "Practitioner/1", "patientId": "p1", "encounterId": "e/1"},
            "context.encounterId: String should match pattern",
            id="encounter-id-slash",
        ),
        pytest.param(
            "order-sign",
            _without(hook_context("order-sign"), "draftOrders"),
            "context.draftOrders: Field required",
            id="sign-without-draft-orders",
        ),
        pytest.param(
            "order-sign",
            _with(hook_context("order-sign"), {"resourceType": "MedicationRequest"}, "draftOrders"),
            "context.draftOrders.resourceType: Input should be 'Bundle'",
            id="draft-orders-not-bundle",
        ),
        pytest.param(
            "order-sign",
            _with(hook_context("order-sign"), [], "draftOrders"),
            "context.draftOrders: Input should be a valid dictionary",
            id="draft-orders-list",
        ),
        pytest.param(
            "order-sign",
            _with(hook_context("order-sign"), {"resourceType": "Bundle", "entry": {}}, "draftOrders"),
            "context.draftOrders.entry: Input should be a valid list",
            id="draft-orders-entry-not-list",
        ),
        pytest.param(
            "order-select",
            _without(SELECT, "selections"),
            "context.selections: Field required",
            id="no-selections",
        ),
        pytest.param(
            "order-select",
            _with(SELECT, "MedicationRequest/1", "selections"),
            "context.selections: Input should be a valid list",
            id="selections-string",
        ),
        pytest.param(
            "order-select",
            _with(SELECT, ["request-123"], "selections"),
            "is not a Type/id reference",
            id="selection-not-a-reference",
        ),
    ],
)
def test_invalid_context_is_refused_with_a_message(hook: str, context: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidRequest) as raised:
        parse_context(hook, context)

    assert message in raised.value.message


def test_draft_orders_bundle_without_type_is_accepted() -> None:
    context = parse_context("order-sign", hook_context("order-sign"))

    assert isinstance(context, OrderSignContext)
    assert "type" not in hook_context("order-sign")["draftOrders"]
    assert [r["id"] for r in draft_order_resources(context)] == ["request-123"]


@pytest.mark.parametrize(
    "capture",
    ["0006-POST-cds_services_rig_order_select.json", "0007-POST-cds_services_rig_order_select.json"],
)
def test_sandbox_draft_orders_are_parsed_as_sent(capture: str) -> None:
    """No medication yet (0006) and reasonCode as a single object (0007): lenient, not refused."""
    body = load_capture(capture)["body"]

    request = parse_hook_request(body)
    context = parse_context(request.hook, request.context)

    (draft,) = draft_order_resources(context)
    assert draft["status"] == "draft"
    assert draft == body["context"]["draftOrders"]["entry"][0]["resource"]


def test_sandbox_draft_with_single_object_category_is_kept_as_sent() -> None:
    body = load_capture("0008-POST-cds_services_rig_order_select.json")["body"]

    context = parse_context("order-select", parse_hook_request(body).context)

    (draft,) = draft_order_resources(context)
    assert isinstance(draft["category"], dict)


def test_draft_order_entries_without_a_resource_are_skipped() -> None:
    bundle = draft_orders()
    bundle["entry"].extend([{"fullUrl": "urn:uuid:x"}, {"resource": "MedicationRequest"}])

    context = parse_context("order-sign", hook_context("order-sign") | {"draftOrders": bundle})

    assert [r["id"] for r in draft_order_resources(context)] == ["request-123"]


def test_patient_view_has_no_draft_orders() -> None:
    context = parse_context("patient-view", hook_context("patient-view"))

    assert draft_order_resources(context) == []
