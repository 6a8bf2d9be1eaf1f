"""Every error leaves as a FHIR OperationOutcome with the status its exception class names."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from service.exceptions import EvaluationBusy, ServiceError, StorageUnavailable, Unauthenticated
from service.logs import get_logger
from service.metrics import count_auth_failure

log = get_logger("service.errors")


def outcome_response(
    status_code: int, outcome: dict[str, Any], headers: Mapping[str, str] | None = None
) -> Response:
    return Response(
        orjson.dumps(outcome),
        status_code=status_code,
        media_type="application/fhir+json",
        headers=headers,
    )


def _outcome(code: str, message: str) -> dict[str, Any]:
    return {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": code, "diagnostics": message}],
    }


async def _service_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, ServiceError)
    headers = None
    if isinstance(error, Unauthenticated):
        # The reason stays in the log; the client learns only that it failed.
        log.warning("authentication_failed", path=request.url.path, reason=error.reason, detail=error.detail)
        count_auth_failure(error.reason)
        headers = {"WWW-Authenticate": "Bearer"}
    if isinstance(error, StorageUnavailable | EvaluationBusy):
        headers = {"Retry-After": str(error.retry_after_seconds)}
    return outcome_response(error.status_code, error.operation_outcome(), headers)


async def _http_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)
    code = {404: "not-found", 405: "not-supported"}.get(error.status_code, "invalid")
    return outcome_response(error.status_code, _outcome(code, str(error.detail)), error.headers)


async def _validation_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, RequestValidationError)
    return outcome_response(400, _outcome("invalid", "request parameters are invalid"))


async def _unexpected_error(request: Request, error: Exception) -> Response:
    log.error("unexpected_error", path=request.url.path, error_type=type(error).__name__)
    return outcome_response(500, _outcome("exception", "internal error"))


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ServiceError, _service_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected_error)
