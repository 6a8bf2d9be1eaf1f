"""Classes of error found by the exposure / timeline / baseline / interval / iRECIST probe review
(2026-11-29), one table per class, each both ways where the class has two sides:

- a record that names a therapy without giving it ("CAR-T evaluation", "referral for CAR-T cell therapy",
  "ipilimumab-naive", "Keytruda - patient declined") is not exposure, not even through its code;
- spellings EHRs use ("pembro", "axicel" without the hyphen) are exposure;
- a draft order's Medication sent in the same draftOrders Bundle is resolved; dates in Timing.event,
  R5 effectiveTiming and a period with only its end are read; a text-only date counts as unreadable;
- the baseline card fires when a T-cell engager starts today with no separate plan record, and names the
  product planned, not an earlier course of the class;
- a generic CAR-T infusion record (CPT 38228) takes its product from the named order around it: a myeloma
  product gets no day +28 response-imaging window, and the card names the product;
- iRECIST: a response stated in an ImagingStudy description counts; "iUPD criteria not met" is not a
  suspicion; "unconfirmed PD" is; a later restaging response without progression (iSD) closes it.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from clinical_support import (
    SUBJECT,
    TODAY,
    administration,
    brain_mri,
    brain_mri_order,
    cards,
    day,
    draft,
    evaluator,
    order,
    report,
    timeline,
    topics,
)

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
CPT = "http://www.ama-assn.org/go/cpt"


def matched(text: str, codes: list[tuple[str, str]] | None = None) -> set[str]:
    concept: dict[str, Any] = {"text": text}
    if codes:
        concept["coding"] = [{"system": system, "code": code} for system, code in codes]
    return {found.agent.id for found in evaluator().vocabularies.catalog.match([concept])}


# --- not exposure: the therapy is named, not given -------------------------------------------------------

NOT_EXPOSURE = [
    ("CAR-T evaluation", set()),
    ("CAR-T cell therapy evaluation", set()),
    ("CAR T-cell therapy consult", set()),
    ("Referral for CAR-T cell therapy", set()),
    ("Referral to CAR T-cell therapy program", set()),
    ("Leukapheresis for CAR-T cells", set()),
    ("Yescarta eligibility review", set()),
    ("ipilimumab-naive", set()),
    ("pembrolizumab declined", set()),
    ("Keytruda - patient declined", set()),
    ("no pembrolizumab", set()),
    ("not on pembrolizumab", set()),
    ("diphenhydramine 25 mg premedication for Keytruda", set()),
    ("fludarabine 30 mg/m2 lymphodepletion before CAR-T cell infusion", set()),
    # ... and the same names given: exposure
    ("CAR-T cell infusion", {"car-t-product-not-named"}),
    ("CAR T therapy", {"car-t-product-not-named"}),
    ("Yescarta infusion", {"axicabtagene-ciloleucel"}),
    ("pembrolizumab 200 mg IV q3w", {"pembrolizumab"}),
    ("ipilimumab held for colitis", {"ipilimumab"}),  # paused: still exposure
    ("pembrolizumab discontinued after cycle 4", {"pembrolizumab"}),  # given, then stopped
    ("Keytruda 200 mg IV q3w, premedication per protocol", {"pembrolizumab"}),  # cue in another phrase
    ("history of nivolumab", {"nivolumab"}),  # past exposure is exposure
    ("Yescarta infusion after apheresis on 5/1", {"axicabtagene-ciloleucel"}),
    ("CAR-T cell infusion pending product manufacturing", {"car-t-product-not-named"}),
    ("Tecvayli step-up 1 with neuro checks and ICE evaluation q8h", {"teclistamab"}),
    ("nivolumab 240 mg and ipilimumab 1 mg/kg", {"nivolumab", "ipilimumab"}),
]


@pytest.mark.parametrize(("text", "expected"), NOT_EXPOSURE, ids=[row[0] for row in NOT_EXPOSURE])
def test_a_therapy_named_but_not_given_is_not_exposure(text: str, expected: set[str]) -> None:
    assert matched(text) == expected


def test_a_code_whose_own_text_says_declined_is_not_exposure() -> None:
    assert matched("pembrolizumab - declined by patient", [(RXNORM, "1547545")]) == set()
    assert matched("pembrolizumab 200 mg", [(RXNORM, "1547545")]) == {"pembrolizumab"}


def test_a_car_t_referral_service_request_is_no_plan_and_no_baseline_card() -> None:
    referral = {
        "resourceType": "ServiceRequest",
        "id": "sr-referral",
        "status": "active",
        "intent": "order",
        "code": {"text": "Referral for CAR-T cell therapy evaluation"},
        "subject": SUBJECT,
        "authoredOn": day(-3),
    }
    assert timeline([referral]).therapy == ()
    assert topics(cards([referral])) == {}


SPELLINGS = [
    ("Pembro 200 mg IV", {"pembrolizumab"}),
    ("axicel", {"axicabtagene-ciloleucel"}),
    ("tisacel", {"tisagenlecleucel"}),
    ("ciltacel", {"ciltacabtagene-autoleucel"}),
    ("idecel", {"idecabtagene-vicleucel"}),
    ("lisocel", {"lisocabtagene-maraleucel"}),
    ("brexucel", {"brexucabtagene-autoleucel"}),
    ("obecel", {"obecabtagene-autoleucel"}),
    ("pembrolizumab-naive", set()),
]


@pytest.mark.parametrize(("text", "expected"), SPELLINGS, ids=[row[0] for row in SPELLINGS])
def test_spellings_ehrs_use(text: str, expected: set[str]) -> None:
    assert matched(text) == expected


# --- dates and references ----------------------------------------------------------------------------

KEYTRUDA = {"text": "Keytruda"}


def _events(resources: list[dict[str, Any]], drafts: list[dict[str, Any]] | None = None) -> list[Any]:
    return [
        (event.agent.id, event.kind, event.on, event.date_unreadable)
        for event in timeline(resources, drafts).therapy
    ]


DATES = [
    (
        "order dated by Timing.event",
        {
            "resourceType": "MedicationRequest",
            "id": "mr-event",
            "status": "active",
            "intent": "order",
            "medicationCodeableConcept": KEYTRUDA,
            "dosageInstruction": [{"timing": {"event": ["2026-04-03T09:00:00Z"]}}],
        },
        [("pembrolizumab", "ongoing", date(2026, 4, 3), False)],
    ),
    (
        "administration period with only its end",
        {
            "resourceType": "MedicationAdministration",
            "id": "ma-end",
            "status": "completed",
            "medicationCodeableConcept": KEYTRUDA,
            "effectivePeriod": {"end": "2026-05-02T10:00:00-05:00"},
        },
        [("pembrolizumab", "given", date(2026, 5, 2), False)],
    ),
    (
        "R5 statement with effectiveTiming",
        {
            "resourceType": "MedicationStatement",
            "id": "ms-timing",
            "status": "recorded",
            "medication": {"concept": KEYTRUDA},
            "effectiveTiming": {"repeat": {"boundsPeriod": {"start": "2026-04-02"}}},
        },
        [("pembrolizumab", "given", date(2026, 4, 2), False)],
    ),
    (
        "infusion procedure dated in words: exposure, date unreadable",
        {
            "resourceType": "Procedure",
            "id": "proc-words",
            "status": "completed",
            "code": {"text": "Yescarta infusion"},
            "performedString": "spring 2026, outside hospital",
        },
        [("axicabtagene-ciloleucel", "given", None, True)],
    ),
]


@pytest.mark.parametrize(("resource", "expected"), [row[1:] for row in DATES], ids=[row[0] for row in DATES])
def test_therapy_dates_in_every_shape(resource: dict[str, Any], expected: list[Any]) -> None:
    assert _events([resource]) == expected


def test_a_draft_orders_medication_in_the_same_bundle_is_resolved() -> None:
    drafted = {
        "resourceType": "MedicationRequest",
        "id": "draft-ref",
        "status": "draft",
        "intent": "order",
        "medicationReference": {"reference": "Medication/med-tec"},
        "subject": SUBJECT,
    }
    medication = {"resourceType": "Medication", "id": "med-tec", "code": {"text": "TECVAYLI 30 MG/3ML"}}
    assert _events([], [drafted, medication]) == [("teclistamab", "planned", TODAY, False)]
    assert topics(cards([], [drafted, medication])) == {"baseline-brain-mri": "warning"}


# The order being signed, returned by the EHR in the prefetch as well (same type and id), is one order,
# read once as this request's draft (found by tests/test_card_invariants.py).
DRAFT_ALSO_IN_RECORD = [
    ("CAR-T product order", draft("Yescarta"), [], ("axicabtagene-ciloleucel", "planned", TODAY, False)),
    ("checkpoint inhibitor", draft("nivolumab 480 mg IV"), [], ("nivolumab", "planned", TODAY, False)),
    (
        "T-cell engager, with a dose given last week",
        draft("teclistamab"),
        [administration("teclistamab step-up dose 1", -7)],
        ("teclistamab", "planned", TODAY, False),
    ),
]


@pytest.mark.parametrize(
    ("drafted", "record", "event"),
    [row[1:] for row in DRAFT_ALSO_IN_RECORD],
    ids=[row[0] for row in DRAFT_ALSO_IN_RECORD],
)
def test_a_draft_order_also_in_the_record_is_one_order(
    drafted: dict[str, Any], record: list[dict[str, Any]], event: tuple[Any, ...]
) -> None:
    alone = cards(record, [drafted])
    both = cards([*record, dict(drafted)], [drafted])
    assert [card["detail"] for card in both] == [card["detail"] for card in alone]
    assert [e for e in _events([*record, dict(drafted)], [drafted]) if e[1] == "planned"] == [event]


@pytest.mark.parametrize(
    "malformed",
    [
        {"resourceType": ["MedicationRequest"], "id": "d-1"},
        {"resourceType": "MedicationRequest", "id": ["d-1"]},
    ],
)
def test_a_malformed_draft_order_is_matched_against_nothing(malformed: dict[str, Any]) -> None:
    assert timeline([order("Keytruda", -10)], [malformed]).therapy


def test_a_draft_brain_mri_also_in_the_record_is_one_order() -> None:
    mri = brain_mri_order(0, status="draft")
    assert len(timeline([dict(mri)], [mri]).imaging) == 1


# --- baseline ------------------------------------------------------------------------------------------

BASELINE = [
    (
        "T-cell engager first dose today, no plan record, no MRI: baseline warning",
        [administration("teclistamab step-up dose 1", 0)],
        {"baseline-brain-mri": "warning", "interval-imaging": "warning"},
    ),
    (
        "T-cell engager first dose today, brain MRI 10 days ago: no baseline",
        [administration("teclistamab step-up dose 1", 0), brain_mri(-10)],
        {"interval-imaging": "warning"},
    ),
    (
        "T-cell engager first dose yesterday: no baseline",
        [administration("teclistamab step-up dose 1", -1)],
        {"interval-imaging": "warning"},
    ),
    (
        "T-cell engager order written today, no dose charted yet: baseline warning",
        [order("epcoritamab 0.16 mg SC", 0)],
        {"baseline-brain-mri": "warning", "interval-imaging": "warning"},
    ),
]


def _undated(resource: dict[str, Any], words: str | None = None) -> dict[str, Any]:
    """The record without a readable date: dated in words, or with no date at all."""
    resource = {key: value for key, value in resource.items() if key != "effectiveDateTime"}
    if words:
        resource["effectiveString"] = words
    return resource


IN_WORDS = {
    "resourceType": "Procedure",
    "id": "proc-car-t-words",
    "status": "completed",
    "code": {"text": "Yescarta infusion"},
    "subject": SUBJECT,
    "performedString": "spring 2026, outside hospital",
}

# A dose given on a date the record does not let us read: the therapy may have started, so no baseline,
# for every class (the CAR-T branch treated it as no infusion). Found by tests/test_card_invariants.py.
BASELINE_AFTER_AN_UNDATED_DOSE = [
    ("CAR-T infusion dated in words, product order active", [IN_WORDS, order("Breyanzi", -5)], {}),
    (
        "CAR-T administration without a date, product plan",
        [_undated(administration("Yescarta", 0)), order("Carvykti", -5, intent="plan")],
        {},
    ),
    (
        "T-cell engager dose without a date, plan",
        [_undated(administration("teclistamab", 0)), order("teclistamab", -3, intent="plan")],
        {},
    ),
    # ... and a dated CAR-T infusion more than car_t_retreatment_days ago leaves a new plan its baseline
    (
        "CAR-T infusion 400 days ago, product order active",
        [administration("Yescarta", -400), order("Breyanzi", -5)],
        {"baseline-brain-mri": "warning"},
    ),
]
BASELINE += BASELINE_AFTER_AN_UNDATED_DOSE


@pytest.mark.parametrize(
    ("record", "expected"), [row[1:] for row in BASELINE], ids=[row[0] for row in BASELINE]
)
def test_baseline_at_the_start_of_therapy(record: list[dict[str, Any]], expected: dict[str, str]) -> None:
    assert topics(cards(record)) == expected


def test_the_baseline_card_names_the_product_planned_not_an_earlier_course() -> None:
    found = cards([administration("Yescarta", -400), order("Carvykti", -10)])
    (card,) = found
    assert card["source"]["topic"]["code"] == "baseline-brain-mri"
    assert "ciltacabtagene autoleucel" in card["summary"]
    assert "axicabtagene" not in card["summary"]


# --- a generic CAR-T infusion record and its product ---------------------------------------------------


def _cpt_infusion(offset: int) -> dict[str, Any]:
    return {
        "resourceType": "Procedure",
        "id": f"proc-cpt-{offset}",
        "status": "completed",
        "code": {"coding": [{"system": CPT, "code": "38228"}]},
        "subject": SUBJECT,
        "performedDateTime": day(offset),
    }


GENERIC_INFUSION = [
    ("CPT 38228 alone: product unknown, day +28 response window", [], True, "CAR-T cell therapy"),
    (
        "CPT 38228 with the Carvykti order placed at apheresis: myeloma, no response imaging",
        [order("Carvykti", -60)],
        False,
        "ciltacabtagene autoleucel",
    ),
    (
        "CPT 38228 with a completed Abecma order: myeloma, no response imaging",
        [order("Abecma", -45, status="completed")],
        False,
        "idecabtagene vicleucel",
    ),
    (
        "CPT 38228 with the Breyanzi order: lymphoma, response imaging",
        [order("Breyanzi", -60)],
        True,
        "lisocabtagene maraleucel",
    ),
]


@pytest.mark.parametrize(
    ("orders", "response_imaging", "named"),
    [row[1:] for row in GENERIC_INFUSION],
    ids=[row[0] for row in GENERIC_INFUSION],
)
def test_a_generic_car_t_infusion_takes_its_product_from_the_order(
    orders: list[dict[str, Any]], response_imaging: bool, named: str
) -> None:
    (card,) = cards([_cpt_infusion(-28), *orders])
    assert card["source"]["topic"]["code"] == "interval-imaging"
    assert ("Day +28 response assessment" in card["detail"]) is response_imaging
    assert named in card["summary"]
    if named != "CAR-T cell therapy":
        assert "product not named" not in card["summary"]


def test_a_re_infusion_with_another_product_names_only_the_new_one() -> None:
    (card,) = cards([administration("Yescarta", -500), administration("Carvykti", -5)])
    assert "ciltacabtagene autoleucel" in card["summary"]
    assert "axicabtagene" not in card["summary"]


# --- iRECIST ---------------------------------------------------------------------------------------------


def _study(offset: int, description: str) -> dict[str, Any]:
    return {
        "resourceType": "ImagingStudy",
        "id": f"is-{offset}",
        "status": "available",
        "subject": SUBJECT,
        "started": day(offset),
        "modality": [{"system": "http://dicom.nema.org/resources/ontology/DCM", "code": "CT"}],
        "description": description,
    }


def _response(offset: int, value: str) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": f"obs-resp-{offset}",
        "status": "final",
        "code": {"text": "iRECIST overall response"},
        "valueCodeableConcept": {"text": value},
        "subject": SUBJECT,
        "effectiveDateTime": day(offset),
    }


ON_ICI = [administration("atezolizumab", -150)]
IRECIST = [
    ("iUPD in an ImagingStudy description", [_study(-35, "CT CAP - iUPD per iRECIST")], True),
    ("CT description without a response statement", [_study(-35, "CT chest abdomen pelvis")], False),
    (
        "'criteria for iUPD not met'",
        [report(-35, title="CT chest", conclusion="Criteria for iUPD not met.")],
        False,
    ),
    ("'unconfirmed PD'", [report(-35, title="CT chest", conclusion="Unconfirmed PD; repeat CT")], True),
    (
        "iUPD, then an iSD response observation: closed",
        [report(-50, title="CT chest", conclusion="iUPD"), _response(-5, "iSD")],
        False,
    ),
    (
        "iUPD, then an observation saying 'no complete response': still open",
        [report(-50, title="CT chest", conclusion="iUPD"), _response(-5, "no complete response")],
        True,
    ),
    (
        "iUPD then a report 'stable disease, iUPD not confirmed' the same day: the suspicion leads",
        [report(-35, title="CT chest", conclusion="iUPD. Otherwise stable disease.")],
        True,
    ),
]


@pytest.mark.parametrize(("record", "fires"), [row[1:] for row in IRECIST], ids=[row[0] for row in IRECIST])
def test_irecist_confirmation(record: list[dict[str, Any]], fires: bool) -> None:
    found = topics(cards([*ON_ICI, *record]))
    assert ("interval-imaging" in found) is fires


SAME_SITES = [
    ("body iUPD, then a brain MRI for a headache: still open", "CT chest abdomen pelvis", brain_mri, True),
    ("body iUPD, then a CT head: still open", "CT chest abdomen pelvis", "CT head without contrast", True),
    ("body iUPD, then a CT chest abdomen pelvis: closed", "CT CAP", "CT chest abdomen pelvis", False),
    ("body iUPD, then a PET-CT skull base to thigh: closed", "CT chest", "PET-CT skull base to thigh", False),
    ("body iUPD, then a CT head, chest, abdomen: closed", "CT chest", "CT head chest abdomen", False),
    ("brain iUPD, then a brain MRI: closed", "MRI brain with contrast", brain_mri, False),
    ("brain iUPD, then a body CT: still open", "MRI brain with contrast", "CT chest abdomen pelvis", True),
]


def _restaging(study: Any, offset: int) -> dict[str, Any]:
    if callable(study):
        built: dict[str, Any] = study(offset)
        return built
    return report(offset, title=study)


@pytest.mark.parametrize(
    ("suspected_on", "later", "still_open"),
    [row[1:] for row in SAME_SITES],
    ids=[row[0] for row in SAME_SITES],
)
def test_irecist_confirmation_needs_the_same_sites(suspected_on: str, later: Any, still_open: bool) -> None:
    """iRECIST re-measures the lesions of the unconfirmed progression: a brain-only study does not restage
    body disease, and a body study does not restage brain disease."""
    record = [report(-40, title=suspected_on, conclusion="iUPD per iRECIST"), _restaging(later, -5)]
    found = topics(cards([*ON_ICI, *record]))
    assert ("interval-imaging" in found) is still_open


# --- hospital-coded CAR-T administration: ICD-10-PCS and HCPCS -----------------------------------------

ICD10PCS = "http://www.cms.gov/Medicare/Coding/ICD10"
HCPCS = "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"


def _coded_infusion(system: str, code: str, offset: int) -> dict[str, Any]:
    return {
        "resourceType": "Procedure",
        "id": f"proc-{code}",
        "status": "completed",
        "code": {"coding": [{"system": system, "code": code}]},
        "subject": SUBJECT,
        "performedDateTime": day(offset),
    }


CODED_INFUSIONS = [
    (ICD10PCS, "XW033H7", "axicabtagene ciloleucel", True),
    (ICD10PCS, "XW043J7", "tisagenlecleucel", True),
    (ICD10PCS, "XW24346", "brexucabtagene autoleucel", True),
    (ICD10PCS, "XW23376", "lisocabtagene maraleucel", True),
    (ICD10PCS, "XW033K7", "idecabtagene vicleucel", False),
    (ICD10PCS, "XW043A7", "ciltacabtagene autoleucel", False),
    (ICD10PCS, "XW033C3", "CAR-T cell therapy", True),  # group 3 code: the product is not in the code
    ("urn:oid:2.16.840.1.113883.6.4", "XW033C3", "CAR-T cell therapy", True),
    (HCPCS, "Q2053", "brexucabtagene autoleucel", True),
    ("urn:oid:2.16.840.1.113883.6.285", "Q2055", "idecabtagene vicleucel", False),
]


@pytest.mark.parametrize(("system", "code", "named", "response_imaging"), CODED_INFUSIONS)
def test_a_hospital_coded_car_t_infusion_is_day_0_of_that_product(
    system: str, code: str, named: str, response_imaging: bool
) -> None:
    (card,) = cards([_coded_infusion(system, code, -28)])
    assert card["source"]["topic"]["code"] == "interval-imaging"
    assert named in card["summary"]
    assert ("Day +28 response assessment" in card["detail"]) is response_imaging


def test_an_unverified_hcpcs_code_alone_is_not_exposure() -> None:
    """Q2041 (Yescarta) is from memory, not a source: on its own it never makes an exposure."""
    assert cards([_coded_infusion(HCPCS, "Q2041", -28)]) == []


def test_an_unlisted_icd10pcs_code_is_not_car_t() -> None:
    assert cards([_coded_infusion(ICD10PCS, "XW033B3", -28)]) == []


# --- what dates day 0 of a T-cell engager, in the card's words -----------------------------------------

DAY_ZERO_WORDS = [
    ("a dose is recorded", [administration("teclistamab", -10), order("Tecvayli", -20)], "dose given on"),
    ("only the order", [order("Tecvayli", -20)], "active order from"),
    (
        "the only dose has a date that cannot be read",
        [{**administration("teclistamab", -10), "effectiveDateTime": "not a date"}, order("Tecvayli", -20)],
        "active order from",
    ),
]


@pytest.mark.parametrize(
    ("records", "words"), [row[1:] for row in DAY_ZERO_WORDS], ids=[row[0] for row in DAY_ZERO_WORDS]
)
def test_the_t_cell_engager_window_says_what_dates_day_0(records: list[dict[str, Any]], words: str) -> None:
    """An order's start is never called a "first dose"."""
    (card,) = cards(records)
    assert f"day 0: {words}" in card["detail"]
    assert "first dose on" not in card["detail"]


# --- v3 (issue 16 section 2): therapy labels name what is given; only where a bridge leads is not -----------

THERAPY_LABELS = [
    ("bridging therapy: glofitamab", {"glofitamab"}),
    ("Bridging therapy with teclistamab", {"teclistamab"}),
    ("bridging: talquetamab step-up dose 1", {"talquetamab"}),
    ("bridging therapy (epcoritamab) before CAR-T", {"epcoritamab"}),
    ("salvage: pembrolizumab", {"pembrolizumab"}),
    ("Salvage therapy - nivolumab", {"nivolumab"}),
    ("consolidation with durvalumab", {"durvalumab"}),
    ("maintenance: atezolizumab", {"atezolizumab"}),
    ("second-line: nivolumab", {"nivolumab"}),
    ("third-line: Tecvayli", {"teclistamab"}),
    # where the bridge leads is not given by this record
    ("bridging chemotherapy before CAR-T infusion", set()),
    ("bridging radiotherapy prior to axicabtagene ciloleucel", set()),
    ("Bridging therapy prior to Yescarta", set()),
    ("bridging to Carvykti", set()),
    ("polatuzumab as bridge to Yescarta", set()),
]


@pytest.mark.parametrize(("text", "expected"), THERAPY_LABELS, ids=[row[0] for row in THERAPY_LABELS])
def test_v3_therapy_labels_name_the_therapy_given(text: str, expected: set[str]) -> None:
    assert matched(text) == expected


def test_v3_a_bridging_label_order_is_exposure_with_its_status() -> None:
    given = administration("Bridging therapy: glofitamab 2.5 mg IV", -2)
    planned = order("Bridging therapy: glofitamab 2.5 mg IV", 0, status="draft")
    kinds = {(event.agent.id, event.kind) for event in timeline([given, planned]).therapy}
    assert kinds == {("glofitamab", "given"), ("glofitamab", "planned")}


# --- v3 (issue 16 section 3): agents approved outside the US and EU --------------------------------------

OUTSIDE_US_EU = [
    ("sintilimab 200 mg IV q3w", {"sintilimab"}),
    ("Tyvyt 200 mg", {"sintilimab"}),
    ("camrelizumab", {"camrelizumab"}),
    ("toripalimab (Tuoyi) 240 mg", {"toripalimab"}),
    ("tislelizumab", {"tislelizumab"}),
    ("penpulimab", {"penpulimab"}),
    ("zimberelimab", {"zimberelimab"}),
    ("envafolimab 150 mg SC", {"envafolimab"}),
    ("serplulimab", {"serplulimab"}),
    ("sugemalimab", {"sugemalimab"}),
    ("adebrelimab", {"adebrelimab"}),
    ("socazolimab", {"socazolimab"}),
    ("pucotenlimab", {"pucotenlimab"}),
    ("finotonlimab", {"finotonlimab"}),
    ("tagitanlimab", {"tagitanlimab"}),
    ("benmelstobart", {"benmelstobart"}),
    ("cadonilimab (AK104)", {"cadonilimab"}),
    ("ivonescimab", {"ivonescimab"}),
    ("relmacabtagene autoleucel", {"relmacabtagene-autoleucel"}),
    ("relma-cel infusion", {"relmacabtagene-autoleucel"}),
    ("Carteyva", {"relmacabtagene-autoleucel"}),
    ("Fucaso (equecabtagene autoleucel)", {"equecabtagene-autoleucel"}),
    ("eque-cel", {"equecabtagene-autoleucel"}),
    ("zevor-cel", {"zevorcabtagene-autoleucel"}),
    ("inaticabtagene autoleucel (CNCT19)", {"inaticabtagene-autoleucel"}),
    ("NexCAR19 infusion", {"actalycabtagene-autoleucel"}),
    ("ARI-0001", {"ari-0001"}),
    ("Tecelra infusion", {"afamitresgene-autoleucel"}),
]


@pytest.mark.parametrize(("text", "expected"), OUTSIDE_US_EU, ids=[row[0] for row in OUTSIDE_US_EU])
def test_v3_agents_approved_outside_the_us_and_eu_are_exposure(text: str, expected: set[str]) -> None:
    assert matched(text) == expected


@pytest.mark.parametrize(
    ("agent_id", "therapy_class"),
    [
        ("cadonilimab", "ici"),
        ("ivonescimab", "ici"),
        ("equecabtagene-autoleucel", "car_t"),
        ("afamitresgene-autoleucel", "car_t"),
    ],
)
def test_v3_class_of_the_new_agents(agent_id: str, therapy_class: str) -> None:
    agents = {agent.id: agent for agent in evaluator().vocabularies.catalog.agents}
    assert agents[agent_id].therapy_class == therapy_class


def test_v3_myeloma_and_b_all_cellular_products_get_no_day_28_imaging_window() -> None:
    agents = {agent.id: agent for agent in evaluator().vocabularies.catalog.agents}
    assert not agents["equecabtagene-autoleucel"].response_by_imaging
    assert not agents["zevorcabtagene-autoleucel"].response_by_imaging
    assert not agents["inaticabtagene-autoleucel"].response_by_imaging
    assert agents["relmacabtagene-autoleucel"].response_by_imaging
