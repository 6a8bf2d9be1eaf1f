"""The burden report and the timeline pages in German (the German hospitals review): each language has
every word (timeline_view/words.py), and a report run with `--language de` shows no English heading,
table head, axis title, lane name, data-quality text or ISO date."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from workbench_support import small_export

from service import cli
from timeline_view.words import LANGUAGES, placeholders, words_for

ENGLISH = LANGUAGES["en"]


@pytest.mark.parametrize("language", sorted(LANGUAGES))
def test_each_language_has_every_word_with_the_same_placeholders(language: str) -> None:
    texts = LANGUAGES[language]
    assert set(texts) == set(ENGLISH)
    assert {key: placeholders(text) for key, text in texts.items()} == {
        key: placeholders(text) for key, text in ENGLISH.items()
    }


# (language, date, written)
DATES = [
    ("en", "2026-12-04", "2026-12-04"),
    ("de", "2026-12-04", "04.12.2026"),
    ("fr", "2026-12-04", "2026-12-04"),
]


@pytest.mark.parametrize(("language", "iso", "written"), DATES)
def test_a_date_is_written_as_the_language_writes_it(language: str, iso: str, written: str) -> None:
    from datetime import date

    assert words_for(language).day(date.fromisoformat(iso)) == written


class _Labels(HTMLParser):
    """The texts a reader sees as labels: headings, table heads, SVG texts (lanes, axis titles)."""

    LABELS = frozenset(("h1", "h2", "h3", "h4", "th", "text", "title"))

    def __init__(self) -> None:
        super().__init__()
        self.open: list[str] = []
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in self.open:
            while self.open and self.open.pop() != tag:
                pass

    def handle_data(self, data: str) -> None:
        if self.open and self.open[-1] in self.LABELS and data.strip():
            self.found.append(data.strip())


def labels(page: Path) -> list[str]:
    parser = _Labels()
    parser.feed(page.read_text(encoding="utf-8"))
    return parser.found


# English labels that must not appear on a German page (headings, table heads, lane and axis names).
ENGLISH_LABELS = {
    ENGLISH[key]
    for key in ENGLISH
    if key.startswith(("heading.", "head.", "lane.", "chart.", "report.heading", "cards.heading", "undated."))
    and "{" not in ENGLISH[key]
    and ENGLISH[key] not in ("Patient", "Element", "Problem", "Code", "System")  # the same word in German
}


@pytest.fixture(scope="module")
def german_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    export = small_export(tmp_path_factory.mktemp("german-export"), 30, broken=True)
    out = tmp_path_factory.mktemp("german-report")
    argv = ["burden", str(export), "--out", str(out), "--from", "2026-10-20", "--to", "2026-11-10"]
    assert cli.main([*argv, "--language", "de"]) == 0
    return out


def test_a_german_report_has_no_english_heading(german_run: Path) -> None:
    report = german_run / "report.html"
    found = labels(report)
    assert "Kartenlast" in found and "Datenqualität" in found
    assert not ENGLISH_LABELS & set(found), ENGLISH_LABELS & set(found)
    text = report.read_text(encoding="utf-8")
    assert '<html lang="de">' in text
    assert "20.10.2026 bis 10.11.2026" in text
    assert "Lines that are not JSON" not in text and "Zeilen, die kein JSON sind" in text


def test_a_german_timeline_page_has_no_english_lane_or_heading(german_run: Path) -> None:
    pages = sorted((german_run / "patients").glob("*.html"))
    assert pages
    for page in pages[:5]:
        found = labels(page)
        assert "Neurologische Befunde" in found and "MRT des Schädels" in found
        assert not ENGLISH_LABELS & set(found), (page.name, ENGLISH_LABELS & set(found))
        assert not re.search(r"<title>\d{4}-\d{2}-\d{2}", page.read_text(encoding="utf-8"))
    texts = " ".join(" ".join(labels(page)) for page in pages)
    assert (
        "CAR-T cell therapy" not in texts
        and "Immune checkpoint inhibitor" not in texts
        and "ICE score" not in texts
    )


def test_the_english_report_is_unchanged_by_the_words(tmp_path: Path) -> None:
    export = small_export(tmp_path / "export", 10)
    out = tmp_path / "report"
    assert (
        cli.main(["burden", str(export), "--out", str(out), "--from", "2026-10-20", "--to", "2026-10-27"])
        == 0
    )
    found = labels(out / "report.html")
    assert "Alert burden" in found and "Data quality" in found and "Kartenlast" not in found


def test_evaluate_html_in_german_writes_a_german_timeline(tmp_path: Path) -> None:
    from ops_support import REPO_ROOT

    bundle = REPO_ROOT / "fhir_fixtures" / "scenarios" / "car-t-kymriah-procedure-ice2-critical.json"
    page = tmp_path / "timeline.html"
    argv = ["evaluate", str(bundle), "--now", "2026-04-02T08:45:00Z", "--language", "de", "--html", str(page)]
    assert cli.main([*argv, "--format", "json"]) == 0
    found = labels(page)
    assert "Zeitstrahl: Patient" in " ".join(found) and "CAR-T-Zelltherapie" in found
    assert '<html lang="de">' in page.read_text(encoding="utf-8")
