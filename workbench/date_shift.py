"""Moving a fixture in time. A scenario is dated relative to a moment of its own (day 7 after a CAR-T
infusion is day 7 only on the right date); shifting every date in its resources by the same whole number
of days keeps each interval, each day count and each card, and lets it be replayed on another day,
today for instance, against a service on its real clock."""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

# A calendar date, alone or at the start of a dateTime / instant ("2026-03-07", "2026-03-07T09:30:00Z"),
# also inside free text ("infused on 2026-03-07"): every FHIR date the rules or the cards read.
_ISO_DATE = re.compile(r"(?<![\d-])(\d{4})-(\d{2})-(\d{2})(?![\d])")


def _shift_text(text: str, days: int) -> str:
    def moved(match: re.Match[str]) -> str:
        try:
            original = date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
        except ValueError:
            return match.group(0)  # not a real date ("2026-13-45"): left as written
        return (original + timedelta(days=days)).isoformat()

    return _ISO_DATE.sub(moved, text)


def shift_dates(value: Any, days: int) -> Any:
    """A copy of `value` (resources as plain JSON) with every date moved by `days` days."""
    if isinstance(value, str):
        return _shift_text(value, days) if days else value
    if isinstance(value, dict):
        return {key: shift_dates(item, days) for key, item in value.items()}
    if isinstance(value, list):
        return [shift_dates(item, days) for item in value]
    return value


def _dates_in(value: Any) -> list[date]:
    if isinstance(value, str):
        found = []
        for match in _ISO_DATE.finditer(value):
            try:
                found.append(date(int(match.group(1)), int(match.group(2)), int(match.group(3))))
            except ValueError:
                continue
        return found
    if isinstance(value, dict):
        return [found for item in value.values() for found in _dates_in(item)]
    if isinstance(value, list):
        return [found for item in value for found in _dates_in(item)]
    return []


def latest_date(resources: list[dict[str, Any]]) -> date | None:
    """The newest date written anywhere in these resources, birth dates included (never the latest)."""
    dates = _dates_in(resources)
    return max(dates) if dates else None


__all__ = ["latest_date", "shift_dates"]
