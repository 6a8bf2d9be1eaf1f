r"""Where outbound calls may go: a URL is allowed only under a configured base URL.

Comparison is on parsed components, never on string prefixes, so `https://ehr.example.org@evil.test`
or `https://ehr.example.org.evil.test` cannot pass for `https://ehr.example.org`.

A path segment that is, or decodes to, a dot segment, or that holds `;`, a backslash or an encoded `/`
(raw or percent-encoded, however many times) is refused outright: servlet containers read `/..;/` as a
parent (path parameters), IIS and some proxies turn `\` into `/`, and many servers decode `%2e%2e` or
`%252e%252e` after routing, so `<allowed base>/..;/admin` would leave the allowed base on the server
even though it looks under it here.
"""

from __future__ import annotations

import functools
import ipaddress
from urllib.parse import unquote, urlsplit

import httpx

# Enough to unwrap %25-encoding a few times over; a segment still changing after that is refused.
_MAX_DECODING_ROUNDS = 4
_FORBIDDEN_IN_SEGMENT = (";", "\\", "/")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _hostile_segment(segment: str) -> bool:
    for _ in range(_MAX_DECODING_ROUNDS):
        if segment in (".", "..") or any(mark in segment for mark in _FORBIDDEN_IN_SEGMENT):
            return True
        decoded = unquote(segment)
        if decoded == segment:
            return False
        segment = decoded
    return True


def has_hostile_path(url: str) -> bool:
    """True when a segment of the URL's path, as written, is or decodes to something a server may
    resolve outside the path it seems to name (see the module docstring)."""
    try:
        path = urlsplit(url).path
    except ValueError:
        return True
    # The first segment of an absolute path is empty; only the separators are "/".
    return any(_hostile_segment(segment) for segment in path.split("/")[1:])


def normalised_base(url: str) -> str | None:
    """A FHIR base URL in one spelling (lower-case scheme and host, no default port, no trailing
    slash), or None when it is not a usable base: hostile path, query, fragment, user info."""
    if has_hostile_path(url):
        return None
    parsed = parse_url(url)
    if parsed is None or parsed.query or parsed.fragment:
        return None
    return str(parsed).rstrip("/")


def parse_url(url: str) -> httpx.URL | None:
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError):
        return None
    if parsed.scheme not in ("http", "https") or not parsed.host or parsed.userinfo:
        return None
    return parsed


@functools.lru_cache(maxsize=256)
def _parse_base(base: str) -> httpx.URL | None:
    # Bases (the allowlist, the EHR's fhirServer) repeat on every call: parse each once. Only bases:
    # full request URLs carry patient ids and are not kept.
    return parse_url(base)


def is_under_base(url: str, base: str) -> bool:
    """True when `url` names `base` or a path below it (same scheme, host and port)."""
    target, root = parse_url(url), _parse_base(base) if isinstance(base, str) else parse_url(base)
    if target is None or root is None or has_hostile_path(url):
        return False
    if (target.scheme, target.host) != (root.scheme, root.host):
        return False
    # A loopback base without a port allows any port (test and sandbox servers pick free ports);
    # anywhere else the port must be the one the base names, or the scheme's default.
    if target.port != root.port and not (root.port is None and _is_loopback(root.host)):
        return False
    if any(segment in (".", "..") for segment in target.path.split("/")):
        # Percent-encoded dot segments (%2e%2e) survive URL parsing; the server may still resolve them.
        return False
    base_path = root.path.rstrip("/")
    return target.path == base_path or target.path.startswith(base_path + "/") or base_path == ""


def outbound_allowed(url: str, allowlist: tuple[str, ...] | list[str], *, development: bool) -> bool:
    parsed = parse_url(url)
    if parsed is None or has_hostile_path(url):
        return False
    if parsed.scheme == "http" and not (development and _is_loopback(parsed.host)):
        return False
    return any(is_under_base(url, base) for base in allowlist)
