"""Test helpers for the security tests: keys made at test time, tokens minted with PyJWT, trusted
clients files, settings, and the app running in-process with its lifespan.

Tokens made here are never printed: assertion messages name reason codes, not token text.
"""

from __future__ import annotations

import asyncio
import json
import socket
import struct
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fastapi import FastAPI
from hook_requests import fhir_authorization
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from service.app import create_app
from service.discovery import PREFETCH_TEMPLATES
from service.settings import Settings

TESTS_DIR = Path(__file__).resolve().parent
CAPTURES_DIR = TESTS_DIR / "fixtures" / "sandbox-captures"
if not CAPTURES_DIR.is_dir():
    CAPTURES_DIR = TESTS_DIR.parent.parent / "shared" / "reference" / "sandbox-captures"

ISSUER = "https://ehr.example.org/cds-client"
BASE_URL = "http://testserver"
DISCOVERY_URL = f"{BASE_URL}/cds-services"
EHR_FHIR = "https://fhir.ehr.example.org/r4"
JWKS_URL = "https://keys.ehr.example.org/jwks.json"

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


@dataclass(frozen=True)
class SigningKey:
    private: PrivateKey
    kid: str
    alg: str

    def public_jwk(self, **extra: Any) -> dict[str, Any]:
        public = self.private.public_key()
        if isinstance(public, ec.EllipticCurvePublicKey):
            jwk = ECAlgorithm.to_jwk(public, as_dict=True)
        else:
            jwk = RSAAlgorithm.to_jwk(public, as_dict=True)
        return {**jwk, "kid": self.kid, "use": "sig", **extra}


def ec_key(kid: str | None = None, curve: ec.EllipticCurve | None = None, alg: str = "ES384") -> SigningKey:
    private = ec.generate_private_key(curve or ec.SECP384R1())
    return SigningKey(private, kid or f"ec-{uuid.uuid4()}", alg)


def rsa_key(kid: str | None = None, bits: int = 2048, alg: str = "RS384") -> SigningKey:
    private = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    return SigningKey(private, kid or f"rsa-{uuid.uuid4()}", alg)


def jwks(*keys: SigningKey) -> dict[str, Any]:
    return {"keys": [key.public_jwk() for key in keys]}


def claims(audience: str = DISCOVERY_URL, issuer: str = ISSUER, **overrides: Any) -> dict[str, Any]:
    """CDS Hooks client claims valid now; an override of None removes the claim."""
    now = int(time.time())
    base: dict[str, Any] = {
        "iss": issuer,
        "aud": audience,
        "iat": now,
        "exp": now + 300,
        "jti": str(uuid.uuid4()),
    }
    base.update(overrides)
    return {name: value for name, value in base.items() if value is not None}


def mint(
    key: SigningKey,
    payload: Mapping[str, Any],
    *,
    alg: str | None = None,
    kid: str | None = "",
    headers: Mapping[str, Any] | None = None,
) -> str:
    """Sign `payload` with `key`. kid "" means the key's own kid; None leaves kid out of the header."""
    header: dict[str, Any] = {"typ": "JWT", **(headers or {})}
    if kid is not None:
        header["kid"] = kid or key.kid
    return jwt.encode(dict(payload), key.private, algorithm=alg or key.alg, headers=header)


def bearer(token: str) -> str:
    return f"Bearer {token}"


def client_entry(
    *keys: SigningKey,
    iss: str = ISSUER,
    fhir: tuple[str, ...] = (EHR_FHIR,),
    **fields: Any,
) -> dict[str, Any]:
    entry: dict[str, Any] = {"iss": iss, "fhir_server_allowlist": list(fhir), **fields}
    if keys and not any(name in fields for name in ("jwks", "jwks_file", "jwks_url")):
        entry["jwks"] = jwks(*keys)
    return entry


def write_clients(directory: Path, *entries: Mapping[str, Any], name: str = "trusted-clients.json") -> Path:
    path = directory / name
    path.write_text(json.dumps({"clients": list(entries)}), encoding="utf-8")
    return path


def settings_for(directory: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "profile": "production",
        "sqlite_path": directory / "service.sqlite3",
        "metrics_enabled": False,
        "log_format": "json",
        "jwks_min_refresh_interval_seconds": 10.0,
        # Generous limits: a loaded CI machine must not turn a healthy loopback call into a 412.
        "hook_deadline_seconds": 5.0,
        "fhir_connect_timeout_seconds": 2.0,
        "fhir_read_timeout_seconds": 4.0,
    }
    values.update(overrides)
    return Settings(**values)


def dev_settings_for(directory: Path, **overrides: Any) -> Settings:
    return settings_for(directory, profile="development", allow_unauthenticated=True, **overrides)


@asynccontextmanager
async def running(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """The app with its lifespan running, and an httpx client calling it in-process."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
            yield client


@asynccontextmanager
async def running_app(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with running(create_app(settings)) as client:
        yield client


def load_capture(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((CAPTURES_DIR / name).read_text(encoding="utf-8"))
    return document


# --- hook calls ---------------------------------------------------------------------------------------

SERVICE_FOR_HOOK = {
    "patient-view": "immunotherapy-brain-mri-patient-view",
    "order-select": "immunotherapy-brain-mri-order-select",
    "order-sign": "immunotherapy-brain-mri-order-sign",
}
PATIENT_ID = "pt-onc-1"
USER_ID = "Practitioner/COREPRACTITIONER1"


def service_path(hook: str) -> str:
    return f"/cds-services/{SERVICE_FOR_HOOK[hook]}"


def draft_medication_request(patient_id: str = PATIENT_ID) -> dict[str, Any]:
    return {
        "resourceType": "MedicationRequest",
        "id": "request-123",
        "status": "draft",
        "intent": "order",
        "subject": {"reference": f"Patient/{patient_id}"},
        "medicationCodeableConcept": {
            "coding": [
                {
                    "system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                    "code": "1547545",
                    "display": "pembrolizumab",
                }
            ]
        },
    }


def hook_body(
    hook: str = "patient-view",
    *,
    patient_id: str = PATIENT_ID,
    fhir_server: str | None = None,
    access_token: str | None = None,
    prefetch: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    context: dict[str, Any] = {"userId": USER_ID, "patientId": patient_id}
    if hook != "patient-view":
        draft = draft_medication_request(patient_id)
        context["draftOrders"] = {"resourceType": "Bundle", "entry": [{"resource": draft}]}
    if hook == "order-select":
        context["selections"] = ["MedicationRequest/request-123"]
    body: dict[str, Any] = {"hook": hook, "hookInstance": str(uuid.uuid4()), "context": context}
    if fhir_server is not None:
        body["fhirServer"] = fhir_server
    if access_token is not None:
        body["fhirAuthorization"] = fhir_authorization(access_token)
    if prefetch is not None:
        body["prefetch"] = dict(prefetch)
    return body


def complete_prefetch(resources: list[dict[str, Any]]) -> dict[str, Any]:
    """Every prefetch key of ours filled: resources grouped into searchsets by type, the rest null."""
    prefetch: dict[str, Any] = {}
    for key, (resource_type, query) in PREFETCH_TEMPLATES.items():
        found = [resource for resource in resources if resource.get("resourceType") == resource_type]
        if "?" not in query:
            prefetch[key] = found[0] if found else None
        elif found:
            prefetch[key] = {
                "resourceType": "Bundle",
                "type": "searchset",
                "entry": [{"resource": resource} for resource in found],
            }
        else:
            prefetch[key] = None
    return prefetch


class ConnectionRecorder:
    """A raw TCP server on 127.0.0.1 that counts connections. After reading the request, mode "silent"
    never answers; "reset" resets the connection (RST); "close" closes it (FIN) without a response;
    "endless" streams a chunked body without end; "drip" sends the body one byte every 100 ms."""

    def __init__(self, mode: str = "silent") -> None:
        self.mode = mode
        self.connections = 0
        self._server: asyncio.base_events.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []

    @property
    def url(self) -> str:
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def __aenter__(self) -> ConnectionRecorder:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._writers:
            writer.transport.abort()
        await self._server.wait_closed()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.append(writer)
        try:
            async with asyncio.timeout(5):
                await reader.readuntil(b"\r\n\r\n")
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            pass
        if self.mode == "reset":
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
        elif self.mode == "close":
            writer.close()
        elif self.mode in ("endless", "drip"):
            await self._stream(writer, chunk=b" " * 65536 if self.mode == "endless" else b" ")

    async def _stream(self, writer: asyncio.StreamWriter, chunk: bytes) -> None:
        """A 200 with a chunked body that never ends: fast and large, or one byte at a time."""
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/fhir+json\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        writer.write(b'7\r\n{"a": [\r\n')
        try:
            async with asyncio.timeout(30):  # bounded even if the client never hangs up
                while not writer.is_closing():
                    writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    await writer.drain()
                    await asyncio.sleep(0 if self.mode == "endless" else 0.1)
        except (TimeoutError, ConnectionError):
            pass
        writer.transport.abort()
