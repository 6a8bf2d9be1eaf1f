"""The app's four pages: /smart/launch (EHR launch), /smart/standalone (a configured FHIR server, for
testing), /smart/callback (the authorization server's answer) and /smart/timeline (the patient's
timeline with today's cards).

Every refusal is a clear HTML page (4xx) with nothing read from the record; before `iss` is found on the
FHIR allowlist nothing at all is fetched. Logs carry the step and a reason code, never a token, a code,
a `state`, a launch id or a patient id.
"""

from __future__ import annotations

import hmac
from datetime import datetime, timedelta

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response

from service.card_links import LAUNCH_PATH
from service.exceptions import ServiceError
from service.fhir_access.url_policy import normalised_base, outbound_allowed
from service.logs import get_logger
from service.routes import public_base
from service.settings import Settings
from smart_app import pkce
from smart_app.pages import error_page, html_page, redirect
from smart_app.record import read_record, timeline_of
from smart_app.sessions import (
    ActiveSession,
    LaunchSession,
    SessionExpired,
    SessionMissing,
    SessionStore,
    SessionsUnavailable,
)
from smart_app.smart_client import (
    SmartError,
    app_context_topic,
    authorize_url,
    exchange_code,
    fetch_configuration,
    scopes_for,
)
from timeline_view.render import timeline_page

COOKIE = "immuno_cds_smart"
COOKIE_PATH = "/smart"
CALLBACK_PATH = "/smart/callback"
TIMELINE_PATH = "/smart/timeline"
# Longest `launch`, `code` and `state` accepted: far above what EHRs send, far below a header's size.
MAX_PARAMETER_CHARS = 2048

log = get_logger("smart_app")


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _now(request: Request) -> datetime:
    now: datetime = request.app.state.clock()
    return now


def _store(request: Request) -> SessionStore:
    store: SessionStore = request.app.state.smart_sessions
    return store


def _refused(step: str, error: SmartError) -> Response:
    log.info("smart_app", step=step, outcome=error.status, reason=error.reason)
    return error_page(error.status, error.message)


def _parameter(request: Request, name: str) -> str | None:
    value = request.query_params.get(name)
    if value is None or value == "" or len(value) > MAX_PARAMETER_CHARS:
        return None
    return value


def allowed_iss(iss: str | None, settings: Settings) -> str:
    """`iss` as a FHIR base on the allowlist, or a refusal (nothing is fetched from an `iss` refused)."""
    if iss is None:
        raise SmartError(400, "iss_missing", "The launch names no FHIR server (iss).")
    base = normalised_base(iss)
    if base is None:
        raise SmartError(400, "iss_invalid", "The launch's FHIR server (iss) is not a usable FHIR base URL.")
    if not outbound_allowed(
        base, settings.effective_fhir_server_allowlist, development=settings.is_development
    ):
        raise SmartError(
            403,
            "iss_not_allowed",
            "The launch's FHIR server (iss) is not on this service's FHIR allowlist.",
        )
    return base


def _set_cookie(response: Response, session_id: str, settings: Settings) -> Response:
    response.set_cookie(
        COOKIE,
        session_id,
        max_age=settings.smart_session_lifetime_seconds,
        path=COOKIE_PATH,
        secure=True,
        httponly=True,
        samesite="lax",
    )
    return response


async def _start(request: Request, iss: str | None, launch: str | None) -> Response:
    settings = _settings(request)
    base = allowed_iss(iss, settings)
    configuration = await fetch_configuration(
        request.app.state.fhir_client, base, development=settings.is_development
    )
    verifier, state = pkce.new_verifier(), pkce.new_state()
    redirect_uri = public_base(request, settings) + CALLBACK_PATH
    scope = scopes_for(configuration, standalone=launch is None)
    launch_session = LaunchSession(
        iss=base,
        state=state,
        verifier=verifier,
        token_endpoint=configuration.token_endpoint,
        redirect_uri=redirect_uri,
        scope=scope,
    )
    session_id = await _store(request).begin(launch_session, _now(request))
    url = authorize_url(
        configuration,
        client_id=settings.smart_client_id,
        redirect_uri=redirect_uri,
        scope=scope,
        state=state,
        code_challenge=pkce.challenge(verifier),
        # `aud` names the FHIR server as the EHR spelt it (some compare it as a string).
        iss=iss if iss is not None else base,
        launch=launch,
    )
    log.info("smart_app", step="launch", outcome=302, standalone=launch is None, scope=scope)
    return _set_cookie(redirect(url), session_id, settings)


async def launch(request: Request) -> Response:
    """EHR launch: `iss` (the FHIR server) and `launch` (the EHR's launch context) from the EHR."""
    try:
        launch_id = _parameter(request, "launch")
        iss = _parameter(request, "iss")
        allowed_iss(iss, _settings(request))  # a wrong iss first: it is the likelier mistake
        if launch_id is None:
            raise SmartError(400, "launch_missing", "The EHR launch names no launch context (launch).")
        return await _start(request, iss, launch_id)
    except SmartError as error:
        return _refused("launch", error)
    except SessionsUnavailable:
        return _refused("launch", _sessions_unavailable())


async def standalone(request: Request) -> Response:
    """Standalone launch, for testing: the configured FHIR server (CDS_SMART_STANDALONE_ISS)."""
    iss = _settings(request).smart_standalone_iss
    try:
        if iss is None:
            raise SmartError(404, "standalone_off", "No FHIR server is configured for a standalone launch.")
        return await _start(request, iss, None)
    except SmartError as error:
        return _refused("standalone", error)
    except SessionsUnavailable:
        return _refused("standalone", _sessions_unavailable())


def _sessions_unavailable() -> SmartError:
    return SmartError(503, "sessions_unavailable", "The app's sessions are unavailable; try again shortly.")


def _cookie(request: Request) -> str | None:
    value = request.cookies.get(COOKIE)
    return value if value and len(value) <= MAX_PARAMETER_CHARS else None


async def _launch_session(request: Request, session_id: str | None) -> LaunchSession:
    if session_id is None:
        raise SmartError(
            400, "no_launch", "This browser has no launch of the app under way (no session cookie)."
        )
    try:
        return await _store(request).launch(session_id, _now(request))
    except SessionMissing:
        raise SmartError(400, "no_launch", "This launch is unknown or was already completed.") from None
    except SessionExpired:
        raise SmartError(401, "launch_expired", "This launch has expired.") from None


def _check_state(request: Request, session: LaunchSession) -> None:
    state = _parameter(request, "state")
    if state is None or not hmac.compare_digest(state.encode(), session.state.encode()):
        raise SmartError(400, "state_mismatch", "The sign-in came back with a wrong or missing state.")
    if request.query_params.get("error") is not None:
        raise SmartError(403, "authorization_denied", "The EHR did not authorise the app.")


async def callback(request: Request) -> Response:
    """The authorization server's redirect: `code` and `state`, checked against this browser's launch."""
    session_id = _cookie(request)
    settings = _settings(request)
    try:
        session = await _launch_session(request, session_id)
        _check_state(request, session)
        code = _parameter(request, "code")
        if code is None:
            raise SmartError(400, "code_missing", "The sign-in came back without an authorization code.")
        token = await exchange_code(
            request.app.state.http,
            session.token_endpoint,
            code=code,
            verifier=session.verifier,
            redirect_uri=session.redirect_uri,
            client_id=settings.smart_client_id,
        )
        signed_in = ActiveSession(
            iss=session.iss,
            access_token=token.access_token,
            patient=token.patient,
            topic=app_context_topic(token),
        )
        assert session_id is not None  # _launch_session refused a missing cookie
        token_expires_at = (
            _now(request) + timedelta(seconds=token.expires_in) if token.expires_in is not None else None
        )
        active_id = await _store(request).activate(session_id, signed_in, token_expires_at)
        if active_id is None:
            raise SmartError(400, "no_launch", "This launch was already completed.")
    except SmartError as error:
        return _refused("callback", error)
    except SessionsUnavailable:
        return _refused("callback", _sessions_unavailable())
    log.info("smart_app", step="callback", outcome=303)
    anchor = f"#card-{signed_in.topic}" if signed_in.topic else ""
    return _set_cookie(redirect(TIMELINE_PATH + anchor, 303), active_id, settings)


async def _active_session(request: Request) -> ActiveSession:
    session_id = _cookie(request)
    if session_id is None:
        raise SmartError(401, "no_session", "No signed-in session: open the app from a card in the EHR.")
    try:
        session = await _store(request).active(session_id, _now(request))
    except SessionMissing:
        raise SmartError(
            401, "no_session", "This session is unknown: open the app from a card in the EHR."
        ) from None
    except SessionExpired:
        raise SmartError(
            401, "session_expired", "This session has expired: open the app again from a card in the EHR."
        ) from None
    allowed_iss(session.iss, _settings(request))  # the allowlist may have changed since the launch
    return session


async def timeline(request: Request) -> Response:
    try:
        session = await _active_session(request)
    except SmartError as error:
        return _refused("timeline", error)
    except SessionsUnavailable:
        return _refused("timeline", _sessions_unavailable())
    try:
        record = await read_record(request, session)
        view = await timeline_of(request, session, record)
    except (ServiceError, TimeoutError) as error:
        status = error.status_code if isinstance(error, ServiceError) else 504
        reason = type(error).__name__
        log.info("smart_app", step="timeline", outcome=502, reason=reason, upstream_status=status)
        return error_page(
            502,
            "The patient's record could not be read from the EHR's FHIR server just now.",
            nothing_read=False,
        )
    log.info(
        "smart_app",
        step="timeline",
        outcome=200,
        resources=record.resource_count(),
        truncated=record.truncated,
        card_topics=[card.topic for card in view.today_cards or []],
    )
    return html_page(timeline_page(view))


def install_smart_app(app: FastAPI) -> None:
    """The app's pages, outside the OpenAPI document (they are pages, not API)."""
    for path, endpoint in (
        (LAUNCH_PATH, launch),
        ("/smart/standalone", standalone),
        (CALLBACK_PATH, callback),
        (TIMELINE_PATH, timeline),
    ):
        app.add_route(path, endpoint, methods=["GET"], include_in_schema=False)
