"""The numbers of a burden run: what summary.json holds and report.html draws.

A card-day is one card shown on one day; an episode is the same topic (or, by rule, the same rule) for
the same patient on consecutive days, counted once. Rates are per 100 patients per week: card-days / (
patients x days) x 7 x 100. Patients are those with a Patient resource in the export; resources naming a
patient the export has no Patient for (orphans) are evaluated and shown, but counted in
`data_quality.orphan_references`, never in the denominator or the card counts.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from workbench.burden import BurdenPlan, CardRow, PatientOutcome
from workbench.export import DataQuality

INDICATOR_ORDER = ("critical", "warning", "info")
UNRECOGNISED_LISTED = 20
ORDER_HOOKS = ("order-select",)


def per_thousand(count: int, patient_days: int) -> float:
    return round(count * 1000 / patient_days, 2) if patient_days else 0.0


def per_hundred_per_week(count: int, patients: int, days: int) -> float:
    """Cards per 100 patients per week: count / (patients x days) x 7 x 100."""
    return round(count * 700 / (patients * days), 2) if patients and days else 0.0


def episodes_of(rows: Iterable[CardRow], key: str) -> Counter[str]:
    """Episodes per topic (key="topic") or rule (key="rule") of one patient's rows: consecutive days
    with the same value count once."""
    days: dict[str, set[date]] = defaultdict(set)
    for row in rows:
        days[getattr(row, key)].add(date.fromisoformat(row.date))
    episodes: Counter[str] = Counter()
    for value, seen in days.items():
        episodes[value] = sum(1 for day in seen if date.fromordinal(day.toordinal() - 1) not in seen)
    return episodes


@dataclass(frozen=True)
class PatientLine:
    """A row of the report's patient list: every patient with a card."""

    patient: str
    page: str
    therapies: tuple[str, ...]
    topics: tuple[str, ...]
    first: str
    last: str
    card_days: int
    episodes: int
    worst: str
    orphan: bool


@dataclass
class RuleCounts:
    card_days: int = 0
    episodes: int = 0
    patients: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"card_days": self.card_days, "episodes": self.episodes, "patients": self.patients}


@dataclass
class BurdenSummary:
    source: str
    plan: BurdenPlan
    quality: DataQuality
    patients: int = 0
    exposed_patients: int = 0
    cards: int = 0
    episodes: int = 0
    by_topic: Counter[str] = field(default_factory=Counter)
    episodes_by_topic: Counter[str] = field(default_factory=Counter)
    by_rule: dict[str, RuleCounts] = field(default_factory=dict)
    by_indicator: Counter[str] = field(default_factory=Counter)
    by_topic_indicator: Counter[tuple[str, str]] = field(default_factory=Counter)
    by_day_indicator: Counter[tuple[str, str]] = field(default_factory=Counter)
    per_patient: dict[str, int] = field(default_factory=dict)
    critical: dict[str, list[str]] = field(default_factory=dict)  # patient -> critical card days
    critical_topics: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    pages: dict[str, str] = field(default_factory=dict)  # patient -> timeline page
    patient_lines: list[PatientLine] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)  # exception type -> patients
    failed_patients: list[str] = field(default_factory=list)
    undated_resources: int = 0  # no chart-entry date: counted from the first day (as_of.py)
    orphan_patients: list[str] = field(default_factory=list)
    orphan_card_days: int = 0
    order_time_cards: int = 0
    orders_simulated: int = 0
    order_time_by_rule: Counter[str] = field(default_factory=Counter)
    unrecognised: Counter[tuple[str, str, str]] = field(default_factory=Counter)

    @property
    def days(self) -> int:
        return len(self.plan.days())

    @property
    def patient_days(self) -> int:
        return self.patients * self.days

    def add(self, outcome: PatientOutcome) -> None:
        self.pages[outcome.patient_id] = outcome.page
        self.undated_resources += outcome.undated
        self.unrecognised.update(outcome.unrecognised)
        if outcome.error is not None:
            self.errors[outcome.error] += 1
            self.failed_patients.append(outcome.patient_id)
        if outcome.orphan:
            self.orphan_patients.append(outcome.patient_id)
            self.orphan_card_days += len(outcome.rows)
            self._add_line(outcome)
            return
        self.patients += 1
        self.exposed_patients += outcome.exposed
        self.per_patient[outcome.patient_id] = len(outcome.rows)
        self.orders_simulated += outcome.orders_simulated
        self.order_time_cards += len(outcome.order_rows)
        self.order_time_by_rule.update(row.rule for row in outcome.order_rows)
        for row in outcome.rows:
            self.cards += 1
            self.by_topic[row.topic] += 1
            self.by_indicator[row.indicator] += 1
            self.by_topic_indicator[(row.topic, row.indicator)] += 1
            self.by_day_indicator[(row.date, row.indicator)] += 1
            self.by_rule.setdefault(row.rule, RuleCounts()).card_days += 1
            if row.indicator == "critical":
                days = self.critical.setdefault(row.patient, [])
                if not days or days[-1] != row.date:
                    days.append(row.date)
                self.critical_topics[row.patient].add(row.topic)
        topic_episodes = episodes_of(outcome.rows, "topic")
        self.episodes_by_topic.update(topic_episodes)
        self.episodes += sum(topic_episodes.values())
        for rule, count in episodes_of(outcome.rows, "rule").items():
            counts = self.by_rule[rule]
            counts.episodes += count
            counts.patients += 1
        self._add_line(outcome)

    def _add_line(self, outcome: PatientOutcome) -> None:
        if not outcome.rows:
            return
        indicators = {row.indicator for row in outcome.rows}
        self.patient_lines.append(
            PatientLine(
                patient=outcome.patient_id,
                page=outcome.page,
                therapies=tuple(outcome.therapies),
                topics=tuple(sorted({row.topic for row in outcome.rows})),
                first=min(row.date for row in outcome.rows),
                last=max(row.date for row in outcome.rows),
                card_days=len(outcome.rows),
                episodes=sum(episodes_of(outcome.rows, "topic").values()),
                worst=next(name for name in INDICATOR_ORDER if name in indicators),
                orphan=outcome.orphan,
            )
        )

    def topics(self) -> list[str]:
        return sorted(self.by_topic, key=lambda topic: (-self.by_topic[topic], topic))

    def rules(self) -> list[str]:
        return sorted(self.by_rule, key=lambda rule: (-self.by_rule[rule].card_days, rule))

    def rate(self, count: int, patients: int | None = None) -> float:
        return per_hundred_per_week(count, self.patients if patients is None else patients, self.days)

    def unrecognised_top(self) -> list[dict[str, Any]]:
        ranked = sorted(self.unrecognised.items(), key=lambda item: (-item[1], item[0]))
        return [
            {"system": system, "code": code, "display": display, "records": count}
            for (system, code, display), count in ranked[:UNRECOGNISED_LISTED]
        ]

    def data_quality(self) -> dict[str, Any]:
        quality = self.quality.as_dict()
        quality["undated"] = self.undated_resources
        quality["orphan_references"] = self.quality.orphan_resources
        quality["orphan_patient_ids"] = len(self.orphan_patients)
        quality["orphan_card_days_not_counted"] = self.orphan_card_days
        # Every MedicationRequest, MedicationAdministration and MedicationStatement whose codes and texts
        # name no agent of the therapy catalog: mostly other medicines (antiemetics, antibiotics), but a
        # therapy known only by a local code shows here, so the committee can map its codes.
        quality["unrecognised_therapy_codes"] = sum(self.unrecognised.values())
        quality["unrecognised_therapy_codes_scope"] = (
            "MedicationRequest, MedicationAdministration and MedicationStatement records whose codes and "
            "texts match no agent of the therapy catalog"
        )
        quality["unrecognised_therapy_codes_most_frequent"] = self.unrecognised_top()
        return quality

    def patients_with_cards(self) -> int:
        return sum(1 for count in self.per_patient.values() if count)

    def as_dict(self) -> dict[str, Any]:
        topics = self.topics()
        quality = self.data_quality()
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
            "exposed_patients": self.exposed_patients,
            "patients_with_cards": self.patients_with_cards(),
            "patients_with_critical_cards": len(self.critical),
            "card_days": self.cards,
            "episodes": self.episodes,
            "cards_per_100_patients_per_week": self.rate(self.cards),
            "cards_per_100_exposed_patients_per_week": self.rate(self.cards, self.exposed_patients),
            "episodes_per_100_patients_per_week": self.rate(self.episodes),
            "by_rule": {rule: self.by_rule[rule].as_dict() for rule in self.rules()},
            "order_time_cards": self.order_time_cards,
            "order_time": {
                "hooks_simulated": list(ORDER_HOOKS),
                "orders_simulated": self.orders_simulated,
                "cards_by_rule": dict(sorted(self.order_time_by_rule.items())),
            },
            "patient_days": self.patient_days,
            "cards": self.cards,
            "cards_per_1000_patient_days": per_thousand(self.cards, self.patient_days),
            "cards_by_topic": {topic: self.by_topic[topic] for topic in topics},
            "episodes_by_topic": {topic: self.episodes_by_topic[topic] for topic in topics},
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
            "patients_with_any_card": self.patients_with_cards(),
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

    def patient_rows(self) -> list[PatientLine]:
        """Every patient with a card, the worst indicator first, then the most card-days."""
        rank = {name: index for index, name in enumerate(INDICATOR_ORDER)}
        return sorted(self.patient_lines, key=lambda line: (rank[line.worst], -line.card_days, line.patient))

    def critical_rows(self) -> list[tuple[str, list[str], list[str]]]:
        """(patient, critical card days, topics), most critical days first."""
        return sorted(
            (
                (patient, days, sorted(self.critical_topics[patient]))
                for patient, days in self.critical.items()
            ),
            key=lambda row: (-len(row[1]), row[0]),
        )
