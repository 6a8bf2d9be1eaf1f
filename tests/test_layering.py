"""The clinical core (package `clinical`) is a pure function of FHIR JSON, knowledge and a date: it must
not import the service's HTTP, database, authentication or settings layers. `make lint` checks the same
contract with import-linter; this test keeps it inside the test run too."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

CLINICAL = Path(__file__).resolve().parent.parent / "clinical"
FORBIDDEN_ROOTS = (
    "service",
    "fastapi",
    "starlette",
    "httpx",
    "httpcore",
    "uvicorn",
    "sqlalchemy",
    "aiosqlite",
    "asyncpg",
    "jwt",
    "pydantic_settings",
    "prometheus_client",
    "structlog",
)


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


@pytest.mark.parametrize(
    "module", sorted(CLINICAL.rglob("*.py")), ids=lambda path: str(path.relative_to(CLINICAL))
)
def test_clinical_module_imports_no_service_layer(module: Path) -> None:
    offending = sorted(name for name in imported_modules(module) if name.split(".")[0] in FORBIDDEN_ROOTS)
    assert offending == [], f"{module.name} imports {offending}"


def test_the_check_would_catch_a_forbidden_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("from service.settings import Settings\nimport httpx\n", encoding="utf-8")
    assert {"service.settings", "httpx"} <= imported_modules(bad)
