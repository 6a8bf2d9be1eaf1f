"""Every clinical scenario of fhir_fixtures/scenarios.yaml through the HTTP API, in two ways:

* ``prefetch``: the hook request carries our prefetch keys built from the scenario's bundle (one
  searchset per key, referenced Medications as ``search.mode: include`` entries). It names no
  fhirServer, so the prefetch alone must do, except for scenarios with ``read_from_server``: those
  Medications are left out and the request names the loopback FHIR server, which the service must
  read them from.
* ``fhir-server``: no prefetch; the service searches the loopback FHIR server over real HTTP, which
  pages its answers (``_count`` is set small so that some scenarios take several pages).

One loopback FHIR server (serving every scenario's patient) and one service instance run for the
whole module; the service's clock is set to the scenario's ``now`` before each call.

The expectations come from docs/clinical-rules-v2.md: exact topics and indicators, exactly which cards
carry an MRI order suggestion (at most one per response), plain-language strings each card's summary and
detail must contain, never a raw FHIR reference in card text, and override reasons only where something
is suggested.
"""

from __future__ import annotations

import copy
import json
import math
import os
import re
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from cds_validation import assert_valid_cds_response
from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.servicerequest import ServiceRequest
from fhir_server import FhirTestServer, serve_asgi
from hook_requests import service_id

from service.app import create_app
from service.discovery import PREFETCH_TEMPLATES
from service.settings import Settings

FIXTURES_DIR = Path(__file__).resolve().parent.parent / "fhir_fixtures"
MANIFEST = FIXTURES_DIR / "scenarios.yaml"
USER_ID = "Practitioner/COREPRACTITIONER1"
# The EHR's FHIR base as named in prefetch fullUrls (prefetch content never makes the service call it).
EHR_FHIR_BASE = "https://ehr.example.org/fhir/r4"
# The service's _count for FHIR searches: small, so that the fallback has to follow `next` links.
PAGE_SIZE = 3
SUMMARY_LIMIT = 140
# A raw FHIR reference ("MedicationAdministration/abc-1") in card text: v2 cards speak plain language.
RAW_REFERENCE = re.compile(
    r"\b(MedicationRequest|MedicationAdministration|MedicationStatement|MedicationDispense|Medication|Procedure"
    r"|Observation|Condition|DiagnosticReport|ImagingStudy|ServiceRequest|Patient)/[A-Za-z0-9\-.]+"
)
PREFETCH = "prefetch"
FHIR_SERVER = "fhir-server"
VARIANTS = (PREFETCH, FHIR_SERVER)


@dataclass(frozen=True)
class Scenario:
    name: str
    hook: str
    now: datetime
    resources: tuple[dict[str, Any], ...]
    draft_orders: tuple[dict[str, Any], ...]
    expected_topics: tuple[str, ...]
    expected_indicators: dict[str, str]
    expected_suggestions: tuple[str, ...]
    summary_mentions: dict[str, list[str]]
    detail_mentions: dict[str, list[str]]
    read_from_server: frozenset[str]

    @property
    def patient_id(self) -> str:
        (patient,) = [r for r in self.resources if r["resourceType"] == "Patient"]
        return str(patient["id"])

    def of_type(self, resource_type: str) -> list[dict[str, Any]]:
        return [r for r in self.resources if r["resourceType"] == resource_type]


def _parse_now(value: Any) -> datetime:
    parsed = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    assert parsed.tzinfo is not None, f"now {value!r} needs a time zone"
    return parsed


def _mentions(value: Any) -> dict[str, list[str]]:
    return {str(topic): [str(text) for text in texts] for topic, texts in (value or {}).items()}


def load_scenarios() -> list[Scenario]:
    manifest = yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))
    scenarios = []
    for entry in manifest["scenarios"]:
        bundle = json.loads((FIXTURES_DIR / entry["file"]).read_text(encoding="utf-8"))
        scenarios.append(
            Scenario(
                name=entry["name"],
                hook=entry["hook"],
                now=_parse_now(entry["now"]),
                resources=tuple(item["resource"] for item in bundle.get("entry", [])),
                draft_orders=tuple(entry.get("draft_orders") or ()),
                expected_topics=tuple(entry["expected_topics"]),
                expected_indicators=dict(entry.get("expected_indicators") or {}),
                expected_suggestions=tuple(entry["expected_suggestions"]),
                summary_mentions=_mentions(entry.get("summary_mentions")),
                detail_mentions=_mentions(entry.get("detail_mentions")),
                read_from_server=frozenset(entry.get("read_from_server") or ()),
            )
        )
    return scenarios


SCENARIOS = load_scenarios()
READ_SCENARIOS = [scenario for scenario in SCENARIOS if scenario.read_from_server]


def _type_counts(scenario: Scenario) -> Counter[str]:
    return Counter(resource["resourceType"] for resource in scenario.resources)


def _searched_types() -> set[str]:
    return {resource_type for resource_type, template in PREFETCH_TEMPLATES.values() if "?" in template}


PAGED_SCENARIOS = [
    scenario
    for scenario in SCENARIOS
    if any(count > PAGE_SIZE for kind, count in _type_counts(scenario).items() if kind in _searched_types())
]


def scenario_params(scenarios: list[Scenario]) -> list[Any]:
    return [pytest.param(scenario, id=scenario.name) for scenario in scenarios]


def variant_params() -> list[Any]:
    return [
        pytest.param(scenario, variant, id=f"{scenario.name}-{variant}")
        for scenario in SCENARIOS
        for variant in VARIANTS
    ]


def mention_params(field: str) -> list[Any]:
    return [
        pytest.param(scenario, topic, variant, id=f"{scenario.name}-{topic}-{variant}")
        for scenario in SCENARIOS
        for topic in getattr(scenario, field)
        for variant in VARIANTS
    ]


# --- building hook requests --------------------------------------------------------------------------


def _medication_reference(resource: dict[str, Any]) -> str | None:
    """R4 medicationReference or R5 medication.reference."""
    holder = resource.get("medicationReference")
    if holder is None and isinstance(resource.get("medication"), dict):
        holder = resource["medication"].get("reference")
    if isinstance(holder, dict) and isinstance(holder.get("reference"), str):
        return str(holder["reference"])
    return None


def _entry(resource: dict[str, Any], mode: str) -> dict[str, Any]:
    return {
        "fullUrl": f"{EHR_FHIR_BASE}/{resource['resourceType']}/{resource['id']}",
        "resource": copy.deepcopy(resource),
        "search": {"mode": mode},
    }


def build_prefetch(scenario: Scenario) -> dict[str, Any]:
    """Our prefetch keys from the scenario's bundle; Medications as `_include`d entries of the
    searchset whose resources reference them, except those the service must read itself."""
    medications = {f"Medication/{m['id']}": m for m in scenario.of_type("Medication")}
    prefetch: dict[str, Any] = {}
    for key, (resource_type, template) in PREFETCH_TEMPLATES.items():
        matches = scenario.of_type(resource_type)
        if "?" not in template:  # a read, e.g. Patient/{{context.patientId}}
            (resource,) = matches
            prefetch[key] = copy.deepcopy(resource)
            continue
        included: list[str] = []
        for resource in matches:
            reference = _medication_reference(resource)
            if (
                reference in medications
                and reference not in scenario.read_from_server
                and reference not in included
            ):
                included.append(reference)
        entries = [_entry(resource, "match") for resource in matches]
        entries += [_entry(medications[reference], "include") for reference in included]
        bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset", "total": len(matches)}
        if entries:
            bundle["entry"] = entries
        prefetch[key] = bundle
    return prefetch


def hook_body(
    scenario: Scenario, *, prefetch: dict[str, Any] | None, fhir_server: str | None
) -> dict[str, Any]:
    context: dict[str, Any] = {
        "userId": USER_ID,
        "patientId": scenario.patient_id,
        "encounterId": f"enc-{scenario.patient_id}",
    }
    if scenario.hook in ("order-select", "order-sign"):
        context["draftOrders"] = {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [{"resource": copy.deepcopy(order)} for order in scenario.draft_orders],
        }
    if scenario.hook == "order-select":
        context["selections"] = [f"{order['resourceType']}/{order['id']}" for order in scenario.draft_orders]
    body: dict[str, Any] = {"hook": scenario.hook, "hookInstance": str(uuid.uuid4()), "context": context}
    if prefetch is not None:
        body["prefetch"] = prefetch
    if fhir_server is not None:
        body["fhirServer"] = fhir_server
    return body


# --- the running service and FHIR server -----------------------------------------------------------------


class SettableClock:
    """The service's clock: each test sets it to its scenario's `now` before calling."""

    def __init__(self) -> None:
        self.now = datetime(2000, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(scope="module")
def scenario_fhir_server() -> Iterator[FhirTestServer]:
    """One loopback FHIR server with every scenario's resources (ids are unique across scenarios)."""
    server = FhirTestServer([resource for scenario in SCENARIOS for resource in scenario.resources])
    with server.running():
        yield server


@pytest.fixture(scope="module")
def clock() -> SettableClock:
    return SettableClock()


@pytest.fixture(scope="module")
def service_url(
    scenario_fhir_server: FhirTestServer, clock: SettableClock, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    with pytest.MonkeyPatch.context() as environment:
        # Settings read CDS_* variables: a developer's shell must not change what these tests see.
        for name in list(os.environ):
            if name.startswith("CDS_"):
                environment.delenv(name)
        settings = Settings(
            profile="development",
            allow_unauthenticated=True,
            sqlite_path=tmp_path_factory.mktemp("scenarios") / "cds-feedback.sqlite3",
            fhir_server_allowlist=[scenario_fhir_server.base_url],
            fhir_page_size=PAGE_SIZE,
            # Generous bounds: these tests are about the answers, never about speed.
            hook_deadline_seconds=20.0,
            fhir_connect_timeout_seconds=10.0,
            fhir_read_timeout_seconds=10.0,
            log_level="WARNING",
        )
    with serve_asgi(create_app(settings, clock=clock), lifespan="on") as url:
        yield url


@pytest.fixture(scope="module")
def http(service_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=service_url, timeout=60.0, trust_env=False) as client:
        yield client


Call = Callable[[Scenario, str], httpx.Response]


@pytest.fixture(scope="module")
def call(http: httpx.Client, clock: SettableClock, scenario_fhir_server: FhirTestServer) -> Call:
    """Invoke the scenario's hook service, with prefetch or through the FHIR server fallback."""

    def invoke(scenario: Scenario, variant: str) -> httpx.Response:
        if variant == PREFETCH:
            server = scenario_fhir_server.base_url if scenario.read_from_server else None
            body = hook_body(scenario, prefetch=build_prefetch(scenario), fhir_server=server)
        else:
            body = hook_body(scenario, prefetch=None, fhir_server=scenario_fhir_server.base_url)
        clock.now = scenario.now
        return http.post(f"/cds-services/{service_id(scenario.hook)}", json=body)

    return invoke


@pytest.fixture(scope="module")
def answer(call: Call) -> Callable[[Scenario, str], dict[str, Any]]:
    """The parsed 200 answer for (scenario, variant), made once per module and shared by the tests
    that only read it."""
    answers: dict[tuple[str, str], dict[str, Any]] = {}

    def get(scenario: Scenario, variant: str) -> dict[str, Any]:
        key = (scenario.name, variant)
        if key not in answers:
            response = call(scenario, variant)
            assert response.status_code == 200, f"HTTP {response.status_code}: {response.text}"
            answers[key] = response.json()
        return answers[key]

    return get


def _cards(body: dict[str, Any]) -> list[dict[str, Any]]:
    cards: list[dict[str, Any]] = body["cards"]
    return cards


def _topic(card: dict[str, Any]) -> str:
    return str(card["source"]["topic"]["code"])


def _described(cards: list[dict[str, Any]]) -> str:
    if not cards:
        return "(no cards)"
    return "; ".join(f"{_topic(card)} [{card['indicator']}] {card['summary']!r}" for card in cards)


def _suggested_resources(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        action["resource"]
        for card in _cards(body)
        for suggestion in card.get("suggestions", [])
        for action in suggestion.get("actions", [])
        if "resource" in action
    ]


# --- the tests ---------------------------------------------------------------------------------------


def _assert_expected_cards(scenario: Scenario, body: dict[str, Any]) -> None:
    cards = _cards(body)
    topics = sorted(_topic(card) for card in cards)
    assert topics == sorted(scenario.expected_topics), f"service answered: {_described(cards)}"
    indicators = {_topic(card): card["indicator"] for card in cards}
    expected = {topic: indicators.get(topic) for topic in scenario.expected_indicators}
    assert expected == scenario.expected_indicators, f"service answered: {_described(cards)}"


@pytest.mark.parametrize("scenario", scenario_params(SCENARIOS))
def test_scenario_with_prefetch_answers_exactly_the_expected_topics_and_indicators(
    scenario: Scenario, answer: Callable[[Scenario, str], dict[str, Any]]
) -> None:
    _assert_expected_cards(scenario, answer(scenario, PREFETCH))


@pytest.mark.parametrize("scenario", scenario_params(SCENARIOS))
def test_scenario_via_fhir_server_answers_exactly_the_expected_topics_and_indicators(
    scenario: Scenario, answer: Callable[[Scenario, str], dict[str, Any]]
) -> None:
    _assert_expected_cards(scenario, answer(scenario, FHIR_SERVER))


@pytest.mark.parametrize(("scenario", "variant"), variant_params())
def test_response_is_valid_cds_hooks(
    scenario: Scenario, variant: str, answer: Callable[[Scenario, str], dict[str, Any]]
) -> None:
    assert_valid_cds_response(answer(scenario, variant))


@pytest.mark.parametrize(("scenario", "variant"), variant_params())
def test_response_has_no_duplicate_topics(
    scenario: Scenario, variant: str, answer: Callable[[Scenario, str], dict[str, Any]]
) -> None:
    topics = [_topic(card) for card in _cards(answer(scenario, variant))]

    assert len(topics) == len(set(topics)), topics


@pytest.mark.parametrize(("scenario", "variant"), variant_params())
def test_every_card_summary_is_under_140_characters(
    scenario: Scenario, variant: str, answer: Callable[[Scenario, str], dict[str, Any]]
) -> None:
    long = [
        card["summary"] for card in _cards(answer(scenario, variant)) if len(card["summary"]) >= SUMMARY_LIMIT
    ]

    assert long == []


@pytest.mark.parametrize(("scenario", "variant"), variant_params())
def test_every_suggested_resource_is_valid_fhir_r4b(
    scenario: Scenario, variant: str, answer: Callable[[Scenario, str], dict[str, Any]]
) -> None:
    for resource in _suggested_resources(answer(scenario, variant)):
        if resource.get("resourceType") == "ServiceRequest":
            ServiceRequest.model_validate(resource)
        else:
            get_fhir_model_class(resource["resourceType"]).model_validate(resource)
        assert resource["subject"] == {"reference": f"Patient/{scenario.patient_id}"}


def test_some_scenarios_get_suggestions_so_r4b_validation_is_not_vacuous(
    answer: Callable[[Scenario, str], dict[str, Any]],
) -> None:
    suggested = [
        resource for scenario in SCENARIOS for resource in _suggested_resources(answer(scenario, PREFETCH))
    ]

    assert suggested


def _single_card(scenario: Scenario, body: dict[str, Any], topic: str) -> dict[str, Any]:
    cards = [card for card in _cards(body) if _topic(card) == topic]
    assert len(cards) == 1, f"no single {topic} card; service answered: {_described(_cards(body))}"
    return cards[0]


def _missing(texts: list[str], written: str) -> list[str]:
    return [text for text in texts if text.casefold() not in written.casefold()]


@pytest.mark.parametrize(("scenario", "topic", "variant"), mention_params("detail_mentions"))
def test_card_detail_mentions_the_expected_plain_language_evidence(
    scenario: Scenario, topic: str, variant: str, answer: Callable[[Scenario, str], dict[str, Any]]
) -> None:
    detail = str(_single_card(scenario, answer(scenario, variant), topic).get("detail", ""))

    missing = _missing(scenario.detail_mentions[topic], detail)

    assert missing == [], f"detail does not mention {missing}:\n{detail}"


@pytest.mark.parametrize(("scenario", "topic", "variant"), mention_params("summary_mentions"))
def test_card_summary_mentions_the_expected_words(
    scenario: Scenario, topic: str, variant: str, answer: Callable[[Scenario, str], dict[str, Any]]
) -> None:
    summary = str(_single_card(scenario, answer(scenario, variant), topic)["summary"])

    missing = _missing(scenario.summary_mentions[topic], summary)

    assert missing == [], f"summary does not mention {missing}: {summary!r}"


@pytest.mark.parametrize(("scenario", "variant"), variant_params())
def test_exactly_the_expected_cards_carry_an_mri_order_suggestion(
    scenario: Scenario, variant: str, answer: Callable[[Scenario, str], dict[str, Any]]
) -> None:
    cards = _cards(answer(scenario, variant))

    suggesting = sorted(_topic(card) for card in cards if card.get("suggestions"))

    assert suggesting == sorted(scenario.expected_suggestions), f"service answered: {_described(cards)}"


@pytest.mark.parametrize(("scenario", "variant"), variant_params())
def test_response_suggests_at_most_one_mri_order(
    scenario: Scenario, variant: str, answer: Callable[[Scenario, str], dict[str, Any]]
) -> None:
    orders = [
        resource
        for resource in _suggested_resources(answer(scenario, variant))
        if resource.get("resourceType") == "ServiceRequest"
    ]

    assert len(orders) <= 1, orders


@pytest.mark.parametrize(("scenario", "variant"), variant_params())
def test_no_card_text_contains_a_raw_fhir_reference(
    scenario: Scenario, variant: str, answer: Callable[[Scenario, str], dict[str, Any]]
) -> None:
    found = [
        (_topic(card), part, match.group(0))
        for card in _cards(answer(scenario, variant))
        for part in ("summary", "detail")
        for match in RAW_REFERENCE.finditer(str(card.get(part, "")))
    ]

    assert found == []


@pytest.mark.parametrize(("scenario", "variant"), variant_params())
def test_override_reasons_only_on_cards_that_suggest_something(
    scenario: Scenario, variant: str, answer: Callable[[Scenario, str], dict[str, Any]]
) -> None:
    offending = [
        _topic(card)
        for card in _cards(answer(scenario, variant))
        if card.get("overrideReasons") and not card.get("suggestions")
    ]

    assert offending == []


def test_some_scenarios_need_more_than_one_page_from_the_fhir_server() -> None:
    assert PAGED_SCENARIOS, f"no scenario has more than {PAGE_SIZE} resources of one searched type"


@pytest.mark.parametrize("scenario", scenario_params(PAGED_SCENARIOS))
def test_fhir_server_fallback_follows_every_next_link(
    scenario: Scenario, call: Call, scenario_fhir_server: FhirTestServer
) -> None:
    scenario_fhir_server.clear_requests()

    response = call(scenario, FHIR_SERVER)

    assert response.status_code == 200, response.text
    for resource_type, count in _type_counts(scenario).items():
        if resource_type not in _searched_types() or count <= PAGE_SIZE:
            continue
        pages = [
            request
            for request in scenario_fhir_server.requests_for(resource_type)
            if request.is_search and request.params.get("patient") == [scenario.patient_id]
        ]
        assert len(pages) == math.ceil(count / PAGE_SIZE), (resource_type, [p.query_string for p in pages])
    _assert_expected_cards(scenario, response.json())


def test_some_scenarios_leave_a_medication_for_the_service_to_read() -> None:
    assert READ_SCENARIOS


@pytest.mark.parametrize("scenario", scenario_params(READ_SCENARIOS))
def test_prefetch_variant_reads_exactly_the_medications_left_out_of_the_prefetch(
    scenario: Scenario, call: Call, scenario_fhir_server: FhirTestServer
) -> None:
    scenario_fhir_server.clear_requests()

    response = call(scenario, PREFETCH)

    assert response.status_code == 200, response.text
    asked = sorted(f"{request.method} {request.path}" for request in scenario_fhir_server.requests)
    assert asked == sorted(f"GET /{reference}" for reference in scenario.read_from_server)
