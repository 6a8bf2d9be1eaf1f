"""The burden sees, on each day, only what the chart held that day: no card from a therapy, a finding or
a study that entered the chart later (look-ahead), and each resource type enters the chart on the date
the issue names."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
from workbench_support import read_ndjson, write_ndjson

from service import cli
from workbench.as_of import ChartHistory, entered_chart_on, is_undated

PATIENT = "as-of-1"
SUBJECT = {"reference": f"Patient/{PATIENT}"}


@pytest.mark.parametrize(
    ("resource", "entered"),
    [
        ({"resourceType": "MedicationRequest", "authoredOn": "2026-11-20T09:00:00Z"}, date(2026, 11, 20)),
        ({"resourceType": "MedicationAdministration", "effectiveDateTime": "2026-11-21"}, date(2026, 11, 21)),
        (
            {"resourceType": "MedicationAdministration", "effectivePeriod": {"end": "2026-11-22T10:00:00Z"}},
            date(2026, 11, 22),
        ),
        ({"resourceType": "MedicationAdministration", "occurenceDateTime": "2026-11-23"}, date(2026, 11, 23)),
        ({"resourceType": "Procedure", "performedPeriod": {"start": "2026-11-24"}}, date(2026, 11, 24)),
        (
            {
                "resourceType": "MedicationStatement",
                "dateAsserted": "2026-11-25",
                "effectiveDateTime": "2026-01-01",
            },
            date(2026, 11, 25),
        ),
        (
            {"resourceType": "MedicationStatement", "effectivePeriod": {"start": "2026-11-26"}},
            date(2026, 11, 26),
        ),
        (
            {"resourceType": "Condition", "recordedDate": "2026-11-27", "onsetDateTime": "2026-11-01"},
            date(2026, 11, 27),
        ),
        ({"resourceType": "Condition", "onsetDateTime": "2026-11-02"}, date(2026, 11, 2)),
        (
            {
                "resourceType": "Observation",
                "issued": "2026-11-28T08:00:00Z",
                "effectiveDateTime": "2026-11-27",
            },
            date(2026, 11, 28),
        ),
        ({"resourceType": "DiagnosticReport", "effectiveDateTime": "2026-11-29"}, date(2026, 11, 29)),
        ({"resourceType": "ImagingStudy", "started": "2026-11-30T07:00:00Z"}, date(2026, 11, 30)),
        ({"resourceType": "ServiceRequest", "authoredOn": "2026-12-01"}, date(2026, 12, 1)),
        ({"resourceType": "Condition", "code": {"text": "seizure"}}, None),
        ({"resourceType": "Patient", "birthDate": "1960-01-01"}, None),
    ],
    ids=lambda value: value.get("resourceType", "") if isinstance(value, dict) else str(value),
)
def test_each_resource_enters_the_chart_on_its_recorded_date(
    resource: dict[str, Any], entered: date | None
) -> None:
    assert entered_chart_on(resource) == entered


def test_undated_clinical_resources_are_counted_and_seen_from_the_start() -> None:
    undated = {"resourceType": "Condition", "code": {"text": "seizure"}}
    patient = {"resourceType": "Patient", "id": PATIENT}
    later = {"resourceType": "MedicationRequest", "authoredOn": "2026-12-01"}
    history = ChartHistory([patient, undated, later])
    assert history.undated == 1
    assert is_undated(undated) and not is_undated(patient)
    assert history.on(date(2026, 11, 1)) == [patient, undated]
    assert history.on(date(2026, 12, 1)) == [patient, undated, later]
    days = [date(2026, 11, 30), date(2026, 12, 1), date(2026, 12, 2)]
    changes = [state.changed for state in history.replay(days)]
    assert changes == [True, True, False]


def _export(folder: Path) -> Path:
    """A patient whose CAR-T product is ordered on 2026-11-20: no baseline card may show before that."""
    folder.mkdir()
    write_ndjson(
        folder / "Patient.ndjson",
        [{"resourceType": "Patient", "id": PATIENT, "birthDate": "1964-05-02", "gender": "female"}],
    )
    write_ndjson(
        folder / "Condition.ndjson",
        [
            {
                "resourceType": "Condition",
                "id": "dlbcl",
                "subject": SUBJECT,
                "code": {"text": "Diffuse large B-cell lymphoma, relapsed"},
                "onsetDateTime": "2025-02-01",
                "recordedDate": "2025-02-03",
            }
        ],
    )
    write_ndjson(
        folder / "MedicationRequest.ndjson",
        [
            {
                "resourceType": "MedicationRequest",
                "id": "axicel-order",
                "status": "active",
                "intent": "order",
                "subject": SUBJECT,
                "medicationCodeableConcept": {"text": "axicabtagene ciloleucel (Yescarta) infusion"},
                "authoredOn": "2026-11-20T10:00:00Z",
            }
        ],
    )
    return folder


def test_no_card_fires_before_its_therapy_entered_the_chart(tmp_path: Path) -> None:
    export = _export(tmp_path / "export")
    out = tmp_path / "burden"
    argv = ["burden", str(export), "--out", str(out), "--from", "2026-11-10", "--to", "2026-11-30"]
    argv += ["--validate", "0"]
    assert cli.main(argv) == 0
    baseline_days = sorted(
        row["date"] for row in read_ndjson(out / "cards.ndjson") if row["topic"] == "baseline-brain-mri"
    )
    assert baseline_days, "the planned CAR-T raises a baseline card once ordered"
    assert baseline_days[0] == "2026-11-20"
    assert baseline_days[-1] == "2026-11-30"
