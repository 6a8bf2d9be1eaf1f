"""FHIR server faults over real loopback HTTP: the service answers in time (412 with an
OperationOutcome when the data it needs cannot be had) and stays healthy for the next call.

Faulty servers: the shared loopback FHIR server (tests/fhir_server.py) for slow answers, 5xx, non-JSON
and oversized bodies; a raw socket server for resets, hang-ups and endless or dripping bodies.
Timings are never asserted, only bounded by generous hang guards.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fhir_server import FhirTestServer
from security_support import (
    PATIENT_ID,
    ConnectionRecorder,
    dev_settings_for,
    hook_body,
    running_app,
    service_path,
)

ACCESS_TOKEN = "faults-access-token-19ab"
HANG_GUARD_SECONDS = 30


def _serve() -> Iterator[FhirTestServer]:
    server = FhirTestServer([{"resourceType": "Patient", "id": PATIENT_ID}], required_token=ACCESS_TOKEN)
    with server.running():
        yield server


_healthy_server = pytest.fixture(scope="module", name="_healthy_server")(_serve)
_faulty_server = pytest.fixture(scope="module", name="_faulty_server")(_serve)


@pytest.fixture
def healthy(_healthy_server: FhirTestServer) -> Iterator[FhirTestServer]:
    _healthy_server.reset()
    yield _healthy_server
    _healthy_server.reset()


@pytest.fixture
def faulty(_faulty_server: FhirTestServer) -> Iterator[FhirTestServer]:
    _faulty_server.reset()
    yield _faulty_server
    _faulty_server.reset()


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    # The deadline is short enough to keep the hanging-server tests quick and long enough (10x a
    # healthy call) that the "still healthy" calls succeed on a loaded machine.
    settings = dev_settings_for(
        tmp_path,
        fhir_max_response_bytes=256 * 1024,
        hook_deadline_seconds=2.5,
        fhir_connect_timeout_seconds=1.0,
        fhir_read_timeout_seconds=2.0,
    )
    async with running_app(settings) as client:
        yield client


async def _call(client: httpx.AsyncClient, fhir_server: str, hook: str = "patient-view") -> httpx.Response:
    body = hook_body(hook, fhir_server=fhir_server, access_token=ACCESS_TOKEN)
    async with asyncio.timeout(HANG_GUARD_SECONDS):
        return await client.post(service_path(hook), json=body)


def _assert_412(response: httpx.Response) -> None:
    assert response.status_code == 412
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["code"] in ("transient", "incomplete")
    assert ACCESS_TOKEN not in response.text


async def _assert_still_healthy(client: httpx.AsyncClient, healthy: FhirTestServer) -> None:
    for hook in ("patient-view", "order-sign"):
        response = await _call(client, healthy.base_url, hook)
        assert response.status_code == 200, response.text
        assert "cards" in response.json()


CANNED_FAULTS: list[tuple[str, dict[str, Any]]] = [
    ("500", {"status_code": 500, "body": b"internal error"}),
    ("502", {"status_code": 502, "body": b"<html>bad gateway</html>"}),
    ("503 with OperationOutcome", {"status_code": 503, "body": {"resourceType": "OperationOutcome"}}),
    ("401 (token refused)", {"status_code": 401, "body": {"resourceType": "OperationOutcome"}}),
    ("non-JSON 200", {"status_code": 200, "body": b"<html>login page</html>"}),
    ("JSON that is not a resource", {"status_code": 200, "body": b"[1, 2, 3]"}),
    ("search answer that is not a Bundle", {"status_code": 200, "body": {"resourceType": "Patient"}}),
    ("truncated JSON", {"status_code": 200, "body": b'{"resourceType": "Bundle", "entry": [{'}),
    ("oversized body", {"status_code": 200, "body": b'{"x": "' + b"a" * (1024 * 1024) + b'"}'}),
]


@pytest.mark.parametrize(
    "fault", [fault for _, fault in CANNED_FAULTS], ids=[name for name, _ in CANNED_FAULTS]
)
async def test_fhir_server_answers_badly(
    client: httpx.AsyncClient, faulty: FhirTestServer, healthy: FhirTestServer, fault: dict[str, Any]
) -> None:
    faulty.override("/Condition", **fault)
    _assert_412(await _call(client, faulty.base_url))
    await _assert_still_healthy(client, healthy)


async def test_slow_fhir_server_past_the_deadline(
    client: httpx.AsyncClient, faulty: FhirTestServer, healthy: FhirTestServer
) -> None:
    faulty.delay_seconds = 10.0
    _assert_412(await _call(client, faulty.base_url))
    await _assert_still_healthy(client, healthy)


@pytest.mark.parametrize("mode", ["reset", "close", "silent", "endless", "drip"])
async def test_fhir_server_connection_faults(
    client: httpx.AsyncClient, healthy: FhirTestServer, mode: str
) -> None:
    async with ConnectionRecorder(mode) as broken:
        _assert_412(await _call(client, broken.url))
        assert broken.connections >= 1
    await _assert_still_healthy(client, healthy)


async def test_nothing_listening(client: httpx.AsyncClient, healthy: FhirTestServer) -> None:
    async with ConnectionRecorder() as closed:
        url = closed.url
    _assert_412(await _call(client, url))
    await _assert_still_healthy(client, healthy)


async def test_many_concurrent_calls_against_a_hanging_server(
    client: httpx.AsyncClient, healthy: FhirTestServer
) -> None:
    """Hung connections are cut by the deadline and do not starve the calls that follow."""
    async with ConnectionRecorder("silent") as hanging:
        responses = await asyncio.gather(*(_call(client, hanging.url) for _ in range(10)))
    for response in responses:
        _assert_412(response)
    await _assert_still_healthy(client, healthy)
