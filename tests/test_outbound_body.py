"""service.fhir_access.outbound.read_bounded: a response body is decoded incrementally and refused once its
wire bytes or its decoded bytes pass the cap; one coding at most (gzip or deflate)."""

from __future__ import annotations

import gzip
import zlib
from collections.abc import AsyncIterator

import httpx
import pytest

from service.fhir_access.outbound import AllowanceSpent, BodyRefused, read_bounded

DOCUMENT = b'{"resourceType": "Patient", "id": "p1"}'
CAP = 1024


class _Chunks(httpx.AsyncByteStream):
    def __init__(self, data: bytes, size: int = 100) -> None:
        self._data, self._size = data, size

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for start in range(0, len(self._data), self._size):
            yield self._data[start : start + self._size]


def _response(body: bytes, coding: str | None) -> httpx.Response:
    headers = {"content-encoding": coding} if coding is not None else {}
    return httpx.Response(200, headers=headers, stream=_Chunks(body))


@pytest.mark.parametrize(
    ("coding", "body"),
    [
        (None, DOCUMENT),
        ("identity", DOCUMENT),
        ("gzip", gzip.compress(DOCUMENT)),
        ("GZip", gzip.compress(DOCUMENT)),
        ("deflate", zlib.compress(DOCUMENT)),
        ("deflate", zlib.compress(DOCUMENT)[2:-4]),
        ("gzip, identity", gzip.compress(DOCUMENT)),
    ],
    ids=["none", "identity", "gzip", "gzip-mixed-case", "deflate-zlib", "deflate-raw", "gzip-identity"],
)
async def test_accepted_codings_are_decoded(coding: str | None, body: bytes) -> None:
    assert await read_bounded(_response(body, coding), CAP) == DOCUMENT


@pytest.mark.parametrize(
    ("coding", "body", "reason"),
    [
        ("gzip, gzip", gzip.compress(gzip.compress(DOCUMENT)), "stacked"),
        ("deflate, gzip", gzip.compress(zlib.compress(DOCUMENT)), "stacked"),
        ("br", DOCUMENT, "not one we accept"),
        ("x-evil", DOCUMENT, "not one we accept"),
        ("gzip", gzip.compress(DOCUMENT)[:-6], "truncated"),
        ("gzip", gzip.compress(DOCUMENT) + b"more", "after its compressed stream"),
        ("gzip", DOCUMENT, "not valid"),
        (None, b" " * (CAP + 1), "exceeds"),
        ("gzip", gzip.compress(b" " * (1 << 24)), "decoded response body exceeds"),
    ],
    ids=[
        "stacked",
        "stacked-mixed",
        "brotli",
        "unknown",
        "truncated",
        "trailing",
        "not-gzip",
        "wire",
        "bomb",
    ],
)
async def test_refused_bodies(coding: str | None, body: bytes, reason: str) -> None:
    with pytest.raises(BodyRefused, match=reason):
        await read_bounded(_response(body, coding), CAP)


async def test_a_bomb_is_inflated_only_up_to_the_cap() -> None:
    """16 MiB of spaces compress to 16 kB; inflating stops one read past the 1 kB cap."""
    produced: list[int] = []
    original = zlib.decompressobj

    def counting(*args: int) -> object:
        inner = original(*args)

        class Counting:
            def decompress(self, data: bytes, max_length: int = 0) -> bytes:
                out = inner.decompress(data, max_length)
                produced.append(len(out))
                return out

            def __getattr__(self, name: str) -> object:
                return getattr(inner, name)

        return Counting()

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(zlib, "decompressobj", counting)
        with pytest.raises(BodyRefused):
            await read_bounded(_response(gzip.compress(b" " * (1 << 24)), "gzip"), CAP)
    assert sum(produced) <= CAP + 1


class _Allowance:
    """What is left of one hook call's byte budget, shared by its reads."""

    def __init__(self, total: int) -> None:
        self.left = total

    def remaining(self) -> int:
        return self.left

    def spend(self, decoded_bytes: int) -> None:
        self.left -= decoded_bytes


@pytest.mark.parametrize("coding", [None, "gzip"])
async def test_reads_sharing_an_allowance_stop_when_it_is_spent(coding: str | None) -> None:
    # Issue 17 item 4: each answer under its own cap, together over the call's budget.
    body = b" " * 600
    encoded = gzip.compress(body) if coding == "gzip" else body
    allowance = _Allowance(1000)
    assert await read_bounded(_response(encoded, coding), CAP, allowance) == body
    with pytest.raises(AllowanceSpent):
        await read_bounded(_response(encoded, coding), CAP, allowance)
    # Decoded no further than what was left (plus one chunk on the wire at most).
    assert allowance.left >= -100


async def test_a_declared_length_over_the_allowance_is_refused_before_reading() -> None:
    response = httpx.Response(200, headers={"content-length": "600"}, stream=_Chunks(b" " * 600))
    with pytest.raises(AllowanceSpent):
        await read_bounded(response, CAP, _Allowance(500))
