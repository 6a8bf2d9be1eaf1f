"""One hook call's clinical evaluation: record -> facts -> rules -> cards. Loaded once at start-up."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from clinical.cards import CardContext, CardTemplates
from clinical.facts import PatientFacts, Vocabularies, collect_facts
from clinical.knowledge import KnowledgeError, remembering_texts
from clinical.patient_record import PatientRecord
from clinical.rules import BaselineAdvice, IntervalAdvice, NeurotoxicityAdvice, TimingRules, evaluate


@dataclass(frozen=True)
class Evaluator:
    vocabularies: Vocabularies
    timing: TimingRules
    templates: CardTemplates

    @classmethod
    def load(cls, knowledge_dir: Path, cards_dir: Path) -> Evaluator:
        vocabularies = Vocabularies.load(knowledge_dir)
        timing = TimingRules.load(knowledge_dir / "timing.yaml")
        templates = CardTemplates(cards_dir, vocabularies.imaging.suggested_order)
        missing = [window.id for window in timing.windows if not templates.has_window(window.id)]
        if missing:
            raise KnowledgeError(f"timing windows without card wording: {missing}")
        return cls(vocabularies, timing, templates)

    def facts_for(
        self, record: PatientRecord, draft_orders: list[dict[str, Any]], now: datetime
    ) -> PatientFacts:
        with remembering_texts():
            return collect_facts(record, draft_orders, self.vocabularies, now.date())

    def cards_for(
        self,
        record: PatientRecord,
        draft_orders: list[dict[str, Any]],
        *,
        now: datetime,
        patient_id: str,
        user_id: str,
        encounter_id: str | None,
    ) -> list[dict[str, Any]]:
        facts = self.facts_for(record, draft_orders, now)
        context = CardContext(patient_id, user_id, encounter_id, now)
        cards = []
        for advice in evaluate(facts, now.date(), self.timing):
            if isinstance(advice, NeurotoxicityAdvice):
                cards.append(self.templates.neurotoxicity_card(advice, context))
            elif isinstance(advice, BaselineAdvice):
                cards.append(self.templates.baseline_card(advice, context, self.timing.recent_mri_days))
            elif isinstance(advice, IntervalAdvice):
                cards.append(self.templates.interval_card(advice))
        return cards
