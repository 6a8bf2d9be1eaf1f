"""The loopback FHIR server other tests and the benchmark rely on: searches with paging, reads, the
bearer token, the delay, overrides, request recording, and serve_asgi's start and stop."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
from fhir_server import FhirTestServer, serve_asgi
from hook_requests import PATIENT_ID, SEED_BUNDLE
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

TOKEN = "loopback-token"


@pytest.fixture(scope="module")
def _served() -> Iterator[tuple[FhirTestServer, httpx.Client]]:
    server = FhirTestServer.from_bundle_file(SEED_BUNDLE)
    with server.running() as base_url, httpx.Client(base_url=base_url, timeout=10.0) as client:
        yield server, client


@pytest.fixture
def server(_served: tuple[FhirTestServer, httpx.Client]) -> Iterator[FhirTestServer]:
    _served[0].reset()
    yield _served[0]
    _served[0].reset()


@pytest.fixture
def client(_served: tuple[FhirTestServer, httpx.Client], server: FhirTestServer) -> httpx.Client:
    return _served[1]


def test_search_returns_the_patients_resources_as_a_searchset(client: httpx.Client) -> None:
    response = client.get("/Condition", params={"patient": PATIENT_ID})

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/fhir+json")
    bundle = response.json()
    assert (bundle["resourceType"], bundle["type"], bundle["total"]) == ("Bundle", "searchset", 2)
    assert {entry["resource"]["id"] for entry in bundle["entry"]} == {"cond-nsclc-1", "cond-htn-1"}
    assert all(entry["fullUrl"].startswith(str(client.base_url)) for entry in bundle["entry"])


@pytest.mark.parametrize(
    "params",
    [
        pytest.param({"patient": "someone-else"}, id="other-patient"),
        pytest.param({"subject": "Patient/someone-else"}, id="other-subject"),
        pytest.param({"patient": PATIENT_ID, "_id": "nope"}, id="other-id"),
    ],
)
def test_search_filters_by_patient_and_id(client: httpx.Client, params: dict[str, str]) -> None:
    bundle = client.get("/Condition", params=params).json()

    assert bundle["total"] == 0
    assert "entry" not in bundle


def test_search_pages_with_absolute_next_links(client: httpx.Client) -> None:
    first = client.get("/Condition", params={"patient": PATIENT_ID, "_count": "1"}).json()
    next_url = {link["relation"]: link["url"] for link in first["link"]}["next"]
    second = httpx.get(next_url, timeout=10.0).json()

    assert next_url.startswith(f"{client.base_url}/Condition?")
    assert len(first["entry"]) == len(second["entry"]) == 1
    assert first["entry"][0]["resource"]["id"] != second["entry"][0]["resource"]["id"]
    assert "next" not in {link["relation"] for link in second["link"]}


def test_page_size_defaults_to_the_configured_one(client: httpx.Client, server: FhirTestServer) -> None:
    server.page_size = 1

    bundle = client.get("/Condition", params={"patient": PATIENT_ID}).json()

    assert len(bundle["entry"]) == 1


@pytest.mark.parametrize("count", ["0", "-1", "many"])
def test_bad_count_is_400(client: httpx.Client, count: str) -> None:
    response = client.get("/Condition", params={"_count": count})

    assert response.status_code == 400
    assert response.json()["resourceType"] == "OperationOutcome"


def test_read_returns_the_resource_or_404(client: httpx.Client) -> None:
    found = client.get(f"/Patient/{PATIENT_ID}")
    missing = client.get("/Patient/nobody")

    assert found.json()["id"] == PATIENT_ID
    assert missing.status_code == 404
    assert missing.json()["resourceType"] == "OperationOutcome"


def test_required_token_is_checked(client: httpx.Client, server: FhirTestServer) -> None:
    server.required_token = TOKEN

    without = client.get(f"/Patient/{PATIENT_ID}")
    wrong = client.get(f"/Patient/{PATIENT_ID}", headers={"Authorization": "Bearer other"})
    right = client.get(f"/Patient/{PATIENT_ID}", headers={"Authorization": f"Bearer {TOKEN}"})

    assert (without.status_code, wrong.status_code, right.status_code) == (401, 401, 200)
    assert without.headers["www-authenticate"] == "Bearer"


def test_requests_are_recorded_in_order(client: httpx.Client, server: FhirTestServer) -> None:
    client.get(
        "/Condition", params={"patient": PATIENT_ID, "_count": "5"}, headers={"Authorization": "Bearer x"}
    )
    client.get("/Medication/m1")

    search, read = server.requests
    assert (search.method, search.path, search.resource_type, search.is_search) == (
        "GET",
        "/Condition",
        "Condition",
        True,
    )
    assert search.params == {"patient": [PATIENT_ID], "_count": ["5"]}
    assert search.authorization == "Bearer x"
    assert (read.path, read.is_search, read.authorization) == ("/Medication/m1", False, None)
    assert server.requests_for("Medication") == [read]


def test_added_resources_are_served_until_reset(client: httpx.Client, server: FhirTestServer) -> None:
    server.add({"resourceType": "Medication", "id": "m1"})
    assert client.get("/Medication/m1").status_code == 200

    server.reset()

    assert client.get("/Medication/m1").status_code == 404
    assert server.requests_for("Medication") == [server.requests[0]]


def test_override_answers_that_path(client: httpx.Client, server: FhirTestServer) -> None:
    server.override("/Condition", status_code=503, body=b"down", headers={"Retry-After": "1"})

    response = client.get("/Condition", params={"patient": PATIENT_ID})

    assert (response.status_code, response.content, response.headers["retry-after"]) == (503, b"down", "1")
    assert client.get(f"/Patient/{PATIENT_ID}").status_code == 200


def test_delay_holds_every_answer(client: httpx.Client, server: FhirTestServer) -> None:
    server.delay_seconds = 0.2

    started = time.monotonic()
    client.get(f"/Patient/{PATIENT_ID}")

    assert time.monotonic() - started >= 0.2


def test_delayed_answer_does_not_hold_up_shutdown_once_the_client_gave_up() -> None:
    server = FhirTestServer([], delay_seconds=60.0)
    with server.running() as base_url:
        with pytest.raises(httpx.ReadTimeout):
            httpx.get(f"{base_url}/Patient/p1", timeout=0.2)
        stopping = time.monotonic()

    # Had the delay ignored the hang-up, shutdown would wait out uvicorn's graceful period (5 s).
    assert time.monotonic() - stopping < 4.0


def test_base_url_is_only_known_while_running() -> None:
    server = FhirTestServer([])

    with pytest.raises(RuntimeError, match="not running"):
        _ = server.base_url
    with server.running() as base_url:
        assert server.base_url == base_url
        assert base_url.startswith("http://127.0.0.1:")


def test_serve_asgi_runs_any_app_and_stops_it() -> None:
    async def hello(request: Request) -> PlainTextResponse:
        return PlainTextResponse("hello")

    app = Starlette(routes=[Route("/", hello)])

    with serve_asgi(app) as base_url:
        assert httpx.get(base_url, timeout=10.0).text == "hello"

    with pytest.raises(httpx.ConnectError):
        httpx.get(base_url, timeout=2.0)


def test_serve_asgi_reports_an_app_that_fails_to_start() -> None:
    async def refuse(scope: object, receive: object, send: object) -> None:
        raise RuntimeError("no database")

    with pytest.raises(RuntimeError, match="did not start"), serve_asgi(refuse, lifespan="on"):
        pass
