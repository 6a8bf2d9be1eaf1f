"""Reading exports: Bulk Data folders with split files, single NDJSON files and Bundles, grouped by patient,
with every unreadable resource counted by reason and every unparseable date counted by element."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from workbench_support import write_ndjson

from workbench import export
from workbench.export import (
    ExportError,
    colliding_file_stems,
    is_readable_date,
    read_export,
    safe_file_stem,
)

PATIENT = {"resourceType": "Patient", "id": "p1"}
CONDITION = {
    "resourceType": "Condition",
    "id": "c1",
    "subject": {"reference": "Patient/p1"},
    "onsetDateTime": "2026-01-02",
}

# case: (NDJSON line, reason counted in skipped_resources)
SKIPPED: dict[str, tuple[object, str]] = {
    "truncated line": (b'{"resourceType": "Observation", "id": "o', "invalid-json"),
    "binary garbage": (b"\x00\xff\xfe garbage", "invalid-json"),
    "a JSON array": ([1, 2, 3], "not-a-resource"),
    "no resourceType": ({"id": "x"}, "not-a-resource"),
    "resourceType not a string": ({"resourceType": 7}, "not-a-resource"),
    "numeric id": ({**CONDITION, "id": 12}, "invalid-id"),
    "subject is a string": ({**CONDITION, "id": "c2", "subject": "Patient/p1"}, "invalid-patient-reference"),
    "subject reference is a number": (
        {**CONDITION, "id": "c3", "subject": {"reference": 5}},
        "invalid-patient-reference",
    ),
    "reference names no patient id": (
        {**CONDITION, "id": "c4", "subject": {"reference": "Patient/"}},
        "invalid-patient-reference",
    ),
    "Patient without id": ({"resourceType": "Patient"}, "patient-without-id"),
}


@pytest.mark.parametrize("case", sorted(SKIPPED))
def test_an_unreadable_resource_is_counted_by_its_reason(case: str, tmp_path: Path) -> None:
    line, reason = SKIPPED[case]
    cohort = read_export(write_ndjson(tmp_path / "export.ndjson", [PATIENT, CONDITION, line]))
    assert dict(cohort.quality.skipped) == {reason: 1}
    assert [r["id"] for r in cohort.patients["p1"]] == ["p1", "c1"]


def test_resources_naming_no_patient_are_skipped_when_the_export_holds_several(tmp_path: Path) -> None:
    orphan = {"resourceType": "Observation", "id": "o1", "status": "final"}
    cohort = read_export(
        write_ndjson(tmp_path / "e.ndjson", [PATIENT, {"resourceType": "Patient", "id": "p2"}, orphan])
    )
    assert dict(cohort.quality.skipped) == {"no-patient-reference": 1}


def test_resources_naming_no_patient_belong_to_the_only_patient(tmp_path: Path) -> None:
    orphan = {"resourceType": "Observation", "id": "o1", "status": "final"}
    cohort = read_export(write_ndjson(tmp_path / "e.ndjson", [PATIENT, orphan]))
    assert [r["id"] for r in cohort.patients["p1"]] == ["p1", "o1"]
    assert not cohort.quality.skipped


@pytest.mark.parametrize(
    ("value", "readable"),
    [
        ("2026", True),
        ("2026-03", True),
        ("2026-03-12", True),
        ("2026-03-12T14:20:00Z", True),
        ("2026-03-12T14:20:00.123+05:30", True),
        ("2026-02-30", False),
        ("31/02/2026", False),
        ("2026-03-12 14:20", False),
        ("yesterday", False),
        ("", False),
        (20260312, False),
        (None, False),
    ],
)
def test_fhir_date_readability(value: object, readable: bool) -> None:
    assert is_readable_date(value) is readable


def test_unparseable_dates_the_rules_read_are_counted_by_element_and_the_resource_kept(
    tmp_path: Path,
) -> None:
    bad: list[dict[str, Any]] = [
        {**CONDITION, "id": "c2", "onsetDateTime": "31/02/2026"},
        {
            "resourceType": "MedicationRequest",
            "id": "m1",
            "subject": {"reference": "Patient/p1"},
            "authoredOn": 2026,
            "dosageInstruction": [{"timing": {"repeat": {"boundsPeriod": {"start": "soon"}}}}],
        },
    ]
    cohort = read_export(write_ndjson(tmp_path / "e.ndjson", [PATIENT, CONDITION, *bad]))
    assert dict(cohort.quality.unreadable_dates) == {
        "Condition.onsetDateTime": 1,
        "MedicationRequest.authoredOn": 1,
        "MedicationRequest.dosageInstruction.timing.repeat.boundsPeriod.start": 1,
    }
    assert {r["id"] for r in cohort.patients["p1"]} == {"p1", "c1", "c2", "m1"}
    assert not cohort.quality.skipped


def test_a_bulk_export_folder_with_split_files_is_read_by_patient(tmp_path: Path) -> None:
    write_ndjson(tmp_path / "Patient.ndjson", [PATIENT, {"resourceType": "Patient", "id": "p2"}])
    write_ndjson(tmp_path / "Condition.000.ndjson", [CONDITION])
    write_ndjson(
        tmp_path / "Condition.001.ndjson", [{**CONDITION, "id": "c9", "subject": {"reference": "Patient/p2"}}]
    )
    write_ndjson(tmp_path / "Medication.ndjson", [{"resourceType": "Medication", "id": "med-1"}])
    write_ndjson(tmp_path / "Practitioner.ndjson", [{"resourceType": "Practitioner", "id": "dr"}])
    (tmp_path / "manifest.json").write_text("{}", encoding="utf-8")
    cohort = read_export(tmp_path)
    assert cohort.patient_ids() == ["p1", "p2"]
    assert [r["id"] for r in cohort.patients["p2"]] == ["p2", "c9"]
    assert list(cohort.medications) == ["Medication/med-1"]
    assert dict(cohort.quality.ignored_types) == {"Practitioner": 1}


def test_a_bundle_is_read_like_an_export(tmp_path: Path) -> None:
    path = tmp_path / "b.json"
    path.write_text(
        json.dumps({"resourceType": "Bundle", "entry": [{"resource": PATIENT}, {"resource": CONDITION}, {}]}),
        encoding="utf-8",
    )
    cohort = read_export(path)
    assert [r["id"] for r in cohort.patients["p1"]] == ["p1", "c1"]
    assert dict(cohort.quality.skipped) == {"not-a-resource": 1}


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("empty folder", "holds no .ndjson files"),
        ("missing file", "no such file"),
        ("not a bundle", "is not a FHIR Bundle"),
    ],
)
def test_unreadable_inputs_raise_a_one_line_error(setup: str, message: str, tmp_path: Path) -> None:
    path = {
        "empty folder": tmp_path,
        "missing file": tmp_path / "x.ndjson",
        "not a bundle": tmp_path / "p.json",
    }[setup]
    if setup == "not a bundle":
        path.write_text(json.dumps(PATIENT), encoding="utf-8")
    with pytest.raises(ExportError, match=message):
        read_export(path)


@pytest.mark.parametrize(
    ("patient_id", "prefix"),
    [
        ("cohort-00001", "cohort-00001"),
        ("a.b-C", "a_b-C"),
        ("../etc/passwd", "etc_passwd"),
        ("a/b", "a_b"),
        ("..", "patient"),
    ],
)
def test_patient_page_names_never_leave_the_folder(patient_id: str, prefix: str) -> None:
    stem = safe_file_stem(patient_id)
    assert stem.startswith(prefix + "-")
    assert "/" not in stem and "." not in stem


def _old_hashed_stem(patient_id: str) -> str:
    # The name an id that is not file-safe used to get: itself a valid FHIR id that another patient can have.
    return "patient-" + hashlib.sha256(patient_id.encode()).hexdigest()[:16]


# Issue 17 item 9: pairs of distinct patient ids that once shared one timeline file.
COLLIDING_IDS = {
    "an id that is another's hashed stem": ("../x", _old_hashed_stem("../x")),
    "ids differing in case only (case-insensitive file systems)": ("Abc-1", "abc-1"),
    "ids differing in a character the prefix replaces": ("a/b", "a_b"),
    "a long id and its first 40 characters": ("p" * 64, "p" * 40),
}


@pytest.mark.parametrize("ids", COLLIDING_IDS.values(), ids=COLLIDING_IDS.keys())
def test_two_patients_never_share_a_page_name(ids: tuple[str, str]) -> None:
    first, second = ids
    assert safe_file_stem(first).casefold() != safe_file_stem(second).casefold()
    assert colliding_file_stems([first, second]) == []


def test_a_page_name_collision_is_detected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(export, "safe_file_stem", lambda patient_id: "same")
    assert export.colliding_file_stems(["p1", "p2", "p1"]) == ["p2"]


# --- every data problem named (issue 18 section 3) ------------------------------------------------------

OBSERVATION = {
    "resourceType": "Observation",
    "id": "o1",
    "status": "final",
    "subject": {"reference": "Patient/p1"},
    "effectiveDateTime": "2026-01-03",
    "code": {"text": "Müdigkeit"},  # a non-ASCII character: what Latin-1 and UTF-16 encode differently
}


def _lines(*resources: dict[str, Any]) -> bytes:
    return b"".join(json.dumps(resource, ensure_ascii=False).encode() + b"\n" for resource in resources)


def test_a_utf8_byte_order_mark_is_read_and_named(tmp_path: Path) -> None:
    (tmp_path / "Patient.ndjson").write_bytes(b"\xef\xbb\xbf" + _lines(PATIENT))
    cohort = read_export(tmp_path)
    assert "p1" in cohort.patients
    assert cohort.quality.skipped_total == 0
    assert cohort.quality.files.encodings == {"Patient.ndjson": "utf-8 with byte-order mark"}


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be"])
def test_a_utf16_file_is_decoded_and_named(encoding: str, tmp_path: Path) -> None:
    (tmp_path / "Patient.ndjson").write_bytes(_lines(PATIENT))
    text = _lines(OBSERVATION).decode()
    (tmp_path / "Observation.ndjson").write_bytes(text.encode(encoding))
    cohort = read_export(tmp_path)
    assert cohort.quality.skipped_total == 0
    assert "Observation.ndjson" in cohort.quality.files.encodings
    observation = cohort.patients["p1"][1]
    assert observation["code"]["text"] == "Müdigkeit"


def test_a_latin1_line_is_decoded_and_counted_against_its_file(tmp_path: Path) -> None:
    (tmp_path / "Patient.ndjson").write_bytes(_lines(PATIENT))
    (tmp_path / "Observation.ndjson").write_bytes(_lines(OBSERVATION).decode().encode("latin-1"))
    cohort = read_export(tmp_path)
    assert cohort.quality.skipped_total == 0
    assert dict(cohort.quality.files.encoding_errors) == {"Observation.ndjson": 1}
    assert cohort.patients["p1"][1]["code"]["text"] == "Müdigkeit"


def test_a_gzip_file_is_read(tmp_path: Path) -> None:
    import gzip

    (tmp_path / "Patient.ndjson").write_bytes(_lines(PATIENT))
    (tmp_path / "Observation.ndjson.gz").write_bytes(gzip.compress(_lines(OBSERVATION)))
    cohort = read_export(tmp_path)
    assert [resource["id"] for resource in cohort.patients["p1"]] == ["p1", "o1"]
    assert not cohort.quality.files.skipped_files


def test_an_oversized_line_is_skipped_counted_and_the_next_line_read(tmp_path: Path) -> None:
    huge = {**OBSERVATION, "id": "big", "note": [{"text": "x" * 300_000}]}
    (tmp_path / "Patient.ndjson").write_bytes(_lines(PATIENT))
    (tmp_path / "Observation.ndjson").write_bytes(_lines(huge, OBSERVATION))
    cohort = read_export(tmp_path, max_line_bytes=100_000)
    assert cohort.quality.as_dict()["oversized_lines"] == 1
    assert dict(cohort.quality.files.oversized_lines) == {"Observation.ndjson": 1}
    assert [resource["id"] for resource in cohort.patients["p1"]] == ["p1", "o1"]


def test_files_that_are_not_ndjson_are_named_with_the_reason(tmp_path: Path) -> None:
    (tmp_path / "Patient.ndjson").write_bytes(_lines(PATIENT))
    (tmp_path / "manifest.json").write_text("{}", encoding="utf-8")
    (tmp_path / "Observation.csv").write_text("id,value\n", encoding="utf-8")
    quality = read_export(tmp_path).quality.as_dict()
    assert {item["file"] for item in quality["skipped_files"]} == {"manifest.json", "Observation.csv"}
    assert all(item["reason"] for item in quality["skipped_files"])


def test_wrong_files_duplicates_and_orphans_are_counted(tmp_path: Path) -> None:
    orphan_condition = {**CONDITION, "id": "c9", "subject": {"reference": "Patient/ghost"}}
    (tmp_path / "Patient.ndjson").write_bytes(_lines(PATIENT))
    (tmp_path / "Condition.ndjson").write_bytes(_lines(CONDITION, CONDITION, orphan_condition, OBSERVATION))
    cohort = read_export(tmp_path)
    quality = cohort.quality.as_dict()
    assert quality["wrong_file"] == 1 and quality["wrong_file_by_file"] == {"Condition.ndjson": 1}
    assert quality["duplicates"] == 1
    assert cohort.orphans == {"ghost"}
    assert cohort.quality.orphan_resources == 1
    assert [resource["id"] for resource in cohort.patients["p1"]] == ["p1", "c1", "o1"]


def test_the_validation_sample_is_random_across_the_whole_type_and_seeded() -> None:
    from workbench.validation import validate_sample

    conditions = [{**CONDITION, "id": f"c{index}"} for index in range(1000)]
    conditions[990]["clinicalStatus"] = "active"  # not a CodeableConcept: invalid, near the end
    found = [validate_sample({"Condition": iter(conditions)}, 300, seed=seed).as_dict() for seed in range(20)]
    assert all(report["sample"]["per_type"] == 300 for report in found)
    assert found[0] == validate_sample({"Condition": iter(conditions)}, 300, seed=0).as_dict()
    listed = [report["failures"] for report in found if report["failures"]]
    assert listed, "a resource 990 of 1000 is sampled by some seeds (the first 300 never hold it)"
    assert all(failure["id"] == "c990" for failures in listed for failure in failures)
