"""Every request the CDS Hooks Sandbox sent (tests/fixtures/sandbox-captures), replayed against the
service: preflights answered, discovery listed, and each hook call answered 200 with valid cards.

Bodies are replayed as sent (a draftOrders Bundle without `type`, a first draft with no medication,
`category` and `reasonCode` as single objects); only `fhirServer` is pointed at the loopback FHIR
server holding the same seed data the sandbox's server held. The captured JWTs have long expired and
authentication has its own tests, so the Authorization header is left out and the calls run in the
development profile without authentication. The sandbox's paths name its recording service
(`rig-<hook>`); the replay calls our service for the same hook.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from cds_validation import assert_valid_cds_response
from conftest import ClientFactory
from fhir_server import FhirTestServer
from hook_requests import PATIENT_ID, capture_names, load_capture, service_id
from starlette.testclient import TestClient

from service.discovery import PREFETCH_TEMPLATES

CAPTURES = {name: load_capture(name) for name in capture_names()}
NOT_REPLAYED_HEADERS = {"host", "connection", "content-length", "authorization"}


def _names(method: str) -> list[str]:
    return [name for name, capture in CAPTURES.items() if capture["method"] == method]


def _our_path(captured_path: str) -> str:
    """/cds-services/rig-order-select -> /cds-services/<our order-select service>."""
    if captured_path == "/cds-services":
        return captured_path
    hook = captured_path.removeprefix("/cds-services/").removeprefix("rig-")
    return f"/cds-services/{service_id(hook)}"


def _headers(capture: dict[str, Any]) -> dict[str, str]:
    return {
        name: value for name, value in capture["headers"].items() if name.lower() not in NOT_REPLAYED_HEADERS
    }


@pytest.fixture(scope="module")
def service(make_module_client: ClientFactory) -> TestClient:
    return make_module_client(hook_deadline_seconds=10.0, fhir_read_timeout_seconds=5.0)


def test_every_capture_is_replayed() -> None:
    replayed = _names("OPTIONS") + _names("GET") + _names("POST")

    assert sorted(replayed) == sorted(CAPTURES)
    assert len(CAPTURES) == 10


@pytest.mark.parametrize("name", _names("OPTIONS"))
def test_preflight_capture_is_answered(service: TestClient, name: str) -> None:
    capture = CAPTURES[name]
    headers = _headers(capture)

    response = service.options(_our_path(capture["path"]), headers=headers)

    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] in ("*", headers["Origin"])
    assert headers["Access-Control-Request-Method"] in response.headers["access-control-allow-methods"]
    allowed = {value.strip().lower() for value in response.headers["access-control-allow-headers"].split(",")}
    requested = {value.strip().lower() for value in headers["Access-Control-Request-Headers"].split(",")}
    assert requested <= allowed


@pytest.mark.parametrize("name", _names("GET"))
def test_discovery_capture_lists_the_services(service: TestClient, name: str) -> None:
    capture = CAPTURES[name]

    response = service.get(capture["path"], headers=_headers(capture))

    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] in ("*", capture["headers"]["Origin"])
    assert {entry["hook"] for entry in response.json()["services"]} == {
        "patient-view",
        "order-select",
        "order-sign",
    }


@pytest.mark.parametrize("name", _names("POST"))
def test_hook_capture_gets_valid_cards(service: TestClient, fhir_server: FhirTestServer, name: str) -> None:
    capture = CAPTURES[name]
    body = capture["body"] | {"fhirServer": fhir_server.base_url}

    response = service.post(
        _our_path(capture["path"]), content=json.dumps(body).encode(), headers=_headers(capture)
    )

    assert response.status_code == 200, response.text
    assert response.headers["access-control-allow-origin"] in ("*", capture["headers"]["Origin"])
    assert_valid_cds_response(response.json())


@pytest.mark.parametrize("name", _names("POST"))
def test_hook_capture_queries_the_fhir_server_only_for_what_prefetch_lacks(
    service: TestClient, fhir_server: FhirTestServer, name: str
) -> None:
    capture = CAPTURES[name]
    sent = capture["body"]["prefetch"]
    body = capture["body"] | {"fhirServer": fhir_server.base_url}

    service.post(_our_path(capture["path"]), content=json.dumps(body).encode(), headers=_headers(capture))

    lacking = {kind for key, (kind, _) in PREFETCH_TEMPLATES.items() if key not in sent}
    assert {request.resource_type for request in fhir_server.requests} == lacking
    for request in fhir_server.requests:
        assert request.authorization is None  # the sandbox sent no fhirAuthorization
        if request.is_search:
            assert request.params["patient"] == [PATIENT_ID]


def test_captures_are_kept_as_the_sandbox_sent_them() -> None:
    """The quirks the replays must cope with are really in the fixtures."""
    drafts = {
        name: CAPTURES[name]["body"]["context"]["draftOrders"]
        for name in _names("POST")
        if "draftOrders" in CAPTURES[name]["body"]["context"]
    }
    resources = {name: bundle["entry"][0]["resource"] for name, bundle in drafts.items()}

    assert all("type" not in bundle for bundle in drafts.values())
    assert any("medicationCodeableConcept" not in resource for resource in resources.values())
    assert any(isinstance(resource.get("reasonCode"), dict) for resource in resources.values())
    assert any(isinstance(resource.get("category"), dict) for resource in resources.values())
