from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from clinical.fhir_data import (
    as_list,
    codings,
    concept_texts,
    first_date,
    get_path,
    parse_date,
    reference_label,
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024", date(2024, 1, 1)),
        ("2024-03", date(2024, 3, 1)),
        ("2024-03-05", date(2024, 3, 5)),
        ("2024-03-05T23:30:00Z", date(2024, 3, 5)),
        ("2024-03-05T23:30:00+02:00", date(2024, 3, 5)),
        ("2024-13-05", None),
        ("03/05/2024", None),
        ("", None),
        (20240305, None),
        (None, None),
        ({"start": "2024"}, None),
    ],
)
def test_parse_date_reads_fhir_dates_and_rejects_garbage(value: Any, expected: date | None) -> None:
    assert parse_date(value) == expected


def test_first_date_takes_the_first_usable_path() -> None:
    resource = {"effectiveDateTime": "garbage", "effectivePeriod": {"start": "2025-01-02"}}
    assert first_date(resource, ("effectiveDateTime", "effectivePeriod.start")) == date(2025, 1, 2)


def test_get_path_steps_into_the_first_list_element() -> None:
    resource = {"dosageInstruction": [{"timing": {"repeat": {"boundsPeriod": {"start": "2025"}}}}]}
    assert get_path(resource, "dosageInstruction.timing.repeat.boundsPeriod.start") == "2025"


@pytest.mark.parametrize(
    ("concept", "expected"),
    [
        ({"coding": [{"system": "s", "code": "1"}, {"system": "s"}, "junk"]}, [("s", "1")]),
        ({"coding": {"system": "s", "code": "2"}}, [("s", "2")]),
        ({"system": "s", "code": "3"}, [("s", "3")]),
        ("not a concept", []),
        ({"coding": [{"system": 5, "code": "1"}]}, []),
    ],
)
def test_codings_tolerates_r4_r5_and_malformed_shapes(concept: Any, expected: list[tuple[str, str]]) -> None:
    assert list(codings(concept)) == expected


def test_concept_texts_reads_text_and_every_display() -> None:
    concept = {"text": "Opdivo", "coding": [{"display": "nivolumab 10 MG/ML"}, {"display": 7}]}
    assert list(concept_texts(concept)) == ["Opdivo", "nivolumab 10 MG/ML"]


def test_as_list_wraps_single_objects_sent_where_r4_expects_arrays() -> None:
    assert as_list({"coding": []}) == [{"coding": []}]


def test_reference_label_without_id() -> None:
    assert reference_label({"resourceType": "Condition"}) == "Condition (no id)"
