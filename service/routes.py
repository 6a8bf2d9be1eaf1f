"""HTTP routes: discovery, hook invocation and feedback, per CDS Hooks 2.0."""

from __future__ import annotations

import asyncio
import functools
import math
import time
from collections.abc import Callable
from typing import Any, TypeVar

import orjson
from fastapi import APIRouter, BackgroundTasks, Request
from starlette.responses import Response

from clinical.acknowledgements import Acknowledgement, RenderedCard
from clinical.patient_record import PatientRecord, about_another_patient
from clinical.timeline import Vocabularies
from service.card_language import card_language
from service.card_links import launch_url, with_timeline_link
from service.discovery import SERVICES, ServiceDefinition, discovery_document
from service.errors import outcome_response
from service.evaluation_pool import EvaluationBudget, EvaluationPool
from service.exceptions import (
    DataUnavailable,
    EvaluationBusy,
    EvaluationOverran,
    FhirServerNotAllowed,
    InvalidRequest,
    TooCostly,
    UnknownService,
    UnsupportedMediaType,
)
from service.fhir_access.fhir_client import FhirEndpoint
from service.fhir_access.prefetch import FhirAccess, gather_patient_record
from service.fhir_access.url_policy import normalised_base, outbound_allowed
from service.json_body import parse_json_object, read_limited_body, require_json_content_type
from service.logs import get_logger
from service.metrics import count_cards, count_evaluation_refused, count_feedback, count_skipped_input
from service.protocol import (
    HookRequest,
    draft_order_resources,
    parse_context,
    parse_hook_request,
)
from service.security.authentication import Caller
from service.settings import Settings
from service.storage.acknowledgements import read_acknowledgements
from service.storage.feedback import (
    FeedbackRequest,
    client_key,
    parse_feedback,
    refuse_feedback_on_cards_not_ours,
    store_feedback,
)

router = APIRouter()
audit_log = get_logger("service.audit")
log = get_logger("service.routes")
T = TypeVar("T")


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
    coding = request.headers.get("content-encoding", "identity").strip().lower()
    if coding not in ("", "identity"):
        # We decode no request content coding (RFC 9110 section 15.5.16: 415 for one we do not accept).
        raise UnsupportedMediaType(f"request Content-Encoding {coding[:32]!r} is not accepted")
    settings: Settings = request.app.state.settings
    return parse_json_object(await read_limited_body(request, settings.max_body_bytes))


def fhir_access(request: Request, hook_request: HookRequest, caller: Caller) -> FhirAccess:
    settings: Settings = request.app.state.settings
    client = request.app.state.fhir_client
    if hook_request.fhir_server is None:
        return FhirAccess(client, None, "the request names no fhirServer")
    server = normalised_base(hook_request.fhir_server)
    if server is None or not outbound_allowed(
        server, caller.fhir_server_allowlist, development=settings.is_development
    ):
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
    # Authentication first: an unknown service id must not answer 404 to callers we do not know.
    caller = await _authenticate(request)
    service = _service(service_id)
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
                hook_request.prefetch,
                context.patient_id,
                context.user_id,
                access,
                settings.hook_deadline_seconds,
                settings.fhir_max_medication_reads,
            )
    except TimeoutError:
        raise DataUnavailable("the FHIR data could not be had within the hook deadline") from None
    now = request.app.state.clock()
    drafts = draft_order_resources(context)
    draft_orders = [draft for draft in drafts if not about_another_patient(draft, context.patient_id)]
    other_patient_drafts = len(drafts) - len(draft_orders)
    if other_patient_drafts:
        # A draft order for someone else must not drive this patient's cards (issue 17, item 8).
        count_skipped_input("draft_order_other_patient", other_patient_drafts)
    # Feedback-aware cards: this patient's recent overrides, read before evaluating (never fails the call).
    patient_key = request.app.state.patient_keys.key(
        normalised_base(hook_request.fhir_server) if hook_request.fhir_server else None, context.patient_id
    )
    acknowledgements: tuple[Acknowledgement, ...] = ()
    # Most patients have no override on record: for them the read would find nothing.
    if request.app.state.overridden_patients.may_have_overrides(patient_key):
        acknowledgements = await read_acknowledgements(
            request.app.state.database, patient_key, now, settings.acknowledgement_lookback_days
        )
    language = card_language(caller.language, request.headers.get("accept-language"))
    evaluate = functools.partial(
        request.app.state.evaluator.rendered_cards_for,
        draft_orders=draft_orders,
        now=now,
        patient_id=context.patient_id,
        user_id=context.user_id,
        encounter_id=context.encounter_id,
        acknowledgements=acknowledgements,
        language=language,
    )
    rendered = await evaluate_within_budget(request, record, draft_orders, evaluate)
    cards = _linked_cards(request, settings, rendered)
    count_cards(cards)
    background.add_task(
        functools.partial(
            request.app.state.issued_cards.record,
            service.id,
            rendered,
            now,
            client=client_key(caller.issuer),
            patient_key=patient_key,
        )
    )
    audit_log.info(
        "hook_call",
        service_id=service.id,
        hook_instance=hook_request.hook_instance,
        client_iss=caller.issuer,
        tenant=caller.tenant,
        outcome=200,
        card_topics=[card["source"]["topic"]["code"] for card in cards],
        card_language=language,
        resources=record.resource_count(),
        skipped_resources=record.skipped,
        other_patient_draft_orders=other_patient_drafts,
        truncated=record.truncated,
        latency_ms=round((time.perf_counter() - started) * 1000, 1),
    )
    return _json({"cards": cards})


def public_base(request: Request, settings: Settings) -> str:
    """The service's own base URL as browsers and EHRs reach it (CDS_PUBLIC_BASE_URL behind a proxy)."""
    return (settings.public_base_url or str(request.base_url)).rstrip("/")


def _linked_cards(request: Request, settings: Settings, rendered: list[RenderedCard]) -> list[dict[str, Any]]:
    if not settings.smart_app_enabled:
        return [item.card for item in rendered]
    url = launch_url(public_base(request, settings))
    return [with_timeline_link(item, url) for item in rendered]


async def evaluate_within_budget(
    request: Request,
    record: PatientRecord,
    draft_orders: list[dict[str, Any]],
    evaluate: Callable[[PatientRecord], T],
) -> T:
    """`evaluate(record)` in the evaluation pool, once the record and draft orders are known to be within
    the call's CPU budget (service/evaluation_pool.py); each refusal is a 503 counted by its reason."""
    settings: Settings = request.app.state.settings
    budget: EvaluationBudget = request.app.state.evaluation_budget
    vocabularies: Vocabularies = request.app.state.vocabularies
    resources = record.resource_count() + len(record.medications) + len(draft_orders)

    def within_budget() -> T:
        # Measured on the worker thread: counting a large record's text is work for the pool too. One
        # walk counts the text and leaves out what the timeline cannot use (the fast reject).
        budget.check_resources(resources)
        screening = vocabularies.screen(record, draft_orders, stop_above=budget.max_text_chars)
        budget.check_text(screening.text_chars)
        return evaluate(screening.record)

    pool: EvaluationPool = request.app.state.evaluation_pool
    try:
        return await pool.run(within_budget, settings.evaluation_deadline_seconds)
    except EvaluationOverran:
        count_evaluation_refused("overran")
        log.warning("evaluation_overran", resources=resources)
        raise
    except TooCostly:
        count_evaluation_refused("too_costly")
        log.warning("evaluation_too_costly", resources=resources)
        raise
    except EvaluationBusy:
        count_evaluation_refused("queue_full")
        log.warning("evaluation_queue_full", admitted=pool.admitted)
        raise


def _too_many_requests(retry_after: float) -> Response:
    return outcome_response(
        429,
        {
            "resourceType": "OperationOutcome",
            "issue": [
                {"severity": "error", "code": "throttled", "diagnostics": "too much feedback; retry later"}
            ],
        },
        headers={"Retry-After": str(max(1, math.ceil(retry_after)))},
    )


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
    caller = await _authenticate(request)
    service = _service(service_id)
    retry_after = request.app.state.feedback_limiter.retry_after(caller.issuer)
    if retry_after is not None:
        return _too_many_requests(retry_after)
    parsed = parse_feedback(await _json_body(request))
    # Rows of the cards just issued may still be on their way to the database: let them land first.
    await request.app.state.issued_cards.settle()
    database = request.app.state.database
    offered = await refuse_feedback_on_cards_not_ours(database, service.id, parsed, caller.issuer)
    stored = await store_feedback(
        database,
        service.id,
        parsed,
        caller.issuer,
        received_at=request.app.state.clock(),
        offered_reasons=offered,
    )
    if any(item.outcome == "overridden" and item.override_reason for item in parsed.feedback):
        # This worker quiets the card from the next call on (other workers at their next refresh).
        await request.app.state.overridden_patients.refresh()
    for item in parsed.feedback:
        count_feedback(item.outcome)
    audit_log.info("feedback", service_id=service.id, client_iss=caller.issuer, items=stored)
    return Response(status_code=200)
