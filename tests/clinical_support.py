"""Shared loading of the reviewed clinical knowledge, and small FHIR resource builders, for the clinical
unit tests."""

from __future__ import annotations

import base64
import itertools
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from typing import Any

from clinical.evaluation import Evaluator
from clinical.patient_record import PatientRecord
from clinical.rules import Advice
from clinical.timeline import PatientTimeline
from service.settings import PROJECT_ROOT

KNOWLEDGE_DIR = PROJECT_ROOT / "knowledge"
CARDS_DIR = PROJECT_ROOT / "cards"


@cache
def evaluator() -> Evaluator:
    return Evaluator.load(KNOWLEDGE_DIR, CARDS_DIR)


# --- FHIR resources for the clinical tables: small, realistic, dated relative to TODAY -------------------

TODAY = date(2026, 6, 15)
PATIENT = "pt-1"
SUBJECT = {"reference": f"Patient/{PATIENT}"}
ICD10 = "http://hl7.org/fhir/sid/icd-10-cm"
LOINC = "http://loinc.org"
_ids = itertools.count(1)


def day(offset: int) -> str:
    """The date `offset` days from TODAY (negative: before)."""
    return (TODAY + timedelta(days=offset)).isoformat()


def _id(prefix: str) -> str:
    return f"{prefix}-{next(_ids)}"


def patient(birth: str = "1961-04-02") -> dict[str, Any]:
    return {"resourceType": "Patient", "id": PATIENT, "birthDate": birth}


def administration(text: str, offset: int, status: str = "completed") -> dict[str, Any]:
    return {
        "resourceType": "MedicationAdministration",
        "id": _id("ma"),
        "status": status,
        "medicationCodeableConcept": {"text": text},
        "subject": SUBJECT,
        "effectiveDateTime": day(offset),
    }


def order(text: str, offset: int, status: str = "active", intent: str = "order") -> dict[str, Any]:
    return {
        "resourceType": "MedicationRequest",
        "id": _id("mr"),
        "status": status,
        "intent": intent,
        "medicationCodeableConcept": {"text": text},
        "subject": SUBJECT,
        "authoredOn": day(offset),
    }


def condition(
    offset: int, *, text: str | None = None, code: str | None = None, clinical: str = "active", **extra: Any
) -> dict[str, Any]:
    concept: dict[str, Any] = {}
    if code:
        concept["coding"] = [{"system": ICD10, "code": code}]
    if text:
        concept["text"] = text
    resource = {
        "resourceType": "Condition",
        "id": _id("cond"),
        "clinicalStatus": {
            "coding": [
                {"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": clinical}
            ]
        },
        "code": concept,
        "subject": SUBJECT,
        "onsetDateTime": day(offset),
    }
    resource.update(extra)
    return resource


def note(text: str, offset: int) -> dict[str, Any]:
    """A free-text neurological observation ("Neuro exam" with a string value)."""
    return {
        "resourceType": "Observation",
        "id": _id("obs"),
        "status": "final",
        "code": {"text": "Neurological examination"},
        "valueString": text,
        "subject": SUBJECT,
        "effectiveDateTime": day(offset),
    }


def score(name: str, value: int, offset: int) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": _id("score"),
        "status": "final",
        "code": {"text": name},
        "valueInteger": value,
        "subject": SUBJECT,
        "effectiveDateTime": day(offset),
    }


def report(offset: int, *, title: str, conclusion: str = "", loinc: str | None = None) -> dict[str, Any]:
    code: dict[str, Any] = {"text": title}
    if loinc:
        code["coding"] = [{"system": LOINC, "code": loinc, "display": title}]
    resource: dict[str, Any] = {
        "resourceType": "DiagnosticReport",
        "id": _id("dr"),
        "status": "final",
        "category": [
            {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0074", "code": "RAD"}]}
        ],
        "code": code,
        "subject": SUBJECT,
        "effectiveDateTime": day(offset),
    }
    if conclusion:
        resource["conclusion"] = conclusion
    return resource


# --- one free text, today, in each place an EHR writes it (the review tables run over all of them) ------


def text_in_observation_value(text: str) -> dict[str, Any]:
    return note(text, 0)


def text_in_observation_component(text: str) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": _id("form"),
        "status": "final",
        "code": {"text": "Neurologischer Befund"},
        "component": [{"code": {"text": "Beurteilung"}, "valueString": text}],
        "subject": SUBJECT,
        "effectiveDateTime": day(0),
    }


def text_in_observation_note(text: str) -> dict[str, Any]:
    resource = note("Pflegevisite", 0)
    resource["note"] = [{"text": text}]
    return resource


def text_in_report_conclusion(text: str) -> dict[str, Any]:
    return report(0, title="Neurologisches Konsil", conclusion=text)


def text_in_presented_form(text: str) -> dict[str, Any]:
    resource = report(0, title="Neurologisches Konsil")
    data = base64.b64encode(text.encode()).decode()
    resource["presentedForm"] = [{"contentType": "text/plain", "data": data}]
    return resource


def text_in_condition(text: str) -> dict[str, Any]:
    return condition(0, text=text)


TEXT_PLACES: dict[str, Callable[[str], dict[str, Any]]] = {
    "Observation value": text_in_observation_value,
    "Observation component": text_in_observation_component,
    "Observation note": text_in_observation_note,
    "DiagnosticReport conclusion": text_in_report_conclusion,
    "DiagnosticReport presentedForm": text_in_presented_form,
    "Condition code.text": text_in_condition,
}


def brain_mri(offset: int) -> dict[str, Any]:
    return report(offset, title="MR Brain WO and W contrast IV", loinc="24587-8")


def brain_mri_order(offset: int, status: str = "active") -> dict[str, Any]:
    return {
        "resourceType": "ServiceRequest",
        "id": _id("sr"),
        "status": status,
        "intent": "order",
        "code": {
            "coding": [{"system": LOINC, "code": "24587-8", "display": "MR Brain WO and W contrast IV"}]
        },
        "subject": SUBJECT,
        "authoredOn": day(offset),
    }


def draft(text: str) -> dict[str, Any]:
    return {
        "resourceType": "MedicationRequest",
        "id": _id("draft"),
        "status": "draft",
        "intent": "order",
        "medicationCodeableConcept": {"text": text},
        "subject": SUBJECT,
    }


def timeline(
    resources: list[dict[str, Any]], drafts: list[dict[str, Any]] | None = None, today: date = TODAY
) -> PatientTimeline:
    record = PatientRecord(PATIENT)
    record.add_all(
        [patient(), *resources] if not any(r["resourceType"] == "Patient" for r in resources) else resources
    )
    return evaluator().timeline_for(record, drafts or [], today)


def advice(
    resources: list[dict[str, Any]], drafts: list[dict[str, Any]] | None = None, today: date = TODAY
) -> list[Advice]:
    return evaluator().advice_on(timeline(resources, drafts, today), today)


def cards(
    resources: list[dict[str, Any]], drafts: list[dict[str, Any]] | None = None, today: date = TODAY
) -> list[dict[str, Any]]:
    return evaluator().cards_from_timeline(
        timeline(resources, drafts, today),
        now=datetime.combine(today, time(10, 0), tzinfo=UTC),
        patient_id=PATIENT,
        user_id="Practitioner/dr-1",
        encounter_id=None,
    )


def by_topic(found: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The cards by their topic code (each topic shows at most once)."""
    return {card["source"]["topic"]["code"]: card for card in found}


def topics(found: list[dict[str, Any]]) -> dict[str, str]:
    return {card["source"]["topic"]["code"]: card["indicator"] for card in found}
