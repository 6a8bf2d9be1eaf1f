"""Where outbound calls may go (service.fhir_access.url_policy): parsed comparison, never string prefixes."""

from __future__ import annotations

import pytest

from service.fhir_access.url_policy import (
    has_hostile_path,
    is_under_base,
    normalised_base,
    outbound_allowed,
    parse_url,
)

BASE = "https://ehr.example.org/fhir"


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("https://ehr.example.org/fhir", id="the-base"),
        pytest.param("https://ehr.example.org/fhir/", id="base-trailing-slash"),
        pytest.param("https://ehr.example.org/fhir/Patient/1", id="read"),
        pytest.param("https://ehr.example.org/fhir/Condition?patient=1&_count=5", id="search"),
        pytest.param("https://EHR.Example.ORG/fhir/Patient/1", id="host-case-insensitive"),
    ],
)
def test_urls_under_the_base_are_allowed(url: str) -> None:
    assert is_under_base(url, BASE)


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("https://ehr.example.org:8443/fhir/Patient/1", id="other-port-when-base-names-none"),
        pytest.param("https://ehr.example.org.evil.test/fhir/Patient/1", id="suffix-domain"),
        pytest.param("https://ehr.example.org@evil.test/fhir/Patient/1", id="userinfo-trick"),
        pytest.param("https://user:pw@ehr.example.org/fhir/Patient/1", id="userinfo"),
        pytest.param("https://ehr.example.org\\@evil.test/fhir", id="backslash-trick"),
        pytest.param("http://ehr.example.org/fhir/Patient/1", id="scheme-downgrade"),
        pytest.param("https://evil.test/fhir/Patient/1", id="other-host"),
        pytest.param("https://ehr.example.org/fhirx/Patient/1", id="sibling-path-prefix"),
        pytest.param("https://ehr.example.org/admin", id="outside-path"),
        pytest.param("https://ehr.example.org/fhir/../admin", id="dot-dot"),
        pytest.param("https://ehr.example.org/fhir/%2e%2e/admin", id="encoded-dot-dot"),
        pytest.param("https://ehr.example.org/fhir/%2E%2E/admin", id="encoded-dot-dot-upper"),
        pytest.param("/fhir/Patient/1", id="relative"),
        pytest.param("ftp://ehr.example.org/fhir", id="ftp"),
        pytest.param("javascript:alert(1)", id="javascript"),
        pytest.param("", id="empty"),
    ],
)
def test_urls_outside_the_base_are_refused(url: str) -> None:
    assert not is_under_base(url, BASE)


def test_base_with_a_port_requires_that_port() -> None:
    assert is_under_base("https://ehr.example.org:8443/fhir/Patient/1", "https://ehr.example.org:8443/fhir")
    assert not is_under_base(
        "https://ehr.example.org:9443/fhir/Patient/1", "https://ehr.example.org:8443/fhir"
    )


def test_base_at_the_root_allows_every_path_on_the_host() -> None:
    assert is_under_base("http://127.0.0.1:8090/Patient/1", "http://127.0.0.1")


@pytest.mark.parametrize(
    ("url", "valid"),
    [
        ("https://ehr.example.org/fhir", True),
        ("http://127.0.0.1:8090", True),
        ("https://user@ehr.example.org", False),
        ("https:///fhir", False),
        ("mailto:a@b.c", False),
        ("not a url", False),
    ],
)
def test_parse_url_accepts_only_http_urls_with_a_host_and_no_userinfo(url: str, valid: bool) -> None:
    assert (parse_url(url) is not None) is valid


ALLOWLIST = ("https://ehr.example.org/fhir", "http://127.0.0.1", "http://localhost", "http://[::1]")


@pytest.mark.parametrize(
    ("url", "development", "allowed"),
    [
        pytest.param("https://ehr.example.org/fhir", False, True, id="https-allowlisted"),
        pytest.param("https://ehr.example.org/fhir/r4", False, True, id="https-below-allowlisted"),
        pytest.param("https://ehr.example.org/other", False, False, id="https-outside-allowlisted-path"),
        pytest.param("https://evil.test/fhir", True, False, id="not-allowlisted"),
        pytest.param("http://127.0.0.1:8090", True, True, id="loopback-http-in-development"),
        pytest.param("http://localhost:8090/fhir", True, True, id="localhost-http-in-development"),
        pytest.param("http://[::1]:8090", True, True, id="ipv6-loopback-http-in-development"),
        pytest.param("http://127.0.0.1:8090", False, False, id="loopback-http-in-production"),
        pytest.param("http://ehr.example.org/fhir", True, False, id="plain-http-to-a-remote-host"),
        pytest.param("http://127.0.0.1.evil.test:8090", True, False, id="loopback-lookalike"),
        pytest.param("http://127.0.0.1@evil.test", True, False, id="loopback-userinfo-trick"),
    ],
)
def test_outbound_allowed(url: str, development: bool, allowed: bool) -> None:
    assert outbound_allowed(url, ALLOWLIST, development=development) is allowed


def test_nothing_is_allowed_with_an_empty_allowlist() -> None:
    assert not outbound_allowed("https://ehr.example.org/fhir", (), development=True)


def test_a_loopback_base_without_a_port_allows_any_port() -> None:
    assert is_under_base("http://127.0.0.1:49152/fhir/Patient/1", "http://127.0.0.1")


# --- issue 11, finding 6: segments a server may resolve elsewhere --------------------------------------

HOSTILE_SUFFIXES = [
    "/..;/admin",
    "/..%3B/admin",
    "/..%5cadmin",
    "/..\\admin",
    "/%2e%2e/admin",
    "/%2E%2e/admin",
    "/%252e%252e/admin",
    "/%25252e%25252e/admin",
    "/./Patient",
    "/../admin",
    "/Patient;jsessionid=1",
    "/a%2fb",
    "/a%252fb",
]


@pytest.mark.parametrize("suffix", HOSTILE_SUFFIXES)
def test_hostile_segments_are_refused_everywhere(suffix: str) -> None:
    url = BASE + suffix
    assert has_hostile_path(url)
    assert normalised_base(url) is None
    assert not is_under_base(url, BASE)
    assert not outbound_allowed(url, [BASE], development=False)


@pytest.mark.parametrize(
    ("url", "normalised"),
    [
        ("https://EHR.example.org:443/fhir/", "https://ehr.example.org/fhir"),
        ("https://ehr.example.org/fhir", "https://ehr.example.org/fhir"),
        ("https://ehr.example.org:8443/fhir/r4", "https://ehr.example.org:8443/fhir/r4"),
        ("https://ehr.example.org/fhir/%7Euser", "https://ehr.example.org/fhir/%7Euser"),
        ("https://ehr.example.org/fhir?x=1", None),
        ("https://ehr.example.org/fhir#top", None),
        ("https://user@ehr.example.org/fhir", None),
    ],
)
def test_fhir_bases_are_normalised(url: str, normalised: str | None) -> None:
    assert normalised_base(url) == normalised


def test_a_search_query_may_hold_semicolons() -> None:
    assert is_under_base(f"{BASE}/Observation?code=a;b", BASE)
