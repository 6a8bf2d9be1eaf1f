"""Rendering advice as CDS Hooks cards, with every word taken from the reviewed templates in `cards/`.

JSON rules (CDS Hooks 2.0): optional fields with no value are left out, never null or empty; the
summary stays under 140 characters; cards and suggestions carry a uuid; selectionBehavior is set
whenever there are suggestions.
"""

from __future__ import annotations

import string
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from clinical.catalog import TherapyClass
from clinical.exposures import Exposure
from clinical.knowledge import KnowledgeError, load_yaml
from clinical.rules import (
    Advice,
    BaselineAdvice,
    Course,
    IntervalAdvice,
    NeurotoxicityAdvice,
    WindowHit,
    indicator_rank,
)

SUMMARY_LIMIT = 140
_FORMATTER = string.Formatter()
_BASELINE_DETAIL_FIELDS = {
    "therapies_sentence",
    "recent_mri_days",
    "class_notes",
    "last_brain_mri",
    "triggers",
}
_NEUROTOXICITY_DETAIL_FIELDS = {
    "syndrome_long",
    "grade",
    "therapies_sentence",
    "findings",
    "grading_note",
    "brain_mri_since",
}
_WINDOW_FIELDS = {"agents", "day", "week", "day_zero", "source", "starts", "ends", "target"}
_IRECIST_FIELDS = {"progression_date", "progression_source", "agents", "confirm_from", "confirm_to"}


def fill(template: str, values: Mapping[str, object]) -> str:
    return template.format_map(values)


def placeholders(template: str) -> set[str]:
    return {field for _, field, _, _ in _FORMATTER.parse(template) if field}


def fit_summary(text: str) -> str:
    text = " ".join(text.split())
    if len(text) < SUMMARY_LIMIT:
        return text
    return text[: SUMMARY_LIMIT - 2].rstrip() + "…"


def tidy_markdown(text: str) -> str:
    """Collapse the blank lines an empty placeholder leaves behind."""
    tidy: list[str] = []
    for line in (line.rstrip() for line in text.strip().splitlines()):
        if line == "" and (not tidy or tidy[-1] == ""):
            continue
        tidy.append(line)
    return "\n".join(tidy)


def _day(value: date | None) -> str:
    return value.isoformat() if value else "date not recorded"


def _joined(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


@dataclass(frozen=True)
class CardContext:
    """Who the card is for: the suggested ServiceRequest names this patient, encounter and user."""

    patient_id: str
    user_id: str
    encounter_id: str | None
    now: datetime


class CardTemplates:
    def __init__(self, cards_dir: Path, suggested_order: dict[str, dict[str, str]]) -> None:
        self.common = load_yaml(cards_dir / "common.yaml")
        self.baseline = load_yaml(cards_dir / "baseline-brain-mri.yaml")
        self.interval = load_yaml(cards_dir / "interval-imaging.yaml")
        self.neurotoxicity = load_yaml(cards_dir / "possible-neurotoxicity.yaml")
        self.suggested_order = suggested_order
        self._check_placeholders()

    def _check_placeholders(self) -> None:
        """Fail at start-up, not in front of a clinician, when a template names an unknown field."""
        expected: dict[str, tuple[set[str], str]] = {
            "baseline.summary": ({"therapies"}, self.baseline["summary"]),
            "baseline.detail": (_BASELINE_DETAIL_FIELDS, self.baseline["detail"]),
            "neurotoxicity.summary": ({"syndrome", "grade", "agents"}, self.neurotoxicity["summary"]),
            "neurotoxicity.detail": (_NEUROTOXICITY_DETAIL_FIELDS, self.neurotoxicity["detail"]),
            "interval.irecist.summary": (_IRECIST_FIELDS, self.interval["irecist"]["summary"]),
            "interval.irecist.detail": (_IRECIST_FIELDS, self.interval["irecist"]["detail"]),
        }
        for window_id, texts in self.interval["windows"].items():
            expected[f"interval.{window_id}.summary"] = (_WINDOW_FIELDS, texts["summary"])
            expected[f"interval.{window_id}.detail"] = (_WINDOW_FIELDS, texts["detail"])
        for name, (fields, template) in expected.items():
            unknown = placeholders(template) - fields
            if unknown:
                raise KnowledgeError(f"card template {name} uses unknown fields {sorted(unknown)}")

    def has_window(self, window_id: str) -> bool:
        return window_id in self.interval["windows"]

    # --- shared parts --------------------------------------------------------------------------

    def _class_label(self, therapy_class: TherapyClass) -> str:
        return str(self.common["therapy_class_labels"][therapy_class])

    def therapies(self, courses: tuple[Course, ...]) -> str:
        return _joined([f"{_joined(c.agents())} ({self._class_label(c.therapy_class)})" for c in courses])

    def links(self, evidence_ids: tuple[str, ...]) -> list[dict[str, str]]:
        evidence = self.common["evidence"]
        return [
            {"label": evidence[key]["label"], "url": evidence[key]["url"], "type": "absolute"}
            for key in dict.fromkeys(evidence_ids)
        ]

    def override_reasons(self) -> list[dict[str, str]]:
        system = self.common["override_reasons"]["system"]
        return [
            {"system": system, "code": reason["code"], "display": reason["display"]}
            for reason in self.common["override_reasons"]["reasons"]
        ]

    def card(
        self,
        topic: dict[str, str],
        summary: str,
        detail: str,
        advice: Advice,
        suggestion: dict[str, Any] | None,
    ) -> dict[str, Any]:
        source = self.common["source"]
        card: dict[str, Any] = {
            "uuid": str(uuid.uuid4()),
            "summary": fit_summary(summary),
            "detail": tidy_markdown(detail),
            "indicator": advice.indicator,
            "source": {
                "label": source["label"],
                "topic": {
                    "system": source["topic_system"],
                    "code": topic["code"],
                    "display": topic["display"],
                },
            },
            "overrideReasons": self.override_reasons(),
        }
        if suggestion is not None:
            card["suggestions"] = [suggestion]
            card["selectionBehavior"] = "at-most-one"
        links = self.links(advice.evidence)
        if links:
            card["links"] = links
        return card

    def mri_suggestion(self, texts: dict[str, str], reason: str, context: CardContext) -> dict[str, Any]:
        mri = self.common["suggested_mri"]
        order: dict[str, Any] = {
            "resourceType": "ServiceRequest",
            "status": "draft",
            "intent": "order",
            "priority": texts["priority"],
            "category": [{"coding": [dict(mri["category"])]}],
            "code": {
                "coding": [dict(coding) for coding in self.suggested_order.values()],
                "text": mri["text"],
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
            "label": texts["label"],
            "uuid": str(uuid.uuid4()),
            "isRecommended": True,
            "actions": [{"type": "create", "description": texts["label"], "resource": order}],
        }

    # --- baseline-brain-mri --------------------------------------------------------------------

    def _exposure_line(self, exposure: Exposure) -> str:
        stage = self.common["exposure_stage_labels"][exposure.stage]
        when = _day(exposure.on)
        return f"- {exposure.agent.display}: {exposure.source}, {stage}, {when} ({exposure.matched_by})"

    def baseline_card(
        self, advice: BaselineAdvice, context: CardContext, recent_mri_days: int
    ) -> dict[str, Any]:
        template = self.baseline
        therapies = self.therapies(advice.courses)
        last = advice.last_brain_mri
        detail = fill(
            template["detail"],
            {
                "therapies_sentence": f"Therapy with {therapies} is planned or has just started.",
                "recent_mri_days": recent_mri_days,
                "class_notes": "\n\n".join(template["class_notes"][c.therapy_class] for c in advice.courses),
                "last_brain_mri": (
                    f"Last brain MRI on record: {_day(last.on)} ({last.source})."
                    if last
                    else "No brain MRI on record."
                ),
                "triggers": "\n".join(self._exposure_line(e) for e in advice.triggers),
            },
        )
        reason = fill(template["suggestion"]["reason"], {"therapies": therapies})
        return self.card(
            template["topic"],
            fill(template["summary"], {"therapies": therapies}),
            detail,
            advice,
            self.mri_suggestion(template["suggestion"], reason, context),
        )

    # --- interval-imaging ----------------------------------------------------------------------

    def _window_values(self, hit: WindowHit) -> dict[str, object]:
        return {
            "agents": _joined(hit.course.agents()),
            "day": hit.day,
            "week": hit.day // 7 + 1,
            "day_zero": _day(hit.course.day_zero),
            "source": hit.course.day_zero_source or "source not recorded",
            "starts": _day(hit.starts),
            "ends": _day(hit.ends),
            "target": _day(hit.target),
        }

    def interval_card(self, advice: IntervalAdvice) -> dict[str, Any]:
        windows = self.interval["windows"]
        summaries: list[str] = []
        details: list[str] = []
        for hit in sorted(advice.windows, key=lambda hit: indicator_rank(hit.window.indicator), reverse=True):
            values = self._window_values(hit)
            summaries.append(fill(windows[hit.window.id]["summary"], values))
            details.append(fill(windows[hit.window.id]["detail"], values))
        if advice.irecist is not None:
            irecist = advice.irecist
            values = {
                "progression_date": _day(irecist.progression.on),
                "progression_source": irecist.progression.source,
                "agents": _joined(irecist.course.agents()),
                "confirm_from": _day(irecist.confirm_from),
                "confirm_to": _day(irecist.confirm_to),
            }
            # Confirming suspected progression is the more pressing message.
            summaries.insert(0, fill(self.interval["irecist"]["summary"], values))
            details.append(fill(self.interval["irecist"]["detail"], values))
        return self.card(self.interval["topic"], summaries[0], "\n\n".join(details), advice, None)

    # --- possible-neurotoxicity ----------------------------------------------------------------

    def neurotoxicity_card(self, advice: NeurotoxicityAdvice, context: CardContext) -> dict[str, Any]:
        template = self.neurotoxicity
        classes = [course.therapy_class for course in advice.courses]
        syndrome = "/".join(dict.fromkeys(self.common["neurotoxicity_syndromes"][c] for c in classes))
        syndrome_long = " or ".join(dict.fromkeys(template["syndrome_long"][c] for c in classes))
        grade = f" grade {advice.icans_grade}" if advice.icans_grade is not None else ""
        agents = _joined(sorted({agent for course in advice.courses for agent in course.agents()}))
        notes = []
        if any(c in ("car_t", "t_cell_engager") for c in classes):
            notes.append(template["grading_note"]["icans"])
        if "ici" in classes:
            notes.append(template["grading_note"]["irae"])
        since = advice.brain_mri_since
        detail = fill(
            template["detail"],
            {
                "syndrome_long": syndrome_long,
                "grade": grade,
                "therapies_sentence": f"{self.therapies(advice.courses)}:",
                "findings": "\n".join(
                    f"- {f.kind.display}: {f.source}, {_day(f.on)} ({f.detail})" for f in advice.findings
                ),
                "grading_note": " ".join(notes),
                "brain_mri_since": (
                    "A brain MRI is on record since the first finding: "
                    f"{_day(since.on)} ({since.source}, {since.state})."
                    if since
                    else "No brain MRI on record since the first finding."
                ),
            },
        )
        suggestion = None
        if since is None:
            reason = fill(template["suggestion"]["reason"], {"syndrome": syndrome, "agents": agents})
            suggestion = self.mri_suggestion(template["suggestion"], reason, context)
        summary = fill(template["summary"], {"syndrome": syndrome, "grade": grade, "agents": agents})
        return self.card(template["topic"], summary, detail, advice, suggestion)
