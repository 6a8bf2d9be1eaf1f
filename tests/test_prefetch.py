"""Gathering the patient's data (service.fhir_access.prefetch): the four prefetch states, the FHIR fallback,
paged prefetch and Medication resolution. The EHR's FHIR server is a respx mock that refuses anything
not routed, so every request the service makes is one a test expects."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import respx
from hook_requests import complete_prefetch, empty_searchset, search_key_for, searchset

from clinical.patient_record import PatientRecord
from service.discovery import PREFETCH_TEMPLATES
from service.exceptions import DataUnavailable, FhirServerError, InvalidRequest
from service.fhir_access.fhir_client import FhirClient, FhirEndpoint
from service.fhir_access.prefetch import FhirAccess, gather_patient_record, render_template

BASE = "https://ehr.example.org/fhir"
TOKEN = "token-of-this-call"
PATIENT = "p1"
USER = "Practitioner/u1"
CONDITION = {"resourceType": "Condition", "id": "c1", "subject": {"reference": f"Patient/{PATIENT}"}}
CONDITIONS_KEY = search_key_for("Condition")
REQUESTS_KEY = search_key_for("MedicationRequest")
STATEMENTS_KEY = search_key_for("MedicationStatement")
PATIENT_KEY = next(key for key, (kind, _) in PREFETCH_TEMPLATES.items() if kind == "Patient")


@pytest.fixture
def ehr() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE, assert_all_called=False, assert_all_mocked=True) as router:
        yield router


# respx answers before any TLS happens; one context for the module keeps each test fast.
_TLS = ssl.create_default_context()


@pytest.fixture
async def fhir_client() -> AsyncIterator[FhirClient]:
    async with httpx.AsyncClient(verify=_TLS, follow_redirects=False, trust_env=False) as http:
        yield FhirClient(
            http, page_size=50, max_pages=5, max_response_bytes=1 << 20, max_concurrent_requests=4
        )


def _access(client: FhirClient, token: str | None = TOKEN) -> FhirAccess:
    return FhirAccess(client, FhirEndpoint(BASE, token), "")


def _no_access(client: FhirClient) -> FhirAccess:
    return FhirAccess(client, None, "the request names no fhirServer")


def _prefetch(**replacements: Any) -> dict[str, Any]:
    """Every key satisfied, with `replacements` (a value, or ... to leave the key out)."""
    prefetch = complete_prefetch(PATIENT)
    for key, value in replacements.items():
        if value is ...:
            del prefetch[key]
        else:
            prefetch[key] = value
    return prefetch


async def _gather(prefetch: dict[str, Any] | None, access: FhirAccess) -> PatientRecord:
    return await gather_patient_record(prefetch, PATIENT, USER, access)


def _ids(record: PatientRecord, resource_type: str) -> list[str]:
    return [resource["id"] for resource in record.of_type(resource_type)]


# -- the four states ----------------------------------------------------------------------------


async def test_complete_prefetch_makes_no_fhir_request(
    ehr: respx.MockRouter, fhir_client: FhirClient
) -> None:
    record = await _gather(_prefetch(**{CONDITIONS_KEY: searchset(CONDITION)}), _access(fhir_client))

    assert _ids(record, "Condition") == ["c1"]
    assert _ids(record, "Patient") == [PATIENT]
    assert ehr.calls.call_count == 0


async def test_complete_prefetch_needs_no_fhir_server(fhir_client: FhirClient) -> None:
    record = await _gather(_prefetch(**{CONDITIONS_KEY: searchset(CONDITION)}), _no_access(fhir_client))

    assert _ids(record, "Condition") == ["c1"]


async def test_prefetch_key_holding_a_single_resource_is_used(
    ehr: respx.MockRouter, fhir_client: FhirClient
) -> None:
    record = await _gather(_prefetch(**{CONDITIONS_KEY: CONDITION}), _access(fhir_client))

    assert _ids(record, "Condition") == ["c1"]
    assert ehr.calls.call_count == 0


async def test_paged_prefetch_is_followed_with_the_token(
    ehr: respx.MockRouter, fhir_client: FhirClient
) -> None:
    second = {**CONDITION, "id": "c2"}
    page_two = ehr.get("/Condition", params={"page": "2"}).respond(json=searchset(second))

    first_page = searchset(CONDITION, next_url=f"{BASE}/Condition?patient={PATIENT}&page=2")
    record = await _gather(_prefetch(**{CONDITIONS_KEY: first_page}), _access(fhir_client))

    assert _ids(record, "Condition") == ["c1", "c2"]
    assert page_two.call_count == 1
    assert page_two.calls.last.request.headers["authorization"] == f"Bearer {TOKEN}"


async def test_paged_prefetch_without_fhir_access_is_data_unavailable(fhir_client: FhirClient) -> None:
    first_page = searchset(CONDITION, next_url=f"{BASE}/Condition?patient={PATIENT}&page=2")

    with pytest.raises(DataUnavailable, match=f"prefetch '{CONDITIONS_KEY}'"):
        await _gather(_prefetch(**{CONDITIONS_KEY: first_page}), _no_access(fhir_client))


async def test_null_prefetch_means_no_data_and_no_query(
    ehr: respx.MockRouter, fhir_client: FhirClient
) -> None:
    conditions = ehr.get("/Condition").respond(json=searchset(CONDITION))

    record = await _gather(_prefetch(**{CONDITIONS_KEY: None}), _access(fhir_client))

    assert record.of_type("Condition") == []
    assert not conditions.called


async def test_null_prefetch_needs_no_fhir_server(fhir_client: FhirClient) -> None:
    record = await _gather(_prefetch(**{CONDITIONS_KEY: None}), _no_access(fhir_client))

    assert record.of_type("Condition") == []


async def test_operation_outcome_prefetch_is_queried(ehr: respx.MockRouter, fhir_client: FhirClient) -> None:
    conditions = ehr.get("/Condition", params={"patient": PATIENT}).respond(json=searchset(CONDITION))
    failed = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "timeout"}]}

    record = await _gather(_prefetch(**{CONDITIONS_KEY: failed}), _access(fhir_client))

    assert _ids(record, "Condition") == ["c1"]
    assert conditions.call_count == 1
    assert conditions.calls.last.request.headers["authorization"] == f"Bearer {TOKEN}"


async def test_operation_outcome_prefetch_without_fhir_access_is_data_unavailable(
    fhir_client: FhirClient,
) -> None:
    failed = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "timeout"}]}

    with pytest.raises(DataUnavailable, match="cannot be queried"):
        await _gather(_prefetch(**{CONDITIONS_KEY: failed}), _no_access(fhir_client))


async def test_absent_prefetch_key_is_queried_with_the_token(
    ehr: respx.MockRouter, fhir_client: FhirClient
) -> None:
    conditions = ehr.get("/Condition", params={"patient": PATIENT}).respond(json=searchset(CONDITION))

    record = await _gather(_prefetch(**{CONDITIONS_KEY: ...}), _access(fhir_client))

    assert _ids(record, "Condition") == ["c1"]
    assert conditions.call_count == 1
    assert conditions.calls.last.request.headers["authorization"] == f"Bearer {TOKEN}"
    assert ehr.calls.call_count == 1


async def test_absent_prefetch_key_on_an_open_server_is_queried_without_a_token(
    ehr: respx.MockRouter, fhir_client: FhirClient
) -> None:
    conditions = ehr.get("/Condition").respond(json=searchset(CONDITION))

    await _gather(_prefetch(**{CONDITIONS_KEY: ...}), _access(fhir_client, token=None))

    assert "authorization" not in conditions.calls.last.request.headers


async def test_absent_prefetch_key_without_fhir_access_is_data_unavailable(fhir_client: FhirClient) -> None:
    with pytest.raises(DataUnavailable) as raised:
        await _gather(_prefetch(**{CONDITIONS_KEY: ...}), _no_access(fhir_client))

    assert raised.value.status_code == 412
    assert "the request names no fhirServer" in raised.value.message
    assert raised.value.expression == f"prefetch.{CONDITIONS_KEY}"


async def test_absent_patient_key_is_read(ehr: respx.MockRouter, fhir_client: FhirClient) -> None:
    read = ehr.get(f"/Patient/{PATIENT}").respond(json={"resourceType": "Patient", "id": PATIENT})

    record = await _gather(_prefetch(**{PATIENT_KEY: ...}), _access(fhir_client))

    assert read.call_count == 1
    assert _ids(record, "Patient") == [PATIENT]


async def test_no_prefetch_at_all_queries_every_template(
    ehr: respx.MockRouter, fhir_client: FhirClient
) -> None:
    ehr.get(f"/Patient/{PATIENT}").respond(json={"resourceType": "Patient", "id": PATIENT})
    searches = ehr.get(url__regex=rf"^{BASE}/[A-Za-z]+\?").respond(json=empty_searchset())

    await _gather(None, _access(fhir_client))

    searched = {call.request.url.path.rsplit("/", 1)[-1] for call in searches.calls}
    expected = {kind for kind, template in PREFETCH_TEMPLATES.values() if "?" in template}
    assert searched == expected
    for call in searches.calls:
        assert call.request.url.params["patient"] == PATIENT


async def test_fhir_server_failure_on_a_needed_query_is_data_unavailable(
    ehr: respx.MockRouter, fhir_client: FhirClient
) -> None:
    ehr.get("/Condition").respond(503)

    with pytest.raises(FhirServerError, match="HTTP 503"):
        await _gather(_prefetch(**{CONDITIONS_KEY: ...}), _access(fhir_client))


@pytest.mark.parametrize(
    ("value", "message"),
    [
        pytest.param("Condition?patient=p1", "must be a FHIR resource, a Bundle or null", id="string"),
        pytest.param([CONDITION], "must be a FHIR resource, a Bundle or null", id="list"),
        pytest.param(42, "must be a FHIR resource, a Bundle or null", id="number"),
        pytest.param({"id": "c1"}, "holds a None", id="no-resource-type"),
        pytest.param({"resourceType": "Observation"}, "expected Condition", id="wrong-resource-type"),
    ],
)
async def test_malformed_prefetch_value_is_an_invalid_request(
    ehr: respx.MockRouter, fhir_client: FhirClient, value: Any, message: str
) -> None:
    with pytest.raises(InvalidRequest, match=message) as raised:
        await _gather(_prefetch(**{CONDITIONS_KEY: value}), _access(fhir_client))

    assert raised.value.status_code == 400


async def test_prefetch_keys_that_are_not_ours_are_ignored(
    ehr: respx.MockRouter, fhir_client: FhirClient
) -> None:
    record = await _gather(
        _prefetch(medications="not a resource", conditionsOfOtherService=searchset(CONDITION)),
        _access(fhir_client),
    )

    assert record.of_type("Condition") == []
    assert ehr.calls.call_count == 0


def test_render_template_fills_patient_and_practitioner() -> None:
    assert render_template("Condition?patient={{context.patientId}}", "p1", USER) == "Condition?patient=p1"
    assert render_template("Practitioner/{{userPractitionerId}}", "p1", USER) == "Practitioner/u1"


# -- Medication resolution ----------------------------------------------------------------------


def _request_for(reference: str, **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "MedicationRequest",
        "id": "mr1",
        "status": "active",
        "subject": {"reference": f"Patient/{PATIENT}"},
        "medicationReference": {"reference": reference},
        **extra,
    }


MEDICATION = {
    "resourceType": "Medication",
    "id": "med1",
    "code": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "1547545"}]},
}


async def test_contained_medication_needs_no_read(ehr: respx.MockRouter, fhir_client: FhirClient) -> None:
    contained = {**MEDICATION, "id": "m"}
    request = _request_for("#m", contained=[contained])

    record = await _gather(_prefetch(**{REQUESTS_KEY: searchset(request)}), _access(fhir_client))

    assert ehr.calls.call_count == 0
    (kept,) = record.of_type("MedicationRequest")
    assert kept["contained"] == [contained]


async def test_medication_in_the_bundle_needs_no_read(ehr: respx.MockRouter, fhir_client: FhirClient) -> None:
    bundle = searchset(_request_for("Medication/med1"), MEDICATION)

    record = await _gather(_prefetch(**{REQUESTS_KEY: bundle}), _access(fhir_client))

    assert ehr.calls.call_count == 0
    assert record.medications["Medication/med1"] == MEDICATION


async def test_medication_in_another_keys_bundle_needs_no_read(
    ehr: respx.MockRouter, fhir_client: FhirClient
) -> None:
    statement = {**_request_for("Medication/med1"), "resourceType": "MedicationStatement", "id": "ms1"}

    record = await _gather(
        _prefetch(**{REQUESTS_KEY: searchset(MEDICATION), STATEMENTS_KEY: searchset(statement)}),
        _access(fhir_client),
    )

    assert ehr.calls.call_count == 0
    assert "Medication/med1" in record.medications


@pytest.mark.parametrize(
    "reference",
    [
        pytest.param("Medication/med1", id="relative"),
        pytest.param(f"{BASE}/Medication/med1", id="absolute"),
    ],
)
async def test_referenced_medication_is_read_with_the_token(
    ehr: respx.MockRouter, fhir_client: FhirClient, reference: str
) -> None:
    read = ehr.get("/Medication/med1").respond(json=MEDICATION)

    record = await _gather(
        _prefetch(**{REQUESTS_KEY: searchset(_request_for(reference))}), _access(fhir_client)
    )

    assert read.call_count == 1
    assert read.calls.last.request.headers["authorization"] == f"Bearer {TOKEN}"
    assert record.medications["Medication/med1"] == MEDICATION


async def test_r5_medication_reference_is_read(ehr: respx.MockRouter, fhir_client: FhirClient) -> None:
    read = ehr.get("/Medication/med1").respond(json=MEDICATION)
    request = _request_for("x")
    del request["medicationReference"]
    request["medication"] = {"reference": {"reference": "Medication/med1"}}

    record = await _gather(_prefetch(**{REQUESTS_KEY: searchset(request)}), _access(fhir_client))

    assert read.called
    assert "Medication/med1" in record.medications


async def test_medication_referenced_twice_is_read_once(
    ehr: respx.MockRouter, fhir_client: FhirClient
) -> None:
    read = ehr.get("/Medication/med1").respond(json=MEDICATION)
    requests = searchset(_request_for("Medication/med1"), {**_request_for("Medication/med1"), "id": "mr2"})

    await _gather(_prefetch(**{REQUESTS_KEY: requests}), _access(fhir_client))

    assert read.call_count == 1


async def test_missing_medication_is_left_unresolved(ehr: respx.MockRouter, fhir_client: FhirClient) -> None:
    ehr.get("/Medication/med1").respond(404)

    record = await _gather(
        _prefetch(**{REQUESTS_KEY: searchset(_request_for("Medication/med1"))}), _access(fhir_client)
    )

    assert record.medications == {}
    assert _ids(record, "MedicationRequest") == ["mr1"]


async def test_read_answering_another_resource_type_is_ignored(
    ehr: respx.MockRouter, fhir_client: FhirClient
) -> None:
    ehr.get("/Medication/med1").respond(json={"resourceType": "OperationOutcome"})

    record = await _gather(
        _prefetch(**{REQUESTS_KEY: searchset(_request_for("Medication/med1"))}), _access(fhir_client)
    )

    assert record.medications == {}


async def test_without_fhir_access_medications_stay_unresolved(fhir_client: FhirClient) -> None:
    record = await _gather(
        _prefetch(**{REQUESTS_KEY: searchset(_request_for("Medication/med1"))}), _no_access(fhir_client)
    )

    assert record.medications == {}
    assert _ids(record, "MedicationRequest") == ["mr1"]


async def test_queried_medication_requests_get_their_medications_read(
    ehr: respx.MockRouter, fhir_client: FhirClient
) -> None:
    ehr.get("/MedicationRequest").respond(json=searchset(_request_for("Medication/med1")))
    read = ehr.get("/Medication/med1").respond(json=MEDICATION)

    record = await _gather(_prefetch(**{REQUESTS_KEY: ...}), _access(fhir_client))

    assert read.called
    assert "Medication/med1" in record.medications


# Issue 17 item 7: a reference that names no Medication on the call's server once failed the call (412).
MALFORMED_MEDICATION_REFERENCES = {
    "a path step up": "Medication/..",
    "a dot": "Medication/.",
    "no id": "Medication/",
    "a search": "Medication?code=1547545",
    "absolute URL off the base": "https://elsewhere.example.org/fhir/Medication/med1",
    "a traversal inside the base": f"{BASE}/Medication/../Patient/p1",
    "another resource type": "Substance/s1",
    "an id with a slash": "Medication/med1/extra",
}


@pytest.mark.parametrize(
    "reference", MALFORMED_MEDICATION_REFERENCES.values(), ids=MALFORMED_MEDICATION_REFERENCES.keys()
)
async def test_a_malformed_medication_reference_is_skipped_and_counted(
    ehr: respx.MockRouter, fhir_client: FhirClient, reference: str
) -> None:
    good = {**_request_for("Medication/med1"), "id": "mr2"}
    read = ehr.get("/Medication/med1").respond(json=MEDICATION)

    record = await _gather(
        _prefetch(**{REQUESTS_KEY: searchset(_request_for(reference), good)}), _access(fhir_client)
    )

    assert read.call_count == 1
    assert ehr.calls.call_count == 1
    assert record.medications == {"Medication/med1": MEDICATION}
    assert sorted(_ids(record, "MedicationRequest")) == ["mr1", "mr2"]
    assert record.skipped == 1


async def test_a_versioned_medication_reference_is_read_at_its_version(
    ehr: respx.MockRouter, fhir_client: FhirClient
) -> None:
    read = ehr.get("/Medication/med1/_history/3").respond(json=MEDICATION)

    record = await _gather(
        _prefetch(**{REQUESTS_KEY: searchset(_request_for("Medication/med1/_history/3"))}),
        _access(fhir_client),
    )

    assert read.call_count == 1
    assert record.medications["Medication/med1/_history/3"] == MEDICATION


async def test_medication_reads_per_call_are_bounded(ehr: respx.MockRouter, fhir_client: FhirClient) -> None:
    read = ehr.get(url__regex=r"/Medication/m\d+$").respond(json=MEDICATION)
    requests = [{**_request_for(f"Medication/m{index}"), "id": f"mr{index}"} for index in range(1000)]

    record = await gather_patient_record(
        _prefetch(**{REQUESTS_KEY: searchset(*requests)}),
        PATIENT,
        USER,
        _access(fhir_client),
        max_medication_reads=25,
    )

    assert read.call_count == 25
    assert record.truncated
    assert len(_ids(record, "MedicationRequest")) == 1000


# -- what the record keeps ----------------------------------------------------------------------


async def test_resources_about_another_patient_are_skipped(fhir_client: FhirClient) -> None:
    other = {**CONDITION, "id": "c9", "subject": {"reference": "Patient/someone-else"}}

    record = await _gather(
        _prefetch(**{CONDITIONS_KEY: searchset(CONDITION, other)}), _no_access(fhir_client)
    )

    assert _ids(record, "Condition") == ["c1"]
    assert record.skipped == 1
