"""Every error the service answers with, and the HTTP status and OperationOutcome it becomes.

ServiceError
├── RequestRejected                 4xx: the caller sent something we will not process
│   ├── InvalidRequest              400 malformed JSON, wrong shape, wrong hook for the service
│   ├── Unauthenticated             401 no detail in the body; the reason goes to the log
│   ├── FhirServerNotAllowed        403 fhirServer is not on the caller's allowlist
│   ├── UnknownService              404
│   ├── PayloadTooLarge             413
│   └── UnsupportedMediaType        415
├── DataUnavailable                 412 the FHIR data the rules need could not be had
│   └── FhirServerError             the FHIR server failed: timeout, 5xx, reset, non-JSON, too large
│       └── FhirCallBudgetSpent     412 too-costly: the call's FHIR data passed its byte budget
├── StorageUnavailable              503 with Retry-After: feedback while the database is unreachable
├── TooCostly                       503 too-costly: the record is over the evaluation budget
│   └── EvaluationOverran           503 too-costly: the evaluation did not end within its deadline
└── EvaluationBusy                  503 with Retry-After: every evaluation worker is busy
"""

from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    status_code = 500
    issue_code = "exception"

    def __init__(self, message: str, *, expression: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.expression = expression

    def operation_outcome(self) -> dict[str, Any]:
        issue: dict[str, Any] = {
            "severity": "error",
            "code": self.issue_code,
            "diagnostics": self.message,
        }
        if self.expression:
            issue["expression"] = [self.expression]
        return {"resourceType": "OperationOutcome", "issue": [issue]}


class RequestRejected(ServiceError):
    status_code = 400
    issue_code = "invalid"


class InvalidRequest(RequestRejected):
    pass


class Unauthenticated(RequestRejected):
    """The reason is logged and counted, never sent: the body says only that authentication failed.

    `reason` is a short code from a fixed set (a metrics label): missing_token, malformed_token,
    untrusted_issuer, bad_audience, expired, missing_claim, tenant_not_allowed, bad_algorithm,
    unknown_kid, jku_not_allowed, bad_signature, replayed_jti, token_too_long_lived, no_trusted_clients.
    `detail` adds free text for the log; it must never contain the token.
    """

    status_code = 401
    issue_code = "login"

    def __init__(self, reason: str, detail: str | None = None) -> None:
        super().__init__("authentication failed")
        self.reason = reason
        self.detail = detail


class FhirServerNotAllowed(RequestRejected):
    status_code = 403
    issue_code = "forbidden"


class UnknownService(RequestRejected):
    status_code = 404
    issue_code = "not-found"


class PayloadTooLarge(RequestRejected):
    status_code = 413
    issue_code = "too-costly"


class UnsupportedMediaType(RequestRejected):
    status_code = 415
    issue_code = "not-supported"


class DataUnavailable(ServiceError):
    status_code = 412
    issue_code = "incomplete"


class FhirServerError(DataUnavailable):
    issue_code = "transient"


class FhirCallBudgetSpent(FhirServerError):
    """The FHIR data of one call passed its byte budget (CDS_FHIR_MAX_CALL_BYTES)."""

    issue_code = "too-costly"


class StorageUnavailable(ServiceError):
    status_code = 503
    issue_code = "transient"

    def __init__(self, message: str, *, retry_after_seconds: int) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds


class TooCostly(ServiceError):
    """The call would cost more than one call may: answered without evaluating (or without waiting)."""

    status_code = 503
    issue_code = "too-costly"


class EvaluationOverran(TooCostly):
    pass


class EvaluationBusy(ServiceError):
    status_code = 503
    issue_code = "transient"

    def __init__(self, message: str, *, retry_after_seconds: int) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds
