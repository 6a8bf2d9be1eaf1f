"""Helpers for the workbench tests: small generated cohorts written as Bulk Data exports."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.cohort import write_export


def small_export(folder: Path, patients: int, *, broken: bool = False) -> Path:
    write_export(folder, patients, broken=broken)
    return folder


def read_ndjson(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def write_ndjson(path: Path, lines: list[object]) -> Path:
    """Each item is a JSON value, or bytes written as they are (garbage lines)."""
    with path.open("wb") as stream:
        for line in lines:
            stream.write(line if isinstance(line, bytes) else json.dumps(line).encode())
            stream.write(b"\n")
    return path
