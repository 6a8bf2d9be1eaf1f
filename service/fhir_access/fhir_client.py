"""Async FHIR R4 client: searches with paging, reads, size caps, no redirects, no token leaks.

Resources stay plain JSON (dicts): validating thousands of resources with model classes costs
seconds on a heavy oncology record, and the facts layer reads only a few fields of each.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import httpx
import orjson

from clinical.fhir_data import bundle_resources
from service.exceptions import FhirCallBudgetSpent, FhirServerError
from service.fhir_access.outbound import AllowanceSpent, BodyRefused, ByteAllowance, read_bounded
from service.fhir_access.url_policy import is_under_base
from service.logs import get_logger
from service.metrics import count_fhir_call_budget, count_fhir_query

FHIR_JSON = "application/fhir+json"
# A request is given at least this long even when the deadline is nearly spent (the caller stops
# waiting at its deadline anyway; this only keeps httpx from being handed a zero timeout).
MIN_REQUEST_SECONDS = 0.05
# A pool taken out of use (evicted, or replaced after a leak) is closed this long after.
CLOSE_GRACE_SECONDS = 30.0

log = get_logger("service.fhir_access.fhir_client")


@dataclass(frozen=True)
class FhirEndpoint:
    """The EHR's FHIR server for one hook call. The token lives only as long as the call."""

    base_url: str
    access_token: str | None

    def __repr__(self) -> str:
        return (
            f"FhirEndpoint(base_url={self.base_url!r}, access_token={'***' if self.access_token else None})"
        )

    def url(self, relative: str) -> str:
        return self.base_url.rstrip("/") + "/" + relative.lstrip("/")


@dataclass
class SearchResult:
    resources: list[dict[str, Any]]
    pages: int
    truncated: bool


def _link(bundle: dict[str, Any], relation: str) -> str | None:
    links = bundle.get("link")
    if not isinstance(links, list):
        return None
    for link in links:
        if isinstance(link, dict) and link.get("relation") == relation:
            url = link.get("url")
            return url if isinstance(url, str) and url else None
    return None


def next_link(bundle: dict[str, Any]) -> str | None:
    return _link(bundle, "next")


def self_link(bundle: dict[str, Any]) -> str | None:
    return _link(bundle, "self")


def with_page_size(query: str, page_size: int) -> str:
    if "_count=" in query:
        return query
    separator = "&" if "?" in query else "?"
    return f"{query}{separator}{urlencode({'_count': page_size})}"


class CallBudget:
    """One hook call's share of FHIR access: at most `max_concurrent` requests at a time, a deadline
    (event-loop time) that every request's httpx timeouts are cut to, at most `max_bytes` of decoded
    bodies across every search, page and read of the call, and the page links it has already followed
    (a `next` seen before ends that search: a server looping its pages)."""

    def __init__(
        self, max_concurrent: int, deadline_seconds: float | None, max_bytes: int | None = None
    ) -> None:
        self._semaphore = asyncio.Semaphore(max_concurrent)
        loop_time = asyncio.get_running_loop().time()
        self.deadline = None if deadline_seconds is None else loop_time + deadline_seconds
        self.max_bytes = max_bytes
        self.bytes_read = 0
        self.bytes_spent = False  # counted once per call, however many reads it stops
        self.followed: set[str] = set()

    def remaining(self) -> float | None:
        if self.deadline is None:
            return None
        return max(MIN_REQUEST_SECONDS, self.deadline - asyncio.get_running_loop().time())

    def bytes(self) -> ByteAllowance | None:
        return None if self.max_bytes is None else _CallBytes(self)

    def first_visit(self, url: str) -> bool:
        """True the first time this call follows `url`; a link seen before is a loop."""
        if url in self.followed:
            return False
        self.followed.add(url)
        return True

    async def __aenter__(self) -> None:
        await self._semaphore.acquire()

    async def __aexit__(self, *exc: object) -> None:
        self._semaphore.release()


@dataclass
class _CallBytes:
    budget: CallBudget

    def remaining(self) -> int:
        assert self.budget.max_bytes is not None
        return max(0, self.budget.max_bytes - self.budget.bytes_read)

    def spend(self, decoded_bytes: int) -> None:
        self.budget.bytes_read += decoded_bytes


@dataclass
class _Pool:
    """One FHIR origin's httpx client, the slots we hand out for it (as many as its connections), and
    how many of our requests hold one (sending, or reading the response)."""

    http: httpx.AsyncClient
    max_connections: int
    in_flight: int = 0
    slots: asyncio.Semaphore = field(init=False)

    def __post_init__(self) -> None:
        self.slots = asyncio.Semaphore(self.max_connections)


def _connections(http: httpx.AsyncClient) -> list[Any]:
    """The connections of an httpx client's pools. httpx keeps its transports private; httpcore's
    `AsyncConnectionPool.connections` is public. Nothing is found if either changes shape."""
    transports = [getattr(http, "_transport", None), *getattr(http, "_mounts", {}).values()]
    found: list[Any] = []
    for transport in transports:
        connections = getattr(getattr(transport, "_pool", None), "connections", None)
        if isinstance(connections, list):
            found.extend(connections)
    return found


def _leaked_slots(pool: _Pool) -> int:
    """Connections neither idle nor closed beyond the number of our requests holding a slot: each of
    those holds at most one connection, so the rest belong to nobody."""
    busy = sum(
        1 for connection in _connections(pool.http) if not connection.is_idle() and not connection.is_closed()
    )
    return max(0, busy - pool.in_flight)


def _transport_failure(error: httpx.HTTPError, what: str) -> FhirServerError:
    """A timeout or transport error while sending or reading, counted and described without details."""
    if isinstance(error, httpx.TimeoutException):
        count_fhir_query("timeout")
        return FhirServerError(f"FHIR server timed out for {what}")
    count_fhir_query("transport_error")
    return FhirServerError(f"FHIR server could not be reached for {what} ({type(error).__name__})")


class FhirClient:
    """FHIR requests that cannot wedge the connection pool (encode/httpcore#1093).

    A request cancelled, or timed out, while it waits inside httpcore for a pool slot can leave a
    half-made connection holding the slot for good; a burst of hook calls cut short by their deadline
    once wedged the shared pool until restart. So:

    - each FHIR origin gets its own pool (`new_http`): one slow EHR fills only its own slots;
    - a request first takes one of that pool's slots from our own semaphore (as many as the pool has
      connections), so httpcore always has a free slot and nothing ever waits inside it;
    - it is then sent in a task nobody cancels, ended by its httpx timeouts (cut to the hook call's
      remaining deadline); the caller stops waiting at its deadline and an abandoned response is
      closed when it arrives. Reading a body may be cancelled: that connection is ours.

    Should a pool still hold connections that none of our requests owns (`leaked_slots`, which
    readiness reports), the next request refused for lack of a slot replaces it.
    """

    def __init__(
        self,
        http: httpx.AsyncClient | None = None,
        *,
        page_size: int,
        max_pages: int,
        max_response_bytes: int,
        max_concurrent_requests: int,
        new_http: Callable[[], httpx.AsyncClient] | None = None,
        max_connections_per_server: int = 100,
        max_servers: int = 64,
        max_call_bytes: int | None = None,
    ) -> None:
        if (http is None) == (new_http is None):
            raise ValueError("give either one shared httpx client or a factory of per-server clients")
        self._shared = http
        self._new_http = new_http
        self._max_connections = max_connections_per_server
        self._max_servers = max_servers
        self._pools: OrderedDict[str, _Pool] = OrderedDict()
        self._retired: list[_Pool] = []
        self._page_size = page_size
        self._max_pages = max_pages
        self._max_response_bytes = max_response_bytes
        self._max_concurrent_requests = max_concurrent_requests
        self._max_call_bytes = max_call_bytes
        # Sends and closes nobody waits for any more; referenced so they are not collected mid-flight.
        self._detached: set[asyncio.Task[Any]] = set()
        self.pools_replaced = 0

    def limiter(self, deadline_seconds: float | None = None) -> CallBudget:
        """A per-hook-call bound on concurrent requests to one EHR, on their time and on their bytes."""
        return CallBudget(self._max_concurrent_requests, deadline_seconds, self._max_call_bytes)

    def _pool(self, url: str) -> _Pool:
        if self._shared is not None:
            return self._pools.setdefault("", _Pool(self._shared, self._max_connections))
        assert self._new_http is not None
        parsed = httpx.URL(url)
        origin = f"{parsed.scheme}://{parsed.host}:{parsed.port}"
        pool = self._pools.get(origin)
        if pool is None:
            pool = self._pools[origin] = _Pool(self._new_http(), self._max_connections)
            if len(self._pools) > self._max_servers:
                _, evicted = self._pools.popitem(last=False)
                self._close_later(evicted)
        self._pools.move_to_end(origin)
        return pool

    def _close_later(self, pool: _Pool) -> None:
        self._retired.append(pool)

        async def close() -> None:
            # Its requests end by their own timeouts (cut to a hook deadline); closing before they do
            # would only turn them into errors.
            await asyncio.sleep(CLOSE_GRACE_SECONDS)
            self._retired.remove(pool)
            await pool.http.aclose()

        self._detach(close())

    def _detach(self, coroutine: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._detached.add(task)
        task.add_done_callback(self._detached.discard)
        return task

    def _replace_leaking_pool(self, pool: _Pool) -> None:
        replaced = False
        for origin, candidate in list(self._pools.items()):
            if candidate is pool:
                del self._pools[origin]
                replaced = True
        if not replaced:
            return  # another request of the same pool saw it first
        self.pools_replaced += 1
        count_fhir_query("pool_leak")
        log.error("fhir_pool_leak", pool_slots=pool.max_connections, our_requests=pool.in_flight)
        if self._shared is None:
            self._close_later(pool)

    async def _send(self, pool: _Pool, request: httpx.Request) -> httpx.Response:
        # Our own slot first: httpcore then always finds a free connection slot at once and never has a
        # request waiting in its pool, where a timeout racing the slot's assignment orphans the new
        # connection just as a cancellation does. Waiting on a semaphore is safe to time out.
        pool_wait = request.extensions.get("timeout", {}).get("pool")
        try:
            async with asyncio.timeout(pool_wait):
                await pool.slots.acquire()
        except TimeoutError:
            raise httpx.PoolTimeout("no free connection slot for this FHIR server", request=request) from None
        pool.in_flight += 1
        try:
            return await pool.http.send(request, stream=True)
        except httpx.PoolTimeout:
            self._give_back(pool)
            if _leaked_slots(pool):
                self._replace_leaking_pool(pool)
            raise
        except BaseException:
            self._give_back(pool)
            raise

    @staticmethod
    def _give_back(pool: _Pool) -> None:
        pool.in_flight -= 1
        pool.slots.release()

    async def _release(self, pool: _Pool, response: httpx.Response) -> None:
        try:
            await response.aclose()
        finally:
            self._give_back(pool)

    def _release_when_sent(self, pool: _Pool, sending: asyncio.Task[httpx.Response]) -> None:
        def done(task: asyncio.Task[httpx.Response]) -> None:
            if not task.cancelled() and task.exception() is None:
                self._detach(self._release(pool, task.result()))

        sending.add_done_callback(done)

    @staticmethod
    def _timeout(pool: _Pool, budget: CallBudget) -> httpx.Timeout | None:
        remaining = budget.remaining()
        if remaining is None:
            return None
        configured = pool.http.timeout

        def cut(seconds: float | None) -> float:
            return remaining if seconds is None else min(seconds, remaining)

        return httpx.Timeout(
            connect=cut(configured.connect),
            read=cut(configured.read),
            write=cut(configured.write),
            pool=cut(configured.pool),
        )

    async def get_json(
        self, endpoint: FhirEndpoint, url: str, limiter: CallBudget, what: str
    ) -> dict[str, Any] | None:
        """GET a FHIR JSON resource; None on 404/410 (gone or never there)."""
        if not is_under_base(url, endpoint.base_url):
            # A server handing out links to another host must not turn us into its proxy.
            raise FhirServerError(f"FHIR server returned a link outside its base URL for {what}")
        headers = {"Accept": FHIR_JSON}
        if endpoint.access_token:
            headers["Authorization"] = f"Bearer {endpoint.access_token}"
        async with limiter:
            body = await self._get(url, headers, limiter, what)
        if body is None:
            return None
        try:
            parsed = orjson.loads(body)
        except orjson.JSONDecodeError:
            count_fhir_query("invalid_json")
            raise FhirServerError(f"FHIR server answered non-JSON for {what}") from None
        if not isinstance(parsed, dict):
            count_fhir_query("invalid_json")
            raise FhirServerError(f"FHIR server answered a JSON value that is not a resource for {what}")
        count_fhir_query("ok")
        return parsed

    async def _get(self, url: str, headers: dict[str, str], budget: CallBudget, what: str) -> bytes | None:
        pool = self._pool(url)
        timeout = self._timeout(pool, budget)
        request = pool.http.build_request(
            "GET", url, headers=headers, timeout=timeout if timeout is not None else pool.http.timeout
        )
        sending = self._detach(self._send(pool, request))
        try:
            response: httpx.Response = await asyncio.shield(sending)
        except asyncio.CancelledError:
            self._release_when_sent(pool, sending)
            raise
        except httpx.HTTPError as error:
            raise _transport_failure(error, what) from None
        try:
            if response.status_code in (404, 410):
                count_fhir_query("not_found")
                return None
            if response.status_code != 200:
                count_fhir_query("http_error")
                raise FhirServerError(f"FHIR server answered HTTP {response.status_code} for {what}")
            return await read_bounded(response, self._max_response_bytes, budget.bytes())
        except AllowanceSpent:
            count_fhir_query("refused_body")
            if not budget.bytes_spent:
                budget.bytes_spent = True
                count_fhir_call_budget("bytes")
            raise FhirCallBudgetSpent(
                f"the FHIR data for this call passed its byte budget ({budget.max_bytes} bytes) at {what}"
            ) from None
        except BodyRefused as refused:
            count_fhir_query("refused_body")
            raise FhirServerError(f"FHIR response for {what}: {refused}") from None
        except httpx.HTTPError as error:
            raise _transport_failure(error, what) from None
        finally:
            # Shielded: a deadline arriving now must not leave the connection half closed.
            await asyncio.shield(self._detach(self._release(pool, response)))

    def leaked_slots(self) -> int:
        """Pool slots held by connections that none of our requests owns (the httpcore#1093 state)."""
        return sum(_leaked_slots(pool) for pool in self._pools.values())

    async def aclose(self) -> None:
        for task in list(self._detached):
            task.cancel()
        await asyncio.gather(*self._detached, return_exceptions=True)
        pools = [*self._pools.values(), *self._retired]
        self._pools, self._retired = OrderedDict(), []
        if self._shared is None:
            for pool in pools:
                await pool.http.aclose()

    async def search(
        self, endpoint: FhirEndpoint, query: str, limiter: CallBudget, what: str
    ) -> SearchResult:
        url = endpoint.url(with_page_size(query, self._page_size))
        limiter.first_visit(url)
        first = await self.get_json(endpoint, url, limiter, what)
        if first is None:
            return SearchResult([], 1, False)
        if first.get("resourceType") != "Bundle":
            raise FhirServerError(f"FHIR search for {what} did not return a Bundle")
        return await self.follow_pages(endpoint, first, limiter, what)

    async def follow_pages(
        self, endpoint: FhirEndpoint, bundle: dict[str, Any], limiter: CallBudget, what: str
    ) -> SearchResult:
        """Collect a searchset's resources, following `next` links up to the page bound; a link this
        call has followed already (a page pointing to itself or back) ends the search as truncated."""
        resources = bundle_resources(bundle)
        pages = 1
        link = next_link(bundle)
        own = self_link(bundle)
        if own is not None:
            limiter.first_visit(self._absolute(endpoint, own))
        while link is not None:
            link = self._absolute(endpoint, link)
            if pages >= self._max_pages:
                return SearchResult(resources, pages, True)
            if not limiter.first_visit(link):
                count_fhir_call_budget("page_loop")
                log.warning("fhir_page_loop", what=what, pages=pages)
                return SearchResult(resources, pages, True)
            page = await self.get_json(endpoint, link, limiter, what)
            pages += 1
            if page is None or page.get("resourceType") != "Bundle":
                raise FhirServerError(f"FHIR paging for {what} did not return a Bundle")
            resources.extend(bundle_resources(page))
            link = next_link(page)
        return SearchResult(resources, pages, False)

    @staticmethod
    def _absolute(endpoint: FhirEndpoint, link: str) -> str:
        return link if link.startswith(("http://", "https://")) else endpoint.url(link)

    async def read(
        self, endpoint: FhirEndpoint, reference: str, limiter: CallBudget
    ) -> dict[str, Any] | None:
        resource_type = reference.split("/", 1)[0]
        return await self.get_json(endpoint, endpoint.url(reference), limiter, f"{resource_type} read")
