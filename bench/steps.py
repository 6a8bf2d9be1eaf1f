"""Where one typical hook call's time goes, step by step (issue 21): the service app as bench/servers.py
builds it (development profile, SQLite, JSON logs at INFO, metrics on), driven through its whole ASGI
stack (middlewares, routing, the route, the background task) without a server, one call at a time.

Each step is timed by wrapping the function the route calls for it (wall time, medians over the calls):

- authentication: `_authenticate` (here the development profile's unauthenticated caller);
- body: `_json_body` (content type, the size-limited read, orjson parse);
- envelope: `parse_hook_request` and `parse_context` (what the spec requires of the request);
- record: `gather_patient_record` from prefetch;
- acknowledgements: whether the worker's set of patients with overrides holds this one
  (`OverriddenPatients.may_have_overrides`), and only then `read_acknowledgements` (one database read;
  the benchmark's patient has no override, so a fresh set answers without it);
- evaluation: `evaluate_within_budget` (the pool hand-over, the fast reject and budget walk, timeline,
  rules, cards), and inside it, not added to the steps: the fast reject (`Vocabularies.screen`), the
  timeline (`Evaluator.timeline_for`), the rules (`Evaluator.advice_on`) and the cards (rendering and the
  acknowledgement check, `Evaluator.rendered_from_timeline` less the rules);
- response: `_json` (orjson);
- audit line: `audit_log.info`; metrics: `count_cards` (the request middleware is in "framework");
- issued cards: the hand-over of the call's rows to the batch writer (`IssuedCardsRecorder.record`);
- framework: the rest of the call (routing, five middlewares, dependency resolution, background task).

``python -m bench.steps [--calls N] [--workload typical|order-select]`` prints the medians as JSON (the
logs go to stderr). bench/run.py runs it in a subprocess and writes the table to docs/performance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson

from bench.generate import TYPICAL, hook_request, patient_resources, prefetch_for
from bench.servers import service_app
from clinical.evaluation import Evaluator
from clinical.timeline import Vocabularies

SERVICE_PATH = "/cds-services/immunotherapy-brain-mri-patient-view"
STEPS = (
    "authentication",
    "body",
    "envelope",
    "record",
    "acknowledgements",
    "evaluation",
    "response",
    "audit line",
    "metrics",
    "issued cards",
    "framework",
)
# Parts of "evaluation", timed inside it (not added to the steps above): what the rest of it is, the pool
# hand-over and the budget check, is evaluation less these.
EVALUATION_PARTS = ("fast reject", "timeline", "rules", "cards")


class Timings:
    def __init__(self) -> None:
        self.current: dict[str, float] = defaultdict(float)
        self.parts: dict[str, float] = defaultdict(float)
        self.calls: list[dict[str, float]] = []

    def sync(self, step: str, function: Callable[..., Any]) -> Callable[..., Any]:
        return self._timed(lambda: self.current, step, function)

    def part(self, step: str, function: Callable[..., Any]) -> Callable[..., Any]:
        """A part of the evaluation step, timed on the evaluation thread (calls run one at a time)."""
        return self._timed(lambda: self.parts, step, function)

    @staticmethod
    def _timed(
        into: Callable[[], dict[str, float]], step: str, function: Callable[..., Any]
    ) -> Callable[..., Any]:
        @functools.wraps(function)
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                into()[step] += time.perf_counter() - started

        return timed

    def asynchronous(self, step: str, function: Callable[..., Awaitable[Any]]) -> Callable[..., Any]:
        @functools.wraps(function)
        async def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return await function(*args, **kwargs)
            finally:
                self.current[step] += time.perf_counter() - started

        return timed


def instrument(app: Any, timings: Timings) -> None:
    import service.routes as routes

    routes._authenticate = timings.asynchronous("authentication", routes._authenticate)
    routes._json_body = timings.asynchronous("body", routes._json_body)
    routes.parse_hook_request = timings.sync("envelope", routes.parse_hook_request)
    routes.parse_context = timings.sync("envelope", routes.parse_context)
    routes.gather_patient_record = timings.asynchronous("record", routes.gather_patient_record)
    routes.read_acknowledgements = timings.asynchronous("acknowledgements", routes.read_acknowledgements)
    routes.evaluate_within_budget = timings.asynchronous("evaluation", routes.evaluate_within_budget)
    routes._json = timings.sync("response", routes._json)
    routes.count_cards = timings.sync("metrics", routes.count_cards)
    audit = routes.audit_log

    class TimedAudit:
        info = staticmethod(timings.sync("audit line", audit.info))

        def __getattr__(self, name: str) -> Any:
            return getattr(audit, name)

    routes.audit_log = TimedAudit()
    # Frozen dataclasses: their methods are wrapped on the class (this process runs nothing else).
    Vocabularies.screen = timings.part("fast reject", Vocabularies.screen)  # type: ignore[method-assign]
    Evaluator.timeline_for = timings.part("timeline", Evaluator.timeline_for)  # type: ignore[method-assign]
    Evaluator.advice_on = timings.part("rules", Evaluator.advice_on)  # type: ignore[method-assign]
    # Rendering and the acknowledgement check, with the rules inside: "cards" is this less "rules".
    Evaluator.rendered_from_timeline = timings.part(  # type: ignore[method-assign]
        "rules and cards", Evaluator.rendered_from_timeline
    )
    overridden = app.state.overridden_patients
    overridden.may_have_overrides = timings.sync("acknowledgements", overridden.may_have_overrides)
    recorder = app.state.issued_cards
    recorder.record = timings.asynchronous("issued cards", recorder.record)


async def drive(app: Any, body: bytes, calls: int, timings: Timings) -> list[dict[str, float]]:
    headers = [(b"content-type", b"application/json"), (b"host", b"127.0.0.1")]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": SERVICE_PATH,
        "raw_path": SERVICE_PATH.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }
    statuses: list[int] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    async with app.router.lifespan_context(app):
        # Steady state: the worker has read its set of patients with overrides (start-up does it in the
        # background once the schema is ready).
        await app.state.database.wait_available()
        if not await app.state.overridden_patients.refresh():
            raise SystemExit("the set of patients with overrides could not be read")
        instrument(app, timings)
        for index in range(calls + 20):
            timings.current = defaultdict(float)
            timings.parts = defaultdict(float)
            started = time.perf_counter()
            await app(dict(scope), receive, send)
            total = time.perf_counter() - started
            if index < 20:
                continue  # warm-up
            measured = dict(timings.current)
            measured["framework"] = total - sum(measured.values())
            measured["total"] = total
            parts = timings.parts
            measured["fast reject"] = parts["fast reject"]
            measured["timeline"] = parts["timeline"]
            measured["rules"] = parts["rules"]
            measured["cards"] = parts["rules and cards"] - parts["rules"]
            timings.calls.append(measured)
        await app.state.issued_cards.settle()
    if any(status != 200 for status in statuses):
        raise SystemExit(f"calls answered {sorted(set(statuses))}")
    return timings.calls


def profile(body: bytes, calls: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="cds-bench-steps-") as directory:
        app = service_app(Path(directory))
        timings = Timings()
        measured = asyncio.run(drive(app, body, calls, timings))
    return {
        step: statistics.median(call.get(step, 0.0) for call in measured)
        for step in (*STEPS, *EVALUATION_PARTS, "total")
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.steps", description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300)
    args = parser.parse_args()
    body = orjson.dumps(hook_request(prefetch_for(patient_resources(TYPICAL))))
    result = profile(body, args.calls)
    sys.stdout.write(orjson.dumps(result).decode() + "\n")


if __name__ == "__main__":
    main()
