"""A SMART App Launch 2.0 authorization server for tests, over real HTTP on loopback, in front of the
loopback FHIR server (tests/fhir_server.py) holding one scenario's record.

    server = SmartTestServer.for_scenario("car-t-kymriah-procedure-ice2-critical")
    with server.running() as iss:          # the FHIR base; discovery at {iss}/.well-known/smart-configuration
        ...                                # launch the app with iss and server.launch_id

What it does, as an EHR's authorization server would:

* ``{iss}/.well-known/smart-configuration``: the authorization and token endpoints, the scopes and
  capabilities it was given (v2 by default; ``v1_only=True`` advertises only SMART v1 scopes), S256.
* ``GET /authorize``: checks response_type, client_id, redirect_uri, aud (the FHIR base), the launch
  id (EHR launch) and an S256 code_challenge, records what was asked, and approves at once: a 302 to
  the redirect_uri with a one-time ``code`` and the caller's ``state``.
* ``POST /token``: the code once, the same client_id and redirect_uri, and the PKCE ``code_verifier``
  whose S256 is the challenge; then the access token the FHIR server requires, ``patient`` and the
  launch's ``appContext``. Anything else: 400 ``invalid_grant`` / ``invalid_request``.

Every request to the authorization server is recorded (``requests``); the FHIR server records its own.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

import yaml
from fhir_server import FhirTestServer, serve_asgi
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

SCENARIOS = Path(__file__).resolve().parent.parent / "fhir_fixtures"
CLIENT_ID = "immuno-cds-timeline"
V2_SCOPES = ["openid", "fhirUser", "launch", "launch/patient", "patient/*.rs", "offline_access"]
V1_SCOPES = ["openid", "fhirUser", "launch", "launch/patient", "patient/*.read", "offline_access"]


def s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def scenario(name: str) -> dict[str, Any]:
    document = yaml.safe_load((SCENARIOS / "scenarios.yaml").read_text(encoding="utf-8"))
    for entry in document["scenarios"]:
        if entry["name"] == name:
            return dict(entry)
    raise KeyError(name)


@dataclass
class Grant:
    client_id: str
    redirect_uri: str
    challenge: str
    scope: str
    launch: str | None


@dataclass
class Authorization:
    """What one /authorize asked for (the test reads the scope, aud and launch the app sent)."""

    params: dict[str, str]


@dataclass
class SmartTestServer:
    fhir: FhirTestServer
    patient_id: str
    client_id: str = CLIENT_ID
    launch_id: str = "launch-ctx-1"
    v1_only: bool = False
    app_context: str | None = None
    access_token: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    requests: list[tuple[str, str]] = field(default_factory=list)
    authorizations: list[Authorization] = field(default_factory=list)
    _codes: dict[str, Grant] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _auth_base: str | None = None
    _fhir_base: str | None = None

    @classmethod
    def for_scenario(cls, name: str, **options: Any) -> SmartTestServer:
        bundle = SCENARIOS / scenario(name)["file"]
        token = secrets.token_urlsafe(24)
        fhir = FhirTestServer.from_bundle_file(bundle, required_token=token)
        patients = [r for r in fhir.resources if r.get("resourceType") == "Patient"]
        return cls(fhir=fhir, patient_id=str(patients[0]["id"]), access_token=token, **options)

    @property
    def iss(self) -> str:
        assert self._fhir_base is not None, "not running"
        return self._fhir_base

    def configuration(self) -> dict[str, Any]:
        assert self._auth_base is not None
        return {
            "issuer": self._auth_base,
            "authorization_endpoint": f"{self._auth_base}/authorize",
            "token_endpoint": f"{self._auth_base}/token",
            "scopes_supported": V1_SCOPES if self.v1_only else V2_SCOPES,
            "capabilities": ["launch-ehr", "launch-standalone", "client-public", "context-ehr-patient"]
            + (["permission-v1"] if self.v1_only else ["permission-v2", "permission-v1"]),
            "code_challenge_methods_supported": ["S256"],
            "response_types_supported": ["code"],
        }

    @contextlib.contextmanager
    def running(self) -> Iterator[str]:
        app = Starlette(
            routes=[
                Route("/authorize", self._authorize, methods=["GET"]),
                Route("/token", self._token, methods=["POST"]),
            ]
        )
        with self.fhir.running() as fhir_base, serve_asgi(app) as auth_base:
            self._fhir_base, self._auth_base = fhir_base, auth_base
            self.serve_configuration()
            try:
                yield fhir_base
            finally:
                self._fhir_base = self._auth_base = None

    def serve_configuration(self) -> None:
        """(Re)install the discovery document on the FHIR server (after `fhir.reset()`, too)."""
        self.fhir.override("/.well-known/smart-configuration", status_code=200, body=self.configuration())

    def fhir_data_requests(self) -> list[str]:
        """The FHIR server's requests other than discovery: what was read from the record."""
        return [r.path for r in self.fhir.requests if not r.path.startswith("/.well-known/")]

    # -- endpoints -------------------------------------------------------------------------------

    async def _authorize(self, request: Request) -> Response:
        params = dict(request.query_params)
        with self._lock:
            self.requests.append(("GET", "/authorize"))
            self.authorizations.append(Authorization(params))
        problems = [
            name
            for name, ok in (
                ("response_type", params.get("response_type") == "code"),
                ("client_id", params.get("client_id") == self.client_id),
                ("redirect_uri", bool(params.get("redirect_uri"))),
                ("aud", params.get("aud") == self._fhir_base),
                ("code_challenge_method", params.get("code_challenge_method") == "S256"),
                ("code_challenge", len(params.get("code_challenge", "")) == 43),
                ("state", bool(params.get("state"))),
                ("launch", params.get("launch", self.launch_id) == self.launch_id),
            )
            if not ok
        ]
        if problems:
            return JSONResponse({"error": "invalid_request", "error_description": problems}, status_code=400)
        code = secrets.token_urlsafe(16)
        with self._lock:
            self._codes[code] = Grant(
                params["client_id"],
                params["redirect_uri"],
                params["code_challenge"],
                params.get("scope", ""),
                params.get("launch"),
            )
        query = urlencode({"code": code, "state": params["state"]})
        return RedirectResponse(f"{params['redirect_uri']}?{query}", status_code=302)

    async def _token(self, request: Request) -> Response:
        # Parsed here: Starlette's form parsing needs python-multipart, which the project does not use.
        form = {key: values[-1] for key, values in parse_qs((await request.body()).decode()).items()}
        with self._lock:
            self.requests.append(("POST", "/token"))
            grant = self._codes.pop(str(form.get("code", "")), None)  # a code is good once
        if form.get("grant_type") != "authorization_code" or grant is None:
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        verifier = form.get("code_verifier")
        if not isinstance(verifier, str) or not verifier:
            return JSONResponse(
                {"error": "invalid_request", "error_description": "code_verifier required"}, status_code=400
            )
        if (
            s256(verifier) != grant.challenge
            or form.get("client_id") != grant.client_id
            or form.get("redirect_uri") != grant.redirect_uri
        ):
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        answer: dict[str, Any] = {
            "access_token": self.access_token,
            "token_type": "Bearer",
            "expires_in": 3600,
            "scope": grant.scope,
            "patient": self.patient_id,
        }
        if self.app_context is not None:
            answer["appContext"] = self.app_context
        return JSONResponse(answer, headers={"Cache-Control": "no-store"})
