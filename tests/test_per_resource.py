"""The per-timeline memo of what readers derive from a resource (clinical/timeline/per_resource.py):
derived once per resource within one timeline, never kept after it, never shared with an enclosing
block, and keyed by the resource itself, not by its content."""

from __future__ import annotations

from typing import Any

import pytest
from clinical_support import administration, timeline

from clinical.timeline import exposures, per_resource
from clinical.timeline.per_resource import remembered_for, remembering_resources


def counting(resource: dict[str, Any], derived: list[str]) -> str:
    derived.append(str(resource["id"]))
    return str(resource["id"])


def test_a_resource_is_derived_once_within_a_block_and_afresh_after_it() -> None:
    derived: list[str] = []
    owner = object()
    resource = {"id": "ma-1"}
    with remembering_resources():
        for _ in range(3):
            assert remembered_for(owner, resource, lambda: counting(resource, derived)) == "ma-1"
    assert derived == ["ma-1"]
    assert per_resource._RESOURCE_MEMO.get() is None
    remembered_for(owner, resource, lambda: counting(resource, derived))
    assert derived == ["ma-1"] * 2  # outside a block nothing is remembered


def test_a_block_within_another_starts_empty() -> None:
    derived: list[str] = []
    owner = object()
    resource = {"id": "ma-1"}
    with remembering_resources():
        remembered_for(owner, resource, lambda: counting(resource, derived))
        with remembering_resources():  # another day's timeline of the same chart
            remembered_for(owner, resource, lambda: counting(resource, derived))
        remembered_for(owner, resource, lambda: counting(resource, derived))
    assert derived == ["ma-1"] * 2


def test_equal_resources_and_other_owners_are_derived_on_their_own() -> None:
    derived: list[str] = []
    first, second = {"id": "ma-1"}, {"id": "ma-1"}
    one, other = object(), object()
    with remembering_resources():
        remembered_for(one, first, lambda: counting(first, derived))
        remembered_for(one, second, lambda: counting(second, derived))
        remembered_for(other, first, lambda: counting(first, derived))
    assert derived == ["ma-1"] * 3


def test_building_a_timeline_leaves_nothing_remembered(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[object] = []
    original = per_resource.remembered_for

    def watching(owner: object, resource: dict[str, Any], derive: Any) -> Any:
        memo = per_resource._RESOURCE_MEMO.get()
        assert memo is not None  # the readers run within the timeline's block
        seen.append(resource)
        return original(owner, resource, derive)

    monkeypatch.setattr(exposures, "remembered_for", watching)
    built = timeline([administration("pembrolizumab 200 mg IV", -10)])
    assert [event.agent.id for event in built.therapy] == ["pembrolizumab"]
    assert seen  # the medication use was read through the memo
    assert per_resource._RESOURCE_MEMO.get() is None
