"""JWKS: parsing, binding keys to algorithms, and the remote cache (respx stands in for the JWKS host).

The cache's clock is a fake here, so cache expiry and the refresh bound are tested without sleeping.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from cryptography.hazmat.primitives.asymmetric import ec
from security_support import (
    DISCOVERY_URL,
    ISSUER,
    JWKS_URL,
    bearer,
    claims,
    client_entry,
    ec_key,
    jwks,
    mint,
    rsa_key,
    settings_for,
    write_clients,
)
from sqlalchemy.ext.asyncio import AsyncEngine

from service.exceptions import Unauthenticated
from service.security.authentication import Authenticator
from service.security.jwks import JwksCache, JwksError, KeyMismatch, parse_jwks, verification_key
from service.storage.database import create_engine, create_schema

CACHE_SECONDS = 3600.0
MIN_REFRESH = 10.0


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(follow_redirects=False) as client:
        yield client


@pytest.fixture
def cache(http: httpx.AsyncClient, clock: FakeClock) -> JwksCache:
    return JwksCache(http, cache_seconds=CACHE_SECONDS, min_refresh_interval_seconds=MIN_REFRESH, clock=clock)


# --- parsing ---------------------------------------------------------------------------------------


def test_parse_keeps_public_members_only() -> None:
    key = ec_key("k1")
    private_jwk = {**key.public_jwk(), "d": "c2VjcmV0", "x5c": ["..."]}
    parsed = parse_jwks({"keys": [private_jwk]})
    assert set(parsed["k1"]) == {"kty", "kid", "crv", "x", "y", "use"}


def test_parse_skips_unusable_keys() -> None:
    good = rsa_key("good").public_jwk()
    document = {
        "keys": [
            {"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"},
            {**ec_key("enc").public_jwk(), "use": "enc"},
            {**ec_key().public_jwk(), "kid": None},
            {"kty": "OKP", "kid": "ed", "crv": "Ed25519", "x": "AA"},
            "not a key",
            good,
        ]
    }
    assert list(parse_jwks(document)) == ["good"]


def test_duplicate_kid_keeps_the_first_key() -> None:
    first, second = ec_key("same"), ec_key("same")
    parsed = parse_jwks(jwks(first, second))
    assert parsed["same"]["x"] == first.public_jwk()["x"]


@pytest.mark.parametrize(
    "document",
    [None, [], {}, {"keys": "x"}, {"keys": []}, {"keys": [{"kty": "oct"}]}],
    ids=["null", "array", "no-keys", "keys-not-array", "empty", "hmac-only"],
)
def test_parse_refuses_documents_without_a_usable_key(document: Any) -> None:
    with pytest.raises(JwksError):
        parse_jwks(document)


def test_verification_key_is_bound_to_the_algorithm() -> None:
    key = verification_key(ec_key("k").public_jwk(), "ES384")
    assert key.algorithm_name == "ES384"
    # An RSA key without `alg` would default to RS256 in PyJWK: it is bound to RS384 here.
    assert verification_key(rsa_key("r").public_jwk(), "RS384").algorithm_name == "RS384"


@pytest.mark.parametrize(
    ("jwk", "alg"),
    [
        (rsa_key("r").public_jwk(), "ES384"),
        (ec_key("e").public_jwk(), "RS384"),
        (ec_key("p256", ec.SECP256R1()).public_jwk(), "ES384"),
        (ec_key("p384").public_jwk(), "ES256"),
        (rsa_key("declared").public_jwk(alg="RS256"), "RS384"),
        (ec_key("any").public_jwk(), "HS256"),
        ({"kty": "EC", "kid": "broken", "crv": "P-384", "x": "AA", "y": "AA"}, "ES384"),
    ],
    ids=["rsa-as-es", "ec-as-rs", "p256-as-es384", "p384-as-es256", "declared-alg", "hmac", "broken-key"],
)
def test_verification_key_refuses_mismatches(jwk: dict[str, Any], alg: str) -> None:
    with pytest.raises(KeyMismatch):
        verification_key(jwk, alg)


# --- the remote cache ------------------------------------------------------------------------------


async def test_keys_are_cached(cache: JwksCache, clock: FakeClock) -> None:
    key = ec_key("k1")
    with respx.mock(assert_all_mocked=True) as mock:
        route = mock.get(JWKS_URL).respond(json=jwks(key))
        for _ in range(5):
            assert await cache.find_key(JWKS_URL, "k1") is not None
            clock.advance(60)
    assert route.call_count == 1


async def test_cache_expires_after_cache_seconds(cache: JwksCache, clock: FakeClock) -> None:
    with respx.mock(assert_all_mocked=True) as mock:
        route = mock.get(JWKS_URL).respond(json=jwks(ec_key("k1")))
        await cache.find_key(JWKS_URL, "k1")
        clock.advance(CACHE_SECONDS + 1)
        await cache.find_key(JWKS_URL, "k1")
    assert route.call_count == 2


async def test_unknown_kid_refreshes_once_and_finds_a_rotated_key(cache: JwksCache, clock: FakeClock) -> None:
    old, new = ec_key("old"), ec_key("new")
    with respx.mock(assert_all_mocked=True) as mock:
        route = mock.get(JWKS_URL)
        route.side_effect = [httpx.Response(200, json=jwks(old)), httpx.Response(200, json=jwks(old, new))]
        assert await cache.find_key(JWKS_URL, "old") is not None
        clock.advance(MIN_REFRESH + 1)
        assert await cache.find_key(JWKS_URL, "new") is not None
    assert route.call_count == 2


async def test_unknown_kid_is_refreshed_only_once(cache: JwksCache, clock: FakeClock) -> None:
    with respx.mock(assert_all_mocked=True) as mock:
        route = mock.get(JWKS_URL).respond(json=jwks(ec_key("k1")))
        await cache.find_key(JWKS_URL, "k1")
        clock.advance(MIN_REFRESH + 1)
        assert await cache.find_key(JWKS_URL, "never-published") is None
    assert route.call_count == 2, "one refresh for the unknown kid, no retry loop"


async def test_refreshes_are_bounded_per_source(cache: JwksCache, clock: FakeClock) -> None:
    """An attacker sending random kids gets at most one fetch per min_refresh_interval."""
    with respx.mock(assert_all_mocked=True) as mock:
        route = mock.get(JWKS_URL).respond(json=jwks(ec_key("k1")))
        for attempt in range(200):
            assert await cache.find_key(JWKS_URL, f"random-{attempt}") is None
            clock.advance(MIN_REFRESH / 20)  # 200 attempts over 10 intervals
    assert route.call_count <= 11


async def test_concurrent_unknown_kids_share_one_fetch(cache: JwksCache) -> None:
    with respx.mock(assert_all_mocked=True) as mock:
        route = mock.get(JWKS_URL).respond(json=jwks(ec_key("k1")))
        found = await asyncio.gather(*(cache.find_key(JWKS_URL, f"kid-{n}") for n in range(50)))
    assert found == [None] * 50
    assert route.call_count == 1


async def test_failed_fetch_is_not_retried_before_the_interval(cache: JwksCache, clock: FakeClock) -> None:
    with respx.mock(assert_all_mocked=True) as mock:
        route = mock.get(JWKS_URL).respond(503)
        for _ in range(10):
            assert await cache.find_key(JWKS_URL, "k1") is None
        clock.advance(MIN_REFRESH + 1)
        assert await cache.find_key(JWKS_URL, "k1") is None
    assert route.call_count == 2


async def test_last_good_keys_are_kept_when_a_refresh_fails(cache: JwksCache, clock: FakeClock) -> None:
    with respx.mock(assert_all_mocked=True) as mock:
        route = mock.get(JWKS_URL)
        route.side_effect = [httpx.Response(200, json=jwks(ec_key("k1"))), httpx.Response(500)]
        await cache.find_key(JWKS_URL, "k1")
        clock.advance(CACHE_SECONDS + 1)
        assert await cache.find_key(JWKS_URL, "k1") is not None
    assert route.call_count == 2


async def test_redirect_is_not_followed(cache: JwksCache) -> None:
    elsewhere = "https://attacker.example.net/jwks.json"
    with respx.mock(assert_all_mocked=True, assert_all_called=False) as mock:
        mock.get(JWKS_URL).respond(302, headers={"Location": elsewhere})
        followed = mock.get(elsewhere).respond(json=jwks(ec_key("k1")))
        assert await cache.find_key(JWKS_URL, "k1") is None
    assert not followed.called


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(200, content=b"<html>not json</html>"),
        httpx.Response(200, json=["not", "a", "jwks"]),
        httpx.Response(200, json={"keys": [{"kty": "oct", "kid": "k1", "k": "c2VjcmV0"}]}),
        httpx.Response(404, json={"error": "not found"}),
    ],
    ids=["non-json", "not-an-object", "hmac-only", "404"],
)
async def test_bad_documents_give_no_key(cache: JwksCache, response: httpx.Response) -> None:
    with respx.mock(assert_all_mocked=True) as mock:
        mock.get(JWKS_URL).mock(return_value=response)
        assert await cache.find_key(JWKS_URL, "k1") is None


async def test_oversized_document_is_refused(http: httpx.AsyncClient, clock: FakeClock) -> None:
    cache = JwksCache(http, cache_seconds=60, min_refresh_interval_seconds=0, clock=clock, max_bytes=4096)
    padding = {"kty": "EC", "kid": "pad", "crv": "P-384", "x": "A" * 8192, "y": "A"}
    with respx.mock(assert_all_mocked=True) as mock:
        mock.get(JWKS_URL).respond(json={"keys": [padding, ec_key("k1").public_jwk()]})
        assert await cache.find_key(JWKS_URL, "k1") is None


async def test_oversized_streamed_document_is_refused(http: httpx.AsyncClient, clock: FakeClock) -> None:
    """No Content-Length: the cap applies while reading."""
    cache = JwksCache(http, cache_seconds=60, min_refresh_interval_seconds=0, clock=clock, max_bytes=4096)

    async def endless() -> AsyncIterator[bytes]:
        yield b'{"keys": ['
        for _ in range(1000):
            yield b" " * 1024

    with respx.mock(assert_all_mocked=True) as mock:
        mock.get(JWKS_URL).mock(return_value=httpx.Response(200, content=endless()))
        assert await cache.find_key(JWKS_URL, "k1") is None


async def test_slow_jwks_host_is_cut_off(http: httpx.AsyncClient, clock: FakeClock) -> None:
    cache = JwksCache(
        http, cache_seconds=60, min_refresh_interval_seconds=0, clock=clock, fetch_deadline_seconds=0.2
    )

    async def hang(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(30)
        return httpx.Response(200, json=jwks(ec_key("k1")))

    # respx marks a route called only when it answered; this one never does.
    with respx.mock(assert_all_mocked=True, assert_all_called=False) as mock:
        mock.get(JWKS_URL).mock(side_effect=hang)
        async with asyncio.timeout(10):  # hang guard only
            assert await cache.find_key(JWKS_URL, "k1") is None


@pytest.mark.parametrize(
    "error",
    [httpx.ConnectTimeout("t"), httpx.ConnectError("refused"), httpx.ReadError("reset")],
    ids=["connect-timeout", "connect-refused", "read-reset"],
)
async def test_transport_errors_give_no_key(cache: JwksCache, error: Exception) -> None:
    with respx.mock(assert_all_mocked=True) as mock:
        mock.get(JWKS_URL).mock(side_effect=error)
        assert await cache.find_key(JWKS_URL, "k1") is None


# --- through the Authenticator -----------------------------------------------------------------------


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'jwks.sqlite3'}")
    await create_schema(engine)
    yield engine
    await engine.dispose()


async def test_jku_not_on_the_allowlist_is_refused_before_any_fetch(
    tmp_path: Path, engine: AsyncEngine, http: httpx.AsyncClient
) -> None:
    key = ec_key("k1")
    allowed = "https://keys.ehr.example.org/allowed.json"
    clients = write_clients(tmp_path, client_entry(jwks_url=JWKS_URL, jku_allowlist=[allowed]))
    authenticator = Authenticator(
        settings_for(tmp_path, trusted_clients_file=clients), engine=engine, http=http
    )
    hostile = [
        "https://attacker.example.net/jwks.json",
        "https://keys.ehr.example.org/allowed.json/../other.json",
        "https://keys.ehr.example.org/allowed.json?x=1",
        "http://keys.ehr.example.org/allowed.json",
        "http://127.0.0.1:9/jwks.json",
        "file:///etc/passwd",
    ]
    with respx.mock(assert_all_mocked=False, assert_all_called=False) as mock:
        for jku in hostile:
            token = mint(key, claims(), headers={"jku": jku})
            with pytest.raises(Unauthenticated) as raised:
                await authenticator.authenticate(bearer(token), DISCOVERY_URL)
            assert raised.value.reason == "jku_not_allowed"
        assert not mock.calls, "a refused jku must not cause any request"


async def test_unknown_kid_through_the_authenticator_fetches_once_per_interval(
    tmp_path: Path, engine: AsyncEngine, http: httpx.AsyncClient
) -> None:
    key = ec_key("k1")
    clients = write_clients(tmp_path, client_entry(jwks_url=JWKS_URL))
    settings = settings_for(tmp_path, trusted_clients_file=clients, jwks_min_refresh_interval_seconds=3600)
    authenticator = Authenticator(settings, engine=engine, http=http)
    with respx.mock(assert_all_mocked=True) as mock:
        route = mock.get(JWKS_URL).respond(json=jwks(key))
        assert (await authenticator.authenticate(bearer(mint(key, claims())), DISCOVERY_URL)).issuer == ISSUER
        for attempt in range(20):
            token = mint(key, claims(), kid=f"attacker-{attempt}")
            with pytest.raises(Unauthenticated) as raised:
                await authenticator.authenticate(bearer(token), DISCOVERY_URL)
            assert raised.value.reason == "unknown_kid"
    assert route.call_count == 1
