"""Trusted clients configuration: loading, validation, and what start-up says about it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from security_support import ISSUER, client_entry, ec_key, jwks, running_app, settings_for, write_clients

from service.security.trusted_clients import TrustedClientsError, load_trusted_clients, parse_trusted_clients

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"


def _load(tmp_path: Path, document: Any, name: str = "clients.yaml") -> Any:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(document) if name.endswith((".yaml", ".yml")) else json.dumps(document))
    return load_trusted_clients(path)


def test_no_file_trusts_nobody() -> None:
    assert load_trusted_clients(None) == {}


def test_yaml_and_json_and_bare_list(tmp_path: Path) -> None:
    entry = client_entry(ec_key("k1"))
    for name, document in [
        ("a.yaml", {"clients": [entry]}),
        ("b.yml", [entry]),
        ("c.json", {"clients": [entry]}),
        ("d.json", [entry]),
    ]:
        clients = _load(tmp_path, document, name)
        assert list(clients) == [ISSUER]
        client = clients[ISSUER]
        assert client.static_keys is not None and "k1" in client.static_keys
        assert client.algorithms == frozenset({"ES384", "RS384"})
        assert client.tenants is None


def test_full_entry(tmp_path: Path) -> None:
    entry = {
        "iss": ISSUER,
        "jwks_url": "https://keys.example.org/jwks.json",
        "jku_allowlist": ["https://keys.example.org/jwks.json"],
        "algorithms": ["RS384", "ES256"],
        "tenants": ["t1", "t2"],
        "fhir_server_allowlist": ["https://fhir.example.org/r4"],
    }
    client = _load(tmp_path, [entry])[ISSUER]
    assert client.jwks_url == "https://keys.example.org/jwks.json"
    assert client.jku_allowlist == frozenset({"https://keys.example.org/jwks.json"})
    assert client.algorithms == frozenset({"RS384", "ES256"})
    assert client.tenants == frozenset({"t1", "t2"})
    assert client.fhir_server_allowlist == ("https://fhir.example.org/r4",)


def test_jwks_file_relative_to_the_config(tmp_path: Path) -> None:
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "ehr.json").write_bytes(orjson.dumps(jwks(ec_key("filed"))))
    client = _load(tmp_path, [{"iss": ISSUER, "jwks_file": "keys/ehr.json"}])[ISSUER]
    assert client.static_keys is not None and list(client.static_keys) == ["filed"]


@pytest.mark.parametrize("name", ["trusted-clients.development.yaml", "trusted-clients.example.yaml"])
def test_shipped_files_are_valid(name: str) -> None:
    assert load_trusted_clients(DEPLOY / name)


def test_development_file_trusts_the_sandbox() -> None:
    client = load_trusted_clients(DEPLOY / "trusted-clients.development.yaml")[
        "https://sandbox.cds-hooks.org"
    ]
    assert client.jku_allowlist == frozenset({"https://sandbox.cds-hooks.org/.well-known/jwks.json"})
    # The public key set is inline (no network needed); the jku stays allowlisted for rotations.
    assert client.jwks_url is None
    assert client.static_keys is not None
    assert list(client.static_keys) == ["44823f3d-0b01-4a6c-a80e-b9d3e8a7226f"]
    assert client.fhir_server_allowlist == ("https://launch.smarthealthit.org/v/r4/fhir",)
    assert "never" in (DEPLOY / "trusted-clients.development.yaml").read_text().lower()


BAD_ENTRIES: list[tuple[str, dict[str, Any], str]] = [
    ("HS256", {"algorithms": ["HS256"]}, "never accepted"),
    ("none", {"algorithms": ["none"]}, "never accepted"),
    ("PS512", {"algorithms": ["PS512"]}, "algorithms"),
    ("empty algorithms", {"algorithms": []}, "algorithms"),
    ("empty tenants", {"tenants": []}, "tenants"),
    ("typo in a field", {"jwks_uri": "https://keys.example.org"}, "jwks_uri"),
    ("http jwks_url", {"jwks": None, "jwks_url": "http://keys.example.org/jwks.json"}, "https"),
    ("user info in a URL", {"jwks": None, "jwks_url": "https://u:p@keys.example.org/j"}, "user info"),
    ("http jku", {"jku_allowlist": ["http://keys.example.org/jwks.json"]}, "https"),
    ("http fhir server", {"fhir_server_allowlist": ["http://fhir.example.org"]}, "https"),
    ("not a url", {"fhir_server_allowlist": ["fhir server"]}, "fhir_server_allowlist"),
    ("two key sources", {"jwks_url": "https://keys.example.org/jwks.json"}, "exactly one"),
    ("no key source", {"jwks": None}, "exactly one"),
    ("private key inline", {"jwks": {"keys": [{**ec_key("p").public_jwk(), "d": "AAAA"}]}}, "private"),
    ("symmetric key inline", {"jwks": {"keys": [{"kty": "oct", "kid": "s", "k": "AAAA"}]}}, "private"),
    ("no usable key", {"jwks": {"keys": [{"kty": "EC", "kid": "x", "use": "enc"}]}}, "no EC or RSA"),
    ("empty iss", {"iss": ""}, "iss"),
]


@pytest.mark.parametrize(
    ("change", "message"), [(c, m) for _, c, m in BAD_ENTRIES], ids=[b[0] for b in BAD_ENTRIES]
)
def test_bad_entries_fail_with_a_clear_message(tmp_path: Path, change: dict[str, Any], message: str) -> None:
    entry = {**client_entry(ec_key("k1")), **change}
    entry = {name: value for name, value in entry.items() if value is not None}
    with pytest.raises(TrustedClientsError) as raised:
        _load(tmp_path, {"clients": [entry]})
    assert message in str(raised.value)
    assert str(tmp_path / "clients.yaml") in str(raised.value)


def test_http_on_loopback_is_allowed_for_local_key_servers(tmp_path: Path) -> None:
    entry = {"iss": ISSUER, "jwks_url": "http://127.0.0.1:8081/jwks.json", "fhir_server_allowlist": []}
    assert _load(tmp_path, [entry])[ISSUER].jwks_url == "http://127.0.0.1:8081/jwks.json"


def test_duplicate_issuer(tmp_path: Path) -> None:
    entry = client_entry(ec_key("k1"))
    with pytest.raises(TrustedClientsError, match="listed twice"):
        _load(tmp_path, [entry, entry])


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("clients.txt", "[]", "must end in"),
        ("clients.yaml", "clients: [unclosed", "not valid YAML"),
        ("clients.json", "{not json", "not valid JSON"),
        ("clients.yaml", "just a string", "invalid trusted clients"),
        ("clients.json", '{"clients": [], "extra": 1}', "extra"),
    ],
)
def test_unreadable_files(tmp_path: Path, name: str, content: str, message: str) -> None:
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(TrustedClientsError, match=message):
        load_trusted_clients(path)


def test_missing_files(tmp_path: Path) -> None:
    with pytest.raises(TrustedClientsError, match="does not exist"):
        load_trusted_clients(tmp_path / "absent.yaml")
    config = tmp_path / "clients.json"
    config.write_text(json.dumps([{"iss": ISSUER, "jwks_file": "absent.json"}]))
    with pytest.raises(TrustedClientsError, match="cannot be read"):
        load_trusted_clients(config)


def test_parse_names_the_failing_client(tmp_path: Path) -> None:
    good = client_entry(ec_key("k1"))
    bad = {**client_entry(ec_key("k2"), iss="https://b.example"), "algorithms": ["HS512"]}
    with pytest.raises(TrustedClientsError, match=r"clients\.1\.algorithms"):
        parse_trusted_clients([good, bad], tmp_path / "x.yaml")


# --- start-up ------------------------------------------------------------------------------------


async def test_bad_file_fails_start_up(tmp_path: Path) -> None:
    config = write_clients(tmp_path, {**client_entry(ec_key("k1")), "algorithms": ["HS256"]})
    with pytest.raises(TrustedClientsError, match="never accepted"):
        async with running_app(settings_for(tmp_path, trusted_clients_file=config)):
            pass


async def test_start_up_warns_when_nobody_is_trusted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async with running_app(settings_for(tmp_path)):
        pass
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    warnings = [line for line in lines if line.get("event") == "no_trusted_clients"]
    assert warnings and warnings[0]["level"] == "warning"


async def test_start_up_warns_loudly_about_unauthenticated_development(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async with running_app(settings_for(tmp_path, profile="development", allow_unauthenticated=True)):
        pass
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    loud = [line for line in lines if line.get("event") == "unauthenticated_calls_allowed"]
    assert loud and loud[0]["level"] == "warning" and "DEVELOPMENT ONLY" in loud[0]["message"]


async def test_start_up_warns_when_production_has_no_public_base_url(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_clients(tmp_path, client_entry(ec_key("k1")))
    async with running_app(settings_for(tmp_path, trusted_clients_file=config)):
        pass
    events = [
        json.loads(line).get("event") for line in capsys.readouterr().err.splitlines() if line.startswith("{")
    ]
    assert "public_base_url_unset" in events
