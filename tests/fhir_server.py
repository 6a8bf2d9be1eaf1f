"""A small loopback FHIR R4 server for tests and benchmarks, and a helper that runs any ASGI app
under uvicorn on 127.0.0.1.

Typical use::

    server = FhirTestServer.from_bundle_file(SEED_BUNDLE, required_token="t0k", delay_seconds=0.05)
    with server.running() as base_url:          # uvicorn on a free loopback port, background thread
        ...                                     # point the CDS service's fhirServer at base_url
    assert server.requests[0].authorization == "Bearer t0k"

    with serve_asgi(create_app(settings)) as service_url:   # any ASGI app, with its lifespan
        httpx.get(f"{service_url}/cds-services")

What the FHIR server answers (application/fhir+json):

* ``GET /{type}?patient=ID&_count=N`` a ``searchset`` Bundle of the resources of that type whose
  ``subject`` or ``patient`` reference is ``Patient/ID`` (``subject=Patient/ID`` and ``_id=ID`` work too;
  other search parameters are ignored, as lenient servers do). Results are paged: ``_count`` (default
  ``page_size``, at most ``max_page_size``) per page, with absolute ``self`` and ``next`` links; the
  ``next`` link carries ``_offset``.
* ``GET /{type}/{id}`` the resource, or 404 with an OperationOutcome.
* With ``required_token`` set, every request needs ``Authorization: Bearer <token>``; otherwise 401.
* With ``delay_seconds`` set, every answer waits that long first (cut short when the client hangs up,
  so a slow server never holds up shutdown).
* ``override(path, ...)`` makes one path answer a canned response (500s, non-JSON, redirects...).

Every request is recorded (method, path, query, Authorization header, client port) in
``server.requests``, in arrival order, before any check, so tests can assert what was asked and how.
The server is thread-safe for that purpose: it runs in uvicorn's thread, tests read from theirs.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qs, urlencode

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive

FHIR_JSON = "application/fhir+json"


@dataclass(frozen=True)
class RecordedRequest:
    """One request the FHIR server received."""

    method: str
    path: str
    query_string: str
    authorization: str | None
    client_port: int | None

    @property
    def params(self) -> dict[str, list[str]]:
        return parse_qs(self.query_string, keep_blank_values=True)

    @property
    def resource_type(self) -> str:
        return self.path.strip("/").split("/", 1)[0]

    @property
    def is_search(self) -> bool:
        return "/" not in self.path.strip("/")


@dataclass(frozen=True)
class CannedResponse:
    status_code: int
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)


def _outcome(status_code: int, code: str, diagnostics: str) -> Response:
    outcome = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": code, "diagnostics": diagnostics}],
    }
    return Response(orjson.dumps(outcome), status_code=status_code, media_type=FHIR_JSON)


def _references_patient(resource: Mapping[str, Any], patient_id: str) -> bool:
    for name in ("subject", "patient"):
        holder = resource.get(name)
        if isinstance(holder, dict):
            reference = holder.get("reference")
            if isinstance(reference, str) and (
                reference == f"Patient/{patient_id}" or reference.endswith(f"/Patient/{patient_id}")
            ):
                return True
    return False


async def _wait_for_disconnect(receive: Receive) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return


class FhirTestServer:
    """An in-memory FHIR server over a fixed set of resources. ``app`` is its ASGI app."""

    def __init__(
        self,
        resources: Iterable[Mapping[str, Any]],
        *,
        required_token: str | None = None,
        delay_seconds: float = 0.0,
        page_size: int = 50,
        max_page_size: int = 500,
    ) -> None:
        self._initial_resources = [dict(resource) for resource in resources]
        self._initial_options = (required_token, delay_seconds, page_size)
        self.max_page_size = max_page_size
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._overrides: dict[str, CannedResponse] = {}
        self._in_flight = 0
        self._max_in_flight = 0
        self._base_url: str | None = None
        self.resources: list[dict[str, Any]] = []
        self.required_token: str | None = None
        self.delay_seconds = 0.0
        self.page_size = page_size
        self.reset()
        self.app: ASGIApp = Starlette(
            routes=[
                Route("/{resource_type}", self._search, methods=["GET"]),
                Route("/{resource_type}/{resource_id}", self._read, methods=["GET"]),
            ]
        )

    @classmethod
    def from_bundle_file(cls, path: Path | str, **options: Any) -> FhirTestServer:
        """Serve the resources of a Bundle (or of a single resource) stored as JSON."""
        document = orjson.loads(Path(path).read_bytes())
        return cls(resources_of(document), **options)

    # -- configuration -----------------------------------------------------------------------

    def reset(self) -> None:
        """Back to the state the constructor made: its resources and options, nothing recorded."""
        required_token, delay_seconds, page_size = self._initial_options
        with self._lock:
            self.resources = [dict(resource) for resource in self._initial_resources]
            self.required_token = required_token
            self.delay_seconds = delay_seconds
            self.page_size = page_size
            self._requests.clear()
            self._overrides.clear()
            self._max_in_flight = self._in_flight

    def add(self, *resources: Mapping[str, Any]) -> None:
        with self._lock:
            self.resources.extend(dict(resource) for resource in resources)

    def override(
        self,
        path: str,
        *,
        status_code: int,
        body: bytes | Mapping[str, Any] = b"",
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Answer every GET of `path` (exact, without query) with this response, before any check."""
        payload = body if isinstance(body, bytes) else orjson.dumps(body)
        with self._lock:
            self._overrides[path] = CannedResponse(status_code, payload, dict(headers or {}))

    # -- observations --------------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """A copy of the requests received so far, in arrival order."""
        with self._lock:
            return list(self._requests)

    def requests_for(self, resource_type: str) -> list[RecordedRequest]:
        return [request for request in self.requests if request.resource_type == resource_type]

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    @property
    def max_in_flight(self) -> int:
        """The most requests this server was answering at one time since the last reset."""
        with self._lock:
            return self._max_in_flight

    # -- running -------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """The base URL while `running()`; the FHIR server's base is the root of that URL."""
        if self._base_url is None:
            raise RuntimeError("the FHIR test server is not running; use `with server.running():`")
        return self._base_url

    @contextlib.contextmanager
    def running(self) -> Iterator[str]:
        """Serve over real HTTP on a free loopback port for the duration of the block."""
        with serve_asgi(self.app) as base_url:
            self._base_url = base_url
            try:
                yield base_url
            finally:
                self._base_url = None

    # -- request handling ----------------------------------------------------------------------

    async def _search(self, request: Request) -> Response:
        return await self._handle(request, self._answer_search)

    async def _read(self, request: Request) -> Response:
        return await self._handle(request, self._answer_read)

    async def _handle(self, request: Request, answer: Callable[[Request], Response]) -> Response:
        recorded = RecordedRequest(
            method=request.method,
            path=request.url.path,
            query_string=request.url.query,
            authorization=request.headers.get("authorization"),
            client_port=request.client.port if request.client else None,
        )
        with self._lock:
            self._requests.append(recorded)
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)
            delay = self.delay_seconds
            canned = self._overrides.get(request.url.path)
            required_token = self.required_token
        try:
            if delay > 0 and not await self._delay(request, delay):
                return Response(status_code=499)  # the client hung up; nobody reads this
            if canned is not None:
                return Response(canned.body, status_code=canned.status_code, headers=dict(canned.headers))
            if required_token is not None and recorded.authorization != f"Bearer {required_token}":
                response = _outcome(401, "login", "a valid bearer token is required")
                response.headers["WWW-Authenticate"] = "Bearer"
                return response
            return answer(request)
        finally:
            with self._lock:
                self._in_flight -= 1

    async def _delay(self, request: Request, seconds: float) -> bool:
        """Wait `seconds`; False when the client disconnected first."""
        sleeper = asyncio.ensure_future(asyncio.sleep(seconds))
        watcher = asyncio.ensure_future(_wait_for_disconnect(request.receive))
        done, pending = await asyncio.wait({sleeper, watcher}, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        return sleeper in done

    def _snapshot(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.resources)

    def _answer_read(self, request: Request) -> Response:
        resource_type = request.path_params["resource_type"]
        resource_id = request.path_params["resource_id"]
        for resource in self._snapshot():
            if resource.get("resourceType") == resource_type and resource.get("id") == resource_id:
                return Response(orjson.dumps(resource), media_type=FHIR_JSON)
        return _outcome(404, "not-found", f"{resource_type}/{resource_id} is not known")

    def _answer_search(self, request: Request) -> Response:
        resource_type = request.path_params["resource_type"]
        params = request.query_params
        try:
            count = int(params.get("_count", self.page_size))
            offset = int(params.get("_offset", 0))
        except ValueError:
            return _outcome(400, "invalid", "_count and _offset must be integers")
        if count < 1 or offset < 0:
            return _outcome(400, "invalid", "_count must be positive and _offset not negative")
        count = min(count, self.max_page_size)

        matches = [r for r in self._snapshot() if r.get("resourceType") == resource_type]
        patient = params.get("patient") or params.get("subject")
        if patient is not None:
            patient_id = patient.rsplit("/", 1)[-1]
            matches = [r for r in matches if _references_patient(r, patient_id)]
        if "_id" in params:
            matches = [r for r in matches if r.get("id") == params["_id"]]

        page = matches[offset : offset + count]
        base = str(request.url.replace(query=""))
        kept = [(key, value) for key, value in params.multi_items() if key not in ("_count", "_offset")]

        def page_url(page_offset: int) -> str:
            return f"{base}?{urlencode([*kept, ('_count', str(count)), ('_offset', str(page_offset))])}"

        links = [{"relation": "self", "url": page_url(offset)}]
        if offset + count < len(matches):
            links.append({"relation": "next", "url": page_url(offset + count)})
        origin = str(request.base_url).rstrip("/")
        bundle = {
            "resourceType": "Bundle",
            "type": "searchset",
            "total": len(matches),
            "link": links,
            "entry": [
                {
                    "fullUrl": f"{origin}/{resource_type}/{resource['id']}",
                    "resource": resource,
                    "search": {"mode": "match"},
                }
                for resource in page
            ],
        }
        if not bundle["entry"]:
            del bundle["entry"]
        return Response(orjson.dumps(bundle), media_type=FHIR_JSON)


def resources_of(document: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The resources of a Bundle's entries, or the document itself when it is a single resource."""
    if document.get("resourceType") != "Bundle":
        return [dict(document)]
    return [
        entry["resource"]
        for entry in document.get("entry", [])
        if isinstance(entry, dict) and isinstance(entry.get("resource"), dict)
    ]


class _BackgroundServer(uvicorn.Server):
    """A uvicorn server that signals when start-up is over (successful or not)."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.startup_done = threading.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        try:
            await super().startup(sockets=sockets)
        finally:
            self.startup_done.set()


@contextlib.contextmanager
def serve_asgi(
    app: ASGIApp,
    *,
    lifespan: Literal["auto", "on", "off"] = "auto",
    startup_timeout: float = 20.0,
    shutdown_timeout: float = 10.0,
    **uvicorn_options: Any,
) -> Iterator[str]:
    """Run `app` under uvicorn on 127.0.0.1 in a background thread; yield ``http://127.0.0.1:<port>``.

    The port is chosen by the OS (the socket is bound before uvicorn starts, so there is no race for
    it). The app's lifespan runs in the server's thread (``lifespan="on"`` makes a failing start-up an
    error here). On exit the server shuts down gracefully: in-flight requests get `shutdown_timeout`
    seconds, then are cancelled.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        lifespan=lifespan,
        log_config=None,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=max(1, int(shutdown_timeout / 2)),
        **uvicorn_options,
    )
    server = _BackgroundServer(config)
    failure: list[BaseException] = []

    def run() -> None:
        try:
            server.run(sockets=[sock])
        except BaseException as error:  # SystemExit when the app's start-up fails
            failure.append(error)
        finally:
            server.startup_done.set()

    thread = threading.Thread(target=run, name=f"uvicorn-127.0.0.1:{port}", daemon=True)
    thread.start()
    try:
        if not server.startup_done.wait(startup_timeout) or not server.started:
            raise RuntimeError(f"the ASGI app did not start on 127.0.0.1:{port}: {failure or 'timeout'}")
        scheme = "https" if uvicorn_options.get("ssl_certfile") else "http"
        yield f"{scheme}://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(shutdown_timeout)
        if thread.is_alive():
            server.force_exit = True
            thread.join(shutdown_timeout)
        sock.close()
