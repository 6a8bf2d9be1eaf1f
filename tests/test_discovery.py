"""Discovery: GET /cds-services lists one service per hook, with CDS Hooks 2.0 prefetch templates."""

from __future__ import annotations

import re
from typing import Any

import pytest
from starlette.testclient import TestClient

from service.discovery import PREFETCH_TEMPLATES, SERVICES, discovery_document

HOOKS = ("order-select", "order-sign", "patient-view")
# CDS Hooks 2.0 prefetch tokens: root primitive context fields of each hook and the user tokens.
USER_TOKENS = {"userPractitionerId", "userPractitionerRoleId", "userPatientId", "userRelatedPersonId"}
CONTEXT_TOKENS = {
    "patient-view": {"context.userId", "context.patientId", "context.encounterId"},
    "order-select": {"context.userId", "context.patientId", "context.encounterId"},
    "order-sign": {"context.userId", "context.patientId", "context.encounterId"},
}
TOKEN = re.compile(r"\{\{\s*([^}]*?)\s*\}\}")
# The spec's recommended query subset as used here: a read, or a type search by patient reference.
RECOMMENDED_QUERY = re.compile(
    r"^[A-Z][A-Za-z]+/\{\{context\.patientId\}\}$"
    r"|^[A-Z][A-Za-z]+\?patient=\{\{context\.patientId\}\}(&_count=\d+|&_sort=-?[a-z-]+)*$"
)

TEMPLATE_CASES = [
    pytest.param(service.hook, key, template, id=f"{service.hook}:{key}")
    for service in SERVICES.values()
    for key, template in service.discovery_entry()["prefetch"].items()
]


def _services(client: TestClient) -> list[dict[str, Any]]:
    response = client.get("/cds-services")
    assert response.status_code == 200
    services: list[dict[str, Any]] = response.json()["services"]
    return services


def test_discovery_lists_exactly_one_service_per_hook(shared_client: TestClient) -> None:
    services = _services(shared_client)

    assert sorted(service["hook"] for service in services) == sorted(HOOKS)


def test_discovery_answers_json(shared_client: TestClient) -> None:
    response = shared_client.get("/cds-services")

    assert response.headers["content-type"].startswith("application/json")


@pytest.mark.parametrize("hook", HOOKS)
def test_each_service_has_id_title_description_usage_requirements_and_prefetch(
    shared_client: TestClient, hook: str
) -> None:
    (service,) = [service for service in _services(shared_client) if service["hook"] == hook]

    assert re.fullmatch(r"[a-z0-9][a-z0-9-]*", service["id"])
    for field in ("title", "description", "usageRequirements"):
        assert isinstance(service[field], str) and service[field].strip(), field
    assert isinstance(service["prefetch"], dict) and service["prefetch"]


def test_service_ids_are_unique() -> None:
    ids = [service["id"] for service in discovery_document()["services"]]

    assert len(ids) == len(set(ids))


def test_discovery_has_no_empty_optional_fields() -> None:
    def empties(value: Any, path: str) -> list[str]:
        if value is None or value == "" or value == [] or value == {}:
            return [path]
        if isinstance(value, dict):
            return [p for key, item in value.items() for p in empties(item, f"{path}.{key}")]
        if isinstance(value, list):
            return [p for index, item in enumerate(value) for p in empties(item, f"{path}[{index}]")]
        return []

    assert empties(discovery_document()["services"], "services") == []


@pytest.mark.parametrize(("hook", "key", "template"), TEMPLATE_CASES)
def test_prefetch_template_uses_only_cds_hooks_2_tokens(hook: str, key: str, template: str) -> None:
    tokens = set(TOKEN.findall(template))

    assert tokens, f"{key} has no token: it would not be about this patient"
    assert tokens <= CONTEXT_TOKENS[hook] | USER_TOKENS


@pytest.mark.parametrize(("hook", "key", "template"), TEMPLATE_CASES)
def test_prefetch_template_is_in_the_recommended_query_subset(hook: str, key: str, template: str) -> None:
    assert RECOMMENDED_QUERY.match(template), template


def test_advertised_prefetch_keys_are_the_keys_the_service_reads() -> None:
    for service in SERVICES.values():
        assert set(service.discovery_entry()["prefetch"]) == set(PREFETCH_TEMPLATES)


def test_discovery_with_origin_carries_cors_header(shared_client: TestClient) -> None:
    response = shared_client.get("/cds-services", headers={"Origin": "http://127.0.0.1:8080"})

    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] in ("*", "http://127.0.0.1:8080")
