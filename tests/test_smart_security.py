"""The SMART app's security pieces on their own: PKCE S256 (RFC 7636), `state` and session ids, the
sealed session contents (AES-GCM), the scopes asked of v1 and v2 servers, the endpoints accepted, the
page's Content-Security-Policy and the access log without query strings."""

from __future__ import annotations

import logging

import pytest

from service.logs import WithoutQueryString
from service.settings import Settings
from smart_app import pkce
from smart_app.pages import content_security_policy, error_page
from smart_app.session_crypto import SessionCipher
from smart_app.smart_client import (
    SmartConfiguration,
    TokenResponse,
    app_context_topic,
    endpoint_allowed,
    scopes_for,
)

SECRET = "a-session-secret-of-at-least-32-chars"


def test_the_s256_challenge_is_rfc_7636s_appendix_b_example() -> None:
    assert (
        pkce.challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk")
        == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    )


@pytest.mark.parametrize("make", [pkce.new_verifier, pkce.new_state, pkce.new_session_id])
def test_verifiers_states_and_session_ids_are_43_url_safe_characters_never_repeated(make: object) -> None:
    values = {make() for _ in range(200)}  # type: ignore[operator]

    assert len(values) == 200
    for value in values:
        assert len(value) == 43
        assert set(value) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def test_the_database_keys_a_session_by_a_hash_never_the_cookie() -> None:
    session_id = pkce.new_session_id()

    assert pkce.session_key(session_id) != session_id and len(pkce.session_key(session_id)) == 64


def test_sealed_contents_open_with_the_same_key_and_binding() -> None:
    cipher = SessionCipher.from_secret(SECRET)
    sealed = cipher.seal({"access_token": "tok-123", "patient": "p1"}, "row-1|active")

    assert "tok-123" not in sealed and "p1" not in sealed
    assert cipher.open(sealed, "row-1|active") == {"access_token": "tok-123", "patient": "p1"}


@pytest.mark.parametrize(
    ("key", "binding", "tamper"),
    [
        (SECRET, "row-2|active", False),  # moved to another row
        (SECRET, "row-1|launch", False),  # presented at another stage
        ("another-secret-of-at-least-32-characters", "row-1|active", False),
        (SECRET, "row-1|active", True),  # one byte changed
    ],
    ids=["other-row", "other-stage", "other-key", "tampered"],
)
def test_sealed_contents_do_not_open_moved_tampered_or_under_another_key(
    key: str, binding: str, tamper: bool
) -> None:
    sealed = SessionCipher.from_secret(SECRET).seal({"access_token": "tok"}, "row-1|active")
    if tamper:
        middle = len(sealed) // 2
        sealed = sealed[:middle] + ("A" if sealed[middle] != "A" else "B") + sealed[middle + 1 :]

    assert SessionCipher.from_secret(key).open(sealed, binding) is None


def test_garbage_does_not_open() -> None:
    assert SessionCipher.from_secret(SECRET).open("not base64 at all!", "row|active") is None


def _configuration(scopes: tuple[str, ...] = (), capabilities: tuple[str, ...] = ()) -> SmartConfiguration:
    return SmartConfiguration(
        authorization_endpoint="https://ehr.example/authorize",
        token_endpoint="https://ehr.example/token",
        scopes_supported=scopes,
        capabilities=capabilities,
    )


@pytest.mark.parametrize(
    ("scopes", "capabilities", "asked"),
    [
        ((), (), "launch openid fhirUser patient/*.rs"),
        (("patient/*.rs", "patient/*.read"), (), "launch openid fhirUser patient/*.rs"),
        (("patient/Observation.rs",), (), "launch openid fhirUser patient/*.rs"),
        ((), ("permission-v2", "permission-v1"), "launch openid fhirUser patient/*.rs"),
        (("patient/*.read", "user/*.*"), (), "launch openid fhirUser patient/*.read"),
        ((), ("permission-v1",), "launch openid fhirUser patient/*.read"),
        (("openid", "launch"), ("launch-ehr",), "launch openid fhirUser patient/*.rs"),
    ],
    ids=["nothing-said", "both", "v2-resource", "v2-capability", "v1-scopes", "v1-capability", "no-scopes"],
)
def test_v2_scopes_unless_the_server_advertises_only_v1(
    scopes: tuple[str, ...], capabilities: tuple[str, ...], asked: str
) -> None:
    assert scopes_for(_configuration(scopes, capabilities)) == asked


@pytest.mark.parametrize(
    ("url", "development", "allowed"),
    [
        ("https://ehr.example/oauth2/token", False, True),
        ("http://ehr.example/oauth2/token", False, False),
        ("http://127.0.0.1:9999/token", True, True),
        ("http://127.0.0.1:9999/token", False, False),
        ("https://user@ehr.example/token", False, False),
        ("https://ehr.example/a/..;/token", False, False),
        ("javascript:alert(1)", True, False),
    ],
)
def test_authorization_and_token_endpoints_must_be_https(url: str, development: bool, allowed: bool) -> None:
    assert endpoint_allowed(url, development=development) is allowed


@pytest.mark.parametrize(
    ("context", "topic"),
    [
        ('{"topic":"possible-neurotoxicity","evidence":"ab12"}', "possible-neurotoxicity"),
        ({"topic": "interval-imaging"}, "interval-imaging"),
        ('{"topic":"<script>"}', None),
        ("not json", None),
        (None, None),
    ],
)
def test_the_app_context_topic_is_a_plain_code_or_nothing(context: object, topic: str | None) -> None:
    token = TokenResponse.model_validate(
        {"access_token": "t", "token_type": "Bearer", "patient": "p1", "appContext": context}
    )

    assert app_context_topic(token) == topic


@pytest.mark.parametrize("patient", ["", "Patient/p1", "p1?x=1", "a" * 65, "p 1"])
def test_a_token_response_whose_patient_is_not_a_fhir_id_is_refused(patient: str) -> None:
    with pytest.raises(ValueError, match="patient"):
        TokenResponse.model_validate({"access_token": "t", "token_type": "Bearer", "patient": patient})


def test_the_csp_allows_the_pages_own_styles_by_hash_and_no_script() -> None:
    html = '<style>body{color:red}</style><span style="background:#fff59d">x</span>'

    policy = content_security_policy(html)

    assert policy.startswith("default-src 'none'; style-src 'sha256-")
    assert "'unsafe-hashes'" in policy and "'unsafe-inline'" not in policy and "script" not in policy


def test_error_pages_escape_what_they_show() -> None:
    page = error_page(400, '<img src=x onerror="alert(1)">').body.decode()

    assert "<img" not in page and "&lt;img" in page


def test_the_access_log_line_carries_no_query_string() -> None:
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", "/smart/callback?code=secret-code&state=secret-state", "1.1", 303),
        None,
    )

    assert WithoutQueryString().filter(record)
    assert record.getMessage() == '127.0.0.1:5000 - "GET /smart/callback HTTP/1.1" 303'


@pytest.mark.parametrize(
    ("values", "problem"),
    [
        ({"smart_app_enabled": True}, "CDS_SMART_SESSION_SECRET: not set"),
        ({"smart_app_enabled": False}, None),
        ({"smart_app_enabled": True, "smart_session_secret": SECRET}, None),
    ],
)
def test_production_with_the_app_enabled_needs_a_session_secret(
    values: dict[str, object], problem: str | None
) -> None:
    settings = Settings(
        trusted_clients_file=None,
        database_url="sqlite+aiosqlite:////tmp/x.sqlite3",
        **values,  # type: ignore[arg-type]
    )

    found = [line for line in settings.production_problems() if "SMART" in line]
    assert [line[: len(problem)] for line in found] == ([] if problem is None else [problem])


def test_a_session_secret_shorter_than_32_characters_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 32 characters"):
        Settings(smart_session_secret="too-short")  # type: ignore[arg-type]
