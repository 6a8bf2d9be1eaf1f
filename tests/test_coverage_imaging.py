"""Coverage matrix, imaging part (docs/coverage/imaging.md): every FHIR R4 resource and element an EHR
puts "brain imaging done or ordered" and "response assessment" in, one row per cell, each through the
Evaluator (docs/clinical-rules-v2.md section 4, issue 16 sections 1, 6 and 8)."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from clinical_support import (
    LOINC,
    SUBJECT,
    administration,
    cards,
    day,
    draft,
    order,
    report,
    topics,
)

DICOM = "http://dicom.nema.org/resources/ontology/DCM"
SNOMED = "http://snomed.info/sct"
CPT = "http://www.ama-assn.org/go/cpt"
ATC = "http://www.whocc.no/atc"
RADIOLOGY = [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0074", "code": "RAD"}]}]
IMAGING_ORDER = [{"coding": [{"system": SNOMED, "code": "363679005", "display": "Imaging"}]}]
BRAIN = {"system": SNOMED, "code": "12738006", "display": "Brain structure"}
HEAD = {"system": SNOMED, "code": "69536005", "display": "Head structure"}


# --- brain imaging done or ordered: the CAR-T baseline card stays away only for a real brain MRI -------


def study(offset: int, **fields: Any) -> dict[str, Any]:
    return {
        "resourceType": "ImagingStudy",
        "id": f"is-{abs(offset)}-{len(fields)}",
        "status": "available",
        "subject": SUBJECT,
        "started": day(offset),
        **fields,
    }


def mr_series(**fields: Any) -> list[dict[str, Any]]:
    return [{"uid": "2.25.1", "modality": {"system": DICOM, "code": "MR"}, **fields}]


def coded_report(offset: int, system: str, code: str, display: str) -> dict[str, Any]:
    resource = report(offset, title=display)
    resource["code"] = {"coding": [{"system": system, "code": code, "display": display}], "text": display}
    return resource


def procedure(offset: int, system: str, code: str, display: str) -> dict[str, Any]:
    return {
        "resourceType": "Procedure",
        "id": f"proc-{code}",
        "status": "completed",
        "code": {"coding": [{"system": system, "code": code, "display": display}]},
        "subject": SUBJECT,
        "performedDateTime": day(offset),
    }


def imaging_order(offset: int, text: str, status: str = "active", code: str | None = None) -> dict[str, Any]:
    concept: dict[str, Any] = {"text": text}
    if code:
        concept["coding"] = [{"system": CPT, "code": code, "display": text}]
    return {
        "resourceType": "ServiceRequest",
        "id": f"sr-{abs(offset)}-{status}",
        "status": status,
        "intent": "order",
        "category": IMAGING_ORDER,
        "code": concept,
        "subject": SUBJECT,
        "authoredOn": day(offset),
    }


def draft_imaging_order(text: str) -> dict[str, Any]:
    return {
        "resourceType": "ServiceRequest",
        "id": "draft-img",
        "status": "draft",
        "intent": "order",
        "category": IMAGING_ORDER,
        "code": {"text": text},
        "subject": SUBJECT,
    }


# (cell, records, draft imaging orders, counts as a brain MRI)
BRAIN_IMAGING: list[tuple[str, list[dict[str, Any]], list[dict[str, Any]], bool]] = [
    (
        "ImagingStudy.modality (R4 study level) MR + series.bodySite brain",
        [study(-5, modality=[{"system": DICOM, "code": "MR"}], series=[{"uid": "1", "bodySite": BRAIN}])],
        [],
        True,
    ),
    (
        "ImagingStudy.series.modality MR + series.bodySite head",
        [study(-5, series=mr_series(bodySite=HEAD))],
        [],
        True,
    ),
    (
        "ImagingStudy.procedureCode LOINC MR Brain",
        [study(-5, procedureCode=[{"coding": [{"system": LOINC, "code": "24587-8"}]}])],
        [],
        True,
    ),
    ("ImagingStudy.description", [study(-5, description="MRI brain w/wo contrast")], [], True),
    (
        "ImagingStudy.series.description with MR modality",
        [study(-5, series=mr_series(description="Brain axial T1 post-contrast"))],
        [],
        True,
    ),
    (
        "DiagnosticReport.code LOINC",
        [coded_report(-5, LOINC, "24587-8", "MR Brain WO and W contrast IV")],
        [],
        True,
    ),
    ("DiagnosticReport.code text only", [report(-5, title="MRI Brain w + w/o contrast")], [], True),
    ("Procedure.code CPT 70553", [procedure(-5, CPT, "70553", "MRI brain w/o & w/contrast")], [], True),
    (
        "ServiceRequest.code, status active (ordered)",
        [imaging_order(-2, "MRI brain with and without contrast")],
        [],
        True,
    ),
    (
        "ServiceRequest.code, status completed (done)",
        [imaging_order(-9, "MRI head", status="completed")],
        [],
        True,
    ),
    ("draft order (order-select)", [], [draft_imaging_order("MRI brain w/wo contrast")], True),
    (
        "combined protocol: MRI brain and MRA head",
        [report(-5, title="MRI brain and MRA head w/wo")],
        [],
        True,
    ),
    (
        "brain protocol with a TOF MRA series",
        [
            study(
                -5,
                description="MRI brain w/wo contrast",
                series=mr_series(description="3D TOF MRA circle of Willis", bodySite=HEAD),
            )
        ],
        [],
        True,
    ),
    # Not a brain MRI (issue 16 section 8, the reviewer's answer): the baseline card stays.
    ("DiagnosticReport text MRA head", [report(-5, title="MRA Head WO contrast")], [], False),
    ("DiagnosticReport text MR angiography brain", [report(-5, title="MR angiography brain")], [], False),
    ("DiagnosticReport text MR venography", [report(-5, title="MR venography head")], [], False),
    ("Procedure CPT 70544 (MRA head)", [procedure(-5, CPT, "70544", "MRA head w/o contrast")], [], False),
    (
        "Procedure CPT 70543 (MRI orbit, face, neck)",
        [procedure(-5, CPT, "70543", "MRI orbit/face/neck")],
        [],
        False,
    ),
    ("ServiceRequest MRI orbits", [imaging_order(-2, "MRI orbits w/wo contrast")], [], False),
    ("ServiceRequest MRI soft tissue neck", [imaging_order(-2, "MRI soft tissue neck")], [], False),
    ("ServiceRequest MRI head and neck", [imaging_order(-2, "MRI head and neck w contrast")], [], False),
    (
        "ImagingStudy MR + head site, description MRA",
        [study(-5, description="MRA Head", series=mr_series(bodySite=HEAD))],
        [],
        False,
    ),
    ("draft order MRV", [], [draft_imaging_order("MRV head")], False),
    ("DiagnosticReport CT head", [coded_report(-5, LOINC, "24725-4", "CT Head")], [], False),
]


@pytest.mark.parametrize(
    ("records", "drafts", "is_brain_mri"), [pytest.param(r, d, b, id=n) for n, r, d, b in BRAIN_IMAGING]
)
def test_brain_imaging_cell_decides_the_car_t_baseline_card(
    records: list[dict[str, Any]], drafts: list[dict[str, Any]], is_brain_mri: bool
) -> None:
    found = topics(cards(records, [draft("axicabtagene ciloleucel"), *drafts]))
    assert ("baseline-brain-mri" not in found) is is_brain_mri


# --- response assessment: an iUPD under a checkpoint inhibitor opens iRECIST confirmation --------------

CT_CAP = "CT chest abdomen pelvis with IV contrast"


def pembrolizumab_doses() -> list[dict[str, Any]]:
    return [administration("pembrolizumab 200 mg IV", offset) for offset in (-120, -99, -78, -57)]


def ct_report(offset: int, conclusion: str = "", **fields: Any) -> dict[str, Any]:
    resource = report(offset, title=CT_CAP, conclusion=conclusion)
    resource.update(fields)
    return resource


def response_observation(offset: int, **fields: Any) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": f"resp-{abs(offset)}-{len(fields)}",
        "status": "final",
        "code": {"text": "iRECIST overall response"},
        "subject": SUBJECT,
        "effectiveDateTime": day(offset),
        **fields,
    }


def text_attachment(text: str) -> list[dict[str, Any]]:
    return [{"contentType": "text/plain", "data": base64.b64encode(text.encode()).decode()}]


def ici_order(
    status: str, reason: str | None = None, end: int | None = None, note: str | None = None
) -> dict[str, Any]:
    resource = order("pembrolizumab 200 mg IV every 3 weeks", -130, status=status)
    period: dict[str, str] = {"start": day(-125)}
    if end is not None:
        period["end"] = day(end)
    resource["dosageInstruction"] = [{"timing": {"repeat": {"boundsPeriod": period}}}]
    if reason:
        resource["statusReason"] = {"text": reason}
    if note:
        resource["note"] = [{"text": note}]
    return resource


def ici_statement(status: str, reason: str, end: int) -> dict[str, Any]:
    return {
        "resourceType": "MedicationStatement",
        "id": f"ms-{status}",
        "status": status,
        "statusReason": [{"coding": [{"system": SNOMED, "display": reason}], "text": reason}],
        "medicationCodeableConcept": {"text": "pembrolizumab"},
        "subject": SUBJECT,
        "effectivePeriod": {"start": day(-125), "end": day(end)},
    }


IUPD = ct_report(-40, "Target lesions +24% from nadir, new 12 mm liver lesion. iRECIST: iUPD.")

# (cell, records besides the ICI doses, confirmation card expected)
RESPONSE: list[tuple[str, list[dict[str, Any]], bool]] = [
    ("DiagnosticReport.conclusion iUPD", [IUPD], True),
    ("DiagnosticReport.conclusionCode text", [ct_report(-40, conclusionCode=[{"text": "iUPD"}])], True),
    (
        "DiagnosticReport.presentedForm text/plain",
        [ct_report(-40, presentedForm=text_attachment("IMPRESSION: new hepatic lesions, iUPD per iRECIST."))],
        True,
    ),
    (
        "ImagingStudy.description",
        [
            study(
                -40,
                description="CT CAP - iUPD per iRECIST",
                series=[{"uid": "1", "modality": {"system": DICOM, "code": "CT"}}],
            )
        ],
        True,
    ),
    (
        "Observation.valueCodeableConcept",
        [response_observation(-40, valueCodeableConcept={"text": "iUPD"})],
        True,
    ),
    (
        "Observation.valueString",
        [response_observation(-40, valueString="Unconfirmed progressive disease")],
        True,
    ),
    (
        "Observation.component overall response",
        [
            response_observation(
                -40,
                code={"text": "iRECIST assessment"},
                component=[
                    {"code": {"text": "Target lesions response"}, "valueCodeableConcept": {"text": "iSD"}},
                    {"code": {"text": "New lesions"}, "valueString": "present (liver)"},
                    {"code": {"text": "Overall response"}, "valueCodeableConcept": {"text": "iUPD"}},
                ],
            )
        ],
        True,
    ),
    (
        "Observation.component overall iSD after the iUPD",
        [
            IUPD,
            response_observation(
                -5,
                code={"text": "iRECIST assessment"},
                component=[{"code": {"text": "Overall response"}, "valueCodeableConcept": {"text": "iSD"}}],
            ),
        ],
        False,
    ),
    # The whole report is one statement (issue 16 section 6).
    (
        "conclusion compares with the iUPD study and states iSD",
        [IUPD, ct_report(-5, "Compared with the prior iUPD study, target lesions decreased. Response: iSD.")],
        False,
    ),
    (
        "pseudoprogression with a response (same conclusion)",
        [IUPD, ct_report(-5, "Consistent with pseudoprogression; response: iSD")],
        False,
    ),
    ("no longer meets iUPD", [IUPD, ct_report(-5, "No longer meets iUPD criteria.")], False),
    # One report whose own words alone would read as a suspicion: the response lives in a linked
    # resource of the same date (no later restaging closes anything here).
    (
        "pseudoprogression in the conclusion, iSD in the linked result Observation",
        [
            {
                **ct_report(-40, "Enlarging axillary nodes, pseudoprogression."),
                "result": [{"reference": "Observation/resp-40-1"}],
            },
            response_observation(-40, valueCodeableConcept={"text": "iSD"}),
        ],
        False,
    ),
    (
        "pseudoprogression in the conclusion, iPR in an Observation derivedFrom the report",
        [
            {**ct_report(-40, "Enlarging axillary nodes, pseudoprogression."), "id": "dr-pseudo"},
            response_observation(
                -40, valueString="iPR", derivedFrom=[{"reference": "DiagnosticReport/dr-pseudo"}]
            ),
        ],
        False,
    ),
    (
        "pseudoprogression alone (the same report without its linked response)",
        [ct_report(-40, "Enlarging axillary nodes, pseudoprogression.")],
        True,
    ),
    (
        "pseudoprogression in conclusionCode, iPR in presentedForm",
        [
            ct_report(
                -40,
                conclusionCode=[{"text": "Pseudoprogression"}],
                presentedForm=text_attachment("Overall: iPR."),
            )
        ],
        False,
    ),
    # Restaging done since closes the question; an order does not.
    ("CT report since (DiagnosticReport.code)", [IUPD, ct_report(-3, "Target lesions 48 mm.")], False),
    (
        "CT study since (ImagingStudy.modality)",
        [
            IUPD,
            study(
                -3,
                series=[
                    {"uid": "1", "modality": {"system": DICOM, "code": "CT"}, "bodySite": {"text": "Chest"}}
                ],
                description="CT chest abdomen pelvis",
            ),
        ],
        False,
    ),
    (
        "CT order still active (ServiceRequest)",
        [IUPD, imaging_order(-3, "CT chest abdomen pelvis with contrast")],
        True,
    ),
    (
        "CT order completed (ServiceRequest)",
        [IUPD, imaging_order(-3, "CT chest abdomen pelvis with contrast", status="completed")],
        False,
    ),
    # The checkpoint inhibitor stopped (MedicationRequest / MedicationStatement statusReason, note).
    (
        "MedicationRequest stopped, statusReason progression",
        [IUPD, ici_order("stopped", "Disease progression")],
        False,
    ),
    (
        "MedicationRequest stopped, note names PD",
        [IUPD, ici_order("stopped", note="Discontinued: PD on restaging CT")],
        False,
    ),
    (
        "MedicationRequest cancelled for progression",
        [IUPD, ici_order("cancelled", "iCPD - progression")],
        False,
    ),
    (
        "MedicationStatement stopped, statusReason progression",
        [IUPD, ici_statement("stopped", "Tumour progression", -30)],
        False,
    ),
    (
        "MedicationRequest stopped for colitis before the iUPD",
        [IUPD, ici_order("stopped", "immune-mediated colitis", end=-56)],
        True,
    ),
    ("MedicationRequest stopped, no reason, before the iUPD", [IUPD, ici_order("stopped", end=-56)], False),
    (
        "MedicationRequest completed, no reason (each cycle's order)",
        [IUPD, ici_order("completed", end=-56)],
        True,
    ),
    (
        "MedicationRequest stopped for colitis after the iUPD",
        [IUPD, ici_order("stopped", "colitis grade 3", end=-20)],
        True,
    ),
    # A new line of therapy since the iUPD.
    ("MedicationAdministration docetaxel since", [IUPD, administration("docetaxel 75 mg/m2 IV", -12)], False),
    (
        "MedicationRequest coded ATC L01BC05 only",
        [
            IUPD,
            {
                **order("gemcitabine", -12),
                "medicationCodeableConcept": {"coding": [{"system": ATC, "code": "L01BC05"}]},
            },
        ],
        False,
    ),
    (
        "MedicationStatement text second-line",
        [
            IUPD,
            {
                "resourceType": "MedicationStatement",
                "id": "ms-line",
                "status": "active",
                "medicationCodeableConcept": {"text": "study drug XY-101"},
                "note": [{"text": "second-line therapy within trial"}],
                "subject": SUBJECT,
                "effectivePeriod": {"start": day(-10)},
            },
        ],
        False,
    ),
    (
        "pemetrexed given before and after the iUPD (same line)",
        [IUPD, administration("pemetrexed 500 mg/m2", -78), administration("pemetrexed 500 mg/m2", -15)],
        True,
    ),
    (
        "ipilimumab added (a checkpoint inhibitor, ATC L01FX04)",
        [
            IUPD,
            {
                **order("Yervoy", -12),
                "medicationCodeableConcept": {
                    "coding": [{"system": ATC, "code": "L01FX04"}],
                    "text": "ipilimumab",
                },
            },
        ],
        True,
    ),
    (
        "docetaxel begun after the last ICI dose, before the iUPD",
        [IUPD, administration("docetaxel 75 mg/m2 IV", -50)],
        False,
    ),
    (
        "dexamethasone since (not anticancer therapy)",
        [IUPD, administration("dexamethasone 4 mg PO", -12)],
        True,
    ),
]


@pytest.mark.parametrize(("records", "fires"), [pytest.param(r, f, id=n) for n, r, f in RESPONSE])
def test_response_assessment_cell_decides_the_irecist_card(
    records: list[dict[str, Any]], fires: bool
) -> None:
    found = topics(cards([*pembrolizumab_doses(), *records]))
    assert ("interval-imaging" in found) is fires


def test_a_draft_new_line_order_silences_the_confirmation() -> None:
    assert "interval-imaging" not in topics(
        cards([*pembrolizumab_doses(), IUPD], [draft("docetaxel 75 mg/m2 IV")])
    )


def test_the_detail_names_the_study_its_date_and_the_sites() -> None:
    ct = study(
        -40,
        description=CT_CAP,
        series=[
            {"uid": "1", "modality": {"system": DICOM, "code": "CT"}, "bodySite": {"display": "Chest"}},
            {"uid": "2", "modality": {"system": DICOM, "code": "CT"}, "bodySite": {"display": "Abdomen"}},
        ],
    )
    linked = {**IUPD, "imagingStudy": [{"reference": f"ImagingStudy/{ct['id']}"}]}
    (card,) = [
        c
        for c in cards([*pembrolizumab_doses(), ct, linked])
        if c["source"]["topic"]["code"] == "interval-imaging"
    ]
    assert f"{CT_CAP} on {day(-40)}" in card["detail"]
    assert "new 12 mm liver lesion" in card["detail"]
    assert "sites imaged: Chest, Abdomen" in card["detail"]
    assert "ImagingStudy/" not in card["detail"]


def test_a_toxicity_stop_before_the_iupd_is_named_in_the_detail() -> None:
    found = cards([*pembrolizumab_doses(), IUPD, ici_order("stopped", "immune-mediated colitis", end=-56)])
    (card,) = [c for c in found if c["source"]["topic"]["code"] == "interval-imaging"]
    assert "for toxicity" in card["detail"] and "immune-mediated colitis" in card["detail"]
    assert day(-56) in card["detail"]
