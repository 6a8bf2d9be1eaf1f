"""Prometheus metrics. With several uvicorn workers, PROMETHEUS_MULTIPROC_DIR must be set so each
worker writes its samples to shared files and /metrics aggregates them."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from prometheus_client import Counter, Histogram

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


def count_cards(cards: Iterable[dict[str, Any]]) -> None:
    for card in cards:
        CARDS.labels(topic=card["source"]["topic"]["code"], indicator=card["indicator"]).inc()


def count_fhir_query(outcome: str) -> None:
    FHIR_QUERIES.labels(outcome=outcome).inc()


def count_feedback(outcome: str) -> None:
    FEEDBACK.labels(outcome=outcome).inc()


def count_auth_failure(reason: str) -> None:
    AUTH_FAILURES.labels(reason=reason).inc()
