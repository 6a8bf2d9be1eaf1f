"""`burden` answers what the service answers: for a handful of generated patients and days, the cards
in cards.ndjson equal the cards the running service returns over HTTP for a patient-view call whose
prefetch holds what the chart held that day (as of the day: no look-ahead), its clock pinned to that
day."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import httpx
import pytest
from conftest import settings_for
from fhir_server import serve_asgi
from workbench_support import read_ndjson, small_export

from service import cli
from service.app import create_app
from workbench.as_of import ChartHistory
from workbench.clinical_adapter import day_noon
from workbench.export import read_export
from workbench.hook_request import hook_request, service_id_for

PATIENTS = 6
FIRST, LAST = date(2026, 10, 15), date(2026, 12, 10)
SAMPLE_DAYS = (
    date(2026, 10, 15),
    date(2026, 11, 3),
    date(2026, 11, 12),
    date(2026, 11, 28),
    date(2026, 12, 10),
)
Card = tuple[str, str, str]


@dataclass
class PinnedClock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return small_export(tmp_path_factory.mktemp("consistency-export"), PATIENTS)


@pytest.fixture(scope="module")
def burden_cards(export: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], list[Card]]:
    out = tmp_path_factory.mktemp("consistency-burden")
    argv = [
        "burden",
        str(export),
        "--out",
        str(out),
        "--from",
        str(FIRST),
        "--to",
        str(LAST),
        "--validate",
        "0",
    ]
    assert cli.main(argv) == 0
    found: dict[tuple[str, str], list[Card]] = {}
    for row in read_ndjson(out / "cards.ndjson"):
        found.setdefault((row["patient"], row["date"]), []).append(
            (row["topic"], row["indicator"], row["summary"])
        )
    return found


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[httpx.Client, PinnedClock]]:
    clock = PinnedClock(day_noon(FIRST))
    settings = settings_for(
        tmp_path_factory.mktemp("consistency-db") / "cds.sqlite3", hook_deadline_seconds=10.0
    )
    app = create_app(settings, clock=clock)
    with serve_asgi(app, lifespan="on") as base_url, httpx.Client(base_url=base_url, timeout=30.0) as client:
        yield client, clock


def test_burden_cards_equal_the_services_answers_patient_by_patient_and_day_by_day(
    export: Path,
    burden_cards: dict[tuple[str, str], list[Card]],
    service: tuple[httpx.Client, PinnedClock],
) -> None:
    client, clock = service
    cohort = read_export(export)
    path = f"/cds-services/{service_id_for('patient-view')}"
    compared = 0
    for day in SAMPLE_DAYS:
        clock.now = day_noon(day)
        for patient_id in cohort.patient_ids():
            body = hook_request(
                hook="patient-view",
                patient_id=patient_id,
                user_id="Practitioner/alert-burden-review",
                resources=ChartHistory(cohort.patients[patient_id]).on(day),
                medications=cohort.medications.values(),
            )
            response = client.post(path, json=body)
            assert response.status_code == 200, response.text
            answered = sorted(
                (card["source"]["topic"]["code"], card["indicator"], card["summary"])
                for card in response.json()["cards"]
            )
            assert answered == sorted(burden_cards.get((patient_id, day.isoformat()), [])), (patient_id, day)
            compared += len(answered)
    assert compared > 0  # the sample holds cards, not only empty answers
