"""What several readers derive from the same resource, derived once per timeline: the therapy events and
the treatment changes both match every medication use of the record against the therapy catalog.

The memo is keyed by the resource's identity and lives only while one timeline is built
(`remembering_resources()`), so nothing of a patient outlives it. Unlike the text memo it is never
shared with an enclosing block: another day's record may resolve a resource's Medication differently.
Outside a block nothing is remembered.

It adds no container per resource beyond the remembered value: a large record's evaluation allocates
enough already, and each object kept alive brings the next garbage collection nearer."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

T = TypeVar("T")


class _Memo:
    def __init__(self) -> None:
        # owner -> id(resource) -> what was derived from it
        self.by_owner: dict[object, dict[int, Any]] = {}
        # The resources remembered, held so that no other object takes one's id during the block.
        self.held: list[object] = []


_RESOURCE_MEMO: ContextVar[_Memo | None] = ContextVar("resource_memo", default=None)


@contextmanager
def remembering_resources() -> Iterator[None]:
    """Within this block `remembered_for` derives a value once per (owner, resource)."""
    token = _RESOURCE_MEMO.set(_Memo())
    try:
        yield
    finally:
        _RESOURCE_MEMO.reset(token)


def remembered_for(owner: object, resource: dict[str, Any], derive: Callable[[], T]) -> T:
    """`derive()`, once per (owner, resource) within a `remembering_resources()` block. `derive` must
    read nothing but the resource and what stays the same for the whole timeline (the record's
    Medications, the vocabularies); its value is shared, never changed by a caller."""
    memo = _RESOURCE_MEMO.get()
    if memo is None:
        return derive()
    remembered = memo.by_owner.get(owner)
    if remembered is None:
        remembered = memo.by_owner[owner] = {}
    key = id(resource)
    if key in remembered:
        found: T = remembered[key]
        return found
    value = remembered[key] = derive()
    memo.held.append(resource)
    return value
