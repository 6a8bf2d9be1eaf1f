"""Where outbound calls may go: a URL is allowed only under a configured base URL.

Comparison is on parsed components, never on string prefixes, so `https://ehr.example.org@evil.test`
or `https://ehr.example.org.evil.test` cannot pass for `https://ehr.example.org`.
"""

from __future__ import annotations

import functools
import ipaddress

import httpx


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


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
    if target is None or root is None:
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
    if parsed is None:
        return False
    if parsed.scheme == "http" and not (development and _is_loopback(parsed.host)):
        return False
    return any(is_under_base(url, base) for base in allowlist)
