"""The SMART app under test: the service (SMART app enabled, clock movable) and the test authorization
server with one scenario's record, both over real HTTP on loopback; and a browser-like client that keeps
the app's cookie by hand (httpx sends no Secure cookie over plain http, a browser on loopback does)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

import httpx
from conftest import settings_for
from fhir_server import serve_asgi
from smart_auth_server import SmartTestServer, scenario

from service.app import create_app

SCENARIO = "car-t-kymriah-procedure-ice2-critical"
SESSION_SECRET = "test-session-secret-of-at-least-32-characters"
LIFETIME_SECONDS = 900


@dataclass
class MovableClock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def scenario_now(name: str = SCENARIO) -> datetime:
    return datetime.fromisoformat(str(scenario(name)["now"]).replace("Z", "+00:00"))


@contextmanager
def running_app(sqlite_path: Path, clock: MovableClock, **overrides: Any) -> Iterator[str]:
    values: dict[str, Any] = {
        "smart_app_enabled": True,
        "smart_session_secret": SESSION_SECRET,
        "smart_session_lifetime_seconds": LIFETIME_SECONDS,
        "fhir_server_allowlist": ["http://127.0.0.1"],
        "fhir_connect_timeout_seconds": 5.0,
        "fhir_read_timeout_seconds": 5.0,
        "log_level": "INFO",
    }
    values.update(overrides)
    app = create_app(settings_for(sqlite_path, **values), clock=clock)
    with serve_asgi(app, lifespan="on") as base_url:
        yield base_url


@dataclass
class Browser:
    """Follows redirects across the app and the authorization server, keeping the app's cookies."""

    app_base: str
    http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=30.0, follow_redirects=False))
    cookies: dict[str, str] = field(default_factory=dict)
    set_cookie_headers: list[str] = field(default_factory=list)

    def get(self, url: str) -> httpx.Response:
        headers = {}
        if url.startswith(self.app_base) and self.cookies:
            headers["Cookie"] = "; ".join(f"{name}={value}" for name, value in self.cookies.items())
        response = self.http.get(url, headers=headers)
        for header in response.headers.get_list("set-cookie"):
            self.set_cookie_headers.append(header)
            parsed: SimpleCookie = SimpleCookie()
            parsed.load(header)
            for name, morsel in parsed.items():
                self.cookies[name] = morsel.value
        return response

    def follow(self, url: str, *, until: str | None = None, max_hops: int = 8) -> httpx.Response:
        """GET `url` and follow redirects; stop before a URL starting with `until`, returning the
        redirect that points there."""
        response = self.get(url)
        for _ in range(max_hops):
            if response.status_code not in (301, 302, 303, 307, 308):
                return response
            target = str(response.url.join(response.headers["location"]))
            if until is not None and target.startswith(until):
                return response
            response = self.get(target)
        raise AssertionError("too many redirects")

    def close(self) -> None:
        self.http.close()


def launch_url(app_base: str, iss: str, launch: str) -> str:
    return str(httpx.URL(f"{app_base}/smart/launch", params={"iss": iss, "launch": launch}))


def start(server: SmartTestServer) -> None:
    """Back to a fresh server: FHIR requests and overrides cleared, discovery served again."""
    server.fhir.reset()
    server.serve_configuration()
    server.requests.clear()
    server.authorizations.clear()
