"""Health endpoints: liveness never depends on upstreams, readiness reflects the database, and neither
authenticates nor writes log lines."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import ClientFactory
from ops_support import free_port
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.testclient import TestClient
from structlog.testing import capture_logs

from service import health
from service.database import create_engine


@pytest.fixture
def unreachable_engine() -> Iterator[AsyncEngine]:
    """An engine for a PostgreSQL port where nothing listens."""
    engine = create_engine(f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/absent")
    yield engine
    asyncio.run(engine.dispose())


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


def _with_engine(client: TestClient, engine: AsyncEngine) -> None:
    client.app.state.engine = engine  # type: ignore[attr-defined]


def test_live_answers_ok(client: TestClient) -> None:
    response = client.get("/health/live")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_live_answers_ok_while_the_database_is_unreachable(
    client: TestClient, unreachable_engine: AsyncEngine
) -> None:
    _with_engine(client, unreachable_engine)
    assert client.get("/health/ready").status_code == 503
    response = client.get("/health/live")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_ready_answers_ok_when_the_database_answers(client: TestClient) -> None:
    response = client.get("/health/ready")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_ready_answers_503_operation_outcome_when_the_database_is_unreachable(
    client: TestClient, unreachable_engine: AsyncEngine
) -> None:
    _with_engine(client, unreachable_engine)
    response = client.get("/health/ready")
    assert response.status_code == 503
    assert response.headers["content-type"].startswith("application/fhir+json")
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["severity"] == "error"
    assert outcome["issue"][0]["code"] == "transient"
    # Nothing about the database's address leaks to the caller.
    assert "127.0.0.1" not in response.text
    assert "postgres" not in response.text


def test_ready_answers_503_when_the_database_hangs_past_the_timeout(
    client: TestClient, silent_listener: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(health, "READINESS_TIMEOUT_SECONDS", 0.3)
    engine = create_engine(f"postgresql+asyncpg://postgres@127.0.0.1:{silent_listener}/hung")
    try:
        _with_engine(client, engine)
        response = client.get("/health/ready")
    finally:
        asyncio.run(engine.dispose())
    assert response.status_code == 503
    assert response.json()["resourceType"] == "OperationOutcome"


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
