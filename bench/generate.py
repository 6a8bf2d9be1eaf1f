"""Synthetic FHIR R4 oncology patients for the benchmark: deterministic (seeded), realistic in shape.

One clinical story runs through every size, so the service must answer every workload with the same
three cards: a patient with relapsed DLBCL who had pembrolizumab (ICI) from 2026-09-05, axicabtagene
ciloleucel (CAR-T) infused on 2026-11-03, an ICE score of 6/10 on 2026-11-12 (ICANS grade 2),
glofitamab (T-cell engager) planned, a PET-CT read as pseudoprogression on 2026-11-01 and the last
brain MRI on 2026-10-02. Around that story, `Mix` decides how much unrelated history there is:
supportive-care and chemotherapy drugs (some with contained or referenced Medications), conditions
coded in SNOMED CT and ICD-10-CM, labs, vitals and neuro checks, imaging studies and radiology reports,
procedures and service requests, spread over three years.

    resources = patient_resources(HEAVY)            # every resource, Patient and Medications included
    body = hook_request(prefetch_for(resources))     # a patient-view request with full prefetch

Run as a script to print the workloads' sizes: ``.venv/bin/python -m bench.generate``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, fields, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import orjson

PATIENT_ID = "bench-onc-1"
USER_ID = "Practitioner/bench-oncologist-1"
ENCOUNTER_ID = "bench-enc-1"
TODAY = date(2026, 11, 21)
NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
# The cards the clinical story must produce (topic codes), whatever the size of the history.
EXPECTED_TOPICS = ("possible-neurotoxicity", "baseline-brain-mri", "interval-imaging")
SEED = 20261121
# A loopback address nothing listens on: with a complete prefetch the service must never call it.
UNUSED_FHIR_SERVER = "http://127.0.0.1:9/fhir"

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
SNOMED = "http://snomed.info/sct"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
DICOM = "http://dicom.nema.org/resources/ontology/DCM"
CPT = "http://www.ama-assn.org/go/cpt"
MED_REQUEST_CATEGORY = "http://terminology.hl7.org/CodeSystem/medicationrequest-category"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
CONDITION_VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
CONDITION_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
DIAGNOSTIC_SERVICE = "http://terminology.hl7.org/CodeSystem/v2-0074"
ROUTE = "http://snomed.info/sct"

PREFETCH_KEYS: dict[str, str] = {
    "patient": "Patient",
    "medicationRequests": "MedicationRequest",
    "medicationAdministrations": "MedicationAdministration",
    "medicationStatements": "MedicationStatement",
    "medicationDispenses": "MedicationDispense",
    "conditions": "Condition",
    "observations": "Observation",
    "imagingStudies": "ImagingStudy",
    "diagnosticReports": "DiagnosticReport",
    "procedures": "Procedure",
    "serviceRequests": "ServiceRequest",
    "devices": "Device",
    "flags": "Flag",
    "allergyIntolerances": "AllergyIntolerance",
}


@dataclass(frozen=True)
class Mix:
    """How many resources of each type a patient has (the clinical story's included)."""

    medication_requests: int
    medication_administrations: int
    medication_statements: int
    medication_dispenses: int
    conditions: int
    observations: int
    imaging_studies: int
    diagnostic_reports: int
    procedures: int
    service_requests: int

    @property
    def total(self) -> int:
        return sum(getattr(self, item.name) for item in fields(self))

    def scaled_to(self, total: int) -> Mix:
        """The same proportions, `total` resources in all (the story's few resources kept)."""
        factor = total / self.total
        scaled = replace(
            self, **{item.name: max(6, round(getattr(self, item.name) * factor)) for item in fields(self)}
        )
        return replace(scaled, medication_requests=scaled.medication_requests + total - scaled.total)


# ~60 resources: a patient a few months into treatment.
TYPICAL = Mix(
    medication_requests=14,
    medication_administrations=12,
    medication_statements=3,
    medication_dispenses=2,
    conditions=8,
    observations=12,
    imaging_studies=2,
    diagnostic_reports=3,
    procedures=3,
    service_requests=3,
)
# ~2,900 resources, about 2 MB: years of inpatient oncology care.
HEAVY = Mix(
    medication_requests=1150,
    medication_administrations=850,
    medication_statements=12,
    medication_dispenses=8,
    conditions=500,
    observations=300,
    imaging_studies=20,
    diagnostic_reports=30,
    procedures=15,
    service_requests=25,
)

# Unrelated drugs: (name as ordered, RxNorm ingredient, dose text, route SNOMED code, route display).
DRUGS: tuple[tuple[str, str, str, str, str], ...] = (
    (
        "ondansetron 8 MG Oral Tablet",
        "26225",
        "8 mg PO every 8 hours as needed for nausea",
        "26643006",
        "Oral",
    ),
    ("dexamethasone 4 MG Oral Tablet", "3264", "4 mg PO twice daily with food", "26643006", "Oral"),
    (
        "levetiracetam 500 MG Oral Tablet",
        "114477",
        "500 mg PO twice daily, seizure prophylaxis",
        "26643006",
        "Oral",
    ),
    ("acyclovir 400 MG Oral Tablet", "281", "400 mg PO twice daily (HSV prophylaxis)", "26643006", "Oral"),
    (
        "pantoprazole 40 MG Delayed Release Oral Tablet",
        "40790",
        "40 mg PO daily before breakfast",
        "26643006",
        "Oral",
    ),
    ("lisinopril 10 MG Oral Tablet", "29046", "10 mg PO daily", "26643006", "Oral"),
    (
        "metformin hydrochloride 500 MG Oral Tablet",
        "6809",
        "500 mg PO twice daily with meals",
        "26643006",
        "Oral",
    ),
    ("atorvastatin 20 MG Oral Tablet", "83367", "20 mg PO at bedtime", "26643006", "Oral"),
    (
        "morphine sulfate 2 MG/ML Injectable Solution",
        "7052",
        "2 mg IV every 4 hours as needed for pain",
        "47625008",
        "Intravenous",
    ),
    (
        "oxycodone hydrochloride 5 MG Oral Tablet",
        "7804",
        "5 mg PO every 6 hours as needed",
        "26643006",
        "Oral",
    ),
    (
        "filgrastim 300 MCG/0.5ML Prefilled Syringe",
        "68442",
        "300 mcg SC daily until ANC recovery",
        "34206005",
        "Subcutaneous",
    ),
    (
        "pegfilgrastim 6 MG/0.6ML Prefilled Syringe",
        "338036",
        "6 mg SC once per cycle",
        "34206005",
        "Subcutaneous",
    ),
    (
        "allopurinol 300 MG Oral Tablet",
        "519",
        "300 mg PO daily (tumour lysis prophylaxis)",
        "26643006",
        "Oral",
    ),
    (
        "tocilizumab 20 MG/ML Injectable Solution",
        "612865",
        "8 mg/kg IV once for cytokine release syndrome",
        "47625008",
        "Intravenous",
    ),
    (
        "cyclophosphamide 500 MG Injection",
        "3002",
        "500 mg/m2 IV daily x3 (lymphodepletion)",
        "47625008",
        "Intravenous",
    ),
    (
        "fludarabine phosphate 50 MG Injection",
        "24698",
        "30 mg/m2 IV daily x3 (lymphodepletion)",
        "47625008",
        "Intravenous",
    ),
    ("rituximab 10 MG/ML Injectable Solution", "121191", "375 mg/m2 IV on day 1", "47625008", "Intravenous"),
    (
        "doxorubicin hydrochloride 2 MG/ML Injectable Solution",
        "3639",
        "50 mg/m2 IV on day 1",
        "47625008",
        "Intravenous",
    ),
    (
        "vincristine sulfate 1 MG/ML Injectable Solution",
        "11202",
        "1.4 mg/m2 IV on day 1 (max 2 mg)",
        "47625008",
        "Intravenous",
    ),
    ("prednisone 20 MG Oral Tablet", "8640", "100 mg PO days 1-5", "26643006", "Oral"),
    ("carboplatin 10 MG/ML Injectable Solution", "40048", "AUC 5 IV on day 1", "47625008", "Intravenous"),
    ("gemcitabine 1000 MG Injection", "12574", "1000 mg/m2 IV days 1 and 8", "47625008", "Intravenous"),
    (
        "enoxaparin sodium 40 MG/0.4ML Prefilled Syringe",
        "67108",
        "40 mg SC daily",
        "34206005",
        "Subcutaneous",
    ),
    (
        "heparin sodium 5000 UNT/ML Injectable Solution",
        "5224",
        "5000 units SC every 8 hours",
        "34206005",
        "Subcutaneous",
    ),
    ("furosemide 20 MG Oral Tablet", "4603", "20 mg PO daily", "26643006", "Oral"),
    ("potassium chloride 20 MEQ Extended Release Oral Tablet", "8591", "20 mEq PO daily", "26643006", "Oral"),
    ("magnesium sulfate 1 GM/2ML Injectable Solution", "6585", "2 g IV once", "47625008", "Intravenous"),
    (
        "acetaminophen 500 MG Oral Tablet",
        "161",
        "1000 mg PO every 6 hours as needed for fever",
        "26643006",
        "Oral",
    ),
    ("omeprazole 20 MG Delayed Release Oral Capsule", "7646", "20 mg PO daily", "26643006", "Oral"),
    (
        "sulfamethoxazole 800 MG / trimethoprim 160 MG Oral Tablet",
        "10831",
        "1 tablet PO Mon/Wed/Fri (PJP prophylaxis)",
        "26643006",
        "Oral",
    ),
    ("fluconazole 200 MG Oral Tablet", "4450", "200 mg PO daily", "26643006", "Oral"),
    ("levofloxacin 500 MG Oral Tablet", "82122", "500 mg PO daily during neutropenia", "26643006", "Oral"),
    ("vancomycin 1000 MG Injection", "11124", "15 mg/kg IV every 12 hours", "47625008", "Intravenous"),
    (
        "cefepime 2000 MG Injection",
        "20481",
        "2 g IV every 8 hours for febrile neutropenia",
        "47625008",
        "Intravenous",
    ),
    (
        "piperacillin 4000 MG / tazobactam 500 MG Injection",
        "74169",
        "4.5 g IV every 6 hours",
        "47625008",
        "Intravenous",
    ),
    ("metoclopramide 10 MG Oral Tablet", "6915", "10 mg PO before meals", "26643006", "Oral"),
    ("prochlorperazine 10 MG Oral Tablet", "8704", "10 mg PO every 6 hours as needed", "26643006", "Oral"),
    (
        "lorazepam 0.5 MG Oral Tablet",
        "6470",
        "0.5 mg PO at bedtime as needed for anxiety",
        "26643006",
        "Oral",
    ),
    ("olanzapine 5 MG Oral Tablet", "61381", "5 mg PO at bedtime (CINV)", "26643006", "Oral"),
    ("gabapentin 300 MG Oral Capsule", "25480", "300 mg PO three times daily", "26643006", "Oral"),
    ("amlodipine 5 MG Oral Tablet", "17767", "5 mg PO daily", "26643006", "Oral"),
    (
        "insulin glargine 100 UNT/ML Injectable Solution",
        "274783",
        "12 units SC at bedtime",
        "34206005",
        "Subcutaneous",
    ),
    ("levothyroxine sodium 0.1 MG Oral Tablet", "10582", "100 mcg PO daily", "26643006", "Oral"),
    ("hydrocortisone 10 MG Oral Tablet", "5492", "10 mg PO twice daily", "26643006", "Oral"),
    ("methylprednisolone 125 MG Injection", "6902", "1 mg/kg IV every 12 hours", "47625008", "Intravenous"),
    (
        "sodium chloride 0.9 % Injectable Solution",
        "9863",
        "1000 mL IV over 8 hours",
        "47625008",
        "Intravenous",
    ),
    ("senna 8.6 MG Oral Tablet", "36387", "2 tablets PO at bedtime", "26643006", "Oral"),
    ("docusate sodium 100 MG Oral Capsule", "82003", "100 mg PO twice daily", "26643006", "Oral"),
    ("polyethylene glycol 3350 17 GM Powder", "221147", "17 g PO daily as needed", "26643006", "Oral"),
    ("diphenhydramine 25 MG Oral Capsule", "3498", "25 mg PO 30 minutes before infusion", "26643006", "Oral"),
    ("famotidine 20 MG Oral Tablet", "4278", "20 mg PO twice daily", "26643006", "Oral"),
    ("ciprofloxacin 500 MG Oral Tablet", "2551", "500 mg PO twice daily", "26643006", "Oral"),
    ("valacyclovir 500 MG Oral Tablet", "73645", "500 mg PO twice daily", "26643006", "Oral"),
    ("posaconazole 100 MG Delayed Release Oral Tablet", "282446", "300 mg PO daily", "26643006", "Oral"),
    ("ferrous sulfate 325 MG Oral Tablet", "4521", "325 mg PO daily", "26643006", "Oral"),
    ("folic acid 1 MG Oral Tablet", "4511", "1 mg PO daily", "26643006", "Oral"),
    (
        "cyanocobalamin 1000 MCG/ML Injectable Solution",
        "11248",
        "1000 mcg IM every 9 weeks",
        "78421000",
        "Intramuscular",
    ),
    (
        "zoledronic acid 4 MG/5ML Injectable Solution",
        "77655",
        "4 mg IV every 4 weeks",
        "47625008",
        "Intravenous",
    ),
    (
        "denosumab 120 MG/1.7ML Injectable Solution",
        "993449",
        "120 mg SC every 4 weeks",
        "34206005",
        "Subcutaneous",
    ),
    (
        "epoetin alfa 10000 UNT/ML Injectable Solution",
        "105694",
        "40000 units SC weekly",
        "34206005",
        "Subcutaneous",
    ),
    ("hydromorphone 2 MG Oral Tablet", "3423", "2 mg PO every 4 hours as needed", "26643006", "Oral"),
    ("fentanyl 25 MCG/HR Transdermal System", "4337", "1 patch every 72 hours", "45890007", "Transdermal"),
    (
        "tramadol hydrochloride 50 MG Oral Tablet",
        "10689",
        "50 mg PO every 6 hours as needed",
        "26643006",
        "Oral",
    ),
    ("loperamide 2 MG Oral Capsule", "6468", "4 mg PO then 2 mg after each loose stool", "26643006", "Oral"),
    ("mesna 100 MG/ML Injectable Solution", "44", "IV with cyclophosphamide", "47625008", "Intravenous"),
    ("rasburicase 1.5 MG Injection", "283821", "0.2 mg/kg IV once", "47625008", "Intravenous"),
    ("immune globulin 10 % Injectable Solution", "5666", "0.4 g/kg IV monthly", "47625008", "Intravenous"),
    ("albumin human 25 % Injectable Solution", "828", "25 g IV once", "47625008", "Intravenous"),
    ("meropenem 1000 MG Injection", "29561", "1 g IV every 8 hours", "47625008", "Intravenous"),
    ("ceftriaxone 1000 MG Injection", "2193", "1 g IV daily", "47625008", "Intravenous"),
)

# Unrelated conditions: (text, SNOMED CT, ICD-10-CM, category).
CONDITIONS: tuple[tuple[str, str, str, str], ...] = (
    (
        "Diffuse large B-cell lymphoma, lymph nodes of multiple sites",
        "109969005",
        "C83.38",
        "problem-list-item",
    ),
    ("Essential hypertension", "59621000", "I10", "problem-list-item"),
    ("Type 2 diabetes mellitus without complications", "44054006", "E11.9", "problem-list-item"),
    ("Hyperlipidemia, unspecified", "55822004", "E78.5", "problem-list-item"),
    ("Neutropenic fever", "409089005", "D70.9", "encounter-diagnosis"),
    ("Anemia in neoplastic disease", "234347009", "D63.0", "encounter-diagnosis"),
    ("Thrombocytopenia, unspecified", "302215000", "D69.6", "encounter-diagnosis"),
    ("Nausea with vomiting, unspecified", "16932000", "R11.2", "encounter-diagnosis"),
    ("Hypokalemia", "43339004", "E87.6", "encounter-diagnosis"),
    ("Hypomagnesemia", "190855004", "E83.42", "encounter-diagnosis"),
    ("Acute kidney injury", "14669001", "N17.9", "encounter-diagnosis"),
    ("Tumor lysis syndrome", "371019009", "E88.3", "encounter-diagnosis"),
    ("Cytokine release syndrome, grade 1", "434061000124107", "D89.831", "encounter-diagnosis"),
    ("Pneumonia, unspecified organism", "233604007", "J18.9", "encounter-diagnosis"),
    ("Urinary tract infection, site not specified", "68566005", "N39.0", "encounter-diagnosis"),
    ("Deep vein thrombosis of lower extremity", "404223003", "I82.409", "encounter-diagnosis"),
    ("Pulmonary embolism without acute cor pulmonale", "59282003", "I26.99", "encounter-diagnosis"),
    ("Chronic kidney disease stage 2", "431856006", "N18.2", "problem-list-item"),
    ("Gastro-esophageal reflux disease without esophagitis", "235595009", "K21.9", "problem-list-item"),
    ("Hypothyroidism, unspecified", "40930008", "E03.9", "problem-list-item"),
    ("Obesity, unspecified", "414916001", "E66.9", "problem-list-item"),
    ("Major depressive disorder, single episode", "36923009", "F32.9", "problem-list-item"),
    ("Generalized anxiety disorder", "21897009", "F41.1", "problem-list-item"),
    ("Insomnia, unspecified", "193462001", "G47.00", "problem-list-item"),
    ("Low back pain", "279039007", "M54.50", "encounter-diagnosis"),
    ("Mucositis (ulcerative) due to antineoplastic therapy", "109749005", "K12.31", "encounter-diagnosis"),
    ("Constipation, unspecified", "14760008", "K59.00", "encounter-diagnosis"),
    ("Diarrhea, unspecified", "62315008", "R19.7", "encounter-diagnosis"),
    ("Fatigue", "84229001", "R53.83", "encounter-diagnosis"),
    ("Hypoalbuminemia", "119247004", "E88.09", "encounter-diagnosis"),
    ("Hyperglycemia, unspecified", "80394007", "R73.9", "encounter-diagnosis"),
    ("Atrial fibrillation", "49436004", "I48.91", "problem-list-item"),
    ("Osteoarthritis of knee", "239873007", "M17.9", "problem-list-item"),
    ("Herpes zoster without complication", "4740000", "B02.9", "encounter-diagnosis"),
    ("Oral candidiasis", "79740000", "B37.0", "encounter-diagnosis"),
    ("Pancytopenia due to antineoplastic chemotherapy", "127034005", "D61.810", "encounter-diagnosis"),
    ("History of Hodgkin lymphoma in remission", "118599009", "Z85.71", "problem-list-item"),
    ("Secondary malignant neoplasm of bone", "94222008", "C79.51", "problem-list-item"),
    ("Hypogammaglobulinemia", "39674000", "D80.1", "problem-list-item"),
    ("Seizure prophylaxis during CAR-T therapy", "", "Z79.899", "encounter-diagnosis"),
)

# Labs and vitals: (display, LOINC, unit, low, high, category).
LABS: tuple[tuple[str, str, str, float, float, str], ...] = (
    ("Hemoglobin [Mass/volume] in Blood", "718-7", "g/dL", 7.5, 14.5, "laboratory"),
    ("Leukocytes [#/volume] in Blood by Automated count", "6690-2", "10*3/uL", 0.2, 11.0, "laboratory"),
    ("Platelets [#/volume] in Blood by Automated count", "777-3", "10*3/uL", 15, 350, "laboratory"),
    ("Neutrophils [#/volume] in Blood by Automated count", "751-8", "10*3/uL", 0.0, 8.0, "laboratory"),
    ("Creatinine [Mass/volume] in Serum or Plasma", "2160-0", "mg/dL", 0.6, 2.4, "laboratory"),
    ("Sodium [Moles/volume] in Serum or Plasma", "2951-2", "mmol/L", 128, 146, "laboratory"),
    ("Potassium [Moles/volume] in Serum or Plasma", "2823-3", "mmol/L", 2.9, 5.6, "laboratory"),
    (
        "Lactate dehydrogenase [Enzymatic activity/volume] in Serum or Plasma",
        "2532-0",
        "U/L",
        120,
        900,
        "laboratory",
    ),
    ("Ferritin [Mass/volume] in Serum or Plasma", "2276-4", "ng/mL", 50, 9000, "laboratory"),
    ("C reactive protein [Mass/volume] in Serum or Plasma", "1988-5", "mg/L", 1, 250, "laboratory"),
    (
        "Alanine aminotransferase [Enzymatic activity/volume] in Serum or Plasma",
        "1742-6",
        "U/L",
        8,
        240,
        "laboratory",
    ),
    ("Bilirubin.total [Mass/volume] in Serum or Plasma", "1975-2", "mg/dL", 0.2, 3.5, "laboratory"),
    (
        "Fibrinogen [Mass/volume] in Platelet poor plasma by Coagulation assay",
        "3255-7",
        "mg/dL",
        90,
        600,
        "laboratory",
    ),
    ("Body temperature", "8310-5", "Cel", 36.0, 39.8, "vital-signs"),
    ("Heart rate", "8867-4", "/min", 55, 135, "vital-signs"),
    ("Oxygen saturation in Arterial blood by Pulse oximetry", "59408-5", "%", 86, 100, "vital-signs"),
    ("Body weight", "29463-7", "kg", 58, 74, "vital-signs"),
)
NEURO_NOTES = (
    "Neuro check: alert and oriented x3, no seizure activity, follows commands",
    "Neuro check: no focal deficits; handwriting at baseline",
    "Nursing neuro assessment: denies confusion or word-finding difficulty",
    "Neuro check: intact, no tremor observed",
)


class _Builder:
    def __init__(self, mix: Mix, seed: int) -> None:
        self.mix = mix
        self.random = random.Random(seed)
        self.resources: list[dict[str, Any]] = []
        self.medications: dict[str, dict[str, Any]] = {}
        self.counters: dict[str, int] = {}

    # -- helpers -----------------------------------------------------------------------------------

    def next_id(self, prefix: str) -> str:
        number = self.counters.get(prefix, 0) + 1
        self.counters[prefix] = number
        return f"{prefix}-{number}"

    def day(self, start: date, end: date) -> date:
        return start + timedelta(days=self.random.randrange((end - start).days + 1))

    def moment(self, on: date) -> str:
        hour, minute = self.random.randrange(6, 22), self.random.choice((0, 15, 30, 45))
        return f"{on.isoformat()}T{hour:02d}:{minute:02d}:00-05:00"

    def history_day(self) -> date:
        # Mostly old history; a third in the last 90 days.
        if self.random.random() < 0.33:
            return self.day(TODAY - timedelta(days=90), TODAY - timedelta(days=1))
        return self.day(TODAY - timedelta(days=3 * 365), TODAY - timedelta(days=91))

    def subject(self) -> dict[str, str]:
        return {"reference": f"Patient/{PATIENT_ID}"}

    def add(self, resource: dict[str, Any]) -> dict[str, Any]:
        self.resources.append(resource)
        return resource

    def meta(self, on: date) -> dict[str, Any]:
        return {"versionId": str(self.random.randrange(1, 6)), "lastUpdated": f"{on.isoformat()}T23:00:00Z"}

    # -- medications ---------------------------------------------------------------------------------

    def medication_resource(self, name: str, rxnorm: str) -> str:
        """A Medication resource (included in the bundle), returning its relative reference."""
        medication_id = "med-" + rxnorm
        if medication_id not in self.medications:
            self.medications[medication_id] = {
                "resourceType": "Medication",
                "id": medication_id,
                "code": {"coding": [{"system": RXNORM, "code": rxnorm, "display": name}], "text": name},
                "form": {"coding": [{"system": SNOMED, "code": "385055001", "display": "Tablet"}]},
            }
        return "Medication/" + medication_id

    def medication_fields(self, name: str, rxnorm: str, style: str) -> dict[str, Any]:
        """How a medication-use resource names its drug: a concept, a contained or a referenced Medication."""
        if style == "contained":
            return {
                "contained": [
                    {
                        "resourceType": "Medication",
                        "id": "m1",
                        "code": {
                            "coding": [{"system": RXNORM, "code": rxnorm, "display": name}],
                            "text": name,
                        },
                    }
                ],
                "medicationReference": {"reference": "#m1", "display": name},
            }
        if style == "reference":
            return {
                "medicationReference": {"reference": self.medication_resource(name, rxnorm), "display": name}
            }
        return {
            "medicationCodeableConcept": {
                "coding": [{"system": RXNORM, "code": rxnorm, "display": name}],
                "text": name,
            }
        }

    def style(self) -> str:
        roll = self.random.random()
        return "contained" if roll < 0.08 else "reference" if roll < 0.2 else "concept"

    def dosage(self, text: str, route_code: str, route: str, start: date) -> dict[str, Any]:
        return {
            "text": text,
            "timing": {
                "repeat": {
                    "boundsPeriod": {"start": start.isoformat()},
                    "frequency": self.random.choice((1, 2, 3)),
                }
            },
            "route": {"coding": [{"system": ROUTE, "code": route_code}], "text": route},
        }

    def medication_request(
        self,
        drug: tuple[str, str, str, str, str],
        on: date,
        *,
        status: str,
        intent: str = "order",
        style: str,
    ) -> dict[str, Any]:
        name, rxnorm, dose, route_code, route = drug
        resource_id = self.next_id("mr")
        return self.add(
            {
                "resourceType": "MedicationRequest",
                "id": resource_id,
                "status": status,
                "intent": intent,
                **self.medication_fields(name, rxnorm, style),
                "subject": self.subject(),
                "authoredOn": self.moment(on),
                "requester": {"reference": USER_ID},
                "dosageInstruction": [self.dosage(dose, route_code, route, on)],
            }
        )

    def medication_administration(
        self, drug: tuple[str, str, str, str, str], on: date, *, status: str, style: str
    ) -> dict[str, Any]:
        name, rxnorm, dose, _, route = drug
        resource_id = self.next_id("ma")
        return self.add(
            {
                "resourceType": "MedicationAdministration",
                "id": resource_id,
                "status": status,
                **self.medication_fields(name, rxnorm, style),
                "subject": self.subject(),
                "context": {"reference": f"Encounter/enc-{on.year}-{on.month:02d}"},
                "effectiveDateTime": self.moment(on),
                "performer": [{"actor": {"reference": "Practitioner/bench-nurse-1"}}],
                "dosage": {
                    "text": dose,
                    "route": {"text": route},
                    "dose": {"value": self.random.choice((1, 2, 5, 10, 20, 40)), "unit": "mg"},
                },
            }
        )

    def medication_statement(self, drug: tuple[str, str, str, str, str], on: date) -> dict[str, Any]:
        name, rxnorm, dose, _, _ = drug
        return self.add(
            {
                "resourceType": "MedicationStatement",
                "id": self.next_id("ms"),
                "status": self.random.choice(("active", "completed", "stopped")),
                **self.medication_fields(name, rxnorm, "concept"),
                "subject": self.subject(),
                "effectivePeriod": {"start": on.isoformat()},
                "dateAsserted": self.moment(on),
                "dosage": [{"text": dose}],
            }
        )

    def medication_dispense(self, drug: tuple[str, str, str, str, str], on: date) -> dict[str, Any]:
        name, rxnorm, dose, _, _ = drug
        return self.add(
            {
                "resourceType": "MedicationDispense",
                "id": self.next_id("md"),
                "status": "completed",
                **self.medication_fields(name, rxnorm, "concept"),
                "subject": self.subject(),
                "quantity": {"value": self.random.choice((14, 28, 30, 60)), "unit": "tablet"},
                "daysSupply": {"value": 30, "unit": "day", "system": UCUM, "code": "d"},
                "whenHandedOver": self.moment(on),
                "dosageInstruction": [{"text": dose}],
            }
        )

    # -- other resources ---------------------------------------------------------------------------------

    def condition(
        self, entry: tuple[str, str, str, str], on: date, *, verification: str = "confirmed"
    ) -> dict[str, Any]:
        text, snomed, icd10, category = entry
        coding = [{"system": ICD10CM, "code": icd10}]
        if snomed:
            coding.insert(0, {"system": SNOMED, "code": snomed, "display": text})
        return self.add(
            {
                "resourceType": "Condition",
                "id": self.next_id("cond"),
                "clinicalStatus": {
                    "coding": [
                        {
                            "system": CONDITION_CLINICAL,
                            "code": self.random.choice(("active", "resolved", "inactive")),
                        }
                    ]
                },
                "verificationStatus": {"coding": [{"system": CONDITION_VERIFICATION, "code": verification}]},
                "category": [{"coding": [{"system": CONDITION_CATEGORY, "code": category}]}],
                "code": {"coding": coding, "text": text},
                "subject": self.subject(),
                "onsetDateTime": on.isoformat(),
                "recordedDate": self.moment(on),
            }
        )

    def lab(self, entry: tuple[str, str, str, float, float, str], on: date) -> dict[str, Any]:
        display, loinc, unit, low, high, category = entry
        value = round(self.random.uniform(low, high), 1)
        return self.add(
            {
                "resourceType": "Observation",
                "id": self.next_id("obs"),
                "status": "final",
                "category": [{"coding": [{"system": OBSERVATION_CATEGORY, "code": category}]}],
                "code": {"coding": [{"system": LOINC, "code": loinc, "display": display}], "text": display},
                "subject": self.subject(),
                "effectiveDateTime": self.moment(on),
                "valueQuantity": {"value": value, "unit": unit, "system": UCUM, "code": unit},
            }
        )

    def note_observation(
        self, text: str, on: date, code_text: str = "Neurological assessment"
    ) -> dict[str, Any]:
        return self.add(
            {
                "resourceType": "Observation",
                "id": self.next_id("obs"),
                "status": "final",
                "category": [{"coding": [{"system": OBSERVATION_CATEGORY, "code": "exam"}]}],
                "code": {"text": code_text},
                "subject": self.subject(),
                "effectiveDateTime": self.moment(on),
                "valueString": text,
            }
        )

    def ice_score(self, score: int, on: date) -> dict[str, Any]:
        return self.add(
            {
                "resourceType": "Observation",
                "id": self.next_id("obs"),
                "status": "final",
                "category": [{"coding": [{"system": OBSERVATION_CATEGORY, "code": "survey"}]}],
                "code": {"text": "ICE score (Immune Effector Cell-Associated Encephalopathy)"},
                "subject": self.subject(),
                "effectiveDateTime": self.moment(on),
                "valueInteger": score,
            }
        )

    def imaging_study(self, on: date, *, brain_mri: bool) -> dict[str, Any]:
        if brain_mri:
            modality, site, description = (
                "MR",
                ("12738006", "Brain structure"),
                "MRI brain with and without contrast",
            )
            procedure = {
                "coding": [{"system": LOINC, "code": "24587-8", "display": "MR Brain WO and W contrast IV"}]
            }
        else:
            modality, site, description = self.random.choice(
                (
                    ("CT", ("51185008", "Thoracic structure"), "CT chest abdomen pelvis with contrast"),
                    ("PT", ("38266002", "Entire body as a whole"), "PET-CT skull base to mid-thigh"),
                    ("CT", ("818983003", "Abdomen"), "CT abdomen with contrast"),
                    ("US", ("76752008", "Breast structure"), "Ultrasound right upper quadrant"),
                )
            )
            procedure = {"text": description}
        uid = f"2.25.{self.random.getrandbits(64)}"
        return self.add(
            {
                "resourceType": "ImagingStudy",
                "id": self.next_id("img"),
                "identifier": [{"system": "urn:dicom:uid", "value": f"urn:oid:{uid}"}],
                "status": "available",
                "modality": [{"system": DICOM, "code": modality}],
                "subject": self.subject(),
                "started": self.moment(on),
                "numberOfSeries": 1,
                "numberOfInstances": self.random.randrange(80, 400),
                "procedureCode": [procedure],
                "description": description,
                "series": [
                    {
                        "uid": uid + ".1",
                        "number": 1,
                        "modality": {"system": DICOM, "code": modality},
                        "description": description,
                        "numberOfInstances": self.random.randrange(80, 400),
                        "bodySite": {"system": SNOMED, "code": site[0], "display": site[1]},
                    }
                ],
            }
        )

    def radiology_report(self, on: date, code: tuple[str, str], conclusion: str) -> dict[str, Any]:
        return self.add(
            {
                "resourceType": "DiagnosticReport",
                "id": self.next_id("dr"),
                "meta": self.meta(on),
                "status": "final",
                "category": [
                    {"coding": [{"system": DIAGNOSTIC_SERVICE, "code": "RAD", "display": "Radiology"}]}
                ],
                "code": {"coding": [{"system": LOINC, "code": code[0], "display": code[1]}], "text": code[1]},
                "subject": self.subject(),
                "effectiveDateTime": self.moment(on),
                "issued": f"{on.isoformat()}T23:30:00Z",
                "performer": [
                    {"reference": "Practitioner/bench-radiologist-1", "display": "Dr. Bench Radiologist"}
                ],
                "conclusion": conclusion,
            }
        )

    def procedure(self, text: str, snomed: str, on: date) -> dict[str, Any]:
        return self.add(
            {
                "resourceType": "Procedure",
                "id": self.next_id("proc"),
                "status": "completed",
                "code": {"coding": [{"system": SNOMED, "code": snomed, "display": text}], "text": text},
                "subject": self.subject(),
                "performedDateTime": self.moment(on),
                "performer": [{"actor": {"reference": USER_ID}}],
            }
        )

    def service_request(self, on: date, *, imaging: bool) -> dict[str, Any]:
        if imaging:
            code = self.random.choice(
                (
                    {
                        "coding": [{"system": LOINC, "code": "24627-2", "display": "CT Chest"}],
                        "text": "CT chest with contrast",
                    },
                    {
                        "coding": [
                            {"system": CPT, "code": "78815", "display": "PET-CT skull base to mid-thigh"}
                        ],
                        "text": "PET-CT",
                    },
                )
            )
            category = {"coding": [{"system": SNOMED, "code": "363679005", "display": "Imaging"}]}
        else:
            code = self.random.choice(
                (
                    {
                        "coding": [
                            {
                                "system": LOINC,
                                "code": "58410-2",
                                "display": "CBC panel - Blood by Automated count",
                            }
                        ],
                        "text": "CBC with differential",
                    },
                    {
                        "coding": [
                            {
                                "system": LOINC,
                                "code": "24323-8",
                                "display": "Comprehensive metabolic 2000 panel",
                            }
                        ],
                        "text": "CMP",
                    },
                    {
                        "coding": [{"system": LOINC, "code": "2276-4", "display": "Ferritin"}],
                        "text": "Ferritin",
                    },
                )
            )
            category = {
                "coding": [{"system": SNOMED, "code": "108252007", "display": "Laboratory procedure"}]
            }
        return self.add(
            {
                "resourceType": "ServiceRequest",
                "id": self.next_id("sr"),
                "status": self.random.choice(("completed", "completed", "active", "revoked")),
                "intent": "order",
                "category": [category],
                "code": code,
                "subject": self.subject(),
                "authoredOn": self.moment(on),
                "requester": {"reference": USER_ID},
            }
        )

    # -- the clinical story --------------------------------------------------------------------------------

    def story(self) -> Mix:
        """The resources every workload shares; returns how many of each type it added."""
        pembro = (
            "pembrolizumab 25 MG/ML Injectable Solution",
            "1547545",
            "200 mg IV every 3 weeks",
            "47625008",
            "Intravenous",
        )
        self.medication_request(pembro, date(2026, 9, 5), status="completed", style="concept")
        keytruda = ("Keytruda", "", "200 mg IV", "47625008", "Intravenous")
        for on in (date(2026, 9, 5), date(2026, 9, 26)):
            self.medication_administration(pembro, on, status="completed", style="concept")
        administration = self.medication_administration(
            keytruda, date(2026, 10, 17), status="completed", style="concept"
        )
        # Text only, as some EHRs send it.
        administration["medicationCodeableConcept"] = {"text": "Keytruda 200 mg in NS 50 mL"}
        # CAR-T: a cellular product without an RxNorm code, named in a contained Medication.
        yescarta = self.medication_administration(
            ("Yescarta", "", "1 bag IV over 30 minutes", "47625008", "Intravenous"),
            date(2026, 11, 3),
            status="completed",
            style="concept",
        )
        del yescarta["medicationCodeableConcept"]
        yescarta["contained"] = [
            {
                "resourceType": "Medication",
                "id": "car-t",
                "code": {"text": "Yescarta (axicabtagene ciloleucel) suspension for IV infusion"},
            }
        ]
        yescarta["medicationReference"] = {"reference": "#car-t", "display": "CAR-T cell product"}
        # Planned T-cell engager, named through a referenced Medication.
        columvi = (
            "Columvi (glofitamab-gxbm) 2.5 MG/2.5ML Injectable Solution",
            "2639786",
            "2.5 mg IV cycle 1 day 8",
            "47625008",
            "Intravenous",
        )
        self.medication_request(columvi, date(2026, 11, 19), status="draft", intent="plan", style="reference")
        self.condition(CONDITIONS[0], date(2025, 12, 2))
        self.ice_score(10, date(2026, 11, 5))
        self.ice_score(6, date(2026, 11, 12))
        self.note_observation(NEURO_NOTES[0], date(2026, 11, 13))
        self.imaging_study(date(2026, 10, 2), brain_mri=True)
        self.radiology_report(
            date(2026, 10, 2),
            ("24587-8", "MR Brain WO and W contrast IV"),
            "No intracranial metastatic disease.",
        )
        self.radiology_report(
            date(2026, 11, 1),
            ("81555-9", "PET-CT whole body"),
            "Increase in size of mediastinal nodes; findings suggestive of pseudoprogression. "
            "Short-interval follow-up advised.",
        )
        self.procedure(
            "Infusion of axicabtagene ciloleucel (CAR T-cell therapy)", "1187622009", date(2026, 11, 3)
        )
        self.service_request(date(2026, 10, 1), imaging=False)
        return Mix(2, 5, 0, 0, 1, 3, 1, 2, 1, 1)

    def history(self, story: Mix) -> None:
        mix, rng = self.mix, self.random
        # Imaging history ends before the PET-CT of 2026-11-01, so iUPD is unconfirmed.
        last_imaging = date(2026, 10, 25)

        def imaging_day() -> date:
            return min(self.history_day(), last_imaging)

        for _ in range(mix.medication_requests - story.medication_requests):
            status = rng.choices(("active", "completed", "stopped", "entered-in-error"), (30, 55, 12, 3))[0]
            self.medication_request(rng.choice(DRUGS), self.history_day(), status=status, style=self.style())
        for _ in range(mix.medication_administrations - story.medication_administrations):
            status = rng.choices(("completed", "not-done", "in-progress"), (92, 6, 2))[0]
            self.medication_administration(
                rng.choice(DRUGS), self.history_day(), status=status, style=self.style()
            )
        for _ in range(mix.medication_statements - story.medication_statements):
            self.medication_statement(rng.choice(DRUGS), self.history_day())
        for _ in range(mix.medication_dispenses - story.medication_dispenses):
            self.medication_dispense(rng.choice(DRUGS), self.history_day())
        for _ in range(mix.conditions - story.conditions):
            verification = rng.choices(("confirmed", "provisional", "refuted"), (85, 12, 3))[0]
            self.condition(rng.choice(CONDITIONS[1:]), self.history_day(), verification=verification)
        for index in range(mix.observations - story.observations):
            if index % 25 == 24:
                self.note_observation(rng.choice(NEURO_NOTES), self.history_day())
            else:
                self.lab(rng.choice(LABS), self.history_day())
        for _ in range(mix.imaging_studies - story.imaging_studies):
            self.imaging_study(imaging_day(), brain_mri=rng.random() < 0.15)
        for _ in range(mix.diagnostic_reports - story.diagnostic_reports):
            code, conclusion = rng.choice(
                (
                    (
                        ("24627-2", "CT Chest"),
                        "Stable mediastinal lymphadenopathy. No new pulmonary nodules.",
                    ),
                    (("44136-0", "PET-CT whole body"), "Deauville 3 uptake in residual mediastinal mass."),
                    (
                        ("24558-9", "CT Abdomen and Pelvis W contrast IV"),
                        "No hepatosplenomegaly. No new lesions.",
                    ),
                    (("30704-1", "US Abdomen"), "Normal gallbladder; no biliary dilatation."),
                )
            )
            self.radiology_report(imaging_day(), code, conclusion)
        procedures = (
            ("Bone marrow biopsy", "396487001"),
            ("Insertion of central venous port", "233527006"),
            ("Leukapheresis", "73840003"),
            ("Transfusion of packed red blood cells", "116863004"),
            ("Lumbar puncture", "277762005"),
        )
        for _ in range(mix.procedures - story.procedures):
            text, code = rng.choice(procedures)
            self.procedure(text, code, imaging_day())
        for _ in range(mix.service_requests - story.service_requests):
            imaging = rng.random() < 0.3
            self.service_request(imaging_day() if imaging else self.history_day(), imaging=imaging)


def patient_resources(mix: Mix, seed: int = SEED) -> list[dict[str, Any]]:
    """Every resource of the synthetic patient: Patient, the `mix`, and the Medications referenced."""
    builder = _Builder(mix, seed)
    builder.add(
        {
            "resourceType": "Patient",
            "id": PATIENT_ID,
            "identifier": [{"system": "urn:oid:2.16.840.1.113883.19.5", "value": "MRN-BENCH-0001"}],
            "name": [{"use": "official", "family": "Benchmark", "given": ["Patient", "Q."]}],
            "gender": "female",
            "birthDate": "1958-03-14",
        }
    )
    builder.history(builder.story())
    # Shuffle so the story's resources are not all at the front of each bundle.
    patient, rest = builder.resources[0], builder.resources[1:]
    builder.random.shuffle(rest)
    return [patient, *rest, *builder.medications.values()]


def searchset(
    resources: list[dict[str, Any]], base_url: str, includes: list[dict[str, Any]] = ()
) -> dict[str, Any]:
    entries = [
        {"fullUrl": f"{base_url}/{r['resourceType']}/{r['id']}", "resource": r, "search": {"mode": "match"}}
        for r in resources
    ]
    entries += [
        {"fullUrl": f"{base_url}/{r['resourceType']}/{r['id']}", "resource": r, "search": {"mode": "include"}}
        for r in includes
    ]
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(resources),
        "link": [
            {
                "relation": "self",
                "url": f"{base_url}/{resources[0]['resourceType'] if resources else 'Resource'}",
            }
        ],
    }
    if entries:
        bundle["entry"] = entries
    return bundle


def prefetch_for(
    resources: list[dict[str, Any]],
    base_url: str = "http://ehr.example.org/fhir",
    keys: tuple[str, ...] | None = None,
) -> dict[str, Any]:
    """A complete prefetch (every key, or only `keys`): searchsets with the referenced Medications
    included (`_include=MedicationRequest:medication` style) in the medication bundles."""
    by_type: dict[str, list[dict[str, Any]]] = {}
    for resource in resources:
        by_type.setdefault(resource["resourceType"], []).append(resource)
    medications = {f"Medication/{m['id']}": m for m in by_type.get("Medication", [])}
    prefetch: dict[str, Any] = {}
    for key, resource_type in PREFETCH_KEYS.items():
        if keys is not None and key not in keys:
            continue
        if resource_type == "Patient":
            prefetch[key] = by_type["Patient"][0]
            continue
        found = by_type.get(resource_type, [])
        referenced = {
            r["medicationReference"]["reference"]
            for r in found
            if isinstance(r.get("medicationReference"), dict)
            and r["medicationReference"]["reference"] in medications
        }
        prefetch[key] = searchset(found, base_url, [medications[ref] for ref in sorted(referenced)])
    return prefetch


def hook_request(
    prefetch: dict[str, Any] | None, *, fhir_server: str | None = UNUSED_FHIR_SERVER
) -> dict[str, Any]:
    """A patient-view request as the CDS Hooks Sandbox shapes it."""
    body: dict[str, Any] = {
        "hookInstance": "5a0b8f7e-2c55-4a4e-9c3e-bench00000001",
        "hook": "patient-view",
        "context": {"userId": USER_ID, "patientId": PATIENT_ID, "encounterId": ENCOUNTER_ID},
    }
    if fhir_server is not None:
        body["fhirServer"] = fhir_server
    if prefetch is not None:
        body["prefetch"] = prefetch
    return body


def request_bytes(mix: Mix, seed: int = SEED) -> bytes:
    return orjson.dumps(hook_request(prefetch_for(patient_resources(mix, seed))))


def main() -> None:
    for name, mix in (
        ("typical", TYPICAL),
        ("heavy", HEAVY),
        ("2,000", HEAVY.scaled_to(2000)),
        ("20,000", HEAVY.scaled_to(20000)),
    ):
        resources = patient_resources(mix)
        body = orjson.dumps(hook_request(prefetch_for(resources)))
        print(
            f"{name:>8}: {mix.total:>6} resources (+{len(resources) - mix.total} Patient/Medication), "
            f"{len(body) / 1e6:.2f} MB"
        )


if __name__ == "__main__":
    main()
