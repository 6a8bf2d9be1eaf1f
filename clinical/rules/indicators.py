"""Card indicators in order of urgency."""

from __future__ import annotations

from clinical.knowledge.schema import Indicator

_RANK: dict[Indicator, int] = {"info": 0, "warning": 1, "critical": 2}


def indicator_rank(indicator: Indicator) -> int:
    return _RANK[indicator]


def strongest(indicators: list[Indicator]) -> Indicator:
    return max(indicators, key=indicator_rank)
