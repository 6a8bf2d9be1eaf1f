"""The evaluation pool and the CPU budget (issue 17, item 3), without HTTP: what the text budget counts,
and how the pool admits, refuses and drops work. The served behaviour is in test_hostile_budgets.py."""

from __future__ import annotations

import asyncio
import threading

import pytest

from service.evaluation_pool import EvaluationBudget, EvaluationPool, text_volume
from service.exceptions import EvaluationBusy, EvaluationOverran, TooCostly
from service.settings import Settings

NOTE = "new confusion and word-finding difficulty"

# case: (resources, element cap, characters counted)
VOLUMES: dict[str, tuple[list[object], int, int]] = {
    "one string": ([{"text": NOTE}], 1000, len(NOTE)),
    "the same text twice is read once": ([{"a": NOTE}, {"b": [NOTE]}], 1000, len(NOTE)),
    "distinct texts add up": ([{"a": NOTE}, {"a": NOTE + "."}], 1000, 2 * len(NOTE) + 1),
    "each element up to the reader's cap": ([{"text": "x" * 5000}], 100, 100),
    "nested lists and objects": ([{"a": [{"b": [{"c": "abc"}]}]}], 1000, 3),
    "numbers, booleans and keys are not text": (
        [{"value": 37.2, "flag": True, "long-key-name": None}],
        1000,
        0,
    ),
}


@pytest.mark.parametrize(("resources", "cap", "expected"), VOLUMES.values(), ids=VOLUMES.keys())
def test_text_volume_counts_distinct_strings_up_to_the_cap(
    resources: list[object], cap: int, expected: int
) -> None:
    assert text_volume(resources, cap, 10**9) == expected


def test_text_volume_stops_counting_once_past_the_budget() -> None:
    resources = [{"text": f"{index:06d}" + "x" * 994} for index in range(10_000)]
    counted = text_volume(resources, 20_000, 5_000)
    assert 5_000 < counted <= 6_000


def test_the_budget_refuses_too_many_resources_or_too_much_text() -> None:
    budget = EvaluationBudget(max_resources=3, max_text_chars=100, element_cap=1000)
    budget.check([{"text": "x" * 100}])
    with pytest.raises(TooCostly, match="resources"):
        budget.check([{}, {}, {}, {}])
    with pytest.raises(TooCostly, match="characters"):
        budget.check([{"text": "x" * 101}])


async def test_a_full_pool_refuses_at_once_and_admits_again_when_work_ends() -> None:
    pool = EvaluationPool(workers=1, max_queued=1)
    release = threading.Event()
    running = asyncio.create_task(pool.run(lambda: release.wait(10), 30))
    queued = asyncio.create_task(pool.run(lambda: "queued", 30))
    await asyncio.sleep(0.05)
    with pytest.raises(EvaluationBusy):
        await pool.run(lambda: "refused", 30)
    release.set()
    assert await running is True
    assert await queued == "queued"
    assert await pool.run(lambda: "admitted", 30) == "admitted"
    assert pool.admitted == 0
    pool.shutdown()


async def test_past_the_deadline_queued_work_never_runs_and_running_work_keeps_its_place() -> None:
    pool = EvaluationPool(workers=1, max_queued=1)
    release = threading.Event()
    ran: list[str] = []
    with pytest.raises(EvaluationOverran):
        await pool.run(lambda: release.wait(10), 0.05)
    with pytest.raises(EvaluationOverran):
        await pool.run(lambda: ran.append("late"), 0.05)
    assert pool.admitted == 1  # the overrun evaluation still runs; the queued one was dropped
    release.set()
    await asyncio.sleep(0.1)
    assert ran == []
    assert pool.admitted == 0
    pool.shutdown()


async def test_the_default_pool_admits_sixteen_concurrent_calls_of_one_worker() -> None:
    """16 connections to one worker (the load test's) all wait for a thread; none is refused 503."""
    defaults = Settings.model_fields
    threads = defaults["evaluation_threads"].default
    pool = EvaluationPool(workers=threads, max_queued=defaults["evaluation_max_queued"].default)
    release = threading.Event()
    calls = [asyncio.create_task(pool.run(lambda: release.wait(10), 30)) for _ in range(16)]
    await asyncio.sleep(0.05)
    assert pool.admitted == 16
    release.set()
    assert await asyncio.gather(*calls) == [True] * 16
    pool.shutdown()
