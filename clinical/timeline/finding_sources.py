"""v3 (facts): neurological findings that live outside a Condition or a plain Observation.

- Reports: a DiagnosticReport's conclusion, conclusionCode and presentedForm text (a base64 text/plain or
  text/html attachment, read up to the text cap) state findings of an MRI, CT or EEG: "diffuse cerebral
  oedema", "non-convulsive status epilepticus", "leptomeningeal enhancement". The report's title (its
  code) is not read: "EEG for seizures" is the question, the conclusion the answer. The same phrase rules
  (negation, uncertainty, history) apply: "no acute intracranial abnormality; no oedema" is silent.
- Treatment as evidence: a medication given, ordered or taken, or a procedure done or ordered, *for* a
  finding (reasonCode, reasonReference to a Condition or Observation in the record, or the indication in
  the order's own text) documents it on the treatment's date: dexamethasone for ICANS, anakinra for
  steroid-refractory ICANS, IVIG or plasma exchange for myasthenia gravis. Which treatment documents which
  findings is reviewed in knowledge/neurological-findings.yaml (`treatment_evidence`); tocilizumab (CRS)
  and levetiracetam (prophylaxis) are not listed, and a reason that is not a listed finding (CRS, brain
  metastases) documents nothing. An order whose every dosage is "as needed" (or a ServiceRequest "as needed")
  documents nothing; a dose given from it (MedicationAdministration.request, Procedure.basedOn) with no
  reason of its own reads that order's reason and "as needed" indication.
"""

from __future__ import annotations

import base64
import binascii
import html
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from clinical.fhir_data import as_dict, as_list, as_str, concept_texts, first_date, status_of
from clinical.knowledge import QualifierMatcher, TextMatcher
from clinical.knowledge.schema import TreatmentEvidence
from clinical.patient_record import PatientRecord
from clinical.timeline.exposures import medication_concepts
from clinical.timeline.findings import (
    FindingKind,
    FindingVocabulary,
    NeurologicalFinding,
    NormalReading,
    ObservationIndex,
    ScoreReading,
    concept_findings,
    gcs_facts,
    member_facts,
    reference_target,
)

_REPORT_EXCLUDED_STATUS = frozenset(("entered-in-error", "cancelled", "registered"))
REPORT_DATES = ("effectiveDateTime", "effectivePeriod.start", "issued")
_TEXT_TYPES = ("text/plain", "text/html")
_MAX_ATTACHMENTS = 4  # per report: the report itself, perhaps an addendum and a translation
_TAG = re.compile(r"<[^>]{0,2000}>")
_TITLE_CHARS = 60
_CONDITIONAL_WINDOW = 40

# Statuses that say the treatment was not given or ordered (or the record is void).
_TREATMENT_EXCLUDED_STATUS = frozenset(
    ("entered-in-error", "cancelled", "not-done", "not-taken", "revoked", "draft")
)
TREATMENT_DATES: dict[str, tuple[str, ...]] = {
    "MedicationAdministration": ("effectiveDateTime", "effectivePeriod.start"),
    "MedicationRequest": ("authoredOn", "dosageInstruction.timing.repeat.boundsPeriod.start"),
    "MedicationStatement": ("effectiveDateTime", "effectivePeriod.start", "dateAsserted"),
    "Procedure": ("performedDateTime", "performedPeriod.start"),
    "ServiceRequest": ("occurrenceDateTime", "occurrencePeriod.start", "authoredOn"),
}
_GIVEN = frozenset(("MedicationAdministration", "MedicationStatement", "Procedure"))
# The text an order carries besides its codes, where EHRs write the indication.
_INSTRUCTION_FIELDS = ("dosageInstruction", "dosage")
# Where an order or a statement of use says "as needed" in structure (FHIR Dosage.asNeeded[x], and
# ServiceRequest.asNeeded[x] on the request itself); an administration or a procedure is treatment given,
# never "as needed".
_AS_NEEDED_DOSAGES = {"MedicationRequest": "dosageInstruction", "MedicationStatement": "dosage"}
# A dose given or a procedure done from an order (MedicationAdministration.request, Procedure.basedOn):
# where the order is "as needed", the dose given is that order's condition met, so its reason is read.
_REASON_FIELDS = ("reasonCode", "reasonReference", "reason")
_FROM_ORDER = {
    "MedicationAdministration": ("request", "MedicationRequest"),
    "Procedure": ("basedOn", "ServiceRequest"),
}


def _clip_title(text: str) -> str:
    if len(text) <= _TITLE_CHARS:
        return text
    cut = text[:_TITLE_CHARS].rsplit(" ", 1)[0]
    return f"{cut}..."


def _report_title(report: dict[str, Any]) -> str:
    title = next(concept_texts(report.get("code")), None)
    return _clip_title(title) if title else "report"


def _attachment_text(attachment: Any, max_chars: int) -> str | None:
    """The decoded text of a text/plain or text/html attachment, bounded: only as much base64 as the
    text cap can use is decoded; anything unreadable reads as absent."""
    holder = as_dict(attachment)
    if holder is None:
        return None
    declared = holder.get("contentType")
    if declared is not None and not isinstance(declared, str):
        return None  # a wrong type reads as absent
    content_type = (declared or "text/plain").lower()  # no type given: read as plain text
    if not content_type.startswith(_TEXT_TYPES):
        return None
    data = as_str(holder.get("data"))
    if data is None:
        return None  # a URL is not fetched: the report's own conclusion is read instead
    # Four base64 characters make three bytes; UTF-8 text needs up to four bytes a character.
    wanted = (max_chars * 4 // 3 + 4) * 4
    chunk = re.sub(r"\s+", "", data[: wanted + wanted // 8])[:wanted]
    chunk = chunk[: len(chunk) - len(chunk) % 4]
    try:
        text = base64.b64decode(chunk, validate=False).decode("utf-8", errors="replace")
    except (binascii.Error, ValueError):
        return None
    if "html" in content_type:
        text = html.unescape(_TAG.sub(" ", text))
    return text[:max_chars]


def _report_texts(report: dict[str, Any], max_chars: int) -> Iterator[str]:
    conclusion = as_str(report.get("conclusion"))
    if conclusion:
        yield conclusion
    for attachment in as_list(report.get("presentedForm"))[:_MAX_ATTACHMENTS]:
        text = _attachment_text(attachment, max_chars)
        if text:
            yield text


def find_report_facts(
    record: PatientRecord, vocabulary: FindingVocabulary
) -> tuple[list[NeurologicalFinding], list[ScoreReading], list[NormalReading]]:
    """Findings (and ICE / CAPD scores stated in words) in report conclusions and attached report text,
    and in the report's results that are read only through it (contained, or undated)."""
    findings: list[NeurologicalFinding] = []
    scores: list[ScoreReading] = []
    normals: list[NormalReading] = []
    index = ObservationIndex(record.of_type("Observation"))
    for report in record.of_type("DiagnosticReport"):
        if status_of(report) in _REPORT_EXCLUDED_STATUS:
            continue
        on = first_date(report, REPORT_DATES)
        if on is None:
            continue
        title = _report_title(report)
        seen: set[str] = set()
        concepts = [concept for concept in as_list(report.get("conclusionCode")) if isinstance(concept, dict)]
        texts = list(_report_texts(report, vocabulary.max_text_chars))
        found = [hit for concept in concepts for hit in concept_findings(concept, vocabulary)]
        found += [hit for text in texts for hit in concept_findings({"text": text}, vocabulary)]
        for kind, grade, detail, uncertain in found:
            if kind.id in seen:
                continue
            seen.add(kind.id)
            findings.append(
                NeurologicalFinding(kind, grade, on, "DiagnosticReport", f"{detail} in {title}", uncertain)
            )
        for text in texts:
            stated_gcs = gcs_facts(vocabulary.gcs_in_text(text), vocabulary, on, 0.0, "DiagnosticReport")
            findings.extend(found for found in stated_gcs.findings if found.kind.id not in seen)
            seen.update(found.kind.id for found in stated_gcs.findings)
            normals.extend(stated_gcs.normals)
            stated = vocabulary.score_in_text(text)
            if stated is not None:
                score, value = stated
                scores.append(ScoreReading(score.kind, value, score.maximum, on, score.grade(value)))
                if value == (score.maximum if score.kind == "ice" else 0):
                    normals.append(NormalReading(score.kind, on))
        results = member_facts(report, as_list(report.get("result")), vocabulary, index, (on, 0.0))
        findings.extend(results.findings)
        scores.extend(results.scores)
        normals.extend(results.normals)
    return findings, scores, normals


@dataclass(frozen=True)
class _Treatment:
    entry: TreatmentEvidence
    documents: frozenset[str]


class TreatmentVocabulary:
    """The reviewed treatments that document a finding, matched by name in the record's text."""

    def __init__(self, entries: list[TreatmentEvidence], conditional_words: Sequence[str] = ()) -> None:
        self._conditional: TextMatcher[bool] = QualifierMatcher((word, True) for word in conditional_words)
        self._names: TextMatcher[_Treatment] = TextMatcher(
            (name, _Treatment(entry, frozenset(entry.documents))) for entry in entries for name in entry.names
        )
        self.resource_types = tuple(
            dict.fromkeys(resource_type for entry in entries for resource_type in entry.resource_types)
        )

    def conditional_before(self, text: str, position: int) -> bool:
        """A conditional word ("if", "PRN") shortly before `position`: "give if ICANS grade 2"."""
        window = text[max(0, position - _CONDITIONAL_WINDOW) : position]
        return self._conditional.first(window) is not None

    def named(self, texts: list[str], resource_type: str) -> tuple[_Treatment, str] | None:
        for text in texts:
            for hit in self._names.find(text):
                if resource_type in hit.value.entry.resource_types:
                    return hit.value, text[hit.start : hit.end]
        return None


def _treatment_texts(resource: dict[str, Any], resource_type: str, record: PatientRecord) -> list[str]:
    if resource_type in ("Procedure", "ServiceRequest"):
        return list(concept_texts(resource.get("code")))
    concepts, texts = medication_concepts(resource, record)
    return [text for concept in concepts for text in concept_texts(concept)] + texts


def _instruction_texts(resource: dict[str, Any]) -> Iterator[str]:
    """Where the indication is written when it is not coded: dosage text, patient instruction, notes."""
    for field_name in _INSTRUCTION_FIELDS:
        for dosage in as_list(resource.get(field_name)):
            holder = as_dict(dosage)
            if holder is None:
                continue
            for key in ("text", "patientInstruction"):
                text = as_str(holder.get(key))
                if text:
                    yield text
    for note in as_list(resource.get("note")):
        holder = as_dict(note)
        text = as_str(holder.get("text")) if holder is not None else None
        if text:
            yield text


def _as_needed_only(resource: dict[str, Any], resource_type: str) -> bool:
    """Every dosage of the order is "as needed" (R4 asNeededBoolean / asNeededCodeableConcept, R5 asNeeded /
    asNeededFor): a standing order, as "PRN" in its text, so its reason is a condition, not an event. EHR
    order sets send "dexamethasone 10 mg IV q6h" with asNeededBoolean true and reasonCode ICANS, or the
    indication in asNeededCodeableConcept, with no PRN word in any text. A scheduled dose beside the PRN
    one is treatment given now, so the order stays evidence then."""
    if resource_type == "ServiceRequest":
        return _as_needed(resource)  # "plasma exchange as needed for myasthenic crisis"
    field_name = _AS_NEEDED_DOSAGES.get(resource_type)
    if field_name is None:
        return False
    dosages = [as_dict(dosage) for dosage in as_list(resource.get(field_name))]
    return bool(dosages) and all(dosage is not None and _as_needed(dosage) for dosage in dosages)


def _as_needed(holder: dict[str, Any]) -> bool:
    """A Dosage or a ServiceRequest that says "as needed": R4 asNeededBoolean / asNeededCodeableConcept,
    R5 asNeeded / asNeededFor (Dosage) and asNeededCodeableConcept (ServiceRequest)."""
    return (
        holder.get("asNeededBoolean") is True
        or holder.get("asNeeded") is True
        or as_dict(holder.get("asNeededCodeableConcept")) is not None
        or bool(as_list(holder.get("asNeededFor")))
    )


def _referenced(
    resource: dict[str, Any],
    reference: Any,
    record: PatientRecord,
    resource_types: tuple[str, ...] = ("Condition", "Observation"),
) -> dict[str, Any] | None:
    target = reference_target(reference)
    if target is None:
        return None
    if target.startswith("#"):
        for contained in as_list(resource.get("contained")):
            if isinstance(contained, dict) and contained.get("id") == target[1:]:
                return contained
        return None
    path = target.split("/_history/", 1)[0]
    for resource_type in resource_types:
        marker = f"{resource_type}/"
        if marker in path:
            wanted = path.rsplit(marker, 1)[-1]
            return next((r for r in record.of_type(resource_type) if r.get("id") == wanted), None)
    return None


def _reason_concepts(resource: dict[str, Any], record: PatientRecord) -> Iterator[Any]:
    """reasonCode (R4), reason[].concept (R5), and the code of every Condition or Observation that
    reasonReference / reason[].reference points at within the record."""
    yield from as_list(resource.get("reasonCode"))
    references = list(as_list(resource.get("reasonReference")))
    for reason in as_list(resource.get("reason")):
        holder = as_dict(reason)
        if holder is not None:
            yield holder.get("concept")
            references.append(holder.get("reference"))
    for reference in references:
        target = _referenced(resource, reference, record)
        if target is not None:
            yield target.get("code")
            yield target.get("valueCodeableConcept")
        else:
            holder = as_dict(reference)
            display = as_str(holder.get("display")) if holder is not None else None
            if display:
                yield {"text": display}


def _standing_order_reasons(
    resource: dict[str, Any], resource_type: str, record: PatientRecord
) -> Iterator[Any]:
    """The reason of the "as needed" order a dose was given or a procedure done from (MedicationAdministration
    .request, Procedure.basedOn), and its "as needed" indication (asNeededCodeableConcept, R5 asNeededFor):
    EHRs chart the dose on the MAR with a reference to its order and no reason of its own, so "dexamethasone
    10 mg IV q6h as needed for ICANS" given is dexamethasone given for ICANS. An order that is not "as needed"
    documents the finding itself."""
    field_name, order_type = _FROM_ORDER.get(resource_type, ("", ""))
    for reference in as_list(resource.get(field_name)) if field_name else ():
        standing = _referenced(resource, reference, record, (order_type,))
        if standing is None or status_of(standing) == "entered-in-error":
            continue
        if not _as_needed_only(standing, order_type):
            continue
        yield from _reason_concepts(standing, record)
        holders = [standing] if order_type == "ServiceRequest" else as_list(standing.get("dosageInstruction"))
        for holder in holders:
            dosage = as_dict(holder)
            if dosage is not None:
                yield dosage.get("asNeededCodeableConcept")
                yield from as_list(dosage.get("asNeededFor"))


def _reason_label(kind: FindingKind, detail: str) -> str:
    return detail.strip("'") if detail.startswith("'") else kind.display


def _treatment_finding(
    resource: dict[str, Any],
    resource_type: str,
    record: PatientRecord,
    vocabulary: FindingVocabulary,
    treatments: TreatmentVocabulary,
) -> NeurologicalFinding | None:
    if status_of(resource) in _TREATMENT_EXCLUDED_STATUS or _as_needed_only(resource, resource_type):
        return None
    treatment_texts = _treatment_texts(resource, resource_type, record)
    named = treatments.named(treatment_texts, resource_type)
    if named is None:
        return None
    treatment, name = named
    on: date | None = first_date(resource, TREATMENT_DATES[resource_type])
    if on is None:
        return None
    reasons = [
        hit for concept in _reason_concepts(resource, record) for hit in concept_findings(concept, vocabulary)
    ]
    own_texts = [*_instruction_texts(resource), *treatment_texts]
    for text in own_texts:
        for hit in concept_findings({"text": text}, vocabulary):
            mention = text.find(hit[2].strip("'"))
            if mention < 0 or not treatments.conditional_before(text, mention):
                reasons.append(hit)
    # An affirmed reason documents the event; a treatment for a suspected one ("for presumed ICANS")
    # documents a suspicion (warning). "ICANS prophylaxis" and "give if ICANS" document nothing.
    listed = [reason for reason in reasons if reason[0].id in treatment.documents]
    if not listed and not any(as_list(resource.get(key)) for key in _REASON_FIELDS):
        # a dose given from an "as needed" order with no reason of its own: that order's reason
        ordered = _standing_order_reasons(resource, resource_type, record)
        reasons = [hit for concept in ordered for hit in concept_findings(concept, vocabulary)]
        listed = [reason for reason in reasons if reason[0].id in treatment.documents]
    listed.sort(key=lambda reason: reason[3])  # affirmed first
    if not listed:
        return None
    kind, grade, detail, uncertain = listed[0]
    verb = "given" if resource_type in _GIVEN else "ordered"
    line = f"{name} {verb} for {_reason_label(kind, detail)}"
    documented = treatment.entry.documents_as
    if documented is not None and documented != kind.id:
        kind = vocabulary.kinds[documented]
    return NeurologicalFinding(kind, grade, on, resource_type, line, uncertain)


def find_treatment_findings(
    record: PatientRecord, vocabulary: FindingVocabulary, treatments: TreatmentVocabulary
) -> list[NeurologicalFinding]:
    found: list[NeurologicalFinding] = []
    for resource_type in treatments.resource_types:
        for resource in record.of_type(resource_type):
            finding = _treatment_finding(resource, resource_type, record, vocabulary, treatments)
            if finding is not None:
                found.append(finding)
    return found


__all__ = [
    "REPORT_DATES",
    "TREATMENT_DATES",
    "TreatmentVocabulary",
    "find_report_facts",
    "find_treatment_findings",
]
