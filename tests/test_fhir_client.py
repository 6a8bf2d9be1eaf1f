"""The async FHIR client (service.fhir_access.fhir_client) against respx mocks: paging and its bound, the
bearer token, size caps, reads, errors, links to other hosts and redirects."""

from __future__ import annotations

import asyncio
import itertools
import ssl
from collections.abc import AsyncIterator, Iterator

import httpx
import orjson
import pytest
import respx

from service.app import _http_client
from service.exceptions import FhirServerError
from service.fhir_access.fhir_client import FhirClient, FhirEndpoint, SearchResult, next_link, with_page_size
from service.settings import Settings

BASE = "https://ehr.example.org/fhir"
TOKEN = "access-token-for-this-call"


def _condition(index: int) -> dict[str, object]:
    return {"resourceType": "Condition", "id": f"c{index}", "subject": {"reference": "Patient/p1"}}


def _page(*indexes: int, next_url: str | None = None) -> dict[str, object]:
    bundle: dict[str, object] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": _condition(index)} for index in indexes],
    }
    if next_url is not None:
        bundle["link"] = [
            {"relation": "self", "url": f"{BASE}/Condition"},
            {"relation": "next", "url": next_url},
        ]
    return bundle


@pytest.fixture
def mock() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE, assert_all_called=False, assert_all_mocked=True) as router:
        yield router


# respx answers before any TLS happens; one context for the module keeps each test fast.
_TLS = ssl.create_default_context()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(verify=_TLS, follow_redirects=False, trust_env=False) as client:
        yield client


@pytest.fixture
async def service_http() -> AsyncIterator[httpx.AsyncClient]:
    """The client exactly as the app configures it."""
    async with _http_client(
        Settings(fhir_connect_timeout_seconds=0.25, fhir_read_timeout_seconds=0.75)
    ) as client:
        yield client


async def test_service_client_uses_the_configured_timeouts(service_http: httpx.AsyncClient) -> None:
    timeout = service_http.timeout

    assert (timeout.connect, timeout.read, timeout.pool) == (0.25, 0.75, 0.25)


def _client(http: httpx.AsyncClient, *, max_pages: int = 20, max_response_bytes: int = 1 << 20) -> FhirClient:
    return FhirClient(
        http,
        page_size=2,
        max_pages=max_pages,
        max_response_bytes=max_response_bytes,
        max_concurrent_requests=4,
    )


async def _search(
    client: FhirClient, endpoint: FhirEndpoint, query: str = "Condition?patient=p1"
) -> SearchResult:
    return await client.search(endpoint, query, client.limiter(), "Condition")


ENDPOINT = FhirEndpoint(BASE, TOKEN)


class _Chunks(httpx.AsyncByteStream):
    """A response body streamed in chunks, without Content-Length."""

    def __init__(self, body: bytes, size: int) -> None:
        self._chunks = [body[i : i + size] for i in range(0, len(body), size)]
        self.sent = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self._chunks:
            self.sent += 1
            yield chunk


async def test_search_follows_next_links_and_collects_every_page(
    mock: respx.MockRouter, http: httpx.AsyncClient
) -> None:
    mock.get("/Condition", params={"patient": "p1", "_count": "2"}).respond(
        json=_page(1, 2, next_url=f"{BASE}/Condition?patient=p1&page=2")
    )
    mock.get("/Condition", params={"patient": "p1", "page": "2"}).respond(
        json=_page(3, 4, next_url=f"{BASE}/Condition?patient=p1&page=3")
    )
    mock.get("/Condition", params={"patient": "p1", "page": "3"}).respond(json=_page(5))

    result = await _search(_client(http), ENDPOINT)

    assert [r["id"] for r in result.resources] == ["c1", "c2", "c3", "c4", "c5"]
    assert (result.pages, result.truncated) == (3, False)


async def test_search_asks_for_the_configured_page_size(
    mock: respx.MockRouter, http: httpx.AsyncClient
) -> None:
    route = mock.get("/Condition").respond(json=_page())

    await _search(_client(http), ENDPOINT)

    assert route.calls.last.request.url.params["_count"] == "2"


def test_page_size_is_not_added_twice() -> None:
    assert with_page_size("Condition?patient=p1&_count=7", 50) == "Condition?patient=p1&_count=7"
    assert with_page_size("Condition?patient=p1", 50) == "Condition?patient=p1&_count=50"
    assert with_page_size("Condition", 50) == "Condition?_count=50"


async def test_paging_stops_at_the_page_bound_and_says_truncated(
    mock: respx.MockRouter, http: httpx.AsyncClient
) -> None:
    # Every page points to another: without the bound this would never end.
    served = itertools.count(1)
    route = mock.get("/Condition").mock(
        side_effect=lambda request: httpx.Response(
            200, json=_page(1, next_url=f"{BASE}/Condition?patient=p1&n={next(served)}")
        )
    )

    result = await _search(_client(http, max_pages=3), ENDPOINT)

    assert route.call_count == 3
    assert (result.pages, result.truncated) == (3, True)


async def test_every_request_carries_the_bearer_token(
    mock: respx.MockRouter, http: httpx.AsyncClient
) -> None:
    first = mock.get("/Condition", params={"_count": "2"}).respond(
        json=_page(1, next_url=f"{BASE}/Condition?page=2")
    )
    second = mock.get("/Condition", params={"page": "2"}).respond(json=_page(2))

    await _search(_client(http), ENDPOINT)

    for route in (first, second):
        assert route.calls.last.request.headers["authorization"] == f"Bearer {TOKEN}"
        assert route.calls.last.request.headers["accept"] == "application/fhir+json"


async def test_without_a_token_no_authorization_header_is_sent(
    mock: respx.MockRouter, http: httpx.AsyncClient
) -> None:
    route = mock.get("/Condition").respond(json=_page(1))

    await _search(_client(http), FhirEndpoint(BASE, None))

    assert "authorization" not in route.calls.last.request.headers


async def test_relative_next_link_is_resolved_against_the_base(
    mock: respx.MockRouter, http: httpx.AsyncClient
) -> None:
    mock.get("/Condition", params={"_count": "2"}).respond(json=_page(1, next_url="Condition?page=2"))
    second = mock.get("/Condition", params={"page": "2"}).respond(json=_page(2))

    result = await _search(_client(http), ENDPOINT)

    assert second.called
    assert len(result.resources) == 2


@pytest.mark.parametrize(
    "next_url",
    [
        pytest.param("https://evil.test/fhir/Condition?page=2", id="other-host"),
        pytest.param("http://ehr.example.org/fhir/Condition?page=2", id="scheme-downgrade"),
        pytest.param("https://ehr.example.org/other/Condition?page=2", id="outside-the-base-path"),
        pytest.param("https://ehr.example.org@evil.test/fhir/Condition", id="userinfo-trick"),
    ],
)
async def test_next_link_leaving_the_fhir_base_is_refused_without_a_request(
    mock: respx.MockRouter, http: httpx.AsyncClient, next_url: str
) -> None:
    mock.get("/Condition").respond(json=_page(1, next_url=next_url))
    elsewhere = respx.get(url__regex=r"^(?!https://ehr\.example\.org/fhir/).*").respond(json=_page(9))

    with pytest.raises(FhirServerError, match="outside its base URL"):
        await _search(_client(http), ENDPOINT)

    assert not elsewhere.called


@pytest.mark.parametrize("status", [301, 302, 307, 308])
async def test_redirects_are_not_followed(
    mock: respx.MockRouter, service_http: httpx.AsyncClient, status: int
) -> None:
    mock.get("/Condition").respond(status, headers={"Location": f"{BASE}/Elsewhere"})
    target = mock.get("/Elsewhere").respond(json=_page(1))

    with pytest.raises(FhirServerError, match=f"HTTP {status}"):
        await _search(_client(service_http), ENDPOINT)

    assert not target.called


async def test_response_over_the_declared_size_cap_is_refused(
    mock: respx.MockRouter, http: httpx.AsyncClient
) -> None:
    body = orjson.dumps(_page(*range(50)))
    mock.get("/Condition").respond(content=body, headers={"Content-Length": str(len(body))})

    with pytest.raises(FhirServerError, match="exceeds the size limit"):
        await _search(_client(http, max_response_bytes=len(body) - 1), ENDPOINT)


async def test_streamed_response_over_the_size_cap_is_refused(
    mock: respx.MockRouter, http: httpx.AsyncClient
) -> None:
    """No Content-Length (chunked): the cap applies while reading."""
    body = orjson.dumps(_page(*range(50)))
    mock.get("/Condition").mock(
        side_effect=lambda request: httpx.Response(200, stream=_Chunks(body, size=100))
    )

    with pytest.raises(FhirServerError, match="exceeds the size limit"):
        await _search(_client(http, max_response_bytes=1000), ENDPOINT)


async def test_response_within_the_size_cap_is_read(mock: respx.MockRouter, http: httpx.AsyncClient) -> None:
    body = orjson.dumps(_page(1, 2))
    mock.get("/Condition").respond(content=body)

    result = await _search(_client(http, max_response_bytes=len(body)), ENDPOINT)

    assert len(result.resources) == 2


@pytest.mark.parametrize("status", [404, 410])
async def test_read_of_a_missing_resource_is_none(
    mock: respx.MockRouter, http: httpx.AsyncClient, status: int
) -> None:
    mock.get("/Medication/m1").respond(status, json={"resourceType": "OperationOutcome"})
    client = _client(http)

    assert await client.read(ENDPOINT, "Medication/m1", client.limiter()) is None


async def test_read_returns_the_resource(mock: respx.MockRouter, http: httpx.AsyncClient) -> None:
    medication = {"resourceType": "Medication", "id": "m1"}
    route = mock.get("/Medication/m1").respond(json=medication)
    client = _client(http)

    assert await client.read(ENDPOINT, "Medication/m1", client.limiter()) == medication
    assert route.calls.last.request.headers["authorization"] == f"Bearer {TOKEN}"


async def test_search_that_finds_no_endpoint_is_empty(
    mock: respx.MockRouter, http: httpx.AsyncClient
) -> None:
    mock.get("/Condition").respond(404)

    result = await _search(_client(http), ENDPOINT)

    assert result.resources == []


@pytest.mark.parametrize(
    ("response", "message"),
    [
        pytest.param(httpx.Response(500), "HTTP 500", id="server-error"),
        pytest.param(httpx.Response(401), "HTTP 401", id="unauthorized"),
        pytest.param(httpx.Response(200, content=b"<html>"), "non-JSON", id="not-json"),
        pytest.param(httpx.Response(200, json=[1, 2]), "not a resource", id="json-array"),
        pytest.param(
            httpx.Response(200, json={"resourceType": "Patient"}), "did not return a Bundle", id="nb"
        ),
    ],
)
async def test_bad_answers_become_fhir_server_errors(
    mock: respx.MockRouter, http: httpx.AsyncClient, response: httpx.Response, message: str
) -> None:
    mock.get("/Condition").mock(return_value=response)

    with pytest.raises(FhirServerError, match=message):
        await _search(_client(http), ENDPOINT)


async def test_next_page_that_is_not_a_bundle_is_an_error(
    mock: respx.MockRouter, http: httpx.AsyncClient
) -> None:
    mock.get("/Condition", params={"_count": "2"}).respond(json=_page(1, next_url=f"{BASE}/Condition?page=2"))
    mock.get("/Condition", params={"page": "2"}).respond(404)

    with pytest.raises(FhirServerError, match="paging"):
        await _search(_client(http), ENDPOINT)


@pytest.mark.parametrize(
    ("error", "message"),
    [
        pytest.param(httpx.ConnectError("refused"), "could not be reached", id="connect-error"),
        pytest.param(httpx.ReadTimeout("slow"), "timed out", id="read-timeout"),
        pytest.param(httpx.RemoteProtocolError("reset"), "could not be reached", id="protocol-error"),
    ],
)
async def test_transport_failures_become_fhir_server_errors(
    mock: respx.MockRouter, http: httpx.AsyncClient, error: Exception, message: str
) -> None:
    mock.get("/Condition").mock(side_effect=error)

    with pytest.raises(FhirServerError, match=message):
        await _search(_client(http), ENDPOINT)


async def test_error_messages_never_contain_the_token(
    mock: respx.MockRouter, http: httpx.AsyncClient
) -> None:
    mock.get("/Condition").mock(side_effect=httpx.ConnectError(f"refused Bearer {TOKEN}"))

    with pytest.raises(FhirServerError) as raised:
        await _search(_client(http), ENDPOINT)

    assert TOKEN not in str(raised.value)
    assert TOKEN not in str(raised.value.operation_outcome())


def test_endpoint_repr_hides_the_token() -> None:
    assert TOKEN not in repr(ENDPOINT)
    assert TOKEN not in str(ENDPOINT)


async def test_limiter_bounds_concurrent_requests(mock: respx.MockRouter, http: httpx.AsyncClient) -> None:
    in_flight = 0
    most = 0
    release = asyncio.Event()

    async def slow(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        if most >= 2:
            release.set()
        await release.wait()
        in_flight -= 1
        return httpx.Response(200, json={"resourceType": "Medication", "id": "m"})

    mock.get(url__startswith=f"{BASE}/Medication/").mock(side_effect=slow)
    client = FhirClient(http, page_size=2, max_pages=2, max_response_bytes=1 << 20, max_concurrent_requests=2)
    limiter = client.limiter()

    await asyncio.gather(*(client.read(ENDPOINT, f"Medication/m{i}", limiter) for i in range(6)))

    assert most == 2


@pytest.mark.parametrize(
    ("bundle", "expected"),
    [
        ({"link": [{"relation": "self", "url": "a"}, {"relation": "next", "url": "b"}]}, "b"),
        ({"link": [{"relation": "self", "url": "a"}]}, None),
        ({"link": [{"relation": "next", "url": ""}]}, None),
        ({"link": [{"relation": "next"}]}, None),
        ({"link": "next"}, None),
        ({}, None),
    ],
)
def test_next_link(bundle: dict[str, object], expected: str | None) -> None:
    assert next_link(bundle) == expected
