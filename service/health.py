"""Health endpoints for orchestrators and load balancers.

Neither endpoint authenticates or writes the audit log: probes run every few seconds from the node,
carry no credentials and say nothing about patients.

- ``GET /health/live``: the process runs and its event loop answers. No upstream calls, so a slow
  database never gets a healthy pod restarted.
- ``GET /health/ready``: the database answers ``SELECT 1``, and outbound FHIR access is not broken: no
  FHIR connection pool holds slots that none of our requests owns (the state a cancelled request can
  leave, encode/httpcore#1093, which once made every FHIR query fail until restart). A pod failing
  either is taken out of the load balancer (503) until it is back; a leaking pool is also replaced on
  the next FHIR request that finds it full, so readiness comes back without a restart. A FHIR server
  that is merely slow or down does not make us unready: that is the EHR's outage, answered 412.
"""

from __future__ import annotations

import asyncio

import orjson
from fastapi import APIRouter, Request
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.responses import Response

from service.database import check_database
from service.errors import outcome_response
from service.logs import get_logger

# Below the readiness probe's timeout (3 s in deploy/kubernetes) so the answer is ours, not the kubelet's.
READINESS_TIMEOUT_SECONDS = 2.0

router = APIRouter(prefix="/health", tags=["health"])
log = get_logger("service.health")


def _ok() -> Response:
    return Response(orjson.dumps({"status": "ok"}), media_type="application/json")


def _unavailable(diagnostics: str) -> Response:
    return outcome_response(
        503,
        {
            "resourceType": "OperationOutcome",
            "issue": [{"severity": "error", "code": "transient", "diagnostics": diagnostics}],
        },
    )


@router.get("/live")
async def live() -> Response:
    return _ok()


@router.get("/ready")
async def ready(request: Request) -> Response:
    engine: AsyncEngine = request.app.state.engine
    try:
        async with asyncio.timeout(READINESS_TIMEOUT_SECONDS):
            await check_database(engine)
    except Exception as error:
        # Only the exception type: driver messages can carry the database URL and its password.
        log.warning("readiness_failed", check="database", error_type=type(error).__name__)
        return _unavailable("the database is unreachable")
    leaked = request.app.state.fhir_client.leaked_slots()
    if leaked:
        log.warning("readiness_failed", check="fhir_pool", leaked_slots=leaked)
        return _unavailable("outbound FHIR access is broken: connection slots leaked")
    return _ok()
