"""What every command shares: the user-error exception, settings, and reading dates and JSON files."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from service.settings import Settings

PROG = "immuno-cds"
USAGE_ERROR = 2
HOOKS = ("order-select", "order-sign", "patient-view")


class CliError(Exception):
    """A user error: reported as one line, exit status 2."""


def load_settings() -> Settings:
    """The CDS_* settings, or one line naming the setting and what is wrong with it."""
    from service.configuration import ConfigurationError, read_settings

    try:
        return read_settings()
    except ConfigurationError as error:
        raise CliError(str(error)) from None


def read_json_file(path: Path, what: str) -> Any:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise CliError(f"{what} {path}: no such file") from None
    except IsADirectoryError:
        raise CliError(f"{what} {path} is a directory, not a JSON file") from None
    except OSError as error:
        raise CliError(f"{what} {path}: cannot be read ({error.strerror or type(error).__name__})") from None
    try:
        return json.loads(raw)
    except json.JSONDecodeError as error:
        raise CliError(
            f"{what} {path} is not valid JSON (line {error.lineno}, column {error.colno}: {error.msg})"
        ) from None
    except UnicodeDecodeError:
        raise CliError(f"{what} {path} is not valid UTF-8 JSON") from None


def read_bundle(path: Path, what: str) -> dict[str, Any]:
    document = read_json_file(path, what)
    resource_type = document.get("resourceType") if isinstance(document, dict) else None
    if resource_type != "Bundle":
        found = f"resourceType {resource_type!r}" if resource_type else "no resourceType"
        raise CliError(f"{what} {path} is not a FHIR Bundle ({found})")
    assert isinstance(document, dict)
    return document


def parse_now(value: str | None, option: str = "--now") -> datetime:
    """A date (midnight UTC) or an ISO 8601 date-time (UTC when it names no zone); default: now."""
    if value is None:
        return datetime.now(UTC)
    try:
        if len(value) == 10:
            return datetime.combine(date.fromisoformat(value), time(0, 0), tzinfo=UTC)
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise CliError(f"{option} {value!r} is not an ISO 8601 date or date-time") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def parse_day(value: str, option: str) -> date:
    try:
        return date.fromisoformat(value[:10]) if len(value) >= 10 else date.fromisoformat(value)
    except ValueError:
        raise CliError(f"{option} {value!r} is not an ISO 8601 date") from None
