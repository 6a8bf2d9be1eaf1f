"""Health endpoints for orchestrators and load balancers.

Neither endpoint authenticates or writes the audit log: probes run every few seconds from the node,
carry no credentials and say nothing about patients.

- ``GET /health/live``: the process runs and its event loop answers. No upstream calls, so a slow
  database never gets a healthy pod restarted.
- ``GET /health/ready``: 200 while the pod can answer hook calls, with the state of each component:
  ``{"status": "ok" | "degraded", "components": {"database": "ok" | "unavailable", "fhir": "ok"}}``;
  503 with an OperationOutcome when outbound FHIR access is broken.

The database is a *degraded* component, not a reason to leave the load balancer: hook calls do not
need it (cards are computed from the request and the FHIR server; replay protection falls back to
each worker's memory, issued cards are buffered). Taking every pod out of service when the shared
database goes away would turn an analytics outage into a clinical-decision-support outage for the
whole hospital. Feedback answers 503 with Retry-After meanwhile (service/storage/feedback.py), and alerting
watches ``cds_database_available`` (docs/deployment.md, "Monitoring").

Outbound FHIR access *is* a reason: a FHIR connection pool holding slots that none of our requests owns
(the state a cancelled request can leave, encode/httpcore#1093, which once made every FHIR query fail
until restart) means this pod cannot read patient data, so it leaves the load balancer (503) until the
next FHIR request that finds the pool full replaces it. A FHIR server that is merely slow or down does
not make us unready: that is the EHR's outage, answered 412.
"""

from __future__ import annotations

import asyncio

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response

from service.errors import outcome_response
from service.logs import get_logger
from service.storage.database import DatabaseStatus

# Below the readiness probe's timeout (3 s in deploy/kubernetes) so the answer is ours, not the kubelet's.
READINESS_TIMEOUT_SECONDS = 2.0

router = APIRouter(prefix="/health", tags=["health"])
log = get_logger("service.health")


def _json(content: object) -> Response:
    return Response(orjson.dumps(content), media_type="application/json")


def _unavailable(diagnostics: str) -> Response:
    return outcome_response(
        503,
        {
            "resourceType": "OperationOutcome",
            "issue": [{"severity": "error", "code": "transient", "diagnostics": diagnostics}],
        },
    )


@router.get("/live", include_in_schema=False)
async def live() -> Response:
    return _json({"status": "ok"})


async def _database_component(database: DatabaseStatus) -> str:
    try:
        async with asyncio.timeout(READINESS_TIMEOUT_SECONDS):
            reachable = await database.check()
    except TimeoutError:
        reachable = False
    return "ok" if reachable else "unavailable"


@router.get("/ready", include_in_schema=False)
async def ready(request: Request) -> Response:
    leaked = request.app.state.fhir_client.leaked_slots()
    if leaked:
        log.warning("readiness_failed", check="fhir_pool", leaked_slots=leaked)
        return _unavailable("outbound FHIR access is broken: connection slots leaked")
    components = {"database": await _database_component(request.app.state.database), "fhir": "ok"}
    degraded = any(state != "ok" for state in components.values())
    return _json({"status": "degraded" if degraded else "ok", "components": components})
