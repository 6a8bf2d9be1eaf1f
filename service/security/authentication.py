"""Authenticating CDS clients: the CDS Hooks 2.0 `Authorization: Bearer <JWT>` check.

Order of checks (the spec's, cheapest first; the unverified claims are read only to pick the client and
to refuse obviously bad tokens before any key lookup):

  1. a Bearer token is present and parses as a JWS             missing_token, malformed_token
  2. `iss` names a trusted client                              untrusted_issuer, no_trusted_clients
  3. `aud` is exactly the URL called (string, or array naming it) bad_audience
  4. `exp` not passed; `iat` present and not in the future;    expired, token_too_long_lived
     `exp - iat` within jwt_max_lifetime_seconds (all with jwt_leeway_seconds); `nbf` if present
  5. `tenant` on the client's list when it has one             tenant_not_allowed (also when absent)
  6. header `alg` allowed for the client; `kid` present        bad_algorithm, missing_claim
  7. key: a kid in the client's inline/file JWKS is used as it is (no fetch, whatever `jku` says);
     otherwise `jku` must be on the client's jku allowlist BEFORE any fetch, else the client's
     jwks_url; an unknown kid refreshes a remote set once (bounded)  jku_not_allowed, unknown_kid
  8. signature and claims again, by PyJWT, bound to the key's algorithm
                                                               bad_signature (and the above)
  9. `jti` not seen before for this issuer (database)           replayed_jti

`iss`, `aud`, `exp`, `iat` and `jti` are required (missing_claim). A future `iat` is refused as
`expired`: the token is outside its validity window either way. Every failure raises
Unauthenticated(reason, detail); the detail is for the log and never holds the token or claim values.
Anything else a hostile token makes steps 1-8 trip over is `malformed_token`, never a 500.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import jwt
from sqlalchemy.ext.asyncio import AsyncEngine

from service.audit import note_auth_failure, note_caller
from service.card_language import CardLanguage
from service.exceptions import Unauthenticated
from service.logs import get_logger
from service.security.jwks import MAX_KID_LENGTH, Jwk, JwksCache, KeyMismatch, verification_key
from service.security.replay_store import ReplayStore, UnrecordableJti, is_well_formed_jti
from service.security.trusted_clients import TrustedClient, load_trusted_clients
from service.settings import Settings
from service.storage.database import JTI_LENGTH

log = get_logger("service.security.authentication")

MAX_TOKEN_LENGTH = 16 * 1024
MAX_JTI_LENGTH = JTI_LENGTH
REQUIRED_CLAIMS = ("iss", "aud", "exp", "iat", "jti")


@dataclass(frozen=True)
class Caller:
    """Who called: the verified client, or an unauthenticated development caller (issuer None)."""

    issuer: str | None
    tenant: str | None
    fhir_server_allowlist: tuple[str, ...]
    language: CardLanguage | None = None  # the client's card language (trusted-clients file)


@dataclass(frozen=True)
class _Token:
    raw: str
    header: dict[str, Any]
    claims: dict[str, Any]


def _bearer_token(authorization: str) -> str:
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthenticated("malformed_token", "the Authorization header is not 'Bearer <token>'")
    if len(token) > MAX_TOKEN_LENGTH:
        raise Unauthenticated("malformed_token", "the bearer token is too long")
    return token


def _unverified(raw: str) -> _Token:
    try:
        # Header and claims from one parse: the signature check in `_verify_signature` parses again,
        # and each parse validates every character of the token (a real share of the cost per call).
        parts = jwt.decode_complete(raw, options={"verify_signature": False})
    except (jwt.PyJWTError, ValueError, TypeError, ArithmeticError, RecursionError):
        raise Unauthenticated("malformed_token", "the bearer token is not a JWS compact JWT") from None
    header, claims = parts.get("header"), parts.get("payload")
    if not isinstance(header, dict):
        raise Unauthenticated("malformed_token", "the JWT header is not a JSON object")
    if not isinstance(claims, dict):
        raise Unauthenticated("malformed_token", "the JWT claims are not a JSON object")
    return _Token(raw, header, claims)


def _required(claims: Mapping[str, Any]) -> None:
    missing = [name for name in REQUIRED_CLAIMS if claims.get(name) is None]
    if missing:
        raise Unauthenticated("missing_claim", f"required claims missing: {', '.join(missing)}")


def _check_audience(claims: Mapping[str, Any], audience: str) -> None:
    aud = claims["aud"]
    names = [aud] if isinstance(aud, str) else aud
    if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
        raise Unauthenticated("bad_audience", "aud is neither a string nor an array of strings")
    if audience not in names:
        raise Unauthenticated("bad_audience", f"aud does not name the URL called ({audience})")


def _timestamp(claims: Mapping[str, Any], name: str) -> float:
    value = claims[name]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise Unauthenticated("malformed_token", f"{name} is not a NumericDate")
    return float(value)


def _check_times(claims: Mapping[str, Any], now: float, leeway: float, max_lifetime: float) -> None:
    exp, iat = _timestamp(claims, "exp"), _timestamp(claims, "iat")
    if exp <= now - leeway:
        raise Unauthenticated("expired", "exp has passed")
    if iat > now + leeway:
        raise Unauthenticated("expired", "iat is in the future: the token is not valid yet")
    if claims.get("nbf") is not None and _timestamp(claims, "nbf") > now + leeway:
        raise Unauthenticated("expired", "nbf is in the future: the token is not valid yet")
    if exp - iat > max_lifetime:
        raise Unauthenticated("token_too_long_lived", f"exp - iat exceeds {max_lifetime:.0f} s")


def _check_tenant(claims: Mapping[str, Any], client: TrustedClient) -> str | None:
    tenant = claims.get("tenant")
    if tenant is not None and not isinstance(tenant, str):
        raise Unauthenticated("malformed_token", "tenant is not a string")
    if client.tenants is not None and tenant not in client.tenants:
        detail = "no tenant claim" if tenant is None else "tenant is not on the client's list"
        raise Unauthenticated("tenant_not_allowed", detail)
    return tenant


def _check_header(header: Mapping[str, Any], client: TrustedClient) -> tuple[str, str]:
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in client.algorithms:
        raise Unauthenticated("bad_algorithm", "alg is not one this client may use")
    kid = header.get("kid")
    if kid is None:
        raise Unauthenticated("missing_claim", "the JWT header has no kid")
    if not isinstance(kid, str) or not 0 < len(kid) <= MAX_KID_LENGTH:
        raise Unauthenticated("malformed_token", "kid is not a short string")
    return alg, kid


def _jti(claims: Mapping[str, Any]) -> str:
    """A jti the replay store can record as it is: a printable string (no NUL or other control
    character, no lone surrogate) of at most 256 characters. Anything else would fail the database
    write of every call batched with it (issue 17 item 2), so it is refused here."""
    jti = claims["jti"]
    if not is_well_formed_jti(jti):
        raise Unauthenticated(
            "malformed_token", f"jti is not a printable string of at most {MAX_JTI_LENGTH} characters"
        )
    assert isinstance(jti, str)
    return jti


_DECODE_FAILURES: tuple[tuple[type[jwt.PyJWTError], str], ...] = (
    (jwt.InvalidSignatureError, "bad_signature"),
    (jwt.ExpiredSignatureError, "expired"),
    (jwt.ImmatureSignatureError, "expired"),
    (jwt.InvalidAudienceError, "bad_audience"),
    (jwt.MissingRequiredClaimError, "missing_claim"),
    (jwt.InvalidAlgorithmError, "bad_algorithm"),
    (jwt.InvalidKeyError, "bad_signature"),
)


def _verify_signature(
    token: _Token, key: jwt.PyJWK, client: TrustedClient, audience: str, leeway: float
) -> None:
    try:
        jwt.decode(
            token.raw,
            key=key,
            algorithms=[key.algorithm_name],
            audience=audience,
            issuer=client.iss,
            leeway=leeway,
            options={"require": list(REQUIRED_CLAIMS), "enforce_minimum_key_length": True},
        )
    except jwt.PyJWTError as error:
        reason = next((code for kind, code in _DECODE_FAILURES if isinstance(error, kind)), "malformed_token")
        raise Unauthenticated(reason, f"PyJWT refused the token ({type(error).__name__})") from None


class Authenticator:
    """Verifies callers. Holds the trusted clients, the JWKS cache and the replay store for its app."""

    def __init__(
        self,
        settings: Settings,
        *,
        engine: AsyncEngine,
        http: httpx.AsyncClient,
        replays: ReplayStore | None = None,
    ) -> None:
        self._settings = settings
        self._clients = load_trusted_clients(settings.trusted_clients_file)
        self._unauthenticated_allowed = settings.allow_unauthenticated and settings.is_development
        self._jwks = JwksCache(
            http,
            cache_seconds=settings.jwks_cache_seconds,
            min_refresh_interval_seconds=settings.jwks_min_refresh_interval_seconds,
            max_bytes=settings.jwks_max_bytes,
        )
        self._replays = replays if replays is not None else ReplayStore(engine)
        self._announce()

    @property
    def trusted_client_count(self) -> int:
        return len(self._clients)

    def _announce(self) -> None:
        settings = self._settings
        if settings.allow_unauthenticated and not settings.is_development:
            log.error(
                "allow_unauthenticated_ignored",
                message="CDS_ALLOW_UNAUTHENTICATED is ignored outside the development profile",
            )
        if self._unauthenticated_allowed:
            log.warning(
                "unauthenticated_calls_allowed",
                message="DEVELOPMENT ONLY: calls without an Authorization header are accepted "
                "without authentication. Never run this configuration with real patient data.",
            )
        if self._clients and not settings.public_base_url and not settings.is_development:
            log.warning(
                "public_base_url_unset",
                message="CDS_PUBLIC_BASE_URL is not set: the JWT aud check compares against a URL built "
                "from the request's Host header; set it to the URL the EHR calls",
            )
        if not self._clients:
            log.warning(
                "no_trusted_clients",
                message="no trusted clients are configured (CDS_TRUSTED_CLIENTS_FILE): "
                "every call with a token is refused",
            )
        else:
            log.info("trusted_clients_loaded", issuers=sorted(self._clients))

    async def authenticate(self, authorization: str | None, audience: str) -> Caller:
        try:
            caller = await self._authenticate(authorization, audience)
        except Unauthenticated as error:
            note_auth_failure(error.reason)
            raise
        note_caller(caller.issuer, caller.tenant)
        return caller

    async def _authenticate(self, authorization: str | None, audience: str) -> Caller:
        if authorization is None:
            if self._unauthenticated_allowed:
                return Caller(None, None, self._settings.effective_fhir_server_allowlist)
            raise Unauthenticated("missing_token", "no Authorization header")
        try:
            client, tenant, jti, expires_at = await self._verified(authorization, audience)
        except Unauthenticated:
            raise
        except Exception as error:
            # Whatever a hostile token makes a check trip over (a list where a string belongs, a number
            # too large for a timestamp) is a malformed token, never a 500.
            raise Unauthenticated(
                "malformed_token", f"the token could not be checked ({type(error).__name__})"
            ) from None
        await self._check_replay(client.iss, jti, expires_at)
        return Caller(client.iss, tenant, self._fhir_allowlist(client), client.language)

    async def _verified(
        self, authorization: str, audience: str
    ) -> tuple[TrustedClient, str | None, str, float]:
        """Every check but replay: the client, the tenant, the jti and how long to remember it."""
        token = _unverified(_bearer_token(authorization))
        client = self._client(token.claims)
        leeway = float(self._settings.jwt_leeway_seconds)
        _check_audience(token.claims, audience)
        _check_times(token.claims, time.time(), leeway, float(self._settings.jwt_max_lifetime_seconds))
        tenant = _check_tenant(token.claims, client)
        alg, kid = _check_header(token.header, client)
        jti = _jti(token.claims)
        key = await self._key(token.header, client, kid, alg)
        # In a worker thread: the signature check is most of the cost of a call's authentication
        # (about 0.5 ms for ES384) and OpenSSL releases the GIL while it runs, so the event loop keeps
        # serving other calls on another core meanwhile.
        await asyncio.to_thread(_verify_signature, token, key, client, audience, leeway)
        return client, tenant, jti, _timestamp(token.claims, "exp") + leeway

    def _client(self, claims: Mapping[str, Any]) -> TrustedClient:
        if not self._clients:
            raise Unauthenticated("no_trusted_clients", "no trusted clients are configured")
        iss = claims.get("iss")
        if iss is None:
            raise Unauthenticated("missing_claim", "required claims missing: iss")
        client = self._clients.get(iss) if isinstance(iss, str) else None
        if client is None:
            raise Unauthenticated("untrusted_issuer", "iss is not a trusted client")
        _required(claims)
        return client

    async def _key(self, header: Mapping[str, Any], client: TrustedClient, kid: str, alg: str) -> jwt.PyJWK:
        jku = header.get("jku")
        if jku is not None and not isinstance(jku, str):
            raise Unauthenticated("malformed_token", "jku is not a string")
        found = await self._find_key(jku, client, kid)
        if found is None:
            raise Unauthenticated("unknown_kid", "no key with this kid in the client's JWKS")
        try:
            return verification_key(found, alg)
        except KeyMismatch as error:
            raise Unauthenticated("bad_algorithm", str(error)) from None

    async def _find_key(self, jku: str | None, client: TrustedClient, kid: str) -> Jwk | None:
        """Configured keys win: a kid in the client's inline or file JWKS is used as it is, whatever
        `jku` says, so a client whose keys are configured is verified with no network at all. Only an
        unknown kid makes us fetch, and `jku` only when it is on the client's allowlist."""
        if client.static_keys is not None and kid in client.static_keys:
            return client.static_keys[kid]
        if jku is not None:
            if jku not in client.jku_allowlist:
                # Refused before any fetch: a token must not make us connect anywhere we did not choose.
                raise Unauthenticated("jku_not_allowed", "jku is not on the client's jku allowlist")
            return await self._jwks.find_key(jku, kid)
        if client.jwks_url is not None:
            return await self._jwks.find_key(client.jwks_url, kid)
        return None

    async def _check_replay(self, issuer: str, jti: str, expires_at: float) -> None:
        # Kept until the token could no longer pass the exp check (exp + leeway).
        try:
            accepted = await self._replays.remember(issuer, jti, datetime.fromtimestamp(expires_at, UTC))
        except UnrecordableJti:
            raise Unauthenticated(
                "malformed_token", "the jti could not be recorded for replay protection"
            ) from None
        if not accepted:
            raise Unauthenticated("replayed_jti", "this jti was already used by this issuer")

    def _fhir_allowlist(self, client: TrustedClient) -> tuple[str, ...]:
        # Bases the operator allows for every caller, then the ones this client may name.
        shared = self._settings.effective_fhir_server_allowlist
        return tuple(dict.fromkeys((*client.fhir_server_allowlist, *shared)))

    async def aclose(self) -> None:
        return None
