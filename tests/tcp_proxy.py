"""A TCP proxy the test controls, between the service and PostgreSQL: a database outage on demand.

    with TcpProxy(("127.0.0.1", 5432)).running() as proxy:
        url = f"postgresql+asyncpg://postgres@127.0.0.1:{proxy.port}/test"
        proxy.cut()      # every connection reset, new ones refused: the database is down
        proxy.pause()    # connections accepted, nothing forwarded either way: the database hangs
        proxy.restore()  # forwarding again (connections made before a cut stay closed)

It runs its own event loop in a thread, so tests (sync or async) and service processes can use it.
Bound to 127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

Mode = Literal["forward", "refuse", "blackhole"]
CHUNK = 64 * 1024


class TcpProxy:
    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.port = 0
        self.mode: Mode = "forward"
        self.connections_accepted = 0
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._resumed = asyncio.Event()
        self._thread = threading.Thread(target=self._loop.run_forever, name="tcp-proxy", daemon=True)

    @contextmanager
    def running(self) -> Iterator[TcpProxy]:
        self._thread.start()
        self._call(self._start())
        try:
            yield self
        finally:
            self._call(self._stop())
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
            self._loop.close()

    def cut(self) -> None:
        """Reset every open connection and refuse new ones (a database that went away)."""
        self._call(self._set_mode("refuse", close_open=True))

    def pause(self) -> None:
        """Stop forwarding, in both directions, on open and new connections (a hung database)."""
        self._call(self._set_mode("blackhole", close_open=False))

    def restore(self) -> None:
        self._call(self._set_mode("forward", close_open=False))

    def _call(self, coroutine: object) -> None:
        future = asyncio.run_coroutine_threadsafe(coroutine, self._loop)  # type: ignore[arg-type]
        future.result(timeout=30)

    async def _start(self) -> None:
        self._resumed.set()
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def _stop(self) -> None:
        await self._set_mode("refuse", close_open=True)
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _set_mode(self, mode: Mode, *, close_open: bool) -> None:
        self.mode = mode
        if mode == "forward":
            self._resumed.set()
        else:
            self._resumed.clear()
        if close_open:
            for writer in list(self._writers):
                writer.transport.abort()
            self._writers.clear()

    async def _handle(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        self.connections_accepted += 1
        if self.mode == "refuse":
            client_writer.transport.abort()
            return
        await self._resumed.wait()
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            client_writer.transport.abort()
            return
        self._writers.update((client_writer, upstream_writer))
        try:
            await asyncio.gather(
                self._pipe(client_reader, upstream_writer), self._pipe(upstream_reader, client_writer)
            )
        finally:
            for writer in (client_writer, upstream_writer):
                self._writers.discard(writer)
                writer.transport.abort()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while True:
                data = await reader.read(CHUNK)
                if not data:
                    break
                # A paused proxy holds what it read until it is restored (or cut).
                await self._resumed.wait()
                if writer.transport.is_closing():
                    break
                writer.write(data)
                await writer.drain()
        writer.transport.abort()
