"""The burden report and a patient timeline in a real browser: headless Chromium (the distribution's
package; .ci/run installs it) loads the pages of a generated cohort, a probe script measures what was
drawn, and screenshots are kept as test artefacts in var/test-artifacts/.

Without Chromium the test skips, except under CI=true, where a missing browser is a failure.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from ops_support import REPO_ROOT
from workbench_support import small_export

from service import cli

ARTIFACTS = REPO_ROOT / "var" / "test-artifacts"
BROWSERS = ("chromium", "chromium-browser", "google-chrome")
TIMEOUT_SECONDS = 90
# Appended to a copy of a page: records each SVG's rendered size and how many of its marks have a
# non-empty bounding box, in a <pre> that --dump-dom prints.
PROBE = """<script>
const found = {};
for (const svg of document.querySelectorAll('svg')) {
  const marks = svg.querySelectorAll('rect,circle,path,polyline');
  let drawn = 0;
  for (const mark of marks) { const box = mark.getBBox(); if (box.width > 0 || box.height > 0) drawn++; }
  const box = svg.getBoundingClientRect();
  found[svg.id || svg.getAttribute('class')] = {
    width: Math.round(box.width), height: Math.round(box.height), marks: marks.length, drawn: drawn,
    classes: [...new Set([...marks].map(mark => mark.getAttribute('class')).filter(Boolean))],
  };
}
const result = document.createElement('pre');
result.id = 'probe-result';
result.textContent = JSON.stringify(found);
document.body.appendChild(result);
</script>"""


def browser() -> str:
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    message = "Chromium is not installed (apt-get install chromium); .ci/run installs it"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def chromium(binary: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            binary,
            "--headless",
            "--no-sandbox",  # CI runs as root
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            f"--user-data-dir={profile}",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_SECONDS,
        check=False,
    )


def rendered(binary: str, page: Path, profile: Path) -> dict[str, Any]:
    probe = page.with_name(page.stem + ".probe.html")
    probe.write_text(page.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"), encoding="utf-8")
    result = chromium(binary, profile, "--dump-dom", probe.as_uri())
    found = re.search(r'<pre id="probe-result">(.*?)</pre>', result.stdout, re.DOTALL)
    assert found is not None, f"no probe result from Chromium: {result.stderr[-2000:]}"
    measured: dict[str, Any] = json.loads(found.group(1))
    return measured


def screenshot(binary: str, page: Path, profile: Path, name: str, size: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    target = ARTIFACTS / name
    target.unlink(missing_ok=True)
    chromium(
        binary, profile, f"--screenshot={target}", f"--window-size={size}", "--hide-scrollbars", page.as_uri()
    )
    assert target.is_file() and target.stat().st_size > 10_000, f"no screenshot at {target}"
    return target


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    export = small_export(tmp_path_factory.mktemp("browser-export"), 40, broken=True)
    out = tmp_path_factory.mktemp("browser-report")
    argv = [
        "burden",
        str(export),
        "--out",
        str(out),
        "--from",
        "2026-10-20",
        "--to",
        "2026-11-30",
        "--validate",
        "20",
    ]
    assert cli.main(argv) == 0
    return out


def test_report_charts_render_in_chromium(report_dir: Path, tmp_path: Path) -> None:
    binary = browser()
    measured = rendered(binary, report_dir / "report.html", tmp_path / "profile")
    for chart, mark in (
        ("chart-rate-by-topic", "bar critical"),
        ("chart-by-rule", "bar episodes"),
        ("chart-cards-per-patient", "bin"),
        ("chart-over-time", "series warning"),
    ):
        found = measured[chart]
        assert found["width"] > 300 and found["height"] > 100, (chart, found)
        assert found["drawn"] == found["marks"] > 0, (chart, found)
        assert mark in found["classes"], (chart, found)
    screenshot(binary, report_dir / "report.html", tmp_path / "profile", "report.png", "1200,1600")


def test_patient_timeline_renders_in_chromium(report_dir: Path, tmp_path: Path) -> None:
    binary = browser()
    report = (report_dir / "report.html").read_text(encoding="utf-8")
    # A CAR-T patient with a critical card: every kind of mark on one page (a checkpoint-inhibitor
    # patient has no imaging windows).
    linked = [
        report_dir / link for link in re.findall(r'class="patient-link" href="(patients/[^"]+)"', report)
    ]
    assert linked, "the generated cohort has a patient with a critical card"
    pages = [page for page in linked if 'class="window' in page.read_text(encoding="utf-8")]
    assert pages, "a patient with a critical card and an imaging window"
    page = pages[0]
    timeline = rendered(binary, page, tmp_path / "profile")["timeline"]
    assert timeline["width"] == 1000 and timeline["height"] > 150
    assert timeline["drawn"] == timeline["marks"]
    for mark in ("course ongoing", "window", "card-day critical", "range"):
        assert mark in timeline["classes"], timeline["classes"]
    assert any(name.startswith("dose ") for name in timeline["classes"])
    assert any(name.startswith("mri ") for name in timeline["classes"])
    assert any(name.startswith("finding-mark ") for name in timeline["classes"])
    screenshot(binary, page, tmp_path / "profile", "timeline.png", "1100,900")


def test_report_answers_the_committee_in_chromium(report_dir: Path, tmp_path: Path) -> None:
    """The committee's parts as the browser lays them out: the units, the by-rule table, every patient
    with a card listed and linked, the histogram's left-out zero bin stated, axis titles with units and
    dates with the year, and every data problem named."""
    binary = browser()
    summary = json.loads((report_dir / "summary.json").read_text(encoding="utf-8"))
    result = chromium(binary, tmp_path / "profile", "--dump-dom", (report_dir / "report.html").as_uri())
    dom = result.stdout
    assert "cards per 100 patients per week" in dom and "cards per 100 exposed patients per week" in dom
    rules = re.search(r'<div id="rules">(.*?)</div>', dom, re.DOTALL)
    assert rules is not None
    for rule in summary["by_rule"]:
        assert f"<code>{rule}</code>" in rules.group(1)
    listed = re.search(r'<div id="patients-with-cards">(.*?)</div>', dom, re.DOTALL)
    assert listed is not None
    links = re.findall(r'class="patient-link" href="(patients/[^"]+)"', listed.group(1))
    assert len(links) == summary["patients_with_cards"]
    assert all((report_dir / link).is_file() for link in links)
    without = summary["patients"] - summary["patients_with_cards"]
    assert f"Not drawn: {without:,} patients with no card." in dom
    assert "card-days per 100 patients per week" in dom  # an axis title with its unit
    assert re.search(r">2026-1[01]-\d\d</text>", dom)  # dates on the time axis carry the year
    problems = re.search(r'<div id="data-problems">(.*?)</div>', dom, re.DOTALL)
    assert problems is not None
    for key in ("invalid_json", "wrong_file", "duplicates", "orphan_references", "encoding_errors"):
        assert f"<td>{key}</td>" in problems.group(1)
    assert "Hooks simulated besides patient-view" in dom


def test_patient_timeline_merges_runs_and_shows_what_is_behind_a_card(
    report_dir: Path, tmp_path: Path
) -> None:
    binary = browser()
    report = (report_dir / "report.html").read_text(encoding="utf-8")
    first = re.search(r'class="patient-link" href="(patients/[^"]+)"', report)
    assert first is not None
    page = report_dir / first.group(1)
    measured = rendered(binary, page, tmp_path / "profile")["timeline"]
    assert measured["drawn"] == measured["marks"]
    dom = chromium(binary, tmp_path / "profile", "--dump-dom", page.as_uri()).stdout
    assert "Repeated cards are merged into runs" in dom
    assert re.search(r"\(\d+ days\)", dom), "a run names its length"
    assert '<ul class="behind">' in dom, "the records behind a card are listed"


def test_a_run_in_a_window_is_numbered_by_the_days_after_day_zero() -> None:
    from datetime import date

    from timeline_view.render import CardRun, therapy_days

    run = CardRun(
        date(2026, 11, 29),
        date(2027, 1, 29),
        "interval-imaging",
        "car-t-late-effects",
        "info",
        "",
        "",
        ("window|car-t-late-effects|car_t|2026-10-31",),
    )
    assert therapy_days(run) == "day 29-90"
    assert run.days == 62
