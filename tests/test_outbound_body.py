"""service.outbound.read_bounded: a response body is decoded incrementally and refused once its wire
bytes or its decoded bytes pass the cap; one coding at most (gzip or deflate)."""

from __future__ import annotations

import gzip
import zlib
from collections.abc import AsyncIterator

import httpx
import pytest

from service.outbound import BodyRefused, read_bounded

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
