"""Neurological findings on the timeline (clinical/timeline/findings.py): Conditions and Observations by
code (SNOMED CT, ICD-10-CM with prefix families) and by text with the v2 phrase rules, documented
alternative causes and look-alike phrases, resolved conditions, and ICE / CAPD score readings
(docs/clinical-rules-v2.md sections 3 and 6)."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from clinical_support import TODAY, timeline

ICD10 = "http://hl7.org/fhir/sid/icd-10-cm"
SNOMED = "http://snomed.info/sct"
CLINICAL_STATUS = "http://terminology.hl7.org/CodeSystem/condition-clinical"
ONSET = date(2026, 6, 10)

Found = tuple[str, int | None, bool]  # (kind, coded ICANS grade, uncertain)


def findings(resource: dict[str, Any]) -> list[Found]:
    return sorted((f.kind.id, f.coded_grade, f.uncertain) for f in timeline([resource]).findings)


def condition(code: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"resourceType": "Condition", "id": "c1", "code": code, "onsetDateTime": "2026-06-10", **fields}


def icd10(code: str, text: str | None = None) -> dict[str, Any]:
    concept: dict[str, Any] = {"coding": [{"system": ICD10, "code": code}]}
    if text:
        concept["text"] = text
    return condition(concept)


def snomed(code: str, text: str | None = None) -> dict[str, Any]:
    concept: dict[str, Any] = {"coding": [{"system": SNOMED, "code": code}]}
    if text:
        concept["text"] = text
    return condition(concept)


def named(text: str, **fields: Any) -> dict[str, Any]:
    return condition({"text": text}, **fields)


def observation(name: str, **fields: Any) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": "o1",
        "status": "final",
        "code": {"text": name},
        "effectiveDateTime": "2026-06-10",
        **fields,
    }


def row(name: str, resource: dict[str, Any], expected: Any, bug: str | None = None) -> Any:
    marks = [pytest.mark.xfail(strict=True, reason=bug)] if bug else []
    return pytest.param(resource, expected, id=name, marks=marks)


BY_CODE = [
    row("ICANS G92.03 carries grade 3", icd10("G92.03"), [("icans", 3, False)]),
    row("ICANS undotted, grade unspecified", icd10("G9200"), [("icans", None, False)]),
    row(
        "ICANS by the ICD-10-CM OID",
        condition({"coding": [{"system": "urn:oid:2.16.840.1.113883.6.90", "code": "G92.05"}]}),
        [("icans", 5, False)],
    ),
    row("seizure SNOMED", snomed("91175000"), [("seizure", None, False)]),
    row("myasthenia gravis SNOMED", snomed("91637004"), [("myasthenia-gravis", None, False)]),
    row("cerebral infarction, I63 family", icd10("I63.412"), [("ischemic-stroke", None, False)]),
    row("hemiparesis, G81 family", icd10("G81.94"), [("focal-motor-weakness", None, False)]),
    row("sixth nerve palsy, H49.2 family", icd10("H49.22"), [("raised-intracranial-pressure", None, False)]),
    row("myositis, M60.8 family", icd10("M60.819"), [("myositis", None, False)]),
    row("subdural haemorrhage is not in the exact I62.9 entry", icd10("I62.00"), []),
    row("a chapter prefix is no family", icd10("I6"), []),
    row("headache is not a finding", snomed("25064002", "Headache"), []),
    row("CRS is not a finding", icd10("D89.832", "Cytokine release syndrome"), []),
    row("hepatic encephalopathy code shadows its text", icd10("K76.82", "encephalopathy"), []),
    row("Wernicke encephalopathy code", icd10("E51.2"), []),
    row("metabolic encephalopathy code", icd10("G93.41"), []),
]

BY_TEXT = [
    row(
        "two findings in one text",
        named("Confusion and word-finding difficulty"),
        [("altered-mental-status", None, False), ("aphasia", None, False)],
    ),
    row("ICANS by name", named("ICANS"), [("icans", None, False)]),
    row("the ICANS acronym is case-sensitive", named("icans"), []),
    row("encephalopathy", named("encephalopathy"), [("encephalopathy", None, False)]),
    row(
        "toxic encephalopathy stays a finding",
        named("toxic encephalopathy"),
        [("toxic-encephalopathy", None, False)],
    ),
    row("stroke", named("acute stroke"), [("ischemic-stroke", None, False)]),
    row("negated", named("No seizure activity"), []),
    row(
        "negation stops at the comma", named("No fever, new generalized seizure"), [("seizure", None, False)]
    ),
    row("negation stops at but", named("no headache but aphasic"), [("aphasia-frank", None, False)]),
    row("r/o is uncertain", named("r/o ICANS"), [("icans", None, True)]),
    row("possible is uncertain", named("possible seizure"), [("seizure", None, True)]),
    row("history of", named("history of seizures"), []),
    row("h/o", named("h/o seizure"), []),
    row("prophylaxis qualifier", named("Seizure prophylaxis"), []),
    row("hepatic encephalopathy", named("hepatic encephalopathy"), []),
    row("metabolic encephalopathy", named("metabolic encephalopathy"), []),
    row("Wernicke's encephalopathy", named("Wernicke's encephalopathy"), []),
    row("septic encephalopathy", named("septic encephalopathy"), []),
    row("uraemic encephalopathy", named("uraemic encephalopathy"), []),
    row("hypoglycaemic encephalopathy", named("hypoglycemic encephalopathy"), []),
    row("hypertensive encephalopathy", named("hypertensive encephalopathy"), []),
    row("stroke volume", named("stroke volume index low"), []),
    row("heat stroke", named("heat stroke"), []),
    row("unresponsive to treatment", named("lymphoma unresponsive to treatment"), []),
    row("CVA tenderness", named("CVA tenderness"), []),
    row("CVA alone is a stroke", named("CVA"), [("ischemic-stroke", None, False)]),
    row(
        "?ICANS is uncertain",
        named("?ICANS"),
        [("icans", None, True)],
    ),
]

BY_STATUS = [
    row(
        "provisional verification is uncertain",
        named("ICANS", verificationStatus={"coding": [{"code": "provisional"}]}),
        [("icans", None, True)],
    ),
    row(
        "differential verification is uncertain",
        named("seizure", verificationStatus={"coding": [{"code": "differential"}]}),
        [("seizure", None, True)],
    ),
    row("refuted", named("encephalitis", verificationStatus={"coding": [{"code": "refuted"}]}), []),
    row(
        "entered in error",
        named("encephalitis", verificationStatus={"coding": [{"code": "entered-in-error"}]}),
        [],
    ),
    row("undated", named("encephalitis", onsetDateTime=None), []),
]


@pytest.mark.parametrize(("resource", "expected"), BY_CODE)
def test_condition_findings_by_code(resource: dict[str, Any], expected: list[Found]) -> None:
    assert findings(resource) == expected


@pytest.mark.parametrize(("resource", "expected"), BY_TEXT)
def test_condition_findings_by_text_with_phrase_rules(
    resource: dict[str, Any], expected: list[Found]
) -> None:
    assert findings(resource) == expected


@pytest.mark.parametrize(("resource", "expected"), BY_STATUS)
def test_condition_verification_status_and_date(resource: dict[str, Any], expected: list[Found]) -> None:
    assert findings(resource) == expected


def test_a_condition_without_onset_is_dated_by_its_recorded_date() -> None:
    found = timeline([named("seizure", onsetDateTime=None, recordedDate="2026-06-01")]).findings
    assert [(f.kind.id, f.on) for f in found] == [("seizure", date(2026, 6, 1))]


def status(code: str) -> dict[str, Any]:
    return {"coding": [{"system": CLINICAL_STATUS, "code": code}]}


@pytest.mark.parametrize(
    ("fields", "resolved_on"),
    [
        ({"clinicalStatus": status("active")}, None),
        ({"clinicalStatus": status("resolved")}, date.min),
        ({"clinicalStatus": status("inactive")}, date.min),
        ({"clinicalStatus": status("remission")}, date.min),
        ({"clinicalStatus": status("resolved"), "abatementDateTime": "2026-06-12"}, date(2026, 6, 12)),
        ({"clinicalStatus": status("active"), "abatementDateTime": "2026-06-12"}, date(2026, 6, 12)),
        ({"abatementPeriod": {"start": "2026-06-11", "end": "2026-06-13"}}, date(2026, 6, 13)),
        ({"abatementBoolean": True}, date.min),
    ],
    ids=[
        "active",
        "resolved",
        "inactive",
        "remission",
        "resolved-on-date",
        "abatement-date",
        "abatement-period",
        "abatement-boolean",
    ],
)
def test_a_resolved_condition_records_when_it_resolved(
    fields: dict[str, Any], resolved_on: date | None
) -> None:
    (found,) = timeline([named("new generalized seizure", **fields)]).findings
    assert found.resolved_on == resolved_on


@pytest.mark.parametrize(
    ("abatement", "today", "active"),
    [("2026-06-12", date(2026, 6, 11), True), ("2026-06-12", date(2026, 6, 12), False), (None, TODAY, True)],
)
def test_an_abated_condition_stops_counting_on_its_abatement_date(
    abatement: str | None, today: date, active: bool
) -> None:
    (found,) = timeline([named("new generalized seizure", abatementDateTime=abatement)]).findings
    assert found.active_on(today) is active


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"valueCodeableConcept": {"text": "Present"}}, [("seizure", None, False)]),
        ({"valueBoolean": True}, [("seizure", None, False)]),
        ({"valueCodeableConcept": {"text": "Absent"}}, []),
        ({"valueCodeableConcept": {"text": "No"}}, []),
        ({"valueString": "Normal"}, []),
        ({"valueString": "none"}, []),
        ({"valueBoolean": False}, []),
        ({"valueBoolean": True, "status": "entered-in-error"}, []),
        ({"valueBoolean": True, "status": "cancelled"}, []),
        ({"valueBoolean": True, "effectiveDateTime": None}, []),
    ],
)
def test_an_observation_answer_says_whether_the_finding_is_there(
    fields: dict[str, Any], expected: list[Found]
) -> None:
    assert findings(observation("Seizure", **fields)) == expected


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"valueString": "new generalized seizure"}, [("seizure", None, False)]),
        ({"valueString": "no seizure, new expressive aphasia"}, [("aphasia-frank", None, False)]),
        ({"valueString": "r/o seizure"}, [("seizure", None, True)]),
        (
            {"valueCodeableConcept": {"coding": [{"system": SNOMED, "code": "91175000"}]}},
            [("seizure", None, False)],
        ),
        ({"valueString": "alert and oriented, no focal deficits"}, []),
    ],
)
def test_a_neurological_examination_names_its_findings_in_its_value(
    fields: dict[str, Any], expected: list[Found]
) -> None:
    assert findings(observation("Neurological examination", **fields)) == expected


Score = tuple[str, int, int | None]  # (kind, score, ASTCT grade of the score alone)


def scores(resource: dict[str, Any]) -> list[Score]:
    return [(s.kind, s.score, s.grade) for s in timeline([resource]).scores]


@pytest.mark.parametrize(
    ("value", "grade"),
    [(10, None), (9, 1), (7, 1), (6, 2), (3, 2), (2, 3), (0, 3)],
)
def test_ice_score_maps_to_its_astct_grade(value: int, grade: int | None) -> None:
    assert scores(observation("ICE score", valueInteger=value)) == [("ice", value, grade)]


@pytest.mark.parametrize(
    ("value", "grade"),
    [(0, None), (1, 1), (8, 1), (9, 3), (32, 3)],
)
def test_capd_score_maps_to_its_astct_grade(value: int, grade: int | None) -> None:
    assert scores(observation("CAPD total score", valueInteger=value)) == [("capd", value, grade)]


@pytest.mark.parametrize(
    ("name", "fields", "expected"),
    [
        ("ICE score", {"valueQuantity": {"value": 5, "unit": "{score}"}}, [("ice", 5, 2)]),
        ("ICE score", {"valueQuantity": {"value": 7.0}}, [("ice", 7, 1)]),
        ("ICE score", {"valueString": "4/10"}, [("ice", 4, 2)]),
        ("ICE score", {"valueInteger": 11}, []),
        ("ICE score", {"valueInteger": -1}, []),
        ("ICE score", {"valueBoolean": True}, []),
        ("ICE score", {"valueInteger": 6.5}, []),
        ("ICE score", {"valueString": "not done"}, []),
        ("ICE score", {"valueInteger": 3, "status": "entered-in-error"}, []),
        ("ICE score", {"valueInteger": 3, "effectiveDateTime": None}, []),
        ("Cornell Assessment of Pediatric Delirium", {"valueInteger": 12}, [("capd", 12, 3)]),
        ("CAPD", {"valueInteger": 33}, []),
        # "CAPD" is also continuous ambulatory peritoneal dialysis: a dialysate volume is no score.
        ("CAPD exchange volume", {"valueQuantity": {"value": 2000, "unit": "mL"}}, []),
    ],
)
def test_score_value_shapes(name: str, fields: dict[str, Any], expected: list[Score]) -> None:
    assert scores(observation(name, **fields)) == expected


def test_an_ice_entry_is_a_score_not_an_encephalopathy_through_its_name() -> None:
    entry = observation("Immune Effector Cell-Associated Encephalopathy (ICE) score", valueInteger=10)
    built = timeline([entry])
    assert built.findings == ()
    assert [(s.kind, s.score, s.on) for s in built.scores] == [("ice", 10, ONSET)]


# v3 (neurotoxicity probe of 2026-11-29): wordings, codes and observation shapes the v2 extraction
# missed or misread, both ways.
V3_BY_TEXT = [
    row("GTCS", named("GTCS overnight"), [("seizure", None, False)]),
    row("AMS", named("AMS"), [("altered-mental-status", None, False)]),
    row(
        "mental status change", named("acute mental status change"), [("altered-mental-status", None, False)]
    ),
    row("handwriting change (ICE writing item)", named("handwriting changes"), [("aphasia", None, False)]),
    row("right-sided weakness", named("new right-sided weakness"), [("focal-motor-weakness", None, False)]),
    row("facial droop", named("left facial droop"), [("cranial-nerve-palsy", None, False)]),
    row("arouses to voice (grade 2)", named("arouses to voice"), [("somnolence", None, False)]),
    row("awakens to touch (grade 3)", named("awakens to touch"), [("obtundation", None, False)]),
    row(
        "requires vigorous stimuli (grade 4)",
        named("requires vigorous stimuli"),
        [("stupor-coma", None, False)],
    ),
    row(
        "painful stimuli only (grade 4)",
        named("arousable only to painful stimuli"),
        [("stupor-coma", None, False)],
    ),
    row("CN6 palsy", named("right CN6 palsy"), [("raised-intracranial-pressure", None, False)]),
    row("focal oedema", named("focal oedema on MRI"), [("cerebral-edema", None, False)]),
    row("CRES is ICANS", named("CRES"), [("icans", None, False)]),
    row("unspecified neurotoxicity", named("neurotoxicity"), [("neurotoxicity", None, False)]),
    row("AIDP", named("AIDP"), [("guillain-barre", None, False)]),
    row("GBS", named("GBS"), [("guillain-barre", None, False)]),
    row("GBS bacteremia is not Guillain-Barre", named("GBS bacteremia"), []),
    row(
        "seizure lasting 10 minutes is status",
        named("seizure lasting 10 minutes"),
        [("status-epilepticus", None, False)],
    ),
    row("seizure (>5 min) is status", named("seizure (>5 min)"), [("status-epilepticus", None, False)]),
    row("a 2-minute seizure is a seizure", named("seizure lasting 2 minutes"), [("seizure", None, False)]),
    row("Glasgow coma scale is no coma", named("Glasgow Coma Scale"), []),
    row("CAM-ICU is no confusion", named("Confusion Assessment Method for the ICU"), []),
    row("monitor for ICANS", named("monitor for ICANS"), []),
    row("ICANS education", named("ICANS education given"), []),
    row("ICANS grade 0", named("ICANS grade 0"), []),
    row("family history in a relative", named("FHx: epilepsy, seizures in mother"), []),
    row("seizure: no", named("seizure: no"), []),
    row("negated list", named("no headache, confusion or seizure"), []),
    row("alternative cause", named("confusion due to opioid toxicity"), []),
    row("chemotherapy-induced neuropathy", named("chemotherapy-induced peripheral neuropathy"), []),
]

V3_BY_CODE = [
    row("F05 delirium", icd10("F05"), [("delirium", None, False)]),
    row("R41.0 disorientation", icd10("R41.0"), [("altered-mental-status", None, False)]),
    row("R47.02 dysphasia", icd10("R47.02"), [("aphasia", None, False)]),
    row("R29.810 facial weakness", icd10("R29.810"), [("cranial-nerve-palsy", None, False)]),
    row("G83.21 monoplegia upper limb", icd10("G83.21"), [("focal-motor-weakness", None, False)]),
    # Issue 16 section 4: G04.90 names encephalomyelitis too: brain and spine work-up.
    row("G04.90 encephalomyelitis", icd10("G04.90"), [("encephalomyelitis", None, False)]),
    row("G04.91 myelitis", icd10("G04.91"), [("transverse-myelitis", None, False)]),
    row("G92.9 toxic encephalopathy", icd10("G92.9"), [("toxic-encephalopathy", None, False)]),
    row("G62.9 polyneuropathy", icd10("G62.9"), [("neuropathy", None, False)]),
]


@pytest.mark.parametrize(("resource", "expected"), V3_BY_TEXT + V3_BY_CODE)
def test_v3_findings_by_text_and_code(resource: dict[str, Any], expected: list[Found]) -> None:
    assert findings(resource) == expected


@pytest.mark.parametrize(
    ("fields", "resolved"),
    [
        ({"abatementString": "resolved"}, True),
        ({"abatementAge": {"value": 66, "unit": "a"}}, True),
        ({"abatementRange": {"low": {"value": 60}}}, True),
        ({}, False),
    ],
    ids=["abatement-string", "abatement-age", "abatement-range", "none"],
)
def test_any_abatement_ends_a_condition(fields: dict[str, Any], resolved: bool) -> None:
    (found,) = timeline([named("new generalized seizure", **fields)]).findings
    assert (found.resolved_on is not None) is resolved


SNOMED_NO = {"coding": [{"system": SNOMED, "code": "373067005"}]}
V2_NO = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0532", "code": "N"}]}
V2_0136_NO = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0136", "code": "N"}]}


@pytest.mark.parametrize(
    ("name", "fields", "expected"),
    [
        ("Seizure activity", {"valueCodeableConcept": SNOMED_NO}, []),
        ("Seizure activity", {"valueCodeableConcept": V2_NO}, []),
        ("Seizure activity", {"valueCodeableConcept": V2_0136_NO}, []),
        ("Seizure activity", {"valueString": "Denies"}, []),
        ("Seizure activity", {"valueString": "None observed"}, []),
        ("Seizures (count)", {"valueInteger": 0}, []),
        ("Seizure activity", {"dataAbsentReason": {"text": "not asked"}}, []),
        ("Seizure activity", {"valueString": "Yes"}, [("seizure", None, False)]),
        ("ICANS grade", {"valueInteger": 3}, [("icans", 3, False)]),
        ("ICANS grade", {"valueString": "Grade 2"}, [("icans", 2, False)]),
        ("ICANS grade", {"valueInteger": 0}, []),
        ("ICANS assessment", {"valueString": "ICE 10/10, no seizures"}, []),
        ("ICANS assessment", {"valueString": "word-finding difficulty"}, [("aphasia", None, False)]),
        ("ICANS", {"valueBoolean": True}, [("icans", None, False)]),
        ("Glasgow coma scale total", {"valueInteger": 15}, []),
    ],
)
def test_v3_an_observation_value_decides(name: str, fields: dict[str, Any], expected: list[Found]) -> None:
    assert findings(observation(name, **fields)) == expected


@pytest.mark.parametrize(
    ("name", "fields", "expected"),
    [
        ("ICE score", {"valueString": "Score: 5"}, [("ice", 5, 2)]),
        ("ICE", {"valueString": "ICE 4"}, [("ice", 4, 2)]),
        ("ICE-10 score", {"valueInteger": 6}, [("ice", 6, 2)]),
        ("ICE encephalopathy score", {"valueInteger": 6}, [("ice", 6, 2)]),
    ],
)
def test_v3_ice_score_names_and_values(name: str, fields: dict[str, Any], expected: list[Score]) -> None:
    built = timeline([observation(name, **fields)])
    assert built.findings == ()
    assert [(s.kind, s.score, s.grade) for s in built.scores] == expected


def test_v3_a_score_entry_that_says_unarousable_is_a_stupor_finding() -> None:
    built = timeline([observation("CAPD", valueString="unable to perform: unarousable")])
    assert [f.kind.id for f in built.findings] == ["stupor-coma"]
    assert built.scores == ()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ICE score 6", [("ice", 6, 2)]),
        ("Neuro checks: ICE 6/10, oriented x2", [("ice", 6, 2)]),
        ("ICE score: 10/10", [("ice", 10, None)]),
        ("ICE score of 2, somnolent", [("ice", 2, 3)]),
        ("ICE 8 at 08:00, ICE 3 at 20:00", [("ice", 3, 2)]),  # the last stated score
        ("ICE not done", []),
        ("ice 2 bags to the knee", []),  # "ICE" is the score only in capitals
        ("CAPD 2000 mL exchange", []),  # peritoneal dialysis, not the delirium score
    ],
)
def test_a_score_stated_in_a_free_text_value_is_read(text: str, expected: list[Score]) -> None:
    """A nursing note often gives the ICE score in words only ("ICE 6/10"): it grades like a coded one."""
    built = timeline([observation("Neurological examination", valueString=text)])
    assert [(s.kind, s.score, s.grade) for s in built.scores] == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("difficulty speaking since this morning", ["aphasia"]),
        ("unable to follow commands", ["altered-mental-status"]),
        ("no improvement in confusion", ["altered-mental-status"]),
        # The pseudo-negation runs into the name: the mental status is unchanged, not changed.
        ("no change in mental status", []),
    ],
)
def test_plain_wordings_of_ice_items_and_pseudo_negations(text: str, expected: list[str]) -> None:
    built = timeline([observation("Neurological examination", valueString=text)])
    assert [finding.kind.id for finding in built.findings] == expected


# --- v3 (issue 16 sections 2, 3 and 8): codes and names of the myasthenia pattern, focal weakness,
# alternative causes named in a coded Condition's own text, obtundation severity -------------------------

V3_CODED = [
    row("diplopia H53.2 is the myasthenia pattern", icd10("H53.2"), [("myasthenia-pattern", None, False)]),
    row("unspecified ptosis H02.40- family", icd10("H02.402"), [("myasthenia-pattern", None, False)]),
    row("mechanical ptosis H02.41- is not", icd10("H02.411"), []),
    row(
        "G62.0 alone stays a neuropathy",
        icd10("G62.0", "Drug-induced polyneuropathy"),
        [("neuropathy", None, False)],
    ),
    row(
        "G62.0 whose text names vincristine", icd10("G62.0", "Vincristine-induced peripheral neuropathy"), []
    ),
    row("G62.0 labelled CIPN", icd10("G62.0", "CIPN"), []),
    row("R56.9 labelled alcohol withdrawal seizure", icd10("R56.9", "Alcohol withdrawal seizure"), []),
    row(
        "F10.231 alcohol withdrawal delirium",
        icd10("F10.231", "Alcohol dependence with withdrawal delirium"),
        [],
    ),
    row("F10.921 intoxication delirium", icd10("F10.921", "delirium"), []),
    row(
        "R41.82 with a headache beside it stays",
        icd10("R41.82", "Headache and confusion"),
        [("altered-mental-status", None, False)],
    ),
    row("G70.01 MG with exacerbation", icd10("G70.01"), [("myasthenia-gravis", None, False)]),
]


@pytest.mark.parametrize(("resource", "expected"), V3_CODED)
def test_v3_coded_findings(resource: dict[str, Any], expected: list[Found]) -> None:
    assert findings(resource) == expected


V3_NAMED = [
    ("fatigable ptosis", ["myasthenia-pattern"]),
    ("new ptosis and diplopia since Monday", ["myasthenia-pattern"]),
    ("double vision", ["myasthenia-pattern"]),
    ("dysphagia with weakness", ["myasthenia-pattern"]),
    ("dysphagia", []),  # mucositis, oesophagitis: only with weakness
    ("breast ptosis", []),
    ("left-sided weakness", ["focal-motor-weakness"]),
    ("right arm weakness", ["focal-motor-weakness"]),
    ("LUE weakness", ["focal-motor-weakness"]),
    ("hemiparesis", ["focal-motor-weakness"]),
    ("motor weakness", []),  # issue 16 section 8: plain motor weakness is not grade 4
    ("generalized weakness", []),
    ("weakness", []),
]


@pytest.mark.parametrize(("text", "expected"), V3_NAMED)
def test_v3_findings_by_their_signs(text: str, expected: list[str]) -> None:
    assert [f[0] for f in findings(named(text))] == expected


def test_v3_obtundation_is_critical_and_somnolence_stays_a_warning() -> None:
    records = [named("obtunded"), {**named("somnolent"), "id": "c2"}]
    kinds = {f.kind.id: f.kind.severity for f in timeline(records).findings}
    assert kinds == {"obtundation": "critical", "somnolence": "warning"}
