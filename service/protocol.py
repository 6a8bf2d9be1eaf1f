"""CDS Hooks 2.0 request models: what an EHR sends to a service, validated leniently where real
clients deviate from the spec and strictly where a value flows into a URL or a decision."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from service.exceptions import InvalidRequest

HookName = Literal["patient-view", "order-select", "order-sign"]

# FHIR id: these values are put into query URLs, so nothing else may pass.
FhirId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9\-.]{1,64}$")]
NonEmptyText = Annotated[str, StringConstraints(min_length=1, max_length=512)]
_RELATIVE_REFERENCE = re.compile(r"^[A-Za-z]+/[A-Za-z0-9\-.]{1,64}$")


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


# An access token goes into an HTTP header as it is: visible ASCII only (RFC 6750's b64token is a subset).
# Anything else could not be sent (the request to the FHIR server could not even be built).
_ACCESS_TOKEN = re.compile(r"[\x21-\x7e]+")
AccessToken = Annotated[str, StringConstraints(min_length=1, max_length=16 * 1024)]


class FhirAuthorization(_Lenient):
    access_token: AccessToken
    token_type: str = "Bearer"  # noqa: S105 (a token type, not a secret)
    expires_in: int | None = None
    scope: str | None = None
    subject: str | None = None
    patient: str | None = None

    @field_validator("access_token")
    @classmethod
    def _sendable(cls, value: str) -> str:
        # The message never quotes the token.
        if _ACCESS_TOKEN.fullmatch(value) is None:
            raise ValueError("access_token must be visible ASCII characters only (RFC 6750 bearer token)")
        return value

    @field_validator("token_type")
    @classmethod
    def _bearer_only(cls, value: str) -> str:
        if value.lower() != "bearer":
            raise ValueError("token_type must be Bearer")
        return value


class HookRequest(_Lenient):
    hook: NonEmptyText
    hook_instance: NonEmptyText = Field(alias="hookInstance")
    fhir_server: Annotated[str, StringConstraints(pattern=r"^https?://\S+$", max_length=2048)] | None = Field(
        default=None, alias="fhirServer"
    )
    fhir_authorization: FhirAuthorization | None = Field(default=None, alias="fhirAuthorization")
    context: dict[str, Any]
    prefetch: dict[str, Any] | None = None
    extension: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _server_with_authorization(self) -> HookRequest:
        if self.fhir_authorization is not None and self.fhir_server is None:
            raise ValueError("fhirServer is required when fhirAuthorization is present")
        return self


class DraftOrders(_Lenient):
    # The CDS Hooks Sandbox sends draftOrders without Bundle.type; the spec leaves it unsettled.
    resource_type: Literal["Bundle"] = Field(alias="resourceType")
    entry: list[dict[str, Any]] = Field(default_factory=list)

    def resources(self) -> list[dict[str, Any]]:
        found = []
        for entry in self.entry:
            resource = entry.get("resource")
            if isinstance(resource, dict):
                found.append(resource)
        return found


class PatientViewContext(_Lenient):
    user_id: NonEmptyText = Field(alias="userId")
    patient_id: FhirId = Field(alias="patientId")
    encounter_id: FhirId | None = Field(default=None, alias="encounterId")


class OrderSignContext(PatientViewContext):
    draft_orders: DraftOrders = Field(alias="draftOrders")


class OrderSelectContext(OrderSignContext):
    selections: list[NonEmptyText]

    @field_validator("selections")
    @classmethod
    def _relative_references(cls, values: list[str]) -> list[str]:
        for value in values:
            if not _RELATIVE_REFERENCE.match(value):
                raise ValueError(f"selection {value!r} is not a Type/id reference")
        return values


HookContext = PatientViewContext | OrderSignContext | OrderSelectContext

_CONTEXT_MODELS: dict[str, type[PatientViewContext]] = {
    "patient-view": PatientViewContext,
    "order-select": OrderSelectContext,
    "order-sign": OrderSignContext,
}


def describe_validation_error(error: ValidationError, prefix: str) -> InvalidRequest:
    first = error.errors()[0]
    location = ".".join(str(part) for part in (prefix, *first["loc"]) if part != "")
    # A model-level rule (e.g. fhirServer with fhirAuthorization) has no location: the message alone.
    message = f"{location}: {first['msg']}" if location else str(first["msg"])
    return InvalidRequest(message, expression=location or None)


def parse_hook_request(body: dict[str, Any]) -> HookRequest:
    try:
        return HookRequest.model_validate(body)
    except ValidationError as error:
        raise describe_validation_error(error, "") from None


def parse_context(hook: str, context: dict[str, Any]) -> HookContext:
    model = _CONTEXT_MODELS[hook]
    try:
        return model.model_validate(context)
    except ValidationError as error:
        raise describe_validation_error(error, "context") from None


def draft_order_resources(context: HookContext) -> list[dict[str, Any]]:
    if isinstance(context, OrderSignContext):
        return context.draft_orders.resources()
    return []
