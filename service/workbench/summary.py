"""The numbers of a burden run: what summary.json holds and report.html draws."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from service.workbench.burden import BurdenPlan, PatientOutcome
from service.workbench.export import DataQuality

INDICATOR_ORDER = ("critical", "warning", "info")


def per_thousand(count: int, patient_days: int) -> float:
    return round(count * 1000 / patient_days, 2) if patient_days else 0.0


@dataclass
class BurdenSummary:
    source: str
    plan: BurdenPlan
    quality: DataQuality
    patients: int = 0
    cards: int = 0
    by_topic: Counter[str] = field(default_factory=Counter)
    by_indicator: Counter[str] = field(default_factory=Counter)
    by_topic_indicator: Counter[tuple[str, str]] = field(default_factory=Counter)
    by_day_indicator: Counter[tuple[str, str]] = field(default_factory=Counter)
    per_patient: dict[str, int] = field(default_factory=dict)
    critical: dict[str, list[str]] = field(default_factory=dict)  # patient -> critical card days
    critical_topics: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    pages: dict[str, str] = field(default_factory=dict)  # patient -> timeline page
    errors: Counter[str] = field(default_factory=Counter)  # exception type -> patients
    failed_patients: list[str] = field(default_factory=list)
    undated_resources: int = 0  # no chart-entry date: counted from the first day (as_of.py)

    @property
    def days(self) -> int:
        return len(self.plan.days())

    @property
    def patient_days(self) -> int:
        return self.patients * self.days

    def add(self, outcome: PatientOutcome) -> None:
        self.patients += 1
        self.pages[outcome.patient_id] = outcome.page
        if outcome.error is not None:
            self.errors[outcome.error] += 1
            self.failed_patients.append(outcome.patient_id)
        self.per_patient[outcome.patient_id] = len(outcome.rows)
        self.undated_resources += outcome.undated
        for row in outcome.rows:
            self.cards += 1
            self.by_topic[row.topic] += 1
            self.by_indicator[row.indicator] += 1
            self.by_topic_indicator[(row.topic, row.indicator)] += 1
            self.by_day_indicator[(row.date, row.indicator)] += 1
            if row.indicator == "critical":
                days = self.critical.setdefault(row.patient, [])
                if not days or days[-1] != row.date:
                    days.append(row.date)
                self.critical_topics[row.patient].add(row.topic)

    def topics(self) -> list[str]:
        return sorted(self.by_topic, key=lambda topic: (-self.by_topic[topic], topic))

    def as_dict(self) -> dict[str, Any]:
        topics = self.topics()
        quality = {**self.quality.as_dict(), "undated": self.undated_resources}
        return {
            "source": self.source,
            "hook": "patient-view",
            # Each day sees only the resources that had entered the chart by then; statuses are as
            # exported (a later stop or entered-in-error is already visible: an export has no history).
            "evaluation": "as-of",
            "from": self.plan.first_day.isoformat(),
            "to": self.plan.last_day.isoformat(),
            "days": self.days,
            "patients": self.patients,
            "patient_days": self.patient_days,
            "cards": self.cards,
            "cards_per_1000_patient_days": per_thousand(self.cards, self.patient_days),
            "cards_by_topic": {topic: self.by_topic[topic] for topic in topics},
            "cards_by_indicator": {
                indicator: self.by_indicator[indicator]
                for indicator in INDICATOR_ORDER
                if self.by_indicator[indicator]
            },
            "cards_by_topic_and_indicator": {
                topic: {
                    indicator: self.by_topic_indicator[(topic, indicator)]
                    for indicator in INDICATOR_ORDER
                    if self.by_topic_indicator[(topic, indicator)]
                }
                for topic in topics
            },
            "cards_per_1000_patient_days_by_topic_and_indicator": {
                topic: {
                    indicator: per_thousand(self.by_topic_indicator[(topic, indicator)], self.patient_days)
                    for indicator in INDICATOR_ORDER
                    if self.by_topic_indicator[(topic, indicator)]
                }
                for topic in topics
            },
            "patients_with_any_card": sum(1 for count in self.per_patient.values() if count),
            "patients_with_critical_card": len(self.critical),
            "skipped_resources": quality["skipped_resources"],
            "data_quality": quality,
            "evaluation_errors": dict(sorted(self.errors.items())),
        }

    def day_series(self) -> dict[str, list[int]]:
        days = [day.isoformat() for day in self.plan.days()]
        return {
            indicator: [self.by_day_indicator[(day, indicator)] for day in days]
            for indicator in INDICATOR_ORDER
        }

    def critical_rows(self) -> list[tuple[str, list[str], list[str]]]:
        """(patient, critical card days, topics), most critical days first."""
        return sorted(
            (
                (patient, days, sorted(self.critical_topics[patient]))
                for patient, days in self.critical.items()
            ),
            key=lambda row: (-len(row[1]), row[0]),
        )
