"""Brain MRI history: done or ordered, from each imaging resource and code system, and suspected
progression for iRECIST."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from clinical_support import evaluator

from clinical.imaging import find_imaging, find_suspected_progression
from clinical.patient_record import PatientRecord

TODAY = date(2026, 11, 21)
DICOM = "http://dicom.nema.org/resources/ontology/DCM"
SNOMED = "http://snomed.info/sct"


def imaging(
    resources: list[dict[str, Any]], drafts: list[dict[str, Any]] | None = None
) -> list[tuple[str, str, date | None]]:
    record = PatientRecord("p1")
    record.add_all(resources)
    events = find_imaging(record, drafts or [], evaluator().vocabularies.imaging, TODAY)
    return [(event.kind, event.state, event.on) for event in events]


def res(resource_type: str, **fields: Any) -> dict[str, Any]:
    return {"resourceType": resource_type, "id": "i1", "subject": {"reference": "Patient/p1"}, **fields}


MR_BRAIN_SERIES = [
    {
        "uid": "1",
        "modality": {"system": DICOM, "code": "MR"},
        "bodySite": {"system": SNOMED, "code": "12738006"},
    }
]
CASES = [
    (
        "study MR brain body site",
        res("ImagingStudy", status="available", started="2026-11-01", series=MR_BRAIN_SERIES),
        [("brain-mri", "done", date(2026, 11, 1))],
    ),
    (
        "study R5 modality and body site",
        res(
            "ImagingStudy",
            status="available",
            started="2026-11-01",
            series=[
                {
                    "uid": "1",
                    "modality": {"coding": [{"system": DICOM, "code": "MR"}]},
                    "bodySite": {"concept": {"coding": [{"system": SNOMED, "code": "69536005"}]}},
                }
            ],
        ),
        [("brain-mri", "done", date(2026, 11, 1))],
    ),
    (
        "study description only",
        res(
            "ImagingStudy",
            status="available",
            started="2026-10-01",
            description="MR Brain WO and W contrast IV",
        ),
        [("brain-mri", "done", date(2026, 10, 1))],
    ),
    (
        "study MR spine",
        res(
            "ImagingStudy",
            status="available",
            started="2026-10-01",
            series=[
                {"uid": "1", "modality": {"system": DICOM, "code": "MR"}, "description": "MR cervical spine"}
            ],
        ),
        [("other-imaging", "done", date(2026, 10, 1))],
    ),
    (
        "plain radiograph is not restaging",
        res(
            "ImagingStudy",
            status="available",
            started="2026-10-01",
            series=[{"uid": "1", "modality": {"system": DICOM, "code": "DX"}}],
        ),
        [],
    ),
    ("study cancelled", res("ImagingStudy", status="cancelled", description="MRI brain"), []),
    (
        "report LOINC",
        res(
            "DiagnosticReport",
            status="final",
            code={"coding": [{"system": "http://loinc.org", "code": "24587-8"}]},
            effectiveDateTime="2026-09-09",
        ),
        [("brain-mri", "done", date(2026, 9, 9))],
    ),
    (
        "report CT head look-alike",
        res(
            "DiagnosticReport",
            status="final",
            category=[{"coding": [{"code": "RAD"}]}],
            code={"coding": [{"system": "http://loinc.org", "code": "24725-4"}], "text": "CT head"},
            effectiveDateTime="2026-09-09",
        ),
        [("other-imaging", "done", date(2026, 9, 9))],
    ),
    (
        "procedure CPT",
        res(
            "Procedure",
            status="completed",
            code={"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "70553"}]},
            performedDateTime="2026-08-08",
        ),
        [("brain-mri", "done", date(2026, 8, 8))],
    ),
    (
        "procedure SNOMED",
        res(
            "Procedure",
            status="completed",
            code={"coding": [{"system": SNOMED, "code": "816077007"}]},
            performedDateTime="2026-08-08",
        ),
        [("brain-mri", "done", date(2026, 8, 8))],
    ),
    (
        "service request active",
        res(
            "ServiceRequest",
            status="active",
            code={"text": "MRI head w/wo contrast"},
            authoredOn="2026-11-20",
        ),
        [("brain-mri", "ordered", date(2026, 11, 20))],
    ),
    ("service request revoked", res("ServiceRequest", status="revoked", code={"text": "MRI brain"}), []),
    (
        "breast MRI code",
        res(
            "Procedure",
            status="completed",
            code={"coding": [{"system": SNOMED, "code": "241615005"}], "text": "MRI"},
            performedDateTime="2026-08-08",
        ),
        [],
    ),
]


@pytest.mark.parametrize(("resource", "expected"), [pytest.param(r, e, id=n) for n, r, e in CASES])
def test_imaging_events_by_resource(
    resource: dict[str, Any], expected: list[tuple[str, str, date | None]]
) -> None:
    assert imaging([resource]) == expected


def test_a_draft_mri_order_counts_as_ordered_today() -> None:
    draft = {
        "resourceType": "ServiceRequest",
        "id": "d",
        "status": "draft",
        "code": {"coding": [{"system": "http://loinc.org", "code": "24590-2"}]},
    }
    assert imaging([], [draft]) == [("brain-mri", "ordered", TODAY)]


@pytest.mark.parametrize(
    ("resource", "found"),
    [
        (
            res(
                "DiagnosticReport",
                status="final",
                conclusion="iUPD per iRECIST",
                effectiveDateTime="2026-11-01",
            ),
            True,
        ),
        (
            res(
                "Observation",
                status="final",
                code={"text": "Tumor response"},
                valueCodeableConcept={"text": "Unconfirmed progressive disease"},
                effectiveDateTime="2026-11-01",
            ),
            True,
        ),
        (
            res(
                "DiagnosticReport",
                status="final",
                conclusion="Stable disease",
                effectiveDateTime="2026-11-01",
            ),
            False,
        ),
        (
            res(
                "DiagnosticReport",
                status="entered-in-error",
                conclusion="iUPD",
                effectiveDateTime="2026-11-01",
            ),
            False,
        ),
        (res("DiagnosticReport", status="final", conclusion="iUPD"), False),
    ],
)
def test_suspected_progression_needs_a_dated_valid_report(resource: dict[str, Any], found: bool) -> None:
    record = PatientRecord("p1")
    record.add(resource)
    assert bool(find_suspected_progression(record, evaluator().vocabularies.imaging)) is found
