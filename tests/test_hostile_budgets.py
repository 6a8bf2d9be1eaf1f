"""Issue 17 items 3 and 8: every hook call has a CPU budget, and liveness answers within a second under
any single request. Over real HTTP on loopback (the service under uvicorn): a record of 380 Observations
with distinct 20 kB texts (7.6 MB, which the per-evaluation memo cannot collapse) once held the event
loop for 5-6 s; draft orders count toward the same budget; a full evaluation pool answers 503 at once.
Draft orders for another patient never drive the cards of the patient in context.
Timings of the work itself are never asserted, only the liveness bound the issue states.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fhir_server import serve_asgi
from hostile_support import assert_live_throughout, outcome_of, watching_liveness
from prometheus_client import REGISTRY
from security_support import (
    PATIENT_ID,
    complete_prefetch,
    dev_settings_for,
    draft_medication_request,
    hook_body,
    service_path,
)

from service.app import create_app

HANG_GUARD_SECONDS = 120
PATIENT = {"resourceType": "Patient", "id": PATIENT_ID}
PHRASE = "Neuro exam: new confusion and word-finding difficulty; no seizure; ICANS grade 2 suspected; "
TEXT_CHARS = 20_000
HOSTILE_COUNT = 380  # 7.6 MB of distinct text


def distinct_text(index: int) -> str:
    # A different first word per element: the per-evaluation memo reads identical texts once only.
    return (f"note {index}: " + PHRASE * (TEXT_CHARS // len(PHRASE) + 1))[:TEXT_CHARS]


def observation(index: int) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": f"hostile-{index}",
        "status": "final",
        "code": {"text": "Neurological examination"},
        "subject": {"reference": f"Patient/{PATIENT_ID}"},
        "effectiveDateTime": "2026-11-20",
        "valueString": distinct_text(index),
    }


def hostile_body(count: int = HOSTILE_COUNT) -> dict[str, Any]:
    return hook_body(
        "patient-view", prefetch=complete_prefetch([PATIENT, *(observation(i) for i in range(count))])
    )


def draft_with_note(index: int) -> dict[str, Any]:
    draft = draft_medication_request()
    draft["id"] = f"draft-{index}"
    draft["note"] = [{"text": distinct_text(index)}]
    return draft


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    settings = dev_settings_for(tmp_path_factory.mktemp("budgets"), log_level="ERROR")
    with serve_asgi(create_app(settings)) as url:
        yield url


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=HANG_GUARD_SECONDS) as client:
        yield client


async def _post(
    http: httpx.AsyncClient, url: str, body: dict[str, Any], hook: str = "patient-view"
) -> httpx.Response:
    async with asyncio.timeout(HANG_GUARD_SECONDS):
        return await http.post(f"{url}{service_path(hook)}", json=body)


def _counted(name: str, reason: str) -> float:
    # The service runs in this process (uvicorn in a thread): its counters are this registry's.
    return REGISTRY.get_sample_value(name, {"reason": reason}) or 0.0


def _refused(reason: str) -> float:
    return _counted("cds_evaluations_refused_total", reason)


# --- item 3: the CPU budget -----------------------------------------------------------------------


async def test_distinct_long_texts_over_the_budget_are_too_costly_and_liveness_answers(
    service: str, http: httpx.AsyncClient
) -> None:
    before = _refused("too_costly")
    async with watching_liveness(service) as watch:
        response = await _post(http, service, hostile_body())
    assert response.status_code == 503
    assert outcome_of(response)["issue"][0]["code"] == "too-costly"
    assert _refused("too_costly") == before + 1
    assert_live_throughout(watch)


async def test_draft_orders_count_toward_the_budget(service: str, http: httpx.AsyncClient) -> None:
    body = hook_body("order-sign", prefetch=complete_prefetch([PATIENT]))
    body["context"]["draftOrders"]["entry"] = [{"resource": draft_with_note(i)} for i in range(HOSTILE_COUNT)]
    async with watching_liveness(service) as watch:
        response = await _post(http, service, body, "order-sign")
    assert response.status_code == 503
    assert outcome_of(response)["issue"][0]["code"] == "too-costly"
    assert_live_throughout(watch)


async def test_a_record_within_the_budget_is_evaluated(service: str, http: httpx.AsyncClient) -> None:
    response = await _post(http, service, hostile_body(count=20))
    assert response.status_code == 200, response.text[:300]
    assert isinstance(response.json()["cards"], list)


async def test_with_the_text_budget_lifted_evaluation_stays_off_the_event_loop(
    tmp_path: Path, http: httpx.AsyncClient
) -> None:
    # The pool alone (no text budget): the 7.6 MB record is read on a worker thread; liveness keeps
    # answering, and the call ends by the evaluation deadline (200 if it finished, 503 if not).
    settings = dev_settings_for(
        tmp_path, log_level="ERROR", evaluation_max_text_chars=100_000_000, evaluation_deadline_seconds=3.0
    )
    with serve_asgi(create_app(settings)) as url:
        async with watching_liveness(url) as watch:
            response = await _post(http, url, hostile_body())
            after = await _post(http, url, hook_body("patient-view", prefetch=complete_prefetch([PATIENT])))
    assert response.status_code in (200, 503)
    if response.status_code == 503:
        assert outcome_of(response)["issue"][0]["code"] == "too-costly"
    assert after.status_code in (200, 503)
    assert_live_throughout(watch)


class BlockingEvaluator:
    """Holds every evaluation until released: the pool's slots stay taken while the test looks."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.release = threading.Event()

    def rendered_cards_for(self, *args: Any, **kwargs: Any) -> list[Any]:
        self.started.set()
        self.release.wait(30)
        return []


async def test_a_full_evaluation_pool_answers_503_at_once(tmp_path: Path, http: httpx.AsyncClient) -> None:
    settings = dev_settings_for(tmp_path, log_level="ERROR", evaluation_threads=1, evaluation_max_queued=0)
    app = create_app(settings)
    blocking = BlockingEvaluator()
    app.state.evaluator = blocking
    body = hook_body("patient-view", prefetch=complete_prefetch([PATIENT]))
    with serve_asgi(app) as url:
        before = _refused("queue_full")
        first = asyncio.create_task(_post(http, url, body))
        assert await asyncio.to_thread(blocking.started.wait, 30)
        second = await _post(http, url, body)
        blocking.release.set()
        first_response = await first
        refused = _refused("queue_full")
    assert second.status_code == 503
    assert outcome_of(second)["issue"][0]["code"] == "transient"
    assert second.headers["retry-after"] == "1"
    assert first_response.status_code == 200
    assert refused == before + 1


# --- item 8: draft orders for another patient ------------------------------------------------------


def _ici_draft(patient_id: str) -> dict[str, Any]:
    draft = draft_medication_request(patient_id)
    draft["id"] = f"draft-for-{patient_id}"
    return draft


@pytest.mark.parametrize("hook", ["order-select", "order-sign"])
async def test_a_draft_order_for_another_patient_drives_no_card(
    service: str, http: httpx.AsyncClient, hook: str
) -> None:
    own = hook_body(hook, prefetch=complete_prefetch([PATIENT]))
    assert (await _post(http, service, own, hook)).json()["cards"], "the ICI draft for this patient fires"

    other = hook_body(hook, prefetch=complete_prefetch([PATIENT]))
    other["context"]["draftOrders"]["entry"] = [{"resource": _ici_draft("someone-else")}]
    if hook == "order-select":
        other["context"]["selections"] = ["MedicationRequest/draft-for-someone-else"]
    before = _counted("cds_skipped_inputs_total", "draft_order_other_patient")
    response = await _post(http, service, other, hook)
    assert response.status_code == 200
    assert response.json()["cards"] == []
    assert _counted("cds_skipped_inputs_total", "draft_order_other_patient") == before + 1
