"""Reading the patient data a command is given (Bundle, NDJSON file or Bulk Data export folder) and
choosing the patient, with errors a user can act on."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from service.cli.common import CliError, parse_day, read_bundle

if TYPE_CHECKING:
    from workbench.export import Cohort

MAX_LISTED_PATIENTS = 5
SCENARIOS_FILE = Path(__file__).resolve().parents[2] / "fhir_fixtures" / "scenarios.yaml"


def find_scenario(fixture: str) -> dict[str, Any] | None:
    """The scenarios.yaml entry named `fixture` or whose file is `fixture`."""
    import yaml

    try:
        scenarios = yaml.safe_load(SCENARIOS_FILE.read_text(encoding="utf-8"))["scenarios"]
    except (OSError, KeyError, TypeError):
        return None
    target = Path(fixture).resolve()
    for scenario in scenarios:
        if scenario.get("name") == fixture or (SCENARIOS_FILE.parent / scenario["file"]).resolve() == target:
            found: dict[str, Any] = scenario
            return found
    return None


def scenario_moment(scenario: dict[str, Any]) -> datetime:
    """The moment a scenario is dated for (`now` in scenarios.yaml), in UTC when it names no zone."""
    value = scenario["now"]
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def scenario_day_shift(scenario: dict[str, Any] | None, on_date: str) -> int:
    """Whole days to move a scenario's dates so that its moment falls on `on_date` ('today', a date,
    or 'scenario' for none)."""
    if on_date == "scenario":
        return 0
    target = date.today() if on_date == "today" else parse_day(on_date, "--on-date")
    if scenario is None or not scenario.get("now"):
        if on_date == "today":
            return 0  # a plain file has no moment of its own: its dates stay as they are
        raise CliError("--on-date moves a scenario of fhir_fixtures/scenarios.yaml; this input is not one")
    return (target - scenario_moment(scenario).date()).days


def read_input(path: Path, max_line_bytes: int | None = None) -> Cohort:
    from workbench.export import ExportError, add_resources, read_export
    from workbench.ndjson_files import DEFAULT_MAX_LINE_BYTES, is_ndjson_name

    try:
        if path.is_dir() or is_ndjson_name(path.name):
            return read_export(path, max_line_bytes or DEFAULT_MAX_LINE_BYTES)
        bundle = read_bundle(path, "bundle")
    except ExportError as error:
        raise CliError(str(error)) from None
    except CliError as error:
        if "Extra data" in str(error):
            # Several JSON documents, one after the other: NDJSON under a .json name.
            raise CliError(f"{error}; one resource per line is NDJSON: name the file .ndjson") from None
        raise
    entries = bundle.get("entry")
    resources = (
        [entry.get("resource") if isinstance(entry, dict) else None for entry in entries]
        if isinstance(entries, list)
        else []
    )
    return add_resources(resources, path)


def unreadable_note(cohort: Cohort) -> str:
    """'; 3 resources could not be read (2 invalid-json, 1 invalid-id)' or ''."""
    skipped = cohort.quality.skipped
    if not skipped:
        return ""
    reasons = ", ".join(f"{count} {reason}" for reason, count in skipped.most_common())
    total = sum(skipped.values())
    return f"; {total} resource{'s' if total != 1 else ''} could not be read ({reasons})"


def require_patients(cohort: Cohort) -> None:
    if not cohort.patients:
        raise CliError(
            f"{cohort.source} holds no usable patient: no Patient with an id and no resource naming "
            f"one{unreadable_note(cohort)}"
        )


def choose_patient(cohort: Cohort, requested: str | None) -> str:
    require_patients(cohort)
    ids = cohort.patient_ids()
    listed = ", ".join(ids[:MAX_LISTED_PATIENTS]) + (", ..." if len(ids) > MAX_LISTED_PATIENTS else "")
    if requested is not None:
        if requested not in cohort.patients:
            raise CliError(f"{cohort.source} holds no patient {requested!r} (it holds {len(ids)}: {listed})")
        return requested
    if len(ids) > 1:
        raise CliError(
            f"{cohort.source} holds {len(ids)} patients ({listed}); pass --patient-id to choose one"
        )
    return ids[0]
