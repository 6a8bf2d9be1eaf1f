"""service.storage.issued_cards: the cards each hook call issued, written in groups by one writer."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from conftest import SettingsFactory
from hook_requests import pembrolizumab_order_sign
from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.testclient import TestClient
from structlog.testing import capture_logs

from service.app import create_app
from service.storage.database import DatabaseStatus, create_engine, create_schema, issued_cards
from service.storage.issued_cards import IssuedCardsRecorder

ISSUED_AT = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def card(uuid: str, topic: str = "baseline-brain-mri", indicator: str = "warning") -> dict[str, Any]:
    return {"uuid": uuid, "indicator": indicator, "source": {"label": "x", "topic": {"code": topic}}}


async def stored_rows(engine: AsyncEngine) -> list[Any]:
    async with engine.connect() as connection:
        return list((await connection.execute(select(issued_cards).order_by(issued_cards.c.card_uuid))).all())


def count_commits(engine: AsyncEngine) -> list[int]:
    commits: list[int] = []
    event.listen(engine.sync_engine, "commit", lambda _connection: commits.append(1))
    return commits


async def test_recorded_cards_are_written_with_their_service_topic_and_time(
    store_engine: AsyncEngine,
) -> None:
    recorder = IssuedCardsRecorder(store_engine)

    await recorder.record("svc", [card("card-1"), card("card-2", "interval-imaging", "info")], ISSUED_AT)
    await recorder.aclose()

    rows = await stored_rows(store_engine)
    assert [(row.card_uuid, row.service_id, row.topic, row.indicator) for row in rows] == [
        ("card-1", "svc", "baseline-brain-mri", "warning"),
        ("card-2", "svc", "interval-imaging", "info"),
    ]
    assert all(row.issued_at.replace(tzinfo=UTC) == ISSUED_AT for row in rows)


async def test_no_cards_records_nothing(store_engine: AsyncEngine) -> None:
    recorder = IssuedCardsRecorder(store_engine)

    await recorder.record("svc", [], ISSUED_AT)
    await recorder.aclose()

    assert await stored_rows(store_engine) == []


async def test_a_call_does_not_wait_for_the_database_below_the_limit(store_engine: AsyncEngine) -> None:
    recorder = IssuedCardsRecorder(store_engine, max_waiting_rows=10)

    await recorder.record("svc", [card("card-1")], ISSUED_AT)

    # Returned before the write: the writer needs the event loop, which this test has not yielded.
    assert recorder.waiting_rows == 1
    await recorder.aclose()
    assert recorder.waiting_rows == 0
    assert len(await stored_rows(store_engine)) == 1


async def test_calls_wait_for_the_writer_once_too_many_rows_wait(store_engine: AsyncEngine) -> None:
    recorder = IssuedCardsRecorder(store_engine, max_waiting_rows=2)

    await recorder.record("svc", [card("card-1"), card("card-2"), card("card-3")], ISSUED_AT)

    assert [row.card_uuid for row in await stored_rows(store_engine)] == ["card-1", "card-2", "card-3"]
    await recorder.aclose()


async def test_concurrent_calls_share_transactions(store_engine: AsyncEngine) -> None:
    recorder = IssuedCardsRecorder(store_engine)
    commits = count_commits(store_engine)

    async def one_call(number: int) -> None:
        await asyncio.sleep(0)
        await recorder.record("svc", [card(f"card-{number:03d}")], ISSUED_AT)

    await asyncio.gather(*(one_call(number) for number in range(200)))
    await recorder.aclose()

    assert len(await stored_rows(store_engine)) == 200
    assert 1 <= len(commits) < 20


async def test_a_failed_write_is_logged_and_later_rows_are_still_written(store_engine: AsyncEngine) -> None:
    recorder = IssuedCardsRecorder(store_engine)
    with capture_logs() as events:
        await recorder.record("svc", [card("card-1", indicator=None)], ISSUED_AT)  # type: ignore[arg-type]
        await recorder.aclose()
    await recorder.record("svc", [card("card-2")], ISSUED_AT)
    await recorder.aclose()

    assert [row.card_uuid for row in await stored_rows(store_engine)] == ["card-2"]
    assert events == [
        {
            "event": "issued_cards_not_recorded",
            "log_level": "warning",
            "error_type": "IntegrityError",
            "cards": 1,
        }
    ]


async def test_a_batch_written_twice_is_stored_once(store_engine: AsyncEngine) -> None:
    # What happens when a COMMIT is cut off by an outage and the batch is written again afterwards.
    recorder = IssuedCardsRecorder(store_engine)
    for _ in range(2):
        await recorder.record("svc", [card("card-1"), card("card-2")], ISSUED_AT)
        await recorder.aclose()
    assert [row.card_uuid for row in await stored_rows(store_engine)] == ["card-1", "card-2"]


async def started_status(engine: AsyncEngine) -> DatabaseStatus:
    status = DatabaseStatus(engine, retry_max_seconds=0.2)
    await status.start()
    assert status.available
    return status


async def test_rows_are_kept_while_the_database_is_away_and_written_when_it_is_back(
    store_engine: AsyncEngine,
) -> None:
    status = await started_status(store_engine)
    recorder = IssuedCardsRecorder(store_engine, status=status)
    try:
        status.report_failure(OSError("test outage"), during="test")
        await recorder.record("svc", [card("card-1"), card("card-2")], ISSUED_AT)
        await recorder.aclose()
        assert recorder.waiting_rows == 2
        assert await stored_rows(store_engine) == []

        async with asyncio.timeout(10):
            await status.wait_available()
        await recorder.aclose()
    finally:
        await status.aclose()
    assert [row.card_uuid for row in await stored_rows(store_engine)] == ["card-1", "card-2"]


async def test_the_outage_buffer_is_bounded_and_drops_the_oldest_rows(store_engine: AsyncEngine) -> None:
    status = await started_status(store_engine)
    recorder = IssuedCardsRecorder(store_engine, status=status, max_buffered_rows=3)
    try:
        status.report_failure(OSError("test outage"), during="test")
        with capture_logs() as events:
            await recorder.record("svc", [card(f"card-{n}") for n in range(5)], ISSUED_AT)
        async with asyncio.timeout(10):
            await status.wait_available()
        await recorder.aclose()
    finally:
        await status.aclose()
    assert [row.card_uuid for row in await stored_rows(store_engine)] == ["card-2", "card-3", "card-4"]
    dropped = {"event": "issued_cards_dropped", "log_level": "warning", "cards": 2, "reason": "buffer_full"}
    assert dropped in events


def test_hook_calls_record_their_cards_by_shutdown(make_settings: SettingsFactory) -> None:
    settings = make_settings()
    with TestClient(create_app(settings)) as client:
        response = client.post(
            "/cds-services/immunotherapy-brain-mri-order-sign", json=pembrolizumab_order_sign()
        )
    issued = [card["uuid"] for card in response.json()["cards"]]

    async def read() -> list[Any]:
        engine = create_engine(settings.effective_database_url)
        try:
            await create_schema(engine)
            return await stored_rows(engine)
        finally:
            await engine.dispose()

    assert issued
    assert sorted(row.card_uuid for row in asyncio.run(read())) == sorted(issued)


async def test_settle_writes_the_rows_still_waiting(store_engine: AsyncEngine) -> None:
    recorder = IssuedCardsRecorder(store_engine)
    await recorder.record("svc", [card("card-1")], ISSUED_AT)
    assert recorder.waiting_rows == 1  # handed over, not written: the writer has not run yet

    await recorder.settle()

    assert [row.card_uuid for row in await stored_rows(store_engine)] == ["card-1"]
    await recorder.aclose()


def test_feedback_on_a_card_not_yet_written_is_accepted(make_settings: SettingsFactory) -> None:
    """The issued cards are written off the request path: feedback that arrives before its card's row is
    written waits for the pending batch (settle), and is accepted."""
    with TestClient(create_app(make_settings())) as client:
        recorder = client.app.state.issued_cards  # type: ignore[attr-defined]
        write = recorder._write

        async def slow_write(rows: Any) -> Any:
            await asyncio.sleep(0.5)
            return await write(rows)

        recorder._write = slow_write
        response = client.post(
            "/cds-services/immunotherapy-brain-mri-order-sign", json=pembrolizumab_order_sign()
        )
        issued = response.json()["cards"][0]["uuid"]
        assert recorder.waiting_rows or recorder._writer is not None  # still on its way
        outcome = {"card": issued, "outcome": "accepted", "outcomeTimestamp": "2026-11-21T12:00:00Z"}
        answer = client.post(
            "/cds-services/immunotherapy-brain-mri-order-sign/feedback", json={"feedback": [outcome]}
        )
    assert answer.status_code == 200, answer.text
