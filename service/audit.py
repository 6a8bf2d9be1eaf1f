"""One audit line per hook or feedback call that did not succeed, and no tracebacks in the logs.

routes.py writes the audit line of a successful call (`hook_call` / `feedback` with outcome 200). This
ASGI middleware writes the line for every other outcome (4xx, and 5xx when an exception escaped), with
the same event name, the service id (only when it is one of ours: the path is caller text), the status,
the latency, and what authentication learnt: the verified client or the failure reason code. Nothing
from the request body or headers is logged.

An exception that escapes the app is answered 500 here and logged by type and location only: left to
the server, it would be logged with its message and traceback, which can quote patient data.
"""

from __future__ import annotations

import time
import traceback
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.discovery import SERVICES
from service.logs import get_logger

audit_log = get_logger("service.audit")
error_log = get_logger("service.errors")


@dataclass
class CallAudit:
    """Filled in while a call runs. A mutable holder, so that a copied context still writes to it."""

    client_iss: str | None = None
    tenant: str | None = None
    auth_failure: str | None = None


_current: ContextVar[CallAudit | None] = ContextVar("cds_call_audit", default=None)


def note_caller(client_iss: str | None, tenant: str | None) -> None:
    audit = _current.get()
    if audit is not None:
        audit.client_iss, audit.tenant = client_iss, tenant


def note_auth_failure(reason: str) -> None:
    audit = _current.get()
    if audit is not None:
        audit.auth_failure = reason


def _audited_call(scope: Scope) -> tuple[str, str] | None:
    """(event, service id) for POST /cds-services/{id} and /cds-services/{id}/feedback, else None."""
    if scope["type"] != "http" or scope.get("method") != "POST":
        return None
    parts = str(scope.get("path", "")).strip("/").split("/")
    if len(parts) not in (2, 3) or parts[0] != "cds-services":
        return None
    if len(parts) == 3 and parts[2] != "feedback":
        return None
    event = "feedback" if len(parts) == 3 else "hook_call"
    return event, parts[1] if parts[1] in SERVICES else "unknown"


class AuditMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        audit = CallAudit()
        token = _current.set(audit)
        status: list[int] = []

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status.append(int(message["status"]))
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except Exception as error:
            # Answered here rather than re-raised: the server would log the traceback, and exception
            # messages can quote request or resource content.
            _log_unexpected(error)
            if not status:
                await _send_internal_error(send)
                status.append(500)
        finally:
            _current.reset(token)
        audited = _audited_call(scope)
        if audited is not None and (not status or status[0] != 200):
            _log(audited, status[0] if status else 500, audit, started)


def _log_unexpected(error: Exception) -> None:
    frames = traceback.extract_tb(error.__traceback__)
    where = f"{Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else "unknown"
    error_log.error("unexpected_error", error_type=type(error).__name__, where=where)


async def _send_internal_error(send: Send) -> None:
    outcome = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "exception", "diagnostics": "internal error"}],
    }
    body = orjson.dumps(outcome)
    headers = [(b"content-type", b"application/fhir+json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 500, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _log(audited: tuple[str, str], outcome: int, audit: CallAudit, started: float) -> None:
    event, service_id = audited
    fields: dict[str, Any] = {
        "service_id": service_id,
        "client_iss": audit.client_iss,
        "tenant": audit.tenant,
        "outcome": outcome,
        "latency_ms": round((time.perf_counter() - started) * 1000, 1),
    }
    if audit.auth_failure is not None:
        fields["auth_failure"] = audit.auth_failure
    audit_log.info(event, **fields)
