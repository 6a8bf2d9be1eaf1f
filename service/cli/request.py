"""`immuno-cds request`: a ready CDS Hooks request for a fixture (a scenario of fhir_fixtures/, a Bundle,
an NDJSON file or an export folder), to POST with curl or Postman to a running service."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from service.cli.common import HOOKS, CliError, read_bundle
from service.cli.inputs import choose_patient, read_input

SCENARIOS_FILE = Path(__file__).resolve().parents[2] / "fhir_fixtures" / "scenarios.yaml"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "fixture",
        metavar="FIXTURE",
        help="a scenario name from fhir_fixtures/scenarios.yaml, or a Bundle, NDJSON file or export folder",
    )
    parser.add_argument("--hook", choices=HOOKS, help="default: the scenario's hook, else patient-view")
    parser.add_argument("--patient-id", help="default: the fixture's only patient")
    parser.add_argument("--user-id", default="Practitioner/example", help="context.userId")
    parser.add_argument("--encounter-id", help="context.encounterId")
    parser.add_argument(
        "--draft-orders", metavar="FILE", help="a Bundle of draft orders (default: the scenario's)"
    )


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


def run(args: argparse.Namespace) -> int:
    import orjson

    from service.workbench.hook_request import hook_request, service_id_for

    scenario = find_scenario(args.fixture)
    path = SCENARIOS_FILE.parent / scenario["file"] if scenario else Path(args.fixture)
    if scenario is None and not path.exists():
        raise CliError(f"{args.fixture}: no such file, and no scenario of that name in {SCENARIOS_FILE.name}")
    cohort = read_input(path)
    patient_id = choose_patient(cohort, args.patient_id)
    if args.draft_orders:
        from clinical.fhir_data import bundle_resources

        draft_orders = bundle_resources(read_bundle(Path(args.draft_orders), "draft orders"))
    else:
        draft_orders = list(scenario.get("draft_orders") or []) if scenario else []
    hook: str = args.hook or (
        scenario["hook"] if scenario else "order-sign" if draft_orders else "patient-view"
    )
    if hook == "patient-view" and args.draft_orders:
        raise CliError("patient-view takes no draft orders; use --hook order-select or order-sign")
    body = hook_request(
        hook=hook,
        patient_id=patient_id,
        user_id=args.user_id,
        resources=cohort.patients[patient_id],
        medications=cohort.medications.values(),
        draft_orders=draft_orders if hook != "patient-view" else [],
        encounter_id=args.encounter_id,
    )
    sys.stdout.write(orjson.dumps(body, option=orjson.OPT_INDENT_2).decode() + "\n")
    service = service_id_for(hook)
    note = f"POST it to /cds-services/{service}"
    if scenario and scenario.get("now"):
        note += f"; this scenario is dated for CDS_FIXED_NOW={scenario['now']} (CDS_PROFILE=development)"
    print(f"immuno-cds: {note}", file=sys.stderr)
    return 0
