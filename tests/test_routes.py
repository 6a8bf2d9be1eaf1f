"""HTTP behaviour of the service: CORS preflights, bad input (a clear 4xx with an OperationOutcome, and
the service keeps serving), 412 when the FHIR data cannot be had, the hook deadline, the prefetch
states over HTTP against the loopback FHIR server, and what happens to the access token."""

from __future__ import annotations

import json
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cds_validation import assert_valid_cds_response
from conftest import ClientFactory, fixed_clock
from fhir_server import FhirTestServer
from hook_requests import (
    HOOKS,
    PATIENT_ID,
    complete_prefetch,
    hook_request,
    search_key_for,
    searchset,
    service_id,
)
from issued_support import record_issued_via
from ops_support import metric_value
from starlette.testclient import TestClient

from service.app import create_app
from service.discovery import PREFETCH_TEMPLATES
from service.settings import Settings

PV = f"/cds-services/{service_id('patient-view')}"
SELECT = f"/cds-services/{service_id('order-select')}"
SIGN = f"/cds-services/{service_id('order-sign')}"
FEEDBACK = f"{PV}/feedback"
MAX_BODY = 300_000
TOKEN = "secret-access-token-4711"
SANDBOX_ORIGIN = "http://127.0.0.1:8080"
CONDITIONS_KEY = search_key_for("Condition")
NOW = "2026-11-21T12:00:00Z"
# Generous FHIR timeouts and deadline: only the tests about them should ever see them fire.
PATIENT_SETTINGS: dict[str, Any] = {
    "hook_deadline_seconds": 10.0,
    "fhir_connect_timeout_seconds": 5.0,
    "fhir_read_timeout_seconds": 5.0,
}


@pytest.fixture(scope="module")
def service(make_module_client: ClientFactory) -> TestClient:
    return make_module_client(max_body_bytes=MAX_BODY, **PATIENT_SETTINGS)


def _body(value: Any) -> bytes:
    return json.dumps(value).encode()


def _assert_outcome(response: Any, status: int, diagnostics: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/fhir+json")
    outcome: dict[str, Any] = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    issue = outcome["issue"][0]
    assert issue["severity"] == "error"
    assert diagnostics in issue["diagnostics"]
    return outcome


def _valid_call(client: TestClient) -> None:
    response = client.post(PV, json=hook_request("patient-view", prefetch=complete_prefetch()))
    assert response.status_code == 200, response.text
    assert_valid_cds_response(response.json())


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


# -- calls that succeed ---------------------------------------------------------------------------


@pytest.mark.parametrize("hook", HOOKS)
def test_complete_prefetch_without_fhir_server_gets_valid_cards(service: TestClient, hook: str) -> None:
    path = f"/cds-services/{service_id(hook)}"

    response = service.post(path, json=hook_request(hook, prefetch=complete_prefetch()))

    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert_valid_cds_response(response.json())


@pytest.mark.parametrize("hook", HOOKS)
def test_fhir_fallback_gets_valid_cards(service: TestClient, fhir_server: FhirTestServer, hook: str) -> None:
    path = f"/cds-services/{service_id(hook)}"

    response = service.post(path, json=hook_request(hook, fhir_server=fhir_server.base_url))

    assert response.status_code == 200, response.text
    assert_valid_cds_response(response.json())
    assert fhir_server.requests_for("MedicationRequest")


def test_fhir_content_type_is_accepted(service: TestClient) -> None:
    response = service.post(
        PV,
        content=_body(hook_request("patient-view", prefetch=complete_prefetch())),
        headers={"Content-Type": "application/fhir+json; charset=utf-8"},
    )

    assert response.status_code == 200


# -- CORS -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "method"),
    [
        pytest.param("/cds-services", "GET", id="discovery"),
        pytest.param(PV, "POST", id="service"),
        pytest.param(FEEDBACK, "POST", id="feedback"),
    ],
)
def test_cors_preflight_is_answered(service: TestClient, path: str, method: str) -> None:
    response = service.options(
        path,
        headers={
            "Origin": SANDBOX_ORIGIN,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": "authorization,content-type",
        },
    )

    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] in ("*", SANDBOX_ORIGIN)
    assert method in response.headers["access-control-allow-methods"]
    allowed_headers = response.headers["access-control-allow-headers"].lower()
    assert "authorization" in allowed_headers
    assert "content-type" in allowed_headers


def test_cors_headers_are_on_error_responses_too(service: TestClient) -> None:
    response = service.post(
        PV, content=b"{", headers={"Origin": SANDBOX_ORIGIN, "Content-Type": "application/json"}
    )

    assert response.status_code == 400
    assert response.headers["access-control-allow-origin"] in ("*", SANDBOX_ORIGIN)


def test_configured_origins_are_allowed_and_others_refused(make_client: ClientFactory) -> None:
    client = make_client(cors_allow_origins=[SANDBOX_ORIGIN])
    preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}

    allowed = client.options(PV, headers={"Origin": SANDBOX_ORIGIN, **preflight})
    refused = client.options(PV, headers={"Origin": "https://evil.test", **preflight})

    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == SANDBOX_ORIGIN
    assert refused.status_code == 400
    assert "access-control-allow-origin" not in refused.headers


# -- bad input: a clear 4xx, an OperationOutcome, and the service keeps serving ------------------


def _without(value: dict[str, Any], *path: str) -> dict[str, Any]:
    changed: dict[str, Any] = json.loads(json.dumps(value))
    target = changed
    for part in path[:-1]:
        target = target[part]
    del target[path[-1]]
    return changed


def _with(value: dict[str, Any], new: Any, *path: str) -> dict[str, Any]:
    changed: dict[str, Any] = json.loads(json.dumps(value))
    target = changed
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = new
    return changed


PV_BODY = hook_request("patient-view", prefetch=complete_prefetch())
SIGN_BODY = hook_request("order-sign", prefetch=complete_prefetch())
SELECT_BODY = hook_request("order-select", prefetch=complete_prefetch())
DEEP_ARRAYS = b"[" * 100_000 + b"]" * 100_000


@dataclass(frozen=True)
class BadInput:
    body: bytes | list[bytes]  # a list is streamed (chunked, no Content-Length)
    status: int
    diagnostics: str
    path: str = PV
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "application/json"})
    method: str = "POST"


BAD_INPUTS = {
    "malformed-json": BadInput(b'{"hook": "patient-view",', 400, "not valid UTF-8 JSON"),
    "non-utf-8-json": BadInput(b'{"hook": "patient-view\xff"}', 400, "not valid UTF-8 JSON"),
    "utf-16-json": BadInput(json.dumps(PV_BODY).encode("utf-16"), 400, "not valid UTF-8 JSON"),
    "empty-body": BadInput(b"", 400, "request body is empty"),
    "array-body": BadInput(b"[]", 400, "must be a JSON object"),
    "string-body": BadInput(b'"patient-view"', 400, "must be a JSON object"),
    "null-body": BadInput(b"null", 400, "must be a JSON object"),
    "hook-missing": BadInput(_body(_without(PV_BODY, "hook")), 400, "hook: Field required"),
    "hook-not-a-string": BadInput(
        _body(_with(PV_BODY, 1, "hook")), 400, "hook: Input should be a valid string"
    ),
    "hook-instance-missing": BadInput(
        _body(_without(PV_BODY, "hookInstance")), 400, "hookInstance: Field required"
    ),
    "hook-instance-not-a-string": BadInput(_body(_with(PV_BODY, {}, "hookInstance")), 400, "hookInstance"),
    "context-missing": BadInput(_body(_without(PV_BODY, "context")), 400, "context: Field required"),
    "context-not-an-object": BadInput(
        _body(_with(PV_BODY, ["pt-onc-1"], "context")), 400, "context: Input should"
    ),
    "patient-id-missing": BadInput(
        _body(_without(PV_BODY, "context", "patientId")), 400, "context.patientId: Field required"
    ),
    "user-id-not-a-string": BadInput(_body(_with(PV_BODY, 7, "context", "userId")), 400, "context.userId"),
    "hook-of-another-service": BadInput(
        _body(PV_BODY), 400, "handles order-sign, not patient-view", path=SIGN
    ),
    "unknown-hook": BadInput(
        _body(_with(PV_BODY, "encounter-start", "hook")), 400, "handles patient-view, not"
    ),
    "draft-orders-not-a-bundle": BadInput(
        _body(
            _with(
                SIGN_BODY, {"resourceType": "MedicationRequest", "status": "draft"}, "context", "draftOrders"
            )
        ),
        400,
        "context.draftOrders.resourceType",
        path=SIGN,
    ),
    "draft-orders-missing": BadInput(
        _body(_without(SIGN_BODY, "context", "draftOrders")),
        400,
        "context.draftOrders: Field required",
        path=SIGN,
    ),
    "selections-missing": BadInput(
        _body(_without(SELECT_BODY, "context", "selections")), 400, "context.selections", path=SELECT
    ),
    "unknown-service": BadInput(
        _body(PV_BODY), 404, "no CDS service with id 'no-such-service'", path="/cds-services/no-such-service"
    ),
    "unknown-service-feedback": BadInput(
        b"{}", 404, "no CDS service", path="/cds-services/no-such-service/feedback"
    ),
    "body-over-limit-with-content-length": BadInput(
        b"[" + b" " * MAX_BODY + b"]", 413, "larger than the limit"
    ),
    "body-over-limit-chunked": BadInput([b"[", b" " * MAX_BODY, b"]"], 413, "larger than the limit"),
    "feedback-over-limit-chunked": BadInput(
        [b" " * (MAX_BODY + 1)], 413, "larger than the limit", path=FEEDBACK
    ),
    "100k-nested-arrays": BadInput(DEEP_ARRAYS, 400, "not valid UTF-8 JSON"),
    "100k-nested-arrays-in-context": BadInput(
        b'{"hook": "patient-view", "hookInstance": "x", "context": ' + DEEP_ARRAYS + b"}",
        400,
        "not valid UTF-8 JSON",
    ),
    "text-plain": BadInput(
        _body(PV_BODY), 415, "'text/plain' is not JSON", headers={"Content-Type": "text/plain"}
    ),
    "form-encoded": BadInput(
        b"hook=patient-view",
        415,
        "is not JSON",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    ),
    "patient-id-with-ampersand": BadInput(
        _body(_with(PV_BODY, "pt-onc-1&_id=other", "context", "patientId")), 400, "context.patientId"
    ),
    "patient-id-with-slash": BadInput(
        _body(_with(PV_BODY, "Patient/pt-onc-1", "context", "patientId")), 400, "context.patientId"
    ),
    "patient-id-with-path-traversal": BadInput(
        _body(_with(PV_BODY, "../Practitioner", "context", "patientId")), 400, "context.patientId"
    ),
    "prefetch-value-a-string": BadInput(
        _body(_with(PV_BODY, "Patient/pt-onc-1", "prefetch", "patient")),
        400,
        "prefetch.patient must be a FHIR resource, a Bundle or null",
    ),
    "prefetch-not-an-object": BadInput(
        _body(_with(PV_BODY, "all", "prefetch")), 400, "prefetch: Input should"
    ),
    "fhir-authorization-without-fhir-server": BadInput(
        _body(_with(PV_BODY, {"access_token": TOKEN, "token_type": "Bearer"}, "fhirAuthorization")),
        400,
        "fhirServer is required when fhirAuthorization is present",
    ),
    "fhir-server-not-http": BadInput(
        _body(_with(PV_BODY, "file:///etc/passwd", "fhirServer")), 400, "fhirServer"
    ),
    "fhir-server-not-allowlisted": BadInput(
        _body(_with(PV_BODY, "https://ehr.example.org/fhir", "fhirServer")), 403, "not an allowed FHIR server"
    ),
    "fhir-server-plain-http-remote": BadInput(
        _body(_with(PV_BODY, "http://10.1.2.3:8080/fhir", "fhirServer")), 403, "not an allowed FHIR server"
    ),
    "get-on-a-service": BadInput(b"", 405, "Method Not Allowed", method="GET"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS.values()), ids=list(BAD_INPUTS))
def test_bad_input_gets_a_clear_4xx_and_the_service_keeps_serving(
    service: TestClient, case: BadInput
) -> None:
    content: bytes | Any = iter(case.body) if isinstance(case.body, list) else case.body

    response = service.request(case.method, case.path, content=content, headers=case.headers)

    _assert_outcome(response, case.status, case.diagnostics)
    _valid_call(service)


def test_streamed_body_has_no_content_length(service: TestClient) -> None:
    """The chunked cases above really test the limit without Content-Length."""
    request = service.build_request("POST", PV, content=iter([b"{", b"}"]))

    assert "content-length" not in request.headers
    assert request.headers["transfer-encoding"] == "chunked"


def test_invalid_field_is_named_in_the_outcome_expression(service: TestClient) -> None:
    response = service.post(PV, json=_with(PV_BODY, "a&b", "context", "patientId"))

    outcome = _assert_outcome(response, 400, "context.patientId")
    assert outcome["issue"][0]["expression"] == ["context.patientId"]


# -- 412: the FHIR data cannot be had --------------------------------------------------------------


def _no_fhir_server(server: FhirTestServer) -> dict[str, Any]:
    return hook_request("patient-view")


def _unreachable(server: FhirTestServer) -> dict[str, Any]:
    return hook_request("patient-view", fhir_server=f"http://127.0.0.1:{_free_port()}")


def _token_refused(server: FhirTestServer) -> dict[str, Any]:
    server.required_token = "another-token"
    return hook_request("patient-view", fhir_server=server.base_url, access_token=TOKEN)


def _token_required_but_none_sent(server: FhirTestServer) -> dict[str, Any]:
    server.required_token = TOKEN
    return hook_request("patient-view", fhir_server=server.base_url)


def _server_error(server: FhirTestServer) -> dict[str, Any]:
    server.override("/Condition", status_code=500, body={"resourceType": "OperationOutcome"})
    return hook_request("patient-view", fhir_server=server.base_url)


def _redirect(server: FhirTestServer) -> dict[str, Any]:
    server.override("/Condition", status_code=302, headers={"Location": f"{server.base_url}/Observation"})
    return hook_request("patient-view", fhir_server=server.base_url, prefetch={"observations": None})


def _not_json(server: FhirTestServer) -> dict[str, Any]:
    server.override("/Condition", status_code=200, body=b"<html>maintenance</html>")
    return hook_request("patient-view", fhir_server=server.base_url)


def _next_link_elsewhere(server: FhirTestServer) -> dict[str, Any]:
    page = searchset(next_url=f"http://127.0.0.1:{_free_port()}/Condition?page=2")
    server.override("/Condition", status_code=200, body=page)
    return hook_request("patient-view", fhir_server=server.base_url)


UNAVAILABLE: dict[str, tuple[Callable[[FhirTestServer], dict[str, Any]], str]] = {
    "no-fhir-server": (_no_fhir_server, "the request names no fhirServer"),
    "fhir-server-unreachable": (_unreachable, "could not be reached"),
    "access-token-refused": (_token_refused, "HTTP 401"),
    "token-required-none-sent": (_token_required_but_none_sent, "HTTP 401"),
    "fhir-server-error": (_server_error, "HTTP 500"),
    "fhir-server-redirects": (_redirect, "HTTP 302"),
    "fhir-server-answers-html": (_not_json, "non-JSON"),
    "next-link-to-another-server": (_next_link_elsewhere, "outside its base URL"),
}


@pytest.mark.parametrize(("make_body", "diagnostics"), list(UNAVAILABLE.values()), ids=list(UNAVAILABLE))
def test_data_that_cannot_be_had_gets_412_with_an_outcome(
    service: TestClient,
    fhir_server: FhirTestServer,
    make_body: Callable[[FhirTestServer], dict[str, Any]],
    diagnostics: str,
) -> None:
    response = service.post(PV, json=make_body(fhir_server))

    _assert_outcome(response, 412, diagnostics)
    _valid_call(service)


def test_redirect_target_is_never_requested(service: TestClient, fhir_server: FhirTestServer) -> None:
    service.post(PV, json=_redirect(fhir_server))

    assert fhir_server.requests_for("Observation") == []


def test_without_fhir_authorization_open_servers_are_not_queried_unless_allowed(
    make_client: ClientFactory, quiet_fhir_server: FhirTestServer
) -> None:
    client = make_client(allow_open_fhir_servers=False, **PATIENT_SETTINGS)

    response = client.post(PV, json=hook_request("patient-view", fhir_server=quiet_fhir_server.base_url))

    _assert_outcome(response, 412, "open FHIR servers are not allowed")
    assert quiet_fhir_server.requests == []


def test_open_servers_are_allowed_in_the_development_profile_by_default(
    service: TestClient, fhir_server: FhirTestServer
) -> None:
    response = service.post(PV, json=hook_request("patient-view", fhir_server=fhir_server.base_url))

    assert response.status_code == 200
    assert fhir_server.requests
    assert all(request.authorization is None for request in fhir_server.requests)


def test_disallowed_fhir_server_is_never_contacted(
    make_client: ClientFactory, quiet_fhir_server: FhirTestServer
) -> None:
    client = make_client(fhir_server_allowlist=["https://ehr.example.org/fhir"])

    response = client.post(PV, json=hook_request("patient-view", fhir_server=quiet_fhir_server.base_url))

    _assert_outcome(response, 403, "not an allowed FHIR server")
    assert quiet_fhir_server.requests == []


# -- the deadline: the EHR gets an answer even when the FHIR server is slow -------------------------


@pytest.mark.parametrize(
    ("settings", "diagnostics"),
    [
        pytest.param(
            {
                "hook_deadline_seconds": 0.3,
                "fhir_connect_timeout_seconds": 30.0,
                "fhir_read_timeout_seconds": 30.0,
            },
            "within the hook deadline",
            id="hook-deadline",
        ),
        pytest.param(
            {
                "hook_deadline_seconds": 30.0,
                "fhir_connect_timeout_seconds": 30.0,
                "fhir_read_timeout_seconds": 0.3,
            },
            "timed out",
            id="read-timeout",
        ),
    ],
)
def test_fhir_server_slower_than_the_deadline_gets_412_quickly(
    make_client: ClientFactory, fhir_server: FhirTestServer, settings: dict[str, float], diagnostics: str
) -> None:
    client = make_client(**settings)
    fhir_server.delay_seconds = 30.0

    started = time.monotonic()
    response = client.post(PV, json=hook_request("patient-view", fhir_server=fhir_server.base_url))
    elapsed = time.monotonic() - started

    _assert_outcome(response, 412, diagnostics)
    assert elapsed < 5.0, f"answered after {elapsed:.1f} s"
    assert fhir_server.requests  # the server was asked: it was slow, not skipped


# -- the prefetch states over HTTP ------------------------------------------------------------------

FAILED_PREFETCH = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "timeout"}]}
CONDITION = {"resourceType": "Condition", "id": "c1", "subject": {"reference": f"Patient/{PATIENT_ID}"}}


@pytest.mark.parametrize(
    ("value", "queried"),
    [
        pytest.param(searchset(CONDITION), False, id="data-is-used"),
        pytest.param(None, False, id="null-is-not-queried"),
        pytest.param(FAILED_PREFETCH, True, id="operation-outcome-is-queried"),
        pytest.param(..., True, id="absent-is-queried"),
    ],
)
def test_prefetch_state_decides_whether_the_fhir_server_is_queried(
    service: TestClient, fhir_server: FhirTestServer, value: Any, queried: bool
) -> None:
    prefetch = complete_prefetch()
    if value is ...:
        del prefetch[CONDITIONS_KEY]
    else:
        prefetch[CONDITIONS_KEY] = value
    body = hook_request(
        "patient-view", fhir_server=fhir_server.base_url, access_token=TOKEN, prefetch=prefetch
    )

    response = service.post(PV, json=body)

    assert response.status_code == 200, response.text
    condition_queries = fhir_server.requests_for("Condition")
    assert bool(condition_queries) is queried
    assert [r.resource_type for r in fhir_server.requests] == ["Condition"] * len(condition_queries)
    for request in condition_queries:
        assert request.params["patient"] == [PATIENT_ID]
        assert request.authorization == f"Bearer {TOKEN}"


def test_paged_prefetch_is_followed_on_the_fhir_server_with_the_token(
    service: TestClient, fhir_server: FhirTestServer
) -> None:
    fhir_server.required_token = TOKEN
    first_page = searchset(
        CONDITION, next_url=f"{fhir_server.base_url}/Condition?patient={PATIENT_ID}&_count=1&_offset=1"
    )
    prefetch = complete_prefetch() | {CONDITIONS_KEY: first_page}
    body = hook_request(
        "patient-view", fhir_server=fhir_server.base_url, access_token=TOKEN, prefetch=prefetch
    )

    response = service.post(PV, json=body)

    assert response.status_code == 200, response.text
    pages = fhir_server.requests_for("Condition")
    assert [request.params["_offset"] for request in pages] == [["1"]]
    assert pages[0].authorization == f"Bearer {TOKEN}"


def test_fallback_searches_are_paged_up_to_the_bound(
    make_client: ClientFactory, fhir_server: FhirTestServer
) -> None:
    client = make_client(fhir_page_size=1, fhir_max_pages=2, **PATIENT_SETTINGS)
    fhir_server.add(*({**CONDITION, "id": f"extra-{index}"} for index in range(5)))  # 7 Conditions in all

    response = client.post(PV, json=hook_request("patient-view", fhir_server=fhir_server.base_url))

    assert response.status_code == 200, response.text
    condition_pages = fhir_server.requests_for("Condition")
    assert len(condition_pages) == 2
    assert condition_pages[0].params["_count"] == ["1"]
    assert "_offset" in condition_pages[1].params


# -- FHIR access: one shared client, concurrent and bounded queries ---------------------------------


def test_fhir_queries_run_concurrently_within_the_configured_bound(
    make_client: ClientFactory, fhir_server: FhirTestServer
) -> None:
    client = make_client(fhir_max_concurrent_requests=3, **PATIENT_SETTINGS)
    fhir_server.delay_seconds = 0.4  # long enough that queries overlap even on a busy machine

    response = client.post(PV, json=hook_request("patient-view", fhir_server=fhir_server.base_url))

    assert response.status_code == 200, response.text
    assert len(fhir_server.requests) > 3
    assert 2 <= fhir_server.max_in_flight <= 3


def test_fhir_connections_are_reused_across_hook_calls(
    service: TestClient, fhir_server: FhirTestServer
) -> None:
    body = hook_request("patient-view", fhir_server=fhir_server.base_url)

    assert service.post(PV, json=body).status_code == 200
    first_ports = {request.client_port for request in fhir_server.requests}
    fhir_server.clear_requests()
    assert service.post(PV, json=body).status_code == 200
    second_ports = {request.client_port for request in fhir_server.requests}

    assert first_ports & second_ports, "a new connection for every call: the HTTP client is not shared"


# -- the access token: used for this call only, never logged or stored ------------------------------


def test_access_token_is_sent_on_every_fhir_request(service: TestClient, fhir_server: FhirTestServer) -> None:
    fhir_server.required_token = TOKEN

    response = service.post(
        PV, json=hook_request("patient-view", fhir_server=fhir_server.base_url, access_token=TOKEN)
    )

    assert response.status_code == 200, response.text
    assert fhir_server.requests
    assert {request.authorization for request in fhir_server.requests} == {f"Bearer {TOKEN}"}


def test_access_token_is_not_reused_by_a_later_call(service: TestClient, fhir_server: FhirTestServer) -> None:
    service.post(PV, json=hook_request("patient-view", fhir_server=fhir_server.base_url, access_token=TOKEN))
    fhir_server.clear_requests()

    service.post(PV, json=hook_request("patient-view", fhir_server=fhir_server.base_url))

    assert fhir_server.requests
    assert all(request.authorization is None for request in fhir_server.requests)


def test_access_token_never_reaches_logs_or_storage(
    make_settings: Callable[..., Settings],
    fhir_server: FhirTestServer,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level("DEBUG")
    app = create_app(make_settings(log_level="DEBUG", **PATIENT_SETTINGS), clock=fixed_clock)
    body = hook_request("patient-view", fhir_server=fhir_server.base_url, access_token=TOKEN)
    card = str(uuid.uuid4())
    feedback = {"feedback": [{"card": card, "outcome": "accepted", "outcomeTimestamp": NOW}]}

    with TestClient(app) as client:  # leaving it shuts the app down: the database is flushed
        record_issued_via(client, service_id("patient-view"), [card])
        fhir_server.required_token = TOKEN
        succeeded = client.post(PV, json=body)
        fhir_server.required_token = "another-token"
        refused = client.post(PV, json=body)
        stored_feedback = client.post(FEEDBACK, json=feedback)

    assert (succeeded.status_code, refused.status_code, stored_feedback.status_code) == (200, 412, 200)
    assert TOKEN not in refused.text
    logs = capfd.readouterr().err + caplog.text
    assert "hook_call" in logs, "nothing was logged: this test would prove nothing"
    assert TOKEN not in logs
    stored = b"".join(path.read_bytes() for path in tmp_path.glob("cds-feedback.sqlite3*"))
    assert b"accepted" in stored, "the feedback is not in the file: this test would prove nothing"
    assert TOKEN.encode() not in stored


@pytest.mark.parametrize(
    "token",
    [
        pytest.param("t\u00f6ken-\u00e4\u00f6\u00fc", id="latin-1"),
        pytest.param("token-\U0001f600", id="emoji"),
        pytest.param("token with spaces", id="space"),
        pytest.param("token\r\nX-Injected: 1", id="header-injection"),
        pytest.param("token\x00nul", id="nul"),
    ],
)
def test_an_access_token_that_cannot_be_sent_is_400_and_the_fhir_server_is_never_called(
    service: TestClient, fhir_server: FhirTestServer, token: str
) -> None:
    """Issue 17 item 5: a non-ASCII access token gave 500 (the FHIR request could not even be built)."""
    response = service.post(
        PV, json=hook_request("patient-view", fhir_server=fhir_server.base_url, access_token=token)
    )

    outcome = _assert_outcome(response, 400, "fhirAuthorization.access_token")
    assert "visible ASCII" in outcome["issue"][0]["diagnostics"]
    assert token not in response.text
    assert fhir_server.requests == []


# --- an unknown patient (issue: a wrongly mapped patient id must be visible) -------------------------------


def _patients_not_found(service: TestClient, source: str) -> float:
    text = service.get("/metrics").text
    return metric_value(text, "cds_patients_not_found_total", {"source": source})


def test_a_patient_the_fhir_server_does_not_know_is_logged_and_counted(
    service: TestClient, fhir_server: FhirTestServer, capsys: pytest.CaptureFixture[str]
) -> None:
    before = _patients_not_found(service, "fhir-server")
    body = hook_request("patient-view", fhir_server=fhir_server.base_url, patient_id="no-such-patient")
    response = service.post(f"/cds-services/{service_id('patient-view')}", json=body)
    assert response.status_code == 200, response.text
    assert response.json() == {"cards": []}
    assert _patients_not_found(service, "fhir-server") == before + 1
    logged = capsys.readouterr().err
    assert '"event": "patient_not_found"' in logged
    assert "no-such-patient" not in logged


def test_a_null_patient_in_the_prefetch_is_counted(service: TestClient) -> None:
    before = _patients_not_found(service, "prefetch")
    prefetch = {key: None for key in PREFETCH_TEMPLATES}
    body = hook_request("patient-view", prefetch=prefetch)
    response = service.post(f"/cds-services/{service_id('patient-view')}", json=body)
    assert response.status_code == 200, response.text
    assert _patients_not_found(service, "prefetch") == before + 1
