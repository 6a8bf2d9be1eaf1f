"""The service under uvicorn on a loopback port, called over real HTTP, its FHIR fallback served over
real HTTP by the loopback FHIR server: paged searches (one resource per page), bearer token required."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import httpx
import pytest
from cds_validation import assert_valid_cds_response
from conftest import fixed_clock, settings_for
from fhir_server import FhirTestServer, serve_asgi
from hook_requests import (
    PATIENT_ID,
    SEED_BUNDLE,
    complete_prefetch,
    hook_request,
    search_key_for,
    searchset,
    service_id,
)
from issued_support import record_issued_now

from service.app import create_app

TOKEN = "e2e-access-token"
PV = f"/cds-services/{service_id('patient-view')}"
SIGN = f"/cds-services/{service_id('order-sign')}"
MAX_BODY = 100_000


@pytest.fixture(scope="module")
def _fhir() -> Iterator[FhirTestServer]:
    server = FhirTestServer.from_bundle_file(SEED_BUNDLE, required_token=TOKEN)
    with server.running():
        yield server


@pytest.fixture
def fhir(_fhir: FhirTestServer) -> Iterator[FhirTestServer]:
    _fhir.reset()
    yield _fhir
    _fhir.reset()


@pytest.fixture(scope="module")
def sqlite_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("e2e") / "cds-feedback.sqlite3"


@pytest.fixture(scope="module")
def http(sqlite_path: Path) -> Iterator[httpx.Client]:
    settings = settings_for(
        sqlite_path,
        fhir_page_size=1,  # every search is paged: one resource per page
        max_body_bytes=MAX_BODY,
        hook_deadline_seconds=10.0,
        fhir_connect_timeout_seconds=5.0,
        fhir_read_timeout_seconds=5.0,
    )
    app = create_app(settings, clock=fixed_clock)
    with serve_asgi(app, lifespan="on") as base_url, httpx.Client(base_url=base_url, timeout=20.0) as client:
        yield client


def test_discovery_over_http(http: httpx.Client) -> None:
    response = http.get("/cds-services")

    assert response.status_code == 200
    assert {service["hook"] for service in response.json()["services"]} == {
        "patient-view",
        "order-select",
        "order-sign",
    }


def test_cors_preflight_over_http(http: httpx.Client) -> None:
    response = http.options(
        SIGN,
        headers={
            "Origin": "http://127.0.0.1:8080",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        },
    )

    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] in ("*", "http://127.0.0.1:8080")


def test_hook_call_reads_every_page_from_the_fhir_server_with_the_token(
    http: httpx.Client, fhir: FhirTestServer
) -> None:
    body = hook_request("order-sign", fhir_server=fhir.base_url, access_token=TOKEN)

    response = http.post(SIGN, json=body)

    assert response.status_code == 200, response.text
    assert_valid_cds_response(response.json())
    assert fhir.requests, "the FHIR server was not asked"
    assert {request.authorization for request in fhir.requests} == {f"Bearer {TOKEN}"}
    # The seed holds two MedicationRequests and two Conditions: two pages each, the second by `next`.
    for resource_type in ("MedicationRequest", "Condition"):
        pages = fhir.requests_for(resource_type)
        assert [request.params.get("_offset", ["0"]) for request in pages] == [["0"], ["1"]]
        assert all(request.params["patient"] == [PATIENT_ID] for request in pages)
        assert all(request.params["_count"] == ["1"] for request in pages)
    assert len(fhir.requests_for("Patient")) == 1


def test_paged_prefetch_is_followed_over_http(http: httpx.Client, fhir: FhirTestServer) -> None:
    conditions_key = search_key_for("Condition")
    first_page = searchset(
        {
            "resourceType": "Condition",
            "id": "cond-nsclc-1",
            "subject": {"reference": f"Patient/{PATIENT_ID}"},
        },
        next_url=f"{fhir.base_url}/Condition?patient={PATIENT_ID}&_count=1&_offset=1",
    )
    prefetch = complete_prefetch() | {conditions_key: first_page}
    body = hook_request("patient-view", fhir_server=fhir.base_url, access_token=TOKEN, prefetch=prefetch)

    response = http.post(PV, json=body)

    assert response.status_code == 200, response.text
    (page,) = fhir.requests
    assert (page.path, page.params["_offset"], page.authorization) == ("/Condition", ["1"], f"Bearer {TOKEN}")


def test_fhir_server_refusing_the_call_gets_412_over_http(http: httpx.Client, fhir: FhirTestServer) -> None:
    response = http.post(PV, json=hook_request("patient-view", fhir_server=fhir.base_url))

    assert response.status_code == 412
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert "HTTP 401" in outcome["issue"][0]["diagnostics"]


def test_chunked_body_over_the_limit_gets_413_over_http(http: httpx.Client) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"hook": "patient-view", "padding": "'
        for _ in range(MAX_BODY // 10_000 + 1):
            yield b"x" * 10_000
        yield b'"}'

    response = http.post(PV, content=chunks(), headers={"Content-Type": "application/json"})

    assert response.status_code == 413
    assert response.json()["resourceType"] == "OperationOutcome"


def test_service_keeps_serving_after_bad_input_over_http(http: httpx.Client) -> None:
    bad = http.post(PV, content=b"[" * 50_000 + b"]" * 50_000, headers={"Content-Type": "application/json"})
    good = http.post(PV, json=hook_request("patient-view", prefetch=complete_prefetch()))

    assert bad.status_code == 400
    assert good.status_code == 200


def test_feedback_over_http_is_stored(http: httpx.Client, sqlite_path: Path) -> None:
    card = "2b9e6c4f-3c1d-4e8a-9f0b-1a2b3c4d5e6f"
    feedback = {
        "feedback": [
            {
                "card": card,
                "outcome": "accepted",
                "acceptedSuggestions": [{"id": "0d9c8b7a-6f5e-4d3c-2b1a-0f9e8d7c6b5a"}],
                "outcomeTimestamp": "2026-11-21T12:00:00Z",
            }
        ]
    }

    record_issued_now(f"sqlite+aiosqlite:///{sqlite_path}", service_id("order-sign"), [card])
    response = http.post(f"{SIGN}/feedback", json=feedback)

    assert response.status_code == 200
    with closing(sqlite3.connect(sqlite_path)) as database:
        rows = database.execute(
            "SELECT service_id, outcome FROM feedback WHERE card_uuid = ?", (card,)
        ).fetchall()
    assert rows == [(service_id("order-sign"), "accepted")]
