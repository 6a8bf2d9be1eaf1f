"""The immuno-cds command line: evaluate, feedback-report, serve's argument handling, and its errors."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from ops_support import CLI, base_environment, free_port
from sqlalchemy import insert

from clinical.patient_record import PatientRecord
from service import cli
from service.storage.database import create_engine, create_schema, feedback, issued_cards
from workbench import clinical_adapter

FIXTURES = Path(__file__).resolve().parent / "cli_fixtures"
BUNDLE = FIXTURES / "patient-bundle.json"
DRAFT_ORDERS = FIXTURES / "draft-orders.json"
PATIENT_ID = "cli-pt-1"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = cli.main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


@dataclass
class RecordingEvaluator:
    """Stands in for the clinical pipeline: records what the CLI hands it, returns fixed cards."""

    cards: list[dict[str, Any]]
    calls: list[dict[str, Any]] = field(default_factory=list)
    loaded_from: tuple[Path, Path] | None = None

    def cards_for(self, record: PatientRecord, draft_orders: list[dict[str, Any]], **kwargs: Any) -> Any:
        self.calls.append({"record": record, "draft_orders": draft_orders, **kwargs})
        return self.cards


@pytest.fixture
def recording(monkeypatch: pytest.MonkeyPatch) -> RecordingEvaluator:
    evaluator = RecordingEvaluator(cards=[])

    def load(knowledge_dir: Path, cards_dir: Path) -> RecordingEvaluator:
        evaluator.loaded_from = (knowledge_dir, cards_dir)
        return evaluator

    monkeypatch.setattr(clinical_adapter.Evaluator, "load", staticmethod(load))
    return evaluator


def sample_cards() -> list[dict[str, Any]]:
    return [
        {
            "uuid": "c1",
            "summary": "Urgent brain MRI and neurology review",
            "indicator": "critical",
            "detail": "**Possible ICANS** after CAR-T.\n\n- ICE score 6/10",
            "source": {
                "label": "Immunotherapy Neuroimaging CDS",
                "topic": {"code": "possible-neurotoxicity"},
            },
            "suggestions": [{"label": "Order MRI brain with contrast", "uuid": "s1", "isRecommended": True}],
            "links": [
                {"label": "ASTCT ICANS grading", "url": "https://example.org/icans", "type": "absolute"}
            ],
        },
        {
            "uuid": "c2",
            "summary": "Interval brain MRI due",
            "indicator": "warning",
            "source": {"label": "Immunotherapy Neuroimaging CDS", "topic": {"code": "interval-imaging"}},
        },
    ]


# --- evaluate --------------------------------------------------------------------------------------


def test_evaluate_json_prints_the_cards_the_ehr_would_get(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(
        capsys,
        "evaluate",
        str(BUNDLE),
        "--draft-orders",
        str(DRAFT_ORDERS),
        "--now",
        "2026-11-21",
        "--format",
        "json",
    )
    assert status == 0, err
    document = json.loads(out)
    assert list(document) == ["cards"]
    topics = [card["source"]["topic"]["code"] for card in document["cards"]]
    # A checkpoint inhibitor ordered, no brain MRI on record: the baseline advice.
    assert "baseline-brain-mri" in topics
    for card in document["cards"]:
        assert {"uuid", "summary", "indicator", "source"} <= set(card)


def test_evaluate_text_shows_the_real_cards_readably(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    status, out, err = run(
        capsys, "evaluate", str(BUNDLE), "--draft-orders", str(DRAFT_ORDERS), "--now", "2026-11-21"
    )
    assert status == 0, err
    assert "Consider a baseline brain MRI" in out
    assert '"cards"' not in out


def test_evaluate_text_renders_a_panel_per_card_with_its_parts(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, recording: RecordingEvaluator
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    recording.cards = sample_cards()
    status, out, _ = run(capsys, "evaluate", str(BUNDLE), "--format", "text")
    assert status == 0
    assert out.count("╭") == 2  # one panel per card
    for text in (
        "CRITICAL",
        "WARNING",
        "Urgent brain MRI and neurology review",
        "Interval brain MRI due",
        "Possible ICANS after CAR-T.",  # markdown rendered, not shown raw
        "ICE score 6/10",
        "Order MRI brain with contrast (recommended)",
        "ASTCT ICANS grading: https://example.org/icans",
    ):
        assert text in out
    assert "**Possible ICANS**" not in out


def test_evaluate_text_says_so_when_there_are_no_cards(
    capsys: pytest.CaptureFixture[str], recording: RecordingEvaluator
) -> None:
    status, out, _ = run(capsys, "evaluate", str(BUNDLE))
    assert status == 0
    assert out.strip().splitlines()[-1] == "No cards."


def test_evaluate_hands_bundle_draft_orders_patient_and_time_to_the_evaluator(
    capsys: pytest.CaptureFixture[str], recording: RecordingEvaluator
) -> None:
    status, _, _ = run(
        capsys,
        "evaluate",
        str(BUNDLE),
        "--draft-orders",
        str(DRAFT_ORDERS),
        "--hook",
        "order-select",
        "--now",
        "2026-11-21",
        "--user-id",
        "Practitioner/dr-1",
        "--encounter-id",
        "enc-9",
        "--format",
        "json",
    )
    assert status == 0
    (call,) = recording.calls
    record: PatientRecord = call["record"]
    assert record.patient_id == PATIENT_ID  # from the bundle's Patient
    assert [resource["id"] for resource in record.of_type("Condition")] == ["cli-cond-1"]
    assert [order["id"] for order in call["draft_orders"]] == ["cli-draft-pembro"]
    assert call["now"] == datetime(2026, 11, 21, tzinfo=UTC)
    assert call["patient_id"] == PATIENT_ID
    assert call["user_id"] == "Practitioner/dr-1"
    assert call["encounter_id"] == "enc-9"


def test_evaluate_loads_the_knowledge_and_cards_directories_from_settings(
    capsys: pytest.CaptureFixture[str],
    recording: RecordingEvaluator,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("CDS_KNOWLEDGE_DIR", str(tmp_path / "k"))
    monkeypatch.setenv("CDS_CARDS_DIR", str(tmp_path / "c"))
    assert run(capsys, "evaluate", str(BUNDLE))[0] == 0
    assert recording.loaded_from == (tmp_path / "k", tmp_path / "c")


def test_evaluate_refuses_a_patient_id_the_input_does_not_hold(
    capsys: pytest.CaptureFixture[str], recording: RecordingEvaluator
) -> None:
    status, out, err = run(capsys, "evaluate", str(BUNDLE), "--patient-id", "other-patient")
    assert status == 2
    assert out == ""
    assert f"holds no patient 'other-patient' (it holds 1: {PATIENT_ID})" in err
    assert recording.calls == []


def test_evaluate_time_with_zone_is_kept_and_without_zone_is_utc(
    capsys: pytest.CaptureFixture[str], recording: RecordingEvaluator
) -> None:
    run(capsys, "evaluate", str(BUNDLE), "--now", "2026-11-21T08:30:00+01:00")
    run(capsys, "evaluate", str(BUNDLE), "--now", "2026-11-21T08:30:00")
    first, second = (call["now"] for call in recording.calls)
    assert first == datetime(2026, 11, 21, 7, 30, tzinfo=UTC)
    assert second == datetime(2026, 11, 21, 8, 30, tzinfo=UTC)


ERROR_CASES: dict[str, tuple[bytes | None, str]] = {
    # case: (file content, None for no file; expected message part)
    "missing file": (None, "no such file"),
    "invalid json": (b'{"resourceType": "Bundle", "entry": [', "is not valid JSON (line 1"),
    "not utf-8": (b'{"resourceType": "\xff"}', "is not valid UTF-8 JSON"),
    "a patient, not a bundle": (
        b'{"resourceType": "Patient", "id": "p"}',
        "is not a FHIR Bundle (resourceType 'Patient')",
    ),
    "a json array": (b"[1, 2]", "is not a FHIR Bundle (no resourceType)"),
}


@pytest.mark.parametrize("case", sorted(ERROR_CASES))
def test_evaluate_reports_a_bad_bundle_file_in_one_line_with_status_2(
    case: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    content, message = ERROR_CASES[case]
    path = tmp_path / "bundle.json"
    if content is not None:
        path.write_bytes(content)
    status, out, err = run(capsys, "evaluate", str(path))
    assert status == 2
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith(f"immuno-cds: error: bundle {path}")
    assert message in err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--draft-orders", "DIR/absent.json"], "draft orders DIR/absent.json: no such file"),
        (["--draft-orders", "BUNDLE_FILE", "--hook", "patient-view"], "patient-view takes no draft orders"),
        (["--now", "21.11.2026"], "--now '21.11.2026' is not an ISO 8601 date"),
    ],
)
def test_evaluate_reports_bad_options_in_one_line_with_status_2(
    extra: list[str], message: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    argv = [part.replace("DIR", str(tmp_path)).replace("BUNDLE_FILE", str(DRAFT_ORDERS)) for part in extra]
    status, out, err = run(capsys, "evaluate", str(BUNDLE), *argv)
    assert status == 2
    assert out == ""
    assert err.count("\n") == 1
    assert message.replace("DIR", str(tmp_path)) in err


def test_evaluate_needs_a_patient_id_when_the_bundle_has_no_patient(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "b.json"
    path.write_text('{"resourceType": "Bundle", "type": "collection", "entry": []}', encoding="utf-8")
    status, _, err = run(capsys, "evaluate", str(path))
    assert status == 2
    assert "holds no usable patient: no Patient with an id and no resource naming one" in err


def test_console_script_exits_2_with_one_line_and_no_traceback(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(CLI), "evaluate", str(tmp_path / "absent.json")],
        capture_output=True,
        text=True,
        timeout=120,
        env=base_environment(),
        check=False,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == f"immuno-cds: error: bundle {tmp_path / 'absent.json'}: no such file\n"


# --- feedback-report -------------------------------------------------------------------------------

ISSUED = [
    ("card-a1", "baseline-brain-mri"),
    ("card-a2", "baseline-brain-mri"),
    ("card-a3", "baseline-brain-mri"),
    ("card-b1", "possible-neurotoxicity"),
]
# (card, outcome, override reason code or None)
FEEDBACK = [
    ("card-a1", "accepted", None),
    ("card-a2", "accepted", None),
    ("card-a3", "overridden", "done-elsewhere"),
    ("card-a3", "overridden", "patient-declined"),
    ("card-b1", "overridden", "done-elsewhere"),
    ("card-never-issued", "accepted", None),
    ("card-never-issued-2", "overridden", None),
]


async def _fill(url: str, with_rows: bool = True) -> None:
    engine = create_engine(url)
    try:
        await create_schema(engine)
        if not with_rows:
            return
        now = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
        async with engine.begin() as connection:
            await connection.execute(
                insert(issued_cards),
                [
                    {
                        "card_uuid": uuid,
                        "service_id": "svc",
                        "topic": topic,
                        "indicator": "info",
                        "issued_at": now,
                    }
                    for uuid, topic in ISSUED
                ],
            )
            await connection.execute(
                insert(feedback),
                [
                    {
                        "service_id": "svc",
                        "card_uuid": card,
                        "outcome": outcome,
                        "override_reason_system": "urn:test" if reason else None,
                        "override_reason_code": reason,
                        "override_reason_display": reason.replace("-", " ") if reason else None,
                        "outcome_timestamp": now,
                        "received_at": now,
                    }
                    for card, outcome, reason in FEEDBACK
                ],
            )
    finally:
        await engine.dispose()


@pytest.fixture
def feedback_db(tmp_path: Path) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path / 'feedback.sqlite3'}"
    asyncio.run(_fill(url))
    return url


def test_feedback_report_json_gives_rates_by_topic_and_override_reason(
    capsys: pytest.CaptureFixture[str], feedback_db: str
) -> None:
    status, out, err = run(capsys, "feedback-report", "--database-url", feedback_db, "--format", "json")
    assert status == 0, err
    report = json.loads(out)
    assert report["feedback"] == 7
    by_topic = {row["topic"]: row for row in report["by_topic"]}
    assert by_topic["baseline-brain-mri"] == {
        "topic": "baseline-brain-mri",
        "feedback": 4,
        "accepted": 2,
        "overridden": 2,
        "acceptance_rate": 0.5,
        "override_rate": 0.5,
    }
    assert by_topic["possible-neurotoxicity"]["override_rate"] == 1.0
    # Feedback on cards the issued_cards table does not know lands in one bucket.
    assert by_topic["unknown"]["feedback"] == 2
    assert by_topic["unknown"]["accepted"] == 1
    # Largest topic first.
    assert [row["topic"] for row in report["by_topic"]] == [
        "baseline-brain-mri",
        "unknown",
        "possible-neurotoxicity",
    ]
    reasons = {row["code"]: row for row in report["by_override_reason"]}
    assert reasons["done-elsewhere"]["count"] == 2
    assert reasons["done-elsewhere"]["share_of_overrides"] == 0.5
    assert reasons["done-elsewhere"]["display"] == "done elsewhere"
    assert reasons["patient-declined"]["count"] == 1
    assert reasons["(no reason given)"]["count"] == 1
    assert sum(row["count"] for row in report["by_override_reason"]) == 4


def test_feedback_report_text_shows_tables(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, feedback_db: str
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    status, out, _ = run(capsys, "feedback-report", "--database-url", feedback_db)
    assert status == 0
    assert "Feedback by card topic (7 items)" in out
    assert "Override reasons" in out
    baseline_row = next(line for line in out.splitlines() if "baseline-brain-mri" in line)
    assert "50.0%" in baseline_row
    neuro_row = next(line for line in out.splitlines() if "possible-neurotoxicity" in line)
    assert "100.0%" in neuro_row


def test_feedback_report_uses_the_service_database_setting(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, feedback_db: str
) -> None:
    monkeypatch.setenv("CDS_DATABASE_URL", feedback_db)
    status, out, _ = run(capsys, "feedback-report", "--format", "json")
    assert status == 0
    assert json.loads(out)["feedback"] == 7


def test_feedback_report_on_an_empty_database(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'empty.sqlite3'}"
    asyncio.run(_fill(url, with_rows=False))
    status, out, _ = run(capsys, "feedback-report", "--database-url", url)
    assert status == 0
    assert out.strip() == "No feedback recorded."
    status, out, _ = run(capsys, "feedback-report", "--database-url", url, "--format", "json")
    assert json.loads(out) == {"feedback": 0, "by_topic": [], "by_override_reason": []}


def test_feedback_report_refuses_a_missing_sqlite_file_without_creating_it(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "nowhere" / "absent.sqlite3"
    status, out, err = run(capsys, "feedback-report", "--database-url", f"sqlite+aiosqlite:///{path}")
    assert status == 2
    assert out == ""
    assert err == f"immuno-cds: error: database file {path} does not exist\n"
    assert not path.parent.exists()


def test_feedback_report_refuses_a_database_without_feedback_tables(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "other.sqlite3"
    sqlite3.connect(path).close()
    status, _, err = run(capsys, "feedback-report", "--database-url", f"sqlite+aiosqlite:///{path}")
    assert status == 2
    assert "has no feedback tables" in err


def test_feedback_report_hides_the_password_of_an_unreachable_database(
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = f"postgresql+asyncpg://cds:s3cret-pw@127.0.0.1:{free_port()}/cds"
    status, _, err = run(capsys, "feedback-report", "--database-url", url)
    assert status == 2
    assert err.startswith("immuno-cds: error: cannot read feedback from the database (connection refused)")
    assert "s3cret-pw" not in err
    assert err.count("\n") == 1


# --- serve -----------------------------------------------------------------------------------------


@pytest.fixture
def uvicorn_calls(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[dict[str, Any]]:
    """uvicorn.run recorded instead of run; the database (prepared for several workers) in tmp_path."""
    import uvicorn

    monkeypatch.setenv("CDS_SQLITE_PATH", str(tmp_path / "serve" / "cds.sqlite3"))
    # Production refuses to start without trusted clients and a database URL (tests/test_configuration.py).
    monkeypatch.setenv("CDS_PROFILE", "development")
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: calls.append({"app": app, **kwargs}))
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    return calls


def test_serve_runs_uvicorn_with_host_port_and_workers_from_settings(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, uvicorn_calls: list[dict[str, Any]]
) -> None:
    monkeypatch.setenv("CDS_HOST", "0.0.0.0")
    monkeypatch.setenv("CDS_PORT", "9123")
    monkeypatch.setenv("CDS_WORKERS", "3")
    monkeypatch.setenv("CDS_LOG_LEVEL", "WARNING")
    assert run(capsys, "serve")[0] == 0
    (call,) = uvicorn_calls
    assert call["app"] == "service.app:app"  # an import string: required for several workers
    assert (call["host"], call["port"], call["workers"]) == ("0.0.0.0", 9123, 3)
    assert call["log_level"] == "warning"
    assert call["access_log"] is False
    # Workers still importing on a busy node must not be killed as hung (uvicorn's default is 5 s).
    assert call["timeout_worker_healthcheck"] >= 30
    # The parser that enforces a request-head size limit, and the limit (issue 11, finding 7).
    assert (call["http"], call["h11_max_incomplete_event_size"]) == ("h11", 32 * 1024)
    assert call["timeout_keep_alive"] == 5


def test_serve_flags_override_settings(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, uvicorn_calls: list[dict[str, Any]]
) -> None:
    monkeypatch.setenv("CDS_WORKERS", "3")
    assert (
        run(capsys, "serve", "--host", "127.0.0.2", "--port", "9200", "--workers", "1", "--access-log")[0]
        == 0
    )
    (call,) = uvicorn_calls
    assert (call["host"], call["port"], call["workers"], call["access_log"]) == ("127.0.0.2", 9200, 1, True)


def _tables(path: Path) -> set[str]:
    with sqlite3.connect(path) as connection:
        return {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def test_serve_creates_the_tables_before_several_workers_start(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import uvicorn

    database = tmp_path / "db" / "cds.sqlite3"
    monkeypatch.setenv("CDS_SQLITE_PATH", str(database))
    monkeypatch.setenv("CDS_PROFILE", "development")
    tables_when_workers_start: list[set[str]] = []
    monkeypatch.setattr(
        uvicorn, "run", lambda app, **kwargs: tables_when_workers_start.append(_tables(database))
    )
    assert run(capsys, "serve", "--workers", "2")[0] == 0
    assert tables_when_workers_start == [
        {"alembic_version", "feedback", "issued_cards", "seen_jtis", "smart_sessions"}
    ]


def test_serve_warns_of_an_unreachable_database_and_starts_the_workers_anyway(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, uvicorn_calls: list[dict[str, Any]]
) -> None:
    monkeypatch.setenv("CDS_DATABASE_URL", f"postgresql+asyncpg://cds:s3cret-pw@127.0.0.1:{free_port()}/cds")
    status, _, err = run(capsys, "serve", "--workers", "2")
    assert status == 0
    assert "immuno-cds: warning: the database is not ready (connection refused)" in err
    assert "s3cret-pw" not in err
    assert len(uvicorn_calls) == 1


def test_serve_warns_when_several_workers_have_no_metrics_directory(
    capsys: pytest.CaptureFixture[str], uvicorn_calls: list[dict[str, Any]]
) -> None:
    status, _, err = run(capsys, "serve", "--workers", "2")
    assert status == 0
    assert "PROMETHEUS_MULTIPROC_DIR is not set" in err


@pytest.mark.parametrize(
    ("env", "argv", "message"),
    [
        ({}, ["--workers", "0"], "workers must be at least 1"),
        ({"CDS_PORT": "eighty"}, [], "invalid setting CDS_PORT"),
        ({"CDS_LOG_LEVEL": "loud"}, [], "invalid setting CDS_LOG_LEVEL"),
    ],
)
def test_serve_reports_bad_settings_in_one_line_with_status_2(
    env: dict[str, str],
    argv: list[str],
    message: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    uvicorn_calls: list[dict[str, Any]],
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    status, _, err = run(capsys, "serve", *argv)
    assert status == 2
    assert message in err
    assert err.count("\n") == 1
    assert uvicorn_calls == []
