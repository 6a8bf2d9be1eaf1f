"""Every link and every named section in the project resolves.

- Markdown (README.md, docs/*.md, deploy/**/*.md and the top-level guides): each relative link names a
  file or folder that exists, and each `#anchor` (in the same page or another) names a heading there
  (GitHub's anchors: lower case, punctuation dropped, spaces to hyphens).
- Code and deployment files (*.py, *.yaml, Dockerfile, Makefile): each `(docs/<page>.md, "Section")`
  names an existing page with that heading, and each docs/<page>.md they mention exists.
- The documentation names review rounds, not the internal tracker's issue numbers ("issue 16"), which mean
  nothing to a hospital reading it.

    python tools/check_references.py     exit 1 and one line per broken reference

`make lint` runs it; tests/test_references.py runs it too.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MARKDOWN_GLOBS = ("*.md", "docs/**/*.md", "deploy/**/*.md", "fhir_fixtures/**/*.md", "bench/**/*.md")
CODE_GLOBS = (
    "service/**/*.py",
    "clinical/**/*.py",
    "workbench/**/*.py",
    "timeline_view/**/*.py",
    "bench/**/*.py",
    "tools/**/*.py",
    "deploy/**/*.yaml",
)
CODE_FILES = ("Dockerfile", "Makefile", ".ci/run")
# [text](target) and [text]: target, not images' data URIs or web addresses.
_LINK = re.compile(r"(?<!\\)\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
_FENCE = re.compile(r"^(```|~~~)")
_HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$")
_NAMED_SECTION = re.compile(r"\((README|docs/[\w./-]+\.md),\s*\"([^\"]+)\"\)")
_DOCS_PAGE = re.compile(r"(?<![\w/])(docs/[\w./-]+\.md)")


def _text_outside_code(path: Path) -> Iterator[tuple[int, str]]:
    fenced = False
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if _FENCE.match(line.strip()):
            fenced = not fenced
            continue
        if not fenced:
            yield number, re.sub(r"`[^`]*`", "", line)


def anchor_of(heading: str) -> str:
    text = re.sub(r"`|\*\*|__|\[([^\]]*)\]\([^)]*\)", r"\1", heading).strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def headings(path: Path) -> list[str]:
    found = []
    for _, line in _text_outside_code(path):
        match = _HEADING.match(line)
        if match:
            found.append(match.group(1))
    return found


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    result = set()
    for heading in headings(path):
        anchor = anchor_of(heading)
        count = seen.get(anchor, 0)
        result.add(anchor if count == 0 else f"{anchor}-{count}")
        seen[anchor] = count + 1
    return result


def _markdown_files() -> list[Path]:
    files = {path for pattern in MARKDOWN_GLOBS for path in ROOT.glob(pattern)}
    return sorted(path for path in files if ".venv" not in path.parts and "node_modules" not in path.parts)


def _broken_link(page: Path, target: str) -> str | None:
    if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto:, data:
        return None
    file_part, _, anchor = target.partition("#")
    destination = (page.parent / file_part).resolve() if file_part else page
    if not destination.exists():
        return f"{file_part} does not exist"
    if anchor and destination.suffix == ".md" and anchor not in anchors(destination):
        return f"#{anchor} is no heading of {destination.relative_to(ROOT)}"
    return None


def markdown_problems() -> Iterator[str]:
    for page in _markdown_files():
        for number, line in _text_outside_code(page):
            for match in _LINK.finditer(line):
                problem = _broken_link(page, match.group(1))
                if problem:
                    yield f"{page.relative_to(ROOT)}:{number}: link {match.group(1)}: {problem}"


def _code_files() -> list[Path]:
    files = {path for pattern in CODE_GLOBS for path in ROOT.glob(pattern)}
    files.update(ROOT / name for name in CODE_FILES if (ROOT / name).exists())
    return sorted(files)


def code_problems() -> Iterator[str]:
    for path in _code_files():
        text = path.read_text(encoding="utf-8")
        for number, line in enumerate(text.splitlines(), start=1):
            where = f"{path.relative_to(ROOT)}:{number}"
            for match in _NAMED_SECTION.finditer(line):
                page = ROOT / ("README.md" if match.group(1) == "README" else match.group(1))
                if not page.exists():
                    yield f"{where}: {match.group(1)} does not exist"
                elif match.group(2) not in headings(page):
                    yield f"{where}: {match.group(1)} has no section {match.group(2)!r}"
            for match in _DOCS_PAGE.finditer(line):
                if not (ROOT / match.group(1)).exists():
                    yield f"{where}: {match.group(1)} does not exist"


_ISSUE_NUMBER = re.compile(r"\b[Ii]ssues? #?\d+")


def issue_number_problems() -> Iterator[str]:
    for page in _markdown_files():
        for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), start=1):
            match = _ISSUE_NUMBER.search(line)
            if match:
                where = f"{page.relative_to(ROOT)}:{number}"
                yield f"{where}: names an internal tracker issue ({match.group(0)!r})"


def main() -> int:
    problems = [*markdown_problems(), *code_problems(), *issue_number_problems()]
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
