"""Imaging on the timeline (clinical/timeline/imaging.py): brain MRIs done or ordered, from each imaging
resource and code system; cross-sectional restaging (CT, MRI, PET) apart from radiographs and
ultrasound; and iRECIST response statements (suspected / confirmed progression) in reports and
observations, read with the phrase rules (docs/clinical-rules-v2.md sections 4 and 6)."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from clinical_support import TODAY, timeline

DICOM = "http://dicom.nema.org/resources/ontology/DCM"
SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
CPT = "http://www.ama-assn.org/go/cpt"
RADIOLOGY = [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0074", "code": "RAD"}]}]
IMAGING_ORDER = [{"coding": [{"system": SNOMED, "code": "363679005"}]}]
ON = date(2026, 6, 1)

Event = tuple[str, str, date | None]


def imaging(resources: list[dict[str, Any]], drafts: list[dict[str, Any]] | None = None) -> list[Event]:
    return [(event.kind, event.state, event.on) for event in timeline(resources, drafts).imaging]


def res(resource_type: str, **fields: Any) -> dict[str, Any]:
    return {"resourceType": resource_type, "id": "i1", **fields}


def study(**fields: Any) -> dict[str, Any]:
    return res("ImagingStudy", status="available", started="2026-06-01", **fields)


def series(modality: str, **fields: Any) -> list[dict[str, Any]]:
    return [{"uid": "1", "modality": {"system": DICOM, "code": modality}, **fields}]


def radiology_report(text: str, **fields: Any) -> dict[str, Any]:
    return res(
        "DiagnosticReport",
        status="final",
        category=RADIOLOGY,
        code={"text": text},
        effectiveDateTime="2026-06-01",
        **fields,
    )


BRAIN_SITE = {"system": SNOMED, "code": "12738006"}

BRAIN_MRI: list[tuple[str, dict[str, Any], list[Event]]] = [
    (
        "study MR brain body site",
        study(series=series("MR", bodySite=BRAIN_SITE)),
        [("brain-mri", "done", ON)],
    ),
    (
        "study R5 modality and head body site",
        study(
            series=[
                {
                    "uid": "1",
                    "modality": {"coding": [{"system": DICOM, "code": "MR"}]},
                    "bodySite": {"concept": {"coding": [{"system": SNOMED, "code": "69536005"}]}},
                }
            ]
        ),
        [("brain-mri", "done", ON)],
    ),
    (
        "study MR series described as brain",
        study(series=series("MR", description="Brain")),
        [("brain-mri", "done", ON)],
    ),
    (
        "study description only",
        study(description="MR Brain WO and W contrast IV"),
        [("brain-mri", "done", ON)],
    ),
    (
        "study procedure code",
        study(procedureCode=[{"coding": [{"system": LOINC, "code": "24590-2"}]}]),
        [("brain-mri", "done", ON)],
    ),
    (
        "report LOINC without category",
        res(
            "DiagnosticReport",
            status="final",
            code={"coding": [{"system": LOINC, "code": "24587-8"}]},
            effectiveDateTime="2026-06-01",
        ),
        [("brain-mri", "done", ON)],
    ),
    (
        "report dated by issued",
        res("DiagnosticReport", status="final", code={"text": "MRI brain"}, issued="2026-06-02T10:00:00Z"),
        [("brain-mri", "done", date(2026, 6, 2))],
    ),
    (
        "report registered is still ordered",
        res(
            "DiagnosticReport",
            status="registered",
            code={"text": "MRI brain"},
            effectiveDateTime="2026-06-01",
        ),
        [("brain-mri", "ordered", ON)],
    ),
    (
        "procedure CPT",
        res(
            "Procedure",
            status="completed",
            code={"coding": [{"system": CPT, "code": "70553"}]},
            performedDateTime="2026-06-01",
        ),
        [("brain-mri", "done", ON)],
    ),
    (
        "procedure CPT by its HL7 OID",
        res(
            "Procedure",
            status="completed",
            code={"coding": [{"system": "urn:oid:2.16.840.1.113883.6.12", "code": "70551"}]},
            performedDateTime="2026-06-01",
        ),
        [("brain-mri", "done", ON)],
    ),
    (
        "procedure SNOMED",
        res(
            "Procedure",
            status="completed",
            code={"coding": [{"system": SNOMED, "code": "816077007"}]},
            performedDateTime="2026-06-01",
        ),
        [("brain-mri", "done", ON)],
    ),
    (
        "service request active by text",
        res(
            "ServiceRequest",
            status="active",
            code={"text": "MRI head w/wo contrast"},
            authoredOn="2026-06-01",
        ),
        [("brain-mri", "ordered", ON)],
    ),
    (
        "service request R5 code",
        res(
            "ServiceRequest",
            status="active",
            code={"concept": {"coding": [{"system": LOINC, "code": "24589-4"}]}},
            authoredOn="2026-06-01",
        ),
        [("brain-mri", "ordered", ON)],
    ),
    (
        "service request completed",
        res(
            "ServiceRequest", status="completed", code={"text": "MRI brain"}, occurrenceDateTime="2026-06-01"
        ),
        [("brain-mri", "done", ON)],
    ),
]

NOT_BRAIN_MRI: list[tuple[str, dict[str, Any], list[Event]]] = [
    ("study cancelled", res("ImagingStudy", status="cancelled", description="MRI brain"), []),
    ("service request revoked", res("ServiceRequest", status="revoked", code={"text": "MRI brain"}), []),
    ("procedure not done", res("Procedure", status="not-done", code={"text": "MRI brain"}), []),
    (
        "report CT head LOINC look-alike",
        res(
            "DiagnosticReport",
            status="final",
            category=RADIOLOGY,
            code={"coding": [{"system": LOINC, "code": "24725-4"}], "text": "CT head"},
            effectiveDateTime="2026-06-01",
        ),
        [("cross-sectional", "done", ON)],
    ),
    (
        "study CT of the brain",
        study(series=series("CT", bodySite=BRAIN_SITE)),
        [("cross-sectional", "done", ON)],
    ),
    (
        "CT head order",
        res(
            "ServiceRequest",
            status="active",
            category=IMAGING_ORDER,
            code={"text": "CT head without contrast"},
            authoredOn="2026-06-01",
        ),
        [("cross-sectional", "ordered", ON)],
    ),
    (
        "study MR spine",
        study(series=series("MR", description="MR cervical spine")),
        [("cross-sectional", "done", ON)],
    ),
    (
        "breast MRI code",
        res(
            "Procedure",
            status="completed",
            code={"coding": [{"system": SNOMED, "code": "241615005"}], "text": "MRI"},
            performedDateTime="2026-06-01",
        ),
        [("cross-sectional", "done", ON)],
    ),
    ("Mr in a description is a title, not MRI", study(description="Mr Smith follow-up head"), []),
    (
        "non-imaging procedure",
        res(
            "Procedure", status="completed", code={"text": "Lumbar puncture"}, performedDateTime="2026-06-01"
        ),
        [],
    ),
    (
        "laboratory report",
        res(
            "DiagnosticReport",
            status="final",
            category=[{"coding": [{"code": "LAB"}]}],
            code={"text": "Complete blood count"},
            effectiveDateTime="2026-06-01",
        ),
        [],
    ),
]


@pytest.mark.parametrize(("resource", "expected"), [pytest.param(r, e, id=n) for n, r, e in BRAIN_MRI])
def test_brain_mri_is_recognised_by_code_text_or_modality_and_site(
    resource: dict[str, Any], expected: list[Event]
) -> None:
    assert imaging([resource]) == expected


@pytest.mark.parametrize(("resource", "expected"), [pytest.param(r, e, id=n) for n, r, e in NOT_BRAIN_MRI])
def test_look_alikes_and_invalid_records_are_not_a_brain_mri(
    resource: dict[str, Any], expected: list[Event]
) -> None:
    assert imaging([resource]) == expected


RESTAGING: list[tuple[str, dict[str, Any], bool]] = [
    ("study CT series", study(series=series("CT")), True),
    ("study PET modality (R4 study level)", study(modality=[{"system": DICOM, "code": "PT"}]), True),
    ("study described as CT", study(description="CT chest abdomen pelvis with contrast"), True),
    ("report PET-CT", radiology_report("PET-CT whole body"), True),
    ("report computed tomography", radiology_report("Computed tomography chest"), True),
    ("study plain radiograph", study(series=series("DX")), False),
    ("study ultrasound", study(series=series("US")), False),
    ("study described as chest X-ray", study(description="Chest X-ray"), False),
    ("report chest radiograph", radiology_report("XR chest 2 views"), False),
    ("report ultrasound", radiology_report("Ultrasound abdomen"), False),
]


@pytest.mark.parametrize(("resource", "cross_sectional"), [pytest.param(r, c, id=n) for n, r, c in RESTAGING])
def test_cross_sectional_imaging_counts_as_restaging_and_radiographs_do_not(
    resource: dict[str, Any], cross_sectional: bool
) -> None:
    kinds = {kind for kind, _, _ in imaging([resource])}
    assert ("cross-sectional" in kinds) is cross_sectional
    assert "brain-mri" not in kinds


def test_a_draft_mri_order_counts_as_ordered_today() -> None:
    draft = res("ServiceRequest", status="draft", code={"coding": [{"system": LOINC, "code": "24590-2"}]})
    events = timeline([], [draft]).imaging
    assert [(event.kind, event.state, event.on, event.draft_order) for event in events] == [
        ("brain-mri", "ordered", TODAY, True)
    ]


def report(conclusion: str, status: str = "final", **fields: Any) -> dict[str, Any]:
    return res(
        "DiagnosticReport",
        status=status,
        conclusion=conclusion,
        **({"effectiveDateTime": "2026-06-01"} | fields),
    )


def observation(**fields: Any) -> dict[str, Any]:
    return res(
        "Observation",
        status="final",
        code={"text": "Tumor response"},
        effectiveDateTime="2026-06-01",
        **fields,
    )


Reading = tuple[str, bool]  # (kind, uncertain)

PROGRESSION: list[tuple[str, dict[str, Any], list[Reading]]] = [
    ("iUPD in conclusion", report("iUPD per iRECIST"), [("suspected", False)]),
    (
        "unconfirmed progressive disease as a coded answer",
        observation(valueCodeableConcept={"text": "Unconfirmed progressive disease"}),
        [("suspected", False)],
    ),
    ("iUPD as a string answer", observation(valueString="iUPD"), [("suspected", False)]),
    ("unconfirmed progression", report("Unconfirmed progression"), [("suspected", False)]),
    ("suspected progression", report("suspected progression of target lesions"), [("suspected", False)]),
    ("possible pseudoprogression", report("Possible pseudoprogression"), [("suspected", False)]),
    ("concern for iUPD", report("findings concerning for iUPD"), [("suspected", True)]),
    (
        "conclusion code",
        res(
            "DiagnosticReport",
            status="final",
            conclusionCode=[{"text": "iUPD"}],
            effectiveDateTime="2026-06-01",
        ),
        [("suspected", False)],
    ),
    ("iCPD", report("iCPD"), [("confirmed", False)]),
    ("confirmed progression", report("Confirmed progression"), [("confirmed", False)]),
    (
        "R5 conclusion code dated by issued",
        res(
            "DiagnosticReport",
            status="final",
            conclusionCode=[{"concept": {"text": "iCPD"}}],
            issued="2026-06-01T08:00:00Z",
        ),
        [("confirmed", False)],
    ),
    ("confirmation beats suspicion", report("iUPD at prior scan; now iCPD"), [("confirmed", False)]),
    ("negated pseudoprogression", report("No evidence of pseudoprogression"), []),
    ("qualified pseudoprogression", report("Pseudoprogression unlikely"), []),
    ("history of pseudoprogression", report("history of pseudoprogression"), []),
    ("negation ends at but", report("no iUPD, but confirmed progression"), [("confirmed", False)]),
    # Not a suspicion: a restaging response without progression, which closes an open iUPD (v3).
    ("stable disease", report("Stable disease"), [("not-progression", False)]),
    ("iSD as a string answer", observation(valueString="iSD"), [("not-progression", False)]),
    ("iUPD criteria not met", report("Criteria for iUPD not met"), []),
    ("entered in error", report("iUPD", status="entered-in-error"), []),
    ("registered report", report("iUPD", status="registered"), []),
    ("undated", report("iUPD", effectiveDateTime=None), []),
    # v3 (issue 16 section 6): the report is one statement; comparison wording is not a new suspicion.
    (
        "compared with the iUPD study, response iSD",
        report("Compared with the iUPD study of 2026-04-20 the nodule is smaller. Overall response: iSD."),
        [("not-progression", False)],
    ),
    (
        "pseudoprogression with a response",
        report("Consistent with pseudoprogression; response: stable disease"),
        [("not-progression", False)],
    ),
    ("no longer meets iUPD", report("No longer meets iUPD criteria."), []),
    ("iUPD criteria no longer met", report("iUPD criteria no longer met"), []),
    ("to confirm iUPD (purpose)", report("Restaging to confirm iUPD: further decrease."), []),
    (
        "target lesions SD, overall iUPD stays a suspicion",
        report("Target lesions: stable disease. New liver lesions: overall iUPD."),
        [("suspected", False)],
    ),
    (
        "comparison cue far from the term stays a suspicion",
        report("Compared with prior study new liver lesions consistent with iUPD"),
        [("suspected", False)],
    ),
    ("iUPD on this scan", report("iUPD on this scan"), [("suspected", False)]),
    (
        "pseudoprogression in a code, iPR in the attached text",
        res(
            "DiagnosticReport",
            status="final",
            conclusionCode=[{"text": "Pseudoprogression"}],
            presentedForm=[{"contentType": "text/plain", "data": "T3ZlcmFsbDogaVBSLg=="}],
            effectiveDateTime="2026-06-01",
        ),
        [("not-progression", False)],
    ),
    (
        "presentedForm alone",
        res(
            "DiagnosticReport",
            status="final",
            presentedForm=[{"contentType": "text/plain; charset=utf-8", "data": "SU1QUkVTU0lPTjogaVVQRC4="}],
            effectiveDateTime="2026-06-01",
        ),
        [("suspected", False)],
    ),
    (
        "a PDF attachment is not read",
        res(
            "DiagnosticReport",
            status="final",
            presentedForm=[{"contentType": "application/pdf", "data": "SU1QUkVTU0lPTjogaVVQRC4="}],
            effectiveDateTime="2026-06-01",
        ),
        [],
    ),
]


@pytest.mark.parametrize(("resource", "expected"), [pytest.param(r, e, id=n) for n, r, e in PROGRESSION])
def test_progression_statements_need_an_affirmed_dated_valid_report(
    resource: dict[str, Any], expected: list[Reading]
) -> None:
    reports = timeline([resource]).progression
    assert [(found.kind, found.uncertain) for found in reports] == expected
    assert all(found.on == ON for found in reports)
