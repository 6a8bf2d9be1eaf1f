"""The README's first commands, as a new user runs them on a fresh clone: the service on its real clock,
a scenario's request (its dates moved so that its day is today) and the cards it answers; `evaluate`
of a scenario at its own moment, and a hint when a record is silent because of the date."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, date, datetime
from pathlib import Path

import httpx
import pytest
import yaml
from ops_support import CLI, REPO_ROOT, base_environment, free_port, running_service, serve_argv

from workbench.date_shift import latest_date, shift_dates

SCENARIO = "car-t-day5-new-ice6-order-select"
SCENARIOS = yaml.safe_load((REPO_ROOT / "fhir_fixtures" / "scenarios.yaml").read_text(encoding="utf-8"))
SCENARIO_NOW = datetime.fromisoformat(
    next(entry["now"] for entry in SCENARIOS["scenarios"] if entry["name"] == SCENARIO)
)


def _cli(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CLI), *argv],
        env=env or base_environment(),
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    ("text", "days", "expected"),
    [
        ("2026-03-07", 5, "2026-03-12"),
        ("2026-03-07T14:20:00Z", 30, "2026-04-06T14:20:00Z"),
        ("2026-02-27T08:00:00+01:00", 2, "2026-03-01T08:00:00+01:00"),
        ("infused on 2026-03-07, ICE 6", -7, "infused on 2026-02-28, ICE 6"),
        ("2026-13-45", 5, "2026-13-45"),
        ("MRN 12345-2026", 5, "MRN 12345-2026"),
    ],
)
def test_dates_move_by_whole_days_everywhere_they_are_written(text: str, days: int, expected: str) -> None:
    assert shift_dates({"a": [text]}, days) == {"a": [expected]}


def test_the_latest_date_of_a_record() -> None:
    resources = [{"birthDate": "1961-04-02"}, {"effectiveDateTime": "2026-03-12T14:00:00Z"}]
    assert latest_date(resources) == date(2026, 3, 12)


def test_request_moves_a_scenario_to_today_by_default() -> None:
    result = _cli("request", SCENARIO)
    assert result.returncode == 0, result.stderr
    shift = (date.today() - SCENARIO_NOW.date()).days
    assert f"moved {shift:+d} days" in result.stderr
    body = json.loads(result.stdout)
    (draft,) = body["context"]["draftOrders"]["entry"]
    authored = draft["resource"]["authoredOn"]
    assert authored.startswith(date.today().isoformat()), authored


def test_request_keeps_the_scenario_dates_when_asked() -> None:
    result = _cli("request", SCENARIO, "--on-date", "scenario")
    assert result.returncode == 0, result.stderr
    assert f"CDS_FIXED_NOW={SCENARIO_NOW.isoformat().replace('+00:00', 'Z')}" in result.stderr


def test_the_first_three_commands_show_cards_from_the_live_service(tmp_path: Path) -> None:
    """`make run`, `immuno-cds request SCENARIO > request.json`, curl: cards, on the real clock."""
    port = free_port()
    env = base_environment(
        CDS_PROFILE="development",
        CDS_ALLOW_UNAUTHENTICATED="true",
        CDS_DATA_DIR=str(tmp_path),
        CDS_LOG_LEVEL="WARNING",
    )
    request = _cli("request", SCENARIO)
    assert request.returncode == 0, request.stderr
    base_url = f"http://127.0.0.1:{port}"
    with running_service(serve_argv(port, workers=1), env, base_url, tmp_path / "service.log"):
        answer = httpx.post(
            f"{base_url}/cds-services/immunotherapy-brain-mri-order-select",
            content=request.stdout,
            headers={"Content-Type": "application/json"},
            timeout=30,
        )
    assert answer.status_code == 200, answer.text
    topics = {card["source"]["topic"]["code"] for card in answer.json()["cards"]}
    assert "possible-neurotoxicity" in topics


def test_evaluate_a_scenario_by_name_at_its_own_moment() -> None:
    result = _cli("evaluate", SCENARIO)
    assert result.returncode == 0, result.stderr
    assert SCENARIO_NOW.astimezone(UTC).date().isoformat() in result.stdout
    assert "CRITICAL" in result.stdout


def test_evaluate_of_a_stale_record_says_why_it_is_silent(tmp_path: Path) -> None:
    # A copy: the record alone, not the scenario (which would bring its draft orders and moment).
    path = tmp_path / "patient.json"
    path.write_bytes((REPO_ROOT / "fhir_fixtures" / "scenarios" / f"{SCENARIO}.json").read_bytes())
    result = _cli("evaluate", str(path), "--now", "2027-06-01")
    assert result.returncode == 0, result.stderr
    assert "No cards." in result.stdout
    assert "The record's latest date is 2026-03-12" in result.stdout
    assert "--now 2026-03-12" in result.stdout
