"""Issue 12, item 3: configured keys win over `jku`, the CDS Hooks Sandbox works offline, outbound calls
go through a configured proxy and trust a configured CA bundle, and Private Network Access preflights
are answered. Real HTTP on loopback: the service under uvicorn, real JWKS, proxy and TLS servers.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import types
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
import respx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from fhir_server import FhirTestServer, serve_asgi
from hostile_support import MaliciousServer
from security_support import (
    PATIENT_ID,
    ConnectionRecorder,
    bearer,
    claims,
    client_entry,
    dev_settings_for,
    ec_key,
    hook_body,
    jwks,
    load_capture,
    mint,
    service_path,
    settings_for,
    write_clients,
)
from sqlalchemy.ext.asyncio import AsyncEngine

from service.app import create_app
from service.security.authentication import Authenticator
from service.storage.database import create_engine, create_schema

DEVELOPMENT_CLIENTS = Path(__file__).resolve().parent.parent / "deploy" / "trusted-clients.development.yaml"
SANDBOX_ISSUER = "https://sandbox.cds-hooks.org"
ISSUER = "https://ehr.example.org/cds-client"
ACCESS_TOKEN = "networks-access-token-5d2a"


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'keys.sqlite3'}")
    await create_schema(engine)
    yield engine
    await engine.dispose()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=30) as client:
        yield client


# --- the CDS Hooks Sandbox, offline --------------------------------------------------------------------


class _FrozenDatetime(dt.datetime):
    moment: float = 0.0

    @classmethod
    def now(cls, tz: dt.tzinfo | None = None) -> _FrozenDatetime:  # type: ignore[override]
        return cls.fromtimestamp(cls.moment, tz)


async def test_a_real_sandbox_token_is_accepted_offline_with_the_inline_key(
    tmp_path: Path, engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The captured token the CDS Hooks Sandbox signed (kid and jku as it always sends them), checked at
    a moment inside its lifetime with the development file: accepted, and no request is made at all."""
    capture = load_capture("0002-GET-cds_services.json")
    moment = capture["jwt"]["claims"]["iat"] + 5.0
    monkeypatch.setattr("service.security.authentication.time", types.SimpleNamespace(time=lambda: moment))
    monkeypatch.setattr(_FrozenDatetime, "moment", moment)
    monkeypatch.setattr(jwt.api_jwt, "datetime", _FrozenDatetime)
    settings = dev_settings_for(tmp_path, trusted_clients_file=DEVELOPMENT_CLIENTS)
    async with httpx.AsyncClient() as outbound:
        authenticator = Authenticator(settings, engine=engine, http=outbound)
        with respx.mock(assert_all_mocked=True) as network:
            caller = await authenticator.authenticate(
                capture["headers"]["Authorization"], capture["jwt"]["claims"]["aud"]
            )
            assert not network.calls
    assert capture["jwt"]["header"]["jku"] == "https://sandbox.cds-hooks.org/.well-known/jwks.json"
    assert caller.issuer == SANDBOX_ISSUER


def _sandbox_shaped_config(tmp_path: Path, key: Any, jku: str) -> Path:
    """The development file's sandbox entry with a test key in place of the sandbox's."""
    entry = client_entry(key, iss=SANDBOX_ISSUER, algorithms=["ES384"], jku_allowlist=[jku])
    return write_clients(tmp_path, entry)


async def test_a_configured_kid_is_verified_without_fetching_its_jku(
    tmp_path: Path, http: httpx.AsyncClient
) -> None:
    key = ec_key("sandbox-shaped")
    async with ConnectionRecorder("close") as jku_host:
        jku = f"{jku_host.url}/.well-known/jwks.json"
        settings = settings_for(tmp_path, trusted_clients_file=_sandbox_shaped_config(tmp_path, key, jku))
        with serve_asgi(create_app(settings)) as service:
            token = mint(
                key, claims(audience=f"{service}/cds-services", issuer=SANDBOX_ISSUER), headers={"jku": jku}
            )
            response = await http.get(f"{service}/cds-services", headers={"Authorization": bearer(token)})
        connections = jku_host.connections
    assert response.status_code == 200
    assert connections == 0


async def test_an_unknown_kid_fetches_an_allowlisted_jku(tmp_path: Path, http: httpx.AsyncClient) -> None:
    configured, rotated = ec_key("configured"), ec_key("rotated")
    host = MaliciousServer(
        body=json.dumps(jwks(configured, rotated)).encode(), headers={"content-type": "application/json"}
    )
    with host.running() as host_url:
        jku = f"{host_url}/.well-known/jwks.json"
        settings = settings_for(
            tmp_path, trusted_clients_file=_sandbox_shaped_config(tmp_path, configured, jku)
        )
        with serve_asgi(create_app(settings)) as service:
            token = mint(
                rotated,
                claims(audience=f"{service}/cds-services", issuer=SANDBOX_ISSUER),
                headers={"jku": jku},
            )
            response = await http.get(f"{service}/cds-services", headers={"Authorization": bearer(token)})
    assert response.status_code == 200
    assert [seen.path for seen in host.seen] == ["/.well-known/jwks.json"]


async def test_an_unknown_kid_with_a_foreign_jku_is_refused_before_any_fetch(
    tmp_path: Path, http: httpx.AsyncClient
) -> None:
    configured, stranger = ec_key("configured"), ec_key("stranger")
    async with ConnectionRecorder("close") as allowed, ConnectionRecorder("close") as foreign:
        settings = settings_for(
            tmp_path,
            trusted_clients_file=_sandbox_shaped_config(tmp_path, configured, f"{allowed.url}/jwks.json"),
        )
        with serve_asgi(create_app(settings)) as service:
            token = mint(
                stranger,
                claims(audience=f"{service}/cds-services", issuer=SANDBOX_ISSUER),
                headers={"jku": f"{foreign.url}/jwks.json"},
            )
            response = await http.get(f"{service}/cds-services", headers={"Authorization": bearer(token)})
        assert (allowed.connections, foreign.connections) == (0, 0)
    assert response.status_code == 401


# --- Private Network Access -------------------------------------------------------------------------------


def _preflight_headers() -> dict[str, str]:
    captured = load_capture("0003-OPTIONS-cds_services_rig_patient_view.json")["headers"]
    wanted = ("Origin", "Access-Control-Request-Method", "Access-Control-Request-Headers")
    return {name: captured[name] for name in wanted} | {"Access-Control-Request-Private-Network": "true"}


@pytest.mark.parametrize(
    ("profile", "setting", "status", "expected"),
    [
        ("development", None, 200, "true"),
        ("production", None, 400, None),  # not configured: the browser is told no
        ("production", True, 200, "true"),
        ("development", False, 400, None),
    ],
)
async def test_private_network_access_preflight(
    tmp_path: Path,
    http: httpx.AsyncClient,
    profile: str,
    setting: bool | None,
    status: int,
    expected: str | None,
) -> None:
    settings = settings_for(tmp_path, profile=profile, cors_allow_private_network=setting)
    with serve_asgi(create_app(settings)) as service:
        response = await http.options(
            f"{service}{service_path('patient-view')}", headers=_preflight_headers()
        )
    assert response.status_code == status
    assert response.headers.get("access-control-allow-private-network") == expected


# --- outbound proxy ----------------------------------------------------------------------------------------


class RecordingProxy:
    """An HTTP proxy that records the request line of each connection and refuses it (403)."""

    def __init__(self) -> None:
        self.request_lines: list[str] = []
        self._server: asyncio.base_events.Server | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    async def __aenter__(self) -> RecordingProxy:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            self.request_lines.append(head.split(b"\r\n", 1)[0].decode())
            writer.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()


async def test_fhir_and_jwks_calls_go_through_the_configured_https_proxy(
    tmp_path: Path, http: httpx.AsyncClient
) -> None:
    fhir_server = "https://fhir.ehr.example.org/r4"
    jwks_url = "https://keys.ehr.example.org/jwks.json"
    key = ec_key()
    async with RecordingProxy() as proxy:
        clients = write_clients(
            tmp_path,
            client_entry(key, iss=ISSUER, fhir=(fhir_server,)),
            client_entry(iss="https://remote-keys.example.org", jwks_url=jwks_url),
        )
        settings = settings_for(tmp_path, trusted_clients_file=clients, outbound_https_proxy=proxy.url)
        with serve_asgi(create_app(settings)) as service:
            body = hook_body("patient-view", fhir_server=fhir_server, access_token=ACCESS_TOKEN)
            path = service_path("patient-view")
            token = mint(key, claims(audience=f"{service}{path}"))
            hook = await http.post(f"{service}{path}", json=body, headers={"Authorization": bearer(token)})
            remote = mint(
                ec_key(), claims(audience=f"{service}/cds-services", issuer="https://remote-keys.example.org")
            )
            discovery = await http.get(f"{service}/cds-services", headers={"Authorization": bearer(remote)})
    assert hook.status_code == 412  # the proxy refused the tunnel: no FHIR data
    assert discovery.status_code == 401  # no keys could be had through the proxy
    assert "CONNECT fhir.ehr.example.org:443 HTTP/1.1" in proxy.request_lines
    assert "CONNECT keys.ehr.example.org:443 HTTP/1.1" in proxy.request_lines


async def test_hosts_on_the_no_proxy_list_are_reached_directly(
    tmp_path: Path, http: httpx.AsyncClient
) -> None:
    async with RecordingProxy() as proxy, ConnectionRecorder("close") as inside:
        # An https FHIR server on loopback stands for one inside the hospital: reached directly, the
        # recorder sees the connection (and closes it: the call is 412), the proxy sees nothing.
        fhir_server = inside.url.replace("http://", "https://") + "/r4"
        settings = dev_settings_for(
            tmp_path,
            fhir_server_allowlist=[fhir_server],
            outbound_https_proxy=proxy.url,
            outbound_no_proxy=["127.0.0.1"],
        )
        with serve_asgi(create_app(settings)) as service:
            body = hook_body("patient-view", fhir_server=fhir_server, access_token=ACCESS_TOKEN)
            response = await http.post(f"{service}{service_path('patient-view')}", json=body)
        direct = inside.connections
    assert response.status_code == 412
    assert direct >= 1
    assert proxy.request_lines == []


# --- extra CA bundle (hospital PKI) ------------------------------------------------------------------


def _hospital_pki(directory: Path) -> tuple[Path, Path, Path]:
    """A CA, and a certificate for 127.0.0.1 it signed: (ca.pem, server cert, server key)."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test Hospital Root CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    server_key = ec.generate_private_key(ec.SECP256R1())
    import ipaddress

    server = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False
        )
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_path, cert_path, key_path = directory / "ca.pem", directory / "server.pem", directory / "server.key"
    ca_path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_path.write_bytes(server.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        server_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return ca_path, cert_path, key_path


@pytest.fixture
def tls_fhir(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    ca_path, cert_path, key_path = _hospital_pki(tmp_path)
    server = FhirTestServer([{"resourceType": "Patient", "id": PATIENT_ID}], required_token=ACCESS_TOKEN)
    with serve_asgi(server.app, ssl_certfile=str(cert_path), ssl_keyfile=str(key_path)) as base_url:
        yield base_url, ca_path


@pytest.mark.parametrize(("with_bundle", "expected"), [(False, 412), (True, 200)])
async def test_the_extra_ca_bundle_is_trusted_for_fhir_calls(
    tmp_path: Path, http: httpx.AsyncClient, tls_fhir: tuple[str, Path], with_bundle: bool, expected: int
) -> None:
    base_url, ca_path = tls_fhir
    settings = dev_settings_for(
        tmp_path, fhir_server_allowlist=[base_url], outbound_ca_bundle=ca_path if with_bundle else None
    )
    with serve_asgi(create_app(settings)) as service:
        body = hook_body("patient-view", fhir_server=base_url, access_token=ACCESS_TOKEN)
        response = await http.post(f"{service}{service_path('patient-view')}", json=body)
    assert response.status_code == expected


@pytest.mark.parametrize(
    ("setting", "value", "message"),
    [
        ("outbound_ca_bundle", "/nonexistent/hospital-ca.pem", "does not point to a file"),
        ("outbound_https_proxy", "proxy.hospital.example:3128", "http:// or https:// URL"),
    ],
)
def test_bad_outbound_network_settings_stop_start_up_with_a_clear_message(
    tmp_path: Path, setting: str, value: str, message: str
) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=message):
        settings_for(tmp_path, **{setting: value})
