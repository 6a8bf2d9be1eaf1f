"""Scale-out: two separate service processes (as two pods would be) on one PostgreSQL database.

The service keeps no state of its own, so what one process stores the other sees: no feedback is lost
when both take writes at once, and a JWT id used on one process is refused on the other.

Needs the test PostgreSQL (conftest's `postgres_url`: skipped when unreachable, failed under CI=true).
Rows are told apart by a run id in card ids and the issuer, and deleted afterwards.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from hook_requests import service_id
from issued_support import record_issued_now
from jwt.algorithms import ECAlgorithm
from ops_support import ServiceProcess, base_environment, free_port, metric_value, serve_argv, start_service
from sqlalchemy import delete, func, select

from service.storage.database import create_engine, create_schema, feedback, issued_cards, seen_jtis

RUN = uuid.uuid4().hex[:12]
CARD_PREFIX = f"scale-out-{RUN}-"
ISSUER = f"https://ehr.scale-out.test/{RUN}"
# Both processes sit behind one public URL (a load balancer), so one token's `aud` is valid on either.
PUBLIC_BASE_URL = "https://cds.scale-out.test"
FEEDBACK_POSTS = 200
FEEDBACK_SERVICE = service_id("order-sign")


@pytest.fixture(scope="module")
def database(postgres_url: str) -> str:
    """The test database with our tables; created here first so two processes never race to create them."""

    async def prepare() -> None:
        engine = create_engine(postgres_url)
        try:
            await create_schema(engine)
        finally:
            await engine.dispose()

    asyncio.run(prepare())
    return postgres_url


@contextmanager
def two_processes(tmp_path: Path, **env: str) -> Iterator[tuple[ServiceProcess, ServiceProcess]]:
    """Two `immuno-cds serve` processes, one worker each, own ports, same settings; always stopped."""
    with ExitStack() as stack:
        services = []
        for name in ("a", "b"):
            port = free_port()
            service = start_service(
                serve_argv(port, workers=1),
                base_environment(CDS_LOG_LEVEL="WARNING", **env),
                f"http://127.0.0.1:{port}",
                tmp_path / f"process-{name}.log",
            )
            stack.callback(service.terminate)
            services.append(service)
        for service in services:
            service.wait_until_live()
        yield services[0], services[1]


async def _rows_for_run(database: str) -> tuple[int, int]:
    engine = create_engine(database)
    try:
        async with engine.connect() as connection:
            result = await connection.execute(
                select(func.count(), func.count(func.distinct(feedback.c.card_uuid))).where(
                    feedback.c.card_uuid.like(f"{CARD_PREFIX}%")
                )
            )
            total, distinct = result.one()
            return int(total), int(distinct)
    finally:
        await engine.dispose()


async def _delete_run_rows(database: str) -> None:
    engine = create_engine(database)
    try:
        async with engine.begin() as connection:
            await connection.execute(delete(feedback).where(feedback.c.card_uuid.like(f"{CARD_PREFIX}%")))
            await connection.execute(
                delete(issued_cards).where(issued_cards.c.card_uuid.like(f"{CARD_PREFIX}%"))
            )
            await connection.execute(delete(seen_jtis).where(seen_jtis.c.issuer == ISSUER))
    finally:
        await engine.dispose()


@pytest.fixture
def cleanup(database: str) -> Iterator[str]:
    asyncio.run(_delete_run_rows(database))
    yield database
    asyncio.run(_delete_run_rows(database))


# --- (a) feedback --------------------------------------------------------------------------------


def _feedback(index: int) -> dict[str, Any]:
    item: dict[str, Any] = {
        "card": f"{CARD_PREFIX}{index:03d}",
        "outcome": "accepted" if index % 2 else "overridden",
        "outcomeTimestamp": "2026-11-21T10:00:00Z",
    }
    return {"feedback": [item]}


async def _post_all(base_urls: tuple[str, str]) -> list[int]:
    limiter = asyncio.Semaphore(32)
    async with httpx.AsyncClient(timeout=60.0, limits=httpx.Limits(max_connections=64)) as http:

        async def post(index: int) -> int:
            url = f"{base_urls[index % 2]}/cds-services/{FEEDBACK_SERVICE}/feedback"
            async with limiter:
                response = await http.post(url, json=_feedback(index))
            return response.status_code

        return await asyncio.gather(*(post(index) for index in range(FEEDBACK_POSTS)))


def test_no_feedback_is_lost_when_two_processes_write_concurrently(cleanup: str, tmp_path: Path) -> None:
    with two_processes(
        tmp_path, CDS_PROFILE="development", CDS_ALLOW_UNAUTHENTICATED="true", CDS_DATABASE_URL=cleanup
    ) as (first, second):
        cards = [_feedback(index)["feedback"][0]["card"] for index in range(FEEDBACK_POSTS)]
        record_issued_now(cleanup, FEEDBACK_SERVICE, cards)
        statuses = asyncio.run(_post_all((first.base_url, second.base_url)))
        stored_by = [
            metric_value(httpx.get(f"{service.base_url}/metrics", timeout=10).text, "cds_feedback_total")
            for service in (first, second)
        ]
    assert statuses == [200] * FEEDBACK_POSTS
    # Each process stored half of them ...
    assert stored_by == [FEEDBACK_POSTS / 2, FEEDBACK_POSTS / 2]
    # ... and the one database holds every item exactly once.
    assert asyncio.run(_rows_for_run(cleanup)) == (FEEDBACK_POSTS, FEEDBACK_POSTS)


# --- (b) JWT replay across processes -------------------------------------------------------------


class Client:
    """A CDS client (EHR) with an ES384 key, as the trusted clients file describes it."""

    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP384R1())
        self.kid = f"scale-out-{RUN}"

    def jwks(self) -> dict[str, Any]:
        public = ECAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
        return {"keys": [{**public, "kid": self.kid, "use": "sig", "alg": "ES384"}]}

    def token(self, audience: str, jti: str | None = None) -> str:
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "sub": ISSUER,
            "aud": audience,
            "iat": now,
            "exp": now + 300,
            "jti": jti or str(uuid.uuid4()),
        }
        return jwt.encode(claims, self.key, algorithm="ES384", headers={"kid": self.kid, "typ": "JWT"})

    def write_trusted_clients(self, directory: Path) -> Path:
        path = directory / "trusted-clients.json"
        entry = {"iss": ISSUER, "jwks": self.jwks(), "algorithms": ["ES384"], "fhir_server_allowlist": []}
        path.write_text(json.dumps({"clients": [entry]}), encoding="utf-8")
        return path


@contextmanager
def authenticated_processes(
    database: str, tmp_path: Path, client: Client
) -> Iterator[tuple[ServiceProcess, ServiceProcess]]:
    with two_processes(
        tmp_path,
        CDS_PROFILE="production",
        CDS_DATABASE_URL=database,
        CDS_TRUSTED_CLIENTS_FILE=str(client.write_trusted_clients(tmp_path)),
        CDS_PUBLIC_BASE_URL=PUBLIC_BASE_URL,
    ) as processes:
        yield processes


def _discover(service: ServiceProcess, token: str) -> int:
    response = httpx.get(
        f"{service.base_url}/cds-services", headers={"Authorization": f"Bearer {token}"}, timeout=30
    )
    return response.status_code


def _replays_refused(service: ServiceProcess) -> float:
    text = httpx.get(f"{service.base_url}/metrics", timeout=10).text
    return metric_value(text, "cds_auth_failures_total", {"reason": "replayed_jti"})


def test_a_jti_used_on_one_process_is_refused_on_the_other(cleanup: str, tmp_path: Path) -> None:
    client = Client()
    audience = f"{PUBLIC_BASE_URL}/cds-services"
    with authenticated_processes(cleanup, tmp_path, client) as (first, second):
        token = client.token(audience)
        assert _discover(first, token) == 200
        assert _discover(second, token) == 401
        # The second process trusts this client: a fresh token passes, so the refusal was the replay.
        assert _discover(second, client.token(audience)) == 200
        assert _replays_refused(second) == 1
        assert _replays_refused(first) == 0


async def _race(services: tuple[ServiceProcess, ServiceProcess], token: str, per_process: int) -> list[int]:
    async with httpx.AsyncClient(timeout=60.0) as http:
        requests = [
            http.get(f"{service.base_url}/cds-services", headers={"Authorization": f"Bearer {token}"})
            for service in services
            for _ in range(per_process)
        ]
        return [response.status_code for response in await asyncio.gather(*requests)]


def test_one_jti_sent_to_both_processes_at_once_is_accepted_exactly_once(
    cleanup: str, tmp_path: Path
) -> None:
    client = Client()
    audience = f"{PUBLIC_BASE_URL}/cds-services"
    with authenticated_processes(cleanup, tmp_path, client) as (first, second):
        statuses = asyncio.run(_race((first, second), client.token(audience), per_process=5))
        refused = _replays_refused(first) + _replays_refused(second)
    assert sorted(statuses) == [200] + [401] * 9
    assert refused == 9
