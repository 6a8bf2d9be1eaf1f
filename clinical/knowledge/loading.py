"""Reading a knowledge or card file and validating it against its declared schema."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)

# libyaml's safe loader reads the knowledge files about 15x faster than the pure-Python one.
_SAFE_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class KnowledgeError(ValueError):
    """A knowledge or card file is missing, unreadable, or does not follow its schema."""


def load_yaml(path: Path) -> dict[str, Any]:
    try:
        with path.open(encoding="utf-8") as handle:
            loaded = yaml.load(handle, Loader=_SAFE_LOADER)  # noqa: S506 (a safe loader)
    except (OSError, yaml.YAMLError) as error:
        raise KnowledgeError(f"cannot read {path}: {error}") from error
    if not isinstance(loaded, dict):
        raise KnowledgeError(f"{path} must hold a mapping at the top level")
    return loaded


def _key_path(location: tuple[int | str, ...]) -> str:
    path = ""
    for step in location:
        path += f"[{step}]" if isinstance(step, int) else (f".{step}" if path else str(step))
    return path or "(top level)"


def describe(error: ValidationError, path: Path, data: dict[str, Any]) -> str:
    """One line per problem: the file, the key path (with the entry's id where it has one), what is
    wrong and, for enumerations, the allowed values (pydantic names them in its message)."""
    lines = []
    for problem in error.errors():
        location = problem["loc"]
        where = _key_path(location)
        entry_id = _entry_id(data, location)
        if entry_id:
            where += f" (id {entry_id})"
        given = problem.get("input")
        shown = f"; found {given!r}" if isinstance(given, str | int | float | bool) else ""
        lines.append(f"{path}: {where}: {problem['msg']}{shown}")
    return "\n".join(lines)


def _entry_id(data: Any, location: tuple[int | str, ...]) -> str | None:
    found: str | None = None
    current = data
    for step in location:
        if isinstance(current, dict) and isinstance(step, str):
            current = current.get(step)
        elif isinstance(current, list) and isinstance(step, int) and 0 <= step < len(current):
            current = current[step]
        else:
            break
        if isinstance(current, dict) and isinstance(current.get("id"), str):
            found = current["id"]
    return found


def load_model(path: Path, model: type[M]) -> M:
    data = load_yaml(path)
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise KnowledgeError(describe(error, path, data)) from None
