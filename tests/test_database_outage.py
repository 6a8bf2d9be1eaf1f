"""PostgreSQL going away under a running service, and a service started while it is away.

The service runs as a real process (`immuno-cds serve`), authenticated callers (ES384, a fresh JWT per
call) talk to it over loopback HTTP, and it reaches PostgreSQL through a TCP proxy the test controls
(tests/tcp_proxy.py): cut (connections reset and refused) or paused (a hung database). Each test uses
a database of its own, created and dropped here.

What must hold: hook calls answer 200 with cards throughout; feedback is answered 200 only when it is
stored, else 503 with Retry-After (never 500), and every 200 is in the database after recovery; the
cards issued during the outage are written once the database is back; a token replayed to the same
worker during the outage is still refused.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import httpx
import pytest
from hook_requests import pembrolizumab_order_sign, service_id
from ops_support import ServiceProcess, base_environment, free_port, metric_value, running_service, serve_argv
from security_support import claims, client_entry, ec_key, mint, write_clients
from sqlalchemy.engine import make_url
from tcp_proxy import TcpProxy

PUBLIC_BASE_URL = "https://cds.outage.test"
ISSUER = "https://ehr.outage.test"
ORDER_SIGN = service_id("order-sign")
RECOVERY_TIMEOUT_SECONDS = 30.0


def _dsn(url: str, database: str | None = None) -> str:
    parsed = make_url(url).set(drivername="postgresql")
    if database is not None:
        parsed = parsed.set(database=database)
    return parsed.render_as_string(hide_password=False)


@pytest.fixture
def own_database(postgres_url: str) -> Iterator[str]:
    """A database of this test's own on the test server; its SQLAlchemy URL (direct, no proxy)."""
    name = f"cds_outage_{uuid.uuid4().hex[:12]}"

    async def admin(statement: str) -> None:
        connection = await asyncpg.connect(_dsn(postgres_url), timeout=10)
        try:
            await connection.execute(statement)
        finally:
            await connection.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def proxy(own_database: str) -> Iterator[TcpProxy]:
    url = make_url(own_database)
    with TcpProxy((url.host or "127.0.0.1", url.port or 5432)).running() as running:
        yield running


def proxied_url(database_url: str, proxy: TcpProxy) -> str:
    url = make_url(database_url).set(host="127.0.0.1", port=proxy.port)
    return url.render_as_string(hide_password=False)


async def count_rows(database_url: str, table: str, where: str = "TRUE") -> int:
    connection = await asyncpg.connect(_dsn(database_url), timeout=10)
    try:
        return int(await connection.fetchval(f"SELECT count(*) FROM {table} WHERE {where}"))
    finally:
        await connection.close()


async def stored_feedback_cards(database_url: str) -> set[str]:
    connection = await asyncpg.connect(_dsn(database_url), timeout=10)
    try:
        return {row["card_uuid"] for row in await connection.fetch("SELECT card_uuid FROM feedback")}
    finally:
        await connection.close()


class Caller:
    """An authenticated EHR: an ES384 key in the trusted clients file, a fresh JWT for each call."""

    def __init__(self, directory: Path) -> None:
        self.key = ec_key()
        self.clients_file = write_clients(directory, client_entry(self.key, iss=ISSUER, fhir=()))

    def token(self, path: str) -> str:
        return mint(self.key, claims(audience=f"{PUBLIC_BASE_URL}{path}", issuer=ISSUER))


@contextmanager
def service_on(database_url: str, caller: Caller, tmp_path: Path) -> Iterator[ServiceProcess]:
    port = free_port()
    env = base_environment(
        CDS_PROFILE="production",
        CDS_LOG_LEVEL="WARNING",
        CDS_DATABASE_URL=database_url,
        CDS_TRUSTED_CLIENTS_FILE=str(caller.clients_file),
        CDS_PUBLIC_BASE_URL=PUBLIC_BASE_URL,
        # Small bounds so that the test sees the outage, and the recovery, within seconds.
        CDS_DATABASE_TIMEOUT_SECONDS="0.5",
        CDS_DATABASE_RETRY_MAX_SECONDS="1",
    )
    with running_service(
        serve_argv(port, workers=1), env, f"http://127.0.0.1:{port}", tmp_path / "service.log"
    ) as service:
        yield service


@contextmanager
def http_client(service: ServiceProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=service.base_url, timeout=30.0) as client:
        yield client


def hook_call(http: httpx.Client, caller: Caller, token: str | None = None) -> httpx.Response:
    path = f"/cds-services/{ORDER_SIGN}"
    headers = {"Authorization": f"Bearer {token or caller.token(path)}"}
    return http.post(path, json=pembrolizumab_order_sign(), headers=headers)


def send_feedback(http: httpx.Client, caller: Caller, card: str) -> httpx.Response:
    path = f"/cds-services/{ORDER_SIGN}/feedback"
    body = {"feedback": [{"card": card, "outcome": "accepted", "outcomeTimestamp": "2026-11-21T10:00:00Z"}]}
    return http.post(path, json=body, headers={"Authorization": f"Bearer {caller.token(path)}"})


def readiness(http: httpx.Client) -> dict[str, Any]:
    response = http.get("/health/ready")
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


def wait_for_database(http: httpx.Client, state: str) -> None:
    deadline = time.monotonic() + RECOVERY_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if readiness(http)["components"]["database"] == state:
            return
        time.sleep(0.2)
    raise AssertionError(f"readiness did not report the database {state} within {RECOVERY_TIMEOUT_SECONDS} s")


def wait_for_rows(database_url: str, table: str, expected: int) -> None:
    deadline = time.monotonic() + RECOVERY_TIMEOUT_SECONDS
    while asyncio.run(count_rows(database_url, table)) < expected and time.monotonic() < deadline:
        time.sleep(0.1)


class Run:
    """What the test sent and what the service answered."""

    def __init__(self) -> None:
        self.cards_issued: list[str] = []
        self.feedback_acknowledged: list[str] = []
        self.feedback_statuses: list[int] = []
        self.feedback_named: list[str] = []

    def hook_calls(self, http: httpx.Client, caller: Caller, count: int) -> None:
        for _ in range(count):
            response = hook_call(http, caller)
            assert response.status_code == 200, response.text
            cards = response.json()["cards"]
            assert cards, "the pembrolizumab order gets cards"
            self.cards_issued.extend(card["uuid"] for card in cards)

    def feedback(self, http: httpx.Client, caller: Caller, count: int) -> None:
        # Feedback is accepted only for cards this service issued: each item names a card a hook call
        # answered with (cards issued during the outage are buffered and written on recovery).
        for _ in range(count):
            unused = [card for card in self.cards_issued if card not in self.feedback_named]
            # Repeated feedback on a card is accepted: reuse issued cards once each has been named.
            card = (
                unused[0] if unused else self.cards_issued[len(self.feedback_named) % len(self.cards_issued)]
            )
            self.feedback_named.append(card)
            response = send_feedback(http, caller, card)
            self.feedback_statuses.append(response.status_code)
            if response.status_code == 200:
                self.feedback_acknowledged.append(card)
            else:
                assert response.status_code == 503, response.text
                assert int(response.headers["retry-after"]) > 0
                assert response.json()["issue"][0]["code"] == "transient"


def test_postgresql_cut_and_hung_mid_run_cards_keep_flowing_and_no_acknowledged_feedback_is_lost(
    own_database: str, proxy: TcpProxy, tmp_path: Path
) -> None:
    caller = Caller(tmp_path)
    run = Run()
    with (
        service_on(proxied_url(own_database, proxy), caller, tmp_path) as service,
        http_client(service) as http,
    ):
        assert readiness(http) == {"status": "ok", "components": {"database": "ok", "fhir": "ok"}}
        run.hook_calls(http, caller, 5)
        run.feedback(http, caller, 5)
        assert run.feedback_statuses == [200] * 5

        proxy.cut()
        run.hook_calls(http, caller, 10)
        run.feedback(http, caller, 5)
        assert readiness(http) == {
            "status": "degraded",
            "components": {"database": "unavailable", "fhir": "ok"},
        }
        # A token used once is still refused by this worker while the database is away.
        path = f"/cds-services/{ORDER_SIGN}"
        token = caller.token(path)
        first_use = hook_call(http, caller, token)
        assert first_use.status_code == 200
        run.cards_issued.extend(card["uuid"] for card in first_use.json()["cards"])
        assert hook_call(http, caller, token).status_code == 401

        proxy.restore()
        wait_for_database(http, "ok")
        proxy.pause()  # hung, not refused: every wait is bounded by the timeout setting
        run.hook_calls(http, caller, 5)
        run.feedback(http, caller, 3)
        proxy.restore()
        wait_for_database(http, "ok")
        run.hook_calls(http, caller, 5)
        run.feedback(http, caller, 5)
        metrics = http.get("/metrics").text
        log = service.log_tail(400)

    assert run.feedback_statuses[-5:] == [200] * 5
    assert 503 in run.feedback_statuses, "feedback during the outage was answered 503"
    assert set(run.feedback_acknowledged) <= asyncio.run(stored_feedback_cards(own_database))
    assert asyncio.run(count_rows(own_database, "issued_cards")) == len(set(run.cards_issued))
    assert metric_value(metrics, "cds_replay_checks_degraded_total") > 0
    assert metric_value(metrics, "cds_requests_total", {"status": "500"}) == 0
    assert '"event": "replay_protection_degraded"' in log
    assert '"event": "database_unavailable"' in log


def test_the_service_starts_with_postgresql_down_and_uses_it_once_it_is_up(
    own_database: str, proxy: TcpProxy, tmp_path: Path
) -> None:
    caller = Caller(tmp_path)
    run = Run()
    proxy.cut()
    with (
        service_on(proxied_url(own_database, proxy), caller, tmp_path) as service,
        http_client(service) as http,
    ):
        assert readiness(http) == {
            "status": "degraded",
            "components": {"database": "unavailable", "fhir": "ok"},
        }
        run.hook_calls(http, caller, 3)
        run.feedback(http, caller, 2)
        assert run.feedback_statuses == [503, 503]

        proxy.restore()
        wait_for_database(http, "ok")
        run.feedback(http, caller, 2)
        run.hook_calls(http, caller, 2)
        # The last calls' issued cards are written right after their answers: wait for them.
        wait_for_rows(own_database, "issued_cards", len(set(run.cards_issued)))

    assert run.feedback_statuses == [503, 503, 200, 200]
    # The schema was made in the background once the database answered.
    assert asyncio.run(stored_feedback_cards(own_database)) == set(run.feedback_acknowledged)
    assert asyncio.run(count_rows(own_database, "issued_cards")) == len(set(run.cards_issued))


def test_the_proxy_reaches_postgresql_and_cuts_it_off(own_database: str, proxy: TcpProxy) -> None:
    """The tool the tests above rely on: forwarding, then refusing."""

    async def select_one() -> int:
        connection = await asyncpg.connect(_dsn(proxied_url(own_database, proxy)), timeout=3)
        try:
            return int(await connection.fetchval("SELECT 1"))
        finally:
            await connection.close()

    assert asyncio.run(select_one()) == 1
    proxy.cut()
    with pytest.raises((OSError, asyncpg.PostgresError, ConnectionError, TimeoutError)):
        asyncio.run(select_one())
