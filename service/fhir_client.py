"""Async FHIR R4 client: searches with paging, reads, size caps, no redirects, no token leaks.

Resources stay plain JSON (dicts): validating thousands of resources with model classes costs
seconds on a heavy oncology record, and the facts layer reads only a few fields of each.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
import orjson

from clinical.fhir_data import bundle_resources
from service.exceptions import FhirServerError
from service.metrics import count_fhir_query
from service.url_policy import is_under_base

FHIR_JSON = "application/fhir+json"


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


def next_link(bundle: dict[str, Any]) -> str | None:
    links = bundle.get("link")
    if not isinstance(links, list):
        return None
    for link in links:
        if isinstance(link, dict) and link.get("relation") == "next":
            url = link.get("url")
            return url if isinstance(url, str) and url else None
    return None


def with_page_size(query: str, page_size: int) -> str:
    if "_count=" in query:
        return query
    separator = "&" if "?" in query else "?"
    return f"{query}{separator}{urlencode({'_count': page_size})}"


class FhirClient:
    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        page_size: int,
        max_pages: int,
        max_response_bytes: int,
        max_concurrent_requests: int,
    ) -> None:
        self._http = http
        self._page_size = page_size
        self._max_pages = max_pages
        self._max_response_bytes = max_response_bytes
        self._max_concurrent_requests = max_concurrent_requests

    def limiter(self) -> asyncio.Semaphore:
        """A per-hook-call bound on concurrent requests to one EHR."""
        return asyncio.Semaphore(self._max_concurrent_requests)

    async def get_json(
        self, endpoint: FhirEndpoint, url: str, limiter: asyncio.Semaphore, what: str
    ) -> dict[str, Any] | None:
        """GET a FHIR JSON resource; None on 404/410 (gone or never there)."""
        if not is_under_base(url, endpoint.base_url):
            # A server handing out links to another host must not turn us into its proxy.
            raise FhirServerError(f"FHIR server returned a link outside its base URL for {what}")
        headers = {"Accept": FHIR_JSON}
        if endpoint.access_token:
            headers["Authorization"] = f"Bearer {endpoint.access_token}"
        async with limiter:
            try:
                async with self._http.stream("GET", url, headers=headers) as response:
                    if response.status_code in (404, 410):
                        count_fhir_query("not_found")
                        return None
                    if response.status_code != 200:
                        count_fhir_query("http_error")
                        raise FhirServerError(f"FHIR server answered HTTP {response.status_code} for {what}")
                    body = await self._read_capped(response, what)
            except httpx.TimeoutException:
                count_fhir_query("timeout")
                raise FhirServerError(f"FHIR server timed out for {what}") from None
            except httpx.HTTPError as error:
                count_fhir_query("transport_error")
                raise FhirServerError(
                    f"FHIR server could not be reached for {what} ({type(error).__name__})"
                ) from None
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

    async def _read_capped(self, response: httpx.Response, what: str) -> bytes:
        declared = response.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > self._max_response_bytes:
            raise FhirServerError(f"FHIR response for {what} exceeds the size limit")
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > self._max_response_bytes:
                raise FhirServerError(f"FHIR response for {what} exceeds the size limit")
            chunks.append(chunk)
        return b"".join(chunks)

    async def search(
        self, endpoint: FhirEndpoint, query: str, limiter: asyncio.Semaphore, what: str
    ) -> SearchResult:
        first = await self.get_json(
            endpoint, endpoint.url(with_page_size(query, self._page_size)), limiter, what
        )
        if first is None:
            return SearchResult([], 1, False)
        if first.get("resourceType") != "Bundle":
            raise FhirServerError(f"FHIR search for {what} did not return a Bundle")
        return await self.follow_pages(endpoint, first, limiter, what)

    async def follow_pages(
        self, endpoint: FhirEndpoint, bundle: dict[str, Any], limiter: asyncio.Semaphore, what: str
    ) -> SearchResult:
        """Collect a searchset's resources, following `next` links up to the page bound."""
        resources = bundle_resources(bundle)
        pages = 1
        link = next_link(bundle)
        while link is not None:
            if not link.startswith(("http://", "https://")):
                link = endpoint.url(link)
            if pages >= self._max_pages:
                return SearchResult(resources, pages, True)
            page = await self.get_json(endpoint, link, limiter, what)
            pages += 1
            if page is None or page.get("resourceType") != "Bundle":
                raise FhirServerError(f"FHIR paging for {what} did not return a Bundle")
            resources.extend(bundle_resources(page))
            link = next_link(page)
        return SearchResult(resources, pages, False)

    async def read(
        self, endpoint: FhirEndpoint, reference: str, limiter: asyncio.Semaphore
    ) -> dict[str, Any] | None:
        resource_type = reference.split("/", 1)[0]
        return await self.get_json(endpoint, endpoint.url(reference), limiter, f"{resource_type} read")
