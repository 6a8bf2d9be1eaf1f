"""Feedback (service.storage.feedback and POST /cds-services/{id}/feedback): validation, and durable storage
in SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import functools
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from conftest import POSTGRES_URL, SettingsFactory, _postgres_problem
from hook_requests import service_id
from issued_support import record_issued_via
from sqlalchemy import delete, select
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.testclient import TestClient

from service.app import create_app
from service.storage.database import create_engine, issued_cards
from service.storage.database import feedback as feedback_table
from service.storage.feedback import parse_feedback, store_feedback

SERVICE = service_id("order-sign")
PATH = f"/cds-services/{SERVICE}/feedback"
WHEN = "2026-11-21T12:03:04.5+01:00"
OVERRIDE_REASON = {
    "reason": {
        "system": "https://example.org/cds/override-reasons",
        "code": "recent-mri",
        "display": "Brain MRI done elsewhere",
    },
    "userComment": "MRI at the partner hospital last week",
}


def _accepted(card: str, *suggestions: str) -> dict[str, Any]:
    item: dict[str, Any] = {"card": card, "outcome": "accepted", "outcomeTimestamp": WHEN}
    if suggestions:
        item["acceptedSuggestions"] = [{"id": suggestion} for suggestion in suggestions]
    return item


def _overridden(card: str, reason: dict[str, Any] | None = OVERRIDE_REASON) -> dict[str, Any]:
    item: dict[str, Any] = {"card": card, "outcome": "overridden", "outcomeTimestamp": WHEN}
    if reason is not None:
        item["overrideReason"] = reason
    return item


def _card() -> str:
    return str(uuid.uuid4())


async def _rows(engine: AsyncEngine, cards: list[str]) -> list[Row[Any]]:
    async with engine.connect() as connection:
        result = await connection.execute(
            select(feedback_table).where(feedback_table.c.card_uuid.in_(cards)).order_by(feedback_table.c.id)
        )
        return list(result.all())


def _stored(client: TestClient, cards: list[str]) -> list[Row[Any]]:
    """The rows for `cards`, read through the app's own engine (on its event loop)."""
    assert client.portal is not None
    engine: AsyncEngine = client.app.state.engine  # type: ignore[attr-defined]
    return client.portal.call(functools.partial(_rows, engine, cards))


# -- validation ---------------------------------------------------------------------------------

CARD = "5f0c2f0e-8e6b-4f57-9a3e-2c1d0b9a8f7e"

INVALID_FEEDBACK: dict[str, tuple[Any, str]] = {
    "feedback-missing": ({}, "feedback: Field required"),
    "feedback-empty": ({"feedback": []}, "feedback: List should have at least 1 item"),
    "feedback-not-a-list": ({"feedback": _accepted(CARD)}, "feedback: Input should be a valid list"),
    "too-many-items": (
        {"feedback": [_accepted(CARD)] * 101},
        "feedback: List should have at most 100 items",
    ),
    "card-missing": ({"feedback": [{"outcome": "accepted", "outcomeTimestamp": WHEN}]}, "feedback.0.card"),
    "card-empty": ({"feedback": [_accepted("")]}, "feedback.0.card: String should have at least 1"),
    "card-too-long": (
        {"feedback": [_accepted("c" * 65)]},
        "feedback.0.card: String should have at most 64",
    ),
    "outcome-missing": (
        {"feedback": [{"card": CARD, "outcomeTimestamp": WHEN}]},
        "feedback.0.outcome: Field required",
    ),
    "outcome-unknown": (
        {"feedback": [_accepted(CARD) | {"outcome": "ignored"}]},
        "feedback.0.outcome: Input should be 'accepted' or 'overridden'",
    ),
    "timestamp-missing": (
        {"feedback": [{"card": CARD, "outcome": "accepted"}]},
        "feedback.0.outcomeTimestamp: Field required",
    ),
    "timestamp-not-a-date": (
        {"feedback": [_accepted(CARD) | {"outcomeTimestamp": "yesterday"}]},
        "feedback.0.outcomeTimestamp: Input should be a valid datetime",
    ),
    "timestamp-without-zone": (
        {"feedback": [_accepted(CARD) | {"outcomeTimestamp": "2026-11-21T12:03:04"}]},
        "outcomeTimestamp must carry a time zone",
    ),
    "accepted-with-override-reason": (
        {"feedback": [_accepted(CARD) | {"overrideReason": OVERRIDE_REASON}]},
        "overrideReason is only allowed when the outcome is overridden",
    ),
    "overridden-with-accepted-suggestions": (
        {"feedback": [_overridden(CARD) | {"acceptedSuggestions": [{"id": "s1"}]}]},
        "acceptedSuggestions is only allowed when the outcome is accepted",
    ),
    "accepted-suggestion-without-id": (
        {"feedback": [_accepted(CARD) | {"acceptedSuggestions": [{}]}]},
        "feedback.0.acceptedSuggestions.0.id: Field required",
    ),
    "accepted-suggestions-not-a-list": (
        {"feedback": [_accepted(CARD) | {"acceptedSuggestions": {"id": "s1"}}]},
        "feedback.0.acceptedSuggestions: Input should be a valid list",
    ),
    "override-reason-without-code": (
        {"feedback": [_overridden(CARD, {"reason": {"system": "s", "display": "d"}})]},
        "feedback.0.overrideReason.reason.code: Field required",
    ),
    "user-comment-not-text": (
        {"feedback": [_overridden(CARD, {"userComment": 5})]},
        "feedback.0.overrideReason.userComment: Input should be a valid string",
    ),
}


@pytest.mark.parametrize(("body", "diagnostics"), list(INVALID_FEEDBACK.values()), ids=list(INVALID_FEEDBACK))
def test_invalid_feedback_gets_400_with_an_outcome(
    shared_client: TestClient, body: Any, diagnostics: str
) -> None:
    response = shared_client.post(PATH, json=body)

    assert response.status_code == 400, response.text
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert diagnostics in outcome["issue"][0]["diagnostics"]


@pytest.mark.parametrize(
    ("body", "status"),
    [
        pytest.param(b'{"feedback": [', 400, id="malformed-json"),
        pytest.param(b"[]", 400, id="not-an-object"),
    ],
)
def test_feedback_body_must_be_a_json_object(shared_client: TestClient, body: bytes, status: int) -> None:
    response = shared_client.post(PATH, content=body, headers={"Content-Type": "application/json"})

    assert response.status_code == status
    assert response.json()["resourceType"] == "OperationOutcome"


def test_feedback_needs_a_json_content_type(shared_client: TestClient) -> None:
    response = shared_client.post(PATH, content=b'{"feedback": []}', headers={"Content-Type": "text/plain"})

    assert response.status_code == 415


def test_feedback_for_an_unknown_service_is_404(shared_client: TestClient) -> None:
    response = shared_client.post("/cds-services/nope/feedback", json={"feedback": [_accepted(CARD)]})

    assert response.status_code == 404
    assert response.json()["resourceType"] == "OperationOutcome"


def test_unknown_fields_are_ignored() -> None:
    parsed = parse_feedback({"feedback": [_accepted(CARD) | {"extension": {"x": 1}}], "other": 1})

    assert parsed.feedback[0].card == CARD


# -- storing through the app --------------------------------------------------------------------


def test_accepted_and_overridden_feedback_is_stored(shared_client: TestClient) -> None:
    accepted, overridden = _card(), _card()
    body = {"feedback": [_accepted(accepted, "sugg-1", "sugg-2"), _overridden(overridden)]}
    record_issued_via(shared_client, SERVICE, [accepted, overridden])

    response = shared_client.post(PATH, json=body)

    assert response.status_code == 200
    assert response.content == b""
    first, second = _stored(shared_client, [accepted, overridden])
    assert (first.service_id, first.card_uuid, first.outcome) == (SERVICE, accepted, "accepted")
    assert first.accepted_suggestions == ["sugg-1", "sugg-2"]
    assert first.override_reason_code is None
    assert (second.card_uuid, second.outcome) == (overridden, "overridden")
    assert (second.override_reason_system, second.override_reason_code, second.override_reason_display) == (
        "https://example.org/cds/override-reasons",
        "recent-mri",
        "Brain MRI done elsewhere",
    )
    assert second.user_comment == "MRI at the partner hospital last week"
    assert second.accepted_suggestions is None


def test_outcome_timestamp_is_stored_as_the_same_instant(shared_client: TestClient) -> None:
    card = _card()
    record_issued_via(shared_client, SERVICE, [card])

    shared_client.post(PATH, json={"feedback": [_accepted(card)]})

    (row,) = _stored(shared_client, [card])
    expected = datetime(2026, 11, 21, 12, 3, 4, 500_000, tzinfo=timezone(timedelta(hours=1)))
    stored = (
        row.outcome_timestamp if row.outcome_timestamp.tzinfo else row.outcome_timestamp.replace(tzinfo=UTC)
    )
    assert stored == expected


def test_overridden_without_a_reason_is_stored(shared_client: TestClient) -> None:
    card = _card()
    record_issued_via(shared_client, SERVICE, [card])

    response = shared_client.post(PATH, json={"feedback": [_overridden(card, reason=None)]})

    assert response.status_code == 200
    (row,) = _stored(shared_client, [card])
    assert (row.outcome, row.override_reason_code, row.user_comment) == ("overridden", None, None)


def test_invalid_feedback_stores_nothing(shared_client: TestClient) -> None:
    good, bad = _card(), _card()

    response = shared_client.post(
        PATH, json={"feedback": [_accepted(good), _accepted(bad) | {"outcome": "x"}]}
    )

    assert response.status_code == 400
    assert _stored(shared_client, [good, bad]) == []


def test_feedback_survives_a_restart_of_the_app(make_settings: SettingsFactory) -> None:
    settings = make_settings()
    card = _card()

    with TestClient(create_app(settings)) as first:
        record_issued_via(first, SERVICE, [card])
        assert first.post(PATH, json={"feedback": [_accepted(card)]}).status_code == 200
    with TestClient(create_app(settings)) as restarted:
        rows = _stored(restarted, [card])

    assert [(row.card_uuid, row.outcome) for row in rows] == [(card, "accepted")]


# -- PostgreSQL through the app (CDS_DATABASE_URL) ------------------------------------------------


@pytest.fixture
def postgres_cards(postgres_url: str) -> Iterator[list[str]]:
    """Card uuids for one test; their rows are deleted afterwards (the database is shared)."""
    cards: list[str] = []
    yield cards

    async def cleanup() -> None:
        engine = create_engine(postgres_url)
        try:
            async with engine.begin() as connection:
                await connection.execute(delete(feedback_table).where(feedback_table.c.card_uuid.in_(cards)))
                await connection.execute(delete(issued_cards).where(issued_cards.c.card_uuid.in_(cards)))
        finally:
            await engine.dispose()

    if cards:
        asyncio.run(cleanup())


def test_feedback_is_stored_in_postgresql_when_the_database_url_is_set(
    monkeypatch: pytest.MonkeyPatch,
    make_settings: SettingsFactory,
    postgres_url: str,
    postgres_cards: list[str],
) -> None:
    monkeypatch.setenv("CDS_DATABASE_URL", postgres_url)
    settings = make_settings()
    assert settings.effective_database_url == postgres_url
    accepted, overridden = _card(), _card()
    postgres_cards.extend([accepted, overridden])

    with TestClient(create_app(settings)) as first:
        record_issued_via(first, SERVICE, [accepted, overridden])
        response = first.post(PATH, json={"feedback": [_accepted(accepted, "s1"), _overridden(overridden)]})
        assert response.status_code == 200
    with TestClient(create_app(settings)) as restarted:
        rows = _stored(restarted, [accepted, overridden])

    assert [(row.card_uuid, row.outcome) for row in rows] == [
        (accepted, "accepted"),
        (overridden, "overridden"),
    ]
    assert rows[0].accepted_suggestions == ["s1"]
    assert rows[1].override_reason_code == "recent-mri"
    assert not (settings.sqlite_path.exists()), "PostgreSQL was configured, yet SQLite was used"


# -- the store on both backends -------------------------------------------------------------------


async def test_store_writes_every_item_in_one_call(store_engine: AsyncEngine) -> None:
    cards = [_card() for _ in range(3)]
    request = parse_feedback(
        {"feedback": [_accepted(cards[0], "s"), _overridden(cards[1]), _accepted(cards[2])]}
    )

    stored = await store_feedback(store_engine, SERVICE, request, "https://sandbox.cds-hooks.org")

    assert stored == 3
    rows = await _rows(store_engine, cards)
    assert [row.card_uuid for row in rows] == cards
    assert {row.client_iss for row in rows} == {"https://sandbox.cds-hooks.org"}
    assert rows[0].accepted_suggestions == ["s"]
    assert rows[1].override_reason_display == "Brain MRI done elsewhere"


async def test_store_keeps_time_zones_and_receipt_time(store_engine: AsyncEngine) -> None:
    card = _card()
    before = datetime.now(UTC)

    await store_feedback(store_engine, SERVICE, parse_feedback({"feedback": [_accepted(card)]}), None)

    (row,) = await _rows(store_engine, [card])
    outcome_at = (
        row.outcome_timestamp if row.outcome_timestamp.tzinfo else row.outcome_timestamp.replace(tzinfo=UTC)
    )
    received_at = row.received_at if row.received_at.tzinfo else row.received_at.replace(tzinfo=UTC)
    assert outcome_at == datetime(2026, 11, 21, 11, 3, 4, 500_000, tzinfo=UTC)
    assert received_at >= before - timedelta(seconds=1)
    assert row.client_iss is None


async def test_repeated_feedback_for_a_card_is_kept(store_engine: AsyncEngine) -> None:
    card = _card()

    for outcome in (_accepted(card), _overridden(card)):
        await store_feedback(store_engine, SERVICE, parse_feedback({"feedback": [outcome]}), None)

    assert [row.outcome for row in await _rows(store_engine, [card])] == ["accepted", "overridden"]


# -- hostile values through the app, on both backends (issue 17 item 1) ---------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def backend_settings(request: pytest.FixtureRequest, make_settings: SettingsFactory) -> Any:
    if request.param == "sqlite":
        return make_settings()
    return make_settings(database_url=request.getfixturevalue("postgres_url"))


def test_an_honest_override_with_a_nul_in_its_comment_is_stored_cleaned_over_http(
    backend_settings: Any, postgres_cards_any: list[str]
) -> None:
    card = _card()
    postgres_cards_any.append(card)
    reason = dict(OVERRIDE_REASON, userComment="MRI\x00 done elsewhere")
    with TestClient(create_app(backend_settings)) as client:
        record_issued_via(client, SERVICE, [card])
        response = client.post(PATH, json={"feedback": [_overridden(card, reason)]})
        (row,) = _stored(client, [card])
        assert client.app.state.database.available  # type: ignore[attr-defined]

    assert response.status_code == 200, response.text
    assert row.user_comment == "MRI done elsewhere"


def test_a_value_longer_than_its_column_is_400_and_other_feedback_is_still_stored(
    backend_settings: Any, postgres_cards_any: list[str]
) -> None:
    hostile, innocent = _card(), _card()
    postgres_cards_any.extend([hostile, innocent])
    reason = {"reason": {"system": "https://example.org/cds/override-reasons", "code": "c" * 200}}
    with TestClient(create_app(backend_settings)) as client:
        record_issued_via(client, SERVICE, [hostile, innocent])
        refused = [client.post(PATH, json={"feedback": [_overridden(hostile, reason)]}) for _ in range(5)]
        stored = client.post(PATH, json={"feedback": [_overridden(innocent)]})
        assert client.app.state.database.available  # type: ignore[attr-defined]

    assert {response.status_code for response in refused} == {400}
    assert "at most 128 characters" in refused[0].json()["issue"][0]["diagnostics"]
    assert stored.status_code == 200


@pytest.fixture
def postgres_cards_any() -> Iterator[list[str]]:
    """Card uuids a test used; deleted afterwards from the test PostgreSQL when it is reachable."""
    cards: list[str] = []
    yield cards
    if cards and _postgres_problem(POSTGRES_URL) is None:

        async def cleanup() -> None:
            engine = create_engine(POSTGRES_URL)
            try:
                async with engine.begin() as connection:
                    await connection.execute(
                        delete(feedback_table).where(feedback_table.c.card_uuid.in_(cards))
                    )
                    await connection.execute(delete(issued_cards).where(issued_cards.c.card_uuid.in_(cards)))
            except Exception:
                return
            finally:
                await engine.dispose()

        asyncio.run(cleanup())


# -- feedback tied to the card as issued (issue 17 item 6) ----------------------------------------


def test_an_override_reason_the_card_did_not_offer_is_refused(shared_client: TestClient) -> None:
    card = _card()
    record_issued_via(shared_client, SERVICE, [card])
    made_up = {"reason": {"system": "https://example.org/cds/override-reasons", "code": "made-up"}}

    response = shared_client.post(PATH, json={"feedback": [_overridden(card, made_up)]})

    assert response.status_code == 400
    outcome = response.json()
    assert "not one the card offered" in outcome["issue"][0]["diagnostics"]
    assert outcome["issue"][0]["expression"] == ["feedback[0].overrideReason.reason"]
    assert _stored(shared_client, [card]) == []


def test_a_reason_offered_without_its_system_in_the_feedback_is_accepted(shared_client: TestClient) -> None:
    card = _card()
    record_issued_via(shared_client, SERVICE, [card])

    response = shared_client.post(
        PATH, json={"feedback": [_overridden(card, {"reason": {"code": "recent-mri"}})]}
    )

    assert response.status_code == 200


def test_a_reason_with_the_right_code_under_another_system_is_refused(shared_client: TestClient) -> None:
    card = _card()
    record_issued_via(shared_client, SERVICE, [card])
    elsewhere = {"reason": {"system": "https://attacker.example/codes", "code": "recent-mri"}}

    response = shared_client.post(PATH, json={"feedback": [_overridden(card, elsewhere)]})

    assert response.status_code == 400


def _teclistamab_card(client: TestClient) -> dict[str, Any]:
    """A baseline card for a patient of its own: an override elsewhere must not quiet it (feedback-aware)."""
    from hook_requests import complete_prefetch, draft_orders, hook_request

    patient = f"pt-{uuid.uuid4().hex[:12]}"
    body = hook_request("order-sign", prefetch=complete_prefetch(patient), patient_id=patient)
    body["context"]["draftOrders"] = draft_orders(
        {
            "resourceType": "MedicationRequest",
            "id": "draft-teclistamab",
            "status": "draft",
            "intent": "order",
            "subject": {"reference": f"Patient/{body['context']['patientId']}"},
            "medicationCodeableConcept": {"text": "teclistamab 1.5 mg/kg SC weekly"},
        }
    )
    cards = client.post(f"/cds-services/{SERVICE}", json=body).json()["cards"]
    card: dict[str, Any] = next(card for card in cards if card.get("overrideReasons"))
    return card


def test_a_real_cards_offered_reasons_are_the_ones_feedback_may_name(shared_client: TestClient) -> None:
    card = _teclistamab_card(shared_client)
    offered = card["overrideReasons"][0]

    made_up = shared_client.post(
        PATH, json={"feedback": [_overridden(card["uuid"], {"reason": dict(offered, code="made-up")})]}
    )
    real = shared_client.post(PATH, json={"feedback": [_overridden(card["uuid"], {"reason": offered})]})

    assert (made_up.status_code, real.status_code) == (400, 200)


def test_a_request_holds_at_most_100_items(shared_client: TestClient) -> None:
    cards = [_card() for _ in range(101)]
    record_issued_via(shared_client, SERVICE, cards)

    too_many = shared_client.post(PATH, json={"feedback": [_accepted(card) for card in cards]})
    enough = shared_client.post(PATH, json={"feedback": [_accepted(card) for card in cards[:100]]})

    assert too_many.status_code == 400
    assert enough.status_code == 200
    assert _stored(shared_client, cards[100:]) == []


# -- the CDS Hooks Sandbox's feedback: reasons by code alone, repeated clicks ----------------------------


def test_a_reason_sent_by_code_alone_is_stored_with_the_cards_own_display(shared_client: TestClient) -> None:
    card = _teclistamab_card(shared_client)
    offered = card["overrideReasons"][0]
    by_code = {"reason": {"system": offered["system"], "code": offered["code"]}}

    response = shared_client.post(PATH, json={"feedback": [_overridden(card["uuid"], by_code)]})

    assert response.status_code == 200, response.text
    (row,) = _stored(shared_client, [card["uuid"]])
    assert row.override_reason_display == offered["display"]


def test_a_suggestion_accepted_twice_is_stored_once(shared_client: TestClient) -> None:
    card = _teclistamab_card(shared_client)
    suggestion = card["suggestions"][0]["uuid"]
    twice_in_one = {"feedback": [_accepted(card["uuid"], suggestion), _accepted(card["uuid"], suggestion)]}

    first = shared_client.post(PATH, json=twice_in_one)
    again = shared_client.post(PATH, json={"feedback": [_accepted(card["uuid"], suggestion)]})
    overridden = shared_client.post(PATH, json={"feedback": [_overridden(card["uuid"], None)] * 2})

    assert (first.status_code, again.status_code, overridden.status_code) == (200, 200, 200)
    outcomes = [row.outcome for row in _stored(shared_client, [card["uuid"]])]
    assert outcomes == ["accepted", "overridden", "overridden"]
