"""Helpers for the hostile-conditions tests: a malicious HTTP server (canned answers, bombs, cookies),
a liveness watcher, the process's resident memory, and decompression bombs.

Every server here is real HTTP on 127.0.0.1 (uvicorn in a background thread, see fhir_server.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gzip
import threading
import zlib
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from fhir_server import serve_asgi
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

LIVENESS_BUDGET_SECONDS = 1.0


@dataclass
class Seen:
    path: str
    headers: dict[str, str]


@dataclass
class MaliciousServer:
    """Answers every GET with `body` and `headers` (set per test); records what it was sent."""

    body: bytes = b"{}"
    headers: dict[str, str] = field(default_factory=lambda: {"content-type": "application/fhir+json"})
    status_code: int = 200
    seen: list[Seen] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    async def _answer(self, request: Request) -> Response:
        with self._lock:
            self.seen.append(Seen(request.url.path, dict(request.headers)))
            body, headers, status = self.body, dict(self.headers), self.status_code
        response = Response(body, status_code=status)
        # Raw header list: a Response would add or fold its own; the point is to send ours as they are.
        response.raw_headers = [(b"content-length", str(len(body)).encode())] + [
            (name.lower().encode(), value.encode()) for name, value in headers.items()
        ]
        return response

    @contextlib.contextmanager
    def running(self) -> Iterator[str]:
        app = Starlette(routes=[Route("/{path:path}", self._answer, methods=["GET"])])
        with serve_asgi(app) as url:
            yield url


@functools.cache
def gzip_bomb(decoded_bytes: int, layers: int = 1) -> bytes:
    """`decoded_bytes` of JSON whitespace inside `layers` of gzip (a GiB is about 1 MB once, 2 kB
    twice). Cached: making one takes a few seconds."""
    if layers > 1:
        return gzip.compress(gzip_bomb(decoded_bytes, layers - 1), compresslevel=9)
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    chunk = b" " * (1 << 20)
    parts = [compressor.compress(b"{")]
    for _ in range(decoded_bytes // len(chunk)):
        parts.append(compressor.compress(chunk))
    parts.append(compressor.compress(b"}"))
    parts.append(compressor.flush())
    return b"".join(parts)


def resident_bytes() -> int:
    """This process's resident set size, from /proc (Linux)."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * 4096


@dataclass
class LivenessWatch:
    answered: int = 0
    late_or_failed: list[str] = field(default_factory=list)


@contextlib.asynccontextmanager
async def watching_liveness(service_url: str, interval: float = 0.1) -> AsyncIterator[LivenessWatch]:
    """Polls GET /health/live while the block runs; each poll must answer 200 within a second."""
    watch = LivenessWatch()
    stop = asyncio.Event()

    async def poll() -> None:
        async with httpx.AsyncClient(timeout=LIVENESS_BUDGET_SECONDS) as client:
            while not stop.is_set():
                try:
                    response = await client.get(f"{service_url}/health/live")
                    if response.status_code == 200:
                        watch.answered += 1
                    else:
                        watch.late_or_failed.append(f"HTTP {response.status_code}")
                except httpx.HTTPError as error:
                    watch.late_or_failed.append(type(error).__name__)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), interval)

    poller = asyncio.create_task(poll())
    try:
        yield watch
    finally:
        stop.set()
        await poller


def assert_live_throughout(watch: LivenessWatch) -> None:
    assert watch.answered > 0, "liveness was never polled: this test would prove nothing"
    assert watch.late_or_failed == [], f"liveness did not answer within a second: {watch.late_or_failed}"


def outcome_of(response: httpx.Response) -> Mapping[str, Any]:
    document: dict[str, Any] = response.json()
    assert document["resourceType"] == "OperationOutcome"
    return document
