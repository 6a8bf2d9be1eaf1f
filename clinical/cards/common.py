"""What every card shares: the CDS Hooks 2.0 card shape, the MRI order suggestion, evidence links, and
plain-language lines for therapy and finding records.

JSON rules (CDS Hooks 2.0): optional fields with no value are left out, never null or empty; the summary
stays under 140 characters; cards and suggestions carry a uuid; selectionBehavior is set whenever there
are suggestions, and override reasons are offered only on cards that suggest something.
"""

from __future__ import annotations

import string
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from clinical.knowledge.schema import CommonCardsFile, Indicator, Suggestion, TherapyClass, Topic
from clinical.labels import shorten
from clinical.rules import Course, MriCaution
from clinical.timeline import MriContraindication, TherapyEvent

SUMMARY_LIMIT = 140
_FORMATTER = string.Formatter()


def fill(template: str, values: Mapping[str, object]) -> str:
    return template.format_map(values)


def placeholders(template: str) -> set[str]:
    return {field for _, field, _, _ in _FORMATTER.parse(template) if field}


def fit_summary(text: str) -> str:
    """Under the CDS Hooks limit (< 140 characters), cut at a word boundary with an ellipsis."""
    return shorten(text, SUMMARY_LIMIT - 1)


def tidy_markdown(text: str) -> str:
    """Collapse the blank lines an empty placeholder leaves behind."""
    tidy: list[str] = []
    for line in (line.rstrip() for line in text.strip().splitlines()):
        if line == "" and (not tidy or tidy[-1] == ""):
            continue
        tidy.append(line)
    return "\n".join(tidy)


@dataclass(frozen=True)
class CardContext:
    """Who the card is for: the suggested ServiceRequest names this patient, encounter and user."""

    patient_id: str
    user_id: str
    encounter_id: str | None
    now: datetime


class CommonParts:
    def __init__(
        self,
        texts: CommonCardsFile,
        suggested_order: dict[str, dict[str, str]],
        names: Mapping[str, str] | None = None,
    ) -> None:
        self.texts = texts
        self.suggested_order = suggested_order
        self.names: Mapping[str, str] = names or {}

    def named(self, display: str) -> str:
        """A catalogue finding's or agent's name in this language ("Krampfanfall" for "Seizure")."""
        return self.names.get(display, display)

    def caution_named(self, what: str) -> str:
        """A device or contraindication as this language names it ("Herzschrittmacher (nicht MR-sicher)"
        for "cardiac pacemaker (MR unsafe)"): cards/*/common.yaml mri_caution.names."""
        return self.texts.mri_caution.names.get(what, what)

    def in_sentence(self, display: str) -> str:
        """ "Seizure" inside a sentence is "seizure"; an acronym ("ICANS", "PRES") stays as it is; a
        translated name stays as the language writes it (German nouns keep their capital)."""
        if display in self.names:
            return self.names[display]
        if len(display) > 1 and display[0].isupper() and display[1].islower():
            return display[0].lower() + display[1:]
        return display

    def day(self, value: date | None) -> str:
        """A date as this language writes it (cards/common.yaml words.date_format)."""
        words = self.texts.words
        return value.strftime(words.date_format) if value else words.date_not_readable

    def joined(self, items: list[str]) -> str:
        items = [self.named(item) for item in items]
        if len(items) <= 1:
            return "".join(items)
        return ", ".join(items[:-1]) + self.texts.words.list_and + items[-1]

    def class_label(self, therapy_class: TherapyClass, several: bool = False) -> str:
        """The therapy class in words; for several agents the plural ("Checkpoint-Inhibitoren")."""
        plural = self.texts.therapy_class_labels_plural.get(therapy_class) if several else None
        return plural or self.texts.therapy_class_labels[therapy_class]

    def therapies(self, courses: tuple[Course, ...]) -> str:
        return self.joined(
            [
                f"{self.joined(c.agents())} ({self.class_label(c.therapy_class, len(c.agents()) > 1)})"
                for c in courses
            ]
        )

    def record_label(self, resource_type: str) -> str:
        return self.texts.record_labels.get(resource_type, self.texts.words.record)

    def event_label(self, event: TherapyEvent) -> str:
        """What the event is, in words: "infusion on", "dose given on", "active order from" ..."""
        labels = self.texts.event_labels
        if event.draft_order:
            return labels["draft"]
        key = "car_t_given" if event.kind == "given" and event.agent.therapy_class == "car_t" else event.kind
        return labels[key]

    def therapy_line(self, event: TherapyEvent) -> str:
        what = self.event_label(event)
        record = self.record_label(event.resource_type)
        if event.draft_order:
            return f"- {self.named(event.agent.display)}: {what} ({record})"
        return f"- {self.named(event.agent.display)}: {what} {self.day(event.on)} ({record})"

    def links(self, evidence_ids: tuple[str, ...]) -> list[dict[str, str]]:
        return [
            {"label": self.texts.evidence[key].label, "url": self.texts.evidence[key].url, "type": "absolute"}
            for key in dict.fromkeys(evidence_ids)
        ]

    def override_reasons(self) -> list[dict[str, str]]:
        system = self.texts.override_reasons.system
        return [
            {"system": system, "code": reason.code, "display": reason.display}
            for reason in self.texts.override_reasons.reasons
        ]

    def card(
        self,
        topic: Topic,
        summary: str,
        detail: str,
        indicator: Indicator,
        evidence: tuple[str, ...],
        suggestion: dict[str, Any] | None,
    ) -> dict[str, Any]:
        source = self.texts.source
        card: dict[str, Any] = {
            "uuid": str(uuid.uuid4()),
            "summary": fit_summary(summary),
            "detail": tidy_markdown(detail),
            "indicator": indicator,
            "source": {
                "label": source.label,
                "topic": {"system": source.topic_system, "code": topic.code, "display": topic.display},
            },
        }
        if suggestion is not None:
            card["suggestions"] = [suggestion]
            card["selectionBehavior"] = "at-most-one"
            card["overrideReasons"] = self.override_reasons()
        links = self.links(evidence)
        if links:
            card["links"] = links
        return card

    def _reasons(self, items: tuple[MriContraindication, ...]) -> str:
        """One line per thing ("cardiac pacemaker (device record, diagnosis)"), however many records."""
        records: dict[str, list[str]] = {}
        for item in items:
            label = self.record_label(item.resource_type)
            if label not in records.setdefault(item.what, []):
                records[item.what].append(label)
        reason_line = self.texts.mri_caution.reason_line
        return self.joined(
            [
                fill(reason_line, {"what": self.caution_named(what), "record": ", ".join(labels)})
                for what, labels in records.items()
            ]
        )

    def mri_caution_text(self, caution: MriCaution | None, implant: str = "") -> str:
        """Why the card carries no MRI order and what to do instead; the MR conditions of an
        MR-conditional device when the order stays. Empty when nothing stands in the way. `implant`:
        a card's own wording for the implant (the baseline card's alternative is not an urgent CT)."""
        if caution is None:
            return ""
        texts = self.texts.mri_caution
        parts = []
        if caution.implants:
            parts.append(fill(implant or texts.implant, {"reasons": self._reasons(caution.implants)}))
        contrast = [self._reasons(caution.contrast)] if caution.contrast else []
        if caution.low_egfr is not None:
            reading = caution.low_egfr
            values = {
                "value": f"{reading.value:g}",
                "date": self.day(reading.on),
                "below": f"{caution.egfr_below:g}",
            }
            contrast.append(fill(texts.egfr, values))
        if contrast:
            parts.append(fill(texts.contrast, {"reasons": self.joined(list(dict.fromkeys(contrast)))}))
        if caution.conditional_devices and not caution.implants:
            devices = [self.caution_named(device) for device in caution.conditional_devices]
            parts.append(fill(texts.conditional, {"devices": self.joined(devices)}))
        return "\n\n".join(parts)

    def mri_suggestion(
        self, texts: Suggestion, reason: str, context: CardContext, order_text: str | None = None
    ) -> dict[str, Any]:
        mri = self.texts.suggested_mri
        order: dict[str, Any] = {
            "resourceType": "ServiceRequest",
            "status": "draft",
            "intent": "order",
            "priority": texts.priority,
            "category": [{"coding": [dict(mri.category)]}],
            "code": {
                "coding": [dict(coding) for coding in self.suggested_order.values()],
                "text": order_text or mri.text,
            },
            "subject": {"reference": f"Patient/{context.patient_id}"},
            "authoredOn": context.now.isoformat(),
            "reasonCode": [{"text": reason}],
        }
        if context.encounter_id:
            order["encounter"] = {"reference": f"Encounter/{context.encounter_id}"}
        if context.user_id.startswith(("Practitioner/", "PractitionerRole/")):
            order["requester"] = {"reference": context.user_id}
        return {
            "label": texts.label,
            "uuid": str(uuid.uuid4()),
            "isRecommended": True,
            "actions": [{"type": "create", "description": texts.label, "resource": order}],
        }
