"""In-process measurements: what the invoke route does after it has read the body, without HTTP.

`RouteWork.run(body)` repeats the route's steps in order (service/routes.py `invoke`): parse the JSON,
validate the hook request and context, gather the patient record from prefetch, evaluate
(facts -> rules -> cards) and serialise the response. It leaves out what is I/O or bookkeeping:
authentication (out of scope), metrics counters, the audit log line and the background write of
issued cards. The baseline it is compared with is `orjson.loads(body)` + `orjson.dumps(parsed)`.
"""

from __future__ import annotations

import asyncio
import gc
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from bench.generate import NOW
from clinical.evaluation import Evaluator
from clinical.patient_record import PatientRecord
from service.discovery import SERVICES
from service.fhir_access.fhir_client import FhirClient
from service.fhir_access.prefetch import FhirAccess, gather_patient_record
from service.json_body import parse_json_object
from service.protocol import draft_order_resources, parse_context, parse_hook_request
from service.settings import PROJECT_ROOT

PATIENT_VIEW = "immunotherapy-brain-mri-patient-view"


@dataclass
class Stages:
    """Seconds per stage of one run."""

    parse: float  # orjson.loads + HookRequest/context validation
    record: float  # gather_patient_record from prefetch
    evaluate: float  # facts -> rules -> cards
    dump: float  # orjson.dumps of the response

    @property
    def total(self) -> float:
        return self.parse + self.record + self.evaluate + self.dump


class RouteWork:
    def __init__(self, clock: Callable[[], float] = time.perf_counter) -> None:
        # perf_counter: wall time. time.thread_time: this thread's CPU time, which the machine's other
        # load does not inflate (used for the growth curve, where the cost is what matters).
        self.clock = clock
        self.evaluator = Evaluator.load(PROJECT_ROOT / "knowledge", PROJECT_ROOT / "cards")
        # One loop for every run: asyncio.run() per call would add its own set-up cost (and, on
        # exit, formats the finished task's repr, the whole record included).
        self.loop = asyncio.new_event_loop()
        client = FhirClient(
            new_http=httpx.AsyncClient,  # never called: the prefetch is complete
            page_size=200,
            max_pages=20,
            max_response_bytes=16 * 1024 * 1024,
            max_concurrent_requests=8,
        )
        self.access = FhirAccess(client, None, "the benchmark sends complete prefetch")

    def close(self) -> None:
        self.loop.close()

    def run(self, body: bytes) -> tuple[bytes, Stages]:
        clock = self.clock
        started = clock()
        hook_request = parse_hook_request(parse_json_object(body))
        service = SERVICES[PATIENT_VIEW]
        assert hook_request.hook == service.hook
        context = parse_context(service.hook, hook_request.context)
        parsed = clock()
        record: PatientRecord = self.loop.run_until_complete(
            gather_patient_record(hook_request.prefetch, context.patient_id, context.user_id, self.access)
        )
        gathered = clock()
        cards = self.evaluator.cards_for(
            record,
            draft_order_resources(context),
            now=NOW,
            patient_id=context.patient_id,
            user_id=context.user_id,
            encounter_id=context.encounter_id,
        )
        evaluated = clock()
        response = orjson.dumps({"cards": cards})
        done = clock()
        return response, Stages(parsed - started, gathered - parsed, evaluated - gathered, done - evaluated)


def parse_and_dump(body: bytes) -> bytes:
    """The floor for in-process work: read the JSON and write it back."""
    return orjson.dumps(orjson.loads(body))


@dataclass
class Comparison:
    floor: list[float]
    work: list[Stages]

    @property
    def floor_median(self) -> float:
        return statistics.median(self.floor)

    @property
    def work_median(self) -> float:
        return statistics.median(stage.total for stage in self.work)

    def stage_median(self, name: str) -> float:
        return statistics.median(getattr(stage, name) for stage in self.work)

    @property
    def ratio(self) -> float:
        # Median of the per-pair ratios: each pair ran back to back, so machine noise cancels.
        return statistics.median(w.total / f for w, f in zip(self.work, self.floor, strict=True))


def compare(work: RouteWork, body: bytes, repeat: int, deadline: float = 60.0) -> Comparison:
    """Interleave the floor and the route's work on the same body, `repeat` pairs (fewer past `deadline`)."""
    floor: list[float] = []
    stages: list[Stages] = []
    work.run(body)  # warm-up: lazy imports, first-use caches
    parse_and_dump(body)
    stop = time.perf_counter() + deadline
    for _ in range(repeat):
        gc.collect()
        started = work.clock()
        parse_and_dump(body)
        floor.append(work.clock() - started)
        gc.collect()
        stages.append(work.run(body)[1])
        if time.perf_counter() > stop and len(floor) >= 3:
            break
    return Comparison(floor, stages)


def timed(function: Callable[[], Any], repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        gc.collect()
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return times
