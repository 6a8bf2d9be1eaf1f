"""Prometheus metrics: what is counted and with which labels, in one process and across uvicorn workers.

The in-process tests share prometheus_client's global registry with every other test, so each one
compares a value before and after the requests it makes.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import ClientFactory
from fhir_server import FhirTestServer
from hook_requests import complete_prefetch, hook_request, service_id
from issued_support import record_issued_via
from ops_support import base_environment, free_port, metric_value, running_service, sample_labels, serve_argv
from prometheus_client.multiprocess import MultiProcessCollector
from starlette.testclient import TestClient

from clinical.acknowledgements import RenderedCard
from service.cli import prepare_multiprocess_dir

FEEDBACK_SERVICE = service_id("order-sign")
PATIENT_VIEW = service_id("patient-view")
CARD: dict[str, Any] = {
    "uuid": "7d6f6d1c-5c1e-4b7e-9d1a-3f0c2f1e9a01",
    "summary": "Baseline brain MRI advised",
    "indicator": "warning",
    "source": {"label": "test", "topic": {"code": "metrics-test-topic"}},
}


class OneCardEvaluator:
    def rendered_cards_for(self, *args: Any, **kwargs: Any) -> list[RenderedCard]:
        return [RenderedCard(copy.deepcopy(CARD), "metrics-test-topic", "evidence-key")]


def scrape(client: TestClient) -> str:
    response = client.get("/metrics")
    assert response.status_code == 200
    return response.text


def delta(client: TestClient, name: str, labels: dict[str, str], action: Callable[[], None]) -> float:
    before = metric_value(scrape(client), name, labels)
    action()
    return metric_value(scrape(client), name, labels) - before


def feedback_body(*outcomes: str) -> dict[str, Any]:
    items = []
    for index, outcome in enumerate(outcomes):
        item: dict[str, Any] = {
            "card": f"metrics-card-{index}",
            "outcome": outcome,
            "outcomeTimestamp": "2026-11-21T10:00:00Z",
        }
        if outcome == "overridden":
            # One of the reasons the recorded cards offer (issued_support.OFFERED_OVERRIDE_REASONS).
            reason = {"code": "not-indicated", "system": "urn:immunotherapy-neuroimaging-cds:override-reason"}
            item["overrideReason"] = {"reason": reason}
        items.append(item)
    return {"feedback": items}


# --- the endpoint --------------------------------------------------------------------------------


def test_metrics_endpoint_serves_prometheus_text_format(client: TestClient) -> None:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    for name in (
        "cds_requests_total",
        "cds_request_duration_seconds",
        "cds_cards_total",
        "cds_fhir_queries_total",
        "cds_feedback_total",
        "cds_auth_failures_total",
    ):
        assert f"# TYPE {name} " in response.text


def test_metrics_disabled_removes_the_endpoint(make_client: ClientFactory) -> None:
    client = make_client(metrics_enabled=False)
    assert client.get("/metrics").status_code == 404


# --- request counts and latency ------------------------------------------------------------------


def test_requests_are_counted_by_route_template_service_and_status(client: TestClient) -> None:
    route = "/cds-services/{service_id}/feedback"
    labels = {"route": route, "service": FEEDBACK_SERVICE, "status": "200"}
    record_issued_via(client, FEEDBACK_SERVICE, ["metrics-card-0"])
    before = scrape(client)
    response = client.post(f"/cds-services/{FEEDBACK_SERVICE}/feedback", json=feedback_body("accepted"))
    assert response.status_code == 200
    after = scrape(client)
    assert metric_value(after, "cds_requests_total", labels) - metric_value(
        before, "cds_requests_total", labels
    ) == pytest.approx(1)
    latency = {"route": route, "service": FEEDBACK_SERVICE}
    assert metric_value(after, "cds_request_duration_seconds_count", latency) - metric_value(
        before, "cds_request_duration_seconds_count", latency
    ) == pytest.approx(1)


def test_discovery_is_counted_without_a_service_label(client: TestClient) -> None:
    labels = {"route": "/cds-services", "service": "none", "status": "200"}
    counted = delta(client, "cds_requests_total", labels, lambda: client.get("/cds-services"))
    assert counted == pytest.approx(1)


def test_raw_paths_and_unknown_service_ids_never_become_labels(client: TestClient) -> None:
    assert client.post("/cds-services/patient-4711-secret", json={}).status_code == 404
    assert client.get("/no/such/path/98765").status_code == 404
    text = scrape(client)
    assert "patient-4711-secret" not in text
    assert "98765" not in text
    routes = {labels["route"] for labels in sample_labels(text, "cds_requests_total")}
    assert "/cds-services/{service_id}" in routes
    assert "unmatched" in routes
    assert all(route == "unmatched" or route.startswith("/cds-services") for route in routes)
    services = {labels["service"] for labels in sample_labels(text, "cds_requests_total")}
    assert services <= {
        "none",
        "unknown",
        *(service_id(hook) for hook in ("patient-view", "order-select", "order-sign")),
    }


def test_health_and_metrics_requests_are_not_counted(client: TestClient) -> None:
    def total(text: str) -> float:
        return metric_value(text, "cds_requests_total")

    before = scrape(client)
    for path in ("/health/live", "/health/ready", "/metrics", "/health/live"):
        assert client.get(path).status_code == 200
    after = scrape(client)
    assert total(after) == total(before)
    routes = {labels["route"] for labels in sample_labels(after, "cds_requests_total")}
    assert not any(route.startswith(("/health", "/metrics")) for route in routes)


def test_a_request_that_raises_is_counted_as_500(client: TestClient) -> None:
    class Exploding:
        def rendered_cards_for(self, *args: Any, **kwargs: Any) -> list[RenderedCard]:
            raise RuntimeError("rule failure")

    client.app.state.evaluator = Exploding()  # type: ignore[attr-defined]
    labels = {"route": "/cds-services/{service_id}", "service": PATIENT_VIEW, "status": "500"}

    def call() -> None:
        body = hook_request("patient-view", prefetch=complete_prefetch())
        assert client.post(f"/cds-services/{PATIENT_VIEW}", json=body).status_code == 500

    assert delta(client, "cds_requests_total", labels, call) == pytest.approx(1)


# --- domain counters -----------------------------------------------------------------------------


def test_cards_are_counted_by_topic_and_indicator(client: TestClient) -> None:
    client.app.state.evaluator = OneCardEvaluator()  # type: ignore[attr-defined]
    labels = {"topic": "metrics-test-topic", "indicator": "warning"}

    def call() -> None:
        body = hook_request("patient-view", prefetch=complete_prefetch())
        response = client.post(f"/cds-services/{PATIENT_VIEW}", json=body)
        assert response.status_code == 200
        assert len(response.json()["cards"]) == 1

    assert delta(client, "cds_cards_total", labels, call) == pytest.approx(1)


def test_fhir_fallback_queries_are_counted_by_outcome(
    make_client: ClientFactory, fhir_server: FhirTestServer
) -> None:
    client = make_client(fhir_server_allowlist=[fhir_server.base_url])
    before = scrape(client)
    body = hook_request("patient-view", fhir_server=fhir_server.base_url)  # no prefetch: every key queried
    assert client.post(f"/cds-services/{PATIENT_VIEW}", json=body).status_code == 200
    after = scrape(client)
    queries = len(fhir_server.requests)
    assert queries > 0
    ok = {"outcome": "ok"}
    assert metric_value(after, "cds_fhir_queries_total", ok) - metric_value(
        before, "cds_fhir_queries_total", ok
    ) == pytest.approx(queries)


def test_fhir_errors_are_counted_by_outcome(make_client: ClientFactory, fhir_server: FhirTestServer) -> None:
    client = make_client(fhir_server_allowlist=[fhir_server.base_url])
    fhir_server.override("/Condition", status_code=500, body=b"boom")
    labels = {"outcome": "http_error"}

    def call() -> None:
        body = hook_request("patient-view", fhir_server=fhir_server.base_url)
        assert client.post(f"/cds-services/{PATIENT_VIEW}", json=body).status_code == 412

    assert delta(client, "cds_fhir_queries_total", labels, call) == pytest.approx(1)


def test_feedback_is_counted_by_outcome(client: TestClient) -> None:
    record_issued_via(client, FEEDBACK_SERVICE, [f"metrics-card-{index}" for index in range(3)])
    before = scrape(client)
    body = feedback_body("accepted", "accepted", "overridden")
    assert client.post(f"/cds-services/{FEEDBACK_SERVICE}/feedback", json=body).status_code == 200
    after = scrape(client)
    for outcome, expected in (("accepted", 2), ("overridden", 1)):
        labels = {"outcome": outcome}
        assert metric_value(after, "cds_feedback_total", labels) - metric_value(
            before, "cds_feedback_total", labels
        ) == pytest.approx(expected)


def test_authentication_failures_are_counted_by_reason(make_client: ClientFactory) -> None:
    client = make_client(profile="production", allow_unauthenticated=False)
    before = scrape(client)
    assert client.get("/cds-services").status_code == 401
    assert client.get("/cds-services", headers={"Authorization": "Bearer not-a-jwt"}).status_code == 401
    after = scrape(client)
    for reason in ("missing_token", "malformed_token"):
        labels = {"reason": reason}
        assert metric_value(after, "cds_auth_failures_total", labels) - metric_value(
            before, "cds_auth_failures_total", labels
        ) == pytest.approx(1)


# --- several workers -----------------------------------------------------------------------------


def test_serve_empties_the_multiprocess_directory_before_workers_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = tmp_path / "prometheus" / "multiproc"
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(directory))
    prepare_multiprocess_dir()
    assert directory.is_dir()
    stale = directory / "counter_424242.db"
    stale.write_bytes(b"samples of a previous run")
    keep = directory / "README"
    keep.write_text("not a metrics file")
    prepare_multiprocess_dir()
    assert not stale.exists()
    assert keep.exists()


DISCOVERY = {"route": "/cds-services", "service": "none", "status": "200"}


def _per_worker_counts(directory: Path) -> dict[str, float]:
    """Discovery requests each worker recorded, read from each worker's own counter file."""
    counts = {}
    for path in sorted(directory.glob("counter_*.db")):
        metrics = MultiProcessCollector.merge([str(path)])  # type: ignore[no-untyped-call]
        value = sum(
            sample.value
            for metric in metrics
            for sample in metric.samples
            if sample.name == "cds_requests_total"
            and all(sample.labels.get(k) == v for k, v in DISCOVERY.items())
        )
        if value:
            counts[path.stem.removeprefix("counter_")] = value
    return counts


def _discover(url: str) -> None:
    # A new connection per request, so the kernel hands them to either worker.
    response = httpx.get(url, timeout=10.0)
    assert response.status_code == 200


def _wait_for_total(metrics_url: str, expected: float) -> str:
    """The counter is incremented just after the response is sent: poll briefly (a hang guard)."""
    deadline = time.monotonic() + 15.0
    text = httpx.get(metrics_url, timeout=10.0).text
    while metric_value(text, "cds_requests_total", DISCOVERY) < expected and time.monotonic() < deadline:
        time.sleep(0.1)
        text = httpx.get(metrics_url, timeout=10.0).text
    return text


def test_two_uvicorn_workers_report_summed_metrics(tmp_path: Path) -> None:
    multiproc = tmp_path / "prometheus-multiproc"
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = base_environment(
        CDS_PROFILE="development",
        CDS_ALLOW_UNAUTHENTICATED="true",
        CDS_SQLITE_PATH=str(tmp_path / "cds.sqlite3"),
        CDS_LOG_LEVEL="WARNING",
        PROMETHEUS_MULTIPROC_DIR=str(multiproc),
    )
    with (
        running_service(serve_argv(port, workers=2), env, base_url, tmp_path / "serve.log") as service,
        ThreadPoolExecutor(max_workers=8) as pool,
    ):
        sent = 0
        # Batches of concurrent requests until both workers have served some (bounded).
        for _ in range(25):
            list(pool.map(_discover, [f"{base_url}/cds-services"] * 16))
            sent += 16
            if len(_per_worker_counts(multiproc)) >= 2:
                break
        text = _wait_for_total(f"{base_url}/metrics", sent)
        per_worker = _per_worker_counts(multiproc)
        assert service.process.poll() is None
    assert len(per_worker) == 2, f"requests did not reach both workers: {per_worker}"
    assert sum(per_worker.values()) == sent
    # One scrape, answered by one worker, reports every worker's requests.
    assert metric_value(text, "cds_requests_total", DISCOVERY) == sent
    assert metric_value(text, "cds_request_duration_seconds_count", {"route": "/cds-services"}) == sent
