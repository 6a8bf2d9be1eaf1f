"""Outbound HTTP (FHIR servers, JWKS hosts): clients without cookies, behind an optional proxy with an
optional extra CA bundle, and response bodies read with caps on the wire AND decoded bytes.

httpx decodes `Content-Encoding` itself and hands out decoded chunks, so a cap counted on those chunks
sees a gzip bomb only after it has been inflated (a 2 kB `gzip, gzip` answer expands to gigabytes inside
one chunk). Here the raw bytes are read (`aiter_raw`) and inflated with zlib's `max_length`, so neither
count can pass its ceiling by more than one read. One coding at most: `identity`, `gzip` or `deflate`;
stacked codings (`gzip, gzip`) and unknown ones are refused, and we ask only for those two.
"""

from __future__ import annotations

import ssl
import zlib
from collections.abc import AsyncIterator, Sequence
from http.cookiejar import Cookie, CookieJar, CookiePolicy
from pathlib import Path
from typing import Any, Protocol

import certifi
import httpx

ACCEPT_ENCODING = "gzip, deflate"
_WINDOW_BITS = {"gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}


class BodyRefused(Exception):
    """The response body is too large (on the wire or decoded) or its encoding is refused."""


class _NoCookies(CookiePolicy):
    """Refuse every cookie: one EHR's FHIR server must never set state that goes to another's."""

    netscape = True
    rfc2965 = False
    hide_cookie2 = True

    def set_ok(self, cookie: Cookie, request: Any) -> bool:
        return False

    def return_ok(self, cookie: Cookie, request: Any) -> bool:
        return False

    def domain_return_ok(self, domain: str, request: Any) -> bool:
        return False

    def path_return_ok(self, path: str, request: Any) -> bool:
        return False


def cookieless_jar() -> CookieJar:
    return CookieJar(policy=_NoCookies())


def tls_context(extra_ca_bundle: Path | None) -> ssl.SSLContext:
    """certifi's roots, plus the hospital's own CA bundle (PEM) when one is configured."""
    context = ssl.create_default_context(cafile=certifi.where())
    if extra_ca_bundle is not None:
        context.load_verify_locations(cafile=str(extra_ca_bundle))
    return context


def outbound_client(
    *,
    timeout: httpx.Timeout,
    max_connections: int,
    max_keepalive_connections: int,
    tls: ssl.SSLContext,
    https_proxy: str | None,
    no_proxy: Sequence[str] = (),
) -> httpx.AsyncClient:
    """An httpx client for calls we make on others' behalf: no redirects, no cookie jar, no environment
    (proxy settings come from our settings only), https through `https_proxy` when set, except to the
    hosts in `no_proxy` (`fhir.hospital.example`, or `*.hospital.example` for its subdomains)."""
    limits = httpx.Limits(
        max_connections=max_connections, max_keepalive_connections=max_keepalive_connections
    )
    # A None mount means "the client's own, direct transport"; httpx picks the most specific pattern.
    mounts: dict[str, httpx.AsyncBaseTransport | None] = {f"all://{host}": None for host in no_proxy}
    mounts["https://"] = httpx.AsyncHTTPTransport(verify=tls, limits=limits, proxy=https_proxy)
    return httpx.AsyncClient(
        timeout=timeout,
        limits=limits,
        verify=tls,
        follow_redirects=False,
        trust_env=False,
        cookies=cookieless_jar(),
        headers={"Accept-Encoding": ACCEPT_ENCODING},
        mounts=mounts if https_proxy else None,
    )


class _Inflater:
    def __init__(self, coding: str) -> None:
        self._coding = coding
        self._zlib: Any = None if coding == "identity" else zlib.decompressobj(_WINDOW_BITS[coding])
        self._first = True

    def feed(self, data: bytes, room: int) -> bytes:
        """Decode `data`, producing at most `room` + 1 bytes (one past the ceiling proves it is passed)."""
        if self._zlib is None:
            return data
        if self._first and self._coding == "deflate" and data and (data[0] & 0x0F) != 8:
            # "deflate" is meant as zlib-wrapped (RFC 9110 section 8.4.1.2); some servers send raw deflate.
            self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)
        self._first = False
        out = bytearray()
        pending = data
        while pending and len(out) <= room:
            try:
                out += self._zlib.decompress(pending, room + 1 - len(out))
            except zlib.error:
                raise BodyRefused("the response body is not valid for its Content-Encoding") from None
            pending = self._zlib.unconsumed_tail
            if self._zlib.unused_data:
                raise BodyRefused("the response body has data after its compressed stream")
        return bytes(out)

    def finish(self) -> None:
        if self._zlib is not None and not self._zlib.eof:
            raise BodyRefused("the compressed response body is truncated")


def content_coding(headers: httpx.Headers) -> str:
    """The one Content-Encoding we will decode, or BodyRefused."""
    codings = [
        part.strip().lower()
        for value in headers.get_list("content-encoding")
        for part in value.split(",")
        if part.strip()
    ]
    codings = [coding for coding in codings if coding != "identity"]
    if not codings:
        return "identity"
    if len(codings) > 1:
        raise BodyRefused("stacked Content-Encodings are refused")
    if codings[0] not in _WINDOW_BITS:
        raise BodyRefused("the response's Content-Encoding is not one we accept")
    return codings[0]


class ByteAllowance(Protocol):
    """What is left of a larger budget (one hook call's) that every body read under it draws from."""

    def remaining(self) -> int: ...

    def spend(self, decoded_bytes: int) -> None: ...


class AllowanceSpent(BodyRefused):
    """The body would pass what is left of the larger budget (not this answer's own cap)."""


async def read_bounded(
    response: httpx.Response, max_bytes: int, allowance: ByteAllowance | None = None
) -> bytes:
    """The decoded body, refused once the wire bytes or the decoded bytes pass `max_bytes`, or once the
    decoded bytes pass what `allowance` has left (AllowanceSpent; the bytes read are spent from it)."""
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise BodyRefused("the response body exceeds the size limit")
    if declared.isdigit() and allowance is not None and int(declared) > allowance.remaining():
        raise AllowanceSpent("the response body exceeds what is left of the call's byte budget")
    inflater = _Inflater(content_coding(response.headers))
    chunks: list[bytes] = []
    wire = decoded = 0
    raw: AsyncIterator[bytes] = response.aiter_raw()
    async for chunk in raw:
        wire += len(chunk)
        if wire > max_bytes:
            raise BodyRefused("the response body exceeds the size limit")
        left = allowance.remaining() if allowance is not None else max_bytes
        room = min(max_bytes - decoded, left)
        piece = inflater.feed(chunk, room)
        if allowance is not None:
            allowance.spend(len(piece))
        decoded += len(piece)
        if decoded > max_bytes:
            raise BodyRefused("the decoded response body exceeds the size limit")
        if len(piece) > left:
            raise AllowanceSpent("the response body exceeds what is left of the call's byte budget")
        chunks.append(piece)
    inflater.finish()
    return b"".join(chunks)


__all__ = [
    "ACCEPT_ENCODING",
    "AllowanceSpent",
    "BodyRefused",
    "ByteAllowance",
    "content_coding",
    "cookieless_jar",
    "outbound_client",
    "read_bounded",
    "tls_context",
]
