"""Issue 11: the service under hostile and failing conditions, each finding reproduced over real HTTP on
loopback (the service under uvicorn, real slow or malicious servers) and shown fixed. Liveness is
polled throughout the heavy ones and must answer within a second each time; memory must stay flat.
Timings of the work itself are never asserted.
"""

from __future__ import annotations

import asyncio
import copy
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpcore
import httpx
import pytest
from fhir_server import FhirTestServer, serve_asgi
from hostile_support import (
    MaliciousServer,
    assert_live_throughout,
    gzip_bomb,
    outcome_of,
    resident_bytes,
    watching_liveness,
)
from issued_support import record_issued
from ops_support import metric_value
from security_support import (
    PATIENT_ID,
    ConnectionRecorder,
    bearer,
    claims,
    client_entry,
    complete_prefetch,
    dev_settings_for,
    ec_key,
    hook_body,
    jwks,
    mint,
    running,
    service_path,
    settings_for,
    write_clients,
)

from service.app import create_app
from service.discovery import PREFETCH_TEMPLATES
from service.settings import Settings

ACCESS_TOKEN = "hostile-access-token-7c1e"
HANG_GUARD_SECONDS = 60
# Resident memory may grow by this much at most while a bomb is defused (a GiB when it is not).
MEMORY_SLACK_BYTES = 150 * 1024 * 1024
PATIENT = {"resourceType": "Patient", "id": PATIENT_ID}


@pytest.fixture
def fhir() -> Iterator[FhirTestServer]:
    server = FhirTestServer([PATIENT], required_token=ACCESS_TOKEN)
    with server.running():
        yield server


def _service_settings(tmp_path: Path, **overrides: Any) -> Settings:
    return dev_settings_for(tmp_path, log_level="WARNING", **overrides)


async def _hook(
    client: httpx.AsyncClient, fhir_server: str, *, prefetch: dict[str, Any] | None = None
) -> httpx.Response:
    body = hook_body("patient-view", fhir_server=fhir_server, access_token=ACCESS_TOKEN, prefetch=prefetch)
    async with asyncio.timeout(HANG_GUARD_SECONDS):
        return await client.post(service_path("patient-view"), json=body)


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=HANG_GUARD_SECONDS, limits=httpx.Limits(max_connections=200)) as c:
        yield c


# --- 1. FHIR access wedges ---------------------------------------------------------------------------


async def test_burst_against_a_slow_fhir_server_leaves_fhir_access_working(
    tmp_path: Path, fhir: FhirTestServer, http: httpx.AsyncClient
) -> None:
    """48 concurrent calls against a server slower than the deadline, three times over, used to leave
    the shared pool wedged (every later query 412 "timed out" without a connection, until restart)."""
    slow = FhirTestServer([PATIENT], required_token=ACCESS_TOKEN, delay_seconds=2.0)
    settings = _service_settings(
        tmp_path, hook_deadline_seconds=0.9, fhir_connect_timeout_seconds=0.5, fhir_read_timeout_seconds=0.8
    )
    with slow.running() as slow_url, serve_asgi(create_app(settings)) as service:
        http.base_url = httpx.URL(service)
        async with watching_liveness(service) as watch:
            for _ in range(3):
                burst = await asyncio.gather(*(_hook(http, slow_url) for _ in range(48)))
                assert {response.status_code for response in burst} == {412}
        healthy = await _hook(http, fhir.base_url)
        ready = await http.get("/health/ready")
    assert_live_throughout(watch)
    assert healthy.status_code == 200, healthy.text
    assert fhir.requests, "the healthy server was never asked: this test would prove nothing"
    assert ready.status_code == 200


def _orphan_connections(app: Any, base_url: str, count: int) -> None:
    """Leave `count` connections in the pool for `base_url` exactly as httpcore#1093 does: assigned to a
    request that was cancelled before connecting, owned by no request, neither idle nor closed."""
    fhir_client = app.state.fhir_client
    pool = fhir_client._pool(base_url + "/Patient")
    core_pool = pool.http._transport._pool
    url = httpx.URL(base_url)
    origin = httpcore.Origin(url.raw_scheme, url.raw_host, url.port or 80)
    for _ in range(count):
        core_pool._connections.append(httpcore.AsyncHTTPConnection(origin=origin))


async def test_readiness_is_red_while_a_fhir_pool_leaks_and_the_pool_is_replaced(
    tmp_path: Path, fhir: FhirTestServer
) -> None:
    settings = _service_settings(
        tmp_path, fhir_max_connections_per_server=4, fhir_connect_timeout_seconds=0.5, hook_deadline_seconds=3
    )
    app = create_app(settings)
    async with running(app) as client:
        assert (await _hook(client, fhir.base_url)).status_code == 200
        _orphan_connections(app, fhir.base_url, 4)

        unready = await client.get("/health/ready")
        wedged = await _hook(client, fhir.base_url)  # finds no slot: the pool is replaced
        after = await _hook(client, fhir.base_url)
        ready = await client.get("/health/ready")

    assert unready.status_code == 503
    assert "outbound FHIR access" in outcome_of(unready)["issue"][0]["diagnostics"]
    assert wedged.status_code == 412
    assert after.status_code == 200
    assert ready.status_code == 200
    assert app.state.fhir_client.pools_replaced == 1


# --- 3. decompression bombs --------------------------------------------------------------------------

GIB = 1 << 30

BOMBS = {
    # 2 kB on the wire, a GiB once decoded twice: refused for its stacked coding before any inflating.
    "gzip, gzip (2 kB -> 1 GiB)": (lambda: gzip_bomb(GIB, 2), "gzip, gzip"),
    # 1 MB on the wire, a GiB decoded: inflated only up to the cap.
    "gzip (1 MB -> 1 GiB)": (lambda: gzip_bomb(GIB, 1), "gzip"),
    "unknown coding": (lambda: b"\x00" * 1024, "x-evil"),
    "brotli (not accepted)": (lambda: b"\x00" * 1024, "br"),
    "gzip header on plain bytes": (lambda: b'{"resourceType": "Patient"}', "gzip"),
}


@pytest.mark.parametrize("name", list(BOMBS))
async def test_fhir_decompression_bomb_is_refused_with_flat_memory(
    tmp_path: Path, http: httpx.AsyncClient, name: str
) -> None:
    make_body, coding = BOMBS[name]
    malicious = MaliciousServer(body=make_body())
    malicious.headers["content-encoding"] = coding
    settings = _service_settings(tmp_path, fhir_max_response_bytes=1 << 20, hook_deadline_seconds=5.0)
    with malicious.running() as bomb_url, serve_asgi(create_app(settings)) as service:
        http.base_url = httpx.URL(service)
        before = resident_bytes()
        async with watching_liveness(service) as watch:
            response = await _hook(http, bomb_url)
        grown = resident_bytes() - before
    assert response.status_code == 412
    assert outcome_of(response)["issue"][0]["code"] == "transient"
    assert malicious.seen, "the bomb was never fetched: this test would prove nothing"
    assert malicious.seen[0].headers.get("accept-encoding") == "gzip, deflate"
    assert grown < MEMORY_SLACK_BYTES
    assert_live_throughout(watch)


async def test_jwks_decompression_bomb_is_refused_with_flat_memory(
    tmp_path: Path, http: httpx.AsyncClient
) -> None:
    malicious = MaliciousServer(body=gzip_bomb(GIB, 2), headers={"content-encoding": "gzip, gzip"})
    key = ec_key()
    with malicious.running() as jwks_host:
        jwks_url = f"{jwks_host}/jwks.json"
        clients = write_clients(
            tmp_path, client_entry(iss="https://ehr.example.org/cds-client", jwks_url=jwks_url)
        )
        settings = settings_for(
            tmp_path, trusted_clients_file=clients, metrics_enabled=True, log_level="WARNING"
        )
        with serve_asgi(create_app(settings)) as service:
            http.base_url = httpx.URL(service)
            before = resident_bytes()
            token = mint(key, claims(audience=f"{service}/cds-services"))
            async with watching_liveness(service) as watch:
                response = await http.get("/cds-services", headers={"Authorization": bearer(token)})
            grown = resident_bytes() - before
            metrics = (await http.get("/metrics")).text
    assert response.status_code == 401
    assert malicious.seen, "the JWKS was never fetched: this test would prove nothing"
    assert metric_value(metrics, "cds_auth_failures_total", {"reason": "unknown_kid"}) >= 1
    assert grown < MEMORY_SLACK_BYTES
    assert_live_throughout(watch)


# --- 4. cookies --------------------------------------------------------------------------------------

# Every key answered but the Patient, which is read from the FHIR server (one GET per call).
ONLY_PATIENT_MISSING = {
    key: value for key, value in complete_prefetch([]).items() if PREFETCH_TEMPLATES[key][0] != "Patient"
}


async def test_cookies_set_by_a_fhir_server_are_never_sent_again(
    tmp_path: Path, http: httpx.AsyncClient
) -> None:
    patient = json.dumps(PATIENT).encode()
    setter = MaliciousServer(body=patient)
    setter.headers["set-cookie"] = "session=tenant-a-secret; Path=/"
    other = MaliciousServer(body=patient)
    settings = _service_settings(tmp_path)
    with (
        setter.running() as setter_url,
        other.running() as other_url,
        serve_asgi(create_app(settings)) as service,
    ):
        http.base_url = httpx.URL(service)
        first = await _hook(http, setter_url, prefetch=ONLY_PATIENT_MISSING)
        again = await _hook(http, setter_url, prefetch=ONLY_PATIENT_MISSING)
        elsewhere = await _hook(http, other_url, prefetch=ONLY_PATIENT_MISSING)
    assert (first.status_code, again.status_code, elsewhere.status_code) == (200, 200, 200)
    sent = [seen.headers for seen in setter.seen + other.seen]
    assert len(sent) >= 3
    assert all("cookie" not in headers for headers in sent)


async def test_cookies_set_by_a_jwks_host_are_never_sent_again(
    tmp_path: Path, http: httpx.AsyncClient
) -> None:
    key = ec_key()
    host = MaliciousServer(body=json.dumps(jwks(key)).encode(), headers={"content-type": "application/json"})
    host.headers["set-cookie"] = "jwks-session=issuer-a-secret; Path=/"
    with host.running() as host_url:
        clients = write_clients(
            tmp_path, client_entry(iss="https://ehr.example.org/cds-client", jwks_url=f"{host_url}/jwks.json")
        )
        settings = settings_for(
            tmp_path, trusted_clients_file=clients, jwks_min_refresh_interval_seconds=0, log_level="WARNING"
        )
        with serve_asgi(create_app(settings)) as service:
            http.base_url = httpx.URL(service)
            statuses = []
            for kid in (key.kid, "unknown-kid-forces-a-refresh", key.kid):
                token = mint(key, claims(audience=f"{service}/cds-services"), kid=kid)
                statuses.append(
                    (await http.get("/cds-services", headers={"Authorization": bearer(token)})).status_code
                )
    assert statuses == [200, 401, 200]
    assert len(host.seen) >= 2
    assert all("cookie" not in seen.headers for seen in host.seen)


# --- 5. malformed tokens and feedback values ---------------------------------------------------------


def _raw_token(header: dict[str, Any], payload_json: str) -> str:
    import base64

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    return f"{b64(json.dumps(header).encode())}.{b64(payload_json.encode())}.{b64(b'not-a-signature')}"


def _claims_json(service: str, **raw: str) -> str:
    """Claims as JSON text, with `raw` values spliced in unparsed (1e400 is not a Python float)."""
    base = claims(audience=f"{service}/cds-services")
    parts = [f'"{name}": {json.dumps(value)}' for name, value in base.items() if name not in raw]
    parts += [f'"{name}": {value}' for name, value in raw.items()]
    return "{" + ", ".join(parts) + "}"


MALFORMED_TOKENS = {
    "jku as a list": ({"jku": ["https://keys.example.org/jwks.json"]}, {}),
    "jku as an object": ({"jku": {"url": "x"}}, {}),
    "exp 1e400": ({}, {"exp": "1e400"}),
    "iat 1e400": ({}, {"iat": "1e400"}),
    "nbf 1e400": ({}, {"nbf": "1e400"}),
    "exp -1e400": ({}, {"exp": "-1e400"}),
    "exp as a huge integer": ({}, {"exp": "9" * 400}),
    "iat as a string": ({}, {"iat": '"yesterday"'}),
    "aud as a number": ({}, {"aud": "42"}),
    "iss as a list": ({}, {"iss": '["https://ehr.example.org/cds-client"]'}),
    "kid as a list": ({"kid": ["k"]}, {}),
    "alg as a list": ({"alg": ["ES384"]}, {}),
    "crit header": ({"crit": ["exp"]}, {}),
}


async def test_malformed_tokens_are_401_with_an_outcome_and_counted(
    tmp_path: Path, http: httpx.AsyncClient
) -> None:
    key = ec_key("known-kid")
    clients = write_clients(tmp_path, client_entry(key, jku_allowlist=["https://keys.example.org/jwks.json"]))
    settings = settings_for(tmp_path, trusted_clients_file=clients, metrics_enabled=True, log_level="WARNING")
    statuses: dict[str, int] = {}
    with serve_asgi(create_app(settings)) as service:
        http.base_url = httpx.URL(service)
        before = (await http.get("/metrics")).text
        for name, (header_extra, raw_claims) in MALFORMED_TOKENS.items():
            header = {"alg": "ES384", "typ": "JWT", "kid": "known-kid", **header_extra}
            token = _raw_token(header, _claims_json(service, **raw_claims))
            response = await http.get("/cds-services", headers={"Authorization": bearer(token)})
            statuses[name] = response.status_code
            assert outcome_of(response)["issue"][0]["code"] == "login"
        after = (await http.get("/metrics")).text
    assert statuses == dict.fromkeys(MALFORMED_TOKENS, 401)

    def failures(text: str) -> float:
        return sum(metric_value(text, "cds_auth_failures_total", {"reason": reason}) for reason in REASONS)

    assert failures(after) - failures(before) == len(MALFORMED_TOKENS)


REASONS = (
    "malformed_token",
    "bad_audience",
    "untrusted_issuer",
    "missing_claim",
    "expired",
    "bad_algorithm",
    "unknown_kid",
    "jku_not_allowed",
    "bad_signature",
    "token_too_long_lived",
)

MALFORMED_TIMESTAMPS = [
    "0001-01-01T00:00:00+14:00",
    "9999-12-31T23:59:59-14:00",
    "2026-13-01T00:00:00Z",
    "2026-11-21T10:00:00",
    "",
    "1e400",
]


@pytest.mark.parametrize("timestamp", MALFORMED_TIMESTAMPS)
async def test_malformed_feedback_timestamps_are_400(tmp_path: Path, timestamp: str) -> None:
    card = str(uuid.uuid4())
    settings = _service_settings(tmp_path)
    service_id = service_path("patient-view").rsplit("/", 1)[-1]
    async with running(create_app(settings)) as client:
        await record_issued(settings.effective_database_url, service_id, [card])
        item = {"card": card, "outcome": "accepted", "outcomeTimestamp": timestamp}
        response = await client.post(f"{service_path('patient-view')}/feedback", json={"feedback": [item]})
    assert response.status_code == 400
    assert outcome_of(response)["issue"][0]["code"] == "invalid"


# --- 6. dot segments ---------------------------------------------------------------------------------

DOT_SEGMENT_TRICKS = [
    "/..;/admin",
    "/..%3b/admin",
    "/..%5cadmin",
    "/..%5Cadmin",
    "/..\\admin",
    "/%2e%2e/admin",
    "/%2E%2E;/admin",
    "/%252e%252e/admin",
    "/.;/admin",
    "/r4;jsessionid=x",
    "/..%2fadmin",
    "/%2e/admin",
]


@pytest.mark.parametrize("trick", DOT_SEGMENT_TRICKS)
async def test_fhir_server_with_dot_segment_tricks_is_refused_before_any_connection(
    tmp_path: Path, http: httpx.AsyncClient, trick: str
) -> None:
    async with ConnectionRecorder("close") as recorder:
        base = f"{recorder.url}/r4"
        settings = _service_settings(tmp_path, fhir_server_allowlist=[base])
        with serve_asgi(create_app(settings)) as service:
            http.base_url = httpx.URL(service)
            response = await _hook(http, base + trick)
            allowed = await _hook(http, base)  # the base itself is queried (and fails: nothing answers)
    assert response.status_code == 403
    assert outcome_of(response)["issue"][0]["code"] == "forbidden"
    assert allowed.status_code == 412
    assert recorder.connections >= 1, "the base itself was never contacted: this test would prove nothing"


# --- 2. large records: evaluation off the event loop -------------------------------------------------


NEURO_NOTE = (
    "Neuro exam: new confusion and word-finding difficulty; no seizure; ICANS grade 2 suspected; "
    "headache, somnolence, tremor. "
) * 3


def _large_prefetch(count: int) -> dict[str, Any]:
    """A record of `count` Observations carrying neurological free text (what the text matcher reads),
    about 20 MB of JSON: several seconds of evaluation with the clinical core of issue 11."""
    observation = {
        "resourceType": "Observation",
        "status": "final",
        "subject": {"reference": f"Patient/{PATIENT_ID}"},
        "code": {"text": NEURO_NOTE},
        "valueString": NEURO_NOTE,
        "effectiveDateTime": "2026-11-01",
    }
    resources: list[dict[str, Any]] = [PATIENT]
    for index in range(count):
        resource = copy.deepcopy(observation)
        resource["id"] = f"o{index}"
        resources.append(resource)
    return complete_prefetch(resources)


@pytest.fixture(scope="module")
def large_body() -> dict[str, Any]:
    return hook_body("patient-view", prefetch=_large_prefetch(25_000))


async def test_a_25k_resource_record_leaves_liveness_answering(
    tmp_path: Path, http: httpx.AsyncClient, large_body: dict[str, Any]
) -> None:
    settings = _service_settings(tmp_path, max_body_bytes=64 * 1024 * 1024, evaluation_deadline_seconds=120)
    with serve_asgi(create_app(settings)) as service:
        http.base_url = httpx.URL(service)
        async with watching_liveness(service) as watch:
            response = await http.post(service_path("patient-view"), json=large_body)
    assert response.status_code == 200
    assert "cards" in response.json()
    assert_live_throughout(watch)


async def test_evaluation_over_its_deadline_is_503_and_the_service_stays_live(
    tmp_path: Path, http: httpx.AsyncClient, large_body: dict[str, Any]
) -> None:
    settings = _service_settings(tmp_path, max_body_bytes=64 * 1024 * 1024, evaluation_deadline_seconds=0.01)
    with serve_asgi(create_app(settings)) as service:
        http.base_url = httpx.URL(service)
        async with watching_liveness(service) as watch:
            response = await http.post(service_path("patient-view"), json=large_body)
            small = await http.post(
                service_path("patient-view"),
                json=hook_body("patient-view", prefetch=complete_prefetch([PATIENT])),
            )
    assert response.status_code == 503
    assert outcome_of(response)["issue"][0]["code"] == "too-costly"
    assert small.status_code == 200
    assert_live_throughout(watch)


# --- 7. feedback, the service-id oracle, request heads -----------------------------------------------

FEEDBACK_SERVICE = service_path("order-sign").rsplit("/", 1)[-1]
OTHER_SERVICE = service_path("patient-view").rsplit("/", 1)[-1]


def _feedback(card: str) -> dict[str, Any]:
    return {"feedback": [{"card": card, "outcome": "accepted", "outcomeTimestamp": "2026-11-21T10:00:00Z"}]}


async def _feedback_rows(settings: Settings, card: str) -> int:
    from sqlalchemy import func, select

    from service.storage.database import create_engine
    from service.storage.database import feedback as feedback_table

    engine = create_engine(settings.effective_database_url)
    try:
        async with engine.connect() as connection:
            result = await connection.execute(select(func.count()).where(feedback_table.c.card_uuid == card))
            return int(result.scalar_one())
    finally:
        await engine.dispose()


async def test_feedback_only_for_cards_this_service_issued(tmp_path: Path, http: httpx.AsyncClient) -> None:
    ours, others, made_up = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
    settings = _service_settings(tmp_path)
    path = f"{service_path('order-sign')}/feedback"
    with serve_asgi(create_app(settings)) as service:
        http.base_url = httpx.URL(service)
        await record_issued(settings.effective_database_url, FEEDBACK_SERVICE, [ours])
        await record_issued(settings.effective_database_url, OTHER_SERVICE, [others])
        never_issued = await http.post(path, json=_feedback(made_up))
        other_service = await http.post(path, json=_feedback(others))
        mixed = await http.post(
            path, json={"feedback": _feedback(ours)["feedback"] + _feedback(made_up)["feedback"]}
        )
        issued = await http.post(path, json=_feedback(ours))
    assert (never_issued.status_code, other_service.status_code, mixed.status_code) == (400, 400, 400)
    assert outcome_of(mixed)["issue"][0]["expression"] == ["feedback[1].card"]
    assert issued.status_code == 200
    # Nothing of a refused batch is stored; the accepted one is stored once.
    assert [await _feedback_rows(settings, card) for card in (ours, others, made_up)] == [1, 0, 0]


async def test_feedback_is_rate_limited_per_client(tmp_path: Path, http: httpx.AsyncClient) -> None:
    cards = [str(uuid.uuid4()) for _ in range(3)]
    settings = _service_settings(tmp_path, feedback_burst=2, feedback_rate_per_minute=1)
    path = f"{service_path('order-sign')}/feedback"
    with serve_asgi(create_app(settings)) as service:
        http.base_url = httpx.URL(service)
        await record_issued(settings.effective_database_url, FEEDBACK_SERVICE, cards)
        statuses = [(await http.post(path, json=_feedback(card))) for card in cards]
    assert [response.status_code for response in statuses] == [200, 200, 429]
    throttled = statuses[-1]
    assert outcome_of(throttled)["issue"][0]["code"] == "throttled"
    assert int(throttled.headers["retry-after"]) >= 1
    assert await _feedback_rows(settings, cards[-1]) == 0


@pytest.mark.parametrize("path", ["/cds-services/no-such-service", "/cds-services/no-such-service/feedback"])
async def test_unknown_service_id_answers_401_before_404(
    tmp_path: Path, http: httpx.AsyncClient, path: str
) -> None:
    key = ec_key()
    clients = write_clients(tmp_path, client_entry(key))
    settings = settings_for(tmp_path, trusted_clients_file=clients)
    with serve_asgi(create_app(settings)) as service:
        http.base_url = httpx.URL(service)
        anonymous = await http.post(path, json={})
        known_service = await http.post(f"{service_path('order-sign')}", json={})
        token = mint(key, claims(audience=f"{service}{path}"))
        authenticated = await http.post(path, json={}, headers={"Authorization": bearer(token)})
    assert anonymous.status_code == known_service.status_code == 401
    assert anonymous.json() == known_service.json()
    assert authenticated.status_code == 404


def test_oversized_request_head_is_refused_by_the_served_service(tmp_path: Path) -> None:
    """`immuno-cds serve` as deployed: a request head that keeps growing past the limit, sent in pieces as a
    slow client would, is refused (400, or the connection dropped) before it ends, and the service stays live.
    A server without a limit would wait for the blank line and answer 200."""
    from ops_support import base_environment, free_port, running_service, serve_argv

    port = free_port()
    env = base_environment(
        CDS_PROFILE="development",
        CDS_ALLOW_UNAUTHENTICATED="true",
        CDS_SQLITE_PATH=str(tmp_path / "serve.sqlite3"),
        CDS_LOG_LEVEL="WARNING",
    )
    with running_service(serve_argv(port, 1), env, f"http://127.0.0.1:{port}", tmp_path / "serve.log"):
        answer = _send_growing_head(port, header_bytes=200_000)
        live = httpx.get(f"http://127.0.0.1:{port}/health/live", timeout=5)
    assert answer == "refused" or answer.split(" ")[1] == "400", answer
    assert live.status_code == 200


def _send_growing_head(port: int, header_bytes: int) -> str:
    """Send a request head in 4 kB pieces; return the server's status line, or "refused" if it closed or reset
    the connection first. Pieces are paced so the server has read everything sent when it answers: closing
    a socket with unread input makes the kernel send a reset, which can discard the answer in flight."""
    import select
    import socket
    import time

    piece = b"a" * 4096
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        try:
            raw.sendall(b"GET /health/live HTTP/1.1\r\nHost: x\r\nX-Big: ")
            for _ in range(header_bytes // len(piece)):
                if select.select([raw], [], [], 0)[0]:
                    break
                raw.sendall(piece)
                time.sleep(0.002)
            else:
                raw.sendall(b"\r\n\r\n")
            first = raw.recv(256)
        except (ConnectionResetError, BrokenPipeError):
            return "refused"
    if not first:
        return "refused"
    return first.split(b"\r\n", 1)[0].decode("latin-1")
