"""Evaluation off the event loop, with a CPU budget per hook call (issue 17, item 3).

Every evaluation runs in a small pool of worker threads, never on the event loop, so liveness and
other calls are answered while a large record is read. What the pool admits is bounded: at most
`workers` evaluations run and `max_queued` wait; past that a call is answered 503 at once (busy).

A thread cannot be stopped, so what a call may cost is decided before it starts: the resources it
evaluates (record and draft orders) and the characters of their distinct texts (each counted up to the
per-element cap the text reader applies; identical texts are read once per evaluation) are measured
against a budget, and a call over it is answered 503 `too-costly` without being evaluated. The budget
is set so that an admitted evaluation ends well within the evaluation deadline (docs/security.md,
"CPU budget"); the deadline still bounds the wait: past it the call is answered 503 and the cards of
an evaluation that finishes later are dropped (an unstarted one never runs).

Threads, not processes: the clinical core is pure Python and holds the GIL, but CPython hands it to the
event loop's thread at least every switch interval (5 ms), so a liveness probe waits a few intervals,
not the evaluation; the measured figures are in docs/security.md. A process pool would also let an
overrun evaluation be killed, at the price of copying each record to another process (as long as
evaluating a typical one) and one copy of the clinical knowledge per process.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from service.exceptions import EvaluationBusy, EvaluationOverran, TooCostly

T = TypeVar("T")


@dataclass(frozen=True)
class EvaluationBudget:
    """What one evaluation may read: resources, and characters of distinct text (each up to `element_cap`)."""

    max_resources: int
    max_text_chars: int
    element_cap: int

    def check(self, resources: list[object]) -> None:
        """TooCostly when `resources` (the record's and the draft orders) are over the budget."""
        self.check_resources(len(resources))
        self.check_text(text_volume(resources, self.element_cap, self.max_text_chars))

    def check_resources(self, count: int) -> None:
        if count > self.max_resources:
            raise TooCostly(
                f"the record holds more than {self.max_resources} resources, more than one call may evaluate"
            )

    def check_text(self, characters: int) -> None:
        """`characters`: as `text_volume` counts them (the hook path counts them in the fast reject's
        walk, clinical/timeline/relevance.py, so the record is walked once)."""
        if characters > self.max_text_chars:
            raise TooCostly(
                f"the record holds more than {self.max_text_chars} characters of distinct text, "
                "more than one call may evaluate"
            )


def text_volume(resources: Iterable[object], element_cap: int, stop_above: int) -> int:
    """Characters of the distinct strings in `resources`, each counted up to `element_cap`; the count
    stops once it passes `stop_above`, so measuring a hostile record costs no more than the budget."""
    seen: set[str] = set()
    total = 0
    pending: list[Any] = list(resources)
    while pending:
        value = pending.pop()
        if isinstance(value, str):
            if value not in seen:
                seen.add(value)
                total += min(len(value), element_cap)
                if total > stop_above:
                    return total
        elif isinstance(value, dict):
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
    return total


class EvaluationPool:
    """A bounded pool of evaluation threads: `workers` run, `max_queued` wait, the rest are refused."""

    def __init__(self, workers: int, max_queued: int) -> None:
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="evaluation")
        self._capacity = workers + max_queued
        self._admitted = 0
        # Evaluations end on worker threads: the count they give back is shared with the event loop.
        self._lock = threading.Lock()

    @property
    def admitted(self) -> int:
        """Evaluations running or waiting, including overrun ones nobody waits for any more."""
        with self._lock:
            return self._admitted

    def _admit(self) -> bool:
        with self._lock:
            if self._admitted >= self._capacity:
                return False
            self._admitted += 1
            return True

    def _leave(self, _: Future[Any]) -> None:
        with self._lock:
            self._admitted -= 1

    async def run(self, work: Callable[[], T], deadline_seconds: float) -> T:
        """`work()` on a worker thread; EvaluationBusy when the pool is full, EvaluationOverran past the
        deadline (queueing included). An overrun evaluation still holds its place until it ends."""
        if not self._admit():
            raise EvaluationBusy("every evaluation worker is busy; retry shortly", retry_after_seconds=1)
        try:
            future = self._executor.submit(work)
        except BaseException:
            self._leave(Future())
            raise
        future.add_done_callback(self._leave)
        try:
            async with asyncio.timeout(deadline_seconds):
                return await asyncio.wrap_future(future)
        except TimeoutError:
            future.cancel()  # one still queued never starts
            raise EvaluationOverran(
                "the record could not be evaluated within the evaluation deadline"
            ) from None

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
