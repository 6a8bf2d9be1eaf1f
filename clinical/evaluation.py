"""One evaluation: record -> timeline -> rules -> cards. `Evaluator.load` reads and checks every knowledge
and card file once at start-up; the hook path calls `cards_for`. The reviewers' tools build the timeline
once per patient (`timeline_for`) and apply the rules per day (`cards_from_timeline`, `advice_on`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from clinical.acknowledgements import (
    Acknowledgement,
    RenderedCard,
    evidence_key,
    evidence_parts,
    is_acknowledged,
    rule_of,
)
from clinical.cards import CardContext, CardRenderer
from clinical.knowledge import (
    DEFAULT_LANGUAGE,
    Knowledge,
    check_display_names,
    display_names,
    load_card_texts,
    load_card_translations,
    load_knowledge,
)
from clinical.patient_record import PatientRecord
from clinical.rules import Advice, evaluate
from clinical.timeline import PatientTimeline, Vocabularies, build_timeline


@dataclass(frozen=True)
class Evaluator:
    knowledge: Knowledge
    vocabularies: Vocabularies
    renderer: CardRenderer
    # The translations of the card texts (issue 19: "de" from cards/de/), loaded and checked with the
    # English ones at start-up; a language not held here is rendered in English.
    translations: Mapping[str, CardRenderer] = field(default_factory=dict)

    @classmethod
    def load(cls, knowledge_dir: Path, cards_dir: Path) -> Evaluator:
        knowledge = load_knowledge(knowledge_dir)
        vocabularies = Vocabularies.from_knowledge(knowledge)
        order = vocabularies.imaging.suggested_order
        # English first: a typo in cards/ is named in the English file, not as a translation mismatch.
        english = CardRenderer(load_card_texts(cards_dir), knowledge.timing, order)
        translated = load_card_translations(cards_dir)
        check_display_names(knowledge, translated)
        translations = {
            language: CardRenderer(
                texts,
                knowledge.timing,
                vocabularies.imaging.suggested_order_for(language),
                names=display_names(knowledge, language),
            )
            for language, texts in translated.items()
        }
        return cls(knowledge, vocabularies, english, translations)

    def renderer_for(self, language: str) -> CardRenderer:
        return self.translations.get(language, self.renderer)

    def timeline_for(
        self, record: PatientRecord, draft_orders: list[dict[str, Any]], today: date
    ) -> PatientTimeline:
        return build_timeline(record, draft_orders, self.vocabularies, today)

    def advice_on(self, timeline: PatientTimeline, today: date) -> list[Advice]:
        return evaluate(timeline, today, self.knowledge.timing)

    def rendered_from_timeline(
        self,
        timeline: PatientTimeline,
        *,
        now: datetime,
        patient_id: str,
        user_id: str,
        encounter_id: str | None,
        acknowledgements: Sequence[Acknowledgement] = (),
        language: str = DEFAULT_LANGUAGE,
    ) -> list[RenderedCard]:
        """The cards for `now`'s day with their evidence keys, less those a clinician overrode recently
        when nothing new has been charted since (knowledge/timing.yaml `acknowledgements`: quiet_days; a
        critical card returns on new evidence only)."""
        context = CardContext(patient_id, user_id, encounter_id, now)
        quiet = self.knowledge.timing.acknowledgements
        renderer = self.renderer_for(language)
        rendered: list[RenderedCard] = []
        for advice in self.advice_on(timeline, now.date()):
            card = renderer.render(advice, context)
            topic = str(card["source"]["topic"]["code"])
            parts = evidence_parts(advice)
            candidate = RenderedCard(card, topic, evidence_key(topic, advice), rule_of(advice), parts)
            until_new_evidence = (
                quiet.critical_returns_on_new_evidence_only and card["indicator"] == "critical"
            )
            if not is_acknowledged(
                candidate,
                acknowledgements,
                now.date(),
                quiet.quiet_days,
                until_new_evidence=until_new_evidence,
            ):
                rendered.append(candidate)
        return rendered

    def cards_from_timeline(
        self,
        timeline: PatientTimeline,
        *,
        now: datetime,
        patient_id: str,
        user_id: str,
        encounter_id: str | None,
        language: str = DEFAULT_LANGUAGE,
    ) -> list[dict[str, Any]]:
        rendered = self.rendered_from_timeline(
            timeline,
            now=now,
            patient_id=patient_id,
            user_id=user_id,
            encounter_id=encounter_id,
            language=language,
        )
        return [item.card for item in rendered]

    def rendered_cards_for(
        self,
        record: PatientRecord,
        draft_orders: list[dict[str, Any]],
        *,
        now: datetime,
        patient_id: str,
        user_id: str,
        encounter_id: str | None,
        acknowledgements: Sequence[Acknowledgement] = (),
        language: str = DEFAULT_LANGUAGE,
    ) -> list[RenderedCard]:
        timeline = self.timeline_for(record, draft_orders, now.date())
        return self.rendered_from_timeline(
            timeline,
            now=now,
            patient_id=patient_id,
            user_id=user_id,
            encounter_id=encounter_id,
            acknowledgements=acknowledgements,
            language=language,
        )

    def cards_for(
        self,
        record: PatientRecord,
        draft_orders: list[dict[str, Any]],
        *,
        now: datetime,
        patient_id: str,
        user_id: str,
        encounter_id: str | None,
        language: str = DEFAULT_LANGUAGE,
    ) -> list[dict[str, Any]]:
        rendered = self.rendered_cards_for(
            record,
            draft_orders,
            now=now,
            patient_id=patient_id,
            user_id=user_id,
            encounter_id=encounter_id,
            language=language,
        )
        return [item.card for item in rendered]
