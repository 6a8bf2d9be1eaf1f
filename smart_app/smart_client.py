"""The app's side of SMART App Launch 2.0: discovery ({iss}/.well-known/smart-configuration), the
authorization request (code flow, PKCE S256, `state`, `aud`) and the token request.

Discovery is read through the hook path's FHIR client (under the FHIR base, size-capped, no redirects,
bounded in time). The token request goes through the service's outbound client (no redirects, no cookie
jar, the configured proxy and CAs), with its answer read size-capped.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode

import httpx
import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from service.exceptions import ServiceError
from service.fhir_access.fhir_client import FhirClient, FhirEndpoint
from service.fhir_access.outbound import BodyRefused, read_bounded
from service.fhir_access.url_policy import outbound_allowed

# SMART App Launch 2.0 scopes; servers that advertise only v1 scopes get the v1 spelling.
V2_SCOPES = "launch openid fhirUser patient/*.rs"
V1_SCOPES = "launch openid fhirUser patient/*.read"
# A standalone launch asks the server to pick the patient (launch/patient) instead of `launch`.
STANDALONE_V2_SCOPES = "launch/patient openid fhirUser patient/*.rs"
STANDALONE_V1_SCOPES = "launch/patient openid fhirUser patient/*.read"
MAX_DISCOVERY_SECONDS = 5.0
MAX_TOKEN_RESPONSE_BYTES = 64 * 1024
# The token request, connecting included: an authorization server may take a moment to issue a token.
TOKEN_REQUEST_SECONDS = 10.0
# FHIR R4 id: what a token response's `patient` must be before it goes into a search.
_FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
_V2_SCOPE = re.compile(r"^(patient|user|system)/[A-Za-z*]+\.c?r?u?d?s?(\?.*)?$")
_V1_SCOPE = re.compile(r"^(patient|user|system)/[A-Za-z*]+\.(read|write|\*)$")


class SmartError(Exception):
    """A launch step failed: `reason` is a short code for logs and metrics, `message` is shown."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.message = message


class SmartConfiguration(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    authorization_endpoint: str = Field(min_length=1, max_length=2048)
    token_endpoint: str = Field(min_length=1, max_length=2048)
    scopes_supported: tuple[str, ...] = ()
    capabilities: tuple[str, ...] = ()
    code_challenge_methods_supported: tuple[str, ...] = ()


class TokenResponse(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    access_token: str = Field(min_length=1, max_length=16_384)
    token_type: str
    patient: str
    scope: str | None = None
    expires_in: int | None = Field(default=None, ge=0)
    app_context: str | dict[str, Any] | None = Field(default=None, alias="appContext")

    @field_validator("token_type")
    @classmethod
    def _bearer(cls, value: str) -> str:
        if value.lower() != "bearer":
            raise ValueError("token_type must be Bearer")
        return value

    @field_validator("patient")
    @classmethod
    def _fhir_id(cls, value: str) -> str:
        if not _FHIR_ID.fullmatch(value):
            raise ValueError("patient must be a FHIR id")
        return value


def advertises_only_v1(configuration: SmartConfiguration) -> bool:
    """True when the server names SMART v1 scopes or the permission-v1 capability and nothing of v2."""
    capabilities = set(configuration.capabilities)
    scopes = configuration.scopes_supported
    v2 = "permission-v2" in capabilities or any(
        _V2_SCOPE.match(scope) and not _V1_SCOPE.match(scope) for scope in scopes
    )
    v1 = "permission-v1" in capabilities or any(_V1_SCOPE.match(scope) for scope in scopes)
    return v1 and not v2


def scopes_for(configuration: SmartConfiguration, *, standalone: bool = False) -> str:
    if advertises_only_v1(configuration):
        return STANDALONE_V1_SCOPES if standalone else V1_SCOPES
    return STANDALONE_V2_SCOPES if standalone else V2_SCOPES


def endpoint_allowed(url: str, *, development: bool) -> bool:
    """An authorization or token endpoint: https (plain http on loopback in development only), no user
    info, no path that resolves elsewhere. The URL is its own allowlist here: the policy checked is the
    scheme and shape, the FHIR allowlist having vouched for the server that named it."""
    return outbound_allowed(url, (url,), development=development)


async def fetch_configuration(client: FhirClient, iss: str, *, development: bool) -> SmartConfiguration:
    endpoint = FhirEndpoint(iss, None)
    limiter = client.limiter(MAX_DISCOVERY_SECONDS)
    try:
        document = await client.get_json(
            endpoint, endpoint.url(".well-known/smart-configuration"), limiter, "SMART configuration"
        )
    except (ServiceError, httpx.HTTPError):
        document = None
    if document is None:
        raise SmartError(502, "discovery_failed", "The EHR's SMART configuration could not be read.")
    try:
        configuration = SmartConfiguration.model_validate(document)
    except ValidationError:
        raise SmartError(
            502, "discovery_invalid", "The EHR's SMART configuration names no usable endpoints."
        ) from None
    methods = configuration.code_challenge_methods_supported
    if methods and "S256" not in methods:
        raise SmartError(502, "pkce_unsupported", "The EHR's authorization server does not offer PKCE S256.")
    for url in (configuration.authorization_endpoint, configuration.token_endpoint):
        if not endpoint_allowed(url, development=development):
            raise SmartError(
                502, "endpoint_refused", "The EHR's SMART configuration names an endpoint that is not https."
            )
    return configuration


def authorize_url(
    configuration: SmartConfiguration,
    *,
    client_id: str,
    redirect_uri: str,
    scope: str,
    state: str,
    code_challenge: str,
    iss: str,
    launch: str | None,
) -> str:
    parameters = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "scope": scope,
        "state": state,
        "aud": iss,
        "code_challenge": code_challenge,
        "code_challenge_method": "S256",
    }
    if launch is not None:
        parameters["launch"] = launch
    separator = "&" if "?" in configuration.authorization_endpoint else "?"
    return f"{configuration.authorization_endpoint}{separator}{urlencode(parameters)}"


async def exchange_code(
    http: httpx.AsyncClient,
    token_endpoint: str,
    *,
    code: str,
    verifier: str,
    redirect_uri: str,
    client_id: str,
) -> TokenResponse:
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
        "client_id": client_id,
        "code_verifier": verifier,
    }
    try:
        request = http.build_request(
            "POST",
            token_endpoint,
            data=form,
            headers={"Accept": "application/json"},
            timeout=httpx.Timeout(TOKEN_REQUEST_SECONDS),
        )
        response = await http.send(request, stream=True)
        try:
            body = await read_bounded(response, MAX_TOKEN_RESPONSE_BYTES)
        finally:
            await response.aclose()
    except (httpx.HTTPError, BodyRefused):
        raise SmartError(
            502, "token_endpoint_failed", "The EHR's token endpoint could not be reached."
        ) from None
    if response.status_code != 200:
        raise SmartError(
            400,
            "token_refused",
            "The EHR's authorization server refused to issue a token for this launch "
            "(the sign-in was not completed in this browser, or was already used). Launch the app again.",
        )
    try:
        return TokenResponse.model_validate(orjson.loads(body))
    except (orjson.JSONDecodeError, ValidationError):
        raise SmartError(
            502, "token_invalid", "The EHR's token response names no patient or no bearer token."
        ) from None


def app_context_topic(token: TokenResponse) -> str | None:
    """The card topic the app was opened from (service/card_links.py puts it in the card's appContext)."""
    context: Any = token.app_context
    if isinstance(context, str):
        try:
            context = orjson.loads(context)
        except orjson.JSONDecodeError:
            return None
    topic = context.get("topic") if isinstance(context, dict) else None
    return topic if isinstance(topic, str) and re.fullmatch(r"[a-z0-9\-]{1,64}", topic) else None
