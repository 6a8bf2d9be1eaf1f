"""Hostile input never makes the service fail (no 5xx): Schemathesis against the app's own OpenAPI
schema, Hypothesis-fuzzed prefetch and draft orders, and hand-made hostile bodies.

Everything runs in-process in the development profile with unauthenticated calls allowed (the
authentication attacks are in test_authentication.py). The FHIR allowlist is a closed loopback port,
so no generated request can reach any other host. Generation is bounded and derandomized.
"""

from __future__ import annotations

import base64
import copy
import gzip
import json
import shutil
import tempfile
import time
import uuid
import warnings
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hook_requests import fhir_authorization
from hostile_support import MaliciousServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ops_support import metric_value
from security_support import (
    client_entry,
    complete_prefetch,
    dev_settings_for,
    ec_key,
    hook_body,
    service_path,
    write_clients,
)
from security_support import settings_for as token_settings_for
from starlette.exceptions import StarletteDeprecationWarning

from clinical.patient_record import PatientRecord
from service.app import create_app
from service.discovery import SERVICES

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

CLOSED_LOOPBACK = "http://127.0.0.1:9"
PATIENT_ID = "pt-fuzz-1"
HOOKS = ("patient-view", "order-select", "order-sign")
FUZZ = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)


def _settings(directory: Path) -> Any:
    return dev_settings_for(directory, fhir_server_allowlist=[CLOSED_LOOPBACK], log_level="ERROR")


# --- Schemathesis ------------------------------------------------------------------------------------

_SCHEMA_DIR = Path(tempfile.mkdtemp(prefix="cds-schemathesis-"))
_SCHEMA_APP = create_app(_settings(_SCHEMA_DIR))


def _focused_openapi(document: dict[str, Any]) -> dict[str, Any]:
    """The app's schema with the request bodies' pydantic `$defs` moved to components (FastAPI leaves
    `#/$defs/...` references that do not resolve in an OpenAPI document) and `service_id` and `hook`
    limited to real values, so that generated calls reach past the 404 and the hook check."""
    document = copy.deepcopy(document)
    components = document.setdefault("components", {}).setdefault("schemas", {})
    for path_item in document["paths"].values():
        for operation in path_item.values():
            for parameter in operation.get("parameters", []):
                if parameter["name"] == "service_id":
                    parameter["schema"] = {"type": "string", "enum": sorted(SERVICES)}
            body = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
            schema = body.get("schema", {})
            components.update(schema.pop("$defs", {}))
            if "hook" in schema.get("properties", {}):
                schema["properties"]["hook"] = {"type": "string", "enum": list(HOOKS)}
    text = json.dumps(document).replace('"#/$defs/', '"#/components/schemas/')
    focused: dict[str, Any] = json.loads(text)
    return focused


raw_schema = schemathesis.openapi.from_dict(_SCHEMA_APP.openapi())
raw_schema.app = _SCHEMA_APP
focused_schema = schemathesis.openapi.from_dict(_focused_openapi(_SCHEMA_APP.openapi()))
focused_schema.app = _SCHEMA_APP


@pytest.fixture(scope="module", autouse=True)
def _schema_dir() -> Iterator[None]:
    yield
    shutil.rmtree(_SCHEMA_DIR, ignore_errors=True)


def _no_server_error(case: Any) -> None:
    response = case.call()
    assert response.status_code < 500, f"{case.method} {case.formatted_path} answered {response.status_code}"


@raw_schema.parametrize()
@settings(
    max_examples=50, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck)
)
def test_schemathesis_raw_schema(case: Any) -> None:
    _no_server_error(case)


@focused_schema.parametrize()
@settings(
    max_examples=50, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck)
)
def test_schemathesis_real_services(case: Any) -> None:
    _no_server_error(case)


# --- Hypothesis: fuzzed FHIR content ---------------------------------------------------------------

SUBJECT = {"reference": f"Patient/{PATIENT_ID}"}
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"

MEDICATION_REQUEST: dict[str, Any] = {
    "resourceType": "MedicationRequest",
    "id": "mr-1",
    "status": "active",
    "intent": "order",
    "subject": SUBJECT,
    "authoredOn": "2026-10-01",
    "category": [{"coding": [{"code": "inpatient"}]}],
    "medicationCodeableConcept": {
        "coding": [{"system": RXNORM, "code": "1547545", "display": "pembrolizumab"}],
        "text": "pembrolizumab",
    },
    "reasonCode": [{"text": "lung cancer"}],
    "dosageInstruction": [
        {"timing": {"repeat": {"boundsPeriod": {"start": "2026-10-01"}}}, "route": {"text": "IV"}}
    ],
}
CONDITION: dict[str, Any] = {
    "resourceType": "Condition",
    "id": "cond-1",
    "clinicalStatus": {
        "coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]
    },
    "verificationStatus": {
        "coding": [
            {"system": "http://terminology.hl7.org/CodeSystem/condition-ver-status", "code": "confirmed"}
        ]
    },
    "code": {
        "coding": [{"system": "http://snomed.info/sct", "code": "254637007", "display": "NSCLC"}],
        "text": "Non-small cell lung cancer with brain metastases",
    },
    "subject": SUBJECT,
    "onsetDateTime": "2025-01-15",
    "recordedDate": "2025-01-20",
}
OBSERVATION: dict[str, Any] = {
    "resourceType": "Observation",
    "id": "obs-1",
    "status": "final",
    "category": [{"coding": [{"code": "survey"}]}],
    "code": {"coding": [{"system": "http://loinc.org", "code": "72133-2"}], "text": "ICE score"},
    "subject": SUBJECT,
    "effectiveDateTime": "2026-11-10T08:00:00Z",
    "valueInteger": 6,
    "interpretation": [{"text": "encephalopathy"}],
}
PATIENT: dict[str, Any] = {"resourceType": "Patient", "id": PATIENT_ID, "birthDate": "1960-02-29"}
SEEDS = (MEDICATION_REQUEST, CONDITION, OBSERVATION)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False)
    | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)
bad_dates = st.sampled_from(
    [
        "2026-13-45",
        "2026-02-30T25:61:00Z",
        "yesterday",
        "",
        "2026",
        "2026-11",
        "0000-00-00",
        "99999-01-01",
        "2026-11-21T10:00:00+99:00",
        "2026-11-21T10:00:00.123456789Z",
        "\u0000",
        20261121,
        -1,
        None,
        [],
        {},
    ]
) | st.text(max_size=25)
bad_codings = st.sampled_from(
    [
        {"coding": "1547545"},
        {"coding": [None, 1, "x", []]},
        {"coding": [{"system": 5, "code": ["1547545"], "display": {"text": 1}}]},
        {"coding": [{"system": RXNORM}], "text": 42},
        {"text": ["pembrolizumab"]},
        {"coding": [{"code": "1547545" * 500}]},
        [],
        "pembrolizumab",
        None,
    ]
)
resource_types = st.sampled_from(
    [
        "Patient",
        "Condition",
        "Observation",
        "MedicationRequest",
        "Bundle",
        "OperationOutcome",
        "",
        None,
        7,
        "X" * 300,
    ]
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            found.extend(_paths(value, (*prefix, key)))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found.extend(_paths(value, (*prefix, index)))
    return found


def _set(node: Any, path: tuple[Any, ...], value: Any, *, delete: bool = False) -> None:
    for step in path[:-1]:
        node = node[step]
    if delete:
        del node[path[-1]]
    else:
        node[path[-1]] = value


@st.composite
def mutated(draw: st.DrawFn, seed: dict[str, Any]) -> Any:
    """`seed` with 1-4 mutations at any depth: new JSON of any type, a deletion, a bad date, a bad
    coding or a wrong resourceType; or, now and then, something that is not a resource at all."""
    if draw(st.integers(0, 9)) == 0:
        return draw(json_values)
    resource = copy.deepcopy(seed)
    for _ in range(draw(st.integers(1, 4))):
        paths = _paths(resource)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        action = draw(st.sampled_from(["replace", "delete", "date", "coding", "type"]))
        if action == "delete":
            _set(resource, path, None, delete=True)
        elif action == "type":
            resource["resourceType"] = draw(resource_types)
        else:
            strategy = {"replace": json_values, "date": bad_dates, "coding": bad_codings}[action]
            # A copy: sampled values are shared between draws and later mutations must not alter them.
            _set(resource, path, copy.deepcopy(draw(strategy)))
    return resource


fuzzed_resources = st.lists(st.one_of(*(mutated(seed) for seed in SEEDS)), min_size=1, max_size=4)


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    app = create_app(_settings(tmp_path_factory.mktemp("hostile")))
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def _assert_handled(response: Any) -> None:
    assert response.status_code < 500, f"answered {response.status_code}"
    if response.status_code == 200:
        assert isinstance(response.json()["cards"], list)
    else:
        assert 400 <= response.status_code < 500
        assert response.json()["resourceType"] == "OperationOutcome"


def _bundle(resources: list[Any]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": r} for r in resources]}


@FUZZ
@given(resources=fuzzed_resources, hook=st.sampled_from(HOOKS))
def test_fuzzed_resources_in_their_prefetch_keys(client: TestClient, resources: list[Any], hook: str) -> None:
    prefetch = complete_prefetch([PATIENT])
    prefetch["medicationRequests"] = _bundle([r for r in resources if _seeded_as(r, MEDICATION_REQUEST)])
    prefetch["conditions"] = _bundle([r for r in resources if _seeded_as(r, CONDITION)])
    prefetch["observations"] = _bundle([r for r in resources if _seeded_as(r, OBSERVATION)])
    body = hook_body(hook, patient_id=PATIENT_ID, prefetch=prefetch)
    _assert_handled(client.post(service_path(hook), json=body))


def _seeded_as(resource: Any, seed: dict[str, Any]) -> bool:
    # Mutated resources keep most of their seed's keys; anything unrecognisable goes everywhere.
    if not isinstance(resource, dict):
        return True
    return resource.get("id") == seed["id"] or "id" not in resource


@FUZZ
@given(resources=fuzzed_resources, key=st.sampled_from(["medicationRequests", "conditions", "observations"]))
def test_fuzzed_resources_in_any_prefetch_key(client: TestClient, resources: list[Any], key: str) -> None:
    prefetch = complete_prefetch([PATIENT])
    prefetch[key] = _bundle(resources)
    body = hook_body("patient-view", patient_id=PATIENT_ID, prefetch=prefetch)
    _assert_handled(client.post(service_path("patient-view"), json=body))


@FUZZ
@given(value=json_values | mutated(CONDITION), key=st.sampled_from(["patient", "conditions", "observations"]))
def test_wrong_json_types_as_prefetch_values(client: TestClient, value: Any, key: str) -> None:
    prefetch = complete_prefetch([PATIENT])
    prefetch[key] = value
    body = hook_body("patient-view", patient_id=PATIENT_ID, prefetch=prefetch)
    _assert_handled(client.post(service_path("patient-view"), json=body))


@FUZZ
@given(draft=mutated(MEDICATION_REQUEST), hook=st.sampled_from(["order-select", "order-sign"]))
def test_fuzzed_draft_orders(client: TestClient, draft: Any, hook: str) -> None:
    body = hook_body(hook, patient_id=PATIENT_ID, prefetch=complete_prefetch([PATIENT]))
    body["context"]["draftOrders"]["entry"] = [{"resource": draft}]
    _assert_handled(client.post(service_path(hook), json=body))


@FUZZ
@given(
    entry=st.one_of(json_values, st.builds(lambda r: {"resource": r}, json_values)),
    where=st.sampled_from(["bundle", "entries", "link"]),
)
def test_wrong_types_around_the_bundle(client: TestClient, entry: Any, where: str) -> None:
    bundle = _bundle([CONDITION])
    if where == "bundle":
        bundle["entry"] = entry
    elif where == "entries":
        bundle["entry"].append(entry)
    else:
        bundle["link"] = entry
    prefetch = complete_prefetch([PATIENT])
    prefetch["conditions"] = bundle
    body = hook_body("patient-view", patient_id=PATIENT_ID, prefetch=prefetch)
    _assert_handled(client.post(service_path("patient-view"), json=body))


# --- malformed resources are skipped and counted ----------------------------------------------------


def test_malformed_resources_are_skipped_and_counted() -> None:
    record = PatientRecord(patient_id=PATIENT_ID)
    record.add_all(
        [
            CONDITION,
            "not a resource",
            ["nor", "this"],
            {"resourceType": 7, "id": "x"},
            {"resourceType": "Condition", "id": {"nested": "id"}},
            {"resourceType": "Condition", "id": "other", "subject": {"reference": "Patient/someone-else"}},
        ]
    )
    assert record.of_type("Condition") == [CONDITION]
    assert record.skipped == 5


def test_malformed_resource_in_a_bundle_is_not_fatal(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    prefetch = complete_prefetch([PATIENT, CONDITION])
    prefetch["conditions"]["entry"].append({"resource": {"resourceType": "Condition", "id": ["bad"]}})
    prefetch["conditions"]["entry"].append({"resource": {"resourceType": 42}})
    body = hook_body("patient-view", patient_id=PATIENT_ID, prefetch=prefetch)
    app = create_app(dev_settings_for(tmp_path, fhir_server_allowlist=[CLOSED_LOOPBACK], log_level="INFO"))
    with TestClient(app, raise_server_exceptions=False) as test_client:
        response = test_client.post(service_path("patient-view"), json=body)
    assert response.status_code == 200
    audit = [json.loads(line) for line in capfd.readouterr().err.splitlines() if '"hook_call"' in line]
    assert audit[-1]["skipped_resources"] == 2
    assert audit[-1]["resources"] == 2  # the Patient and the good Condition


# --- hand-made hostile bodies -----------------------------------------------------------------------

VALID = hook_body("patient-view", patient_id=PATIENT_ID, prefetch=complete_prefetch([PATIENT]))


@pytest.mark.parametrize(
    ("content", "headers", "status"),
    [
        (b"", {}, 400),
        (b"[]", {}, 400),
        (b'"just a string"', {}, 400),
        (b"{", {}, 400),
        (b'{"hook": ' + b"[" * 5000 + b"]" * 5000 + b"}", {}, 400),
        (b'{"hook": "patient-view", "context": ' + b'{"a": ' * 3000 + b"1" + b"}" * 3000 + b"}", {}, 400),
        (json.dumps(VALID).encode("utf-8").replace(b"patient-view", b"patient-\xff\xfeview", 1), {}, 400),
        (b"\xef\xbb\xbf" + json.dumps(VALID).encode(), {}, 400),
        (json.dumps(VALID).encode("utf-16"), {}, 400),
        (b'{"hook": NaN}', {}, 400),
        (b'{"hook": 1e999999}', {}, 400),
        (b'{"hook": 123456789012345678901234567890}', {}, 400),
        (json.dumps(VALID).encode(), {"Content-Type": "text/plain"}, 415),
        (json.dumps(VALID).encode(), {"Content-Type": "application/x-www-form-urlencoded"}, 415),
        (json.dumps(VALID).encode(), {"Content-Type": "application/json; charset=utf-8"}, 200),
    ],
    ids=[
        "empty",
        "array",
        "string",
        "truncated",
        "deep-arrays",
        "deep-objects",
        "non-utf8",
        "utf8-bom",
        "utf16",
        "nan",
        "huge-float",
        "huge-int",
        "text-plain",
        "form",
        "json-charset",
    ],
)
def test_hostile_bodies(client: TestClient, content: bytes, headers: dict[str, str], status: int) -> None:
    response = client.post(
        service_path("patient-view"), content=content, headers={"Content-Type": "application/json", **headers}
    )
    assert response.status_code == status


def test_oversized_body_is_413(tmp_path: Path) -> None:
    app = create_app(dev_settings_for(tmp_path, max_body_bytes=64 * 1024))
    padding = {"x": "a" * (128 * 1024)}
    big = {**VALID, "extension": padding}
    with TestClient(app, raise_server_exceptions=False) as test_client:
        declared = test_client.post(service_path("patient-view"), json=big)

        def chunks() -> Iterator[bytes]:
            data = json.dumps(big).encode()
            for start in range(0, len(data), 8192):
                yield data[start : start + 8192]

        streamed = test_client.post(
            service_path("patient-view"), content=chunks(), headers={"Content-Type": "application/json"}
        )
        ok = test_client.post(service_path("patient-view"), json=VALID)
    assert (declared.status_code, streamed.status_code, ok.status_code) == (413, 413, 200)
    assert "content-length" not in streamed.request.headers


# --- issue 11: fuzzed tokens, feedback values and encodings ----------------------------------------

TOKEN_ISSUER = "https://ehr.example.org/cds-client"
TOKEN_KEY = ec_key("fuzz-kid")
AUTH_REASONS = (
    "missing_token",
    "malformed_token",
    "untrusted_issuer",
    "bad_audience",
    "expired",
    "missing_claim",
    "tenant_not_allowed",
    "bad_algorithm",
    "unknown_kid",
    "jku_not_allowed",
    "bad_signature",
    "replayed_jti",
    "token_too_long_lived",
    "no_trusted_clients",
)
# Raw JSON texts a claim or header member may hold, beyond what Python's json would write.
raw_json_numbers = st.sampled_from(
    ["1e400", "-1e400", "1e308", "-0", "9" * 400, "0.0000001", "1E+2", "-9223372036854775809"]
)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _auth_failures(client: TestClient) -> float:
    text = client.get("/metrics").text
    return sum(metric_value(text, "cds_auth_failures_total", {"reason": reason}) for reason in AUTH_REASONS)


@pytest.fixture(scope="module")
def auth_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    directory = tmp_path_factory.mktemp("hostile-auth")
    clients = write_clients(
        directory,
        client_entry(TOKEN_KEY, iss=TOKEN_ISSUER, jku_allowlist=["https://keys.example.org/j.json"]),
    )
    app = create_app(
        token_settings_for(directory, trusted_clients_file=clients, metrics_enabled=True, log_level="WARNING")
    )
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


@st.composite
def hostile_tokens(draw: st.DrawFn) -> str:
    """A compact JWS whose header and claims carry hostile values (any JSON, or raw numbers such as
    1e400 that no JSON library writes) in the members the checks read; the signature is junk."""
    header: dict[str, str] = {"alg": '"ES384"', "typ": '"JWT"', "kid": '"fuzz-kid"'}
    claims_: dict[str, str] = {
        "iss": json.dumps(TOKEN_ISSUER),
        "aud": json.dumps("http://testserver/cds-services"),
        "iat": str(int(time.time())),
        "exp": str(int(time.time()) + 300),
        "jti": json.dumps(str(uuid.uuid4())),
    }
    for _ in range(draw(st.integers(1, 3))):
        target = draw(st.sampled_from([header, claims_]))
        names = (
            ["alg", "kid", "jku", "crit", "b64"]
            if target is header
            else ["iss", "aud", "iat", "exp", "nbf", "jti", "tenant"]
        )
        name = draw(st.sampled_from(names))
        target[name] = draw(raw_json_numbers | st.builds(json.dumps, json_values))
    header_text = "{" + ", ".join(f'"{k}": {v}' for k, v in header.items()) + "}"
    claims_text = "{" + ", ".join(f'"{k}": {v}' for k, v in claims_.items()) + "}"
    signature = draw(st.binary(min_size=0, max_size=96))
    return f"{_b64(header_text.encode())}.{_b64(claims_text.encode())}.{_b64(signature)}"


@FUZZ
@given(token=hostile_tokens())
def test_fuzzed_tokens_are_401_with_an_outcome_and_counted(auth_client: TestClient, token: str) -> None:
    before = _auth_failures(auth_client)
    response = auth_client.get("/cds-services", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401, f"answered {response.status_code}"
    assert response.json()["issue"][0]["code"] == "login"
    assert _auth_failures(auth_client) - before == 1


feedback_values = st.fixed_dictionaries(
    {},
    optional={
        "card": json_values | st.text(max_size=300),
        "outcome": st.sampled_from(["accepted", "overridden", "", "ACCEPTED"]) | json_values,
        "outcomeTimestamp": bad_dates
        | st.sampled_from(
            [
                "0001-01-01T00:00:00+14:00",
                "9999-12-31T23:59:59-14:00",
                "0001-01-01T00:00:00Z",
                "2026-11-21T10:00:00+24:00",
                "2026-11-21T10:00:00-00:01",
                "1e400",
            ]
        ),
        "acceptedSuggestions": json_values,
        "overrideReason": json_values,
    },
)


@FUZZ
@given(items=st.lists(feedback_values, min_size=0, max_size=3) | json_values)
def test_fuzzed_feedback_is_never_a_server_error(client: TestClient, items: Any) -> None:
    response = client.post(f"{service_path('order-sign')}/feedback", json={"feedback": items})
    assert response.status_code == 400, f"answered {response.status_code}"
    assert response.json()["resourceType"] == "OperationOutcome"


request_encodings = st.sampled_from(
    [
        ("gzip", lambda data: gzip.compress(data)),
        ("deflate", lambda data: zlib.compress(data)),
        ("br", lambda data: data),
        ("gzip, gzip", lambda data: gzip.compress(gzip.compress(data))),
        ("identity", lambda data: data),
        ("x-unknown", lambda data: data),
    ]
)
charsets = st.sampled_from(["utf-8", "UTF-8", "utf-16", "latin-1", "iso-8859-1", "", "utf-8; q=1", '"utf-8"'])
text_encodings = st.sampled_from(["utf-8", "utf-16", "utf-32", "latin-1", "utf-8-sig"])


@FUZZ
@given(encoding=request_encodings, charset=charsets, text_encoding=text_encodings)
def test_request_body_encodings(client: TestClient, encoding: Any, charset: str, text_encoding: str) -> None:
    coding, encode = encoding
    body = json.dumps({**VALID, "note": "Lhermitte-Duclos éé"}, ensure_ascii=False).encode(text_encoding)
    headers = {"Content-Type": f"application/json; charset={charset}" if charset else "application/json"}
    headers["Content-Encoding"] = coding
    response = client.post(service_path("patient-view"), content=encode(body), headers=headers)
    _assert_handled(response)
    if coding not in ("identity",):
        assert response.status_code == 415
    elif text_encoding != "utf-8":
        assert response.status_code == 400


FHIR_PATIENT = json.dumps(
    {"resourceType": "Patient", "id": PATIENT_ID, "name": [{"text": "Zoë Ñúñez"}]}, ensure_ascii=False
)
response_codings = st.sampled_from(
    [
        ("", lambda data: data),
        ("identity", lambda data: data),
        ("gzip", gzip.compress),
        ("GZIP", gzip.compress),
        ("deflate", zlib.compress),
        ("deflate", lambda data: zlib.compress(data)[2:-4]),  # raw deflate, as some servers send
        ("gzip, identity", gzip.compress),
        ("gzip, gzip", lambda data: gzip.compress(gzip.compress(data))),
        ("deflate, gzip", lambda data: gzip.compress(zlib.compress(data))),
        ("br", lambda data: data),
        ("zstd", lambda data: data),
        ("compress", lambda data: data),
        ("gzip", lambda data: gzip.compress(data)[:-6]),  # truncated
        ("gzip", lambda data: gzip.compress(data) + b"trailing"),
        ("gzip", lambda data: data),  # says gzip, is not
    ]
)


@pytest.fixture(scope="module")
def encoding_server() -> Iterator[tuple[MaliciousServer, str]]:
    server = MaliciousServer()
    with server.running() as url:
        yield server, url


@pytest.fixture(scope="module")
def encoding_client(
    tmp_path_factory: pytest.TempPathFactory, encoding_server: tuple[MaliciousServer, str]
) -> Iterator[TestClient]:
    _, url = encoding_server
    settings = dev_settings_for(
        tmp_path_factory.mktemp("encodings"), fhir_server_allowlist=[url], log_level="WARNING"
    )
    with TestClient(create_app(settings), raise_server_exceptions=False) as test_client:
        yield test_client


@FUZZ
@given(coding=response_codings, charset=charsets, text_encoding=text_encodings)
def test_fhir_response_encodings(
    encoding_client: TestClient,
    encoding_server: tuple[MaliciousServer, str],
    coding: Any,
    charset: str,
    text_encoding: str,
) -> None:
    server, url = encoding_server
    name, encode = coding
    server.body = encode(FHIR_PATIENT.encode(text_encoding))
    server.headers = {
        "content-type": f"application/fhir+json; charset={charset}" if charset else "application/fhir+json"
    }
    if name:
        server.headers["content-encoding"] = name
    prefetch = complete_prefetch([])
    del prefetch["patient"]  # read from the server: one GET
    body = hook_body("patient-view", patient_id=PATIENT_ID, fhir_server=url, prefetch=prefetch)
    body["fhirAuthorization"] = fhir_authorization("encoding-token")
    response = encoding_client.post(service_path("patient-view"), json=body)
    _assert_handled(response)
    decodable = name.lower() in ("", "identity", "gzip", "deflate", "gzip, identity") and text_encoding in (
        "utf-8",
    )
    if response.status_code == 200:
        assert decodable, f"{name!r} / {text_encoding} was accepted"
