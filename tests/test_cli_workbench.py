"""The reviewers' commands: `burden` on a generated export, `evaluate` on NDJSON and export folders with
its header and --html page, `request` for every fixture scenario, and the development-only clock."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import settings_for
from ops_support import REPO_ROOT, base_environment
from pydantic import ValidationError
from starlette.testclient import TestClient
from workbench_support import read_ndjson, small_export, write_ndjson

from service import cli
from service.app import create_app
from service.settings import Settings
from workbench import clinical_adapter

SCENARIOS = yaml.safe_load((REPO_ROOT / "fhir_fixtures" / "scenarios.yaml").read_text(encoding="utf-8"))[
    "scenarios"
]
FIXTURE = REPO_ROOT / "fhir_fixtures" / "scenarios" / "car-t-kymriah-procedure-ice2-critical.json"
FIXTURE_PATIENT = "cart-kymriah-02"
FIXTURE_NOW = "2026-04-02T08:45:00Z"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = cli.main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return small_export(tmp_path_factory.mktemp("export"), 12, broken=True)


@pytest.fixture(scope="module")
def burden_out(export: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("burden")
    status = cli.main(
        [
            "burden",
            str(export),
            "--out",
            str(out),
            "--from",
            "2026-11-01",
            "--to",
            "2026-11-10",
            "--validate",
            "50",
        ]
    )
    assert status == 0
    return out


# --- burden ----------------------------------------------------------------------------------------


def test_burden_writes_one_card_row_per_card_with_its_fields(burden_out: Path) -> None:
    rows = read_ndjson(burden_out / "cards.ndjson")
    assert rows
    assert {tuple(row) for row in rows} == {("patient", "date", "topic", "rule", "indicator", "summary")}
    assert {row["date"] for row in rows} <= {f"2026-11-{day:02d}" for day in range(1, 11)}
    assert {row["indicator"] for row in rows} <= {"info", "warning", "critical"}


def test_burden_summary_counts_match_the_card_rows(burden_out: Path) -> None:
    summary = json.loads((burden_out / "summary.json").read_text(encoding="utf-8"))
    rows = read_ndjson(burden_out / "cards.ndjson")
    assert summary["patients"] == 12
    assert summary["days"] == 10
    assert summary["patient_days"] == 120
    assert summary["cards"] == len(rows)
    assert sum(summary["cards_by_topic"].values()) == len(rows)
    assert summary["cards_per_1000_patient_days"] == round(len(rows) * 1000 / 120, 2)
    critical = {row["patient"] for row in rows if row["indicator"] == "critical"}
    assert summary["patients_with_critical_card"] == len(critical)


COMMITTEE_KEYS = {
    "patients",
    "exposed_patients",
    "patients_with_cards",
    "patients_with_critical_cards",
    "card_days",
    "episodes",
    "cards_per_100_patients_per_week",
    "by_rule",
    "order_time_cards",
    "data_quality",
}
DATA_QUALITY_KEYS = {
    "invalid_json",
    "missing_resource_type",
    "wrong_file",
    "duplicates",
    "orphan_references",
    "orphan_patient_ids",
    "undated",
    "unparseable_dates",
    "unrecognised_therapy_codes",
    "unrecognised_therapy_codes_most_frequent",
    "encoding_errors",
    "oversized_lines",
    "skipped_files",
}


def test_burden_summary_answers_the_committee_in_its_units(burden_out: Path) -> None:
    summary = json.loads((burden_out / "summary.json").read_text(encoding="utf-8"))
    rows = read_ndjson(burden_out / "cards.ndjson")
    assert summary.keys() >= COMMITTEE_KEYS
    assert summary["data_quality"].keys() >= DATA_QUALITY_KEYS
    assert summary["card_days"] == len(rows)
    assert summary["cards_per_100_patients_per_week"] == round(len(rows) * 700 / (12 * 10), 2)
    assert summary["patients_with_cards"] == len({row["patient"] for row in rows})
    assert 0 < summary["episodes"] <= summary["card_days"]
    assert all(row["rule"] for row in rows)
    by_rule = summary["by_rule"]
    assert set(by_rule) == {row["rule"] for row in rows}
    assert sum(counts["card_days"] for counts in by_rule.values()) == len(rows)
    for rule, counts in by_rule.items():
        assert counts["patients"] == len({row["patient"] for row in rows if row["rule"] == rule})
        assert counts["patients"] <= counts["episodes"] <= counts["card_days"]
    assert isinstance(summary["order_time_cards"], int)
    assert summary["order_time"]["hooks_simulated"] == ["order-select"]
    assert summary["data_quality"]["invalid_json"] == summary["skipped_resources"].get("invalid-json", 0)


@pytest.mark.parametrize(
    ("days", "topic_days", "episodes"),
    [
        ("one day", ["2026-11-01"], 1),
        ("consecutive days are one episode", ["2026-11-01", "2026-11-02", "2026-11-03"], 1),
        ("a gap starts a new episode", ["2026-11-01", "2026-11-02", "2026-11-05"], 2),
    ],
)
def test_episodes_count_consecutive_days_of_a_topic_once(
    days: str, topic_days: list[str], episodes: int
) -> None:
    from workbench.burden import CardRow
    from workbench.summary import episodes_of

    rows = [CardRow("p", day, "interval-imaging", "car-t-late-effects", "info", "") for day in topic_days]
    assert episodes_of(rows, "topic") == {"interval-imaging": episodes}, days


def test_burden_simulates_order_select_when_a_checkpoint_inhibitor_is_ordered(tmp_path: Path) -> None:
    export = small_export(tmp_path / "export", 30)
    out = tmp_path / "out"
    argv = ["burden", str(export), "--out", str(out), "--from", "2026-09-01", "--to", "2026-12-31"]
    assert cli.main([*argv, "--validate", "0"]) == 0
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    order_rows = read_ndjson(out / "order_cards.ndjson")
    assert summary["order_time_cards"] == len(order_rows) > 0
    assert {row["rule"] for row in order_rows} >= {"baseline-ici"}
    shown = {(row["patient"], row["date"], row["rule"]) for row in read_ndjson(out / "cards.ndjson")}
    assert not any((row["patient"], row["date"], row["rule"]) in shown for row in order_rows)


def test_burden_summary_counts_unreadable_resources_by_reason(burden_out: Path) -> None:
    summary = json.loads((burden_out / "summary.json").read_text(encoding="utf-8"))
    # bench/cohort.py breaks one resource in 400: garbage lines, numeric ids, unparseable dates.
    assert summary["skipped_resources"]
    assert set(summary["skipped_resources"]) <= {"invalid-json", "invalid-id"}
    assert summary["data_quality"]["skipped_resources_total"] == sum(summary["skipped_resources"].values())
    assert "fhir_validation" in summary


def test_burden_writes_a_self_contained_report_and_a_timeline_per_patient(burden_out: Path) -> None:
    report = (burden_out / "report.html").read_text(encoding="utf-8")
    for chart in ("chart-rate-by-topic", "chart-cards-per-patient", "chart-over-time"):
        assert f'id="{chart}"' in report
    assert "Data quality" in report
    pages = sorted((burden_out / "patients").glob("*.html"))
    assert len(pages) == 12
    for page in [burden_out / "report.html", *pages]:
        text = page.read_text(encoding="utf-8")
        assert "<script" not in text
        # No resource loaded from anywhere: no src attributes, stylesheet inline, favicon a data: URL.
        assert not re.search(r"\ssrc=", text)
        assert not re.search(r"<link[^>]+href=\"(?!data:)", text)
    for link in re.findall(r'href="(patients/[^"]+)"', report):
        assert (burden_out / link).is_file()


def test_burden_with_two_workers_writes_the_same_cards(
    export: Path, burden_out: Path, tmp_path: Path
) -> None:
    status = cli.main(
        [
            "burden",
            str(export),
            "--out",
            str(tmp_path),
            "--from",
            "2026-11-01",
            "--to",
            "2026-11-10",
            "--workers",
            "2",
            "--validate",
            "0",
        ]
    )
    assert status == 0
    assert (tmp_path / "cards.ndjson").read_bytes() == (burden_out / "cards.ndjson").read_bytes()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--now", "2026-11-01", "--from", "2026-11-01", "--to", "2026-11-02"], "give --now or --from/--to"),
        (["--from", "2026-11-01"], "--from and --to go together"),
        (["--from", "2026-11-05", "--to", "2026-11-01"], "is before --from"),
        (["--now", "01.11.2026"], "is not an ISO 8601 date"),
    ],
)
def test_burden_refuses_bad_ranges_in_one_line(
    argv: list[str], message: str, export: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, _, err = run(capsys, "burden", str(export), "--out", str(tmp_path / "o"), *argv)
    assert status == 2
    assert message in err
    assert err.count("\n") == 1


def test_burden_counts_a_patient_whose_evaluation_fails_and_exits_1(
    export: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    real = clinical_adapter.patient_facts

    def failing_for_one(evaluator: Any, record: Any, draft_orders: Any, today: Any) -> Any:
        if record.patient_id == "cohort-00003":
            raise KeyError("a bug meeting bad data")
        return real(evaluator, record, draft_orders, today)

    monkeypatch.setattr(clinical_adapter, "patient_facts", failing_for_one)
    status, _, err = run(
        capsys, "burden", str(export), "--out", str(tmp_path), "--now", "2026-11-05", "--validate", "0"
    )
    assert status == 1
    assert "1 patient(s) could not be evaluated" in err
    summary = json.loads((tmp_path / "summary.json").read_text(encoding="utf-8"))
    assert summary["evaluation_errors"] == {"KeyError": 1}
    assert summary["patients"] == 12
    assert "cohort-00003" not in {row["patient"] for row in read_ndjson(tmp_path / "cards.ndjson")}
    assert "Patients whose evaluation failed" in (tmp_path / "report.html").read_text(encoding="utf-8")


def test_burden_fails_when_the_export_holds_no_usable_patient(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    garbage = write_ndjson(
        tmp_path / "Observation.ndjson", [b"not json", {"resourceType": "Observation", "id": 3}]
    )
    status, out, err = run(
        capsys, "burden", str(garbage), "--out", str(tmp_path / "o"), "--now", "2026-11-01"
    )
    assert status == 2
    assert out == ""
    assert "holds no usable patient" in err
    assert "2 resources could not be read (1 invalid-json, 1 invalid-id)" in err
    assert not (tmp_path / "o").exists()


# --- evaluate --------------------------------------------------------------------------------------


def test_evaluate_reads_an_ndjson_file_and_an_export_folder_alike(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = json.loads(FIXTURE.read_text(encoding="utf-8"))
    resources = [entry["resource"] for entry in bundle["entry"]]
    ndjson = write_ndjson(tmp_path / "patient.ndjson", resources)
    folder = tmp_path / "export"
    folder.mkdir()
    for resource in resources:
        with (folder / f"{resource['resourceType']}.ndjson").open("a", encoding="utf-8") as stream:
            stream.write(json.dumps(resource) + "\n")
    answers = []
    for source in (FIXTURE, ndjson, folder):
        status, out, err = run(capsys, "evaluate", str(source), "--now", FIXTURE_NOW, "--format", "json")
        assert status == 0, err
        answers.append(
            [(c["source"]["topic"]["code"], c["indicator"], c["summary"]) for c in json.loads(out)["cards"]]
        )
    assert answers[0] == answers[1] == answers[2]
    assert ("possible-neurotoxicity", "critical") in {
        (topic, indicator) for topic, indicator, _ in answers[0]
    }


def test_evaluate_text_starts_with_patient_hook_and_date(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    status, out, _ = run(capsys, "evaluate", str(FIXTURE), "--now", FIXTURE_NOW)
    assert status == 0
    first = out.splitlines()[0]
    assert first == f"Patient {FIXTURE_PATIENT}  Hook patient-view  Date 2026-04-02T08:45+00:00"


def test_evaluate_never_breaks_a_link_inside_its_url(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "60")
    status, out, _ = run(capsys, "evaluate", str(FIXTURE), "--now", FIXTURE_NOW)
    assert status == 0
    links = [line for line in out.splitlines() if line.startswith("  Link: ")]
    assert links
    for line in links:
        assert re.search(r"https?://\S+$", line), line


def test_evaluate_warns_about_resources_it_could_not_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    bundle = json.loads(FIXTURE.read_text(encoding="utf-8"))
    lines: list[object] = [entry["resource"] for entry in bundle["entry"]]
    lines += [
        b"{garbage",
        {"resourceType": "Condition", "id": 5, "subject": {"reference": f"Patient/{FIXTURE_PATIENT}"}},
    ]
    status, out, _ = run(
        capsys, "evaluate", str(write_ndjson(tmp_path / "p.ndjson", lines)), "--now", FIXTURE_NOW
    )
    assert status == 0
    assert "Warning: 2 resources could not be read (1 invalid-json, 1 invalid-id)" in out
    status, out, err = run(
        capsys, "evaluate", str(tmp_path / "p.ndjson"), "--now", FIXTURE_NOW, "--format", "json"
    )
    assert status == 0
    assert list(json.loads(out)) == ["cards"]
    assert err == "immuno-cds: warning: 2 resources could not be read (1 invalid-json, 1 invalid-id)\n"


def test_evaluate_never_says_just_no_cards_when_resources_were_unreadable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    patient = {"resourceType": "Patient", "id": "p1"}
    lines: list[object] = [patient, b"{garbage", b"\x00\x01", {"resourceType": "MedicationRequest", "id": 1}]
    status, out, _ = run(
        capsys, "evaluate", str(write_ndjson(tmp_path / "p.ndjson", lines)), "--now", "2026-11-01"
    )
    assert status == 0
    assert "No cards." not in out
    assert "No cards from what could be read (3 resources could not be read)." in out


def test_evaluate_suggests_the_ndjson_name_for_ndjson_saved_as_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_ndjson(tmp_path / "export.json", [{"resourceType": "Patient", "id": "p1"}] * 2)
    status, _, err = run(capsys, "evaluate", str(path))
    assert status == 2
    assert "one resource per line is NDJSON: name the file .ndjson" in err


def test_evaluate_html_writes_the_timeline_page(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    page = tmp_path / "timeline.html"
    status, _, err = run(capsys, "evaluate", str(FIXTURE), "--now", FIXTURE_NOW, "--html", str(page))
    assert status == 0, err
    html = page.read_text(encoding="utf-8")
    assert '<svg class="timeline"' in html
    assert 'class="therapy car_t"' in html
    assert 'class="card-day critical"' in html
    assert "ICE score 2/10" in html


def test_evaluate_requires_a_choice_among_several_patients(
    export: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, _, err = run(capsys, "evaluate", str(export))
    assert status == 2
    assert "holds 12 patients (cohort-00000, " in err
    assert "pass --patient-id" in err


# --- request and the pinned clock -------------------------------------------------------------------


# A day far from every scenario's own: moving a scenario there must keep every card.
MOVED_TO = date(2027, 9, 14)


def _moved_now(scenario: dict[str, Any]) -> str:
    moment = datetime.fromisoformat(str(scenario["now"]))
    return datetime.combine(MOVED_TO, moment.timetz()).isoformat()


class SettableClock:
    """The service's clock, moved by each test (one service for the module: loading the knowledge per
    scenario would cost more than the scenarios)."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(scope="module")
def pinned_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, SettableClock]]:
    clock = SettableClock()
    settings = settings_for(tmp_path_factory.mktemp("pinned") / "db.sqlite3")
    with TestClient(create_app(settings, clock=clock)) as client:
        yield client, clock


@pytest.mark.parametrize("on_date", ["scenario", MOVED_TO.isoformat()], ids=["as-dated", "moved"])
@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s["name"] for s in SCENARIOS])
def test_request_gives_each_scenario_its_expected_cards_on_a_service_with_a_pinned_clock(
    scenario: dict[str, Any],
    on_date: str,
    capsys: pytest.CaptureFixture[str],
    pinned_service: tuple[TestClient, SettableClock],
) -> None:
    status, out, err = run(capsys, "request", scenario["name"], "--on-date", on_date)
    assert status == 0, err
    body = json.loads(out)
    assert body["hook"] == scenario["hook"]
    if on_date == "scenario":
        assert f"CDS_FIXED_NOW={scenario['now']}" in err
        clock = scenario["now"]
    else:
        assert f"falls on {on_date}" in err
        clock = _moved_now(scenario)
    client, service_clock = pinned_service
    moment = datetime.fromisoformat(str(clock))
    service_clock.now = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    service = re.search(r"/cds-services/(\S+?);", err)
    assert service is not None
    response = client.post(f"/cds-services/{service.group(1)}", json=body)
    assert response.status_code == 200, response.text
    topics = sorted(card["source"]["topic"]["code"] for card in response.json()["cards"])
    assert topics == sorted(scenario["expected_topics"])


def test_request_reads_a_fixture_file_too(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "request", str(FIXTURE), "--hook", "patient-view")
    assert status == 0
    body = json.loads(out)
    assert body["context"] == {"userId": "Practitioner/example", "patientId": FIXTURE_PATIENT}
    assert body["prefetch"]["patient"]["id"] == FIXTURE_PATIENT


def test_request_refuses_an_unknown_fixture(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(capsys, "request", "no-such-scenario")
    assert status == 2
    assert out == ""
    assert "no such file, and no scenario of that name" in err


def test_fixed_now_pins_the_clock_in_development() -> None:
    settings = Settings(profile="development", fixed_now="2026-03-12T14:20:00")  # type: ignore[arg-type]
    assert settings.fixed_now == datetime(2026, 3, 12, 14, 20, tzinfo=UTC)
    assert create_app(settings).state.clock() == datetime(2026, 3, 12, 14, 20, tzinfo=UTC)


def test_fixed_now_is_refused_in_production() -> None:
    with pytest.raises(ValidationError, match="development only"):
        Settings(profile="production", fixed_now="2026-03-12T14:20:00Z")  # type: ignore[arg-type]


def test_serve_refuses_to_start_production_with_a_fixed_clock() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "service.cli", "serve"],
        capture_output=True,
        text=True,
        timeout=60,
        env=base_environment(CDS_FIXED_NOW="2026-03-12T14:20:00Z"),
        check=False,
    )
    assert result.returncode == 2
    assert "invalid setting CDS_FIXED_NOW" in result.stderr
    assert "development only" in result.stderr


# --- start-up ---------------------------------------------------------------------------------------


def test_help_imports_nothing_heavy() -> None:
    """`immuno-cds --help` must answer at once: building the parser imports no framework, database,
    clinical core or validation library."""
    probe = (
        "import sys; from service.cli import build_parser; build_parser(); "
        "heavy = ('clinical', 'fastapi', 'starlette', 'sqlalchemy', 'pydantic', 'rich', 'uvicorn', 'fhir', "
        "'yaml'); "
        "print(sorted({m.split('.')[0] for m in sys.modules} & set(heavy)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "[]"


def test_burden_writes_one_page_per_patient_when_an_id_is_another_ids_old_page_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Issue 17 item 9: "a b" is no file-safe id, so its page was once named patient-<hash of "a b">,
    # which is itself a valid id: the second patient's page overwrote the first's.
    unsafe = "a b"
    look_alike = "patient-" + hashlib.sha256(unsafe.encode()).hexdigest()[:16]
    resources: list[object] = []
    for patient_id in (unsafe, look_alike):
        resources.append({"resourceType": "Patient", "id": patient_id})
        resources.append(
            {
                "resourceType": "Condition",
                "id": f"c-{len(resources)}",
                "subject": {"reference": f"Patient/{patient_id}"},
                "code": {"text": "Diffuse large B-cell lymphoma"},
                "onsetDateTime": "2026-01-02",
            }
        )
    export = write_ndjson(tmp_path / "cohort.ndjson", resources)
    status, _, err = run(
        capsys,
        "burden",
        str(export),
        "--out",
        str(tmp_path / "out"),
        "--now",
        "2026-11-05",
        "--validate",
        "0",
    )
    assert status == 0, err
    pages = sorted((tmp_path / "out" / "patients").glob("*.html"))
    assert len(pages) == 2
    summary = json.loads((tmp_path / "out" / "summary.json").read_text(encoding="utf-8"))
    assert summary["patients"] == 2


def test_burden_leaves_orphans_out_of_the_denominator_and_flags_their_timeline(tmp_path: Path) -> None:
    export = small_export(tmp_path / "export", 3)
    patients = (export / "Patient.ndjson").read_text(encoding="utf-8").splitlines()
    (export / "Patient.ndjson").write_text("\n".join(patients[1:]) + "\n", encoding="utf-8")
    orphan = json.loads(patients[0])["id"]
    out = tmp_path / "out"
    argv = ["burden", str(export), "--out", str(out), "--from", "2026-11-01", "--to", "2026-11-03"]
    assert cli.main([*argv, "--validate", "0"]) == 0
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["patients"] == 2
    assert summary["data_quality"]["orphan_patient_ids"] == 1
    assert summary["data_quality"]["orphan_references"] > 0
    assert orphan not in {row["patient"] for row in read_ndjson(out / "cards.ndjson")}
    (line,) = [line for line in read_ndjson(out / "patients.ndjson") if line["patient"] == orphan]
    assert line["orphan"] is True
    assert 'id="orphan"' in (out / line["page"]).read_text(encoding="utf-8")


def test_burden_shards_merge_into_the_same_results_as_one_run(
    export: Path, burden_out: Path, tmp_path: Path
) -> None:
    shard_dirs = []
    for shard in ("2/3", "1/3", "3/3"):
        out = tmp_path / f"shard-{shard[0]}"
        argv = ["burden", str(export), "--out", str(out), "--from", "2026-11-01", "--to", "2026-11-10"]
        assert cli.main([*argv, "--validate", "50", "--shard", shard, "--partitions", "2"]) == 0
        shard_dirs.append(str(out))
    merged = tmp_path / "merged"
    assert cli.main(["burden-merge", *shard_dirs, "--out", str(merged)]) == 0
    assert (merged / "cards.ndjson").read_bytes() == (burden_out / "cards.ndjson").read_bytes()
    assert json.loads((merged / "summary.json").read_text(encoding="utf-8")) == json.loads(
        (burden_out / "summary.json").read_text(encoding="utf-8")
    )
    assert (merged / "report.html").read_bytes() == (burden_out / "report.html").read_bytes()
    assert sorted(path.name for path in (merged / "patients").iterdir()) == sorted(
        path.name for path in (burden_out / "patients").iterdir()
    )


def test_burden_merge_refuses_shards_that_do_not_cover_the_cohort(
    export: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "shard-1"
    argv = ["burden", str(export), "--out", str(out), "--from", "2026-11-01", "--to", "2026-11-02"]
    assert cli.main([*argv, "--validate", "0", "--shard", "1/2"]) == 0
    status, _, err = run(capsys, "burden-merge", str(out), "--out", str(tmp_path / "merged"))
    assert status == 2
    assert "do not cover 1/2 to 2/2" in err


def test_burden_partitions_on_disk_give_the_same_cards(
    export: Path, burden_out: Path, tmp_path: Path
) -> None:
    argv = ["burden", str(export), "--out", str(tmp_path), "--from", "2026-11-01", "--to", "2026-11-10"]
    assert cli.main([*argv, "--validate", "0", "--partitions", "5"]) == 0
    assert (tmp_path / "cards.ndjson").read_bytes() == (burden_out / "cards.ndjson").read_bytes()
