"""Hypothesis strategies for the card invariants (tests/test_card_invariants.py): random but plausible
patient records built from the clinical_support builders, dated around TODAY.

A generated case is a `Case`: the record's resources, the draft orders of the hook (none on
patient-view), and what the generator put in, so that an invariant can be stated from the record's
construction rather than from the product's own reading of it (e.g. "a CAR-T infusion 40 days ago").
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from clinical_support import (
    SUBJECT,
    TODAY,
    administration,
    brain_mri,
    brain_mri_order,
    condition,
    day,
    draft,
    note,
    order,
    patient,
    report,
    score,
)
from hypothesis import strategies as st

HOOKS = ("patient-view", "order-select", "order-sign")

ICI = ["pembrolizumab 200 mg IV q3w", "Keytruda", "nivolumab 240 mg IV", "ipilimumab 1 mg/kg", "atezolizumab"]
CAR_T = [
    "Yescarta",
    "axicabtagene ciloleucel infusion",
    "Kymriah",
    "Carvykti",
    "Breyanzi",
    "CAR-T cell infusion",
]
TCE = ["teclistamab", "Tecvayli step-up dose 1", "blinatumomab", "glofitamab", "epcoritamab", "talquetamab"]
AGENTS = {"ici": ICI, "car_t": CAR_T, "t_cell_engager": TCE}
# Names of a therapy that do not give it (spec section 1): never exposure.
NOT_GIVEN = ["CAR-T evaluation", "Referral for CAR-T cell therapy", "ipilimumab-naive", "Keytruda - declined"]

GIVEN_STATUSES = ["completed", "in-progress", "on-hold", "stopped", "unknown"]  # MedicationAdministration
PROCEDURE_GIVEN = ["completed", "in-progress", "stopped", "unknown"]  # spec section 1: not on-hold
PROCEDURE_STATUSES = [*PROCEDURE_GIVEN, "on-hold", "preparation", "not-done"]
NO_EXPOSURE_STATUSES = ["entered-in-error", "not-done"]
ORDER_STATUSES = ["active", "on-hold", "completed", "stopped", "draft", "cancelled", "entered-in-error"]
ORDER_INTENTS = ["order", "order", "plan", "proposal"]

AFFIRMED = [
    "new generalized seizure",
    "Seizure? Yes",
    "new expressive aphasia",
    "confused, disoriented to place",
    "somnolent, awakens to voice",
    "obtunded, awakens only to tactile stimulus",
    "seizure lasting 7 minutes",
    "new right-sided weakness",
    "tremor",
    "ICANS grade 2",
    "No fever, new generalized seizure",
    "Denies confusion but new dysarthria today",
    "seizure despite levetiracetam prophylaxis",
    "new bilateral leg weakness, transverse myelitis suspected",
    "ptosis and diplopia, myasthenia gravis",
    "proximal muscle weakness, myositis",
    "peripheral neuropathy",
]
NEGATED = [
    "No seizure activity overnight",
    "Denies confusion, seizures, weakness",
    "Seizure: no",
    "no headache, confusion or seizure",
    "negative for seizure",
    "seizure ruled out",
    "History of seizures in childhood",
    "seizure prophylaxis with levetiracetam",
    "ICANS monitoring per protocol",
    "at risk for ICANS",
    "ICANS grade 0",
    "Seizure-free for two years",
    "FHx: epilepsy, seizures in mother",
    "confusion due to opioid toxicity",
]
UNCERTAIN = ["r/o ICANS", "possible seizure", "suspected encephalitis", "concern for ICANS", "? seizure"]
CONDITION_TEXTS = [
    "autoimmune encephalitis",
    "Seizure",
    "Immune effector cell-associated neurotoxicity syndrome",
    "Myasthenia gravis",
    "Transverse myelitis",
    "Guillain-Barre syndrome",
    "Peripheral neuropathy",
    "Hepatic encephalopathy",
    "Posterior reversible encephalopathy syndrome",
]
CONDITION_CODES = ["G92.00", "G92.01", "G92.02", "G92.03", "G92.04", "G92.05", "G04.81", "G70.00", "R56.9"]
CLINICAL_STATUSES = ["active", "active", "recurrence", "resolved", "inactive", "remission"]
IMAGING_REPORTS = [
    ("CT chest abdomen pelvis with contrast", "Findings consistent with iUPD (unconfirmed progression)."),
    ("CT chest abdomen pelvis with contrast", "iCPD: confirmed progression."),
    ("CT chest abdomen pelvis with contrast", "Stable disease (iSD)."),
    ("CT chest abdomen pelvis with contrast", "No evidence of pseudoprogression."),
    ("CT chest abdomen pelvis with contrast", "Criteria for iUPD not met."),
    ("PET-CT skull base to mid-thigh", "Possible pseudoprogression."),
    ("MR Brain WO and W contrast IV", "New enhancing lesion: iUPD."),
    ("Chest X-ray", "No acute findings."),
]
BIRTH_DATES = ["2030-01-01", "1961-04-02", "1990-07-30", "2016-02-11", "2019-09-01", "2013-06-16", "19xx", ""]
CHILDREN = ["2016-02-11", "2019-09-01", "2014-06-16", "2024-01-01"]  # under 12 on TODAY
TIMES = ["T23:30:00-05:00", "T00:15:00+14:00", "T10:00:00", "T08:00:00.123Z"]  # date-times, with zones
BAD_DATES = ["2026-13-45", "yesterday", "", "2026-06", "2026", "15/06/2026", "2026-06-15T25:61:00Z"]

# Most records fall in the windows that matter (the last 100 days, the next 30); some long before.
offsets = st.one_of(
    st.integers(min_value=-100, max_value=30),
    st.integers(min_value=-100, max_value=30),
    st.integers(min_value=-800, max_value=-100),
)
recent = st.integers(min_value=-60, max_value=0)


def _fhir_date(value: Any) -> date:
    """The calendar date a FHIR date / dateTime states ("2026", "2026-06" from their first day, a
    dateTime as written); ValueError or TypeError when it states none."""
    if not isinstance(value, str):
        raise TypeError(value)
    if len(value) == 4:
        return date(int(value), 1, 1)
    if len(value) == 7:
        return date(int(value[:4]), int(value[5:7]), 1)
    if len(value) == 10:
        return date.fromisoformat(value)
    return datetime.fromisoformat(value).date()


@dataclass
class Case:
    hook: str
    resources: list[dict[str, Any]]
    drafts: list[dict[str, Any]]
    # What the generator put in, for the invariants that depend on the construction.
    classes: set[str] = field(default_factory=set)  # therapy classes named anywhere (record or drafts)
    extra: list[dict[str, Any]] = field(default_factory=list)  # Medications the record also holds

    def car_t_infusion_offsets(self) -> list[int | None]:
        """Days (from TODAY) of the CAR-T infusions the record holds, None where the date cannot be
        read: a given administration or CPT 38228 procedure, or a completed product order (spec
        section 1) or infusion ServiceRequest."""
        found: list[int | None] = []
        for resource in self.resources:
            if not isinstance(resource.get("id"), str):
                continue  # a malformed resource the record skips (patient_record.py)
            kind, status = resource["resourceType"], resource.get("status")
            concept = resource.get("medicationCodeableConcept") or resource.get("code")
            concept = concept or self._referenced_medication(resource)
            text = concept.get("text") if isinstance(concept, dict) else None
            if kind == "ServiceRequest" and isinstance(text, str) and text.endswith(" infusion"):
                text = text.removesuffix(" infusion")  # a CAR-T infusion ordered as a service
            when = resource.get("effectiveDateTime") or resource.get("performedDateTime")
            if kind == "MedicationRequest" and status == "completed" and resource.get("intent") == "order":
                when = resource.get("authoredOn")
            elif kind == "ServiceRequest" and status == "completed":
                when = resource.get("occurrenceDateTime")
            elif not (
                (kind == "MedicationAdministration" and status in GIVEN_STATUSES)
                or (kind == "Procedure" and status in PROCEDURE_GIVEN)
            ):
                continue
            if text not in CAR_T:
                continue
            try:
                found.append((_fhir_date(when) - TODAY).days)
            except (ValueError, TypeError):
                found.append(None)
        return found

    def _referenced_medication(self, resource: dict[str, Any]) -> Any:
        reference = resource.get("medicationReference")
        if not isinstance(reference, dict):
            return None
        for medication in self.resources:
            if medication["resourceType"] == "Medication" and reference.get("reference") == (
                f"Medication/{medication.get('id')}"
            ):
                return medication.get("code")
        return None

    def ici_started_before_today(self) -> bool:
        """A checkpoint-inhibitor dose given, or an active / completed / stopped order starting, on a
        readable date before today (day 0 of the ICI course is then in the past: spec section 1)."""
        for resource in self.resources:
            if not isinstance(resource.get("id"), str):
                continue  # a malformed resource the record skips
            kind, status = resource["resourceType"], resource.get("status")
            concept = resource.get("medicationCodeableConcept") or self._referenced_medication(resource)
            text = concept.get("text") if isinstance(concept, dict) else None
            if text not in ICI:
                continue
            if kind == "MedicationAdministration" and status in GIVEN_STATUSES:
                when = resource.get("effectiveDateTime")
            elif (
                kind == "MedicationRequest"
                and status in ("active", "on-hold", "completed", "stopped")
                and resource.get("intent") == "order"
            ):
                when = resource.get("authoredOn")
            else:
                continue
            try:
                if _fhir_date(when) < TODAY:
                    return True
            except (ValueError, TypeError):
                continue
        return False

    def describe(self) -> str:
        return f"hook={self.hook} drafts={self.drafts} resources={self.resources}"


def _mangle(resource: dict[str, Any], mangle: str) -> dict[str, Any]:
    """Malformed input the service must survive: an unreadable date, a missing field."""
    if mangle == "none":
        return resource
    for key in ("effectiveDateTime", "authoredOn", "onsetDateTime", "performedDateTime"):
        if key in resource:
            if mangle == "drop-date":
                del resource[key]
            elif mangle.startswith("bad-date:"):
                resource[key] = mangle.removeprefix("bad-date:")
            elif mangle.startswith("time:") and isinstance(resource[key], str):
                resource[key] = resource[key] + mangle.removeprefix("time:")
    if mangle.startswith("wrong-type:"):
        # A field of the wrong JSON type (a sender's bug): the record must still be read, never fatal.
        key, value = _WRONG_TYPES[int(mangle.removeprefix("wrong-type:"))]
        if key in resource or key in ("status", "code"):
            resource[key] = value
    if mangle == "drop-status":
        resource.pop("status", None)
    if mangle == "drop-code":
        for key in ("medicationCodeableConcept", "code"):
            resource.pop(key, None)
    return resource


_WRONG_TYPES: list[tuple[str, Any]] = [
    ("effectiveDateTime", 20260615),
    ("effectiveDateTime", None),
    ("authoredOn", ["2026-06-15"]),
    ("onsetDateTime", {"value": "2026-06-15"}),
    ("status", ["completed"]),
    ("status", 3),
    ("code", "seizure"),
    ("code", {"coding": {"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "G92.02"}}),
    ("code", {"coding": [None, 5, {"code": 7}], "text": 12}),
    ("medicationCodeableConcept", {"text": ["Yescarta"]}),
    ("valueInteger", "5"),
    ("valueInteger", -3),
    ("valueInteger", 10**12),
    ("valueInteger", True),
    ("valueString", {"text": "seizure"}),
    ("clinicalStatus", "active"),
    ("clinicalStatus", {"coding": "resolved"}),
    ("subject", "Patient/pt-1"),
    ("effectivePeriod", {"start": 5, "end": "yesterday"}),
    ("resourceType", ["MedicationRequest"]),
    ("id", {"value": "x"}),
]

mangles = st.one_of(
    st.just("none"),
    st.integers(min_value=0, max_value=len(_WRONG_TYPES) - 1).map(lambda index: f"wrong-type:{index}"),
    st.sampled_from(["drop-date", "drop-status", "drop-code"]),
    st.sampled_from(BAD_DATES).map(lambda bad: f"bad-date:{bad}"),
    st.sampled_from(TIMES).map(lambda time: f"time:{time}"),
)


_procedure_ids = itertools.count(1)


def _procedure(text: str, offset: int, status: str) -> dict[str, Any]:
    return {
        "resourceType": "Procedure",
        "id": f"proc-{next(_procedure_ids)}",
        "status": status,
        "code": {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "38228"}], "text": text},
        "subject": SUBJECT,
        "performedDateTime": day(offset),
    }


@st.composite
def therapy_resource(draw: st.DrawFn, case: Case) -> dict[str, Any]:
    therapy_class = draw(st.sampled_from(sorted(AGENTS)))
    text = draw(st.sampled_from(AGENTS[therapy_class]))
    kind = draw(
        st.sampled_from(
            ["administration", "order", "procedure", "not-given", "statement", "reference", "service-request"]
        )
    )
    offset = draw(offsets)
    case.classes.add(therapy_class)
    if kind == "statement":
        return {
            "resourceType": "MedicationStatement",
            "id": f"ms-{next(_procedure_ids)}",
            "status": draw(
                st.sampled_from(["active", "completed", "stopped", "intended", "entered-in-error"])
            ),
            "medicationCodeableConcept": {"text": text},
            "subject": SUBJECT,
            "effectivePeriod": {"start": day(offset)},
        }
    if kind == "reference":
        # medicationReference: resolved against a Medication of the record, or left dangling.
        medication_id = f"med-{next(_procedure_ids)}"
        resolved = draw(st.booleans())
        if resolved:
            case.extra.append({"resourceType": "Medication", "id": medication_id, "code": {"text": text}})
        resource = order(text, offset, status=draw(st.sampled_from(ORDER_STATUSES)))
        del resource["medicationCodeableConcept"]
        resource["medicationReference"] = {"reference": f"Medication/{medication_id}"}
        return resource
    if kind == "service-request":
        case.classes.add("car_t")
        return {
            "resourceType": "ServiceRequest",
            "id": f"sr-car-t-{next(_procedure_ids)}",
            "status": draw(st.sampled_from(["draft", "active", "on-hold", "completed", "revoked"])),
            "intent": "order",
            "code": {"text": f"{draw(st.sampled_from(CAR_T))} infusion"},
            "subject": SUBJECT,
            "occurrenceDateTime": day(offset),
            "authoredOn": day(min(offset, 0) - draw(st.integers(min_value=0, max_value=40))),
        }
    if kind == "not-given":
        return order(draw(st.sampled_from(NOT_GIVEN)), offset, status=draw(st.sampled_from(ORDER_STATUSES)))
    if kind == "procedure":
        case.classes.add("car_t")
        return _procedure("CAR-T cell infusion", offset, draw(st.sampled_from(PROCEDURE_STATUSES)))
    return _dose_or_order(draw, text, offset, given=kind == "administration")


def _dose_or_order(draw: st.DrawFn, text: str, offset: int, *, given: bool) -> dict[str, Any]:
    """An administration (any status, exposure or not) or an order (any status and intent) of `text`."""
    if given:
        return administration(
            text, offset, status=draw(st.sampled_from(GIVEN_STATUSES + NO_EXPOSURE_STATUSES))
        )
    return order(
        text,
        offset,
        status=draw(st.sampled_from(ORDER_STATUSES)),
        intent=draw(st.sampled_from(ORDER_INTENTS)),
    )


@st.composite
def neuro_resource(draw: st.DrawFn) -> dict[str, Any]:
    offset = draw(st.integers(min_value=-90, max_value=10))
    kind = draw(st.sampled_from(["note", "condition", "code", "ice", "capd", "icans-grade", "timed-ice"]))
    if kind == "icans-grade":
        return score("ICANS grade", draw(st.integers(min_value=0, max_value=4)), offset)
    if kind == "timed-ice":
        reading = score("ICE score", draw(st.integers(min_value=0, max_value=10)), offset)
        hour, zone = (
            draw(st.integers(min_value=0, max_value=23)),
            draw(st.sampled_from(["Z", "+02:00", "-05:00"])),
        )
        reading["effectiveDateTime"] = f"{day(offset)}T{hour:02d}:30:00{zone}"
        return reading
    if kind == "note":
        return note(draw(st.sampled_from(AFFIRMED + NEGATED + UNCERTAIN)), offset)
    if kind == "condition":
        extra: dict[str, Any] = {}
        if draw(st.booleans()) and draw(st.booleans()):
            extra["abatementDateTime"] = day(
                draw(st.integers(min_value=offset, max_value=max(offset, 0) + 5))
            )
        return condition(
            offset,
            text=draw(st.sampled_from(CONDITION_TEXTS)),
            clinical=draw(st.sampled_from(CLINICAL_STATUSES)),
            **extra,
        )
    if kind == "code":
        return condition(offset, code=draw(st.sampled_from(CONDITION_CODES)))
    if kind == "ice":
        return score("ICE score", draw(st.integers(min_value=0, max_value=10)), offset)
    return score("CAPD score", draw(st.integers(min_value=0, max_value=32)), offset)


@st.composite
def imaging_resource(draw: st.DrawFn) -> dict[str, Any]:
    offset = draw(st.integers(min_value=-200, max_value=10))
    kind = draw(st.sampled_from(["mri", "mri-order", "report"]))
    if kind == "mri":
        return brain_mri(offset)
    if kind == "mri-order":
        return brain_mri_order(
            offset, status=draw(st.sampled_from(["active", "completed", "draft", "revoked"]))
        )
    title, conclusion = draw(st.sampled_from(IMAGING_REPORTS))
    return report(offset, title=title, conclusion=conclusion)


@st.composite
def draft_orders(draw: st.DrawFn, case: Case) -> list[dict[str, Any]]:
    drafts: list[dict[str, Any]] = []
    for _ in range(draw(st.integers(min_value=0, max_value=2))):
        kind = draw(st.sampled_from(["ici", "car_t", "t_cell_engager", "mri", "other"]))
        if kind == "mri":
            drafts.append(brain_mri_order(0, status="draft"))
        elif kind == "other":
            drafts.append(draft("ondansetron 8 mg"))
        else:
            case.classes.add(kind)
            drafted = draft(draw(st.sampled_from(AGENTS[kind])))
            if draw(st.booleans()):  # a planned start, up to 30 days ahead
                start = day(draw(st.integers(min_value=0, max_value=30)))
                drafted["dosageInstruction"] = [{"timing": {"repeat": {"boundsPeriod": {"start": start}}}}]
            drafts.append(drafted)
    return [_mangle(order, draw(mangles)) for order in drafts]


@st.composite
def cases(
    draw: st.DrawFn,
    *,
    hooks: tuple[str, ...] = HOOKS,
    classes: tuple[str, ...] | None = None,
    min_therapies: int = 0,
    children: bool = False,
) -> Case:
    """A record: a patient, 0-4 therapy records, 0-4 neurological records, 0-3 imaging records, some
    of them malformed; on order hooks 0-2 draft orders. `classes` limits the therapy classes drawn."""
    case = Case(hook=draw(st.sampled_from(hooks)), resources=[], drafts=[])
    birth: Any = draw(st.sampled_from(CHILDREN if children else [*BIRTH_DATES, 1961, ["1961-04-02"]]))
    case.resources.append(patient(birth) if birth else {"resourceType": "Patient", "id": "pt-1"})
    therapy = therapy_resource(case)
    if classes is not None:
        therapy = _limited_therapy(case, classes)
    for _ in range(draw(st.integers(min_value=min_therapies, max_value=4))):
        case.resources.append(_mangle(draw(therapy), draw(mangles)))
    for _ in range(draw(st.integers(min_value=0, max_value=4))):
        case.resources.append(_mangle(draw(neuro_resource()), draw(mangles)))
    for _ in range(draw(st.integers(min_value=0, max_value=3))):
        case.resources.append(draw(imaging_resource()))
    case.resources.extend(case.extra)
    if case.hook != "patient-view":
        if classes is None:
            case.drafts = draw(draft_orders(case))
        else:
            case.drafts = draw(_limited_drafts(case, classes))
    return case


@st.composite
def _limited_therapy(draw: st.DrawFn, case: Case, classes: tuple[str, ...]) -> dict[str, Any]:
    therapy_class = draw(st.sampled_from(classes))
    case.classes.add(therapy_class)
    text = draw(st.sampled_from(AGENTS[therapy_class]))
    offset = draw(offsets)
    return _dose_or_order(draw, text, offset, given=draw(st.booleans()))


@st.composite
def _limited_drafts(draw: st.DrawFn, case: Case, classes: tuple[str, ...]) -> list[dict[str, Any]]:
    drafts: list[dict[str, Any]] = []
    for _ in range(draw(st.integers(min_value=0, max_value=2))):
        therapy_class = draw(st.sampled_from(classes))
        case.classes.add(therapy_class)
        drafts.append(draft(draw(st.sampled_from(AGENTS[therapy_class]))))
    return drafts


@st.composite
def recent_car_t_cases(draw: st.DrawFn) -> Case:
    """A record with a CAR-T infusion 0-60 days ago (and anything else)."""
    case = draw(cases())
    offset = draw(recent)
    case.resources.insert(1, administration(draw(st.sampled_from(CAR_T[:5])), offset))
    case.classes.add("car_t")
    return case


@st.composite
def planned_car_t_cases(draw: st.DrawFn) -> Case:
    """A record with a CAR-T product ordered in the last weeks (a baseline is due unless something on
    record says otherwise), and anything else."""
    case = draw(cases())
    product = order(draw(st.sampled_from(CAR_T[:5])), draw(st.integers(min_value=-40, max_value=0)))
    if draw(st.booleans()):
        product["intent"] = "plan"
    case.resources.insert(1, product)
    if draw(st.booleans()):
        # An earlier infusion on record, often with a date that cannot be read.
        infusion = administration(
            draw(st.sampled_from(CAR_T[:5])), draw(st.integers(min_value=-500, max_value=0))
        )
        case.resources.insert(
            1,
            _mangle(
                infusion, draw(st.sampled_from(["none", "drop-date", "bad-date:yesterday", "wrong-type:0"]))
            ),
        )
    case.classes.add("car_t")
    return case


@st.composite
def recent_exposure_cases(draw: st.DrawFn) -> Case:
    """A record with a dose of any class given 0-60 days ago (and anything else)."""
    case = draw(cases())
    therapy_class = draw(st.sampled_from(sorted(AGENTS)))
    agents = CAR_T[:5] if therapy_class == "car_t" else AGENTS[therapy_class]
    case.resources.insert(1, administration(draw(st.sampled_from(agents)), draw(recent)))
    case.classes.add(therapy_class)
    return case


__all__ = [
    "AFFIRMED",
    "HOOKS",
    "NEGATED",
    "TODAY",
    "UNCERTAIN",
    "Case",
    "cases",
    "recent_car_t_cases",
    "recent_exposure_cases",
]


# --- issue 16 section 4 (workup): deceased patients and MRI contraindications --------------------------

_NCIT = "urn:oid:2.16.840.1.113883.3.26.1.1"
# The patient has died: on or before today (any hook, any record: no cards at all).
DECEASED = [
    {"deceasedBoolean": True},
    {"deceasedDateTime": day(0)},
    {"deceasedDateTime": day(-1) + "T23:10:00Z"},
    {"deceasedDateTime": day(-30)},
]


def _device(text: str, safety: dict[str, Any] | None = None) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Device",
        "id": f"dev-{text[:6].replace(' ', '-').lower()}",
        "status": "active",
        "type": {"text": text},
        "patient": SUBJECT,
    }
    if safety is not None:
        resource["safety"] = [safety]
    return resource


def _egfr(value: float, offset: int) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": f"egfr-{offset}",
        "status": "final",
        "code": {
            "coding": [{"system": "http://loinc.org", "code": "98979-8"}],
            "text": "eGFR (CKD-EPI 2021)",
        },
        "subject": SUBJECT,
        "effectiveDateTime": day(offset),
        "valueQuantity": {"value": value, "unit": "mL/min/{1.73_m2}"},
    }


# Each makes any MRI order suggestion wrong (knowledge/patient-context.yaml `mri_safety`).
MRI_CONTRAINDICATIONS = [
    [condition(-900, code="Z95.0", text="Presence of cardiac pacemaker")],
    [condition(-400, code="Z95.810")],
    [condition(-2000, text="Cochlear implant, left ear")],
    [_device("Permanent pacemaker")],
    [_device("Implantable cardioverter defibrillator")],
    [_device("Spinal cord stimulator", {"coding": [{"system": _NCIT, "code": "C106047"}]})],
    [_device("Aneurysm clip", {"text": "MR Unsafe"})],
    [
        {
            "resourceType": "Flag",
            "id": "flag-mri",
            "status": "active",
            "code": {"text": "MRI UNSAFE - retained shrapnel"},
            "subject": SUBJECT,
        }
    ],
    [
        {
            "resourceType": "AllergyIntolerance",
            "id": "allergy-gad",
            "clinicalStatus": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical",
                        "code": "active",
                    }
                ]
            },
            "code": {"text": "Gadolinium-based contrast agents"},
            "patient": SUBJECT,
        }
    ],
    [_egfr(24, -2)],
    [_egfr(55, -40), _egfr(18, -1)],
]
