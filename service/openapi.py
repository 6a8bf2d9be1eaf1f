"""The OpenAPI document: what the service really answers, and nothing it does not.

FastAPI's generated document is corrected in three ways:

- every operation lists the statuses the service gives (``OPERATION_RESPONSES``), each error as a FHIR
  OperationOutcome (``application/fhir+json``), with the cards answer, the discovery document and the
  request bodies as schemas under ``components``; FastAPI's 422 is removed, since request validation
  errors are answered 400 (service/errors.py);
- the CDS Hooks 2.0 bearer JWT is declared as a security scheme and required by the CDS routes;
- health and metrics are left out (operators' endpoints, documented in docs/deployment.md).

The document is served at ``/openapi.json`` only where ``CDS_API_DOCS_ENABLED`` (default: on in the
development profile, off in production), with the Swagger UI page at ``/docs`` (service/api_docs.py:
packaged assets, never FastAPI's CDN-loading pages; docs/reference.md, "Endpoints").
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, ConfigDict, Field

from service.discovery import SERVICES
from service.protocol import HookRequest, OrderSelectContext, OrderSignContext, PatientViewContext
from service.storage.feedback import FeedbackRequest

SECURITY_SCHEME = "cdsHooksJwt"
FHIR_JSON = "application/fhir+json"
DISCOVERY = ("get", "/cds-services")
HOOK = ("post", "/cds-services/{service_id}")
FEEDBACK = ("post", "/cds-services/{service_id}/feedback")


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class CardCoding(_Open):
    system: str | None = None
    code: str
    display: str | None = None


class Source(_Open):
    label: str
    url: str | None = None
    icon: str | None = None
    topic: CardCoding | None = None


class Action(_Open):
    type: Literal["create", "update", "delete"]
    description: str
    resource: dict[str, Any] | None = None
    resource_id: str | None = Field(default=None, alias="resourceId")


class Suggestion(_Open):
    label: str
    uuid: str | None = None
    is_recommended: bool | None = Field(default=None, alias="isRecommended")
    actions: list[Action] | None = None


class Link(_Open):
    label: str
    url: str
    type: Literal["absolute", "smart"]
    app_context: str | None = Field(default=None, alias="appContext")


class Card(_Open):
    """A CDS Hooks 2.0 card, as the service issues it."""

    uuid: str
    summary: str = Field(max_length=140)
    detail: str | None = None
    indicator: Literal["info", "warning", "critical"]
    source: Source
    suggestions: list[Suggestion] | None = None
    selection_behavior: Literal["at-most-one", "any"] | None = Field(default=None, alias="selectionBehavior")
    override_reasons: list[CardCoding] | None = Field(default=None, alias="overrideReasons")
    links: list[Link] | None = None


class CardsResponse(_Open):
    """The answer to a hook call: the cards, possibly none."""

    cards: list[Card]


class DiscoveredService(_Open):
    hook: str
    id: str
    title: str | None = None
    description: str
    prefetch: dict[str, str] | None = None
    usage_requirements: str | None = Field(default=None, alias="usageRequirements")


class DiscoveryResponse(_Open):
    services: list[DiscoveredService]


class OperationOutcomeIssue(_Open):
    severity: Literal["fatal", "error", "warning", "information"]
    code: str
    diagnostics: str | None = None
    expression: list[str] | None = None


class OperationOutcome(_Open):
    """Every error the service gives: a FHIR R4 OperationOutcome."""

    resource_type: Literal["OperationOutcome"] = Field(alias="resourceType")
    issue: list[OperationOutcomeIssue] = Field(min_length=1)


ERROR_DESCRIPTIONS: dict[int, str] = {
    400: "The request is malformed: not JSON, not an object, wrong shape, or the wrong hook for the service.",
    401: "Authentication failed (CDS Hooks 2.0 bearer JWT); the reason is logged, not sent.",
    403: "fhirServer is not a FHIR server this client may name.",
    404: "No CDS service with this id.",
    412: "The FHIR data the rules need could not be had (prefetch incomplete and the FHIR server "
    "failed or is not allowed to be queried, or its answers passed the call's byte budget "
    "CDS_FHIR_MAX_CALL_BYTES: issue code too-costly).",
    413: "The request body is larger than the service accepts (CDS_MAX_BODY_BYTES).",
    405: "The method is not served on this path.",
    415: "The request body is not declared as JSON, or carries a Content-Encoding (bodies are read as sent).",
    429: "Feedback over this client's rate; send it again after Retry-After seconds. Nothing was stored.",
    503: "Feedback: it could not be stored now (the database is unreachable); send it again after "
    "Retry-After seconds, nothing was stored. Hook calls: the record is over the evaluation budget "
    "(CDS_EVALUATION_MAX_RESOURCES, CDS_EVALUATION_MAX_TEXT_CHARS) or could not be evaluated within "
    "CDS_EVALUATION_DEADLINE_SECONDS (issue code too-costly, no Retry-After), or every evaluation worker "
    "is busy (issue code transient, with Retry-After).",
}

# Where a status means something else on one operation than ERROR_DESCRIPTIONS says in general.
OPERATION_DESCRIPTIONS: dict[tuple[tuple[str, str], int], str] = {
    (("post", "/cds-services/{service_id}"), 503): "The record was too costly to evaluate within "
    "CDS_EVALUATION_DEADLINE_SECONDS, or the evaluation queue is full (issue code too-costly); the same "
    "record will be as costly on a retry.",
    (("post", "/cds-services/{service_id}/feedback"), 503): "The feedback could not be stored now (the "
    "database is unreachable); send it again after Retry-After seconds. Nothing was stored.",
    (("post", "/cds-services/{service_id}/feedback"), 400): "The feedback is malformed, or names a card "
    "this service never issued to this client, or an override reason the card did not offer.",
    (("post", "/cds-services/{service_id}/feedback"), 404): "No CDS service with this id.",
    (("get", "/cds-services"), 405): "Only GET (and the CORS preflight) is served here.",
    (("post", "/cds-services/{service_id}"), 405): "Only POST (and the CORS preflight) is served here.",
    (("post", "/cds-services/{service_id}/feedback"), 405): "Only POST (and the CORS preflight) is served "
    "here.",
}

# The statuses each operation answers with. tests/test_openapi.py provokes every one of them and
# fails when the service answers a status that is not listed here, or a listed one cannot be observed.
OPERATION_RESPONSES: dict[tuple[str, str], tuple[int, ...]] = {
    DISCOVERY: (200, 401, 405),
    HOOK: (200, 400, 401, 403, 404, 405, 412, 413, 415, 503),
    FEEDBACK: (200, 400, 401, 404, 405, 413, 415, 429, 503),
}

_SUCCESS: dict[tuple[str, str], dict[str, Any]] = {
    DISCOVERY: {
        "description": "The CDS services offered (CDS Hooks 2.0 discovery).",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/DiscoveryResponse"}}},
    },
    HOOK: {
        "description": "The cards for this hook call (an empty list when there is nothing to advise).",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CardsResponse"}}},
    },
    FEEDBACK: {"description": "Every feedback item was stored. The body is empty."},
}

_REQUEST_BODIES: dict[tuple[str, str], str] = {HOOK: "HookRequest", FEEDBACK: "FeedbackRequest"}
# The media types request bodies may be declared as (service/json_body.py accepts both).
REQUEST_MEDIA_TYPES = ("application/json", FHIR_JSON)
CONTEXT_SCHEMAS: dict[str, type[BaseModel]] = {
    "patient-view": PatientViewContext,
    "order-select": OrderSelectContext,
    "order-sign": OrderSignContext,
}
_EXAMPLES: dict[tuple[str, str], dict[str, Any]] = {
    HOOK: {
        "patient-view": {
            "summary": "patient-view, the record read from the EHR's FHIR server",
            "value": {
                "hook": "patient-view",
                "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
                "fhirServer": "https://ehr.example.org/fhir/r4",
                "fhirAuthorization": {
                    "access_token": "ACCESS-TOKEN",
                    "token_type": "Bearer",
                    "expires_in": 300,
                    "scope": "patient/*.read",
                    "subject": "immunotherapy-cds",
                },
                "context": {"userId": "Practitioner/123", "patientId": "1288992"},
            },
        },
    },
    FEEDBACK: {
        "override": {
            "summary": "a card overridden with one of the reasons it offered",
            "value": {
                "feedback": [
                    {
                        "card": "f8b2a7e0-5b1c-4f0e-9a51-5a2d3f0c8e11",
                        "outcome": "overridden",
                        "overrideReason": {
                            "reason": {
                                "code": "done-elsewhere",
                                "system": "urn:immunotherapy-neuroimaging-cds:override-reason",
                            },
                            "userComment": "MRI done at the referring hospital last week",
                        },
                        "outcomeTimestamp": "2026-11-21T10:00:00Z",
                    }
                ]
            },
        }
    },
}


def _schemas() -> dict[str, Any]:
    """JSON Schemas of the models, with nested models as components (not `#/$defs`)."""
    schemas: dict[str, Any] = {}
    models: tuple[type[BaseModel], ...] = (
        CardsResponse,
        DiscoveryResponse,
        OperationOutcome,
        HookRequest,
        FeedbackRequest,
        *CONTEXT_SCHEMAS.values(),
    )
    for model in models:
        schema = model.model_json_schema(by_alias=True, ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    # The context a hook carries depends on the hook (CDS Hooks 2.0: patient-view, order-select,
    # order-sign): one of the three, told apart by the request's `hook`.
    schemas["HookRequest"]["properties"]["context"] = {
        "oneOf": [{"$ref": f"#/components/schemas/{model.__name__}"} for model in CONTEXT_SCHEMAS.values()],
        "description": "patient-view: PatientViewContext; order-select: OrderSelectContext (draftOrders and "
        "selections); order-sign: OrderSignContext (draftOrders).",
    }
    return schemas


def _error_response(status: int, operation: tuple[str, str]) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": OPERATION_DESCRIPTIONS.get((operation, status), ERROR_DESCRIPTIONS[status]),
        "content": {FHIR_JSON: {"schema": {"$ref": "#/components/schemas/OperationOutcome"}}},
    }
    if status == 401:
        response["headers"] = {
            "WWW-Authenticate": {"description": "Bearer", "schema": {"type": "string"}},
        }
    # Retry-After where waiting helps: feedback throttled or not storable now. A hook call too costly to
    # evaluate gives none: the same record will be as costly on a retry. (A hook call finding every
    # evaluation worker busy does carry one; the description says so, the header is not always there.)
    if status == 429 or (status == 503 and operation == FEEDBACK):
        response["headers"] = {
            "Retry-After": {
                "description": "Seconds to wait before sending again",
                "schema": {"type": "integer"},
            }
        }
    return response


def openapi_document(app: FastAPI) -> dict[str, Any]:
    document = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
    )
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    schemas.update(_schemas())
    components["securitySchemes"] = {
        SECURITY_SCHEME: {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "CDS Hooks 2.0 client JWT, signed by a trusted client (iss, aud, exp, iat, jti; "
            "a jti is accepted once).",
        }
    }
    for path, path_item in document.get("paths", {}).items():
        for method, operation in path_item.items():
            key = (method, path)
            statuses = OPERATION_RESPONSES.get(key)
            if statuses is None:
                operation.get("responses", {}).pop("422", None)
                continue
            operation["security"] = [{SECURITY_SCHEME: []}]
            operation["responses"] = {
                str(status): _SUCCESS[key] if status == 200 else _error_response(status, key)
                for status in statuses
            }
            if key in _REQUEST_BODIES:
                reference = f"#/components/schemas/{_REQUEST_BODIES[key]}"
                body: dict[str, Any] = {"schema": {"$ref": reference}}
                if key in _EXAMPLES:
                    body["examples"] = _EXAMPLES[key]
                operation["requestBody"] = {
                    "required": True,
                    "content": {media_type: body for media_type in REQUEST_MEDIA_TYPES},
                }
            for parameter in operation.get("parameters", []):
                if parameter.get("name") == "service_id":
                    parameter["schema"] = {"type": "string", "enum": sorted(SERVICES)}
                    parameter["description"] = "One of the services the discovery document lists."
    return document


def install_openapi(app: FastAPI) -> None:
    """Replace FastAPI's document with ours (built once, on first use)."""
    cached: dict[str, Any] = {}

    def openapi() -> dict[str, Any]:
        if not cached:
            cached.update(openapi_document(app))
        return cached

    app.openapi = openapi  # type: ignore[method-assign]
