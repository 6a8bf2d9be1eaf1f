"""`immuno-cds evaluate --language de` gives the same cards in German (issue 19 section 3); without the
option, English."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from service import cli
from service.settings import PROJECT_ROOT

FIXTURE = PROJECT_ROOT / "fhir_fixtures" / "scenarios" / "car-t-kymriah-procedure-ice2-critical.json"
FIXTURE_NOW = "2026-04-02T08:45:00Z"


def evaluate(capsys: pytest.CaptureFixture[str], *extra: str) -> list[dict[str, object]]:
    status = cli.main(["evaluate", str(FIXTURE), "--now", FIXTURE_NOW, "--format", "json", *extra])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    cards: list[dict[str, object]] = json.loads(captured.out)["cards"]
    return cards


def topic(card: dict[str, object]) -> object:
    source = card["source"]
    assert isinstance(source, dict)
    return source["topic"]["code"]


def test_evaluate_language_de_gives_the_same_cards_in_german(capsys: pytest.CaptureFixture[str]) -> None:
    english = evaluate(capsys)
    german = evaluate(capsys, "--language", "de")
    assert [(topic(c), c["indicator"]) for c in german] == [(topic(c), c["indicator"]) for c in english]
    (critical,) = [c for c in german if c["indicator"] == "critical"]
    assert str(critical["summary"]).startswith("Mögliches ICANS Grad 3 nach "), critical["summary"]
    assert ".2026" in str(critical["detail"])
    assert "2026-0" not in str(critical["detail"])


def test_evaluate_without_language_is_english(capsys: pytest.CaptureFixture[str]) -> None:
    (critical,) = [c for c in evaluate(capsys) if c["indicator"] == "critical"]
    assert str(critical["summary"]).startswith("Possible ICANS grade 3 after "), critical["summary"]
    assert "2026-0" in str(critical["detail"])


def test_an_unknown_language_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["evaluate", str(FIXTURE), "--language", "fr"])
    assert "invalid choice: 'fr'" in capsys.readouterr().err


def test_burden_language_de_reports_german_summaries(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out = tmp_path / "burden"
    status = cli.main(["burden", str(FIXTURE), "--out", str(out), "--now", "2026-04-02", "--language", "de"])
    assert status == 0, capsys.readouterr().err
    rows = [json.loads(line) for line in (out / "cards.ndjson").read_text(encoding="utf-8").splitlines()]
    assert [row["summary"] for row in rows if row["indicator"] == "critical"] == [
        "Mögliches ICANS Grad 3 nach Tisagenlecleucel: dringliche MRT des Schädels und neurologisches Konsil"
    ]
