"""Log hygiene: full hook calls, successful and failing, leave no token, JWT, patient id, identifier,
name or resource content in ANY log output.

Captured: the file descriptors 1 and 2 (structlog's JSON lines, uvicorn, anything printed, from every
thread) and every stdlib logging record reaching the root logger, formatted with its traceback. The
root logger is also opened to DEBUG, as an operator's logging configuration might; structlog runs at
DEBUG; the app runs once in-process and once under uvicorn with its access log on.

Failures name what leaked and the event it leaked into, never the secret itself.
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import socket
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from fhir_server import FhirTestServer
from issued_support import record_issued
from security_support import (
    SERVICE_FOR_HOOK,
    bearer,
    claims,
    client_entry,
    complete_prefetch,
    dev_settings_for,
    ec_key,
    hook_body,
    load_capture,
    mint,
    running,
    service_path,
    write_clients,
)

from service.app import create_app

PATIENT_ID = "pt-hyg-4Q7Z9"
MRN = "MRN-HYG-558201"
GIVEN, FAMILY = "Zebulon", "Quartzfield"
BIRTH_DATE = "1943-07-19"
NOTE = "hygiene-note-xyzzy-3141"
ACCESS_TOKEN = "at-SECRET-hyg-7d1c0e55"
CAPTURE_PATIENT = ("pt-onc-1", "MRN-0001", "Testperson")

KEY = ec_key("hygiene-key")
FORGER = ec_key("hygiene-key")  # same kid, another key: a forgery

SUBJECT = {"reference": f"Patient/{PATIENT_ID}", "display": f"{GIVEN} {FAMILY}"}


def _resources() -> list[dict[str, Any]]:
    return [
        {
            "resourceType": "Patient",
            "id": PATIENT_ID,
            "identifier": [{"system": "urn:oid:2.16.840.1.113883.19.5", "value": MRN}],
            "name": [{"family": FAMILY, "given": [GIVEN]}],
            "birthDate": BIRTH_DATE,
        },
        {
            "resourceType": "MedicationRequest",
            "id": "medrx-hyg-1",
            "status": "active",
            "intent": "order",
            "subject": SUBJECT,
            "authoredOn": "2026-10-01",
            "medicationCodeableConcept": {
                "coding": [
                    {"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "1547545"},
                ],
                "text": "pembrolizumab",
            },
            "note": [{"text": NOTE}],
        },
        {
            "resourceType": "Condition",
            "id": "cond-hyg-1",
            "subject": SUBJECT,
            "code": {"text": "Non-small cell lung cancer"},
            "note": [{"text": NOTE}],
        },
        {
            "resourceType": "Observation",
            "id": "obs-hyg-1",
            "status": "final",
            "subject": SUBJECT,
            "code": {"text": "headache"},
            "valueString": f"{GIVEN} reports severe headache; {NOTE}",
        },
        {
            # A malformed resource in the bundle: skipped and counted, never logged.
            "resourceType": "Condition",
            "id": ["not", "an", "id", NOTE],
            "subject": SUBJECT,
        },
    ]


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@contextmanager
def _root_logging(level: int) -> Iterator[_Records]:
    root = logging.getLogger()
    handler = _Records()
    saved = root.level
    root.addHandler(handler)
    root.setLevel(level)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(saved)


@contextmanager
def _uvicorn(app: FastAPI) -> Iterator[str]:
    """The app under uvicorn on loopback, debug logging and access log on, logging left unconfigured
    (log_config=None) so that its records reach the root logger we capture."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_config=None, log_level="debug", access_log=True, lifespan="on")
    # A server started with access_log=False (the loopback FHIR server) stops the access logger from
    # propagating, process-wide: reopen it for this server and restore it afterwards.
    access = logging.getLogger("uvicorn.access")
    saved_propagate = access.propagate
    access.propagate = True
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        for _ in range(400):
            if server.started or not thread.is_alive():
                break
            threading.Event().wait(0.05)
        assert server.started, "uvicorn did not start"
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)
        access.propagate = saved_propagate


class Scenario:
    """Runs the calls and remembers every secret it used and every hook call it made."""

    def __init__(self, tmp_path: Path, fhir: FhirTestServer) -> None:
        clients = write_clients(tmp_path, client_entry(KEY, fhir=("http://127.0.0.1",)))
        self.settings = dev_settings_for(tmp_path, trusted_clients_file=clients, log_level="DEBUG")
        self.fhir = fhir
        self.secrets: dict[str, str] = {
            "access token": ACCESS_TOKEN,
            "patient id": PATIENT_ID,
            "MRN": MRN,
            "given name": GIVEN,
            "family name": FAMILY,
            "birth date": BIRTH_DATE,
            "resource text": NOTE,
            **{f"capture value {value}": value for value in CAPTURE_PATIENT},
        }
        self.hook_calls = 0
        self.feedback_calls = 0

    def token(self, base: str, path: str, key: Any = KEY, **overrides: Any) -> str:
        token = mint(
            key, claims(audience=f"{base}{path}", issuer="https://ehr.example.org/cds-client", **overrides)
        )
        n = len(self.secrets)
        _, payload, signature = token.split(".")
        self.secrets[f"JWT {n}"] = token
        self.secrets[f"JWT {n} payload"] = payload
        self.secrets[f"JWT {n} signature"] = signature
        return token

    async def hook(
        self, client: httpx.AsyncClient, base: str, hook: str, body: dict[str, Any], token: str | None
    ) -> int:
        headers = {"Authorization": bearer(token)} if token else {}
        self.hook_calls += 1
        async with asyncio.timeout(30):
            response = await client.post(service_path(hook), json=body, headers=headers)
        return response.status_code

    async def feedback(self, client: httpx.AsyncClient, body: dict[str, Any]) -> int:
        self.feedback_calls += 1
        path = f"{service_path('patient-view')}/feedback"
        return (await client.post(path, json=body)).status_code

    def body(self, hook: str, **options: Any) -> dict[str, Any]:
        options.setdefault("fhir_server", self.fhir.base_url)
        options.setdefault("access_token", ACCESS_TOKEN)
        return hook_body(hook, patient_id=PATIENT_ID, **options)

    async def run_in_process(self, client: httpx.AsyncClient) -> None:
        base = "http://testserver"
        outcomes: dict[str, int] = {}
        full = self.body("patient-view", prefetch=complete_prefetch(_resources()))
        first = self.token(base, service_path("patient-view"))
        outcomes["prefetch"] = await self.hook(client, base, "patient-view", full, first)
        outcomes["replay"] = await self.hook(client, base, "patient-view", full, first)
        queried = self.body("order-sign", prefetch={"patient": _resources()[0]})
        outcomes["fhir queries"] = await self.hook(
            client, base, "order-sign", queried, self.token(base, service_path("order-sign"))
        )
        forged = self.token(base, service_path("patient-view"), key=FORGER)
        outcomes["forged"] = await self.hook(client, base, "patient-view", full, forged)
        expired = self.token(base, service_path("patient-view"), exp=1_700_000_300, iat=1_700_000_000)
        outcomes["expired"] = await self.hook(client, base, "patient-view", full, expired)
        wrong_aud = self.token(base, "/cds-services")
        outcomes["wrong aud"] = await self.hook(client, base, "patient-view", full, wrong_aud)
        outcomes["not allowlisted"] = await self.hook(
            client,
            base,
            "patient-view",
            self.body("patient-view", fhir_server="https://evil.invalid/fhir"),
            None,
        )
        invalid = self.body("patient-view")
        invalid["context"]["patientId"] = f"{GIVEN} {FAMILY} {MRN}"
        outcomes["invalid"] = await self.hook(client, base, "patient-view", invalid, None)
        self.fhir.override(
            "/Condition",
            status_code=500,
            body={"error": f"{GIVEN} {FAMILY} {MRN} token {ACCESS_TOKEN}"},
        )
        outcomes["fhir 500"] = await self.hook(client, base, "patient-view", self.body("patient-view"), None)
        self.fhir.reset()
        outcomes.update(await self._captures(client, base))
        comment = f"{GIVEN} {FAMILY} ({MRN}) already had an MRI"
        card = str(uuid.uuid4())
        await record_issued(self.settings.effective_database_url, SERVICE_FOR_HOOK["patient-view"], [card])
        feedback = {
            "feedback": [
                {
                    "card": card,
                    "outcome": "overridden",
                    "overrideReason": {"userComment": comment},
                    "outcomeTimestamp": "2026-11-21T10:00:00Z",
                }
            ]
        }
        outcomes["feedback"] = await self.feedback(client, feedback)
        outcomes["bad feedback"] = await self.feedback(client, {"feedback": [{"card": PATIENT_ID}]})
        assert outcomes == {
            "prefetch": 200,
            "replay": 401,
            "fhir queries": 200,
            "forged": 401,
            "expired": 401,
            "wrong aud": 401,
            "not allowlisted": 403,
            "invalid": 400,
            "fhir 500": 412,
            "capture order-select": 200,
            "capture patient-view": 200,
            "capture JWT": 401,
            "feedback": 200,
            "bad feedback": 400,
        }

    async def _captures(self, client: httpx.AsyncClient, base: str) -> dict[str, int]:
        """The CDS Hooks Sandbox's own bodies, and its (expired) JWT."""
        select = copy.deepcopy(load_capture("0008-POST-cds_services_rig_order_select.json")["body"])
        select["fhirServer"] = self.fhir.base_url
        select["fhirAuthorization"] = {
            "access_token": ACCESS_TOKEN,
            "token_type": "Bearer",
            "expires_in": 300,
        }
        view = copy.deepcopy(load_capture("0004-POST-cds_services_rig_patient_view.json")["body"])
        view["fhirServer"] = self.fhir.base_url
        view["fhirAuthorization"] = {"access_token": ACCESS_TOKEN, "token_type": "Bearer"}
        discovery = load_capture("0002-GET-cds_services.json")
        sandbox_jwt = discovery["jwt"]["raw"]
        self.secrets["sandbox JWT"] = sandbox_jwt
        self.secrets["sandbox JWT signature"] = sandbox_jwt.rsplit(".", 1)[-1]
        return {
            "capture order-select": await self.hook(client, base, "order-select", select, None),
            "capture patient-view": await self.hook(client, base, "patient-view", view, None),
            "capture JWT": await self.hook(client, base, "patient-view", view, sandbox_jwt),
        }

    async def run_under_uvicorn(self, app: FastAPI, base: str) -> None:
        class Exploding:
            def rendered_cards_for(self, *args: Any, **kwargs: Any) -> Any:
                raise ValueError(f"cannot read {GIVEN} {FAMILY} {MRN} {NOTE} {ACCESS_TOKEN}")

        async with httpx.AsyncClient(base_url=base) as client:
            full = self.body("patient-view", prefetch=complete_prefetch(_resources()))
            path = service_path("patient-view")
            ok = await self.hook(client, base, "patient-view", full, self.token(base, path))
            forged = await self.hook(client, base, "patient-view", full, self.token(base, path, key=FORGER))
            app.state.evaluator = Exploding()
            crashed = await self.hook(client, base, "patient-view", full, self.token(base, path))
        assert (ok, forged, crashed) == (200, 401, 500)


def _leaks(output: str, secrets: dict[str, str]) -> list[str]:
    found = []
    for name, secret in secrets.items():
        if secret in output:
            events = sorted({_event_of(line) for line in output.splitlines() if secret in line})
            found.append(f"{name} in {events}")
    return found


def _event_of(line: str) -> str:
    try:
        return str(json.loads(line).get("event", "?"))
    except (ValueError, AttributeError):
        return line.split(" ", 2)[0][:40]  # a stdlib record: its logger name


def _json_lines(output: str) -> list[dict[str, Any]]:
    lines = []
    for line in output.splitlines():
        if line.startswith("{"):
            try:
                lines.append(json.loads(line))
            except ValueError:
                continue
    return lines


@asynccontextmanager
async def _in_process(scenario: Scenario) -> AsyncIterator[httpx.AsyncClient]:
    async with running(create_app(scenario.settings)) as client:
        yield client


@pytest.fixture
def fhir() -> Iterator[FhirTestServer]:
    server = FhirTestServer(_resources()[:4], required_token=ACCESS_TOKEN)
    with server.running():
        yield server


@pytest.mark.parametrize("root_level", [logging.WARNING, logging.DEBUG], ids=["root-default", "root-debug"])
async def test_no_secret_or_patient_data_in_any_log(
    tmp_path: Path, fhir: FhirTestServer, capfd: pytest.CaptureFixture[str], root_level: int
) -> None:
    scenario = Scenario(tmp_path, fhir)
    with _root_logging(root_level) as records:
        async with _in_process(scenario) as client:
            await scenario.run_in_process(client)
        app = create_app(scenario.settings)
        with _uvicorn(app) as base:
            await scenario.run_under_uvicorn(app, base)
        captured = capfd.readouterr()
    output = "\n".join([captured.out, captured.err, *records.lines])

    assert not _leaks(output, scenario.secrets), f"leaked into the logs: {_leaks(output, scenario.secrets)}"

    events = _json_lines(output)
    # The capture worked, and every hook call left exactly one audit line with its outcome.
    hook_lines = [line for line in events if line.get("event") == "hook_call"]
    assert len(hook_lines) == scenario.hook_calls
    assert {line["outcome"] for line in hook_lines} == {200, 400, 401, 403, 412, 500}
    assert len([line for line in events if line.get("event") == "feedback"]) == scenario.feedback_calls
    reasons = {line.get("auth_failure") for line in hook_lines if line["outcome"] == 401}
    assert reasons == {"replayed_jti", "bad_signature", "expired", "bad_audience", "untrusted_issuer"}
    assert any(line.get("event") == "unexpected_error" for line in events)
    assert "Traceback" not in output
    if root_level == logging.DEBUG:
        assert any(line.startswith("uvicorn.access") for line in records.lines), "uvicorn was not captured"
