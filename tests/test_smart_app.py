"""The SMART timeline app end to end over real HTTP: an EHR launch against the test authorization
server (tests/smart_auth_server.py) ends on the patient's timeline with today's card; each way a launch
can go wrong ends on a clear error page with nothing read from the record."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from smart_auth_server import SmartTestServer
from smart_support import (
    LIFETIME_SECONDS,
    SCENARIO,
    Browser,
    MovableClock,
    launch_url,
    running_app,
    scenario_now,
    start,
)

import smart_app.routes
from smart_app.smart_client import exchange_code

CALLBACK = "/smart/callback"


@pytest.fixture(scope="module")
def _server() -> Iterator[SmartTestServer]:
    server = SmartTestServer.for_scenario(SCENARIO)
    with server.running():
        yield server


@pytest.fixture
def server(_server: SmartTestServer) -> SmartTestServer:
    start(_server)
    return _server


@pytest.fixture(scope="module")
def clock() -> MovableClock:
    return MovableClock(scenario_now())


@pytest.fixture(scope="module")
def app_base(tmp_path_factory: pytest.TempPathFactory, clock: MovableClock) -> Iterator[str]:
    with running_app(tmp_path_factory.mktemp("smart") / "cds.sqlite3", clock) as base:
        yield base


@pytest.fixture
def browser(app_base: str, clock: MovableClock) -> Iterator[Browser]:
    clock.now = scenario_now()
    client = Browser(app_base)
    yield client
    client.close()


def signed_in(browser: Browser, server: SmartTestServer) -> httpx.Response:
    return browser.follow(launch_url(browser.app_base, server.iss, server.launch_id))


def callback_url(browser: Browser, server: SmartTestServer) -> str:
    """Launch and authorize, stopping before the callback: the URL the EHR sends the browser back to."""
    redirect = browser.follow(
        launch_url(browser.app_base, server.iss, server.launch_id), until=browser.app_base + CALLBACK
    )
    assert redirect.status_code == 302, redirect.text
    return str(redirect.url.join(redirect.headers["location"]))


def assert_error_page(response: httpx.Response, status: int, words: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("text/html")
    assert words in response.text
    assert "Nothing was read from the patient" in response.text
    assert "script-src" not in response.headers["content-security-policy"]


def test_an_ehr_launch_ends_on_the_patients_timeline_with_todays_card(
    browser: Browser, server: SmartTestServer
) -> None:
    page = signed_in(browser, server)

    assert page.status_code == 200, page.text
    assert str(page.url).startswith(browser.app_base + "/smart/timeline")
    text = page.text
    assert "Today&#x27;s cards" in text
    assert "CAR-T cell therapy: day +7" in text  # the therapy day (the scenario's CAR-T day +7)
    assert "ICE score" in text  # the scores, drawn on the timeline
    assert 'id="card-possible-neurotoxicity"' in text and "card today critical" in text
    assert "Patient cart-kymriah-02" in text
    assert server.access_token not in text
    # The record was read with the token the authorization server issued, through the FHIR server.
    data = [r for r in server.fhir.requests if not r.path.startswith("/.well-known/")]
    assert data and all(r.authorization == f"Bearer {server.access_token}" for r in data)


def test_the_authorization_request_asks_for_v2_scopes_with_pkce_s256_state_and_aud(
    browser: Browser, server: SmartTestServer
) -> None:
    signed_in(browser, server)

    asked = server.authorizations[0].params
    assert asked["scope"] == "launch openid fhirUser patient/*.rs"
    assert asked["code_challenge_method"] == "S256" and len(asked["code_challenge"]) == 43
    assert asked["aud"] == server.iss and asked["launch"] == server.launch_id
    assert len(asked["state"]) >= 43
    assert asked["redirect_uri"] == browser.app_base + CALLBACK


def test_a_server_advertising_only_v1_scopes_is_asked_for_v1_scopes(browser: Browser) -> None:
    v1 = SmartTestServer.for_scenario(SCENARIO, v1_only=True)
    with v1.running() as iss:
        page = browser.follow(launch_url(browser.app_base, iss, v1.launch_id))

    assert page.status_code == 200
    assert v1.authorizations[0].params["scope"] == "launch openid fhirUser patient/*.read"


def test_the_session_cookie_is_httponly_secure_samesite_lax_and_short_lived(
    browser: Browser, server: SmartTestServer
) -> None:
    signed_in(browser, server)

    assert len(browser.set_cookie_headers) == 2  # set at the launch, replaced at sign-in
    for cookie in browser.set_cookie_headers:
        attributes = {part.strip().split("=")[0].lower(): part.strip() for part in cookie.split(";")}
        assert {"httponly", "secure", "samesite", "max-age", "path"} <= attributes.keys()
        assert attributes["samesite"].lower() == "samesite=lax"
        assert attributes["max-age"] == f"Max-Age={LIFETIME_SECONDS}"
        assert attributes["path"] == "Path=/smart"
        assert server.access_token not in cookie


def test_signing_in_replaces_the_launch_cookie(browser: Browser, server: SmartTestServer) -> None:
    back = callback_url(browser, server)
    launch_cookie = dict(browser.cookies)
    assert browser.get(back).status_code == 303
    assert browser.cookies != launch_cookie
    server.fhir.clear_requests()

    browser.cookies = launch_cookie
    response = browser.get(browser.app_base + "/smart/timeline")

    assert_error_page(response, 401, "This session is unknown")
    assert server.fhir.requests == []


def test_the_timeline_page_allows_no_script_and_is_not_cached(
    browser: Browser, server: SmartTestServer
) -> None:
    page = signed_in(browser, server)

    policy = page.headers["content-security-policy"]
    assert policy.startswith("default-src 'none';") and "script-src" not in policy
    assert "frame-ancestors 'none'" in policy and "'unsafe-inline'" not in policy
    assert "<script" not in page.text
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["referrer-policy"] == "no-referrer"


def test_the_card_link_app_context_opens_the_page_at_its_card(app_base: str, clock: MovableClock) -> None:
    clock.now = scenario_now()
    context = '{"topic":"possible-neurotoxicity","evidence":"0123abcd"}'
    linked = SmartTestServer.for_scenario(SCENARIO, app_context=context)
    browser = Browser(app_base)
    with linked.running() as iss:
        redirect = browser.follow(
            launch_url(app_base, iss, linked.launch_id), until=app_base + "/smart/timeline"
        )
    browser.close()

    assert redirect.status_code == 303
    assert redirect.headers["location"] == "/smart/timeline#card-possible-neurotoxicity"


# -- every failure: a clear page, nothing read -------------------------------------------------------


@pytest.mark.parametrize(
    ("iss", "status", "words"),
    [
        (None, 400, "names no FHIR server"),
        ("not a url", 400, "not a usable FHIR base URL"),
        ("{fhir}?_format=json", 400, "not a usable FHIR base URL"),
        ("{fhir}/../admin", 400, "not a usable FHIR base URL"),
        ("https://ehr.elsewhere.example/fhir", 403, "FHIR allowlist"),
        # The very test FHIR server, by another name: off the allowlist (127.0.0.1 only).
        ("{localhost}", 403, "FHIR allowlist"),
    ],
    ids=["missing", "not-a-url", "query", "dot-segment", "other-host", "off-allowlist-localhost"],
)
def test_a_wrong_iss_or_one_off_the_allowlist_ends_on_an_error_page_with_nothing_fetched(
    browser: Browser, server: SmartTestServer, iss: str | None, status: int, words: str
) -> None:
    params: dict[str, Any] = {"launch": server.launch_id}
    if iss is not None:
        params["iss"] = iss.format(fhir=server.iss, localhost=server.iss.replace("127.0.0.1", "localhost"))
    response = browser.get(str(httpx.URL(f"{browser.app_base}/smart/launch", params=params)))

    assert_error_page(response, status, words)
    assert server.fhir.requests == []
    assert server.requests == []
    assert browser.cookies == {}


def test_an_ehr_launch_without_a_launch_context_is_refused(browser: Browser, server: SmartTestServer) -> None:
    response = browser.get(str(httpx.URL(f"{browser.app_base}/smart/launch", params={"iss": server.iss})))

    assert_error_page(response, 400, "names no launch context")
    assert server.fhir.requests == [] and server.requests == []


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda url: url.copy_set_param("state", "forged-state-value"), "wrong or missing state"),
        (lambda url: url.copy_remove_param("state"), "wrong or missing state"),
    ],
    ids=["wrong-state", "missing-state"],
)
def test_a_wrong_or_missing_state_ends_on_an_error_page_with_nothing_fetched(
    browser: Browser, server: SmartTestServer, change: Any, words: str
) -> None:
    back = httpx.URL(callback_url(browser, server))
    server.fhir.clear_requests()

    response = browser.get(str(change(back)))

    assert_error_page(response, 400, words)
    assert ("POST", "/token") not in server.requests
    assert server.fhir.requests == []


def test_a_callback_in_another_browser_is_refused(browser: Browser, server: SmartTestServer) -> None:
    back = callback_url(browser, server)
    other = Browser(browser.app_base)

    response = other.get(back)
    other.close()

    assert_error_page(response, 400, "no launch of the app under way")
    assert ("POST", "/token") not in server.requests


def test_a_missing_pkce_verifier_is_refused_by_the_token_endpoint_and_nothing_is_fetched(
    browser: Browser, server: SmartTestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def without_verifier(http: httpx.AsyncClient, endpoint: str, **form: Any) -> Any:
        return await exchange_code(http, endpoint, **{**form, "verifier": ""})

    monkeypatch.setattr(smart_app.routes, "exchange_code", without_verifier)
    back = callback_url(browser, server)
    server.fhir.clear_requests()

    response = browser.get(back)

    assert_error_page(response, 400, "refused to issue a token")
    assert ("POST", "/token") in server.requests
    assert server.fhir.requests == []


def test_a_code_from_another_launch_fails_its_pkce_check_and_nothing_is_fetched(
    browser: Browser, server: SmartTestServer
) -> None:
    """An injected code (from the attacker's own launch, so bound to the attacker's challenge) with the
    victim's state: the victim's verifier does not match, the token endpoint refuses."""
    victim = httpx.URL(callback_url(browser, server))
    attacker = Browser(browser.app_base)
    injected = httpx.URL(callback_url(attacker, server))
    attacker.close()
    server.fhir.clear_requests()

    response = browser.get(str(victim.copy_set_param("code", injected.params["code"])))

    assert_error_page(response, 400, "refused to issue a token")
    assert server.fhir.requests == []


def test_a_callback_used_twice_is_refused(browser: Browser, server: SmartTestServer) -> None:
    back = callback_url(browser, server)
    assert browser.get(back).status_code == 303
    server.fhir.clear_requests()

    response = browser.get(back)

    assert_error_page(response, 400, "unknown or was already completed")
    assert server.fhir.requests == []


def test_an_expired_session_ends_on_an_error_page_with_nothing_fetched(
    browser: Browser, server: SmartTestServer, clock: MovableClock
) -> None:
    assert signed_in(browser, server).status_code == 200
    server.fhir.clear_requests()
    clock.advance(LIFETIME_SECONDS + 1)

    response = browser.get(browser.app_base + "/smart/timeline")

    assert_error_page(response, 401, "This session has expired")
    assert server.fhir.requests == []
    # And it is gone: the same cookie finds nothing afterwards either.
    assert browser.get(browser.app_base + "/smart/timeline").status_code == 401


def test_an_expired_launch_ends_on_an_error_page_before_any_token_request(
    browser: Browser, server: SmartTestServer, clock: MovableClock
) -> None:
    back = callback_url(browser, server)
    clock.advance(LIFETIME_SECONDS + 1)

    response = browser.get(back)

    assert_error_page(response, 401, "This launch has expired")
    assert ("POST", "/token") not in server.requests


def test_the_timeline_without_a_session_is_refused(browser: Browser, server: SmartTestServer) -> None:
    response = browser.get(browser.app_base + "/smart/timeline")

    assert_error_page(response, 401, "No signed-in session")
    assert server.fhir.requests == []


def test_a_forged_session_cookie_is_refused(browser: Browser, server: SmartTestServer) -> None:
    browser.cookies["immuno_cds_smart"] = "forged-" + "x" * 40

    response = browser.get(browser.app_base + "/smart/timeline")

    assert_error_page(response, 401, "This session is unknown")
    assert server.fhir.requests == []


def test_an_authorization_server_that_denies_the_app_ends_on_an_error_page(
    browser: Browser, server: SmartTestServer
) -> None:
    back = httpx.URL(callback_url(browser, server))
    denied = back.copy_remove_param("code").copy_set_param("error", "access_denied")

    response = browser.get(str(denied))

    assert_error_page(response, 403, "did not authorise the app")
    assert ("POST", "/token") not in server.requests


def test_the_standalone_launch_uses_the_configured_server(
    tmp_path: Path, server: SmartTestServer, clock: MovableClock
) -> None:
    clock.now = scenario_now()
    with running_app(tmp_path / "cds.sqlite3", clock, smart_standalone_iss=server.iss) as base:
        browser = Browser(base)
        page = browser.follow(base + "/smart/standalone")
        browser.close()

    assert page.status_code == 200, page.text
    params = server.authorizations[0].params
    assert "launch" not in params and params["scope"] == "launch/patient openid fhirUser patient/*.rs"


def test_the_standalone_launch_is_off_without_a_configured_server(
    browser: Browser, server: SmartTestServer
) -> None:
    assert_error_page(
        browser.get(browser.app_base + "/smart/standalone"), 404, "No FHIR server is configured"
    )


def test_no_token_code_state_launch_or_patient_id_reaches_the_log(
    browser: Browser, server: SmartTestServer, capfd: pytest.CaptureFixture[str]
) -> None:
    back = httpx.URL(callback_url(browser, server))
    browser.get(str(back))
    browser.follow(browser.app_base + "/smart/timeline")

    logged = capfd.readouterr().err
    assert '"step": "timeline"' in logged
    for secret in (
        server.access_token,
        back.params["code"],
        back.params["state"],
        server.launch_id,
        server.patient_id,
    ):
        assert secret not in logged
