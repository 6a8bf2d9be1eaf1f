"""Feedback-aware cards through HTTP with a real database (SQLite, and PostgreSQL when reachable): a card
a clinician overrode with a reason is not shown again for this patient while nothing new is charted
(issue 16 section 7); the service reads the acknowledgements and records each card's evidence key and
a keyed hash of the patient (service/storage/acknowledgements.py)."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from conftest import ClientFactory, SettingsFactory
from hook_requests import complete_prefetch, draft_orders, hook_request, service_id
from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.testclient import TestClient

import service.routes
from clinical.acknowledgements import Acknowledgement
from service.metrics import ACKNOWLEDGEMENTS_UNREAD
from service.storage.acknowledgements import OverriddenPatients, PatientKeys, read_acknowledgements
from service.storage.database import DatabaseStatus, issued_cards
from service.storage.database import feedback as feedback_table

SIGN = f"/cds-services/{service_id('order-sign')}"
BASELINE = "baseline-brain-mri"
WHEN = "2026-11-21T12:05:00Z"


def _order(patient_id: str, order_id: str, text: str) -> dict[str, Any]:
    return {
        "resourceType": "MedicationRequest",
        "id": order_id,
        "status": "draft",
        "intent": "order",
        "subject": {"reference": f"Patient/{patient_id}"},
        "medicationCodeableConcept": {"text": text},
    }


def _sign_call(patient_id: str, *, with_ipilimumab: bool = False) -> dict[str, Any]:
    """order-sign for a T-cell engager with no brain MRI on record: the baseline MRI card, which suggests
    the MRI order and so offers override reasons."""
    body = hook_request("order-sign", prefetch=complete_prefetch(patient_id), patient_id=patient_id)
    orders = [_order(patient_id, "draft-teclistamab", "teclistamab 1.5 mg/kg SC weekly")]
    if with_ipilimumab:
        # New evidence for the baseline card: another agent in the plan.
        orders.append(_order(patient_id, "draft-ipilimumab", "ipilimumab 1 mg/kg IV every 6 weeks"))
    body["context"]["draftOrders"] = draft_orders(*orders)
    return body


def _baseline_cards(response: Any) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    return [card for card in response.json()["cards"] if card["source"]["topic"]["code"] == BASELINE]


def _override(client: TestClient, card: dict[str, Any], *, code: str = "done-elsewhere") -> Any:
    reason = next(reason for reason in card["overrideReasons"] if reason["code"] == code)
    item = {
        "card": card["uuid"],
        "outcome": "overridden",
        "overrideReason": {"reason": reason, "userComment": "MRI at the partner hospital"},
        "outcomeTimestamp": WHEN,
    }
    return client.post(f"{SIGN}/feedback", json={"feedback": [item]})


@pytest.fixture(params=["sqlite", "postgresql"])
def database_overrides(request: pytest.FixtureRequest) -> Iterator[dict[str, Any]]:
    """Settings overrides naming the backend; PostgreSQL rows of the test's patients go afterwards."""
    if request.param == "sqlite":
        yield {}
        return
    url: str = request.getfixturevalue("postgres_url")
    yield {"database_url": url}


@pytest.fixture
def patients() -> list[str]:
    return [f"fa-{uuid.uuid4().hex[:16]}" for _ in range(2)]


def _forget(client: TestClient, patients: list[str]) -> None:
    """Delete what the test wrote for its patients (PostgreSQL is shared between runs)."""
    keys = [client.app.state.patient_keys.key(None, patient) for patient in patients]  # type: ignore[attr-defined]

    async def forget(engine: AsyncEngine) -> None:
        async with engine.begin() as connection:
            cards = select(issued_cards.c.card_uuid).where(issued_cards.c.patient_key.in_(keys))
            await connection.execute(delete(feedback_table).where(feedback_table.c.card_uuid.in_(cards)))
            await connection.execute(delete(issued_cards).where(issued_cards.c.patient_key.in_(keys)))

    client.portal.call(functools.partial(forget, client.app.state.engine))  # type: ignore[union-attr, attr-defined]


def test_an_overridden_card_stays_quiet_for_this_patient_until_new_evidence(
    make_client: ClientFactory, database_overrides: dict[str, Any], patients: list[str]
) -> None:
    client = make_client(**database_overrides)
    patient, other_patient = patients
    try:
        (shown,) = _baseline_cards(client.post(SIGN, json=_sign_call(patient)))
        assert _override(client, shown).status_code == 200

        # The same day, nothing new charted: not shown again.
        assert _baseline_cards(client.post(SIGN, json=_sign_call(patient))) == []
        # New evidence (another agent planned): shown.
        assert len(_baseline_cards(client.post(SIGN, json=_sign_call(patient, with_ipilimumab=True)))) == 1
        # Another patient with the same record: shown.
        assert len(_baseline_cards(client.post(SIGN, json=_sign_call(other_patient)))) == 1
    finally:
        _forget(client, patients)


def _refreshed(client: TestClient) -> None:
    """Have this worker's set of patients with overrides read now (start-up does it in the background)."""
    client.portal.call(client.app.state.database.wait_available)  # type: ignore[union-attr, attr-defined]
    refreshed = client.portal.call(client.app.state.overridden_patients.refresh)  # type: ignore[union-attr, attr-defined]
    assert refreshed


def _counting_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Patient keys the hook route reads acknowledgements for, from now on."""
    keys: list[str] = []
    read = service.routes.read_acknowledgements

    async def counted(database: DatabaseStatus, patient_key: str, *args: Any) -> tuple[Acknowledgement, ...]:
        keys.append(patient_key)
        return await read(database, patient_key, *args)

    monkeypatch.setattr(service.routes, "read_acknowledgements", counted)
    return keys


def test_a_patient_without_an_override_is_answered_without_reading_acknowledgements(
    make_client: ClientFactory,
    database_overrides: dict[str, Any],
    patients: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client = make_client(**database_overrides)
    patient, other_patient = patients
    keys = client.app.state.patient_keys  # type: ignore[attr-defined]
    try:
        _refreshed(client)
        reads = _counting_reads(monkeypatch)
        (shown,) = _baseline_cards(client.post(SIGN, json=_sign_call(patient)))
        assert reads == []

        assert _override(client, shown).status_code == 200
        # This worker knows at once: the next call reads, and the card stays quiet.
        assert _baseline_cards(client.post(SIGN, json=_sign_call(patient))) == []
        assert reads == [keys.key(None, patient)]
        # Anyone else is still answered without the read.
        assert len(_baseline_cards(client.post(SIGN, json=_sign_call(other_patient)))) == 1
        assert reads == [keys.key(None, patient)]
    finally:
        _forget(client, patients)


def test_an_override_through_another_replica_quiets_the_card_here_at_the_next_refresh(
    make_client: ClientFactory, database_overrides: dict[str, Any], patients: list[str]
) -> None:
    # Two replicas on one database; this one refreshes its set only when told to.
    here = make_client(acknowledgement_refresh_seconds=300, **database_overrides)
    there = make_client(**database_overrides)
    patient = patients[0]
    try:
        _refreshed(here)
        (shown,) = _baseline_cards(there.post(SIGN, json=_sign_call(patient)))
        assert _override(there, shown).status_code == 200
        assert _baseline_cards(there.post(SIGN, json=_sign_call(patient))) == []

        # Until this replica's next refresh the card may be shown once more (the safe direction) ...
        assert len(_baseline_cards(here.post(SIGN, json=_sign_call(patient)))) == 1
        _refreshed(here)
        # ... and from then on it is quiet here too.
        assert _baseline_cards(here.post(SIGN, json=_sign_call(patient))) == []
    finally:
        _forget(here, patients)


def test_an_accepted_card_or_an_override_without_a_reason_does_not_quiet_it(
    make_client: ClientFactory, patients: list[str]
) -> None:
    client = make_client()
    patient = patients[0]
    (shown,) = _baseline_cards(client.post(SIGN, json=_sign_call(patient)))
    item = {"card": shown["uuid"], "outcome": "overridden", "outcomeTimestamp": WHEN}
    assert client.post(f"{SIGN}/feedback", json={"feedback": [item]}).status_code == 200

    assert len(_baseline_cards(client.post(SIGN, json=_sign_call(patient)))) == 1


def test_issued_cards_hold_a_keyed_hash_of_the_patient_and_the_evidence_key_never_the_id(
    make_client: ClientFactory, patients: list[str]
) -> None:
    client = make_client(patient_key_secret="test-secret-1")
    patient = patients[0]
    (shown,) = _baseline_cards(client.post(SIGN, json=_sign_call(patient)))

    async def row(engine: AsyncEngine) -> Any:
        async with engine.connect() as connection:
            result = await connection.execute(
                select(issued_cards).where(issued_cards.c.card_uuid == shown["uuid"])
            )
            return result.one()

    client.portal.call(client.app.state.issued_cards.settle)  # type: ignore[union-attr, attr-defined]
    stored = client.portal.call(functools.partial(row, client.app.state.engine))  # type: ignore[union-attr, attr-defined]
    assert patient not in str(tuple(stored))
    assert stored.patient_key == client.app.state.patient_keys.key(None, patient)  # type: ignore[attr-defined]
    assert len(stored.patient_key) == 64
    assert stored.evidence_key
    assert stored.client == "unauthenticated"
    assert {reason["code"] for reason in stored.offered_override_reasons} >= {"done-elsewhere"}


def test_patient_keys_depend_on_the_secret_and_the_fhir_server(make_settings: SettingsFactory) -> None:
    first = PatientKeys.from_settings(make_settings(patient_key_secret="one"))
    second = PatientKeys.from_settings(make_settings(patient_key_secret="two"))

    assert first.key(None, "p1") != second.key(None, "p1")
    assert first.key("https://ehr-a.example/fhir", "p1") != first.key("https://ehr-b.example/fhir", "p1")
    assert first.key(None, "p1") == PatientKeys.from_settings(make_settings(patient_key_secret="one")).key(
        None, "p1"
    )


def test_with_the_database_away_the_hook_still_answers_with_every_card_and_counts_it(
    make_client: ClientFactory, patients: list[str]
) -> None:
    client = make_client()
    _refreshed(client)  # a fresh set of patients with overrides does not hide the outage
    database = client.app.state.database  # type: ignore[attr-defined]
    before = ACKNOWLEDGEMENTS_UNREAD.labels(reason="database_unavailable")._value.get()
    database._available = False  # what report_failure leaves behind, without the reconnect task's noise
    try:
        response = client.post(SIGN, json=_sign_call(patients[0]))
    finally:
        database._available = True

    assert len(_baseline_cards(response)) == 1
    assert ACKNOWLEDGEMENTS_UNREAD.labels(reason="database_unavailable")._value.get() == before + 1


async def test_only_this_patients_overrides_with_a_reason_within_the_lookback_are_read(
    store_engine: AsyncEngine,
) -> None:
    now = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
    patient, other = f"pk-{uuid.uuid4().hex}"[:64], f"pk-{uuid.uuid4().hex}"[:64]
    # (card, patient key, evidence key, days ago, outcome, with a reason)
    cases = [
        ("recent", patient, "ev-recent", 1, "overridden", True),
        ("no-reason", patient, "ev-no-reason", 1, "overridden", False),
        ("accepted", patient, "ev-accepted", 1, "accepted", False),
        ("too-old", patient, "ev-old", 31, "overridden", True),
        ("other-patient", other, "ev-other", 1, "overridden", True),
    ]
    async with store_engine.begin() as connection:
        for card, key, evidence, days, outcome, reason in cases:
            when = now - timedelta(days=days)
            await connection.execute(
                insert(issued_cards).values(
                    card_uuid=f"{card}-{patient[-8:]}",
                    service_id=SIGN.rsplit("/", 1)[-1],
                    topic=BASELINE,
                    indicator="warning",
                    issued_at=when,
                    patient_key=key,
                    evidence_key=evidence,
                )
            )
            await connection.execute(
                insert(feedback_table).values(
                    service_id=SIGN.rsplit("/", 1)[-1],
                    card_uuid=f"{card}-{patient[-8:]}",
                    outcome=outcome,
                    override_reason_code="done-elsewhere" if reason else None,
                    outcome_timestamp=when,
                    received_at=when,
                )
            )
    status = await DatabaseStatus.ready(store_engine)

    read = await read_acknowledgements(status, patient, now, lookback_days=30)

    assert read == (Acknowledgement(BASELINE, "ev-recent", (now - timedelta(days=1)).date()),)


class _Clock:
    def __init__(self) -> None:
        self.seconds = 0.0

    def __call__(self) -> float:
        return self.seconds


async def _store_override(engine: AsyncEngine, card: str, patient_key: str, when: datetime) -> None:
    service = SIGN.rsplit("/", 1)[-1]
    async with engine.begin() as connection:
        await connection.execute(
            insert(issued_cards).values(
                card_uuid=card,
                service_id=service,
                topic=BASELINE,
                indicator="warning",
                issued_at=when,
                patient_key=patient_key,
                evidence_key="ev",
            )
        )
        await connection.execute(
            insert(feedback_table).values(
                service_id=service,
                card_uuid=card,
                outcome="overridden",
                override_reason_code="done-elsewhere",
                outcome_timestamp=when,
                received_at=when,
            )
        )


async def test_the_set_of_patients_with_overrides_is_trusted_only_while_fresh(
    store_engine: AsyncEngine,
) -> None:
    now = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
    monotonic = _Clock()
    status = await DatabaseStatus.ready(store_engine)
    overridden = OverriddenPatients(
        status, lookback_days=30, refresh_seconds=5, clock=lambda: now, monotonic=monotonic
    )
    await _store_override(store_engine, "old-override", "pk-old", now - timedelta(days=31))
    await _store_override(store_engine, "recent-override", "pk-recent", now - timedelta(days=2))

    # Never read: every patient may have overrides.
    assert overridden.may_have_overrides("pk-none")

    assert await overridden.refresh()
    assert overridden.may_have_overrides("pk-recent")
    assert not overridden.may_have_overrides("pk-none")
    assert not overridden.may_have_overrides("pk-old")  # outside the lookback: the read would find none

    # An override stored since is found by the next (incremental) refresh.
    await _store_override(store_engine, "new-override", "pk-new", now)
    assert not overridden.may_have_overrides("pk-new")
    assert await overridden.refresh()
    assert overridden.may_have_overrides("pk-new")
    assert overridden.may_have_overrides("pk-recent")

    # Not refreshed for more than two intervals (the database away): trusted no more.
    status._available = False
    monotonic.seconds += 10.5
    assert not await overridden.refresh()
    assert overridden.may_have_overrides("pk-none")
