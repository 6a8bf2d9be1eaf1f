"""Outbound calls to the EHR's FHIR server: where they may go, and the limits on what comes back.

- a fhirServer outside the caller's allowlist is answered 403 before any connection (a raw loopback
  socket counts connections; respx with assert_all_mocked catches any other request);
- http is refused in production even for an allowlisted host;
- redirects are not followed, and `next` links to another host are not followed;
- the response size cap and the page cap hold over real HTTP (loopback FHIR server).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import respx
from fhir_server import FhirTestServer
from security_support import (
    EHR_FHIR,
    PATIENT_ID,
    ConnectionRecorder,
    bearer,
    claims,
    client_entry,
    dev_settings_for,
    ec_key,
    hook_body,
    mint,
    running_app,
    service_path,
    settings_for,
    write_clients,
)

ACCESS_TOKEN = "outbound-access-token-7f3c"
KEY = ec_key("outbound-key")


def _patient_resources(observations: int = 0) -> list[dict[str, Any]]:
    resources: list[dict[str, Any]] = [{"resourceType": "Patient", "id": PATIENT_ID}]
    for n in range(observations):
        resources.append(
            {
                "resourceType": "Observation",
                "id": f"obs-{n}",
                "status": "final",
                "code": {"text": "padding " * 20},
                "subject": {"reference": f"Patient/{PATIENT_ID}"},
            }
        )
    return resources


@pytest.fixture
def fhir() -> Iterator[FhirTestServer]:
    server = FhirTestServer(_patient_resources(), required_token=ACCESS_TOKEN)
    with server.running():
        yield server


def _production(tmp_path: Path, **overrides: Any) -> Any:
    clients = write_clients(tmp_path, client_entry(KEY))
    return settings_for(tmp_path, trusted_clients_file=clients, **overrides)


def _auth(hook: str = "patient-view") -> dict[str, str]:
    token = mint(KEY, claims(audience=f"http://testserver{service_path(hook)}"))
    return {"Authorization": bearer(token)}


HOSTILE_SERVERS = [
    "https://evil.example.net/r4",
    "https://fhir.ehr.example.org.evil.test/r4",
    "https://fhir.ehr.example.org@evil.test/r4",
    "https://fhir.ehr.example.org/r4-other",
    "https://fhir.ehr.example.org/r4/../admin",
    "http://fhir.ehr.example.org/r4",
    "ftp://fhir.ehr.example.org/r4",
]


@pytest.mark.parametrize("server", HOSTILE_SERVERS)
async def test_fhir_server_not_allowlisted_is_403_without_any_request(tmp_path: Path, server: str) -> None:
    body = hook_body(fhir_server=server, access_token=ACCESS_TOKEN)
    async with running_app(_production(tmp_path)) as client:
        with respx.mock(assert_all_mocked=True, assert_all_called=False) as mock:
            response = await client.post(service_path("patient-view"), json=body, headers=_auth())
            assert not mock.calls
    # A scheme other than http(s) fails the request schema (400) before the allowlist is consulted.
    assert response.status_code == (400 if server.startswith("ftp") else 403)
    assert ACCESS_TOKEN not in response.text


async def test_allowlisted_https_server_is_queried(tmp_path: Path) -> None:
    body = hook_body(fhir_server=f"{EHR_FHIR}/", access_token=ACCESS_TOKEN)
    async with running_app(_production(tmp_path)) as client:
        with respx.mock(assert_all_mocked=True) as mock:
            route = mock.get(url__startswith=EHR_FHIR).respond(
                json={"resourceType": "Bundle", "type": "searchset"}
            )
            response = await client.post(service_path("patient-view"), json=body, headers=_auth())
    assert response.status_code == 200
    assert route.called
    assert all(call.request.headers["authorization"] == f"Bearer {ACCESS_TOKEN}" for call in route.calls)


async def test_loopback_server_not_allowlisted_gets_no_connection(tmp_path: Path) -> None:
    async with ConnectionRecorder() as recorder, running_app(_production(tmp_path)) as client:
        body = hook_body(fhir_server=recorder.url, access_token=ACCESS_TOKEN)
        response = await client.post(service_path("patient-view"), json=body, headers=_auth())
    assert response.status_code == 403
    assert recorder.connections == 0


async def test_http_fhir_server_is_refused_in_production_even_when_allowlisted(tmp_path: Path) -> None:
    settings = _production(tmp_path, fhir_server_allowlist=["http://127.0.0.1"])
    async with ConnectionRecorder() as recorder, running_app(settings) as client:
        body = hook_body(fhir_server=recorder.url, access_token=ACCESS_TOKEN)
        response = await client.post(service_path("patient-view"), json=body, headers=_auth())
    assert response.status_code == 403
    assert recorder.connections == 0


async def test_development_profile_allows_loopback_http(tmp_path: Path, fhir: FhirTestServer) -> None:
    body = hook_body(fhir_server=fhir.base_url, access_token=ACCESS_TOKEN)
    async with running_app(dev_settings_for(tmp_path)) as client:
        response = await client.post(service_path("patient-view"), json=body)
    assert response.status_code == 200
    assert fhir.requests and all(r.authorization == f"Bearer {ACCESS_TOKEN}" for r in fhir.requests)


async def test_redirect_is_not_followed(tmp_path: Path, fhir: FhirTestServer) -> None:
    async with ConnectionRecorder() as elsewhere, running_app(dev_settings_for(tmp_path)) as client:
        fhir.override("/Condition", status_code=302, headers={"Location": f"{elsewhere.url}/Condition"})
        body = hook_body(fhir_server=fhir.base_url, access_token=ACCESS_TOKEN)
        response = await client.post(service_path("patient-view"), json=body)
    assert response.status_code == 412
    assert response.json()["resourceType"] == "OperationOutcome"
    assert elsewhere.connections == 0, "the redirect was followed (and would have carried the token)"


async def test_next_link_to_another_host_is_not_followed(tmp_path: Path, fhir: FhirTestServer) -> None:
    async with ConnectionRecorder() as elsewhere, running_app(dev_settings_for(tmp_path)) as client:
        page = {
            "resourceType": "Bundle",
            "type": "searchset",
            "link": [{"relation": "next", "url": f"{elsewhere.url}/Condition?page=2"}],
        }
        fhir.override(
            "/Condition", status_code=200, body=page, headers={"Content-Type": "application/fhir+json"}
        )
        body = hook_body(fhir_server=fhir.base_url, access_token=ACCESS_TOKEN)
        response = await client.post(service_path("patient-view"), json=body)
    assert response.status_code == 412
    assert elsewhere.connections == 0


async def test_response_size_cap(tmp_path: Path) -> None:
    server = FhirTestServer(_patient_resources(observations=40), required_token=ACCESS_TOKEN)
    settings = dev_settings_for(tmp_path, fhir_max_response_bytes=4096)
    with server.running():
        async with running_app(settings) as client:
            body = hook_body(fhir_server=server.base_url, access_token=ACCESS_TOKEN)
            response = await client.post(service_path("patient-view"), json=body)
    assert response.status_code == 412
    assert "size limit" in response.json()["issue"][0]["diagnostics"]


async def test_page_cap(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    server = FhirTestServer(_patient_resources(observations=30), required_token=ACCESS_TOKEN)
    settings = dev_settings_for(tmp_path, fhir_page_size=5, fhir_max_pages=2)
    with server.running():
        async with running_app(settings) as client:
            body = hook_body(fhir_server=server.base_url, access_token=ACCESS_TOKEN)
            response = await client.post(service_path("patient-view"), json=body)
        observation_pages = len(server.requests_for("Observation"))
    assert response.status_code == 200
    assert observation_pages == 2, "paging stops at fhir_max_pages"
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    audit = [line for line in lines if line.get("event") == "hook_call"]
    assert audit and audit[-1]["truncated"] is True
