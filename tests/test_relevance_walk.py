"""The fast reject's walk, compiled (tools/compile_walk.py) and in Python
(clinical/timeline/relevance_walk.py): the compiled one is used only when it was compiled from the source
as it is, and both answer the same on the same records (what is left out, the text counted, over budget
or not). test_relevance.py tests the walk the service uses."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_relevance import BUDGET, Case, catalog, loose_records, mixed_cases, record_of

from bench.generate import HEAVY, TYPICAL, patient_resources
from bench.lean import lean_resources
from clinical.patient_record import PatientRecord
from clinical.timeline import relevance, relevance_walk

SOURCE = Path(relevance_walk.__file__).read_bytes()


def compiled_walk() -> type[relevance_walk.Walk]:
    module = relevance._compiled_walk()
    if module is None or relevance.walk_implementation(module, SOURCE) is relevance_walk.Walk:
        if os.environ.get("CI") == "true":
            pytest.fail("the compiled walk is missing or stale under CI: `make install` compiles it")
        pytest.skip("the compiled walk is not built or is stale: run `make install` (tools/compile_walk.py)")
    return relevance.walk_implementation(module, SOURCE)


def test_the_service_uses_the_compiled_walk_when_it_is_built() -> None:
    assert relevance.Walk is compiled_walk()
    assert relevance.WALK_COMPILED


def fake_compiled(digest: str | None) -> ModuleType:
    module = ModuleType("fake_compiled_walk")
    module.Walk = SimpleNamespace  # type: ignore[attr-defined]
    if digest is not None:
        module.SOURCE_SHA256 = digest  # type: ignore[attr-defined]
    return module


# case: (compiled module, the Python walk expected)
IMPLEMENTATIONS: dict[str, tuple[ModuleType | None, bool]] = {
    "not built": (None, True),
    "compiled from this source": (fake_compiled(hashlib.sha256(SOURCE).hexdigest()), False),
    "compiled from an earlier source": (
        fake_compiled(hashlib.sha256(SOURCE + b"# edited").hexdigest()),
        True,
    ),
    "no digest": (fake_compiled(None), True),
}


@pytest.mark.parametrize(("module", "python_expected"), IMPLEMENTATIONS.values(), ids=IMPLEMENTATIONS.keys())
def test_a_compiled_walk_is_used_only_when_compiled_from_the_source_as_it_is(
    module: ModuleType | None, python_expected: bool
) -> None:
    chosen = relevance.walk_implementation(module, SOURCE)
    assert (chosen is relevance_walk.Walk) == python_expected
    if not python_expected:
        assert module is not None and chosen is module.Walk


def screened_with(
    walk: type[relevance_walk.Walk], record: PatientRecord, drafts: list[dict[str, Any]], stop_above: int
) -> tuple[list[str], int, int, bool]:
    original = relevance.Walk
    relevance.Walk = walk
    try:
        screening = relevance.screen(record, drafts, catalog(), element_cap=20_000, stop_above=stop_above)
    finally:
        relevance.Walk = original
    kept = [f"{kind}/{r.get('id')}/{id(r)}" for kind, rs in screening.record.by_type.items() for r in rs]
    return kept, screening.text_chars, screening.dismissed, screening.over_budget


def both_agree(record: PatientRecord, drafts: list[dict[str, Any]], stop_above: int = 10**9) -> None:
    compiled = screened_with(compiled_walk(), record, drafts, stop_above)
    assert compiled == screened_with(relevance_walk.Walk, record, drafts, stop_above)


@BUDGET
@given(mixed_cases())
def test_both_walks_leave_out_the_same_resources(case: Case) -> None:
    both_agree(record_of(case.resources), case.drafts)


@BUDGET
@given(loose_records(), st.integers(1, 200))
def test_both_walks_count_the_same_text_and_stop_at_the_same_budget(
    loose: tuple[PatientRecord, list[dict[str, Any]]], stop_above: int
) -> None:
    record, drafts = loose
    both_agree(record, drafts, stop_above)


BENCH_RECORDS: dict[str, Callable[[], list[dict[str, Any]]]] = {
    "typical": lambda: patient_resources(TYPICAL),
    "heavy": lambda: patient_resources(HEAVY),
    "lean": lean_resources,
}


@pytest.mark.parametrize("name", BENCH_RECORDS)
def test_both_walks_agree_on_the_benchmark_records(name: str) -> None:
    resources = BENCH_RECORDS[name]()
    patient_id = next(r["id"] for r in resources if r["resourceType"] == "Patient")
    record = record_of(resources, patient_id)
    both_agree(record, [])
    dismissed = screened_with(compiled_walk(), record, [], 10**9)[2]
    assert dismissed > 2000 if name != "typical" else dismissed >= 0
