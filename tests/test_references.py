"""Every relative link and anchor in the documentation, and every documentation section the code names,
resolves (tools/check_references.py, also run by `make lint`)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))

import check_references  # noqa: E402


def test_every_link_and_named_section_resolves() -> None:
    assert [*check_references.markdown_problems(), *check_references.code_problems()] == []


def test_the_documentation_names_no_internal_tracker_issue() -> None:
    assert list(check_references.issue_number_problems()) == []


@pytest.mark.parametrize(
    ("line", "found"),
    [("fixed in issue 16 section 4", True), ("Issues 10 and 11", True), ("an issue with the EHR", False)],
)
def test_an_issue_number_is_recognised(line: str, found: bool) -> None:
    assert bool(check_references._ISSUE_NUMBER.search(line)) == found


@pytest.mark.parametrize(
    ("heading", "anchor"),
    [
        ("Configuration for production", "configuration-for-production"),
        ("`immuno-cds evaluate`", "immuno-cds-evaluate"),
        ("Development clock: `CDS_FIXED_NOW`", "development-clock-cds_fixed_now"),
        ("What changed from v1 and why", "what-changed-from-v1-and-why"),
    ],
)
def test_anchors_follow_the_rendered_headings(heading: str, anchor: str) -> None:
    assert check_references.anchor_of(heading) == anchor


def test_a_broken_link_and_a_missing_section_are_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "guide.md").write_text(
        "# Guide\n\n## Setup\n\n[x](missing.md) [y](#setup) [z](#nowhere)\n"
    )
    (tmp_path / "tool.py").write_text('# see (docs/guide.md, "Setup") and (docs/guide.md, "Teardown")\n')
    monkeypatch.setattr(check_references, "ROOT", tmp_path)
    monkeypatch.setattr(check_references, "CODE_GLOBS", ("*.py",))
    problems = [*check_references.markdown_problems(), *check_references.code_problems()]
    assert problems == [
        "docs/guide.md:5: link missing.md: missing.md does not exist",
        "docs/guide.md:5: link #nowhere: #nowhere is no heading of docs/guide.md",
        "tool.py:1: docs/guide.md has no section 'Teardown'",
    ]
