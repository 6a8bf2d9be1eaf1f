"""Health endpoints: liveness never depends on upstreams, readiness reports the database as a component
(degraded, never out of service), and neither authenticates nor writes log lines."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import ClientFactory
from ops_support import free_port
from starlette.testclient import TestClient
from structlog.testing import capture_logs


@pytest.fixture
def unreachable_database_url() -> str:
    """A PostgreSQL URL where nothing listens."""
    return f"postgresql+asyncpg://postgres:s3cret-pw@127.0.0.1:{free_port()}/absent"


@pytest.fixture
def silent_listener() -> Iterator[int]:
    """A port that accepts TCP connections (the kernel's backlog) but never answers: a hung database."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield int(listener.getsockname()[1])


class RefusingAuthenticator:
    """Records every call; a health endpoint calling it would be visible in `calls`."""

    def __init__(self) -> None:
        self.calls: list[Any] = []

    async def authenticate(self, authorization: str | None, audience: str) -> Any:
        self.calls.append(audience)
        raise AssertionError("health endpoints must not authenticate")

    async def aclose(self) -> None:
        return None


def test_live_answers_ok(client: TestClient) -> None:
    response = client.get("/health/live")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


DEGRADED = {"status": "degraded", "components": {"database": "unavailable", "fhir": "ok"}}


def test_live_answers_ok_while_the_database_is_unreachable(
    make_client: ClientFactory, unreachable_database_url: str
) -> None:
    client = make_client(database_url=unreachable_database_url)
    response = client.get("/health/live")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_ready_answers_ok_with_the_database_component_when_it_answers(client: TestClient) -> None:
    response = client.get("/health/ready")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "components": {"database": "ok", "fhir": "ok"}}


def test_ready_stays_200_and_reports_the_database_degraded_when_it_is_unreachable(
    make_client: ClientFactory, unreachable_database_url: str
) -> None:
    # Hook calls do not need the database: the pod stays in service (service/health.py says why).
    client = make_client(database_url=unreachable_database_url)
    response = client.get("/health/ready")
    assert response.status_code == 200
    assert response.json() == DEGRADED
    # Nothing about the database's address or credentials leaks to the caller.
    assert "127.0.0.1" not in response.text
    assert "s3cret-pw" not in response.text


def test_ready_reports_a_database_that_hangs_past_the_timeout_as_degraded(
    make_client: ClientFactory, silent_listener: int
) -> None:
    client = make_client(
        database_url=f"postgresql+asyncpg://postgres@127.0.0.1:{silent_listener}/hung",
        database_timeout_seconds=0.2,
    )
    response = client.get("/health/ready")
    assert response.status_code == 200
    assert response.json() == DEGRADED


def test_health_endpoints_never_call_the_authenticator(make_client: ClientFactory) -> None:
    client = make_client(profile="production", allow_unauthenticated=False)
    spy = RefusingAuthenticator()
    client.app.state.authenticator = spy  # type: ignore[attr-defined]
    assert client.get("/health/live").status_code == 200
    assert client.get("/health/ready").status_code == 200
    assert spy.calls == []


def test_health_endpoints_answer_without_credentials_in_production(make_client: ClientFactory) -> None:
    client = make_client(profile="production", allow_unauthenticated=False)
    # The same client is refused elsewhere: the health routes are open on purpose, not by accident.
    assert client.get("/cds-services").status_code == 401
    assert client.get("/health/live").status_code == 200
    assert client.get("/health/ready").status_code == 200


def test_successful_health_calls_write_no_audit_or_other_log_lines(make_client: ClientFactory) -> None:
    client = make_client(log_level="DEBUG")
    with capture_logs() as events:
        for _ in range(3):
            assert client.get("/health/live").status_code == 200
            assert client.get("/health/ready").status_code == 200
    assert events == []
    # Control: the capture sees the audit line of an ordinary (here refused) call at this log level.
    with capture_logs() as control:
        assert client.post("/cds-services/no-such-service", json={}).status_code == 404
    assert [event["event"] for event in control] == ["hook_call"]
