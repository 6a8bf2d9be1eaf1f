"""The words of the live timeline's "Today's cards" section (the SMART app), apart from html.py and
render.py so that the pages' languages can be added in one place."""

from __future__ import annotations

TODAYS_CARDS = "Today's cards"
NO_CARD_TODAY = "No card fires today: the service has nothing to advise on this record now."
THERAPY_DAY = "Therapy day today"
DAY_ZERO = "day 0"


def therapy_day(label: str, day: int, day_zero: str) -> str:
    """ "CAR-T cell therapy: day +5 (day 0 2026-03-07)"."""
    return f"{label}: day {day:+d} ({DAY_ZERO} {day_zero})"
