"""What the chart held on a given day. A burden run replays each day of its range; on day D the rules may
see only the resources that had entered the chart by D, or a therapy ordered in December makes baseline
cards fire in October ("look-ahead"). A resource enters the chart on the first of these dates it has:

    MedicationRequest        authoredOn
    MedicationAdministration effective[x] start (R5 occurence[x]), else its end
    Procedure                performed[x] start (R5 occurrence[x]), else its end
    MedicationStatement      dateAsserted, else effective[x] start
    MedicationDispense       whenPrepared, else whenHandedOver
    Condition                recordedDate, else onset[x] start
    Observation              issued, else effective[x] start
    DiagnosticReport         issued, else effective[x] start
    ImagingStudy             started
    ServiceRequest           authoredOn

A resource with none of these (and the Patient, and Medications, which name no date) counts from the
start of the range; the clinical ones among them are reported as undated. Statuses are as exported: an
order stopped or entered in error after day D is seen on D with its final status, because a Bulk Data
export holds no history.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

from clinical.fhir_data import first_date

ENTRY_DATES: dict[str, tuple[str, ...]] = {
    "MedicationRequest": ("authoredOn",),
    # R5 spells MedicationAdministration.occurence[x] with one "r"; an infusion charted when it
    # finished has only the period's end.
    "MedicationAdministration": (
        "effectiveDateTime",
        "effectivePeriod.start",
        "occurenceDateTime",
        "occurencePeriod.start",
        "effectivePeriod.end",
        "occurencePeriod.end",
    ),
    "Procedure": (
        "performedDateTime",
        "performedPeriod.start",
        "occurrenceDateTime",
        "occurrencePeriod.start",
        "performedPeriod.end",
    ),
    "MedicationStatement": ("dateAsserted", "effectiveDateTime", "effectivePeriod.start"),
    "MedicationDispense": ("whenPrepared", "whenHandedOver"),
    "Condition": ("recordedDate", "onsetDateTime", "onsetPeriod.start"),
    "Observation": ("issued", "effectiveDateTime", "effectivePeriod.start", "effectiveInstant"),
    "DiagnosticReport": ("issued", "effectiveDateTime", "effectivePeriod.start"),
    "ImagingStudy": ("started",),
    "ServiceRequest": ("authoredOn",),
}
# Resources that are in the chart from the start whatever their dates: they carry no clinical event.
ALWAYS_PRESENT = frozenset(("Patient", "Medication"))


def entered_chart_on(resource: dict[str, Any]) -> date | None:
    """The day the resource entered the chart, or None when the export gives no such date."""
    paths = ENTRY_DATES.get(str(resource.get("resourceType")))
    return first_date(resource, paths) if paths else None


def is_undated(resource: dict[str, Any]) -> bool:
    """A clinical resource the export gives no chart-entry date for (it counts from the first day)."""
    return resource.get("resourceType") not in ALWAYS_PRESENT and entered_chart_on(resource) is None


@dataclass(frozen=True)
class ChartState:
    day: date
    resources: list[dict[str, Any]]  # what the chart held on `day`
    changed: bool  # resources entered the chart since the previous day replayed


class ChartHistory:
    """One patient's resources by the day they entered the chart."""

    def __init__(self, resources: list[dict[str, Any]]) -> None:
        dated: list[tuple[date, int]] = []
        self._undated: list[dict[str, Any]] = []
        for index, resource in enumerate(resources):
            entered = entered_chart_on(resource)
            if entered is None:
                self._undated.append(resource)
            else:
                dated.append((entered, index))
        dated.sort()
        self._days = [entered for entered, _ in dated]
        self._dated = [resources[index] for _, index in dated]

    @property
    def undated(self) -> int:
        return sum(1 for resource in self._undated if resource.get("resourceType") not in ALWAYS_PRESENT)

    def on(self, day: date) -> list[dict[str, Any]]:
        """Everything that had entered the chart by the end of `day`."""
        return self._undated + self._dated[: bisect.bisect_right(self._days, day)]

    def orders_in(self, first: date, last: date) -> list[dict[str, Any]]:
        """MedicationRequests that entered the chart from `first` to `last` (their authoredOn)."""
        low, high = bisect.bisect_left(self._days, first), bisect.bisect_right(self._days, last)
        return [
            resource
            for resource in self._dated[low:high]
            if resource.get("resourceType") == "MedicationRequest"
        ]

    def replay(self, days: list[date]) -> Iterator[ChartState]:
        """The chart on each day, in order, saying when something new had entered it."""
        seen = -1
        for day in days:
            count = bisect.bisect_right(self._days, day)
            yield ChartState(day, self._undated + self._dated[:count], count != seen)
            seen = count


__all__ = ["ALWAYS_PRESENT", "ENTRY_DATES", "ChartHistory", "ChartState", "entered_chart_on", "is_undated"]
