"""Trusted CDS clients (EHRs): who may call us, with which keys, and which FHIR servers they may name.

The file named by CDS_TRUSTED_CLIENTS_FILE is JSON (``.json``) or YAML (``.yaml``/``.yml``): either a list
of clients or an object ``{"clients": [...]}``. Each client:

    iss                    the JWT issuer, matched exactly
    jwks | jwks_file | jwks_url
                           exactly one: an inline JWKS, a JWKS file (relative to the config file), or an
                           https URL fetched and cached at run time
    jku_allowlist          JWKS URLs a token may name in its `jku` header (exact match); default none
    algorithms             ES384, RS384 (the default), and optionally ES256, RS256; never none or HMAC
    tenants                when given, the token must carry one of these `tenant` values
    fhir_server_allowlist  FHIR base URLs this client may name as fhirServer

The file is validated at start-up: any problem stops the service with a message naming the client.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import httpx
import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from service.card_language import CardLanguage
from service.security.jwks import Jwk, JwksError, parse_jwks

Algorithm = Literal["ES384", "RS384", "ES256", "RS256"]
DEFAULT_ALGORITHMS: tuple[Algorithm, ...] = ("ES384", "RS384")
NonEmpty = Annotated[str, StringConstraints(min_length=1, max_length=512)]


class TrustedClientsError(ValueError):
    """The trusted clients file is missing, unreadable or invalid; start-up must stop."""


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _checked_url(value: str, what: str) -> str:
    """https, or http on a loopback host (a local sidecar or a test server); no user info, no fragment."""
    try:
        url = httpx.URL(value)
    except (httpx.InvalidURL, TypeError):
        raise ValueError(f"{what} {value!r} is not a URL") from None
    if not url.host or url.userinfo or url.fragment:
        raise ValueError(f"{what} {value!r} must be an absolute URL without user info or fragment")
    if url.scheme == "https" or (url.scheme == "http" and _is_loopback(url.host)):
        return value
    raise ValueError(f"{what} {value!r} must use https (http only on a loopback host)")


class TrustedClientConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    iss: NonEmpty
    jwks: dict[str, Any] | None = None
    jwks_file: Path | None = None
    jwks_url: str | None = None
    jku_allowlist: tuple[str, ...] = ()
    algorithms: tuple[Algorithm, ...] = Field(default=DEFAULT_ALGORITHMS, min_length=1)
    tenants: tuple[NonEmpty, ...] | None = Field(default=None, min_length=1)
    fhir_server_allowlist: tuple[str, ...] = ()
    # The cards' language for this client (issue 19 section 3); unset: the request's Accept-Language.
    language: CardLanguage | None = None

    @field_validator("algorithms", mode="before")
    @classmethod
    def _no_weak_algorithms(cls, value: Any) -> Any:
        for name in value if isinstance(value, list | tuple) else ():
            if isinstance(name, str) and (name.lower() == "none" or name.upper().startswith("HS")):
                raise ValueError(f"algorithm {name!r} is never accepted (no 'none', no HMAC)")
        return value

    @field_validator("jwks_url")
    @classmethod
    def _jwks_url(cls, value: str | None) -> str | None:
        return None if value is None else _checked_url(value, "jwks_url")

    @field_validator("jku_allowlist")
    @classmethod
    def _jku_urls(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(_checked_url(value, "jku_allowlist entry") for value in values)

    @field_validator("fhir_server_allowlist")
    @classmethod
    def _fhir_urls(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(_checked_url(value, "fhir_server_allowlist entry") for value in values)

    @field_validator("jwks")
    @classmethod
    def _inline_jwks(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None:
            _check_public(value)
            parse_jwks(value)
        return value

    @model_validator(mode="after")
    def _one_key_source(self) -> TrustedClientConfig:
        sources = [name for name in ("jwks", "jwks_file", "jwks_url") if getattr(self, name) is not None]
        if len(sources) != 1:
            raise ValueError(
                f"exactly one of jwks, jwks_file, jwks_url is required (got {sources or 'none'})"
            )
        return self


def _check_public(document: dict[str, Any]) -> None:
    keys = document.get("keys")
    for key in keys if isinstance(keys, list) else ():
        if isinstance(key, dict) and any(part in key for part in ("d", "p", "q", "k")):
            raise ValueError("the JWKS holds private or symmetric key material: publish public keys only")


@dataclass(frozen=True)
class TrustedClient:
    iss: str
    static_keys: Mapping[str, Jwk] | None
    jwks_url: str | None
    jku_allowlist: frozenset[str]
    algorithms: frozenset[str]
    tenants: frozenset[str] | None
    fhir_server_allowlist: tuple[str, ...]
    language: CardLanguage | None = None


class TrustedClientsFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    clients: list[TrustedClientConfig]


def _read_document(path: Path) -> Any:
    suffix = path.suffix.lower()
    if suffix not in (".json", ".yaml", ".yml"):
        raise TrustedClientsError(f"{path}: the trusted clients file must end in .json, .yaml or .yml")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise TrustedClientsError(f"{path}: cannot be read ({error})") from None
    try:
        return json.loads(text) if suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as error:
        raise TrustedClientsError(f"{path}: is not valid {suffix.lstrip('.').upper()} ({error})") from None


def _describe(error: ValidationError, path: Path) -> TrustedClientsError:
    problems = []
    for item in error.errors():
        location = ".".join(str(part) for part in item["loc"])
        problems.append(f"{location}: {item['msg']}")
    return TrustedClientsError(f"{path}: invalid trusted clients configuration: " + "; ".join(problems))


def _static_keys(config: TrustedClientConfig, base_dir: Path, index: int) -> dict[str, Jwk] | None:
    document: Any = config.jwks
    if config.jwks_file is not None:
        jwks_path = config.jwks_file if config.jwks_file.is_absolute() else base_dir / config.jwks_file
        document = _read_document(jwks_path)
        if isinstance(document, dict):
            try:
                _check_public(document)
            except ValueError as error:
                raise TrustedClientsError(f"{jwks_path}: {error}") from None
    if document is None:
        return None
    try:
        return parse_jwks(document)
    except JwksError as error:
        raise TrustedClientsError(f"clients.{index} ({config.iss}): {error}") from None


def _resolve(config: TrustedClientConfig, base_dir: Path, index: int) -> TrustedClient:
    return TrustedClient(
        iss=config.iss,
        static_keys=_static_keys(config, base_dir, index),
        jwks_url=config.jwks_url,
        jku_allowlist=frozenset(config.jku_allowlist),
        algorithms=frozenset(config.algorithms),
        tenants=frozenset(config.tenants) if config.tenants is not None else None,
        fhir_server_allowlist=config.fhir_server_allowlist,
        language=config.language,
    )


def parse_trusted_clients(document: Any, path: Path) -> dict[str, TrustedClient]:
    """Validate a loaded document; `path` names it in errors and anchors relative jwks_file paths."""
    if isinstance(document, list):
        document = {"clients": document}
    try:
        parsed = TrustedClientsFile.model_validate(document)
    except ValidationError as error:
        raise _describe(error, path) from None
    clients: dict[str, TrustedClient] = {}
    for index, config in enumerate(parsed.clients):
        if config.iss in clients:
            raise TrustedClientsError(f"{path}: clients.{index}: iss {config.iss!r} is listed twice")
        clients[config.iss] = _resolve(config, path.parent, index)
    return clients


def load_trusted_clients(path: Path | None) -> dict[str, TrustedClient]:
    """The trusted clients by issuer; no file means nobody is trusted."""
    if path is None:
        return {}
    if not path.is_file():
        raise TrustedClientsError(f"{path}: the trusted clients file does not exist")
    return parse_trusted_clients(_read_document(path), path)
