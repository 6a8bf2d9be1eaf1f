"""Prometheus metrics, exposed at ``GET /metrics``.

With several uvicorn workers, PROMETHEUS_MULTIPROC_DIR must be set (before the first import of
prometheus_client) so each worker writes its samples to files in that directory and /metrics, served
by whichever worker takes the scrape, sums them. ``immuno-cds serve`` creates and empties the directory
before the workers start.

Labels never carry raw paths, ids or anything about a patient: requests are labelled with the route
template (``/cds-services/{service_id}``) and a known service id, or ``unknown``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from typing import Any

from fastapi import APIRouter, FastAPI
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.discovery import SERVICES

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
METRICS_PATH = "/metrics"
HEALTH_PREFIX = "/health/"
# Requests no route matched: one label value, so scanners probing random paths add no series.
UNMATCHED_ROUTE = "unmatched"
NO_SERVICE = "none"
UNKNOWN_SERVICE = "unknown"

REQUESTS = Counter(
    "cds_requests_total",
    "HTTP requests by route, service and status",
    ["route", "service", "status"],
)
REQUEST_LATENCY = Histogram(
    "cds_request_duration_seconds",
    "HTTP request latency by route and service",
    ["route", "service"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
CARDS = Counter("cds_cards_total", "Cards returned by topic and indicator", ["topic", "indicator"])
FHIR_QUERIES = Counter("cds_fhir_queries_total", "FHIR server requests by outcome", ["outcome"])
FEEDBACK = Counter("cds_feedback_total", "Feedback items stored by outcome", ["outcome"])
AUTH_FAILURES = Counter("cds_auth_failures_total", "Authentication failures by reason", ["reason"])
# Degraded operation (database unreachable). Every metric here has a label: in multiprocess mode an
# unlabelled metric opens its file at import, before `immuno-cds serve` has made the directory.
DATABASE_AVAILABLE = Gauge(
    "cds_database_available",
    "1 while this worker can use the database, 0 while it runs without it (lowest live worker)",
    ["backend"],
    multiprocess_mode="livemin",
)
REPLAY_CHECKS_DEGRADED = Counter(
    "cds_replay_checks_degraded_total",
    "JWT ids checked against this worker's memory only: the database was unreachable or too slow",
    ["reason"],
)
ISSUED_CARDS_DROPPED = Counter(
    "cds_issued_cards_dropped_total",
    "Issued-card rows dropped, by reason (buffer_full: the rows kept during a database outage; "
    "value_refused: a row the database refused)",
    ["reason"],
)
ACKNOWLEDGEMENTS_UNREAD = Counter(
    "cds_acknowledgements_unread_total",
    "Hook calls answered without reading the patient's acknowledged (overridden) cards, by reason: "
    "their cards are all shown",
    ["reason"],
)
FEEDBACK_REFUSED = Counter(
    "cds_feedback_unavailable_total",
    "Feedback requests answered 503 with Retry-After, by reason",
    ["reason"],
)
# Issue 17: input left out of a hook call rather than failing it, and evaluations refused (503).
SKIPPED_INPUTS = Counter(
    "cds_skipped_inputs_total",
    "Parts of a hook call's input left out, by reason (malformed_medication_reference, "
    "medication_reads_over_limit, draft_order_other_patient)",
    ["reason"],
)
EVALUATIONS_REFUSED = Counter(
    "cds_evaluations_refused_total",
    "Hook calls answered 503 instead of evaluated, by reason (too_costly: over the text or resource "
    "budget; queue_full: every evaluation worker busy; overran: past the evaluation deadline)",
    ["reason"],
)
FHIR_CALL_BUDGET = Counter(
    "cds_fhir_call_budget_total",
    "Hook calls whose FHIR reads hit a per-call bound, by bound (bytes, page_loop)",
    ["bound"],
)

PATIENTS_NOT_FOUND = Counter(
    "cds_patients_not_found_total",
    "Hook calls whose patient the EHR does not know (the FHIR server answered 404/410 for the Patient, "
    "or the prefetch gave null for it): a wrongly mapped patient id answers no cards",
    ["source"],
)


def count_patient_not_found(source: str) -> None:
    PATIENTS_NOT_FOUND.labels(source=source).inc()


def count_skipped_input(reason: str, count: int = 1) -> None:
    SKIPPED_INPUTS.labels(reason=reason).inc(count)


def count_evaluation_refused(reason: str) -> None:
    EVALUATIONS_REFUSED.labels(reason=reason).inc()


def count_fhir_call_budget(bound: str) -> None:
    FHIR_CALL_BUDGET.labels(bound=bound).inc()


def count_cards(cards: Iterable[dict[str, Any]]) -> None:
    for card in cards:
        CARDS.labels(topic=card["source"]["topic"]["code"], indicator=card["indicator"]).inc()


def count_fhir_query(outcome: str) -> None:
    FHIR_QUERIES.labels(outcome=outcome).inc()


def count_feedback(outcome: str) -> None:
    FEEDBACK.labels(outcome=outcome).inc()


def count_auth_failure(reason: str) -> None:
    AUTH_FAILURES.labels(reason=reason).inc()


def set_database_available(backend: str, available: bool) -> None:
    DATABASE_AVAILABLE.labels(backend=backend).set(1 if available else 0)


def count_degraded_replay_check(reason: str) -> None:
    REPLAY_CHECKS_DEGRADED.labels(reason=reason).inc()


def count_dropped_issued_cards(rows: int, reason: str = "buffer_full") -> None:
    ISSUED_CARDS_DROPPED.labels(reason=reason).inc(rows)


def count_acknowledgements_unread(reason: str) -> None:
    ACKNOWLEDGEMENTS_UNREAD.labels(reason=reason).inc()


def count_feedback_unavailable() -> None:
    FEEDBACK_REFUSED.labels(reason="database_unavailable").inc()


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROC_ENV) or None


def render_metrics() -> bytes:
    """The exposition text: this process's registry, or every worker's files in multiprocess mode."""
    if multiprocess_dir() is None:
        return generate_latest(REGISTRY)
    registry = CollectorRegistry()
    MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return generate_latest(registry)


router = APIRouter()


@router.get(METRICS_PATH, include_in_schema=False)
async def metrics() -> Response:
    return Response(render_metrics(), media_type=CONTENT_TYPE_LATEST)


def is_excluded(path: str) -> bool:
    return path == METRICS_PATH or path.startswith(HEALTH_PREFIX)


def route_labels(scope: Scope) -> tuple[str, str]:
    """(route template, service) for a request the router has seen."""
    route = scope.get("route")
    template = getattr(route, "path", None)
    if not isinstance(template, str):
        return UNMATCHED_ROUTE, NO_SERVICE
    path_params = scope.get("path_params") or {}
    service_id = path_params.get("service_id")
    if service_id is None:
        return template, NO_SERVICE
    return template, service_id if service_id in SERVICES else UNKNOWN_SERVICE


class MetricsMiddleware:
    """Counts every HTTP request but /metrics and /health/* by route template, service and status."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, self._lifespan_send(send))
            return
        if scope["type"] != "http" or is_excluded(scope["path"]):
            await self.app(scope, receive, send)
            return
        await self._observe(scope, receive, send)

    async def _observe(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        status = 500  # what the client gets when the app raises before it answers

        async def send_and_record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_and_record)
        finally:
            route, service = route_labels(scope)
            REQUESTS.labels(route=route, service=service, status=str(status)).inc()
            REQUEST_LATENCY.labels(route=route, service=service).observe(time.perf_counter() - started)

    @staticmethod
    def _lifespan_send(send: Send) -> Send:
        async def send_and_mark(message: Message) -> None:
            if message["type"] == "lifespan.shutdown.complete":
                mark_worker_dead(os.getpid())
            await send(message)

        return send_and_mark


def mark_worker_dead(pid: int) -> None:
    """Drop a stopped worker's live-gauge files; its counters stay and keep counting in the sums."""
    directory = multiprocess_dir()
    if directory is not None:
        mark_process_dead(pid, directory)  # type: ignore[no-untyped-call]


def install_metrics(app: FastAPI, enabled: bool) -> None:
    """Add the request middleware and the /metrics route (nothing when metrics are disabled)."""
    if not enabled:
        return
    app.add_middleware(MetricsMiddleware)
    app.include_router(router)
