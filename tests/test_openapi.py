"""The OpenAPI document tells the truth: each operation lists exactly the statuses the service answers
(each provoked here, its body checked against the documented schema), no 422, the bearer scheme, and
the document and docs pages only where enabled, with nothing loaded from a CDN."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from conftest import ClientFactory
from hook_requests import hook_request, pembrolizumab_order_sign, service_id
from jsonschema import Draft202012Validator
from ops_support import free_port
from starlette.testclient import TestClient

from service.discovery import SERVICES
from service.openapi import (
    CONTEXT_SCHEMAS,
    DISCOVERY,
    FEEDBACK,
    HOOK,
    OPERATION_RESPONSES,
    SECURITY_SCHEME,
)

ORDER_SIGN = service_id("order-sign")
HOOK_PATH = f"/cds-services/{ORDER_SIGN}"
FEEDBACK_PATH = f"{HOOK_PATH}/feedback"
MAX_BODY_BYTES = 200_000
NOT_A_TOKEN = {"Authorization": "Bearer not-a-jwt"}
JSON = {"Content-Type": "application/json"}

Call = Callable[[TestClient], httpx.Response]


FEEDBACK_BODY = {
    "feedback": [{"card": "c-1", "outcome": "accepted", "outcomeTimestamp": "2026-11-21T10:00:00Z"}]
}


def feedback_on_an_issued_card(client: TestClient) -> httpx.Response:
    """Feedback is accepted only for a card this service issued: get one from a hook call first."""
    card = client.post(HOOK_PATH, json=pembrolizumab_order_sign()).json()["cards"][0]["uuid"]
    body = {"feedback": [{"card": card, "outcome": "accepted", "outcomeTimestamp": "2026-11-21T10:00:00Z"}]}
    return client.post(FEEDBACK_PATH, json=body)


def feedback_twice(client: TestClient) -> httpx.Response:
    client.post(FEEDBACK_PATH, json=FEEDBACK_BODY)
    return client.post(FEEDBACK_PATH, json=FEEDBACK_BODY)


TOO_LARGE = b'{"padding": "' + b"x" * MAX_BODY_BYTES + b'"}'

# (operation, status) -> the request that gets that answer. "database_down" runs against an app whose
# PostgreSQL is unreachable.
CASES: dict[tuple[tuple[str, str], int], Call] = {
    (DISCOVERY, 200): lambda c: c.get("/cds-services"),
    (DISCOVERY, 401): lambda c: c.get("/cds-services", headers=NOT_A_TOKEN),
    (DISCOVERY, 405): lambda c: c.post("/cds-services", json={}),
    (HOOK, 405): lambda c: c.get(HOOK_PATH),
    (FEEDBACK, 405): lambda c: c.get(FEEDBACK_PATH),
    (HOOK, 200): lambda c: c.post(HOOK_PATH, json=pembrolizumab_order_sign()),
    (HOOK, 400): lambda c: c.post(HOOK_PATH, content=b"{not json", headers=JSON),
    (HOOK, 401): lambda c: c.post(HOOK_PATH, json=pembrolizumab_order_sign(), headers=NOT_A_TOKEN),
    (HOOK, 403): lambda c: c.post(
        HOOK_PATH, json=hook_request("order-sign", fhir_server="https://fhir.elsewhere.example/r4")
    ),
    (HOOK, 404): lambda c: c.post("/cds-services/no-such-service", json=pembrolizumab_order_sign()),
    (HOOK, 412): lambda c: c.post(HOOK_PATH, json=hook_request("order-sign")),
    (HOOK, 413): lambda c: c.post(HOOK_PATH, content=TOO_LARGE, headers=JSON),
    (HOOK, 415): lambda c: c.post(HOOK_PATH, content=b"{}", headers={"Content-Type": "text/plain"}),
    (HOOK, 503): lambda c: c.post(HOOK_PATH, json=pembrolizumab_order_sign()),
    (FEEDBACK, 200): feedback_on_an_issued_card,
    (FEEDBACK, 400): lambda c: c.post(FEEDBACK_PATH, json={"feedback": []}),
    (FEEDBACK, 401): lambda c: c.post(FEEDBACK_PATH, json=FEEDBACK_BODY, headers=NOT_A_TOKEN),
    (FEEDBACK, 404): lambda c: c.post("/cds-services/no-such-service/feedback", json=FEEDBACK_BODY),
    (FEEDBACK, 413): lambda c: c.post(FEEDBACK_PATH, content=TOO_LARGE, headers=JSON),
    (FEEDBACK, 415): lambda c: c.post(FEEDBACK_PATH, content=b"{}", headers={"Content-Type": "text/plain"}),
    (FEEDBACK, 429): feedback_twice,
    (FEEDBACK, 503): lambda c: c.post(FEEDBACK_PATH, json=FEEDBACK_BODY),
}
# Which client answers each case: "database_down" has an unreachable PostgreSQL, "rate_limited" allows
# one feedback call, "no_time" gives every evaluation (of any record size) no time at all.
CLIENT_FOR = {(FEEDBACK, 503): "database_down", (FEEDBACK, 429): "rate_limited", (HOOK, 503): "no_time"}


@pytest.fixture(scope="module")
def clients(make_module_client: ClientFactory) -> dict[str, TestClient]:
    return {
        "up": make_module_client(max_body_bytes=MAX_BODY_BYTES),
        "database_down": make_module_client(
            max_body_bytes=MAX_BODY_BYTES,
            database_url=f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/absent",
        ),
        "rate_limited": make_module_client(feedback_burst=1, feedback_rate_per_minute=0.01),
        "no_time": make_module_client(evaluation_deadline_seconds=1e-9),
    }


@pytest.fixture(scope="module")
def document(clients: dict[str, TestClient]) -> dict[str, Any]:
    response = clients["up"].get("/openapi.json")
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


def documented_response(document: dict[str, Any], operation: tuple[str, str], status: int) -> dict[str, Any]:
    method, path = operation
    responses = document["paths"][path][method]["responses"]
    assert str(status) in responses, f"{method.upper()} {path} answered {status}, which is not documented"
    response: dict[str, Any] = responses[str(status)]
    return response


def validate(document: dict[str, Any], schema: dict[str, Any], instance: Any) -> None:
    root = {"$defs": {}, "components": document["components"], **schema}
    Draft202012Validator(root).validate(instance)


@pytest.mark.parametrize(
    ("operation", "status"), list(CASES), ids=[f"{op[0]} {op[1]} {s}" for op, s in CASES]
)
def test_each_status_the_service_answers_is_documented_with_its_body(
    clients: dict[str, TestClient], document: dict[str, Any], operation: tuple[str, str], status: int
) -> None:
    client = clients[CLIENT_FOR.get((operation, status), "up")]
    response = CASES[(operation, status)](client)
    assert response.status_code == status, response.text
    documented = documented_response(document, operation, status)
    content = documented.get("content")
    if content is None:
        assert response.content == b""
    else:
        (media_type, body) = next(iter(content.items()))
        assert response.headers["content-type"].split(";")[0] == media_type
        validate(document, body["schema"], response.json())
    for header in documented.get("headers", {}):
        assert header in response.headers


def test_every_documented_status_is_observed_by_a_test(document: dict[str, Any]) -> None:
    documented = {
        ((method, path), int(status))
        for path, item in document["paths"].items()
        for method, operation in item.items()
        for status in operation["responses"]
    }
    assert documented == set(CASES)
    assert {operation for operation, _ in CASES} == set(OPERATION_RESPONSES)


def test_no_operation_documents_a_422(document: dict[str, Any]) -> None:
    for item in document["paths"].values():
        for operation in item.values():
            assert "422" not in operation["responses"]
    assert "HTTPValidationError" not in document["components"]["schemas"]


def test_the_cds_operations_require_the_bearer_jwt_scheme(document: dict[str, Any]) -> None:
    scheme = document["components"]["securitySchemes"][SECURITY_SCHEME]
    assert (scheme["type"], scheme["scheme"], scheme["bearerFormat"]) == ("http", "bearer", "JWT")
    for method, path in OPERATION_RESPONSES:
        assert document["paths"][path][method]["security"] == [{SECURITY_SCHEME: []}]


def test_references_resolve_to_components(document: dict[str, Any]) -> None:
    text = str(document)
    assert "#/$defs/" not in text
    for name in ("CardsResponse", "Card", "OperationOutcome", "HookRequest", "FeedbackRequest"):
        assert name in document["components"]["schemas"]


def test_only_documented_operations_are_listed(document: dict[str, Any]) -> None:
    listed = {(method, path) for path, item in document["paths"].items() for method in item}
    assert listed == set(OPERATION_RESPONSES)


@pytest.mark.parametrize(
    ("overrides", "served"),
    [
        ({"profile": "production"}, False),
        ({"profile": "production", "api_docs_enabled": True}, True),
        ({"profile": "development"}, True),
        ({"profile": "development", "api_docs_enabled": False}, False),
    ],
)
def test_the_document_is_served_only_where_enabled(
    make_client: ClientFactory, overrides: dict[str, Any], served: bool
) -> None:
    client = make_client(**overrides)
    assert client.get("/openapi.json").status_code == (200 if served else 404)


@pytest.mark.parametrize("path", ["/redoc", "/docs/oauth2-redirect"])
def test_no_other_docs_page_is_served(make_client: ClientFactory, path: str) -> None:
    client = make_client(profile="development", api_docs_enabled=True)
    response = client.get(path)
    assert response.status_code == 404
    assert "cdn" not in response.text.lower()


def test_the_docs_page_loads_only_the_services_own_assets(make_client: ClientFactory) -> None:
    client = make_client(profile="development", api_docs_enabled=True)
    page = client.get("/docs")
    assert page.status_code == 200
    assert "cdn" not in page.text.lower()
    sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert sources, "the page names its script and stylesheet"
    for source in sources:
        assert source.startswith("/docs/assets/"), source
        asset = client.get(source)
        assert asset.status_code == 200, source
        assert len(asset.content) > 1000
    assert "/openapi.json" in page.text


@pytest.mark.parametrize(
    ("overrides", "served"),
    [({"profile": "production"}, False), ({"profile": "development"}, True)],
)
def test_the_docs_page_follows_the_document(
    make_client: ClientFactory, overrides: dict[str, Any], served: bool
) -> None:
    client = make_client(**overrides)
    assert client.get("/docs").status_code == (200 if served else 404)
    assert client.get("/docs/assets/swagger-ui.css").status_code == (200 if served else 404)


def test_the_service_id_is_one_of_the_discovered_services(document: dict[str, Any]) -> None:
    for method, path in (HOOK, FEEDBACK):
        (parameter,) = [p for p in document["paths"][path][method]["parameters"] if p["name"] == "service_id"]
        assert parameter["schema"]["enum"] == sorted(SERVICES)


@pytest.mark.parametrize("hook", ["patient-view", "order-select", "order-sign"])
def test_each_hooks_context_is_described(document: dict[str, Any], hook: str) -> None:
    schemas = document["components"]["schemas"]
    context = schemas["HookRequest"]["properties"]["context"]
    names = [option["$ref"].rsplit("/", 1)[-1] for option in context["oneOf"]]
    model = CONTEXT_SCHEMAS[hook].__name__
    assert model in names
    required = set(schemas[model]["required"])
    assert {"userId", "patientId"} <= required
    assert ("draftOrders" in required) == (hook != "patient-view")
    assert ("selections" in required) == (hook == "order-select")


def test_request_bodies_declare_both_json_media_types_with_valid_examples(document: dict[str, Any]) -> None:
    for method, path in (HOOK, FEEDBACK):
        content = document["paths"][path][method]["requestBody"]["content"]
        assert sorted(content) == ["application/fhir+json", "application/json"]
        for example in content["application/json"]["examples"].values():
            validate(document, content["application/json"]["schema"], example["value"])


def test_the_hook_503_speaks_of_the_evaluation_and_the_feedback_503_of_storage(
    document: dict[str, Any],
) -> None:
    hook = documented_response(document, HOOK, 503)["description"]
    feedback = documented_response(document, FEEDBACK, 503)["description"]
    assert "too costly" in hook and "feedback" not in hook.lower()
    assert "stored" in feedback
