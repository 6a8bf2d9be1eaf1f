"""HTTP routes: discovery, hook invocation and feedback, per CDS Hooks 2.0."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson
from fastapi import APIRouter, BackgroundTasks, Request
from starlette.responses import Response

from service.authentication import Caller
from service.discovery import SERVICES, ServiceDefinition, discovery_document
from service.exceptions import DataUnavailable, FhirServerNotAllowed, InvalidRequest, UnknownService
from service.feedback import FeedbackRequest, parse_feedback, store_feedback
from service.fhir_client import FhirEndpoint
from service.json_body import parse_json_object, read_limited_body, require_json_content_type
from service.logs import get_logger
from service.metrics import count_cards, count_feedback
from service.prefetch import FhirAccess, gather_patient_record
from service.protocol import HookRequest, draft_order_resources, parse_context, parse_hook_request
from service.settings import Settings
from service.url_policy import outbound_allowed

router = APIRouter()
audit_log = get_logger("service.audit")


def _json(content: Any, status_code: int = 200) -> Response:
    return Response(orjson.dumps(content), status_code=status_code, media_type="application/json")


def audience_url(request: Request, settings: Settings) -> str:
    """The URL the client addressed, as the JWT `aud` must name it (from the public base behind a proxy)."""
    if settings.public_base_url:
        return settings.public_base_url.rstrip("/") + request.url.path
    return str(request.url.replace(query=""))


async def _authenticate(request: Request) -> Caller:
    settings: Settings = request.app.state.settings
    caller: Caller = await request.app.state.authenticator.authenticate(
        request.headers.get("authorization"), audience_url(request, settings)
    )
    return caller


def _service(service_id: str) -> ServiceDefinition:
    service = SERVICES.get(service_id)
    if service is None:
        raise UnknownService(f"no CDS service with id {service_id!r}")
    return service


async def _json_body(request: Request) -> dict[str, Any]:
    require_json_content_type(request)
    settings: Settings = request.app.state.settings
    return parse_json_object(await read_limited_body(request, settings.max_body_bytes))


def fhir_access(request: Request, hook_request: HookRequest, caller: Caller) -> FhirAccess:
    settings: Settings = request.app.state.settings
    client = request.app.state.fhir_client
    server = hook_request.fhir_server
    if server is None:
        return FhirAccess(client, None, "the request names no fhirServer")
    if not outbound_allowed(server, caller.fhir_server_allowlist, development=settings.is_development):
        # Checked before any connection: the service must not become a proxy into the network.
        raise FhirServerNotAllowed(
            "fhirServer is not an allowed FHIR server for this client", expression="fhirServer"
        )
    if hook_request.fhir_authorization is not None:
        return FhirAccess(client, FhirEndpoint(server, hook_request.fhir_authorization.access_token), "")
    if settings.open_fhir_servers_allowed:
        return FhirAccess(client, FhirEndpoint(server, None), "")
    return FhirAccess(client, None, "no fhirAuthorization was sent and open FHIR servers are not allowed")


@router.get("/cds-services")
async def discovery(request: Request) -> Response:
    await _authenticate(request)
    return _json(discovery_document())


@router.post(
    "/cds-services/{service_id}",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": HookRequest.model_json_schema(by_alias=True)}},
        }
    },
)
async def invoke(service_id: str, request: Request, background: BackgroundTasks) -> Response:
    started = time.perf_counter()
    service = _service(service_id)
    caller = await _authenticate(request)
    hook_request = parse_hook_request(await _json_body(request))
    if hook_request.hook != service.hook:
        raise InvalidRequest(
            f"service {service.id} handles {service.hook}, not {hook_request.hook}",
            expression="hook",
        )
    context = parse_context(service.hook, hook_request.context)
    access = fhir_access(request, hook_request, caller)
    settings: Settings = request.app.state.settings
    try:
        async with asyncio.timeout(settings.hook_deadline_seconds):
            record = await gather_patient_record(
                hook_request.prefetch, context.patient_id, context.user_id, access
            )
    except TimeoutError:
        raise DataUnavailable("the FHIR data could not be had within the hook deadline") from None
    now = request.app.state.clock()
    cards = request.app.state.evaluator.cards_for(
        record,
        draft_order_resources(context),
        now=now,
        patient_id=context.patient_id,
        user_id=context.user_id,
        encounter_id=context.encounter_id,
    )
    count_cards(cards)
    background.add_task(request.app.state.issued_cards.record, service.id, cards, now)
    audit_log.info(
        "hook_call",
        service_id=service.id,
        hook_instance=hook_request.hook_instance,
        client_iss=caller.issuer,
        tenant=caller.tenant,
        outcome=200,
        card_topics=[card["source"]["topic"]["code"] for card in cards],
        resources=record.resource_count(),
        skipped_resources=record.skipped,
        truncated=record.truncated,
        latency_ms=round((time.perf_counter() - started) * 1000, 1),
    )
    return _json({"cards": cards})


@router.post(
    "/cds-services/{service_id}/feedback",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": FeedbackRequest.model_json_schema(by_alias=True)}},
        }
    },
)
async def feedback(service_id: str, request: Request) -> Response:
    service = _service(service_id)
    caller = await _authenticate(request)
    parsed = parse_feedback(await _json_body(request))
    stored = await store_feedback(request.app.state.database, service.id, parsed, caller.issuer)
    for item in parsed.feedback:
        count_feedback(item.outcome)
    audit_log.info("feedback", service_id=service.id, client_iss=caller.issuer, items=stored)
    return Response(status_code=200)
