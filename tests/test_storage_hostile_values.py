"""Bad input is never a database outage (issue 17 item 1) and a poisoned JWT id never switches replay
protection off for others (item 2): every write (feedback, issued cards, replay store, audit lines) with
NUL characters, lone surrogates, over-long values and odd unicode, on SQLite and PostgreSQL.

Each value is either refused with a clear error for that request alone, or stored cleaned (NUL dropped,
lone surrogates replaced); the database is never marked unavailable for it, and the next innocent
write goes through.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from issued_support import record_issued
from security_support import (
    bearer,
    claims,
    client_entry,
    ec_key,
    mint,
    running_app,
    settings_for,
    write_clients,
)
from sqlalchemy import delete, select
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from service.exceptions import InvalidRequest, StorageUnavailable
from service.security.replay_store import ReplayStore, UnrecordableJti
from service.storage.database import (
    DatabaseStatus,
    clean_text,
    create_engine,
    create_schema,
    is_database_unavailable,
    is_value_refused,
    issued_cards,
    seen_jtis,
)
from service.storage.database import feedback as feedback_table
from service.storage.feedback import (
    FeedbackItem,
    FeedbackRequest,
    parse_feedback,
    refuse_feedback_on_cards_not_ours,
    store_feedback,
)
from service.storage.issued_cards import IssuedCardsRecorder

SERVICE = "immunotherapy-brain-mri-order-sign"
WHEN = "2026-11-21T12:03:04Z"
T0 = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)

# The hostile values: (id, value). Over-long is longer than every column it is tried in.
HOSTILE: list[tuple[str, str]] = [
    ("nul", "before\x00after"),
    ("lone-high-surrogate", "before\ud800after"),
    ("lone-low-surrogate", "before\udc00after"),
    ("over-long", "x" * 5000),
    ("right-to-left-override", "abc\u202edcba"),
    ("combining-and-zero-width", "e\u0301\u200d\u200b\ufeff"),
    ("astral-and-private-use", "\U0001f9e0\U000e0001\uf8ff"),
    ("control-characters", "\x01\x1b[31m\x7f"),
]
HOSTILE_IDS = [name for name, _ in HOSTILE]
HOSTILE_VALUES = [value for _, value in HOSTILE]


def _valid_until() -> datetime:
    """A token expiry still ahead (the replay store's clock is the real one)."""
    return datetime.now(UTC) + timedelta(hours=1)


def _clean(text: str) -> bool:
    return "\x00" not in text and not any("\ud800" <= character <= "\udfff" for character in text)


# --- which errors are an outage ----------------------------------------------------------------------


class _AsyncpgLike(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__("driver message")
        self.sqlstate = sqlstate


@pytest.mark.parametrize(
    ("error", "unavailable"),
    [
        pytest.param(DBAPIError("INSERT", {}, _AsyncpgLike("22021")), False, id="nul-in-text-22021"),
        pytest.param(DBAPIError("INSERT", {}, _AsyncpgLike("22001")), False, id="too-long-22001"),
        pytest.param(DBAPIError("INSERT", {}, _AsyncpgLike("22000")), False, id="unencodable-22000"),
        pytest.param(DBAPIError("INSERT", {}, _AsyncpgLike("23505")), False, id="duplicate-23505"),
        pytest.param(DataError("INSERT", {}, Exception("bad value")), False, id="data-error"),
        pytest.param(IntegrityError("INSERT", {}, Exception("duplicate")), False, id="integrity-error"),
        pytest.param(UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates"), False, id="sqlite-surrogate"),
        pytest.param(DBAPIError("SELECT 1", {}, _AsyncpgLike("08006")), True, id="connection-failure-08006"),
        pytest.param(DBAPIError("SELECT 1", {}, _AsyncpgLike("57P01")), True, id="admin-shutdown-57P01"),
        pytest.param(OperationalError("SELECT 1", {}, Exception("server closed")), True, id="operational"),
        pytest.param(OSError("connection refused"), True, id="os-error"),
        pytest.param(TimeoutError(), True, id="timeout"),
    ],
)
def test_only_connection_level_failures_mean_the_database_is_away(
    error: BaseException, unavailable: bool
) -> None:
    assert is_database_unavailable(error) is unavailable
    assert is_value_refused(error) is not unavailable


@pytest.mark.parametrize("value", HOSTILE_VALUES, ids=HOSTILE_IDS)
def test_clean_text_leaves_nothing_a_backend_refuses(value: str) -> None:
    cleaned = clean_text(value)
    assert _clean(cleaned)
    assert len(cleaned) <= len(value)
    cleaned.encode("utf-8")  # strict: raises on a surrogate


# --- feedback ----------------------------------------------------------------------------------------


def _item(card: str, field: str, value: str) -> dict[str, Any]:
    reason = {"system": "https://example.org/cds/override-reasons", "code": "recent-mri", "display": "d"}
    item: dict[str, Any] = {
        "card": card,
        "outcome": "overridden",
        "overrideReason": {"reason": reason, "userComment": "comment"},
        "outcomeTimestamp": WHEN,
    }
    if field == "card":
        item["card"] = card[:8] + value[:40] + card[8:]
    elif field == "userComment":
        item["overrideReason"]["userComment"] = value
    elif field == "acceptedSuggestions":
        item = {
            "card": card,
            "outcome": "accepted",
            "acceptedSuggestions": [{"id": value}],
            "outcomeTimestamp": WHEN,
        }
    else:
        reason[field] = value if field != "code" else "recent-" + value[:40] + "mri"
        if value == HOSTILE_VALUES[3]:
            reason[field] = value
    return item


FEEDBACK_FIELDS = ["card", "userComment", "code", "system", "display", "acceptedSuggestions"]


async def _feedback_outcome(status: DatabaseStatus, body: dict[str, Any]) -> str:
    try:
        request = parse_feedback(body)
        await refuse_feedback_on_cards_not_ours(status, SERVICE, request, None)
        await store_feedback(status, SERVICE, request, None)
    except InvalidRequest:
        return "refused"
    return "stored"


@pytest.mark.parametrize("field", FEEDBACK_FIELDS)
@pytest.mark.parametrize("value", HOSTILE_VALUES, ids=HOSTILE_IDS)
async def test_feedback_with_a_hostile_value_is_refused_or_stored_cleaned_never_an_outage(
    store_engine: AsyncEngine, field: str, value: str
) -> None:
    status = await DatabaseStatus.ready(store_engine)
    card, innocent = str(uuid.uuid4()), str(uuid.uuid4())
    await record_issued(store_engine, SERVICE, [card, innocent])

    outcome = await _feedback_outcome(status, {"feedback": [_item(card, field, value)]})

    assert outcome in ("refused", "stored")
    assert status.available, "a value of the request was taken for a database outage"
    async with store_engine.connect() as connection:
        rows = (
            await connection.execute(select(feedback_table).where(feedback_table.c.card_uuid == card))
        ).all()
    for row in rows:
        texts = [
            row.override_reason_system,
            row.override_reason_code,
            row.override_reason_display,
            row.user_comment,
        ]
        texts += list(row.accepted_suggestions or [])
        assert all(_clean(text) for text in texts if text is not None)
    # The next client's honest feedback is stored.
    assert await _feedback_outcome(status, {"feedback": [_item(innocent, "userComment", "fine")]}) == "stored"


async def test_an_honest_override_with_a_nul_in_its_comment_is_stored_cleaned(
    store_engine: AsyncEngine,
) -> None:
    status = await DatabaseStatus.ready(store_engine)
    card = str(uuid.uuid4())
    await record_issued(store_engine, SERVICE, [card])

    body = {"feedback": [_item(card, "userComment", "MRI done\x00 at the partner hospital \ud83d")]}

    assert await _feedback_outcome(status, body) == "stored"
    async with store_engine.connect() as connection:
        (comment,) = (
            await connection.execute(
                select(feedback_table.c.user_comment).where(feedback_table.c.card_uuid == card)
            )
        ).one()
    assert comment == "MRI done at the partner hospital \ufffd"


@pytest.mark.parametrize("value", ["a\ud800b", "a\x00b"], ids=["lone-surrogate", "nul"])
async def test_a_value_the_database_still_refuses_is_a_400_not_an_outage(
    store_engine: AsyncEngine, value: str
) -> None:
    """The backstop behind the model's cleaning: a row built without it (model_construct) that the
    database refuses is answered 400, and the database stays in use."""
    status = await DatabaseStatus.ready(store_engine)
    item = FeedbackItem.model_construct(
        card=str(uuid.uuid4()),
        outcome="accepted",
        accepted_suggestions=None,
        override_reason=None,
        outcome_timestamp=T0,
    )
    item.card = "card-" + value
    request = FeedbackRequest.model_construct(feedback=[item])

    try:
        await store_feedback(status, SERVICE, request, None)
    except InvalidRequest as error:
        assert "refused a value" in str(error)
    except StorageUnavailable:  # pragma: no cover - the failure this test guards against
        pytest.fail("a refused value was answered as a database outage")
    else:
        assert store_engine.dialect.name == "sqlite" and "\x00" in value, "only SQLite stores a NUL"
    assert status.available


async def test_an_over_long_override_code_is_a_400_and_other_clients_feedback_still_goes_through(
    store_engine: AsyncEngine,
) -> None:
    """The attack of issue 17 item 1: a code of 129-256 characters (the model allowed 256, the column
    128) answered 503 and marked PostgreSQL away for everyone."""
    status = await DatabaseStatus.ready(store_engine)
    card, innocent = str(uuid.uuid4()), str(uuid.uuid4())
    await record_issued(store_engine, SERVICE, [card, innocent])
    item = _item(card, "userComment", "x")
    item["overrideReason"]["reason"]["code"] = "c" * 200

    with pytest.raises(InvalidRequest, match="at most 128"):
        parse_feedback({"feedback": [item]})
    assert await _feedback_outcome(status, {"feedback": [_item(innocent, "userComment", "ok")]}) == "stored"
    assert status.available


# --- issued cards ------------------------------------------------------------------------------------


def _card(uuid_text: str, topic: str = "baseline-brain-mri") -> dict[str, Any]:
    return {"uuid": uuid_text, "indicator": "warning", "source": {"topic": {"code": topic}}}


@pytest.mark.parametrize("value", HOSTILE_VALUES, ids=HOSTILE_IDS)
async def test_one_unstorable_issued_card_never_takes_the_others_with_it(
    store_engine: AsyncEngine, value: str
) -> None:
    status = await DatabaseStatus.ready(store_engine)
    recorder = IssuedCardsRecorder(store_engine, status=status)
    innocents = [str(uuid.uuid4()) for _ in range(3)]
    cards = [_card(innocents[0]), _card("poison-" + value), _card(innocents[1]), _card(innocents[2])]

    await recorder.record(SERVICE, cards, T0, client="https://ehr.example/\x00" + value[:40])
    await recorder.settle()

    assert status.available
    async with store_engine.connect() as connection:
        stored = set(
            (
                await connection.execute(
                    select(issued_cards.c.card_uuid).where(issued_cards.c.card_uuid.in_(innocents))
                )
            ).scalars()
        )
    assert stored == set(innocents)


# --- replay store ------------------------------------------------------------------------------------


@pytest.fixture
async def issuer(store_engine: AsyncEngine) -> AsyncIterator[str]:
    name = f"https://replay-hostile-{uuid.uuid4()}.example"
    yield name
    async with store_engine.begin() as connection:
        await connection.execute(delete(seen_jtis).where(seen_jtis.c.issuer == name))


MALFORMED_JTIS = [
    ("nul", "jti\x00poison"),
    ("lone-surrogate", "jti\ud800poison"),
    ("over-long", "j" * 257),
    ("empty", ""),
    ("control-character", "jti\x1b[2J"),
    ("bidi-override", "jti\u202eevil"),
]


@pytest.mark.parametrize("jti", [jti for _, jti in MALFORMED_JTIS], ids=[name for name, _ in MALFORMED_JTIS])
async def test_a_malformed_jti_is_refused_and_never_reaches_the_database(
    store_engine: AsyncEngine, issuer: str, jti: str
) -> None:
    status = await DatabaseStatus.ready(store_engine)
    store = ReplayStore(store_engine, status=status, wait_seconds=10)

    with pytest.raises(UnrecordableJti):
        await store.remember(issuer, jti, _valid_until())
    assert status.available
    assert await store.remember(issuer, "innocent", _valid_until()) is True
    await store.aclose()


async def test_odd_but_printable_unicode_jtis_are_recorded_and_replays_refused(
    store_engine: AsyncEngine, issuer: str
) -> None:
    status = await DatabaseStatus.ready(store_engine)
    first = ReplayStore(store_engine, status=status, wait_seconds=10)
    second = ReplayStore(store_engine, status=status, wait_seconds=10)
    jti = "jti-\u00fc-\U0001f9e0-\u091c\u093c-" + "\u00e9" * 200

    assert await first.remember(issuer, jti, _valid_until()) is True
    assert await second.remember(issuer, jti, _valid_until()) is False
    await first.aclose()
    await second.aclose()


def _unguarded(monkeypatch: pytest.MonkeyPatch) -> None:
    """Lets every jti through `remember`'s check: what a gap in validation would let reach a batch."""
    monkeypatch.setattr("service.security.replay_store.is_well_formed_jti", lambda _jti: True)


async def _remember_all(store: ReplayStore, issuer: str, jtis: list[str]) -> list[bool | str]:
    async def one(jti: str) -> bool | str:
        try:
            return await store.remember(issuer, jti, _valid_until())
        except UnrecordableJti:
            return "refused"

    return list(await asyncio.gather(*(one(jti) for jti in jtis)))


async def test_a_poisoned_row_in_a_batch_is_refused_alone_and_the_others_are_recorded(
    store_engine: AsyncEngine, issuer: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _unguarded(monkeypatch)
    status = await DatabaseStatus.ready(store_engine)
    store = ReplayStore(store_engine, status=status, wait_seconds=10)
    innocents = [f"innocent-{n}" for n in range(6)]
    # A lone surrogate: refused by both backends (NUL is stored by SQLite).
    batch = [*innocents[:3], "poison\ud800", *innocents[3:]]

    outcomes = await _remember_all(store, issuer, batch)

    assert outcomes == [True, True, True, "refused", True, True, True]
    assert status.available, "a poisoned jti was taken for a database outage"
    async with store_engine.connect() as connection:
        recorded = set(
            (await connection.execute(select(seen_jtis.c.jti).where(seen_jtis.c.issuer == issuer))).scalars()
        )
    assert recorded == set(innocents)
    await store.aclose()


async def test_the_backlog_after_an_outage_drains_even_with_a_bad_entry(
    store_engine: AsyncEngine, issuer: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _unguarded(monkeypatch)
    status = await DatabaseStatus.ready(store_engine)
    store = ReplayStore(store_engine, status=status, wait_seconds=10)
    status._available = False  # an outage: pairs are accepted from this worker's memory and kept
    innocents = [f"backlog-{n}" for n in range(4)]
    assert await _remember_all(store, issuer, [innocents[0], "poison\ud800", *innocents[1:]]) == [True] * 5
    status._available = True

    await store.write_backlog()

    async with store_engine.connect() as connection:
        recorded = set(
            (await connection.execute(select(seen_jtis.c.jti).where(seen_jtis.c.issuer == issuer))).scalars()
        )
    assert recorded == set(innocents)
    await store.aclose()


async def test_two_replicas_on_one_postgresql_an_innocent_clients_tokens_never_replay_beside_a_poisoned_one(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The attack of issue 17 item 2: the poisoned token's batch failed, its calls were accepted from
    one worker's memory and never written, so an innocent client's tokens replayed on another replica."""
    _unguarded(monkeypatch)
    engines = [create_engine(postgres_url) for _ in range(2)]
    hostile, innocent = f"https://hostile-{uuid.uuid4()}.example", f"https://innocent-{uuid.uuid4()}.example"
    try:
        await create_schema(engines[0])
        statuses = [await DatabaseStatus.ready(engine) for engine in engines]
        replicas = [
            ReplayStore(engine, status=status, wait_seconds=10)
            for engine, status in zip(engines, statuses, strict=True)
        ]
        tokens = [f"innocent-{uuid.uuid4()}" for _ in range(40)]

        async def hostile_call(jti: str) -> bool | str:
            try:
                return await replicas[0].remember(hostile, jti, _valid_until())
            except UnrecordableJti:
                return "refused"

        first = await asyncio.gather(
            hostile_call("poison\x00nul"),
            *(replicas[0].remember(innocent, jti, _valid_until()) for jti in tokens[:20]),
            hostile_call("poison\ud800surrogate"),
            *(replicas[0].remember(innocent, jti, _valid_until()) for jti in tokens[20:]),
        )
        assert first.count("refused") == 2
        assert [outcome for outcome in first if outcome != "refused"] == [True] * 40
        assert all(status.available for status in statuses)

        replayed = [await replicas[1].remember(innocent, jti, _valid_until()) for jti in tokens]

        assert replayed == [False] * 40, "an innocent client's token replayed on the other replica"
        for replica in replicas:
            await replica.aclose()
    finally:
        async with engines[0].begin() as connection:
            await connection.execute(delete(seen_jtis).where(seen_jtis.c.issuer.in_([hostile, innocent])))
        for engine in engines:
            await engine.dispose()


# --- audit lines -------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", HOSTILE_VALUES, ids=HOSTILE_IDS)
async def test_audit_lines_with_hostile_claim_values_are_written_as_valid_json(
    tmp_path: Path, value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The tenant claim is the caller's text and goes into the audit line of every call."""
    key = ec_key("audit-key")
    settings = settings_for(tmp_path, trusted_clients_file=write_clients(tmp_path, client_entry(key)))
    path = f"/cds-services/{SERVICE}/feedback"
    token = mint(key, claims(audience=f"http://testserver{path}", tenant=value[:300]))
    capsys.readouterr()
    async with running_app(settings) as client:
        response = await client.post(path, json={"feedback": []}, headers={"Authorization": bearer(token)})

    assert response.status_code == 400
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    audit = [json.loads(line) for line in lines if '"event": "feedback"' in line]
    assert len(audit) == 1
    assert audit[0]["outcome"] == 400
