"""JSON Web Key Sets: parsing, the remote JWKS cache, and binding a JWK to the token's algorithm.

Keys are kept as plain public JWK members (never private parts) keyed by `kid`; a `jwt.PyJWK` is built
per verification, bound to the algorithm the client is allowed to use, so the token header can never
choose how a key is used (algorithm confusion).

Remote sets are fetched with the shared outbound httpx client (no redirects, no cookies, bounded time,
and bounded size on the wire and decoded, see service/fhir_access/outbound.py), cached for
`cache_seconds`, refreshed at most once per `min_refresh_interval_seconds` per URL whatever the callers
ask for (an attacker sending random `kid`s cannot make us hammer the JWKS host), and kept when a refresh
fails (the last good keys go on working until a fetch succeeds).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt
import orjson

from service.fhir_access.outbound import BodyRefused, read_bounded
from service.logs import get_logger

log = get_logger("service.security.jwks")

Jwk = dict[str, Any]
KeySet = Mapping[str, Jwk]

MAX_JWKS_BYTES = 256 * 1024
MAX_KEYS = 64
MAX_KID_LENGTH = 256
FETCH_TIMEOUT = httpx.Timeout(3.0, connect=2.0)
FETCH_DEADLINE_SECONDS = 5.0

# The public members of the key types we accept; anything else (private parts, x5c chains) is dropped.
_PUBLIC_MEMBERS = {
    "EC": ("kty", "kid", "crv", "x", "y", "alg", "use"),
    "RSA": ("kty", "kid", "n", "e", "alg", "use"),
}
# Which key type and curve each accepted algorithm needs (RFC 7518 section 3).
_KEY_FOR_ALGORITHM = {
    "ES256": ("EC", "P-256"),
    "ES384": ("EC", "P-384"),
    "RS256": ("RSA", None),
    "RS384": ("RSA", None),
}


class JwksError(ValueError):
    """A JWKS document could not be had or is not usable. The message never holds key material."""


class KeyMismatch(Exception):
    """The key found for `kid` cannot be used with the token's algorithm."""


def _public_jwk(candidate: object) -> Jwk | None:
    if not isinstance(candidate, dict):
        return None
    kid, kty = candidate.get("kid"), candidate.get("kty")
    if not isinstance(kid, str) or not 0 < len(kid) <= MAX_KID_LENGTH or kty not in _PUBLIC_MEMBERS:
        return None
    if candidate.get("use", "sig") != "sig":
        return None
    return {name: candidate[name] for name in _PUBLIC_MEMBERS[kty] if name in candidate}


def parse_jwks(document: object) -> dict[str, Jwk]:
    """The signing keys of a JWKS document by kid. Unusable members are skipped; none usable is an error."""
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise JwksError("a JWKS must be a JSON object with a 'keys' array")
    keys: dict[str, Jwk] = {}
    for candidate in document["keys"][:MAX_KEYS]:
        jwk_ = _public_jwk(candidate)
        if jwk_ is not None:
            # A duplicated kid keeps its first key: the set's order is the publisher's preference.
            keys.setdefault(jwk_["kid"], jwk_)
    if not keys:
        raise JwksError("the JWKS holds no EC or RSA signing key with a kid")
    return keys


def verification_key(jwk_: Jwk, algorithm: str) -> jwt.PyJWK:
    """A PyJWK bound to `algorithm`, refusing a key whose type, curve or declared alg does not fit it."""
    expected = _KEY_FOR_ALGORITHM.get(algorithm)
    if expected is None:
        raise KeyMismatch(f"algorithm {algorithm} is not supported")
    kty, crv = expected
    if jwk_.get("kty") != kty or (crv is not None and jwk_.get("crv") != crv):
        raise KeyMismatch(f"the key for this kid is not a {kty} key for {algorithm}")
    declared = jwk_.get("alg")
    if declared is not None and declared != algorithm:
        raise KeyMismatch(f"the key for this kid is declared for {declared}, not {algorithm}")
    try:
        return jwt.PyJWK(jwk_, algorithm=algorithm)
    except jwt.PyJWTError:
        raise KeyMismatch("the key for this kid cannot be loaded") from None


@dataclass
class _Entry:
    keys: dict[str, Jwk] = field(default_factory=dict)
    fetched_at: float | None = None
    last_attempt: float | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class JwksCache:
    """Remote JWKS by URL. One instance per Authenticator; entries live as long as it does."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        cache_seconds: float,
        min_refresh_interval_seconds: float,
        clock: Callable[[], float] = time.monotonic,
        max_bytes: int = MAX_JWKS_BYTES,
        fetch_deadline_seconds: float = FETCH_DEADLINE_SECONDS,
    ) -> None:
        self._http = http
        self._cache_seconds = cache_seconds
        self._min_refresh_interval = min_refresh_interval_seconds
        self._clock = clock
        self._max_bytes = max_bytes
        self._fetch_deadline = fetch_deadline_seconds
        self._entries: dict[str, _Entry] = {}

    async def find_key(self, url: str, kid: str) -> Jwk | None:
        """The key `kid` of the JWKS at `url`: from the cache, else after at most one (bounded) refresh."""
        entry = self._entries.setdefault(url, _Entry())
        if self._is_fresh(entry) and kid in entry.keys:
            return entry.keys[kid]
        await self._refresh(url, entry)
        return entry.keys.get(kid)

    def _is_fresh(self, entry: _Entry) -> bool:
        return entry.fetched_at is not None and self._clock() - entry.fetched_at < self._cache_seconds

    async def _refresh(self, url: str, entry: _Entry) -> None:
        # The lock makes concurrent callers share one fetch: whoever waited finds last_attempt recent.
        async with entry.lock:
            now = self._clock()
            if entry.last_attempt is not None and now - entry.last_attempt < self._min_refresh_interval:
                return
            entry.last_attempt = now
            try:
                keys = await self._fetch(url)
            except JwksError as error:
                log.warning("jwks_fetch_failed", url=url, error=str(error), kept_keys=len(entry.keys))
                return
            entry.keys = keys
            entry.fetched_at = self._clock()
            log.info("jwks_fetched", url=url, keys=len(keys))

    async def _fetch(self, url: str) -> dict[str, Jwk]:
        try:
            async with asyncio.timeout(self._fetch_deadline):
                body = await self._get(url)
        except TimeoutError:
            raise JwksError("the JWKS host did not answer in time") from None
        except httpx.HTTPError as error:
            raise JwksError(f"the JWKS host could not be reached ({type(error).__name__})") from None
        try:
            document = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise JwksError("the JWKS host answered non-JSON") from None
        return parse_jwks(document)

    async def _get(self, url: str) -> bytes:
        headers = {"Accept": "application/json, application/jwk-set+json"}
        async with self._http.stream(
            "GET", url, headers=headers, follow_redirects=False, timeout=FETCH_TIMEOUT
        ) as response:
            if response.status_code != 200:
                # A redirect is a failure too: the allowlisted URL is the only place keys come from.
                raise JwksError(f"the JWKS host answered HTTP {response.status_code}")
            try:
                return await read_bounded(response, self._max_bytes)
            except BodyRefused as refused:
                raise JwksError(f"the JWKS document was refused: {refused}") from None
