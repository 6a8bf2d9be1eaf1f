"""The fast reject (clinical/knowledge/catalog.py, clinical/timeline/relevance.py, issue 21): it leaves out
only resources the timeline would not have used. Checked on every scenario in fhir_fixtures, on random
records (the card invariants' generators with unrelated history and references mixed in), on each
catalog name and code, and against the text matchers themselves; and the text volume its walk counts
is the one the evaluation budget counted before (service/evaluation_pool.py `text_volume`)."""

from __future__ import annotations

import copy
import os
from dataclasses import replace
from datetime import date, datetime
from typing import Any

import pytest
from clinical_support import SUBJECT, TODAY, evaluator
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from invariant_support import Case, cases
from test_scenarios import SCENARIOS, Scenario

from clinical.knowledge import CodeIndex, QualifierMatcher, TextMatcher
from clinical.knowledge.catalog import TermCatalog, _reachable
from clinical.patient_record import PatientRecord
from clinical.timeline import PatientTimeline, build_timeline
from clinical.timeline.relevance import SCREENED_TYPES, ScreenedRecord, screen
from service.evaluation_pool import text_volume

BUDGET = settings(
    max_examples=int(os.environ.get("INVARIANT_EXAMPLES", "100")),
    deadline=None,
    derandomize=os.environ.get("INVARIANT_RANDOM") != "1",
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
SNOMED = "http://snomed.info/sct"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"


def vocabularies() -> Any:
    return evaluator().vocabularies


def catalog() -> TermCatalog:
    terms = vocabularies().terms
    assert terms is not None
    return terms


def record_of(resources: list[dict[str, Any]], patient_id: str = "pt-1") -> PatientRecord:
    record = PatientRecord(patient_id)
    record.add_all(copy.deepcopy(resources))
    return record


def full_timeline(record: PatientRecord, drafts: list[dict[str, Any]], today: date) -> PatientTimeline:
    """The timeline read from every resource: a record marked as screened is not screened again."""
    whole = ScreenedRecord(record.patient_id, record.by_type, record.medications, record.skipped)
    return build_timeline(whole, drafts, vocabularies(), today)


def screened_timeline(record: PatientRecord, drafts: list[dict[str, Any]], today: date) -> PatientTimeline:
    """The timeline of the screened record, whatever its size (as the hook path screens every record)."""
    screened = screen(record, drafts, catalog(), element_cap=20_000, stop_above=10**9).record
    assert isinstance(screened, ScreenedRecord)
    return build_timeline(screened, drafts, vocabularies(), today)


# --- every scenario --------------------------------------------------------------------------------


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_every_scenario_reads_the_same_timeline_with_the_fast_reject(scenario: Scenario) -> None:
    record = record_of(list(scenario.resources), scenario.patient_id)
    drafts = copy.deepcopy(list(scenario.draft_orders))
    today = scenario.now.date()
    assert screened_timeline(record, drafts, today) == full_timeline(record, drafts, today)


# --- random records ----------------------------------------------------------------------------------

UNRELATED_DRUGS = [
    ("29046", "lisinopril 10 MG Oral Tablet"),
    ("6809", "metformin 500 MG Oral Tablet"),
    ("83367", "atorvastatin 20 MG Oral Tablet"),
    ("3264", "dexamethasone 4 MG Oral Tablet"),
]
UNRELATED_CONDITIONS = [
    ("59621000", "I10", "Essential hypertension"),
    ("44054006", "E11.9", "Type 2 diabetes"),
]
TEXTS = st.sampled_from(
    [
        "Hemoglobin",
        "Body weight",
        "MG flare",
        "Hirnödem",
        "HIRNOEDEM",
        "Krampfanfälle",
        "Bewusstseinsstörung",
        "ICANS",
        "icans grade 2",
        "CAR-T",
        "car t-cell",
        "pembro-lizumab",
        "Keytruda",
        "KEYTRUDA®",
        "seizure",
        "sei&#122;ure",
        "<b>seiz</b>ure",
        "encephalopathy",
        "Bell's palsy",
        "PRES",
        "Mr Smith",
        "confusion",
        "\u0130CANS",
        "s\u0131nus",
        "\u017feizure",
    ]
)


def _qualifier_words() -> list[str]:
    found = _reachable([vocabularies()])
    return sorted({name for m in found if isinstance(m, QualifierMatcher) for name in m._values})


# Order instructions with the words only a qualifier reads ("as needed", "before", "until"), and those
# words alone: an unrelated medication with them is left out, and the timeline is the same.
INSTRUCTIONS = st.one_of(
    st.sampled_from(
        [
            "50 mg PO every 6 hours as needed",
            "10 mg PO before meals",
            "300 mcg SC daily until ANC recovery",
            "0.5 mg PO at bedtime as needed for anxiety",
            "bridging, then hold until further notice",
        ]
    ),
    st.sampled_from(_qualifier_words()),
)


@st.composite
def unrelated(draw: st.DrawFn, index: int) -> dict[str, Any]:
    """An unrelated resource, perhaps with a text, a code and a reference to another resource drawn in."""
    kind = draw(
        st.sampled_from(["MedicationRequest", "MedicationAdministration", "Condition", "Observation"])
    )
    resource: dict[str, Any] = {"resourceType": kind, "id": f"x-{index}", "subject": SUBJECT}
    if kind.startswith("Medication"):
        code, name = draw(st.sampled_from(UNRELATED_DRUGS))
        resource["status"] = draw(st.sampled_from(["completed", "in-progress", "active", "on-hold"]))
        resource["medicationCodeableConcept"] = {"coding": [{"system": RXNORM, "code": code}], "text": name}
        if draw(st.booleans()):
            instruction = {"text": draw(INSTRUCTIONS)}
            resource["dosageInstruction" if kind == "MedicationRequest" else "dosage"] = (
                [instruction] if kind == "MedicationRequest" else instruction
            )
        resource["authoredOn" if kind == "MedicationRequest" else "effectiveDateTime"] = TODAY.isoformat()
        if draw(st.booleans()):
            resource["reasonReference"] = [{"reference": f"Condition/x-{draw(st.integers(0, 9))}"}]
    else:
        snomed, icd10, text = draw(st.sampled_from(UNRELATED_CONDITIONS))
        resource["code"] = {
            "coding": [{"system": SNOMED, "code": snomed}, {"system": ICD10CM, "code": icd10}]
        }
        resource["code"]["text"] = text
        resource["onsetDateTime" if kind == "Condition" else "effectiveDateTime"] = TODAY.isoformat()
        if kind == "Observation" and draw(st.booleans()):
            resource["hasMember"] = [{"reference": f"Observation/x-{draw(st.integers(0, 9))}"}]
    if draw(st.booleans()):
        resource["note"] = [{"text": draw(st.one_of(TEXTS, INSTRUCTIONS))}]
    return resource


@st.composite
def mixed_cases(draw: st.DrawFn) -> Case:
    case = draw(cases())
    case.resources.extend(draw(unrelated(index)) for index in range(draw(st.integers(0, 10))))
    return case


@BUDGET
@given(mixed_cases())
def test_the_fast_reject_never_changes_the_timeline(case: Case) -> None:
    record = record_of(case.resources)
    assert screened_timeline(record, case.drafts, TODAY) == full_timeline(record, case.drafts, TODAY)


@BUDGET
@given(mixed_cases())
def test_each_resource_left_out_reads_as_nothing_on_its_own(case: Case) -> None:
    record = record_of(case.resources)
    kept = screen(record, case.drafts, catalog(), element_cap=20_000).record
    kept_ids = {id(resource) for resources in kept.by_type.values() for resource in resources}
    patient_only = [r for r in case.resources if r["resourceType"] == "Patient"]
    alone = full_timeline(record_of(patient_only), [], TODAY)
    for resources in record.by_type.values():
        for resource in resources:
            if id(resource) in kept_ids:
                continue
            assert resource["resourceType"] in SCREENED_TYPES
            with_it = record_of([*patient_only, resource])
            with_it.medications = record.medications
            assert full_timeline(with_it, [], TODAY) == alone, resource


def test_unrelated_history_is_left_out_and_the_story_kept() -> None:
    story = {
        "resourceType": "MedicationAdministration",
        "id": "ici-1",
        "status": "completed",
        "medicationCodeableConcept": {"text": "pembrolizumab 200 mg IV"},
        "subject": SUBJECT,
        "effectiveDateTime": TODAY.isoformat(),
    }
    history = [
        {
            "resourceType": "MedicationRequest",
            "id": f"mr-{index}",
            "status": "completed",
            "medicationCodeableConcept": {
                "coding": [{"system": RXNORM, "code": "29046"}],
                "text": "lisinopril 10 MG Oral Tablet",
            },
            "subject": SUBJECT,
            "authoredOn": TODAY.isoformat(),
        }
        for index in range(20)
    ]
    record = record_of([{"resourceType": "Patient", "id": "pt-1"}, story, *history])
    screening = screen(record, [], catalog(), element_cap=20_000)
    assert screening.dismissed == 20
    assert screening.record.of_type("MedicationAdministration") == [story]
    assert screening.record.of_type("Patient") == record.of_type("Patient")


# case: (resources, the ids kept)
REFERENCES: dict[str, tuple[list[dict[str, Any]], set[str]]] = {
    "a panel keeps its members": (
        [
            {
                "resourceType": "Observation",
                "id": "panel",
                "code": {"text": "ICE score"},
                "hasMember": [{"reference": "Observation/m1"}],
            },
            {"resourceType": "Observation", "id": "m1", "code": {"text": "Writing"}},
            {"resourceType": "Observation", "id": "m2", "code": {"text": "Writing"}},
        ],
        {"panel", "m1"},
    ),
    "an absolute, versioned reference is followed": (
        [
            {
                "resourceType": "MedicationRequest",
                "id": "dex",
                "medicationCodeableConcept": {"text": "lisinopril"},
                "reasonReference": [{"reference": "http://ehr/fhir/Condition/c1/_history/2"}],
            },
            {"resourceType": "Condition", "id": "c1", "code": {"text": "ICANS"}},
        ],
        {"dex", "c1"},
    ),
    "a Medication that names an agent keeps its use": (
        [
            {
                "resourceType": "MedicationRequest",
                "id": "mr",
                "medicationReference": {"reference": "Medication/m"},
            },
            {"resourceType": "Medication", "id": "m", "code": {"text": "Kymriah"}},
        ],
        {"mr"},
    ),
    "a Medication not in the record keeps its use": (
        [
            {
                "resourceType": "MedicationRequest",
                "id": "mr",
                "medicationReference": {"reference": "Medication/gone"},
            }
        ],
        {"mr"},
    ),
    "instructions with only a qualifier's words leave an unrelated order out": (
        [
            {
                "resourceType": "MedicationRequest",
                "id": "prn",
                "status": "active",
                "medicationCodeableConcept": {"text": "oxycodone 5 MG Oral Tablet"},
                "dosageInstruction": [{"text": "5 mg PO every 6 hours as needed, not before meals"}],
            },
            {
                "resourceType": "MedicationAdministration",
                "id": "running",
                "status": "in-progress",
                "medicationCodeableConcept": {"text": "sodium chloride 0.9 % infusion"},
            },
        ],
        set(),
    ),
    "the same words next to a finding keep the order": (
        [
            {
                "resourceType": "MedicationRequest",
                "id": "dex-prn",
                "status": "active",
                "medicationCodeableConcept": {"text": "dexamethasone 10 MG"},
                "dosageInstruction": [{"text": "10 mg IV as needed for ICANS grade 2"}],
            }
        ],
        {"dex-prn"},
    ),
    "an attachment is never ruled out": (
        [{"resourceType": "Observation", "id": "o", "valueAttachment": {"data": "aGVsbG8="}}],
        {"o"},
    ),
}


@pytest.mark.parametrize(("resources", "kept"), REFERENCES.values(), ids=REFERENCES.keys())
def test_what_a_kept_resource_references_is_kept(resources: list[dict[str, Any]], kept: set[str]) -> None:
    record = record_of([{"resourceType": "Patient", "id": "pt-1"}, *resources])
    screened = screen(record, [], catalog(), element_cap=20_000).record
    found = {
        r["id"] for t, resources_of in screened.by_type.items() if t in SCREENED_TYPES for r in resources_of
    }
    assert found == kept


# --- the catalog against the matchers themselves ------------------------------------------------------


def matchers_and_indexes() -> tuple[list[TextMatcher[Any]], list[CodeIndex[Any]]]:
    """The name matchers (qualifiers are read only around their names) and the code indexes."""
    found = list(_reachable([vocabularies()]))
    matchers = [m for m in found if isinstance(m, TextMatcher) and not isinstance(m, QualifierMatcher)]
    return matchers, [i for i in found if isinstance(i, CodeIndex)]


def test_every_code_of_every_index_is_in_the_catalog() -> None:
    _, indexes = matchers_and_indexes()
    assert indexes
    for index in indexes:
        for system, code in index.exact_keys() | index.prefix_keys():
            assert catalog().names_code(system, code), (system, code)


# case: (system, code, in the catalog)
CODES: dict[str, tuple[str, str, bool]] = {
    "an ICD-10-CM family by its prefix, dotted": (ICD10CM, "G92.03", True),
    "an ICD-10-CM code outside every family": (ICD10CM, "I10", False),
    "an RxNorm code no agent has": (RXNORM, "29046", False),
}


@pytest.mark.parametrize(("system", "code", "expected"), CODES.values(), ids=CODES.keys())
def test_codes_in_and_out_of_the_catalog(system: str, code: str, expected: bool) -> None:
    assert catalog().names_code(system, code) is expected


# case: (text, may name something)
TEXT_CASES: dict[str, tuple[str, bool]] = {
    "an agent's name": ("pembrolizumab 200 mg IV", True),
    "in capitals": ("KEYTRUDA", True),
    "a hyphen for a space": ("CAR-T cell infusion", True),
    "an umlaut written out": ("Hirnoedem", True),
    "an umlaut": ("Hirnödem", True),
    "an unrelated drug": ("lisinopril 10 MG Oral Tablet", False),
    "an unrelated diagnosis": ("Essential hypertension", False),
    "a lab": ("Hemoglobin", False),
    "markup may hide a word": ("<b>seiz</b>ure", True),
    "a dotted capital I stays a maybe": ("\u0130CANS", True),
}


@pytest.mark.parametrize(("text", "expected"), TEXT_CASES.values(), ids=TEXT_CASES.keys())
def test_texts_in_and_out_of_the_catalog(text: str, expected: bool) -> None:
    assert catalog().may_name(text) is expected


@st.composite
def dates_and_near_dates(draw: st.DrawFn) -> str:
    """FHIR dates, dateTimes and instants, and texts that only look like them."""
    moment = draw(st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31)))
    written = moment.isoformat(timespec=draw(st.sampled_from(["minutes", "seconds", "milliseconds"])))
    written = written[: draw(st.sampled_from([4, 7, 10, len(written)]))]
    if len(written) > 10:
        written += draw(st.sampled_from(["", "Z", "z", "+05:00", "-10:30", " ICANS", "5"]))
    return draw(st.sampled_from([written, written.lower(), "5 " + written, written.replace("-", " ")]))


@BUDGET
@given(dates_and_near_dates())
def test_the_date_shortcut_answers_as_the_word_test_would(text: str) -> None:
    """A text shaped like a date is ruled out without its words being read: the answer is the same."""
    without_shortcut = replace(catalog(), dates_may_name=True)
    assert catalog().may_name(text) is without_shortcut.may_name(text), text


def test_a_date_names_nothing() -> None:
    assert not catalog().dates_may_name  # no name starts with "2026", "04", "28t10" or "00z"
    for text in ("2026", "2026-04", "2026-04-28", "2026-04-28T10:45", "2026-04-28T10:45:00-05:00"):
        assert not catalog().may_name(text), text


@st.composite
def texts_near_names(draw: st.DrawFn, names: list[str]) -> str:
    name = draw(st.sampled_from(names))
    spelled = "".join(
        draw(st.sampled_from([char, char.upper(), char.lower(), "-" if char == " " else char]))
        for char in name
    )
    # Letters that fold oddly: dotless and dotted I, long s, the Kelvin sign, umlauts and sharp s.
    odd = "ÄäÖöÜüß\u0131\u0130\u017fK\u212a"
    noise = st.text(alphabet=st.sampled_from(list("ab -.,;:()'/0123" + odd)), max_size=6)
    return draw(noise) + spelled + draw(noise)


def _all_names() -> list[str]:
    matchers, _ = matchers_and_indexes()
    names: set[str] = set()
    for matcher in matchers:
        names.update(matcher._values)
    return sorted(names)


NAMES = _all_names()


@BUDGET
@given(texts_near_names(NAMES))
def test_a_text_any_matcher_reads_a_name_in_is_never_ruled_out(text: str) -> None:
    matchers, _ = matchers_and_indexes()
    if any(next(iter(matcher.find(text)), None) is not None for matcher in matchers):
        assert catalog().may_name(text), text


# --- one walk: the budget's text volume -------------------------------------------------------------------

JSON_LEAF = st.one_of(st.text(max_size=12), st.integers(), st.booleans(), st.none())
JSON = st.recursive(
    JSON_LEAF,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=20,
)


@st.composite
def loose_records(draw: st.DrawFn) -> tuple[PatientRecord, list[dict[str, Any]]]:
    resources = []
    for index in range(draw(st.integers(0, 8))):
        body = draw(
            st.dictionaries(st.sampled_from(["code", "note", "text", "value", "id"]), JSON, max_size=4)
        )
        kind = draw(
            st.sampled_from(["Condition", "Observation", "Procedure", "Medication", "MedicationRequest"])
        )
        resources.append({**body, "resourceType": kind, "id": f"r{index}"})
    drafts = draw(st.lists(st.dictionaries(st.text(max_size=4), JSON, max_size=3), max_size=2))
    return record_of(resources), drafts


@BUDGET
@given(loose_records(), st.integers(1, 200))
def test_the_walk_counts_the_text_the_budget_counted(
    loose: tuple[PatientRecord, list[dict[str, Any]]], stop_above: int
) -> None:
    record, drafts = loose
    resources: list[object] = [*record.all_resources(), *drafts]
    counted = screen(record, drafts, catalog(), element_cap=7, stop_above=10**9).text_chars
    assert counted == text_volume(resources, 7, 10**9)
    screening = screen(record, drafts, catalog(), element_cap=7, stop_above=stop_above)
    assert screening.over_budget == (text_volume(resources, 7, stop_above) > stop_above)
    assert screening.over_budget == (screening.text_chars > stop_above)


def test_the_timeline_screens_a_record_with_history_by_itself() -> None:
    story = {
        "resourceType": "MedicationAdministration",
        "id": "ici-1",
        "status": "completed",
        "medicationCodeableConcept": {"text": "pembrolizumab 200 mg IV"},
        "subject": SUBJECT,
        "effectiveDateTime": TODAY.isoformat(),
    }
    history = [
        {"resourceType": "Condition", "id": f"c-{index}", "code": {"text": "Essential hypertension"}}
        for index in range(150)
    ]
    record = record_of([{"resourceType": "Patient", "id": "pt-1"}, story, *history])
    timeline = build_timeline(record, [], vocabularies(), TODAY)
    assert timeline == full_timeline(record, [], TODAY)
    assert len(timeline.therapy) == 1
