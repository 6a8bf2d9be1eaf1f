"""Coverage matrix for neurological findings, scores and their resolution (docs/coverage/findings.md):
one row per FHIR R4 resource and element an EHR puts the fact in, each run through the Evaluator
(tests/clinical_support.py) with a therapy on record, and each either firing the possible-neurotoxicity
card or staying silent. The row id names the cell: "<fact> | <Resource.element> | <fires/silent>"."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import pytest
from clinical_support import (
    ICD10,
    LOINC,
    SUBJECT,
    administration,
    cards,
    condition,
    day,
    note,
    order,
    patient,
    report,
    score,
    topics,
)

SNOMED = "http://snomed.info/sct"
TOPIC = "possible-neurotoxicity"


def car_t() -> dict[str, Any]:
    return administration("Yescarta (axicabtagene ciloleucel) suspension for IV infusion", -6)


def ici() -> dict[str, Any]:
    return administration("pembrolizumab 200 mg IV", -40)


# --- builders: resources as EHRs send them ------------------------------------------------------------


def observation(code: dict[str, Any], offset: int = -1, **fields: Any) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": f"obs-{abs(hash((repr(code), offset, repr(sorted(fields)))) % 10**8)}",
        "status": "final",
        "code": code,
        "subject": SUBJECT,
        "effectiveDateTime": f"{day(offset)}T09:30:00Z",
        **fields,
    }


def loinc(code: str, display: str) -> dict[str, Any]:
    return {"coding": [{"system": LOINC, "code": code, "display": display}], "text": display}


def gcs_total(value: int, offset: int = -1) -> dict[str, Any]:
    return observation(
        loinc("9269-2", "Glasgow coma score total"),
        offset,
        valueQuantity={"value": value, "system": "http://unitsofmeasure.org", "code": "{score}"},
    )


def neuro_report(
    offset: int = -1,
    *,
    title: str = "EEG continuous monitoring",
    conclusion: str = "",
    attachment: tuple[str, str] | None = None,
    **fields: Any,
) -> dict[str, Any]:
    resource = report(offset, title=title, conclusion=conclusion)
    if attachment is not None:
        content_type, text = attachment
        resource["presentedForm"] = [
            {"contentType": content_type, "data": base64.b64encode(text.encode("utf-8")).decode("ascii")}
        ]
    resource.update(fields)
    return resource


def given_for(
    drug: str, *, reason: dict[str, Any] | None = None, dosage: str | None = None, status: str = "completed"
) -> dict[str, Any]:
    resource = administration(drug, -1, status)
    if reason is not None:
        resource["reasonCode"] = [reason]
    if dosage is not None:
        resource["dosage"] = {"text": dosage}
    return resource


def procedure(text: str, reason: dict[str, Any], resource_type: str = "Procedure") -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": resource_type,
        "id": f"{resource_type.lower()}-plex",
        "status": "completed" if resource_type == "Procedure" else "active",
        "code": {"text": text},
        "subject": SUBJECT,
        "reasonCode": [reason],
    }
    if resource_type == "Procedure":
        resource["performedDateTime"] = day(-1)
    else:
        resource["intent"] = "order"
        resource["authoredOn"] = day(-1)
    return resource


def german(code: str, display: str, certainty: str) -> dict[str, Any]:
    """A German (MII / KBV) diagnosis: ICD-10-GM code with its Diagnosesicherheit on the coding."""
    resource = condition(-1)
    resource["code"] = {
        "coding": [
            {
                "extension": [
                    {
                        "url": "http://fhir.de/StructureDefinition/icd-10-gm-diagnosesicherheit",
                        "valueCoding": {
                            "system": "https://fhir.kbv.de/CodeSystem/KBV_CS_SFHIR_ICD_DIAGNOSESICHERHEIT",
                            "code": certainty,
                        },
                    }
                ],
                "system": "http://fhir.de/CodeSystem/bfarm/icd-10-gm",
                "version": "2026",
                "code": code,
                "display": display,
            }
        ],
        "text": "Autoimmune encephalitis",
    }
    return resource


def undated(code: str, text: str, clinical: str = "active") -> dict[str, Any]:
    resource = condition(0, code=code, text=text, clinical=clinical)
    del resource["onsetDateTime"]
    return resource


def panel(title: str, members: list[dict[str, Any]], references: list[str]) -> list[dict[str, Any]]:
    """A panel with its members: "#id" members are contained, the others are separate resources."""
    contained = [member for member in members if f"#{member['id']}" in references]
    separate = [member for member in members if member not in contained]
    head = observation({"text": title}, hasMember=[{"reference": ref} for ref in references])
    if contained:
        head["contained"] = contained
    return [head, *separate]


def member(member_id: str, code: dict[str, Any], **value: Any) -> dict[str, Any]:
    # Panel items are often charted without a date of their own: the panel's date applies.
    return {"resourceType": "Observation", "id": member_id, "status": "final", "code": code, **value}


Row = tuple[Callable[[], dict[str, Any]], list[dict[str, Any]], bool]

ROWS: dict[str, Row] = {
    # --- neurological finding: Condition ---------------------------------------------------------------
    "finding | Condition.code coding | fires": (car_t, [condition(-1, code="G92.02")], True),
    "finding | Condition.code text | fires": (car_t, [condition(-1, text="Generalized seizure")], True),
    "finding | Condition undated, active | fires": (
        car_t,
        [undated("G92.00", "ICANS (onset 2 days ago)")],
        True,
    ),
    "finding | Condition undated, resolved | silent": (
        car_t,
        [undated("G92.00", "ICANS", clinical="resolved")],
        False,
    ),
    "finding | Condition.code Z86.69 personal history | silent": (
        ici,
        [condition(-1, code="Z86.69", text="Personal history of other diseases of the nervous system")],
        False,
    ),
    "finding | Condition.code Z86.61 personal history | silent": (
        ici,
        [condition(-1, code="Z86.61", text="Personal history of encephalitis")],
        False,
    ),
    "finding | Condition.code I69.351 sequela | silent": (
        ici,
        [condition(-1, code="I69.351", text="Hemiplegia following cerebral infarction, right dominant side")],
        False,
    ),
    "finding | Condition.code G09 sequela | silent": (
        ici,
        [condition(-1, code="G09", text="Sequelae of encephalitis")],
        False,
    ),
    "finding | Condition.code.coding Diagnosesicherheit Z (status post) | silent": (
        ici,
        [german("G04.8", "Sonstige Enzephalitis, Myelitis und Enzephalomyelitis", "Z")],
        False,
    ),
    "finding | Condition.code.coding Diagnosesicherheit A (excluded) | silent": (
        ici,
        [german("G04.8", "Sonstige Enzephalitis, Myelitis und Enzephalomyelitis", "A")],
        False,
    ),
    "finding | Condition.code.coding Diagnosesicherheit G (confirmed) | fires": (
        ici,
        [german("G04.8", "Sonstige Enzephalitis, Myelitis und Enzephalomyelitis", "G")],
        True,
    ),
    # --- neurological finding: Observation -------------------------------------------------------------
    "finding | Observation.code + valueBoolean | fires": (
        car_t,
        [observation({"text": "Seizure activity"}, valueBoolean=True)],
        True,
    ),
    "finding | Observation.valueCodeableConcept No | silent": (
        car_t,
        [observation({"text": "Seizure activity"}, valueCodeableConcept={"text": "No"})],
        False,
    ),
    "finding | Observation.valueString | fires": (
        car_t,
        [note("Patient somnolent, arouses to voice", -1)],
        True,
    ),
    "finding | Observation.valueString negated | silent": (
        car_t,
        [note("No confusion, no seizures.", -1)],
        False,
    ),
    "finding | Observation.code title 'ICANS assessment' without value | silent": (
        car_t,
        [observation({"text": "ICANS assessment"})],
        False,
    ),
    "finding | Observation.component positive item | fires": (
        car_t,
        [
            observation(
                {"text": "ICANS assessment"},
                component=[
                    {"code": {"text": "Seizure"}, "valueBoolean": True},
                    {"code": {"text": "Level of consciousness"}, "valueString": "Awakens spontaneously"},
                ],
            )
        ],
        True,
    ),
    "finding | Observation.component all normal | silent": (
        car_t,
        [
            observation(
                {"text": "ICANS assessment"},
                component=[
                    {"code": {"text": "ICE score"}, "valueInteger": 10},
                    {"code": {"text": "Seizure"}, "valueBoolean": False},
                    {"code": {"text": "Level of consciousness"}, "valueString": "Awake"},
                ],
            )
        ],
        False,
    ),
    "finding | Observation.hasMember contained | fires": (
        car_t,
        panel(
            "ICANS flowsheet",
            [member("lc", {"text": "Level of consciousness"}, valueString="Awakens only to touch")],
            ["#lc"],
        ),
        True,
    ),
    "finding | Observation.hasMember relative reference | fires": (
        car_t,
        panel(
            "ICANS flowsheet", [member("sz1", {"text": "Seizure"}, valueBoolean=True)], ["Observation/sz1"]
        ),
        True,
    ),
    "finding | Observation.hasMember absolute URL with _history | fires": (
        car_t,
        panel(
            "ICANS flowsheet",
            [member("sz2", {"text": "Seizure"}, valueBoolean=True)],
            ["https://ehr.example.org/fhir/Observation/sz2/_history/3"],
        ),
        True,
    ),
    "finding | Observation.hasMember item answered No | silent": (
        car_t,
        panel(
            "ICANS flowsheet",
            [member("sz3", {"text": "Seizure"}, valueCodeableConcept={"text": "No"})],
            ["Observation/sz3"],
        ),
        False,
    ),
    # --- neurological finding: DiagnosticReport -------------------------------------------------------
    "finding | DiagnosticReport.conclusion EEG | fires": (
        car_t,
        [neuro_report(conclusion="Findings consistent with non-convulsive status epilepticus.")],
        True,
    ),
    "finding | DiagnosticReport.conclusion MRI diffuse oedema | fires": (
        car_t,
        [neuro_report(title="MRI brain", conclusion="Diffuse cerebral oedema with sulcal effacement.")],
        True,
    ),
    "finding | DiagnosticReport.conclusion negated | silent": (
        car_t,
        [neuro_report(title="MRI brain", conclusion="No acute intracranial abnormality; no oedema.")],
        False,
    ),
    "finding | DiagnosticReport.conclusion peritumoral oedema | silent": (
        ici,
        [
            neuro_report(
                title="MRI brain", conclusion="Left frontal metastasis with peritumoral vasogenic edema."
            )
        ],
        False,
    ),
    "finding | DiagnosticReport.conclusionCode | fires": (
        car_t,
        [
            neuro_report(
                conclusionCode=[
                    {"coding": [{"system": SNOMED, "code": "230456007"}], "text": "Status epilepticus"}
                ]
            )
        ],
        True,
    ),
    "finding | DiagnosticReport.presentedForm text/plain | fires": (
        ici,
        [
            neuro_report(
                title="MRI brain", attachment=("text/plain", "IMPRESSION: Leptomeningeal enhancement.")
            )
        ],
        True,
    ),
    "finding | DiagnosticReport.presentedForm text/html | fires": (
        ici,
        [
            neuro_report(
                title="MRI brain",
                attachment=("text/html; charset=utf-8", "<p><b>Impression:</b> limbic encephalitis</p>"),
            )
        ],
        True,
    ),
    "finding | DiagnosticReport.presentedForm negated | silent": (
        ici,
        [neuro_report(title="MRI brain", attachment=("text/plain", "No leptomeningeal enhancement."))],
        False,
    ),
    "finding | DiagnosticReport.presentedForm application/pdf | silent": (
        car_t,
        [neuro_report(attachment=("application/pdf", "seizure"))],
        False,
    ),
    "finding | DiagnosticReport.code title only | silent": (
        car_t,
        [neuro_report(title="EEG for seizures", conclusion="Normal awake and asleep EEG.")],
        False,
    ),
    "finding | DiagnosticReport.result contained Observation | fires": (
        car_t,
        [
            neuro_report(
                title="Lumbar puncture, CSF analysis",
                conclusion="See results.",
                result=[{"reference": "#csf"}],
                contained=[
                    member(
                        "csf",
                        {"text": "CSF interpretation"},
                        valueString="Lymphocytic pleocytosis: aseptic meningitis",
                    )
                ],
            )
        ],
        True,
    ),
    "finding | DiagnosticReport.result undated Observation in the record | fires": (
        car_t,
        [
            neuro_report(conclusion="", result=[{"reference": "Observation/eeg-imp"}]),
            member("eeg-imp", {"text": "EEG impression"}, valueString="Electrographic seizures"),
        ],
        True,
    ),
    "finding | DiagnosticReport.result item answered No | silent": (
        car_t,
        [
            neuro_report(
                conclusion="",
                result=[{"reference": "#sz"}],
                contained=[member("sz", {"text": "Seizure"}, valueBoolean=False)],
            ),
        ],
        False,
    ),
    "finding | DiagnosticReport entered-in-error | silent": (
        car_t,
        [neuro_report(conclusion="Non-convulsive status epilepticus.", status="entered-in-error")],
        False,
    ),
    # --- neurological finding: treatment given or ordered for it ---------------------------------------
    "finding | MedicationAdministration.dosage.text | fires": (
        car_t,
        [given_for("dexamethasone 10 mg/mL injection", dosage="10 mg IV q6h for ICANS")],
        True,
    ),
    "finding | MedicationAdministration.reasonCode | fires": (
        car_t,
        [given_for("dexamethasone", reason={"coding": [{"system": ICD10, "code": "G92.02"}]})],
        True,
    ),
    "finding | MedicationAdministration.reasonReference | fires": (
        car_t,
        [
            {
                **condition(-2, text="ICANS", clinical="resolved"),
                "id": "icans-episode",
            },
            {
                **given_for("methylprednisolone 1 g IV"),
                "reasonReference": [{"reference": "Condition/icans-episode"}],
            },
        ],
        True,
    ),
    "finding | MedicationRequest.dosageInstruction.text | fires": (
        car_t,
        [
            {
                **order("anakinra 100 mg/0.67 mL syringe", -1),
                "dosageInstruction": [{"text": "100 mg SC q6h for steroid-refractory ICANS"}],
            }
        ],
        True,
    ),
    "finding | MedicationStatement.reasonCode | fires": (
        car_t,
        [
            {
                "resourceType": "MedicationStatement",
                "id": "ms-silt",
                "status": "completed",
                "medicationCodeableConcept": {"text": "siltuximab"},
                "subject": SUBJECT,
                "effectiveDateTime": day(-1),
                "reasonCode": [{"text": "ICANS grade 3"}],
            }
        ],
        True,
    ),
    "finding | Procedure.reasonCode plasma exchange | fires": (
        ici,
        [
            procedure(
                "Therapeutic plasma exchange",
                {"coding": [{"system": SNOMED, "code": "91637004"}], "text": "Myasthenia gravis"},
            )
        ],
        True,
    ),
    "finding | ServiceRequest.reasonCode plasma exchange | fires": (
        ici,
        [procedure("Plasmapheresis", {"text": "Guillain-Barre syndrome"}, "ServiceRequest")],
        True,
    ),
    "finding | MedicationAdministration tocilizumab for CRS | silent": (
        car_t,
        [given_for("tocilizumab 8 mg/kg IV", reason={"text": "Cytokine release syndrome grade 2"})],
        False,
    ),
    "finding | MedicationAdministration steroids for CRS | silent": (
        car_t,
        [given_for("dexamethasone 10 mg IV", reason={"coding": [{"system": ICD10, "code": "D89.832"}]})],
        False,
    ),
    "finding | MedicationRequest levetiracetam prophylaxis | silent": (
        car_t,
        [
            {
                **order("levetiracetam 500 mg", -1),
                "dosageInstruction": [{"text": "BID for seizure prophylaxis"}],
            }
        ],
        False,
    ),
    "finding | MedicationRequest conditional indication | silent": (
        car_t,
        [
            {
                **order("dexamethasone 10 mg IV", -1),
                "dosageInstruction": [{"text": "give if ICANS grade 2 or higher"}],
            }
        ],
        False,
    ),
    "finding | MedicationAdministration not-done | silent": (
        car_t,
        [given_for("dexamethasone", dosage="for ICANS", status="not-done")],
        False,
    ),
    # --- score ----------------------------------------------------------------------------------------
    "score | Observation ICE valueInteger 4 | fires": (car_t, [score("ICE score", 4, -1)], True),
    "score | Observation ICE valueInteger 10 | silent": (car_t, [score("ICE score", 10, -1)], False),
    "score | Observation.component ICE 4 | fires": (
        car_t,
        [
            observation(
                {"text": "ICANS assessment"}, component=[{"code": {"text": "ICE score"}, "valueInteger": 4}]
            )
        ],
        True,
    ),
    "score | Observation.hasMember ICE 4 | fires": (
        car_t,
        panel(
            "ICANS flowsheet",
            [member("ice4", {"text": "ICE total score"}, valueInteger=4)],
            ["Observation/ice4"],
        ),
        True,
    ),
    "score | Observation.valueString 'ICE 4/10' | fires": (car_t, [note("ICE 4/10, oriented x2", -1)], True),
    "score | DiagnosticReport.conclusion 'ICE score 4' | fires": (
        car_t,
        [neuro_report(title="Neurology consult", conclusion="ICE score 4 this morning.")],
        True,
    ),
    "score | Observation 'CAPD flowsheet' CAPD 0 | silent": (
        car_t,
        [
            patient("2019-09-01"),
            observation(
                {"text": "CAPD flowsheet"},
                component=[{"code": {"text": "CAPD total score"}, "valueInteger": 0}],
            ),
        ],
        False,
    ),
    "score | Observation GCS 9269-2 total 7 | fires": (car_t, [gcs_total(7)], True),
    "score | Observation GCS 9269-2 total 15 | silent": (car_t, [gcs_total(15)], False),
    "score | Observation GCS 9269-2 total 11 | silent": (car_t, [gcs_total(11)], False),
    "score | Observation GCS by name 'GCS total' 6 | fires": (
        car_t,
        [observation({"text": "GCS total"}, valueInteger=6)],
        True,
    ),
    "score | Observation.valueString 'GCS 7' in a note | fires": (
        car_t,
        [note("Overnight: GCS 7, E2V2M3", -1)],
        True,
    ),
    "score | Observation.valueString 'GCS 15' in a note | silent": (
        car_t,
        [note("GCS 15, moving all limbs", -1)],
        False,
    ),
    "score | DiagnosticReport.conclusion 'GCS 6' | fires": (
        car_t,
        [neuro_report(title="Rapid response note", conclusion="Found unresponsive to voice, GCS 6.")],
        True,
    ),
    "score | Observation.valueString history of a low GCS | silent": (
        ici,
        [note("History of GCS 6 after a head injury in 2010", -1)],
        False,
    ),
    "score | Observation.component GCS items without total | silent": (
        car_t,
        [
            observation(
                loinc("35088-4", "Glasgow coma score panel"),
                component=[
                    {"code": loinc("9267-6", "Glasgow coma score eye opening"), "valueInteger": 2},
                    {"code": loinc("9270-0", "Glasgow coma score verbal"), "valueInteger": 2},
                    {
                        "code": loinc("9268-4", "Glasgow coma score motor"),
                        "valueCodeableConcept": {"text": "Abnormal flexion (decorticate)"},
                    },
                ],
            )
        ],
        False,
    ),
    "score | Condition.code R40.2432 GCS 3-8 | fires": (
        car_t,
        [
            condition(
                -1, code="R40.2432", text="Glasgow coma scale score 3-8, at arrival to emergency department"
            )
        ],
        True,
    ),
    # --- resolution -----------------------------------------------------------------------------------
    "resolution | Condition.clinicalStatus resolved | silent": (
        car_t,
        [condition(-1, code="G92.02", clinical="resolved")],
        False,
    ),
    "resolution | Condition.abatementDateTime | silent": (
        car_t,
        [condition(-3, text="Generalized seizure", abatementDateTime=day(-2))],
        False,
    ),
    "resolution | later Observation ICE 10 after ICE 5 | silent": (
        car_t,
        [score("ICE score", 5, -3), score("ICE score", 10, -1)],
        False,
    ),
    "resolution | later ICE 10 after a consciousness finding | silent": (
        car_t,
        [note("Somnolent, arouses to voice", -3), score("ICE score", 10, -1)],
        False,
    ),
    "resolution | later ICE 10 after an encephalopathy report | silent": (
        car_t,
        [
            neuro_report(-3, conclusion="Diffuse slowing consistent with encephalopathy."),
            score("ICE score", 10, -1),
        ],
        False,
    ),
    "resolution | later ICE 10 after a treatment for ICANS | silent": (
        car_t,
        [
            {**given_for("dexamethasone", dosage="10 mg IV for ICANS"), "effectiveDateTime": day(-3)},
            score("ICE score", 10, -1),
        ],
        False,
    ),
    "resolution | later ICE 10 stated in a report | silent": (
        car_t,
        [
            note("Disoriented, ICE 6/10", -3),
            neuro_report(-1, title="Neurology consult", conclusion="ICE 10/10 today."),
        ],
        False,
    ),
    "resolution | later note 'ICE 10/10' after ICE 4 | silent": (
        car_t,
        [score("ICE score", 4, -3), note("ICE 10/10, no seizures, oriented x4", -1)],
        False,
    ),
    "resolution | a note 'ICE-10 not done' states no score | fires": (
        car_t,
        [score("ICE score", 4, -3), note("ICE-10 not done, patient off the unit", -1)],
        True,
    ),
    "resolution | later GCS 15 after GCS 7 | silent": (car_t, [gcs_total(7, -3), gcs_total(15, -1)], False),
    "resolution | ICE 10 before the finding | fires": (
        car_t,
        [score("ICE score", 10, -4), note("Somnolent, arouses to voice", -3)],
        True,
    ),
    "resolution | later ICE 10 does not end a seizure | fires": (
        car_t,
        [note("Generalized seizure overnight", -3), score("ICE score", 10, -1)],
        True,
    ),
}


@pytest.mark.parametrize(("therapy", "resources", "fires"), list(ROWS.values()), ids=list(ROWS))
def test_coverage_cell(
    therapy: Callable[[], dict[str, Any]], resources: list[dict[str, Any]], fires: bool
) -> None:
    found = topics(cards([therapy(), *resources]))
    assert (TOPIC in found) is fires, found


def _neurotoxicity_detail(resources: list[dict[str, Any]]) -> str:
    card = next(card for card in cards(resources) if card["source"]["topic"]["code"] == TOPIC)
    return str(card["detail"])


def test_the_card_names_the_treatment_that_documented_the_event() -> None:
    detail = _neurotoxicity_detail(
        [car_t(), given_for("dexamethasone 10 mg/mL", dosage="10 mg IV q6h for ICANS")]
    )
    assert "dexamethasone given for ICANS" in detail
    assert "administration record" in detail
    assert "MedicationAdministration/" not in detail


def test_a_treatment_for_a_suspected_icans_documents_a_suspicion_only() -> None:
    found = cards([car_t(), given_for("dexamethasone 10 mg IV", reason={"text": "possible ICANS"})])
    assert topics(found).get(TOPIC) == "warning"
    assert "suspected" in _neurotoxicity_detail(
        [car_t(), given_for("dexamethasone", reason={"text": "possible ICANS"})]
    )


def test_a_german_suspected_diagnosis_is_a_warning() -> None:
    found = cards([ici(), german("G04.8", "Sonstige Enzephalitis, Myelitis und Enzephalomyelitis", "V")])
    assert topics(found).get(TOPIC) == "warning"


def test_the_card_says_an_undated_diagnosis_is_undated() -> None:
    detail = _neurotoxicity_detail([car_t(), undated("G92.00", "ICANS")])
    assert "undated" in detail


def test_an_undated_diagnosis_counts_on_every_later_day() -> None:
    from clinical_support import TODAY, evaluator, timeline

    built = timeline([car_t(), undated("G92.00", "ICANS")])
    for later in (0, 20, 60):
        advice = evaluator().advice_on(built, TODAY.fromordinal(TODAY.toordinal() + later))
        assert any(type(item).__name__ == "NeurotoxicityAdvice" for item in advice), later


def test_a_report_finding_names_the_report() -> None:
    detail = _neurotoxicity_detail(
        [car_t(), neuro_report(title="EEG continuous", conclusion="Non-convulsive status epilepticus.")]
    )
    assert "EEG continuous" in detail and "report" in detail


def test_a_gcs_of_8_or_less_grades_the_consciousness_domain_3() -> None:
    found = cards([car_t(), gcs_total(8)])
    card = next(card for card in found if card["source"]["topic"]["code"] == TOPIC)
    assert card["indicator"] == "critical"
    assert "grade 3" in card["summary"]


def test_a_huge_attachment_is_read_only_up_to_the_text_cap() -> None:
    text = "Normal study. " * 200_000 + "Non-convulsive status epilepticus."
    found = topics(cards([car_t(), neuro_report(attachment=("text/plain", text))]))
    assert TOPIC not in found  # the finding lies beyond the cap: read defensively, never unbounded


@pytest.mark.parametrize(
    "attachment",
    [
        {"contentType": "text/plain", "data": "%%% not base64 %%%"},
        {"contentType": "text/plain", "data": 42},
        {"contentType": 7, "data": "c2VpenVyZQ=="},
        {"contentType": "text/plain", "url": "https://ehr.example.org/Binary/1"},
        "not an attachment",
    ],
)
def test_a_malformed_attachment_reads_as_absent(attachment: Any) -> None:
    resource = neuro_report(title="EEG")
    resource["presentedForm"] = [attachment]
    assert TOPIC not in topics(cards([car_t(), resource]))


def test_panels_that_point_at_each_other_are_read_without_looping() -> None:
    first = member("loop-a", {"text": "ICANS flowsheet"}, hasMember=[{"reference": "Observation/loop-b"}])
    second = member(
        "loop-b", {"text": "Seizure"}, valueBoolean=True, hasMember=[{"reference": "Observation/loop-a"}]
    )
    head = observation({"text": "ICANS assessment"}, hasMember=[{"reference": "Observation/loop-a"}])
    assert TOPIC in topics(cards([car_t(), head, first, second]))


def test_a_dated_member_in_the_record_is_read_once() -> None:
    dated = observation({"text": "Seizure"}, valueBoolean=True)
    head = observation({"text": "ICANS flowsheet"}, hasMember=[{"reference": f"Observation/{dated['id']}"}])
    detail = _neurotoxicity_detail([car_t(), head, dated])
    assert detail.count("- Seizure:") == 1
